//! The host survives hostile or broken components: each misbehaviour of the fixture in
//! `tests/fixtures/hostile` ends in a typed, recorded failure, and the same harness process
//! keeps serving good runs.

mod common;

use std::time::{Duration, Instant};

use common::*;
use host_harness::runner::{Harness, HarnessConfig, HostError};
use host_harness::store::Store;
use openai_mock::MockServer;

fn no_progress() -> impl FnMut(host_harness::runner::Progress) {
    |_| {}
}

async fn hostile(tune: impl FnOnce(&mut HarnessConfig)) -> Harness {
    let mut config = HarnessConfig::new(hostile_wasm());
    tune(&mut config);
    Harness::load(config)
        .await
        .expect("load the hostile fixture")
}

async fn run_mode(h: &Harness, store: &mut Store, mode: &str) -> HostError {
    h.configure(store, &[("mode".into(), mode.into())], "sk-admin-fixture")
        .await
        .expect("configure");
    let e = h
        .sync(store, None, "test", &mut no_progress())
        .await
        .expect_err(mode);
    let run = &store.runs(1).unwrap()[0];
    assert_eq!(run.status, "failed", "{mode}: the failure is recorded");
    assert_eq!(run.error_class.as_deref(), Some(e.class.as_str()), "{mode}");
    e
}

/// A good run of the real connector, proving the harness still serves other runs.
async fn good_run(mock: &MockServer, admin: &str) {
    let h = harness(&connector_wasm(), Some(mock)).await;
    let (_d, mut store) = store();
    h.configure(&mut store, &[], admin).await.unwrap();
    let run = h
        .sync(&mut store, None, "test", &mut no_progress())
        .await
        .unwrap();
    assert_eq!(run.status, "succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_misbehaviour_is_a_typed_recorded_failure_and_the_host_keeps_serving() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 3)).await.unwrap();
    let h = hostile(|c| {
        c.policy.cpu_budget = Duration::from_millis(800);
        c.policy.call_timeout = Duration::from_secs(20);
        c.policy.max_memory_bytes = 200 << 20;
        c.policy.max_page_bytes = 16 << 20;
        c.policy.max_record_bytes = 1 << 20;
        c.policy.max_records_per_page = 1_000;
        c.max_pages_per_stream = 50;
    })
    .await;
    let cases: &[(&str, &str, &str)] = &[
        ("loop", "sandbox", "CPU budget"),
        ("alloc", "sandbox", "memory limit of 200 MiB"),
        (
            "panic",
            "sandbox",
            "trapped: wasm trap: wasm `unreachable` instruction executed",
        ),
        ("panic-normalize", "sandbox", "trapped"),
        ("huge", "sandbox", "exceeds the 16 MiB page cap"),
        ("huge-record", "sandbox", "exceeds the 1024 KiB record cap"),
        (
            "many-records",
            "sandbox",
            "5000 records from one page exceed the cap of 1000",
        ),
        ("endless", "sandbox", "more than 50 pages"),
        (
            "aliased-records",
            "sandbox",
            "too much data is being copied",
        ),
        ("split-utf8", "sandbox", "invalid utf-8 in a record string"),
    ];
    for (mode, class, needle) in cases {
        let (_d, mut store) = store();
        let started = Instant::now();
        let e = run_mode(&h, &mut store, mode).await;
        assert_eq!(e.class, *class, "{mode}: {e:?}");
        assert!(e.message.contains(needle), "{mode}: {}", e.message);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{mode} took {:?}",
            started.elapsed()
        );
        // no records, no checkpoint from a failed page
        assert_eq!(store.record_count("things").unwrap(), 0, "{mode}");
        good_run(&mock, &keys.admin).await;
    }

    // configure trapping: the save fails, typed, and nothing is stored
    let (_d, mut store) = store();
    let e = h
        .configure(
            &mut store,
            &[("mode".into(), "panic-configure".into())],
            "sk-admin-fixture",
        )
        .await
        .unwrap_err();
    assert_eq!(e.class, "sandbox");
    assert!(e.message.contains("unreachable"), "{}", e.message);
    assert_eq!(store.token().unwrap(), None);

    // validate-credentials trapping is a typed error too
    let (_d2, mut store) = common::store();
    h.configure(
        &mut store,
        &[("mode".into(), "panic-validate".into())],
        "sk-admin-fixture",
    )
    .await
    .unwrap();
    assert_eq!(h.validate(&store).await.unwrap_err().class, "sandbox");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spinning_component_hits_the_wall_clock_limit_while_others_run() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 20, 30)).await.unwrap();
    let h = hostile(|c| {
        c.policy.cpu_budget = Duration::from_secs(600);
        c.policy.call_timeout = Duration::from_secs(3);
    })
    .await;
    let (_d, mut store) = store();
    h.configure(
        &mut store,
        &[("mode".into(), "loop".into())],
        "sk-admin-fixture",
    )
    .await
    .unwrap();
    let started = Instant::now();
    let spin = async {
        let e = h
            .sync(&mut store, None, "test", &mut no_progress())
            .await
            .unwrap_err();
        (e, started.elapsed())
    };
    let good = async {
        good_run(&mock, &keys.admin).await;
        started.elapsed()
    };
    let ((e, spun), good_done) = tokio::join!(spin, good);
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

#[tokio::test(flavor = "multi_thread")]
async fn no_filesystem_environment_or_sockets() {
    std::env::set_var("CODEX_SANDBOX_PROBE", "must-not-leak");
    let h = hostile(|_| {}).await;
    let (_d, mut store) = store();
    h.configure(
        &mut store,
        &[("mode".into(), "escape".into())],
        "sk-admin-fixture",
    )
    .await
    .unwrap();
    h.sync(&mut store, None, "test", &mut no_progress())
        .await
        .unwrap();
    let body: String = store
        .conn()
        .query_row("SELECT body FROM raw_pages", [], |r| r.get(0))
        .unwrap();
    assert!(body.starts_with("fs=Err("), "{body}");
    assert!(body.contains("file=Err("), "{body}");
    assert!(body.contains("env=0 "), "{body}");
    assert!(body.contains("tcp=Err("), "{body}");
    assert!(body.contains("dns=Err("), "{body}");
    assert!(!body.contains("must-not-leak"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_whose_describe_traps_is_refused_cleanly() {
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
    assert_eq!(good.info().id, "openai-codex");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_a_connector_is_refused_cleanly() {
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
    assert!(format!("{missing:#}").contains("cannot read component"));
}

#[tokio::test(flavor = "multi_thread")]
async fn mutated_provider_bodies_never_trap_the_real_component() {
    use codex_connector::fuzzing::{case, seeds, Rng};
    use host_harness::sandbox::wit;
    let iterations: usize = std::env::var("FUZZ_COMPONENT_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    let h = harness(&connector_wasm(), None).await;
    let token = host_harness::random_admin_key();
    let mut session = h.session(Some(&token)).await.unwrap();
    let settings = vec![
        wit::Setting {
            key: "api_token".into(),
            value: wit::SettingValue::Text(token.clone()),
        },
        wit::Setting {
            key: "codex_project_ids".into(),
            value: wit::SettingValue::List(vec!["proj_abc".into()]),
        },
    ];
    session.configure(&settings).await.unwrap().unwrap();
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
