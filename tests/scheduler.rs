//! The scheduler behind `serve`, for its connection: periodic runs (the interval counted
//! from the end of a run), failures that do not stop the schedule, nothing run (nor
//! recorded) while nothing is saved, one run at a time (a run due while one goes is not
//! queued), and a stop in the middle of a run that leaves the store consistent (the run is
//! marked interrupted with what it had committed; the next run completes with the ground
//! truth). Many connections at once: tests/pool.rs.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use host_harness::runner::{Harness, SyncOptions};
use host_harness::scheduler::{
    FirstRun, Harnesses, PoolConfig, ScheduleConfig, Scheduler, TriggerError,
};
use host_harness::store::{Run, Store};
use openai_mock::MockServer;

fn every(ms: u64) -> PoolConfig {
    // As `serve` runs it: the first scheduled run one interval after the pool first sees
    // the connection.
    PoolConfig {
        first_run: FirstRun::AfterInterval,
        ..PoolConfig::new(
            2,
            ScheduleConfig {
                every: Duration::from_millis(ms),
                jitter: 0.1,
            },
        )
    }
}

/// The pool `serve` starts, over the store at `db`, running `harness`'s component.
async fn start(harness: &Arc<Harness>, db: &Path, config: PoolConfig) -> Scheduler {
    Scheduler::start(
        Arc::new(open(db).await),
        Arc::new(Harnesses::with(harness.clone())),
        config,
    )
}

async fn configured(
    mock: &MockServer,
    token: &str,
    days: u32,
) -> (tempfile::TempDir, PathBuf, Arc<Harness>) {
    let harness = harness(&connector_wasm(), Some(mock)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = open(&db).await;
    configure(
        &harness,
        &store,
        &[("backfill_days", &days.to_string())],
        token,
    )
    .await
    .unwrap();
    (dir, db, Arc::new(harness))
}

async fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn ts(s: &str) -> chrono::DateTime<chrono::FixedOffset> {
    chrono::DateTime::parse_from_rfc3339(s).unwrap()
}

/// Oldest first; every run finished before the next one started.
fn assert_sequential(runs: &[Run]) -> Vec<Run> {
    let mut runs = runs.to_vec();
    runs.sort_by_key(|r| r.id);
    for pair in runs.windows(2) {
        let finished = ts(pair[0].finished_at.as_deref().expect("finished"));
        let started = ts(&pair[1].started_at);
        assert!(
            finished <= started,
            "run {} started before run {} finished: {runs:#?}",
            pair[1].id,
            pair[0].id
        );
    }
    assert!(runs.iter().all(|r| r.status != "running"), "{runs:#?}");
    runs
}

async fn assert_integrity(db: &Path) {
    let store = open(db).await;
    let ok: String = store
        .sqlite()
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

/// The stored usage equals the mock's ground truth, line by line.
async fn assert_ground_truth(store: &Store, mock: &MockServer) {
    let (stored, truth) = (stored_usage(store).await, truth_usage(mock));
    assert_eq!(stored.len(), truth.len());
    assert!(stored == truth, "the store differs from the ground truth");
}

#[tokio::test(flavor = "multi_thread")]
async fn runs_every_interval() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 3)).await.unwrap();
    let (_dir, db, harness) = configured(&mock, &keys.admin, 3).await;
    let started = Instant::now();
    let s = start(&harness, &db, every(200)).await;
    wait_until("three scheduled runs", Duration::from_secs(30), || {
        s.status(CONN).finished >= 3
    })
    .await;
    let elapsed = started.elapsed();
    s.shutdown().await;
    // Three intervals of 200 ms ± 10% passed before the third run ended.
    assert!(elapsed >= Duration::from_millis(3 * 180), "{elapsed:?}");

    let store = open(&db).await;
    let runs = assert_sequential(&store.runs(CONN, 100).await.unwrap());
    assert!(runs.len() >= 3, "{runs:#?}");
    for r in &runs {
        assert_eq!(r.trigger, "schedule");
        assert_eq!(r.status, "succeeded", "{r:#?}");
    }
    // The interval is counted from the end of a run.
    for pair in runs.windows(2) {
        let gap = ts(&pair[1].started_at) - ts(pair[0].finished_at.as_deref().unwrap());
        assert!(gap.num_milliseconds() >= 170, "gap {gap:?}");
    }
    // Later runs are incremental: nothing new, nothing duplicated.
    assert_eq!(
        store.record_count(CONN, "usage").await.unwrap(),
        mock.ground_truth().rows.len() as u64
    );
    assert_eq!(runs[1].inserted(), 0);
    // The history's request counts are the host's: every request the provider saw was
    // counted in exactly one run.
    let counted: u64 = runs.iter().map(|r| r.requests()).sum();
    assert_eq!(counted, mock.requests().len() as u64);
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_runs_nor_is_recorded_while_nothing_is_saved() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 3)).await.unwrap();
    let harness = Arc::new(harness(&connector_wasm(), Some(&mock)).await);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let s = start(&harness, &db, every(100)).await;
    // The connection is due after 100 ms; the dispatcher looks every 12.5 ms.
    wait_until(
        "the connection due and passed over",
        Duration::from_secs(30),
        || s.statuses().passes >= 20,
    )
    .await;
    assert_eq!(
        s.trigger(CONN, "ui").await,
        Err(TriggerError::NotConfigured)
    );
    assert_eq!(s.status(CONN).started, 0);
    assert!(s.status(CONN).last.is_none());
    let store = open(&db).await;
    assert!(store.runs(CONN, 10).await.unwrap().is_empty());
    assert!(mock.requests().is_empty());

    // Saved: the next tick runs.
    configure(&harness, &store, &[("backfill_days", "3")], &keys.admin)
        .await
        .unwrap();
    wait_until("a successful run", Duration::from_secs(30), || {
        s.status(CONN).last.is_some_and(|l| l.status == "succeeded")
    })
    .await;
    s.shutdown().await;
    let runs = store.runs(CONN, 10).await.unwrap();
    assert!(
        !runs.is_empty() && runs.iter().all(|r| r.trigger == "schedule"),
        "{runs:#?}"
    );
    assert_ground_truth(&store, &mock).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_run_is_recorded_and_the_schedule_goes_on() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 3)).await.unwrap();
    // Well-formed, but unknown to OpenAI: every run fails with `unauthorized`.
    let unknown = host_harness::random::key("sk-admin-");
    let (_dir, db, harness) = configured(&mock, &unknown, 3).await;
    let s = start(&harness, &db, every(200)).await;
    wait_until("two failed runs", Duration::from_secs(30), || {
        s.status(CONN).finished >= 2
    })
    .await;
    let last = s.status(CONN).last.unwrap();
    assert_eq!(last.status, "failed");
    assert_eq!(last.error.unwrap().class, "unauthorized");

    // The admin pastes a working key; the next scheduled run succeeds.
    let store = open(&db).await;
    configure(&harness, &store, &[("backfill_days", "3")], &keys.admin)
        .await
        .unwrap();
    wait_until("a successful run", Duration::from_secs(30), || {
        s.status(CONN).last.is_some_and(|l| l.status == "succeeded")
    })
    .await;
    s.shutdown().await;

    let runs = assert_sequential(&store.runs(CONN, 100).await.unwrap());
    let failed: Vec<&Run> = runs.iter().filter(|r| r.status == "failed").collect();
    assert!(failed.len() >= 2, "{runs:#?}");
    for r in &failed {
        assert_eq!(r.trigger, "schedule");
        assert_eq!(r.error_class.as_deref(), Some("unauthorized"));
        assert!(r.finished_at.is_some());
        assert!(
            r.requests() >= 1,
            "the host counted the refused requests: {r:#?}"
        );
        assert_no_secret(
            "the history",
            r.error_message.as_deref().unwrap_or(""),
            &unknown,
        );
    }
    assert_no_secret(
        "the store",
        &dump_store_outside_secrets(&store).await,
        &unknown,
    );
    assert_no_secret(
        "the store",
        &dump_store_outside_secrets(&store).await,
        &keys.admin,
    );
    let last = runs.last().unwrap();
    assert_eq!(last.status, "succeeded");
    assert!(last.id > failed.last().unwrap().id);
    assert_ground_truth(&store, &mock).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn one_run_at_a_time() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 20, 10)).await.unwrap();
    let (_dir, db, harness) = configured(&mock, &keys.admin, 10).await;
    // Each request takes 120 ms: a run takes a second or more.
    slow(&mock, Duration::from_millis(120));
    let s = start(&harness, &db, every(200)).await;

    // Sync now, then again while it runs: "already running".
    s.trigger(CONN, "ui").await.unwrap();
    match s.trigger(CONN, "ui").await {
        Err(TriggerError::Busy(_)) => {}
        other => panic!("expected busy, got {other:?}"),
    }
    assert!(s.status(CONN).running.is_some());
    wait_until("the run's history row", Duration::from_secs(30), || {
        s.status(CONN).running.is_some_and(|l| l.stream.is_some())
    })
    .await;
    // A sync from elsewhere (the CLI) on the same store is refused too.
    let store = open(&db).await;
    let recorded = store.runs(CONN, 100).await.unwrap().len();
    let elsewhere = harness
        .sync(&store, CONN, SyncOptions::new("cli"))
        .await
        .expect_err("busy");
    assert_eq!(elsewhere.class, "busy");
    assert_eq!(elsewhere.exit_code(), 9);
    assert_eq!(
        store.runs(CONN, 100).await.unwrap().len(),
        recorded,
        "a refused sync records no run"
    );
    wait_until(
        "the ui run and a scheduled run",
        Duration::from_secs(60),
        || {
            let st = s.status(CONN);
            st.finished >= 2 && st.running.is_none()
        },
    )
    .await;
    s.shutdown().await;

    let runs = assert_sequential(&store.runs(CONN, 100).await.unwrap());
    assert_eq!(runs[0].trigger, "ui");
    assert_eq!(runs[0].status, "succeeded");
    // The schedule came due (200 ms) during the ui run (over a second): that due run was
    // not queued behind it; the next one came an interval after its end.
    let gap = ts(&runs[1].started_at) - ts(runs[0].finished_at.as_deref().unwrap());
    assert!(gap.num_milliseconds() >= 170, "gap {gap:?}");
    assert!(runs[1..].iter().all(|r| r.trigger == "schedule"));
    assert!(runs.iter().all(|r| r.status == "succeeded"), "{runs:#?}");
    assert_ground_truth(&store, &mock).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_mid_run_leaves_a_consistent_store() {
    let keys = keys();
    let (users, days) = (150, 90);
    let mock = MockServer::start(mock_config(&keys, users, days))
        .await
        .unwrap();
    let (_dir, db, harness) = configured(&mock, &keys.admin, days).await;
    slow(&mock, Duration::from_millis(150));
    let s = start(&harness, &db, every(3_600_000)).await;

    // Stop after the first usage page (of three) is committed.
    s.trigger(CONN, "ui").await.unwrap();
    wait_until("a committed usage page", Duration::from_secs(60), || {
        s.status(CONN)
            .running
            .and_then(|l| l.streams.get("usage").map(|c| c.pages >= 1))
            .unwrap_or(false)
    })
    .await;
    s.shutdown().await;
    assert!(s.status(CONN).running.is_none());
    assert_eq!(s.trigger(CONN, "ui").await, Err(TriggerError::Stopping));
    assert_eq!(s.status(CONN).last.unwrap().status, "interrupted");

    assert_integrity(&db).await;
    let store = open(&db).await;
    let runs = store.runs(CONN, 10).await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let stopped = &runs[0];
    assert_eq!(stopped.status, "interrupted", "{stopped:#?}");
    assert_eq!(stopped.error_class.as_deref(), Some("interrupted"));
    assert!(stopped.finished_at.is_some());
    // The history row holds what was committed, and the store holds exactly that.
    assert!(stopped.streams["usage"].pages >= 1 && stopped.streams["usage"].pages < 3);
    for (stream, counts) in &stopped.streams {
        assert_eq!(
            store.record_count(CONN, stream).await.unwrap(),
            counts.inserted,
            "{stream}: records committed = records counted"
        );
        assert!(counts.requests >= counts.pages, "{stream}: {counts:?}");
    }
    assert_eq!(
        store.record_count(CONN, "users").await.unwrap(),
        users as u64
    );
    assert!(
        store.record_count(CONN, "usage").await.unwrap() < mock.ground_truth().rows.len() as u64
    );

    // A later run resumes from the last committed page and completes with the ground truth.
    mock.clear_faults();
    let later = Scheduler::new(
        Arc::new(open(&db).await),
        Arc::new(Harnesses::with(harness)),
        every(3_600_000),
    );
    let finished = later.run_now(CONN, "schedule").await.unwrap();
    assert_eq!(finished.status, "succeeded", "{finished:?}");
    let runs = store.runs(CONN, 10).await.unwrap();
    assert_eq!(runs[0].status, "succeeded");
    assert_eq!(runs[1].status, "interrupted");
    // Nothing imported twice: the stopped run's usage lines plus the new ones are the truth.
    assert_eq!(
        stopped.streams["usage"].inserted + runs[0].streams["usage"].inserted,
        mock.ground_truth().rows.len() as u64
    );
    assert_ground_truth(&store, &mock).await;
    assert_eq!(
        store.record_count(CONN, "users").await.unwrap(),
        users as u64
    );
    assert_integrity(&db).await;
}
