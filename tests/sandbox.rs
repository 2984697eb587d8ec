//! The host survives hostile or broken components, and keeps secrets and private networks
//! out of their reach. Each misbehaviour of the fixture in `tests/fixtures/hostile` (one
//! `mode` each) ends in a typed, recorded failure or a denial, nothing half-done is stored,
//! and the same harness process keeps serving good runs.
//!
//! Observers: the mock's request log (what reached the "provider"), sinks that record every
//! byte of every request they get (what a request carried), loopback listeners that count
//! connections (where none may be made), the process's peak RSS (where host memory is the
//! point), and every line the host logs through `tracing` (captured below).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use common::*;
use host_harness::policy::{Redirect, Resolver};
use host_harness::runner::{Harness, HarnessConfig, HostError};
use host_harness::store::{Run, Store};
use openai_mock::MockServer;

/// The hostile fixture's connector id.
const HOSTILE: &str = "hostile";

// ------------------------------------------------------------------------------ harness

/// Tests that measure the process's memory run alone; every other test holds this lock
/// shared.
static MEMORY: RwLock<()> = RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    capture_logs();
    MEMORY.read().unwrap_or_else(|p| p.into_inner())
}

fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    capture_logs();
    MEMORY.write().unwrap_or_else(|p| p.into_inner())
}

/// Every line the host logs (its own warnings and the component's `host-log` lines), for
/// the whole test binary.
static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct LogWriter;
impl Write for LogWriter {
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
                "connector=trace,host_harness=trace",
            ))
            .with_ansi(false)
            .with_writer(|| LogWriter)
            .try_init();
    });
}

fn logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// A hostile-fixture harness: `api.openai.com` and `other.hostile.test` redirected where
/// the test says, tight limits, then `tune`.
fn hostile_config(api: Option<&str>, other: Option<&str>) -> HarnessConfig {
    let mut c = HarnessConfig::new(hostile_wasm());
    if let Some(url) = api {
        c.policy
            .redirects
            .push(Redirect::to("api.openai.com", url).unwrap());
    }
    if let Some(url) = other {
        c.policy
            .redirects
            .push(Redirect::to("other.hostile.test", url).unwrap());
    }
    c.policy.cpu_budget = Duration::from_millis(800);
    c.policy.call_timeout = Duration::from_secs(20);
    c.policy.connect_timeout = Duration::from_secs(2);
    c.policy.max_memory_bytes = 200 << 20;
    c.policy.max_page_bytes = 16 << 20;
    c.policy.max_record_bytes = 1 << 20;
    c.policy.max_records_per_page = 1_000;
    c.max_pages_per_stream = 50;
    c.retry.base_delay = Duration::from_millis(5);
    c
}

async fn hostile(config: HarnessConfig) -> Harness {
    Harness::load(config)
        .await
        .expect("load the hostile fixture")
}

fn pairs(mode: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![("mode".to_string(), mode.to_string())];
    v.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    v
}

/// Save `mode` (and `extra` settings) with `secret` as the API token.
async fn save(h: &Harness, store: &Store, mode: &str, extra: &[(&str, &str)], secret: &str) {
    h.configure(store, CONN, &pairs(mode, extra), token(secret))
        .await
        .unwrap_or_else(|e| panic!("configure {mode}: {e}"));
}

async fn hostile_run(store: &Store) -> Run {
    let run = store.runs(CONN, 1).await.unwrap().remove(0);
    assert_eq!(
        run.connector, HOSTILE,
        "the run names the connector that ran"
    );
    run
}

/// Save and sync `mode`, which must fail; the failure must be the recorded one.
async fn failing_run(
    h: &Harness,
    store: &Store,
    mode: &str,
    extra: &[(&str, &str)],
    secret: &str,
) -> (HostError, Run) {
    save(h, store, mode, extra, secret).await;
    let e = h
        .sync(store, CONN, host_harness::runner::SyncOptions::new("test"))
        .await
        .expect_err(mode);
    let run = hostile_run(store).await;
    assert_eq!(run.status, "failed", "{mode}: the failure is recorded");
    assert_eq!(run.error_class.as_deref(), Some(e.class.as_str()), "{mode}");
    assert_eq!(
        run.error_message.as_deref(),
        Some(e.message.as_str()),
        "{mode}"
    );
    (e, run)
}

/// Nothing of the failed page was stored: no raw page, no record, no checkpoint.
async fn assert_nothing_stored(store: &Store, what: &str) {
    assert_eq!(
        store.record_count(CONN, "things").await.unwrap(),
        0,
        "{what}: records"
    );
    assert_eq!(
        store.raw_page_count(CONN).await.unwrap(),
        0,
        "{what}: raw pages"
    );
    assert_eq!(
        store.checkpoint(CONN, "things").await.unwrap(),
        None,
        "{what}: checkpoint"
    );
}

/// The fixture's report (`name=outcome; …`, then the host's own list of refusals).
fn outcomes(message: &str) -> BTreeMap<String, String> {
    let report = message.split(" (the sandbox refused:").next().unwrap_or("");
    report
        .split("; ")
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Fails if `haystack` holds the token or any 8 characters of its secret part, in any
/// letter case (a host name is lower-cased on its way into a message).
fn assert_no_secret_any_case(what: &str, haystack: &str, token: &str) {
    assert_no_secret(what, haystack, token);
    assert_no_secret(
        &format!("{what} (ignoring case)"),
        &haystack.to_lowercase(),
        &token.to_lowercase(),
    );
}

/// Every table of the store except the secret slot and the settings the admin typed.
async fn dump_component_output(store: &Store) -> String {
    let conn = store.sqlite().unwrap();
    let mut out = String::new();
    for t in ["checkpoints", "raw_pages", "records", "runs"] {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {t}")).unwrap();
        let n = stmt.column_count();
        let mut rows = stmt.query([]).unwrap();
        while let Some(row) = rows.next().unwrap() {
            for i in 0..n {
                let v: rusqlite::types::Value = row.get(i).unwrap();
                out.push_str(&format!("{v:?}\t"));
            }
            out.push('\n');
        }
    }
    out
}

/// A good run of the real connector, proving the harness still serves other runs.
async fn good_run(good: &Harness, admin: &str) {
    let (_d, store) = store().await;
    configure(good, &store, &[], admin).await.unwrap();
    let run = sync(good, &store).await.unwrap();
    assert_eq!(run.status, "succeeded");
}

// ------------------------------------------------------------------------------ observers

/// Loopback ports the fixture declares `localhost` and the test names on (it cannot know
/// an ephemeral port when it describes itself).
const LISTENER_PORTS: std::ops::RangeInclusive<u16> = 47801..=47808;

/// A listener on loopback (127.0.0.1 and, where there is IPv6, ::1) that counts the
/// connections it gets and drops them.
struct Listener {
    port: u16,
    connections: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn start() -> Listener {
        let (port, v4) = LISTENER_PORTS
            .clone()
            .find_map(|p| TcpListener::bind(("127.0.0.1", p)).ok().map(|l| (p, l)))
            .expect("a free port among the fixture's listener ports");
        let mut listeners = vec![v4];
        if let Ok(v6) = TcpListener::bind(("::1", port)) {
            listeners.push(v6);
        }
        let connections = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        for l in listeners {
            l.set_nonblocking(true).unwrap();
            let (c, s) = (connections.clone(), stop.clone());
            std::thread::spawn(move || {
                while !s.load(Ordering::Relaxed) {
                    match l.accept() {
                        Ok(_) => {
                            c.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            });
        }
        Listener {
            port,
            connections,
            stop,
        }
    }

    fn connections(&self) -> usize {
        // let a connection in progress land
        std::thread::sleep(Duration::from_millis(50));
        self.connections.load(Ordering::SeqCst)
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// An HTTP/1.1 server on loopback that records every request it gets, head and body, and
/// answers `200 {}`.
struct Sink {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl Sink {
    fn start() -> Sink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (r, s) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((conn, _)) => {
                        let r = r.clone();
                        std::thread::spawn(move || serve(conn, r));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Sink {
            addr,
            requests,
            stop,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve(mut conn: TcpStream, requests: Arc<Mutex<Vec<String>>>) {
    let _ = conn.set_nonblocking(false);
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut read_more = |conn: &mut TcpStream, buf: &mut Vec<u8>| match conn.read(&mut chunk) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    };
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if !read_more(&mut conn, &mut buf) {
            break buf.len();
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    if let Some(n) = length {
        while buf.len() < head_end + n && read_more(&mut conn, &mut buf) {}
    } else if head.contains("transfer-encoding: chunked") {
        while !buf.ends_with(b"0\r\n\r\n") && read_more(&mut conn, &mut buf) {}
    }
    requests
        .lock()
        .unwrap()
        .push(String::from_utf8_lossy(&buf).into_owned());
    let _ = conn.write_all(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}",
    );
}

/// `VmHWM` or `VmRSS` of this process, in bytes.
fn vm(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kib * 1024
}

/// Reset the peak RSS to the current one; returns the baseline to measure growth from.
fn memory_baseline() -> u64 {
    if std::fs::write("/proc/self/clear_refs", "5").is_ok() {
        vm("VmRSS:")
    } else {
        // no reset: the old peak is the only safe baseline
        vm("VmHWM:")
    }
}

fn peak_growth(baseline: u64) -> u64 {
    vm("VmHWM:").saturating_sub(baseline)
}

// ------------------------------------------------------------------------------ limits

#[tokio::test(flavor = "multi_thread")]
async fn every_misbehaviour_is_a_typed_recorded_failure_and_the_host_keeps_serving() {
    let _g = shared();
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 3)).await.unwrap();
    let good = harness(&connector_wasm(), Some(&mock)).await;
    let h = hostile(hostile_config(None, None)).await;
    let cases: &[(&str, &str)] = &[
        ("loop", "CPU budget"),
        ("alloc", "memory limit of 200 MiB"),
        (
            "panic",
            "trapped: wasm trap: wasm `unreachable` instruction executed",
        ),
        ("panic-normalize", "trapped"),
        ("huge", "exceeds the 16 MiB page cap"),
        ("huge-record", "exceeds the 1024 KiB record cap"),
        (
            "many-records",
            "5000 records from one page exceed the cap of 1000",
        ),
        ("endless", "more than 50 pages"),
        ("split-utf8", "utf-8"),
    ];
    for (mode, needle) in cases {
        let (_d, store) = store().await;
        let started = Instant::now();
        let (e, _) = failing_run(&h, &store, mode, &[], &keys.admin).await;
        assert_eq!(e.class, "sandbox", "{mode}: {e:?}");
        assert!(e.message.contains(needle), "{mode}: {}", e.message);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{mode} took {:?}",
            started.elapsed()
        );
        if *mode == "endless" {
            // the pages before the cap were committed, each on its own
            assert_eq!(store.record_count(CONN, "things").await.unwrap(), 0);
        } else {
            assert_nothing_stored(&store, mode).await;
        }
        good_run(&good, &keys.admin).await;
    }

    // configure trapping: the save fails, typed, and nothing is stored
    let (_d, store) = store().await;
    let e = h
        .configure(
            &store,
            CONN,
            &pairs("panic-configure", &[]),
            token(&keys.admin),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class, "sandbox");
    assert!(e.message.contains("unreachable"), "{}", e.message);
    assert!(!store.is_configured(CONN).await.unwrap());

    // validate-credentials trapping is a typed error too
    let (_d2, store) = common::store().await;
    save(&h, &store, "panic-validate", &[], &keys.admin).await;
    let e = h.validate(&store, CONN).await.unwrap_err();
    assert_eq!(e.class, "sandbox", "{e:?}");
    assert!(e.message.contains("unreachable"), "{}", e.message);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spinning_component_hits_the_wall_clock_limit_while_others_run() {
    let _g = shared();
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 20, 30)).await.unwrap();
    let good = harness(&connector_wasm(), Some(&mock)).await;
    let mut c = hostile_config(None, None);
    c.policy.cpu_budget = Duration::from_secs(600);
    c.policy.call_timeout = Duration::from_secs(3);
    let h = hostile(c).await;
    let (_d, store) = store().await;
    save(&h, &store, "loop", &[], &keys.admin).await;
    let started = Instant::now();
    let spin = async {
        let e = h
            .sync(&store, CONN, host_harness::runner::SyncOptions::new("test"))
            .await
            .unwrap_err();
        (e, started.elapsed())
    };
    let other = async {
        good_run(&good, &keys.admin).await;
        started.elapsed()
    };
    let ((e, spun), good_done) = tokio::join!(spin, other);
    assert_eq!(e.class, "sandbox");
    assert!(e.message.contains("wall-clock limit"), "{}", e.message);
    assert!(
        spun >= Duration::from_secs(3) && spun < Duration::from_secs(10),
        "{spun:?}"
    );
    assert!(
        good_done < spun,
        "the good run ({good_done:?}) finished while the bad one spun ({spun:?})"
    );
}

/// §5: one `pull-page` sending 1,500 requests, 991 of them at once. The host admits at most
/// `max_requests_in_flight` at once and stops the call; the history counts the requests
/// the host sent (what the provider saw), not the component's claim.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_requests_at_once_is_capped_and_counted_by_the_host() {
    let _g = shared();
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 2, 1)).await.unwrap();
    slow(&mock, Duration::from_millis(50));
    let mut c = hostile_config(Some(&mock.base_url()), None);
    c.policy.max_requests_in_flight = 8;
    c.policy.max_requests_per_call = 100;
    let h = hostile(c).await;
    let (_d, store) = store().await;
    let started = Instant::now();
    let (e, run) = failing_run(&h, &store, "flood", &[], &keys.admin).await;
    assert_eq!(e.class, "sandbox", "{e:?}");
    assert!(
        e.message.contains("more than 8 requests in flight at once"),
        "{}",
        e.message
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let seen = mock
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/flood")
        .count() as u64;
    assert!((1..=8).contains(&seen), "the provider saw {seen} requests");
    assert_eq!(
        run.requests(),
        seen,
        "the history counts what the host sent: {run:?}"
    );
    assert_nothing_stored(&store, "flood").await;
}

/// The same flood one request at a time: capped per call, in total.
#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_requests_one_after_another_is_capped_per_call() {
    let _g = shared();
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 2, 1)).await.unwrap();
    let mut c = hostile_config(Some(&mock.base_url()), None);
    c.policy.max_requests_per_call = 50;
    let h = hostile(c).await;
    let (_d, store) = store().await;
    let (e, run) = failing_run(&h, &store, "flood-serial", &[], &keys.admin).await;
    assert_eq!(e.class, "sandbox", "{e:?}");
    assert!(
        e.message.contains("more than 50 requests in one call"),
        "{}",
        e.message
    );
    let seen = mock
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/flood")
        .count() as u64;
    assert_eq!(seen, 50, "the provider saw {seen} requests");
    assert_eq!(run.requests(), 50, "{run:?}");
    assert_nothing_stored(&store, "flood-serial").await;
}

/// §5: leaking `wasi:http` `fields` resources of 100 KiB each. The host refuses a value
/// over its field-size limit (the component traps at the first one), and holds at most
/// `max_resources` resources for an instance (a component leaking values just under the
/// limit traps when the table is full), so the memory a component can pin outside its
/// linear memory is bounded, and stated: `max_resources × max_field_bytes`.
#[tokio::test(flavor = "multi_thread")]
async fn leaked_http_fields_are_bounded_by_the_resource_table_and_field_limits() {
    let _g = exclusive();
    let p = host_harness::policy::Policy::default();
    let stated = (p.max_resources * p.max_field_bytes) as u64;
    assert!(
        stated <= 64 << 20,
        "the stated bound is {} MiB",
        stated >> 20
    );
    let under_the_limit = format!("leak-fields:{}", p.max_field_bytes - 1024);
    let cases: &[(&str, &str)] = &[
        ("leak-fields", "total size of fields exceeds limit"),
        (under_the_limit.as_str(), "resource table has no free keys"),
    ];
    let h = hostile(hostile_config(None, None)).await;
    for (mode, needle) in cases {
        let (_d, store) = store().await;
        save(
            &h,
            &store,
            mode,
            &[],
            &host_harness::random::key("sk-admin-"),
        )
        .await;
        let baseline = memory_baseline();
        let e = h
            .sync(&store, CONN, host_harness::runner::SyncOptions::new("test"))
            .await
            .expect_err("the host must stop the leak");
        let growth = peak_growth(baseline);
        println!("{mode}: peak host memory grew by {} KiB", growth >> 10);
        assert_eq!(e.class, "sandbox", "{mode}: {e:?}");
        assert!(e.message.contains(needle), "{mode}: {}", e.message);
        assert!(
            growth < stated + (48 << 20),
            "{mode}: host memory grew by {} MiB (stated bound {} MiB)",
            growth >> 20,
            stated >> 20
        );
        assert_eq!(hostile_run(&store).await.status, "failed", "{mode}");
        assert_nothing_stored(&store, mode).await;
    }
}

/// §2: a million records aliasing one 16 MiB string end in a typed `sandbox` failure, and
/// the host never holds more than its copy budget.
#[tokio::test(flavor = "multi_thread")]
async fn a_million_aliased_records_fail_typed_with_bounded_host_memory() {
    let _g = exclusive();
    let keys = keys();
    let mut c = hostile_config(None, None);
    c.policy.max_memory_bytes = 512 << 20;
    c.policy.max_lifted_bytes = 128 << 20;
    c.policy.max_records_per_page = 2_000_000;
    let h = hostile(c).await;
    let (_d, store) = store().await;
    save(&h, &store, "aliased-records", &[], &keys.admin).await;
    let baseline = memory_baseline();
    let e = h
        .sync(&store, CONN, host_harness::runner::SyncOptions::new("test"))
        .await
        .expect_err("aliased records must fail");
    let growth = peak_growth(baseline);
    println!(
        "aliased-records: peak host memory grew by {} MiB",
        growth >> 20
    );
    assert_eq!(e.class, "sandbox", "{e:?}");
    assert!(
        e.message.contains("too much data is being copied"),
        "{}",
        e.message
    );
    // the copy budget (128 MiB) plus the component's own memory (about 100 MiB here)
    assert!(
        growth < 400 << 20,
        "host memory grew by {} MiB",
        growth >> 20
    );
    assert_eq!(hostile_run(&store).await.status, "failed");
    assert_nothing_stored(&store, "aliased-records").await;
}

// ------------------------------------------------------------------------------ isolation

#[tokio::test(flavor = "multi_thread")]
async fn no_filesystem_environment_or_sockets() {
    let _g = shared();
    std::env::set_var("CODEX_SANDBOX_PROBE", "must-not-leak");
    let h = hostile(hostile_config(None, None)).await;
    let (_d, store) = store().await;
    save(
        &h,
        &store,
        "escape",
        &[],
        &host_harness::random::key("sk-admin-"),
    )
    .await;
    h.sync(&store, CONN, host_harness::runner::SyncOptions::new("test"))
        .await
        .unwrap();
    let body: String = store
        .sqlite()
        .unwrap()
        .query_row("SELECT body FROM raw_pages", [], |r| r.get(0))
        .unwrap();
    assert!(body.starts_with("fs=Err("), "{body}");
    assert!(body.contains("file=Err("), "{body}");
    assert!(body.contains("env=0 "), "{body}");
    assert!(body.contains("args=0 "), "{body}");
    assert!(body.contains("tcp=Err("), "{body}");
    assert!(body.contains("dns=Err("), "{body}");
    assert!(!body.contains("must-not-leak"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_whose_describe_traps_is_refused_cleanly() {
    let _g = shared();
    let err = Harness::load(HarnessConfig::new(broken_describe_wasm()))
        .await
        .err()
        .expect("must not load");
    let text = format!("{err:#}");
    assert!(
        text.contains("describe failed: the component trapped"),
        "{text}"
    );
    assert!(text.contains("unreachable"), "{text}");
    // the process is fine: a good component still loads and describes itself
    let good = harness(&connector_wasm(), None).await;
    assert_eq!(good.info().id, CODEX);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_a_connector_is_refused_cleanly() {
    let _g = shared();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm\x0d\0\x01\0garbage").unwrap();
    let err = Harness::load(HarnessConfig::new(junk))
        .await
        .err()
        .expect("junk must not load");
    assert!(
        format!("{err:#}").contains("not a valid component"),
        "{err:#}"
    );
    let missing = Harness::load(HarnessConfig::new(dir.path().join("nope.wasm")))
        .await
        .err()
        .unwrap();
    assert!(
        format!("{missing:#}").contains("cannot read component"),
        "{missing:#}"
    );
}

/// §3: a component built for another contract version is refused at load, typed, with a
/// message that names both versions.
#[tokio::test(flavor = "multi_thread")]
async fn a_component_built_for_another_contract_version_is_refused_naming_both() {
    use host_harness::sandbox::contract::{ContractError, ACCEPTED};
    let _g = shared();
    assert_eq!(ACCEPTED, ["0.2"]);
    let err = host_harness::sandbox::Sandbox::load(&other_contract_wasm())
        .err()
        .expect("a 0.3.0 component must not load");
    assert_eq!(
        err.downcast_ref::<ContractError>(),
        Some(&ContractError::Version {
            found: "0.3.0".into(),
            accepted: "0.2.x".into()
        }),
        "{err:#}"
    );
    let err = Harness::load(HarnessConfig::new(other_contract_wasm()))
        .await
        .err()
        .expect("a 0.3.0 component must not load");
    let text = format!("{err:#}");
    assert!(text.contains("0.3.0") && text.contains("0.2.x"), "{text}");
    // the fixtures built for 0.2 say which version they were built for
    let h = host_harness::sandbox::Sandbox::load(&hostile_wasm()).unwrap();
    assert_eq!(h.contract_version(), "0.2.0");
}

// ------------------------------------------------------------------------------ network

/// §5: the secret sent over `http://api.openai.com` (port 80, spelled or not, and 8080),
/// without any redirect: the allow-list is by origin, https only. The host's redirect of
/// `api.openai.com` to the mock is in place, so a host that compared only names would
/// deliver these to the mock.
#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_the_providers_name_is_refused() {
    let _g = shared();
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 2, 1)).await.unwrap();
    let h = hostile(hostile_config(Some(&mock.base_url()), None)).await;
    let (_d, store) = store().await;
    let (e, run) = failing_run(&h, &store, "plain-http", &[], &keys.admin).await;
    let o = outcomes(&e.message);
    for k in ["http", "http-80", "http-8080", "http-no-secret"] {
        assert_eq!(
            o.get(k).map(String::as_str),
            Some("denied"),
            "{k}: {}",
            e.message
        );
    }
    assert!(
        e.message
            .contains("http://api.openai.com is not in the connector's allow-list")
            && e.message
                .contains("http://api.openai.com:8080 is not in the connector's allow-list"),
        "{}",
        e.message
    );
    let reached: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("plain-http"))
        .collect();
    assert!(reached.is_empty(), "{reached:?}");
    assert_eq!(run.requests(), 0);
    assert_no_secret("the error", &e.message, &keys.admin);
    assert_nothing_stored(&store, "plain-http").await;
}

/// §5: declared origins that are IP literals, in every spelling, or carry user
/// information: refused at `configure`, naming why; nothing is saved.
#[tokio::test(flavor = "multi_thread")]
async fn ip_literal_origins_are_refused_at_configure_naming_why() {
    let _g = shared();
    let h = hostile(hostile_config(None, None)).await;
    let cases: &[(&str, &str)] = &[
        ("127.0.0.1", "is an IP address"),
        ("[::1]", "is an IP address"),
        ("169.254.169.254", "is an IP address"),
        ("0x7f000001", "is an IP address"),
        ("2130706433", "is an IP address"),
        ("127.1", "is an IP address"),
        ("[::ffff:127.0.0.1]", "is an IP address"),
        ("10.0.0.1", "is an IP address"),
        ("127.0.0.1.", "is an IP address"),
        ("user@api.openai.com", "user information"),
        ("evil.example", "which it does not declare"),
    ];
    for (host, why) in cases {
        let (_d, store) = store().await;
        let e = h
            .configure(
                &store,
                CONN,
                &pairs(&format!("declare:{host}"), &[]),
                token(&host_harness::random::key("sk-admin-")),
            )
            .await
            .expect_err(host);
        assert_eq!(e.class, "sandbox", "{host}: {e:?}");
        assert!(e.message.contains(why), "{host}: {}", e.message);
        assert!(!store.is_configured(CONN).await.unwrap(), "{host}");
    }
}

/// §5: `localhost`, declared: the name is accepted, but every address it resolves to is
/// loopback, so the request is refused before any connection is made.
#[tokio::test(flavor = "multi_thread")]
async fn declared_localhost_is_refused_before_any_connection() {
    let _g = shared();
    let listener = Listener::start();
    let h = hostile(hostile_config(None, None)).await;
    let (_d, store) = store().await;
    let target = format!("localhost:{}", listener.port);
    let (e, run) = failing_run(
        &h,
        &store,
        &format!("declare:{target}"),
        &[],
        &host_harness::random::key("sk-admin-"),
    )
    .await;
    assert_eq!(
        outcomes(&e.message).get(&target).map(String::as_str),
        Some("error:DestinationIpProhibited"),
        "{}",
        e.message
    );
    assert_eq!(listener.connections(), 0, "the host connected to loopback");
    assert_eq!(
        run.requests(),
        1,
        "the host counts the request it refused to route"
    );
    assert_nothing_stored(&store, "localhost").await;
}

/// §5: declared names the resolver maps to loopback, v4-mapped loopback, ULA, CGNAT,
/// link-local (the metadata address), RFC 1918, or a mix of loopback and public: refused,
/// and the loopback listener sees no connection.
#[tokio::test(flavor = "multi_thread")]
async fn names_resolving_to_private_addresses_are_refused_before_any_connection() {
    let _g = shared();
    let listener = Listener::start();
    let table: &[(&str, &[&str])] = &[
        ("loopback.hostile.test", &["127.0.0.1"]),
        ("localhost", &["127.0.0.1", "::1"]),
        ("mapped.hostile.test", &["::ffff:127.0.0.1"]),
        ("ula.hostile.test", &["fd00::1"]),
        ("cgnat.hostile.test", &["100.64.0.1"]),
        ("metadata.hostile.test", &["169.254.169.254"]),
        ("private.hostile.test", &["10.0.0.1"]),
        ("linklocal.hostile.test", &["fe80::1"]),
        ("mixed.hostile.test", &["127.0.0.1", "8.8.8.8"]),
    ];
    let map: BTreeMap<String, Vec<IpAddr>> = table
        .iter()
        .map(|(h, ips)| {
            (
                h.to_string(),
                ips.iter().map(|ip| ip.parse().unwrap()).collect(),
            )
        })
        .collect();
    let mut c = hostile_config(None, None);
    c.policy.resolver = Resolver::Static(Arc::new(map));
    let h = hostile(c).await;
    let (_d, store) = store().await;
    let targets: Vec<String> = table
        .iter()
        .map(|(h, _)| format!("{h}:{}", listener.port))
        .collect();
    let (e, _) = failing_run(
        &h,
        &store,
        "resolve-loopback",
        &[("origin", &targets.join(","))],
        &host_harness::random::key("sk-admin-"),
    )
    .await;
    let o = outcomes(&e.message);
    for t in &targets {
        assert_eq!(
            o.get(t).map(String::as_str),
            Some("error:DestinationIpProhibited"),
            "{t}: {}",
            e.message
        );
    }
    assert_eq!(
        listener.connections(),
        0,
        "the host connected to a private address"
    );
    assert_nothing_stored(&store, "resolve-loopback").await;
}

/// §5: requests straight to IP literals (every spelling of loopback and the metadata
/// address), never declared: refused before any connection.
#[tokio::test(flavor = "multi_thread")]
async fn requests_to_ip_literals_are_refused_before_any_connection() {
    let _g = shared();
    let listener = Listener::start();
    let h = hostile(hostile_config(None, None)).await;
    let (_d, store) = store().await;
    let port = listener.port.to_string();
    let (e, run) = failing_run(
        &h,
        &store,
        "ip-literals",
        &[("origin", &port)],
        &host_harness::random::key("sk-admin-"),
    )
    .await;
    let o = outcomes(&e.message);
    assert_eq!(o.len(), 20, "{}", e.message);
    for (k, v) in &o {
        assert_eq!(v, "denied", "{k}: {}", e.message);
    }
    assert!(e.message.contains("is an IP address"), "{}", e.message);
    assert_eq!(
        listener.connections(),
        0,
        "the host connected to an IP literal"
    );
    assert_eq!(run.requests(), 0);
}

/// §5: `API.OpenAI.com.` (upper case, trailing dot) and `api.openai.com.:443` are the
/// provider: the host normalizes names once, for the allow-list, the secret's origins and
/// the redirect alike, so these reach the mock with the secret (trimmed once, at input),
/// and `configure`'s three spellings of the name are one origin.
#[tokio::test(flavor = "multi_thread")]
async fn the_providers_name_is_normalized_once_for_allow_list_secret_and_redirect() {
    let _g = shared();
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 2, 1)).await.unwrap();
    let h = hostile(hostile_config(Some(&mock.base_url()), None)).await;
    let (_d, store) = store().await;
    let saved = h
        .configure(
            &store,
            CONN,
            &pairs("trailing-dot", &[]),
            token(&format!("  {}\n", keys.admin)),
        )
        .await
        .unwrap();
    assert_eq!(
        saved.origins,
        [
            "https://api.openai.com",
            "https://api.openai.com:8443",
            "https://other.hostile.test"
        ]
    );
    let run = sync(&h, &store).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(run.status, "succeeded");
    let records = store.records(CONN, "things").await.unwrap();
    assert_eq!(records.len(), 1);
    let p: serde_json::Value = serde_json::from_str(&records[0].payload).unwrap();
    assert_eq!(
        p["outcomes"],
        serde_json::json!(["status:200", "status:200"]),
        "{p}"
    );
    let seen: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/organization/users")
        .collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|r| r.status == 200), "{seen:?}");
    assert_eq!(run.requests(), 2);
}

/// §5: `@` in an authority: `user@api.openai.com`, `api.openai.com@other.hostile.test`,
/// `user:pass@api.openai.com`: refused, none reaches the mock or the other host.
#[tokio::test(flavor = "multi_thread")]
async fn user_information_in_an_authority_is_refused() {
    let _g = shared();
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 2, 1)).await.unwrap();
    let other = Sink::start();
    let h = hostile(hostile_config(Some(&mock.base_url()), Some(&other.url()))).await;
    let (_d, store) = store().await;
    let (e, run) = failing_run(&h, &store, "userinfo", &[], &keys.admin).await;
    let o = outcomes(&e.message);
    for k in ["user@provider", "provider@other", "user:pass@provider"] {
        assert_eq!(
            o.get(k).map(String::as_str),
            Some("denied"),
            "{k}: {}",
            e.message
        );
    }
    assert!(e.message.contains("user information"), "{}", e.message);
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
    assert!(other.requests().is_empty(), "{:?}", other.requests());
    assert_eq!(run.requests(), 0);
}

// ------------------------------------------------------------------------------ secrets

/// The secret never enters the sandbox. The fixture learns all it can (the header read
/// back after `attach`, the secret's shape) and tries every way out: in a body, a path,
/// another header, a host name; attached for another origin, another port, plain http;
/// the authority or scheme changed after attaching; the attached headers cloned onto
/// another request; the secret's header set by hand. Only a placeholder ever leaves, and
/// the secret reaches the provider only in its own header.
#[tokio::test(flavor = "multi_thread")]
async fn the_secret_never_enters_the_sandbox_and_no_way_out_carries_it() {
    let _g = shared();
    let secret = host_harness::random::key("sk-admin-");
    let provider = Sink::start();
    let other = Sink::start();
    let h = hostile(hostile_config(Some(&provider.url()), Some(&other.url()))).await;
    let (_d, store) = store().await;
    let (e, run) = failing_run(&h, &store, "exfil", &[], &secret).await;
    let o = outcomes(&e.message);
    let expect: &[(&str, &str)] = &[
        ("body", "status:200"),
        ("path", "status:200"),
        ("copy-header", "denied"),
        ("copy-header-elsewhere", "denied"),
        ("host-name", "denied"),
        ("host-name-declared", "denied"),
        ("undeclared", "denied"),
        ("declared-other", "denied"),
        ("other-port", "denied"),
        ("authority-after-attach", "denied"),
        ("port-after-attach", "denied"),
        ("scheme-after-attach", "denied"),
        ("set-authorization", "header:Forbidden"),
        ("from-list-authorization", "header:Forbidden"),
        ("cloned-headers-elsewhere", "denied"),
        ("cloned-headers-plain-http", "denied"),
        ("readback-body-elsewhere", "status:200"),
        ("readback-header-elsewhere", "status:200"),
    ];
    for (k, v) in expect {
        assert_eq!(
            o.get(*k).map(String::as_str),
            Some(*v),
            "{k}: {}",
            e.message
        );
    }
    // what the component could learn: a placeholder and the public shape
    let learned = &o["learned"];
    assert!(learned.starts_with("header=Bearer hh-secret-"), "{learned}");
    assert!(learned.contains("prefix=sk-admin length=57"), "{learned}");
    let placeholder = learned
        .strip_prefix("header=Bearer ")
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .to_string();

    // The provider got the two requests that were allowed, each with the secret in its
    // own header only; the placeholder it got elsewhere is worthless.
    let got = provider.requests();
    assert_eq!(got.len(), 2, "{got:#?}");
    let auth_line = format!("authorization: Bearer {secret}\r\n");
    for r in &got {
        assert_eq!(r.matches(&auth_line).count(), 1, "{r}");
        assert_no_secret(
            "a request to the provider, outside its header",
            &r.replace(&auth_line, ""),
            &secret,
        );
    }
    assert!(
        got.iter()
            .any(|r| r.contains(&format!("/v1/exfil/path?loot={placeholder}"))),
        "{got:#?}"
    );
    assert!(
        got.iter()
            .any(|r| r.contains(&format!("header=Bearer {placeholder}"))),
        "{got:#?}"
    );
    // The other host got only what was not the secret.
    let elsewhere = other.requests();
    assert_eq!(elsewhere.len(), 2, "{elsewhere:#?}");
    for r in &elsewhere {
        assert_no_secret("a request to another host", r, &secret);
        let head = r.split("\r\n\r\n").next().unwrap().to_lowercase();
        assert!(!head.contains("\r\nauthorization:"), "{r}");
    }
    assert_eq!(run.requests(), 4, "{run:?}");
    assert_no_secret("the error", &e.message, &secret);
    assert_no_secret(
        "the store",
        &dump_store_outside_secrets(&store).await,
        &secret,
    );
    assert_no_secret("the logs", &logs(), &secret);
}

/// §5: every string a component hands the host is redacted before it is shown or stored.
/// The admin pasted the key into a text field too (so the component has it, untrimmed,
/// while the secret was trimmed at input); the fixture spreads it, trimmed, padded, in
/// part, masked, and in a host name, through configure notes, the credential report's
/// organization, notes and capabilities, log lines, the page body, scope, cursor and
/// checkpoint, record keys and payloads, and its error.
#[tokio::test(flavor = "multi_thread")]
async fn every_string_a_component_hands_the_host_is_redacted() {
    let _g = shared();
    // every other character an upper-case letter: a lower-cased echo shares no 8 characters
    // with the key as written
    let secret: String = host_harness::random::key("sk-admin-")
        .char_indices()
        .map(|(i, c)| match c {
            _ if i < 9 || i % 2 == 0 => c,
            'a'..='z' => c.to_ascii_uppercase(),
            '0'..='9' => (b'A' + (c as u8 - b'0')) as char,
            _ => c,
        })
        .collect();
    let h = hostile(hostile_config(None, None)).await;
    let (_d, store) = store().await;
    let values = pairs("report-leak", &[("leak", &format!("\t{secret} "))]);
    let checked = h
        .check(&values, token(&format!("  {secret}\n")))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let notes = checked.notes.join("\n");
    assert!(notes.contains(host_harness::redact::MARKER), "{notes}");
    assert_no_secret_any_case("configure notes", &notes, &secret);

    let report = h
        .validate_checked(&checked)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let shown = format!("{report:?}");
    assert!(
        report
            .organization
            .as_deref()
            .unwrap_or("")
            .contains(host_harness::redact::MARKER),
        "{shown}"
    );
    assert_no_secret_any_case("the credential report", &shown, &secret);

    h.save(&store, CONN, &checked).await.unwrap();
    let e = h
        .sync(&store, CONN, host_harness::runner::SyncOptions::new("test"))
        .await
        .expect_err("the fixture ends with an error");
    assert_eq!(e.class, "internal");
    assert!(e.message.contains("host-name=denied"), "{}", e.message);
    // the denial is shown, with the host name made of the key redacted
    assert!(
        e.message
            .contains("[redacted] is not in the connector's allow-list"),
        "{}",
        e.message
    );
    assert_no_secret_any_case("the run's error", &e.message, &secret);
    // the first page was committed, redacted
    assert_eq!(store.raw_page_count(CONN).await.unwrap(), 1);
    assert_eq!(store.record_count(CONN, "things").await.unwrap(), 2);
    let stored = dump_component_output(&store).await;
    assert!(stored.contains(host_harness::redact::MARKER), "{stored}");
    assert_no_secret_any_case("the store", &stored, &secret);
    let logs = logs();
    assert!(
        logs.contains("[redacted]"),
        "the component's log lines were captured"
    );
    assert_no_secret_any_case("the logs", &logs, &secret);
}

// ------------------------------------------------------------------------------ records

/// §5: a record payload that is not a JSON object, or that would forge a second NDJSON
/// line; a key of the wrong arity; a record of another stream: the page is refused whole,
/// typed, and nothing of it is stored.
#[tokio::test(flavor = "multi_thread")]
async fn bad_records_are_refused_whole() {
    let _g = shared();
    let h = hostile(hostile_config(None, None)).await;
    let cases: &[(&str, &str)] = &[
        ("bad-payload:not-json", "record 1's payload is not JSON"),
        ("bad-payload:forged-line", "record 1's payload is not JSON"),
        (
            "bad-payload:array",
            "record 1's payload is not a JSON object",
        ),
        ("bad-payload:key-arity", "record 1 has a key of 2 parts"),
        (
            "bad-payload:other-stream",
            "record 1 belongs to stream \"elsewhere\"",
        ),
    ];
    for (mode, needle) in cases {
        let (_d, store) = store().await;
        let (e, _) = failing_run(
            &h,
            &store,
            mode,
            &[],
            &host_harness::random::key("sk-admin-"),
        )
        .await;
        assert_eq!(e.class, "sandbox", "{mode}: {e:?}");
        assert!(e.message.contains(needle), "{mode}: {}", e.message);
        assert_nothing_stored(&store, mode).await;
    }
}

/// A valid payload written over several lines is stored re-serialized on one line; keys
/// that are absent, empty and set stay three records.
#[tokio::test(flavor = "multi_thread")]
async fn payloads_are_stored_reserialized_and_absent_keys_stay_apart_from_empty_ones() {
    let _g = shared();
    let h = hostile(hostile_config(None, None)).await;
    let (_d, store) = store().await;
    save(
        &h,
        &store,
        "newline-payload",
        &[],
        &host_harness::random::key("sk-admin-"),
    )
    .await;
    let run = sync(&h, &store).await.unwrap();
    assert_eq!(run.status, "succeeded");
    let records = store.records(CONN, "things").await.unwrap();
    let keys: Vec<Vec<Option<String>>> = records.iter().map(|r| r.key.clone()).collect();
    assert_eq!(records.len(), 3, "{keys:?}");
    assert!(
        keys.contains(&vec![None]) && keys.contains(&vec![Some(String::new())]),
        "{keys:?}"
    );
    let multi = records
        .iter()
        .find(|r| r.key == [Some("multi".to_string())])
        .unwrap();
    assert_eq!(
        multi.payload,
        r#"{"id":"multi","text":"line one\nline two"}"#
    );
    assert!(records.iter().all(|r| !r.payload.contains('\n')));
}

// ------------------------------------------------------------------------------ the real connector

#[tokio::test(flavor = "multi_thread")]
async fn mutated_provider_bodies_never_trap_the_real_component() {
    use codex_connector::fuzzing::{case, seeds, Rng};
    use host_harness::bindings::v0_2::types as wit;
    let _g = shared();
    let iterations: usize = std::env::var("FUZZ_COMPONENT_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let h = harness(&connector_wasm(), None).await;
    let secrets = token(&host_harness::random::key("sk-admin-"));
    let mut session = h.session(&secrets, "fuzz").await.unwrap();
    let mut settings = host_harness::runner::settings::shapes(h.info(), &secrets).unwrap();
    settings.push(wit::Setting {
        key: "codex_project_ids".into(),
        value: wit::SettingValue::List(vec!["proj_abc".into()]),
    });
    session
        .configure(&settings)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("{e:?}"));
    let seeds = seeds();
    let mut rng = Rng::new(7);
    let (mut ok, mut rejected) = (0, 0);
    for i in 0..iterations {
        let (stream, body) = case(&mut rng, &seeds);
        let raw = wit::RawPage {
            stream: stream.into(),
            scope: None,
            fetched_at: 1_730_600_000,
            body: body.clone(),
        };
        match session.normalize(&raw).await {
            Ok(Ok(_)) => ok += 1,
            Ok(Err(e)) => {
                let (class, _) = host_harness::runner::connector_error(&e);
                assert!(
                    matches!(
                        class.as_str(),
                        "provider-changed" | "internal" | "transient"
                    ),
                    "{class} at {i}"
                );
                rejected += 1;
            }
            Err(trap) => {
                panic!("the component trapped at iteration {i} on {stream} {body:?}: {trap}")
            }
        }
    }
    println!("component fuzz: {iterations} bodies: {ok} normalized, {rejected} rejected, 0 traps");
    assert!(ok > 0 && rejected > 0);
}
