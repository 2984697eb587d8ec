//! The pool of workers (`serve`'s and `worker`'s scheduler) with many connections, each its
//! own organization of the mock (its own admin key): runs go concurrently, at most
//! `--workers` at once, and each connection's store equals its organization's ground
//! truth; each connection keeps its own interval; two pools (two hosts) on one PostgreSQL
//! store never run one connection twice at once; a hostile connection that spins holds
//! its own worker and delays no other connection; a shutdown marks the running
//! connections interrupted and they resume; nothing of one connection (token, records,
//! history, exports, logs) shows in another's; `/metrics` counts what ran and `/healthz`
//! says whether the store answers; the `worker` command runs each due connection once.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use host_harness::metrics::http::MetricsServer;
use host_harness::runner::{Harness, HarnessConfig};
use host_harness::scheduler::{Harnesses, PoolConfig, ScheduleConfig, Scheduler};
use host_harness::store::{
    crypto, lease, KeySource, Location, NewConnection, Run, SecretKey, Store, StoreOptions,
};
use openai_mock::{MockConfig, MockServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BIN: &str = env!("CARGO_BIN_EXE_host-harness");

// ------------------------------------------------------------------------------ logs

/// Every line the host logs in this test binary (runs' spans, the component's lines).
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;
impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "connector=trace,host_harness=info",
            ))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

// ------------------------------------------------------------------------------ fixture

/// One connection of the store, for one organization of the mock.
struct Conn {
    id: String,
    org: usize,
    key: String,
}

/// A mock serving one organization per connection (each its own admin key), `users` people
/// and `days` days each.
async fn mock_of(n: usize, users: usize, days: u32) -> (MockServer, Vec<String>) {
    let keys: Vec<String> = (0..n)
        .map(|_| host_harness::random::key("sk-admin-"))
        .collect();
    let template = MockConfig {
        users,
        days,
        ..MockConfig::default()
    };
    let mock = MockServer::start_many(template, keys.clone())
        .await
        .unwrap();
    (mock, keys)
}

/// Add the connection `id` (the codex component) and save `key` for it.
async fn add_configured(h: &Harness, store: &Store, id: &str, key: &str, days: u32) {
    store
        .add_connection(&NewConnection {
            id: id.into(),
            name: format!("Org {id}"),
            component: h.config().component.display().to_string(),
            connector: Some(CODEX.into()),
        })
        .await
        .unwrap();
    h.configure(
        store,
        id,
        &set(&[("backfill_days", &days.to_string())]),
        token(key),
    )
    .await
    .unwrap();
}

/// `ids.len()` connections on `store`, connection `i` for organization `i`.
async fn connections(
    h: &Harness,
    store: &Store,
    mock: &MockServer,
    ids: &[&str],
    days: u32,
) -> Vec<Conn> {
    let mut out = Vec::new();
    for (org, id) in ids.iter().enumerate() {
        let key = mock.admin_key_of(org).to_string();
        add_configured(h, store, id, &key, days).await;
        out.push(Conn {
            id: id.to_string(),
            org,
            key,
        });
    }
    out
}

fn pool_config(workers: usize, every: Duration, poll: Duration) -> PoolConfig {
    PoolConfig {
        poll,
        ..PoolConfig::new(workers, ScheduleConfig { every, jitter: 0.1 })
    }
}

fn start(store: &Arc<Store>, harnesses: &Arc<Harnesses>, config: PoolConfig) -> Scheduler {
    Scheduler::start(store.clone(), harnesses.clone(), config)
}

async fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn ts(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap()
}

fn ms(s: &str) -> i64 {
    ts(s).timestamp_millis()
}

/// (start, end) of each finished run, in ms.
fn spans(runs: &[Run]) -> Vec<(i64, i64)> {
    runs.iter()
        .filter_map(|r| Some((ms(&r.started_at), ms(r.finished_at.as_deref()?))))
        .collect()
}

/// The most runs that went at once.
fn max_overlap(spans: &[(i64, i64)]) -> usize {
    spans
        .iter()
        .map(|&(s, _)| spans.iter().filter(|&&(s2, e2)| s2 <= s && s < e2).count())
        .max()
        .unwrap_or(0)
}

/// Oldest first; each run finished before the next one started.
fn sequential(runs: &[Run]) -> Vec<Run> {
    let mut runs = runs.to_vec();
    runs.sort_by_key(|r| r.id);
    for pair in runs.windows(2) {
        let finished = ts(pair[0].finished_at.as_deref().expect("finished"));
        assert!(
            finished <= ts(&pair[1].started_at),
            "run {} of {} started before run {} finished",
            pair[1].id,
            pair[1].connection,
            pair[0].id
        );
    }
    runs
}

async fn assert_truth(store: &Store, mock: &MockServer, c: &Conn) {
    let (stored, truth) = (
        stored_usage_of(store, &c.id).await,
        truth_usage_of(mock, c.org),
    );
    assert_eq!(stored.len(), truth.len(), "{}", c.id);
    assert!(
        stored == truth,
        "{}: the store differs from its organization's ground truth",
        c.id
    );
}

// ------------------------------------------------------------------------------ tests

/// Four connections, two workers: every run goes in a pool task, two at a time (never
/// more), and each connection's store is its own organization's ground truth; the requests
/// each connection counted are exactly those the mock saw with its key.
#[tokio::test(flavor = "multi_thread")]
async fn connections_run_concurrently_each_with_its_own_organization() {
    capture_logs();
    let (mock, _) = mock_of(4, 20, 10).await;
    mock.set_latency(Duration::from_millis(40));
    let harness = Arc::new(harness(&connector_wasm(), Some(&mock)).await);
    let (_dir, store) = store().await;
    let store = Arc::new(store);
    let conns = connections(
        &harness,
        &store,
        &mock,
        &["conc-a", "conc-b", "conc-c", "conc-d"],
        10,
    )
    .await;
    let pool = start(
        &store,
        &Arc::new(Harnesses::with(harness.clone())),
        pool_config(2, Duration::from_secs(3600), Duration::from_millis(20)),
    );
    wait_until("a run of every connection", Duration::from_secs(90), || {
        conns.iter().all(|c| pool.status(&c.id).finished >= 1)
    })
    .await;
    pool.shutdown().await;

    let mut all = Vec::new();
    let by_org = mock.requests_by_org();
    for c in &conns {
        let runs = store.runs(&c.id, 10).await.unwrap();
        assert_eq!(
            runs.len(),
            1,
            "{}: each connection ran once: {runs:#?}",
            c.id
        );
        let run = &runs[0];
        assert_eq!(
            (run.status.as_str(), run.trigger.as_str()),
            ("succeeded", "schedule"),
            "{run:#?}"
        );
        assert_truth(&store, &mock, c).await;
        assert_eq!(
            run.requests(),
            by_org[c.org],
            "{}: its requests all carried its own key",
            c.id
        );
        assert_eq!(pool.status(&c.id).last.unwrap().status, "succeeded");
        all.extend(runs);
    }
    let overlap = max_overlap(&spans(&all));
    assert_eq!(
        overlap,
        2,
        "two workers: two runs at once, never more: {:?}",
        spans(&all)
    );
    let st = pool.statuses();
    assert_eq!(
        (st.workers, st.running, st.ended.get("succeeded").copied()),
        (2, 0, Some(4))
    );
}

/// Two connections, one every 200 ms and one every 600 ms (their own schedules): each
/// keeps its interval, counted from the end of its runs.
#[tokio::test(flavor = "multi_thread")]
async fn each_connection_keeps_its_own_interval() {
    capture_logs();
    let (mock, _) = mock_of(2, 5, 3).await;
    let harness = Arc::new(harness(&connector_wasm(), Some(&mock)).await);
    let (_dir, store) = store().await;
    let store = Arc::new(store);
    let conns = connections(&harness, &store, &mock, &["every-fast", "every-slow"], 3).await;
    for (c, every) in conns.iter().zip([200, 600]) {
        store
            .set_schedule(&c.id, Duration::from_millis(every), 0.1, None)
            .await
            .unwrap();
    }
    let pool = start(
        &store,
        &Arc::new(Harnesses::with(harness.clone())),
        pool_config(4, Duration::from_secs(3600), Duration::from_millis(10)),
    );
    tokio::time::sleep(Duration::from_millis(3000)).await;
    pool.shutdown().await;

    let mut mean = BTreeMap::new();
    for (c, every) in conns.iter().zip([200i64, 600]) {
        let runs = sequential(&store.runs(&c.id, 100).await.unwrap());
        assert!(runs.len() >= 3, "{}: {} runs", c.id, runs.len());
        let gaps: Vec<i64> = runs
            .windows(2)
            .map(|p| ms(&p[1].started_at) - ms(p[0].finished_at.as_deref().unwrap()))
            .collect();
        for g in &gaps {
            // every × (1 ± 10%), then the dispatcher's next look (10 ms) and the claim
            assert!(
                *g >= every * 9 / 10 - 5,
                "{}: a gap of {g} ms, interval {every} ms: {gaps:?}",
                c.id
            );
            assert!(
                *g <= every * 11 / 10 + 400,
                "{}: a gap of {g} ms, interval {every} ms: {gaps:?}",
                c.id
            );
        }
        mean.insert(every, gaps.iter().sum::<i64>() / gaps.len() as i64);
        assert_truth(&store, &mock, c).await;
        assert_eq!(
            store.schedule(&c.id).await.unwrap().unwrap().every,
            Duration::from_millis(every as u64)
        );
    }
    let fast = store.runs("every-fast", 100).await.unwrap().len();
    let slow = store.runs("every-slow", 100).await.unwrap().len();
    assert!(
        fast >= 2 * slow,
        "every 200 ms: {fast} runs; every 600 ms: {slow} runs"
    );
    assert!(mean[&200] < 400 && mean[&600] > 500, "mean gaps {mean:?}");
}

/// Two pools with two owners (two hosts, as far as the store knows) on one PostgreSQL
/// store, short intervals, slow provider: both run connections, and no connection ever
/// has two runs at once.
#[tokio::test(flavor = "multi_thread")]
async fn at_most_one_run_per_connection_across_two_pools() {
    capture_logs();
    let (mock, _) = mock_of(3, 10, 5).await;
    mock.set_latency(Duration::from_millis(25));
    let harness = Arc::new(harness(&connector_wasm(), Some(&mock)).await);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("secret.key");
    crypto::write_key_file(&key_file, &SecretKey::generate().unwrap()).unwrap();
    let location = Location::Postgres(common::postgres::database().await);
    let opts = StoreOptions {
        key: KeySource::File(key_file),
        ..StoreOptions::default()
    };
    let one = Arc::new(Store::open(&location, opts.clone()).await.unwrap());
    let two = Arc::new(Store::open(&location, opts).await.unwrap());
    let conns = connections(&harness, &one, &mock, &["pg-a", "pg-b", "pg-c"], 5).await;
    for c in &conns {
        one.set_schedule(&c.id, Duration::from_millis(150), 0.1, None)
            .await
            .unwrap();
    }
    let harnesses = Arc::new(Harnesses::with(harness.clone()));
    let config = |owner: String| PoolConfig {
        owner: Some(owner),
        ..pool_config(3, Duration::from_secs(3600), Duration::from_millis(15))
    };
    let a = start(&one, &harnesses, config(lease::new_owner()));
    let b = start(&two, &harnesses, config(lease::new_owner()));
    assert_ne!(a.owner(), b.owner());
    wait_until("runs in both pools", Duration::from_secs(60), || {
        a.statuses().ended.values().sum::<u64>() >= 3
            && b.statuses().ended.values().sum::<u64>() >= 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    a.shutdown().await;
    b.shutdown().await;

    let mut total = 0;
    for c in &conns {
        let runs = sequential(&one.runs(&c.id, 1000).await.unwrap());
        assert!(runs.len() >= 2, "{}: {runs:#?}", c.id);
        assert!(
            runs.iter()
                .all(|r| r.status == "succeeded" || r.status == "interrupted"),
            "{runs:#?}"
        );
        total += runs.len() as u64;
        assert_truth(&one, &mock, c).await;
    }
    let ran = |s: &Scheduler| s.statuses().ended.values().sum::<u64>();
    assert_eq!(ran(&a) + ran(&b), total, "every run was one pool's");
    // The history's owners: both hosts' runs are there.
    let dump = one.dump().await.unwrap();
    for owner in [a.owner(), b.owner()] {
        assert!(
            dump["runs"].iter().any(|r| r.contains(owner)),
            "no run of {owner}"
        );
    }
}

/// A hostile connection whose component spins holds one of two workers until its call's
/// wall-clock limit (3 s) stops it, again and again; the good connections keep their
/// interval on the other worker the whole time.
#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_connection_delays_no_other_beyond_its_slot() {
    capture_logs();
    let (mock, _) = mock_of(3, 5, 3).await;
    let good = Arc::new(harness(&connector_wasm(), Some(&mock)).await);
    let mut c = HarnessConfig::new(hostile_wasm());
    c.policy.cpu_budget = Duration::from_secs(600);
    c.policy.call_timeout = Duration::from_secs(3);
    let hostile = Arc::new(Harness::load(c).await.unwrap());
    let (_dir, store) = store().await;
    let store = Arc::new(store);
    let goods = connections(&good, &store, &mock, &["good-a", "good-b", "good-c"], 3).await;
    store
        .add_connection(&NewConnection {
            id: "spinner".into(),
            name: "Spinner".into(),
            component: hostile_wasm().display().to_string(),
            connector: None,
        })
        .await
        .unwrap();
    hostile
        .configure(
            &store,
            "spinner",
            &set(&[("mode", "loop")]),
            token(&host_harness::random::key("sk-admin-")),
        )
        .await
        .unwrap();
    for id in ["good-a", "good-b", "good-c", "spinner"] {
        store
            .set_schedule(id, Duration::from_millis(300), 0.1, None)
            .await
            .unwrap();
    }
    let harnesses = Arc::new(Harnesses::with(good.clone()));
    harnesses.insert(hostile.clone());
    let pool = start(
        &store,
        &harnesses,
        pool_config(2, Duration::from_secs(3600), Duration::from_millis(10)),
    );
    wait_until("two spins", Duration::from_secs(60), || {
        pool.status("spinner").finished >= 2
    })
    .await;
    pool.shutdown().await;

    let spins = sequential(&store.runs("spinner", 100).await.unwrap());
    let spin = &spins[0];
    assert_eq!(spin.status, "failed", "{spin:#?}");
    assert_eq!(spin.error_class.as_deref(), Some("sandbox"));
    assert!(
        spin.error_message
            .as_deref()
            .unwrap()
            .contains("wall-clock limit"),
        "{spin:#?}"
    );
    let (spin_start, spin_end) = (
        ms(&spin.started_at),
        ms(spin.finished_at.as_deref().unwrap()),
    );
    assert!(spin_end - spin_start >= 3000, "it spun its 3 s: {spin:#?}");
    for g in &goods {
        let runs = sequential(&store.runs(&g.id, 1000).await.unwrap());
        // While it spun: runs that started and ended within its spin, at the pace of the
        // interval (300 ms ± 10%, runs of well under a second each).
        let within: Vec<&Run> = runs
            .iter()
            .filter(|r| {
                ms(&r.started_at) >= spin_start && ms(r.finished_at.as_deref().unwrap()) <= spin_end
            })
            .collect();
        assert!(
            within.len() >= 4,
            "{}: {} runs during the 3 s spin",
            g.id,
            within.len()
        );
        for r in &runs {
            assert!(
                r.status == "succeeded" || r.status == "interrupted",
                "{r:#?}"
            );
            let took = ms(r.finished_at.as_deref().unwrap()) - ms(&r.started_at);
            assert!(took < 1500, "{}: run {} took {took} ms", g.id, r.id);
        }
        for p in runs.windows(2) {
            let gap = ms(&p[1].started_at) - ms(p[0].finished_at.as_deref().unwrap());
            assert!(gap <= 330 + 700, "{}: {gap} ms between two runs", g.id);
        }
        assert_truth(&store, &mock, g).await;
    }
}

/// A shutdown while three connections run: each run is marked interrupted with what it had
/// committed (and the store holds exactly that); the next pool resumes each from its last
/// committed page, to its ground truth, importing nothing twice.
#[tokio::test(flavor = "multi_thread")]
async fn shutdown_interrupts_running_connections_and_they_resume() {
    capture_logs();
    let (users, days) = (150, 90);
    let (mock, _) = mock_of(3, users, days).await;
    mock.set_latency(Duration::from_millis(150));
    let harness = Arc::new(harness(&connector_wasm(), Some(&mock)).await);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = Arc::new(open(&db).await);
    let conns = connections(
        &harness,
        &store,
        &mock,
        &["stop-a", "stop-b", "stop-c"],
        days,
    )
    .await;
    let harnesses = Arc::new(Harnesses::with(harness.clone()));
    let config = pool_config(3, Duration::from_secs(3600), Duration::from_millis(20));
    let pool = start(&store, &harnesses, config.clone());
    wait_until(
        "a committed page in every run",
        Duration::from_secs(60),
        || {
            conns.iter().all(|c| {
                pool.status(&c.id)
                    .running
                    .is_some_and(|l| l.streams.values().map(|s| s.pages).sum::<u64>() >= 1)
            })
        },
    )
    .await;
    pool.shutdown().await;

    let mut stopped = BTreeMap::new();
    for c in &conns {
        assert!(pool.status(&c.id).running.is_none());
        let runs = store.runs(&c.id, 10).await.unwrap();
        assert_eq!(runs.len(), 1, "{runs:#?}");
        let run = &runs[0];
        assert_eq!(
            (run.status.as_str(), run.error_class.as_deref()),
            ("interrupted", Some("interrupted")),
            "{run:#?}"
        );
        assert!(run.finished_at.is_some());
        for (stream, counts) in &run.streams {
            assert_eq!(
                store.record_count(&c.id, stream).await.unwrap(),
                counts.inserted,
                "{}/{stream}: records committed = records counted",
                c.id
            );
        }
        assert!(stored_usage_of(&store, &c.id).await.len() < truth_usage_of(&mock, c.org).len());
        stopped.insert(c.id.clone(), run.clone());
    }
    // Interrupted runs leave their connections due: the next pool (host) runs them at once.
    mock.set_latency(Duration::ZERO);
    let next = start(&store, &harnesses, config);
    wait_until("the resumed runs", Duration::from_secs(90), || {
        conns.iter().all(|c| next.status(&c.id).last.is_some())
    })
    .await;
    next.shutdown().await;
    for c in &conns {
        let runs = store.runs(&c.id, 10).await.unwrap();
        assert_eq!(runs.len(), 2, "{runs:#?}");
        assert_eq!(runs[0].status, "succeeded", "{:#?}", runs[0]);
        assert_truth(&store, &mock, c).await;
        let usage = |r: &Run| r.streams.get("usage").map_or(0, |s| s.inserted);
        assert_eq!(
            usage(&stopped[&c.id]) + usage(&runs[0]),
            mock.ground_truth_of(c.org).rows.len() as u64,
            "{}: nothing imported twice",
            c.id
        );
        assert_eq!(
            store.record_count(&c.id, "users").await.unwrap(),
            users as u64
        );
    }
    let ok: String = store
        .sqlite()
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

/// Three connections run at once through the pool, with the log captured: nothing of one
/// connection — its token, its organization's ids, its connection id — shows in another's
/// history, records, rows of the store, exports or log lines; every log line of a run
/// (the component's included) is inside that run's `run{connection=…, run=…}` span.
#[tokio::test(flavor = "multi_thread")]
async fn nothing_of_one_connection_shows_in_another() {
    capture_logs();
    let (mock, _) = mock_of(3, 10, 5).await;
    let harness = Arc::new(harness(&connector_wasm(), Some(&mock)).await);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = Arc::new(open(&db).await);
    let conns = connections(&harness, &store, &mock, &["iso-a", "iso-b", "iso-c"], 5).await;
    let pool = start(
        &store,
        &Arc::new(Harnesses::with(harness.clone())),
        pool_config(3, Duration::from_secs(3600), Duration::from_millis(20)),
    );
    wait_until("a run of every connection", Duration::from_secs(60), || {
        conns.iter().all(|c| pool.status(&c.id).finished >= 1)
    })
    .await;
    pool.shutdown().await;
    let logs = logs();
    let dump = store.dump().await.unwrap();

    // What belongs to each: its token, its connection id, its organization's ids.
    let marks = |c: &Conn| -> Vec<String> {
        let truth = mock.ground_truth_of(c.org);
        let mut m: Vec<String> = truth
            .rows
            .iter()
            .filter_map(|r| r.user_id.clone())
            .collect();
        m.extend(truth.rows.iter().map(|r| r.api_key_id.clone()));
        m.extend(truth.rows.iter().map(|r| r.project_id.clone()));
        m.push(mock.organization_id_of(c.org).to_string());
        m.push(format!("connection={}", c.id));
        m.sort();
        m.dedup();
        m
    };
    for b in &conns {
        let run = &store.runs(&b.id, 10).await.unwrap()[0];
        assert_eq!(run.status, "succeeded", "{run:#?}");
        assert_truth(&store, &mock, b).await;
        // B's history, records, rows of every table, exports and log lines.
        let history = serde_json::to_string(&store.runs(&b.id, 100).await.unwrap()).unwrap();
        let mut records = String::new();
        for stream in store.streams(&b.id).await.unwrap() {
            for r in store.records(&b.id, &stream).await.unwrap() {
                records.push_str(&format!("{:?} {}\n", r.key, r.payload));
            }
        }
        assert!(!records.is_empty());
        let rows: String = dump
            .values()
            .flatten()
            .filter(|row| row.split('\t').any(|f| f == b.id))
            .map(|row| format!("{row}\n"))
            .collect();
        let exports = cli_exports(&db, &b.id);
        let span = format!("run{{connection={} run={}}}", b.id, run.id);
        let lines: String = logs
            .lines()
            .filter(|l| l.contains(&span))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(
            lines.contains("run started") && lines.contains("run ended"),
            "{span}: {lines}"
        );
        assert!(
            lines
                .lines()
                .any(|l| l.contains("connector:") && l.contains("page of")),
            "the component's own lines are in the run's span: {lines}"
        );
        for (what, text) in [
            ("history", &history),
            ("records", &records),
            ("store rows", &rows),
            ("exports", &exports),
            ("log lines", &lines),
        ] {
            assert_no_secret(&format!("{}'s {what}", b.id), text, &b.key);
            for a in conns.iter().filter(|a| a.id != b.id) {
                assert_no_secret(
                    &format!("{}'s {what} (the token of {})", b.id, a.id),
                    text,
                    &a.key,
                );
                for m in marks(a) {
                    assert!(
                        !text.contains(&m),
                        "{}'s {what} holds {m:?} of {}",
                        b.id,
                        a.id
                    );
                }
            }
        }
    }
    // Every line of the component is in the span of the run it served.
    for l in logs
        .lines()
        .filter(|l| l.contains("connector:") && l.contains("iso-"))
    {
        let context = l.split("context=").nth(1).expect("a context");
        let conn = context
            .split_whitespace()
            .find_map(|w| w.strip_prefix("connection="))
            .unwrap();
        let run = context
            .split_whitespace()
            .find_map(|w| w.strip_prefix("run="))
            .unwrap();
        assert!(
            l.contains(&format!("run{{connection={conn} run={run}}}")),
            "{l}"
        );
    }
    // The tokens are nowhere in the store in clear (sealed).
    let all = dump_store_outside_secrets(&store).await;
    for c in &conns {
        assert_no_secret("the store", &all, &c.key);
    }
}

/// `export --stream usage` and `--people` of `connection`, by the binary.
fn cli_exports(db: &Path, connection: &str) -> String {
    let mut out = String::new();
    for args in [
        &["--stream", "usage"][..],
        &["--stream", "users"],
        &["--people"],
    ] {
        let o = std::process::Command::new(BIN)
            .arg("export")
            .arg("--db")
            .arg(db)
            .args(["--connection", connection])
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "export {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        out.push_str(&String::from_utf8_lossy(&o.stdout));
        out.push_str(&String::from_utf8_lossy(&o.stderr));
    }
    out
}

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

async fn get(addr: SocketAddr, host: &str, path: &str) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    Reply {
        status: head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

/// A sample's value: `name{labels} value` (or `name value`).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().unwrap())
}

/// `serve`'s `/metrics` after three runs of three connections (two that succeed, one
/// refused by the provider): the counters hold what the history holds; `/healthz` says
/// the store answers; both keep the Host check. A worker's own listener: loopback only,
/// and 503 once its store stops answering.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_what_ran_and_healthz_follows_the_store() {
    capture_logs();
    let (mock, _) = mock_of(2, 10, 5).await;
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    {
        let store = open(&db).await;
        add_configured(&harness, &store, "met-b", mock.admin_key_of(1), 5).await;
        add_configured(
            &harness,
            &store,
            "met-refused",
            &host_harness::random::key("sk-admin-"),
            5,
        )
        .await;
        configure(
            &harness,
            &store,
            &[("backfill_days", "5")],
            mock.admin_key_of(0),
        )
        .await
        .unwrap();
    }
    let opts = host_harness::serve::ServeOptions {
        db: Location::Sqlite(db.clone()),
        store: StoreOptions::default(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        schedule: ScheduleConfig::default(),
        workers: 3,
        admin_password: None,
    };
    let server = host_harness::serve::Server::start(harness, opts)
        .await
        .unwrap();
    let pool = server.scheduler();
    let (ok_a, ok_b, refused) = tokio::join!(
        pool.run_now(CONN, "test"),
        pool.run_now("met-b", "test"),
        pool.run_now("met-refused", "test")
    );
    assert_eq!(ok_a.unwrap().status, "succeeded");
    assert_eq!(ok_b.unwrap().status, "succeeded");
    assert_eq!(refused.unwrap().status, "failed");
    let addr = server.addr();
    let host = format!("127.0.0.1:{}", addr.port());
    let r = get(addr, &host, "/metrics").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.headers
            .contains("content-type: text/plain; version=0.0.4"),
        "{}",
        r.headers
    );
    let text = r.body;

    let store = open(&db).await;
    let mut runs: Vec<Run> = Vec::new();
    for c in [CONN, "met-b", "met-refused"] {
        runs.extend(store.runs(c, 10).await.unwrap());
    }
    assert_eq!(runs.len(), 3);
    let pages: u64 = runs
        .iter()
        .flat_map(|r| r.streams.values())
        .map(|c| c.pages)
        .sum();
    let inserted: u64 = runs.iter().map(|r| r.inserted()).sum();
    let updated: u64 = runs.iter().map(|r| r.updated()).sum();
    assert!(pages > 0 && inserted > 0);
    let m = |s: &str| sample(&text, s).unwrap_or_else(|| panic!("{s} missing from:\n{text}"));
    assert_eq!(m("host_harness_runs_total{status=\"succeeded\"}"), 2.0);
    assert_eq!(m("host_harness_runs_total{status=\"failed\"}"), 1.0);
    assert_eq!(m("host_harness_runs_total{status=\"interrupted\"}"), 0.0);
    assert_eq!(m("host_harness_pages_total"), pages as f64);
    assert_eq!(
        m("host_harness_records_total{change=\"inserted\"}"),
        inserted as f64
    );
    assert_eq!(
        m("host_harness_records_total{change=\"updated\"}"),
        updated as f64
    );
    assert_eq!(m("host_harness_run_duration_seconds_count"), 3.0);
    assert_eq!(
        m("host_harness_run_duration_seconds_bucket{le=\"+Inf\"}"),
        3.0
    );
    assert_eq!(m("host_harness_runs_in_progress"), 0.0);
    assert_eq!(m("host_harness_workers"), 3.0);
    for r in runs.iter().filter(|r| r.status == "succeeded") {
        let gauge = m(&format!(
            "host_harness_last_success_timestamp_seconds{{connection=\"{}\"}}",
            r.connection
        ));
        let finished = ts(r.finished_at.as_deref().unwrap()).timestamp() as f64;
        assert!(
            (gauge - finished).abs() <= 2.0,
            "{}: {gauge} vs {finished}",
            r.connection
        );
    }
    assert!(
        !text.contains("connection=\"met-refused\""),
        "no success, no gauge:\n{text}"
    );
    for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
        assert!(
            ["counter", "gauge", "histogram"].contains(&line.rsplit(' ').next().unwrap()),
            "{line}"
        );
    }
    // The keys are nowhere in it.
    for c in [mock.admin_key_of(0), mock.admin_key_of(1)] {
        assert_no_secret("/metrics", &text, c);
    }

    let r = get(addr, &host, "/healthz").await;
    assert_eq!((r.status, r.body.trim()), (200, "ok"));
    // The Host check stays: a page under another name cannot read them.
    for path in ["/metrics", "/healthz"] {
        let r = get(addr, &format!("evil.example:{}", addr.port()), path).await;
        assert_eq!(r.status, 421, "{path}");
        assert!(!r.body.contains("host_harness"));
    }
    server.shutdown().await;

    // A worker's listener: refused beyond loopback; 503 once the store stops answering.
    let broken = Arc::new(open(&dir.path().join("other.db")).await);
    let metrics = Arc::new(host_harness::metrics::Metrics::new());
    assert!(MetricsServer::start(
        SocketAddr::from(([0, 0, 0, 0], 0)),
        metrics.clone(),
        broken.clone()
    )
    .await
    .is_err());
    let listener = MetricsServer::start(
        SocketAddr::from(([127, 0, 0, 1], 0)),
        metrics,
        broken.clone(),
    )
    .await
    .unwrap();
    let host = format!("localhost:{}", listener.addr().port());
    assert_eq!(get(listener.addr(), &host, "/healthz").await.status, 200);
    let r = get(listener.addr(), &host, "/metrics").await;
    assert!(
        r.status == 200 && r.body.contains("host_harness_workers 0"),
        "{}",
        r.body
    );
    assert_eq!(
        get(listener.addr(), "127.0.0.2:1", "/metrics").await.status,
        421
    );
    broken
        .sqlite()
        .unwrap()
        .execute_batch("DROP TABLE connections")
        .unwrap();
    let r = get(listener.addr(), &host, "/healthz").await;
    assert_eq!(r.status, 503, "{}", r.body);
    listener.shutdown().await;
}

/// The `worker` command: `--once` runs each due connection once (two connections added
/// and configured, one of them with its own interval from `connections add --every`) and
/// exits; `-v` shows each run's span with the component's own lines; `--metrics-listen`
/// takes loopback only.
#[tokio::test(flavor = "multi_thread")]
async fn the_worker_command_runs_each_due_connection_once() {
    let (mock, _) = mock_of(2, 10, 5).await;
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let cli = |args: &[&str]| {
        std::process::Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let db_arg = db.display().to_string();
    let wasm = connector_wasm().display().to_string();
    let added = cli(&[
        "connections",
        "add",
        "cli-b",
        "--db",
        &db_arg,
        "--component",
        &wasm,
        "--every",
        "200ms",
    ]);
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    assert!(String::from_utf8_lossy(&added.stdout).contains("every 200ms"));
    {
        let store = open(&db).await;
        let s = store.schedule("cli-b").await.unwrap().unwrap();
        assert_eq!(s.every, Duration::from_millis(200));
        add_configured(&harness, &store, "cli-a", mock.admin_key_of(0), 5).await;
        harness
            .configure(
                &store,
                "cli-b",
                &set(&[("backfill_days", "5")]),
                token(mock.admin_key_of(1)),
            )
            .await
            .unwrap();
        assert!(
            store.schedule("cli-a").await.unwrap().is_none(),
            "no interval of its own"
        );
    }
    let base = mock.base_url();
    let out = cli(&[
        "worker",
        "--db",
        &db_arg,
        "--once",
        "--workers",
        "2",
        "--every",
        "1h",
        "--openai-base",
        &base,
        "-v",
    ]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("Ran 2 import(s): 2 succeeded, 0 failed, 0 interrupted"),
        "{stdout}"
    );
    assert!(!stderr.contains('\u{1b}'), "plain text when not a terminal");
    let store = open(&db).await;
    for (id, org) in [("cli-a", 0), ("cli-b", 1)] {
        let runs = store.runs(id, 10).await.unwrap();
        assert_eq!(runs.len(), 1, "{id}: once: {runs:#?}");
        assert_eq!(
            (runs[0].status.as_str(), runs[0].trigger.as_str()),
            ("succeeded", "schedule")
        );
        let span = format!("run{{connection={id} run={}}}", runs[0].id);
        let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&span)).collect();
        assert!(lines.iter().any(|l| l.contains("run started")), "{stderr}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("connector:") && l.contains("page of")),
            "{stderr}"
        );
        let c = Conn {
            id: id.into(),
            org,
            key: mock.admin_key_of(org).into(),
        };
        assert_truth(&store, &mock, &c).await;
        assert_no_secret("the worker's output", &format!("{stdout}{stderr}"), &c.key);
    }
    // The worker gave cli-a its --every; cli-b kept its own.
    assert_eq!(
        store.schedule("cli-a").await.unwrap().unwrap().every,
        Duration::from_secs(3600)
    );
    assert_eq!(
        store.schedule("cli-b").await.unwrap().unwrap().every,
        Duration::from_millis(200)
    );
    // cli-a is not due any more (its next run is an hour away): another pass leaves it.
    let again = cli(&["worker", "--db", &db_arg, "--once", "--openai-base", &base]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(store.runs("cli-a", 10).await.unwrap().len(), 1);

    let refused = cli(&[
        "worker",
        "--db",
        &db_arg,
        "--once",
        "--metrics-listen",
        "0.0.0.0:9464",
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("loopback"));
}

/// Two `worker --once` processes on one PostgreSQL store, the first SIGKILLed while it
/// runs connections: the second takes them over as soon as the store sees the first is
/// gone (its runs marked interrupted), resumes them, and exits once every connection ran;
/// each connection ends with its organization's ground truth, nothing imported twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_worker_killed_mid_run_is_taken_over_by_another() {
    let (mock, _) = mock_of(4, 20, 10).await;
    mock.set_latency(Duration::from_millis(60));
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("secret.key");
    crypto::write_key_file(&key_file, &SecretKey::generate().unwrap()).unwrap();
    let url = common::postgres::database().await;
    let store = Store::open(
        &Location::Postgres(url.clone()),
        StoreOptions {
            key: KeySource::File(key_file.clone()),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let conns = connections(
        &harness,
        &store,
        &mock,
        &["kill-a", "kill-b", "kill-c", "kill-d"],
        10,
    )
    .await;
    let worker = || {
        std::process::Command::new(BIN)
            .args([
                "worker",
                "--once",
                "--workers",
                "2",
                "--db",
                &url,
                "--openai-base",
                &mock.base_url(),
            ])
            .arg("--secret-key-file")
            .arg(&key_file)
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = worker();
    // Until it holds two runs, each with a committed page.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the first worker started no run");
        let mut running = 0;
        for c in &conns {
            let runs = store.runs(&c.id, 1).await.unwrap();
            running += runs
                .iter()
                .filter(|r| r.status == "running" && r.streams.values().any(|s| s.pages > 0))
                .count();
        }
        if running >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = first.id();
    let dump = store.dump().await.unwrap();
    assert!(
        dump["runs"].iter().any(|r| r.contains(&format!(":{pid}:"))),
        "the runs are the first worker's"
    );
    let second = worker();
    first.kill().unwrap();
    first.wait().unwrap();
    let started = Instant::now();
    let out = tokio::task::spawn_blocking(move || second.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "taken over without waiting for the leases to expire: {:?}",
        started.elapsed()
    );
    let mut interrupted = 0;
    for c in &conns {
        let runs = sequential(&store.runs(&c.id, 10).await.unwrap());
        let last = runs.last().unwrap();
        assert_eq!(last.status, "succeeded", "{}: {runs:#?}", c.id);
        interrupted += runs.iter().filter(|r| r.status == "interrupted").count();
        assert_truth(&store, &mock, c).await;
        let usage: u64 = runs
            .iter()
            .filter_map(|r| r.streams.get("usage"))
            .map(|s| s.inserted)
            .sum();
        assert_eq!(
            usage,
            mock.ground_truth_of(c.org).rows.len() as u64,
            "{}: nothing imported twice",
            c.id
        );
    }
    assert_eq!(interrupted, 2, "the killed worker's two runs");
}
