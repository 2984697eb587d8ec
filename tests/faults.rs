//! Provider faults, end to end: the real component in the harness against the mock's
//! fault modes. Rate limits and transient failures are retried on the same cursor within
//! bounds; when the budget runs out the run fails typed and the next run finishes the job;
//! oversize bodies stop at the cap; shape changes are tolerated or named. Every retry is a
//! request the host sent and counts in the history.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use host_harness::runner::{Harness, HarnessConfig, HostError, Progress, SyncOptions};
use host_harness::store::{Run, Store};
use openai_mock::{Fault, FaultRule, MockServer, ShapeChange};
use serde_json::Value;

const USAGE_PATH: &str = "/usage/completions";

async fn tuned(mock: &MockServer, tune: impl FnOnce(&mut HarnessConfig)) -> Harness {
    let mut c = config(&connector_wasm(), Some(mock));
    c.retry.base_delay = Duration::from_millis(20);
    c.retry.max_delay = Duration::from_secs(5);
    c.policy.first_byte_timeout = Duration::from_millis(700);
    c.policy.between_bytes_timeout = Duration::from_millis(700);
    tune(&mut c);
    Harness::load(c).await.unwrap()
}

fn rule(path: Option<&str>, skip: usize, times: usize, fault: Fault) -> FaultRule {
    FaultRule {
        path_contains: path.map(str::to_string),
        skip,
        times,
        fault,
    }
}

/// Sync, collecting the waits the runner announced (class, delay), and every progress
/// line for the leak checks.
async fn sync_waits(
    h: &Harness,
    store: &Store,
) -> (Result<Run, HostError>, Vec<(String, Duration)>, String) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let r = h
        .sync(
            store,
            CONN,
            SyncOptions {
                progress: Some(tx),
                ..SyncOptions::new("test")
            },
        )
        .await;
    let mut waits = Vec::new();
    let mut lines = String::new();
    while let Ok(p) = rx.try_recv() {
        lines.push_str(&format!("{p:?} {}\n", p.message()));
        if let Progress::Waiting { class, delay, .. } = p {
            waits.push((class, delay));
        }
    }
    (r, waits, lines)
}

async fn secrets_clean(store: &Store, text: &str, token: &str) {
    assert_no_secret("store", &dump_store_outside_secrets(store).await, token);
    assert_no_secret("errors and progress", text, token);
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_wait_what_retry_after_says_within_bounds() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 30, 40)).await.unwrap();
    let h = tuned(&mock, |c| c.retry.max_delay = Duration::from_millis(1500)).await;
    let (_d, store) = store().await;
    configure(&h, &store, &[("backfill_days", "40")], &keys.admin)
        .await
        .unwrap();

    // Retry-After: 1 → one-second waits; Retry-After: 120 → capped at max_delay.
    mock.inject(rule(
        Some(USAGE_PATH),
        0,
        2,
        Fault::Status {
            status: 429,
            retry_after: Some("1".into()),
        },
    ));
    mock.inject(rule(
        Some(USAGE_PATH),
        0,
        1,
        Fault::Status {
            status: 429,
            retry_after: Some("120".into()),
        },
    ));
    // No Retry-After → exponential back-off with jitter from base 20 ms.
    mock.inject(rule(
        Some("/users"),
        0,
        3,
        Fault::Status {
            status: 429,
            retry_after: None,
        },
    ));
    let started = Instant::now();
    let (run, waits, lines) = sync_waits(&h, &store).await;
    let run = run.unwrap();
    let rl: Vec<Duration> = waits
        .iter()
        .filter(|(c, _)| c == "rate-limited")
        .map(|w| w.1)
        .collect();
    assert_eq!(rl.len(), 6, "{waits:?}");
    assert_eq!(waits.len(), 6, "{waits:?}");
    // users first (describe order): 20 ms·2^n·[1, 1.5)
    for (i, d) in rl[..3].iter().enumerate() {
        let base = 20u64 << i;
        assert!(
            *d >= Duration::from_millis(base) && *d < Duration::from_millis(base * 3 / 2 + 1),
            "attempt {i}: {d:?}"
        );
    }
    assert_eq!(
        &rl[3..],
        &[
            Duration::from_secs(1),
            Duration::from_secs(1),
            Duration::from_millis(1500)
        ]
    );
    assert!(started.elapsed() >= Duration::from_millis(3500));
    assert_eq!(
        stored_usage(&store).await,
        truth_usage(&mock),
        "a burst of 429s still ends with the ground truth"
    );
    assert_eq!(run.status, "succeeded");
    // the same cursor was retried: the three faulted usage requests and the good one are identical
    let usage: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.contains(USAGE_PATH))
        .collect();
    assert_eq!(usage.len(), 5);
    // (a first page's end_time is "now" at each attempt; the cursor itself is the same)
    let cursor_of = |q: &str| {
        q.split('&')
            .filter(|p| !p.starts_with("end_time="))
            .collect::<Vec<_>>()
            .join("&")
    };
    assert!(usage[..4]
        .iter()
        .all(|r| cursor_of(&r.query) == cursor_of(&usage[0].query)));
    assert_eq!(
        usage[..3].iter().map(|r| r.status).collect::<Vec<_>>(),
        [429, 429, 429]
    );
    // The history counts every request the host sent, retries included: 2 pages + 3
    // retried usage requests, 1 page + 3 retried users requests.
    assert_eq!(run.streams["usage"].requests, 5, "{:?}", run.streams);
    assert_eq!(run.streams["usage"].pages, 2);
    assert_eq!(run.streams["users"].requests, 4, "{:?}", run.streams);
    assert_eq!(run.requests(), mock.requests().len() as u64);
    assert_eq!(last_run(&store).await.streams, run.streams);
    secrets_clean(&store, &format!("{waits:?}{lines}{run:?}"), &keys.admin).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_errors_resets_truncation_and_stalls_are_retried() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 20, 20)).await.unwrap();
    let h = tuned(&mock, |_| {}).await;
    let faults = [
        Fault::Status {
            status: 500,
            retry_after: None,
        },
        Fault::Status {
            status: 502,
            retry_after: None,
        },
        Fault::Status {
            status: 503,
            retry_after: None,
        },
        Fault::Status {
            status: 504,
            retry_after: None,
        },
        Fault::ResetBeforeHeaders,
        Fault::ResetMidBody,
        Fault::TruncatedJson,
        Fault::StallBeforeFirstByte(Duration::from_secs(3)),
        Fault::StallBetweenBytes(Duration::from_secs(3)),
    ];
    for fault in faults {
        let (_d, store) = store().await;
        configure(&h, &store, &[("backfill_days", "20")], &keys.admin)
            .await
            .unwrap();
        mock.clear_faults();
        mock.inject(rule(Some(USAGE_PATH), 0, 1, fault.clone()));
        let (run, waits, lines) = sync_waits(&h, &store).await;
        let run = run.unwrap_or_else(|e| panic!("{fault:?}: {e:?}"));
        assert_eq!(waits.len(), 1, "{fault:?}: {waits:?}");
        assert_eq!(waits[0].0, "transient", "{fault:?}");
        assert_eq!(stored_usage(&store).await, truth_usage(&mock), "{fault:?}");
        // one page, two requests sent for it (the failed one and its retry)
        assert_eq!(run.streams["usage"].pages, 1, "{fault:?}");
        assert_eq!(
            run.streams["usage"].requests, 2,
            "{fault:?}: {:?}",
            run.streams
        );
        secrets_clean(&store, &format!("{waits:?}{lines}"), &keys.admin).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_the_retry_budget_runs_out_the_checkpoint_holds_and_the_next_run_finishes() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 60, 90)).await.unwrap();
    let h = tuned(&mock, |c| c.retry.max_attempts = 3).await;
    let (_d, store) = store().await;
    configure(&h, &store, &[("backfill_days", "90")], &keys.admin)
        .await
        .unwrap();
    // the first usage page succeeds, every later one fails
    mock.inject(rule(
        Some(USAGE_PATH),
        1,
        usize::MAX,
        Fault::Status {
            status: 503,
            retry_after: None,
        },
    ));
    let (run, waits, lines) = sync_waits(&h, &store).await;
    let e = run.unwrap_err();
    assert_eq!(e.class, "transient");
    assert_eq!(e.exit_code(), 6);
    assert!(
        e.message.contains("gave up after 3 attempts"),
        "{}",
        e.message
    );
    assert_eq!(waits.len(), 2);
    let failed = last_run(&store).await;
    assert_eq!(
        (failed.status.as_str(), failed.error_class.as_deref()),
        ("failed", Some("transient"))
    );
    assert_eq!(failed.error_message.as_deref(), Some(e.message.as_str()));
    assert_eq!(failed.streams["usage"].pages, 1);
    // the history counts the committed page's request and the three failed attempts
    assert_eq!(failed.streams["usage"].requests, 4, "{:?}", failed.streams);
    assert_eq!(failed.requests(), mock.requests().len() as u64);

    // Committed: exactly the first page's 31 days, with exact numbers; the checkpoint is there.
    let truth = truth_usage(&mock);
    let partial = stored_usage(&store).await;
    let days: std::collections::BTreeSet<&String> = partial.keys().map(|k| &k.0).collect();
    assert_eq!(days.len(), 31);
    for (k, v) in &partial {
        assert_eq!(truth.get(k), Some(v));
    }
    let checkpoint: Value =
        serde_json::from_str(&store.checkpoint(CONN, "usage").await.unwrap().unwrap()).unwrap();
    assert!(checkpoint["through"].as_i64().unwrap() > 0);

    mock.clear_faults();
    let (run, _, _) = sync_waits(&h, &store).await;
    let run = run.unwrap();
    assert_eq!(
        stored_usage(&store).await,
        truth,
        "the next run finishes the job with exact totals"
    );
    // it resumed after the committed page: two more usage pages, nothing re-inserted
    assert_eq!(run.streams["usage"].pages, 2, "{:?}", run.streams);
    assert_eq!(
        failed.streams["usage"].inserted + run.streams["usage"].inserted,
        truth.len() as u64
    );
    secrets_clean(&store, &format!("{e:?}{lines}"), &keys.admin).await;
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn oversize_bodies_stop_at_the_cap_with_a_typed_error() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 10, 5)).await.unwrap();
    let h = tuned(&mock, |c| c.policy.max_body_bytes = 4 << 20).await;
    for declared in [false, true] {
        let (_d, store) = store().await;
        configure(&h, &store, &[], &keys.admin).await.unwrap();
        mock.clear_faults();
        mock.inject(rule(
            Some("/users"),
            0,
            usize::MAX,
            Fault::HugeBody {
                bytes: 2 << 30,
                declared,
            },
        ));
        let before = peak_rss_kib();
        let started = Instant::now();
        let (run, waits, _) = sync_waits(&h, &store).await;
        let e = run.unwrap_err();
        assert_eq!(e.class, "provider-changed", "declared={declared}: {e:?}");
        // the host's own record of its cap names it (the component sees an opaque error)
        assert!(
            e.message.contains("larger than the cap of 4 MiB"),
            "{}",
            e.message
        );
        assert!(waits.is_empty(), "an oversize body is not retried");
        assert!(started.elapsed() < Duration::from_secs(20));
        // 2 GiB offered; the read stopped at 4 MiB
        assert!(
            peak_rss_kib() - before < 1024 * 1024,
            "peak RSS grew by {} KiB",
            peak_rss_kib() - before
        );
        assert_eq!(store.record_count(CONN, "users").await.unwrap(), 0);
        assert_eq!(store.raw_page_count(CONN).await.unwrap(), 0);
        let failed = last_run(&store).await;
        assert_eq!(failed.error_class.as_deref(), Some("provider-changed"));
        assert_eq!(failed.streams["users"].requests, 1, "{:?}", failed.streams);
        // The connection check reads the same endpoint and says the same: as the
        // directory capability's problem when the cap shows at the response head, or as
        // the check's own error when it shows mid-body (the component then sees an opaque
        // stream error, and the host's record of its cap classifies the failure).
        match h.validate(&store, CONN).await {
            Ok(report) => {
                let directory = report
                    .capabilities
                    .iter()
                    .find(|c| c.name == "platform-directory")
                    .unwrap();
                assert_eq!(
                    directory.problem,
                    Some(host_harness::bindings::v0_2::types::ErrorClass::ProviderChanged),
                    "declared={declared}: {directory:?}"
                );
                // the connector's words: the cap's size when the error code carried it
                assert!(
                    directory.message.contains("larger than the cap"),
                    "{directory:?}"
                );
            }
            Err(e) => {
                assert_eq!(e.class, "provider-changed", "declared={declared}: {e:?}");
                assert!(e.message.contains("larger than the cap of 4 MiB"), "{e:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shape_changes_are_tolerated_where_clear_and_named_where_not() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 15, 10)).await.unwrap();
    let h = tuned(&mock, |_| {}).await;

    for shape in [
        ShapeChange::UnknownFields,
        ShapeChange::ResultForResults,
        ShapeChange::MissingOptional,
    ] {
        let (_d, store) = store().await;
        configure(&h, &store, &[("backfill_days", "10")], &keys.admin)
            .await
            .unwrap();
        mock.clear_faults();
        mock.inject(rule(None, 0, usize::MAX, Fault::Shape(shape)));
        let (run, _, _) = sync_waits(&h, &store).await;
        run.unwrap_or_else(|e| panic!("{shape:?}: {e:?}"));
        let (got, truth) = (stored_usage(&store).await, truth_usage(&mock));
        if shape == ShapeChange::MissingOptional {
            // cached tokens were not sent: carried as 0, everything else exact
            let strip = |m: &BTreeMap<Line, [u64; 4]>| {
                m.iter()
                    .map(|(k, v)| (k.clone(), [v[0], v[2], v[3]]))
                    .collect::<Vec<_>>()
            };
            assert_eq!(strip(&got), strip(&truth));
            assert!(got.values().all(|v| v[1] == 0));
        } else {
            assert_eq!(got, truth, "{shape:?}");
        }
        assert_eq!(
            store.record_count(CONN, "users").await.unwrap(),
            15,
            "{shape:?}"
        );
    }

    for (shape, path, stream, field) in [
        (
            ShapeChange::WrongType,
            USAGE_PATH,
            "usage",
            "data[0].results[0].",
        ),
        (
            ShapeChange::WrongType,
            "/organization/users",
            "users",
            "data[0].added_at",
        ),
        (ShapeChange::ExtraEnvelope, USAGE_PATH, "usage", "data"),
    ] {
        let (_d, store) = store().await;
        configure(&h, &store, &[("backfill_days", "10")], &keys.admin)
            .await
            .unwrap();
        mock.clear_faults();
        mock.inject(rule(Some(path), 0, usize::MAX, Fault::Shape(shape)));
        let (run, waits, lines) = sync_waits(&h, &store).await;
        let e = run.unwrap_err();
        assert_eq!(e.class, "provider-changed", "{shape:?}: {e:?}");
        assert_eq!(e.exit_code(), 7);
        assert!(
            e.message
                .contains(&format!("stream {stream}, field {field}")),
            "{shape:?}: {}",
            e.message
        );
        assert!(waits.is_empty());
        // nothing half-written: no records and no checkpoint for the failed stream
        assert_eq!(
            store.record_count(CONN, stream).await.unwrap(),
            0,
            "{shape:?}"
        );
        assert_eq!(store.checkpoint(CONN, stream).await.unwrap(), None);
        let failed = last_run(&store).await;
        assert_eq!(failed.error_class.as_deref(), Some("provider-changed"));
        assert_eq!(failed.streams[stream].inserted, 0);
        secrets_clean(&store, &format!("{e:?}{lines}"), &keys.admin).await;
    }
}
