//! End to end: the real `codex-connector` component, loaded into the wasmtime host harness,
//! against the OpenAI Admin API mock on loopback (contract 0.2: the component sees only a
//! secret's shape; the host attaches the key to requests and counts them itself).

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::*;
use host_harness::bindings::v0_2::types as wit;
use host_harness::runner::{HostError, Progress, SyncOptions};
use host_harness::store::Store;
use openai_mock::{MockServer, PermissionErrorStyle};
use serde_json::Value;

/// Sum per (user, model): the figure the platform shows per person.
fn per_user_model(m: &BTreeMap<Line, [u64; 4]>) -> BTreeMap<(String, String), [u64; 4]> {
    let mut out: BTreeMap<(String, String), [u64; 4]> = BTreeMap::new();
    for ((_, user, _, _, model), v) in m {
        let e = out.entry((user.clone(), model.clone())).or_default();
        for i in 0..4 {
            e[i] += v[i];
        }
    }
    out
}

const PLATFORM: [&str; 2] = ["platform-usage", "platform-directory"];

/// (status, problem) of the two Platform capabilities, in report order; every other
/// capability (another source's) must be `not-configured` when only the Platform key is set.
fn statuses(r: &wit::CredentialReport) -> Vec<(wit::CheckStatus, Option<wit::ErrorClass>)> {
    for c in r
        .capabilities
        .iter()
        .filter(|c| !PLATFORM.contains(&c.name.as_str()))
    {
        assert_eq!(
            (c.status, c.problem),
            (wit::CheckStatus::NotConfigured, None),
            "{c:?}"
        );
    }
    let names: Vec<&str> = r
        .capabilities
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| PLATFORM.contains(n))
        .collect();
    assert_eq!(names, PLATFORM, "{r:?}");
    r.capabilities
        .iter()
        .filter(|c| PLATFORM.contains(&c.name.as_str()))
        .map(|c| (c.status, c.problem))
        .collect()
}

/// The check of capability `name`.
fn cap<'r>(r: &'r wit::CredentialReport, name: &str) -> &'r wit::CapabilityCheck {
    r.capabilities
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

/// Requests the mock served to `path_suffix`.
fn served(mock: &MockServer, path_suffix: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.path.ends_with(path_suffix))
        .count()
}

/// Everything the host logs through `tracing` in this test binary (the component's
/// `host-log` lines included), at every level the host and the component use.
fn captured_logs() -> String {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buf = LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "host_harness=trace,connector=trace,openai_mock=trace",
            ))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init()
            .expect("install the log capture");
        buf
    });
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

struct Sink(Arc<Mutex<Vec<u8>>>);
impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_key_is_accepted_with_both_capabilities() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 10, 5)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    assert_eq!(harness.id(), CODEX);
    let described: Vec<&str> = harness
        .info()
        .capabilities
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(described[..2], PLATFORM, "{described:?}");
    // What no API key can show is said once, in the description.
    assert!(
        harness.info().notes.iter().any(|n| n.contains("ChatGPT")),
        "{:?}",
        harness.info().notes
    );

    // Configure checks live before saving: both capabilities granted, then saved.
    let (_dir, store) = store().await;
    let (saved, report) = harness
        .configure_validated(&store, CONN, &[], token(&keys.admin))
        .await
        .unwrap();
    let saved = saved.expect("a working admin key is saved");
    assert!(report.ok, "{report:?}");
    let tail = &keys.admin[keys.admin.len() - 4..];
    assert_eq!(saved.secrets["api_token"], format!("sk-admin…{tail}"));
    assert_eq!(saved.origins, ["https://api.openai.com"]);
    assert_eq!(
        store.secrets(CONN).await.unwrap()["api_token"].expose(),
        keys.admin
    );

    // The stored key checks the same, each capability with its own probe.
    mock.reset_requests();
    let report = harness.validate(&store, CONN).await.unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(
        statuses(&report),
        [
            (wit::CheckStatus::Granted, None),
            (wit::CheckStatus::Granted, None)
        ]
    );
    assert!(
        report.capabilities.iter().all(|c| c.message.len() > 10),
        "{report:?}"
    );
    assert_eq!(
        report.organization.as_deref(),
        Some("org-mock0000000000000000000001")
    );
    assert_eq!(served(&mock, "/usage/completions"), 1);
    assert_eq!(served(&mock, "/organization/users"), 1);
    assert_eq!(mock.requests().len(), 2);
    assert_no_secret(
        "credential report",
        &format!("{report:?}{saved:?}"),
        &keys.admin,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn project_key_is_refused_from_its_shape_before_any_request_and_nothing_is_stored() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 2)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, store) = store().await;
    // The mock's own project key, and one it has never heard of: the connector sees only
    // the shape (`sk-proj-`, the length), so both are refused the same way.
    let stranger = host_harness::random::key("sk-proj-");
    for key in [&keys.project, &stranger] {
        for validated in [false, true] {
            let err: HostError = if validated {
                harness
                    .configure_validated(&store, CONN, &[], token(key))
                    .await
                    .map(|_| ())
                    .unwrap_err()
            } else {
                configure(&harness, &store, &[], key)
                    .await
                    .map(|_| ())
                    .unwrap_err()
            };
            assert_eq!(err.class, "invalid-settings");
            assert_eq!(err.exit_code(), 2);
            assert!(
                err.message
                    .starts_with("api_token: This is a project API key (sk-proj-…)"),
                "{}",
                err.message
            );
            assert!(
                err.message.contains("Manage → Admin API Keys"),
                "{}",
                err.message
            );
            assert_no_secret("error message", &err.message, key);
        }
    }
    assert!(store.secrets(CONN).await.unwrap().is_empty());
    assert!(!store.is_configured(CONN).await.unwrap());
    assert!(
        mock.requests().is_empty(),
        "configure must not touch the network"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_without_rights_or_unknown_keys_get_the_right_class_per_capability() {
    for style in [
        PermissionErrorStyle::Bare403,
        PermissionErrorStyle::Object401,
    ] {
        let keys = keys();
        let mut config = mock_config(&keys, 5, 2);
        config.permission_error_style = style;
        let mock = MockServer::start(config).await.unwrap();
        let harness = harness(&connector_wasm(), Some(&mock)).await;
        use wit::CheckStatus::{Denied, Granted};
        use wit::ErrorClass::{Forbidden, Unauthorized};

        // Admin key restricted to usage: the directory is forbidden, and says which scope.
        let (_d1, store) = store().await;
        let (saved, r) = harness
            .configure_validated(&store, CONN, &[], token(&keys.usage_only))
            .await
            .unwrap();
        assert!(
            saved.is_none() && !r.ok,
            "{style:?}: a denied capability saves nothing"
        );
        assert!(!store.is_configured(CONN).await.unwrap());
        configure(&harness, &store, &[], &keys.usage_only)
            .await
            .unwrap();
        let r = harness.validate(&store, CONN).await.unwrap();
        assert!(!r.ok);
        assert_eq!(
            statuses(&r),
            [(Granted, None), (Denied, Some(Forbidden))],
            "{style:?}: {r:?}"
        );
        let m = &cap(&r, "platform-directory").message;
        assert!(
            m.contains("api.management.read") && m.contains("Manage → Admin API Keys"),
            "{m}"
        );
        // A sync reads the directory first: forbidden, recorded with its class.
        let e = sync(&harness, &store).await.unwrap_err();
        assert_eq!((e.class.as_str(), e.exit_code()), ("forbidden", 4), "{e:?}");
        let run = last_run(&store).await;
        assert_eq!(
            (run.status.as_str(), run.error_class.as_deref()),
            ("failed", Some("forbidden"))
        );

        let (_d2, store) = common::store().await;
        configure(&harness, &store, &[], &keys.directory_only)
            .await
            .unwrap();
        let r = harness.validate(&store, CONN).await.unwrap();
        assert_eq!(
            statuses(&r),
            [(Denied, Some(Forbidden)), (Granted, None)],
            "{style:?}: {r:?}"
        );
        assert!(cap(&r, "platform-usage").message.contains("api.usage.read"));

        // An admin-shaped key the provider does not know: rejected (401), told apart from
        // a key without rights.
        let unknown = host_harness::random::key("sk-admin-");
        let (_d3, store) = common::store().await;
        configure(&harness, &store, &[], &unknown).await.unwrap();
        let r = harness.validate(&store, CONN).await.unwrap();
        assert_eq!(
            statuses(&r),
            [(Denied, Some(Unauthorized)), (Denied, Some(Unauthorized))],
            "{style:?}"
        );
        for name in PLATFORM {
            let c = cap(&r, name);
            assert!(
                c.message.contains("rejected the API Token"),
                "{}",
                c.message
            );
            assert_no_secret("capability message", &c.message, &unknown);
        }
        // and a sync with it fails with that class, recorded in the history with the
        // requests the host made (its own count, equal to what the provider saw)
        mock.reset_requests();
        let e = sync(&harness, &store).await.unwrap_err();
        assert_eq!((e.class.as_str(), e.exit_code()), ("unauthorized", 3));
        let run = last_run(&store).await;
        assert_eq!(run.status, "failed");
        assert_eq!(run.error_class.as_deref(), Some("unauthorized"));
        assert_eq!(run.requests(), mock.requests().len() as u64, "{run:?}");
        assert!(run.requests() >= 1);
        assert_no_secret(
            "history",
            &dump_store_outside_secrets(&store).await,
            &unknown,
        );
        assert_no_secret("error", &format!("{e:?}"), &unknown);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_before_configure_is_not_configured_and_records_no_run() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 2)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, store) = store().await;
    let e = sync(&harness, &store).await.unwrap_err();
    assert_eq!(
        (e.class.as_str(), e.exit_code()),
        ("not-configured", 8),
        "{e:?}"
    );
    assert!(e.advice().unwrap().contains("configure"));
    let e = harness.validate(&store, CONN).await.unwrap_err();
    assert_eq!(e.class, "not-configured");
    assert!(
        store.runs(CONN, 10).await.unwrap().is_empty(),
        "nothing was run, nothing is recorded"
    );
    assert!(mock.requests().is_empty());
    // An unknown stream is refused as usage, before anything is recorded either.
    configure(&harness, &store, &[], &keys.admin).await.unwrap();
    let e = harness
        .sync(
            &store,
            CONN,
            SyncOptions {
                streams: Some(vec!["usage".into(), "invoices".into()]),
                ..SyncOptions::new("test")
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.class, "usage");
    assert!(e.message.contains("\"invoices\""), "{}", e.message);
    for s in &harness.info().streams {
        assert!(
            e.message.contains(&s.name),
            "names the streams: {}",
            e.message
        );
    }
    assert!(store.runs(CONN, 10).await.unwrap().is_empty());
    assert!(mock.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn ninety_day_sync_crosses_pages_and_equals_the_ground_truth() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 150, 90))
        .await
        .unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, store) = store().await;
    configure(&harness, &store, &[("backfill_days", "90")], &keys.admin)
        .await
        .unwrap();
    let run = sync(&harness, &store).await.unwrap();
    assert_eq!(run.status, "succeeded");
    assert_eq!(run.connector, CODEX);
    assert_eq!(run.trigger, "test");

    // 90 daily buckets at 31 per page: 3 usage pages, following next_page.
    assert_eq!(run.streams["usage"].pages, 3);
    // users: 150 at 100 per page.
    assert_eq!(run.streams["users"].pages, 2);
    let usage_requests: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/usage/completions"))
        .collect();
    assert_eq!(usage_requests.len(), 3);
    assert!(
        usage_requests[1].query.contains("page="),
        "{:?}",
        usage_requests[1]
    );
    assert!(usage_requests
        .iter()
        .all(|r| r.status == 200 && r.query.contains("limit=31")));
    // The history's request counts are the host's own, per stream, and match what the
    // provider saw.
    assert_eq!(run.streams["usage"].requests, 3);
    assert_eq!(
        run.streams["users"].requests,
        served(&mock, "/organization/users") as u64
    );
    assert_eq!(run.streams["users"].requests, 2);
    assert_eq!(run.requests(), mock.requests().len() as u64);
    assert_eq!(last_run(&store).await, run);

    let stored = stored_usage(&store).await;
    let truth = truth_usage(&mock);
    assert_eq!(stored.len(), truth.len());
    assert_eq!(
        stored, truth,
        "every usage line equals the mock's ground truth"
    );
    assert_eq!(per_user_model(&stored), per_user_model(&truth));
    assert_eq!(store.record_count(CONN, "users").await.unwrap(), 150);
    assert_eq!(run.streams["usage"].inserted, truth.len() as u64);

    // Every API key the usage mentions is in the directory with its owner.
    let keys_in_dir: Vec<String> = store
        .records(CONN, "api_keys")
        .await
        .unwrap()
        .into_iter()
        .map(|r| {
            assert_eq!(r.key.len(), 1);
            r.key[0].clone().expect("an api key id")
        })
        .collect();
    for (_, _, key, _, _) in truth.keys() {
        assert!(
            keys_in_dir.contains(key),
            "api key {key} missing from the api_keys stream"
        );
    }
    // Codex attribution: by model name here (no declared projects or keys); the natural
    // key has one part per primary-key field, absent parts as None.
    let primary_key = &harness
        .info()
        .streams
        .iter()
        .find(|s| s.name == "usage")
        .unwrap()
        .primary_key;
    for r in store.records(CONN, "usage").await.unwrap() {
        let p: Value = serde_json::from_str(&r.payload).unwrap();
        let model = p["model"].as_str().unwrap();
        assert_eq!(
            p["is_codex"],
            Value::Bool(model.contains("codex")),
            "{model}"
        );
        assert_eq!(p["schema_version"], 1);
        assert_eq!(r.key.len(), primary_key.len());
        for (part, field) in r.key.iter().zip(primary_key) {
            match &p[field] {
                Value::Null => assert_eq!(part, &None, "{field}"),
                Value::String(s) => assert_eq!(part.as_deref(), Some(s.as_str()), "{field}"),
                other => assert_eq!(part.as_deref(), Some(other.to_string().as_str()), "{field}"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn second_sync_adds_no_duplicates_and_changes_only_reread_buckets() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 40, 30)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, store) = store().await;
    configure(&harness, &store, &[], &keys.admin).await.unwrap();
    let run1 = sync(&harness, &store).await.unwrap();
    let first = store.records(CONN, "usage").await.unwrap();
    let keys_before = store.records(CONN, "api_keys").await.unwrap();

    // The newest bucket keeps filling up between runs.
    mock.advance_current_bucket(25);
    mock.reset_requests();
    let run2 = sync(&harness, &store).await.unwrap();
    let second = store.records(CONN, "usage").await.unwrap();

    // Exact totals again, no duplicates (stored_usage asserts uniqueness).
    assert_eq!(stored_usage(&store).await, truth_usage(&mock));
    // The incremental run reads only the lookback window: one request.
    assert_eq!(served(&mock, "/usage/completions"), 1);
    assert_eq!(run2.streams["usage"].pages, 1);
    // Re-read = the last two daily buckets; nothing before them was touched.
    let today = chrono::Utc::now().date_naive();
    let lookback_start = (today - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    for r in &second {
        let day = serde_json::from_str::<Value>(&r.payload).unwrap()["bucket_start"]
            .as_str()
            .unwrap()[..10]
            .to_string();
        if day < lookback_start {
            assert_eq!(
                r.seen_run, run1.id,
                "{day} was outside the lookback window but was re-read"
            );
            assert_eq!(r.changed_run, run1.id);
        } else {
            assert_eq!(r.seen_run, run2.id, "{day} is in the lookback window");
        }
        if r.changed_run == run2.id {
            assert_eq!(
                day,
                today.format("%Y-%m-%d").to_string(),
                "only the filling bucket changed"
            );
        }
    }
    let new_rows = second.len() - first.len();
    assert_eq!(run2.streams["usage"].inserted as usize, new_rows);
    assert!(
        new_rows > 0 && run2.streams["usage"].updated > 0,
        "the filling bucket grew: {:?}",
        run2.streams["usage"]
    );
    // Directory streams are full refreshes: nothing added; users unchanged, keys changed
    // only in last_used_at.
    assert_eq!(
        run2.streams["users"].inserted + run2.streams["users"].updated,
        0
    );
    assert_eq!(run2.streams["api_keys"].inserted, 0);
    let keys_after = store.records(CONN, "api_keys").await.unwrap();
    assert_eq!(keys_before.len(), keys_after.len());
    let without_last_used = |payload: &str| {
        let mut v: Value = serde_json::from_str(payload).unwrap();
        v.as_object_mut().unwrap().remove("last_used_at");
        v
    };
    let mut changed = 0;
    for (b, a) in keys_before.iter().zip(&keys_after) {
        assert_eq!(without_last_used(&b.payload), without_last_used(&a.payload));
        changed += (b.payload != a.payload) as u64;
    }
    assert_eq!(run2.streams["api_keys"].updated, changed);
    // The directory was refreshed by the first run (default: every 12 hours), so the hourly
    // pull reads usage only: one provider request in all, and the host counted just that.
    for s in ["users", "projects", "api_keys"] {
        assert_eq!(run2.streams[s].requests, 0, "{s}");
    }
    assert_eq!(mock.requests().len(), 1);
    assert_eq!(run2.requests(), 1);

    // A full refresh ignores the checkpoints: everything is re-read, nothing duplicated.
    mock.reset_requests();
    let run3 = harness
        .sync(
            &store,
            CONN,
            SyncOptions {
                full_refresh: true,
                ..SyncOptions::new("test")
            },
        )
        .await
        .unwrap();
    assert_eq!(run3.streams["usage"].pages, 1, "30 days fit one page");
    assert!(run3.streams["users"].requests >= 1 && run3.streams["api_keys"].requests >= 1);
    assert_eq!(run3.requests(), mock.requests().len() as u64);
    assert_eq!(
        run3.streams["usage"].inserted + run3.streams["users"].inserted,
        0
    );
    assert_eq!(stored_usage(&store).await, truth_usage(&mock));
    let runs = store.runs(CONN, 10).await.unwrap();
    assert_eq!(
        runs.iter().map(|r| r.id).collect::<Vec<_>>(),
        [run3.id, run2.id, run1.id]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_outside_the_allow_list_are_denied() {
    // A loopback listener the component will try to reach; it must never see a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let target = format!("http://{addr}/steal");

    let harness = harness(&hostile_wasm(), None).await;
    let declared: Vec<String> = harness
        .declared_origins()
        .iter()
        .map(|o| o.to_string())
        .collect();
    assert!(
        declared.contains(&"https://api.openai.com".to_string()),
        "{declared:?}"
    );
    assert!(
        !declared.iter().any(|o| o.contains("127.0.0.1")),
        "{declared:?}"
    );
    let fixture = host_harness::random::key("sk-admin-");
    let (_dir, store) = store().await;
    for url in [target.as_str(), "https://example.com/"] {
        harness
            .configure(
                &store,
                CONN,
                &set(&[("mode", "call"), ("url", url), ("leak", "attach")]),
                token(&fixture),
            )
            .await
            .unwrap();
        let e = harness
            .sync(&store, CONN, SyncOptions::new("test"))
            .await
            .unwrap_err();
        let host = if url == target {
            "127.0.0.1"
        } else {
            "example.com"
        };
        assert!(e.message.contains(host), "{url}: {e:?}");
        assert!(e.message.contains("the sandbox refused"), "{url}: {e:?}");
        let run = &store.runs(CONN, 1).await.unwrap()[0];
        assert_eq!(run.status, "failed");
        assert_eq!(run.error_class.as_deref(), Some(e.class.as_str()));
        assert_eq!(
            run.requests(),
            0,
            "a refused request was never sent: {run:?}"
        );
        assert_no_secret("error", &e.message, &fixture);
    }
    assert!(
        matches!(listener.accept(), Err(ref err) if err.kind() == std::io::ErrorKind::WouldBlock),
        "the listener was reached"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_appears_in_no_output_log_error_history_export_or_store_table() {
    let _ = captured_logs(); // start capturing before anything runs
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 20, 10)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, store) = store().await;
    let (saved, report) = harness
        .configure_validated(&store, CONN, &[], token(&format!("  {}\n", keys.admin)))
        .await
        .unwrap();
    let saved = saved.unwrap();
    assert_eq!(
        store.secrets(CONN).await.unwrap()["api_token"].expose(),
        keys.admin,
        "pasted whitespace is trimmed once, at input"
    );
    let mut text = format!("{saved:?}{report:?}");
    text.push_str(&serde_json::to_string(&saved).unwrap());
    text.push_str(&format!(
        "{:?}",
        harness.validate(&store, CONN).await.unwrap()
    ));

    // A sync with its progress events.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let run = harness
        .sync(
            &store,
            CONN,
            SyncOptions {
                progress: Some(tx),
                ..SyncOptions::new("test")
            },
        )
        .await
        .unwrap();
    let mut events = 0;
    while let Ok(p) = rx.try_recv() {
        text.push_str(&format!("{p:?} {}\n", p.message()));
        events += 1;
    }
    assert!(events > 4, "progress was reported");
    text.push_str(&format!("{run:?}"));

    // The component's own log lines, from an instance configured with the stored key.
    let (mut session, _redactor) = harness
        .configured_session(harness.stored(&store, CONN).await.unwrap(), "leak-check")
        .await
        .unwrap();
    text.push_str(&format!(
        "{:?}",
        session.validate_credentials().await.unwrap().unwrap()
    ));
    let page = session
        .pull_page("users", None, None)
        .await
        .unwrap()
        .unwrap();
    text.push_str(&format!("{page:?}"));
    text.push_str(&format!(
        "{:?}",
        session.normalize(&page.raw).await.unwrap().unwrap()
    ));
    let logs = session.logs();
    assert!(!logs.is_empty(), "the component logs through host-log");
    text.push_str(&format!("{logs:?}"));

    // The history, every exported stream and the usage report, as the CLI shows them.
    text.push_str(&serde_json::to_string(&store.runs(CONN, 50).await.unwrap()).unwrap());
    for stream in ["users", "projects", "api_keys", "usage"] {
        for r in store.records(CONN, stream).await.unwrap() {
            text.push_str(&r.payload);
            text.push_str(&format!("{:?}", r.key));
        }
    }
    let usage = host_harness::report::codex_usage(&store, CONN)
        .await
        .unwrap();
    text.push_str(&serde_json::to_string(&usage).unwrap());

    // Failures echo key fragments from the provider; they must be redacted everywhere.
    let (_d2, other) = common::store().await;
    let unknown = host_harness::random::key("sk-admin-");
    configure(&harness, &other, &[], &unknown).await.unwrap();
    let e = sync(&harness, &other).await.unwrap_err();
    assert_eq!(e.class, "unauthorized");
    assert!(
        e.message.contains("[redacted"),
        "the provider's echo of the key is redacted: {}",
        e.message
    );
    let masked_tail = format!("****{}", &unknown[unknown.len() - 4..]);
    let (validated, refused) = harness
        .configure_validated(&other, CONN, &[], token(&unknown))
        .await
        .unwrap();
    assert!(validated.is_none());
    for (what, hay) in [
        ("error", format!("{e:?}")),
        ("refused report", format!("{refused:?}")),
        ("store", dump_store_outside_secrets(&other).await),
        ("logs", captured_logs()),
    ] {
        assert_no_secret(what, &hay, &unknown);
        assert!(
            !hay.contains(&masked_tail),
            "{what} holds the provider's masked echo"
        );
    }

    let logs = captured_logs();
    assert!(
        logs.contains("page of"),
        "the component's log lines reach the host's log"
    );
    assert_no_secret("host and component logs", &logs, &keys.admin);
    assert_no_secret(
        "outputs, reports, progress, history and exports",
        &text,
        &keys.admin,
    );
    assert_no_secret(
        "store outside the secret slot",
        &dump_store_outside_secrets(&store).await,
        &keys.admin,
    );
    // the mock never logs the Authorization header either
    assert_no_secret(
        "mock request log",
        &format!("{:?}", mock.requests()),
        &keys.admin,
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the store holds the token: owner-only");
        // SQLite's side files hold pages of the secret slot too while the store is open
        for suffix in ["-wal", "-shm"] {
            let side = format!("{}{suffix}", store.path().unwrap().display());
            let mode = std::fs::metadata(&side).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{side}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_save_leaves_stored_settings_untouched() {
    let keys = keys();
    let harness = harness(&connector_wasm(), None).await;
    let (_dir, store) = store().await;
    configure(&harness, &store, &[("backfill_days", "45")], &keys.admin)
        .await
        .unwrap();
    async fn snapshot(
        store: &Store,
    ) -> (
        String,
        std::collections::BTreeMap<String, host_harness::secret::Secret>,
    ) {
        (
            format!("{:?}", store.settings(CONN).await.unwrap()),
            store.secrets(CONN).await.unwrap(),
        )
    }
    let before = snapshot(&store).await;
    let e = configure(
        &harness,
        &store,
        &[("backfill_days", "400"), ("bucket_width", "1w")],
        &format!("{}\r\nX-Injected: 1", keys.admin),
    )
    .await
    .unwrap_err();
    assert_eq!(e.class, "invalid-settings");
    for field in ["api_token", "backfill_days", "bucket_width"] {
        assert!(
            e.message
                .lines()
                .any(|l| l.starts_with(&format!("{field}: "))),
            "all problems at once: {}",
            e.message
        );
    }
    assert_no_secret("error", &e.message, &keys.admin);
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn soak_one_thousand_sequential_requests_through_the_component() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 1)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, store) = store().await;
    configure(&harness, &store, &[], &keys.admin).await.unwrap();
    let (mut session, _redactor) = harness
        .configured_session(harness.stored(&store, CONN).await.unwrap(), "soak")
        .await
        .unwrap();
    let mut errors = Vec::new();
    for i in 0..1000 {
        match session.pull_page("users", None, None).await {
            Ok(Ok(page)) => assert!(page.raw.body.contains("organization.user"), "request {i}"),
            Ok(Err(e)) => errors.push(format!("{i}: {e:?}")),
            Err(e) => errors.push(format!("{i}: {e}")),
        }
    }
    assert_eq!(errors, Vec::<String>::new(), "transport errors in the soak");
    assert_eq!(session.requests(), 1000);
    assert_eq!(mock.requests().len(), 1000);
    assert!(mock.requests().iter().all(|r| r.status == 200));
    assert!(session.denied().is_empty());
}
