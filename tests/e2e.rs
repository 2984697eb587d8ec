//! End to end: the real `codex-connector` component, loaded into the wasmtime host harness,
//! against the OpenAI Admin API mock on loopback.

mod common;

use std::collections::BTreeMap;

use common::*;
use host_harness::runner::HostError;
use openai_mock::{MockServer, PermissionErrorStyle};
use serde_json::Value;

fn no_progress() -> impl FnMut(host_harness::runner::Progress) {
    |_| {}
}

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

#[tokio::test(flavor = "multi_thread")]
async fn admin_key_is_accepted_with_both_capabilities() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 10, 5)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, mut store) = store();
    let saved = harness
        .configure(&mut store, &[], &keys.admin)
        .await
        .unwrap();
    assert!(saved.token_redacted.starts_with("sk-admin…"));
    let report = harness.validate(&store).await.unwrap();
    assert!(report.ok, "{report:?}");
    let names: Vec<_> = report
        .capabilities
        .iter()
        .map(|c| (c.name.as_str(), c.granted))
        .collect();
    assert_eq!(names, [("usage-read", true), ("directory-read", true)]);
    assert_eq!(
        report.organization.as_deref(),
        Some("org-mock0000000000000000000001")
    );
    assert!(report.notes.iter().any(|n| n.contains("ChatGPT")));
}

#[tokio::test(flavor = "multi_thread")]
async fn project_key_is_refused_before_any_request_and_nothing_is_stored() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 2)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, mut store) = store();
    let err = harness
        .configure(&mut store, &[], &keys.project)
        .await
        .unwrap_err();
    assert_eq!(err.class, "invalid-settings");
    assert!(
        err.message.contains("api_token: This is a project API key"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("Manage → Admin API Keys"),
        "{}",
        err.message
    );
    assert!(err.message.contains("ChatGPT"), "{}", err.message);
    assert_no_secret("error message", &err.message, &keys.project);
    assert_eq!(store.token().unwrap(), None);
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

        // Admin key restricted to usage: directory read is "not-admin", and says which scope.
        let (_d1, mut store) = store();
        harness
            .configure(&mut store, &[], &keys.usage_only)
            .await
            .unwrap();
        let r = harness.validate(&store).await.unwrap();
        assert!(!r.ok);
        assert!(r.capabilities[0].granted, "{style:?}: {r:?}");
        assert_eq!(r.capabilities[1].error_class, "not-admin", "{style:?}");
        assert!(
            r.capabilities[1].message.contains("api.management.read"),
            "{}",
            r.capabilities[1].message
        );
        assert!(r.capabilities[1]
            .message
            .contains("Manage → Admin API Keys"));

        let (_d2, mut store) = common::store();
        harness
            .configure(&mut store, &[], &keys.directory_only)
            .await
            .unwrap();
        let r = harness.validate(&store).await.unwrap();
        assert_eq!(r.capabilities[0].error_class, "not-admin", "{style:?}");
        assert!(r.capabilities[0].message.contains("api.usage.read"));
        assert!(r.capabilities[1].granted);

        // An admin-shaped key the provider does not know: rejected (401), told apart from not-admin.
        let unknown = host_harness::random_admin_key();
        let (_d3, mut store) = common::store();
        harness.configure(&mut store, &[], &unknown).await.unwrap();
        let r = harness.validate(&store).await.unwrap();
        for c in &r.capabilities {
            assert_eq!(c.error_class, "unauthorized", "{style:?}: {c:?}");
            assert!(
                c.message.contains("rejected the API Token"),
                "{}",
                c.message
            );
            assert_no_secret("capability message", &c.message, &unknown);
        }
        // and a sync with it fails with that class, recorded in the history
        let e: HostError = harness
            .sync(&mut store, None, "test", &mut no_progress())
            .await
            .unwrap_err();
        assert_eq!(e.class, "unauthorized");
        let run = &store.runs(1).unwrap()[0];
        assert_eq!(run.status, "failed");
        assert_eq!(run.error_class.as_deref(), Some("unauthorized"));
        assert_no_secret("history", &dump_store_outside_secrets(&store), &unknown);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ninety_day_sync_crosses_pages_and_equals_the_ground_truth() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 150, 90))
        .await
        .unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, mut store) = store();
    harness
        .configure(
            &mut store,
            &[("backfill_days".into(), "90".into())],
            &keys.admin,
        )
        .await
        .unwrap();
    let run = harness
        .sync(&mut store, None, "test", &mut no_progress())
        .await
        .unwrap();
    assert_eq!(run.status, "succeeded");

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

    let stored = stored_usage(&store);
    let truth = truth_usage(&mock);
    assert_eq!(stored.len(), truth.len());
    assert_eq!(
        stored, truth,
        "every usage line equals the mock's ground truth"
    );
    assert_eq!(per_user_model(&stored), per_user_model(&truth));
    assert_eq!(store.record_count("users").unwrap(), 150);
    assert_eq!(run.streams["usage"].inserted, truth.len() as u64);

    // Every API key the usage mentions is in the directory with its owner.
    let keys_in_dir: Vec<String> = store
        .records("api_keys")
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    for (_, _, key, _, _) in truth.keys() {
        assert!(
            keys_in_dir.contains(key),
            "api key {key} missing from the api_keys stream"
        );
    }
    // Codex attribution: by model name here (no declared projects or keys).
    for r in store.records("usage").unwrap() {
        let p: Value = serde_json::from_str(&r.payload).unwrap();
        let model = p["model"].as_str().unwrap();
        assert_eq!(
            p["is_codex"],
            Value::Bool(model.contains("codex")),
            "{model}"
        );
        assert_eq!(p["schema_version"], 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn second_sync_adds_no_duplicates_and_changes_only_reread_buckets() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 40, 30)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, mut store) = store();
    harness
        .configure(&mut store, &[], &keys.admin)
        .await
        .unwrap();
    let run1 = harness
        .sync(&mut store, None, "test", &mut no_progress())
        .await
        .unwrap();
    let first = store.records("usage").unwrap();
    let keys_before = store.records("api_keys").unwrap();

    // The newest bucket keeps filling up between runs.
    mock.advance_current_bucket(25);
    mock.reset_requests();
    let run2 = harness
        .sync(&mut store, None, "test", &mut no_progress())
        .await
        .unwrap();
    let second = store.records("usage").unwrap();

    // Exact totals again, no duplicates (stored_usage asserts uniqueness).
    assert_eq!(stored_usage(&store), truth_usage(&mock));
    // The incremental run reads only the lookback window: one request.
    let usage_requests = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/usage/completions"))
        .count();
    assert_eq!(usage_requests, 1);
    assert_eq!(run2.streams["usage"].pages, 1);
    // Re-read = the last two daily buckets; nothing before them was touched.
    let today = chrono::Utc::now().date_naive();
    let lookback_start = (today - chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    for r in &second {
        let day = &serde_json::from_str::<Value>(&r.payload).unwrap()["bucket_start"]
            .as_str()
            .unwrap()[..10]
            .to_string();
        if day < &lookback_start {
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
                day.as_str(),
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
    // Directory streams are full refreshes: everything re-read, nothing added; users
    // unchanged, keys changed only in last_used_at (they were used in the growing bucket).
    assert_eq!(
        run2.streams["users"].inserted + run2.streams["users"].updated,
        0
    );
    assert_eq!(run2.streams["api_keys"].inserted, 0);
    let keys_after = store.records("api_keys").unwrap();
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
    // pull reads usage only: one provider request in all.
    for s in ["users", "projects", "api_keys"] {
        assert_eq!(run2.streams[s].requests, 0, "{s}");
    }
    assert_eq!(mock.requests().len(), 1);

    // A full refresh ignores the checkpoints: everything is re-read, nothing duplicated.
    mock.reset_requests();
    let run3 = harness
        .sync_with(&mut store, None, true, "test", &mut no_progress())
        .await
        .unwrap();
    assert_eq!(run3.streams["usage"].pages, 1, "30 days fit one page");
    assert!(run3.streams["users"].requests >= 1 && run3.streams["api_keys"].requests >= 1);
    assert_eq!(
        run3.streams["usage"].inserted + run3.streams["users"].inserted,
        0
    );
    assert_eq!(stored_usage(&store), truth_usage(&mock));
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_outside_the_allow_list_are_denied() {
    // A loopback listener the component will try to reach; it must never see a connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let target = format!("http://{}/steal", listener.local_addr().unwrap());

    let harness = harness(&hostile_wasm(), None).await;
    assert_eq!(harness.info().hosts, ["api.openai.com"]);
    let (_dir, mut store) = store();
    harness
        .configure(
            &mut store,
            &[
                ("mode".into(), "call".into()),
                ("url".into(), target.clone()),
            ],
            "sk-admin-fixture",
        )
        .await
        .unwrap();
    let e = harness
        .sync(&mut store, None, "test", &mut no_progress())
        .await
        .unwrap_err();
    assert!(e.message.contains("HttpRequestDenied"), "{e:?}");
    assert!(
        e.message
            .contains("denied requests to hosts outside the allow-list: 127.0.0.1"),
        "{e:?}"
    );
    let run = &store.runs(1).unwrap()[0];
    assert_eq!(run.status, "failed");
    assert!(
        matches!(listener.accept(), Err(ref err) if err.kind() == std::io::ErrorKind::WouldBlock),
        "the listener was reached"
    );

    // The same for a public host name.
    harness
        .configure(
            &mut store,
            &[
                ("mode".into(), "call".into()),
                ("url".into(), "https://example.com/".into()),
            ],
            "sk-admin-fixture",
        )
        .await
        .unwrap();
    let e = harness
        .sync(&mut store, None, "test", &mut no_progress())
        .await
        .unwrap_err();
    assert!(e.message.contains("example.com"), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_token_appears_in_no_log_error_history_or_export() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 20, 10)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, mut store) = store();
    let saved = harness
        .configure(&mut store, &[], &format!("  {}\n", keys.admin))
        .await
        .unwrap();
    assert_eq!(
        store.token().unwrap().as_deref(),
        Some(keys.admin.as_str()),
        "pasted whitespace is trimmed"
    );
    assert!(
        saved.notes.iter().any(|n| n.contains("removed")),
        "{saved:?}"
    );
    let mut text = format!("{saved:?}");
    let report = harness.validate(&store).await.unwrap();
    text.push_str(&format!("{report:?}"));
    let mut progress_lines = String::new();
    let run = harness
        .sync(&mut store, None, "test", &mut |p| {
            progress_lines.push_str(&format!("{p:?}\n"))
        })
        .await
        .unwrap();
    text.push_str(&format!("{run:?}{progress_lines}"));
    // failures echo key fragments from the provider; they must be redacted
    let (_d2, mut other) = common::store();
    let unknown = host_harness::random_admin_key();
    harness.configure(&mut other, &[], &unknown).await.unwrap();
    let e = harness
        .sync(&mut other, None, "test", &mut no_progress())
        .await
        .unwrap_err();
    assert!(
        e.message.contains("[redacted key]"),
        "the provider's echo of the key is redacted: {}",
        e.message
    );
    assert_no_secret("error", &e.message, &unknown);
    assert_no_secret("store", &dump_store_outside_secrets(&other), &unknown);

    assert_no_secret("reports, progress and history", &text, &keys.admin);
    assert_no_secret(
        "store outside the secret slot",
        &dump_store_outside_secrets(&store),
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
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "the store holds the token: owner-only");
        // SQLite's side files hold pages of the secret slot too while the store is open
        for suffix in ["-wal", "-shm"] {
            let side = format!("{}{suffix}", store.path().display());
            let mode = std::fs::metadata(&side).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{side}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejected_save_leaves_stored_settings_untouched() {
    let keys = keys();
    let harness = harness(&connector_wasm(), None).await;
    let (_dir, mut store) = store();
    harness
        .configure(
            &mut store,
            &[("backfill_days".into(), "45".into())],
            &keys.admin,
        )
        .await
        .unwrap();
    let before = (store.settings().unwrap(), store.token().unwrap());
    let e = harness
        .configure(
            &mut store,
            &[
                ("backfill_days".into(), "400".into()),
                ("bucket_width".into(), "1w".into()),
            ],
            &format!("{}\r\nX-Injected: 1", keys.admin),
        )
        .await
        .unwrap_err();
    assert_eq!(e.class, "invalid-settings");
    for field in ["api_token", "backfill_days", "bucket_width"] {
        assert!(
            e.message.contains(&format!("{field}: ")),
            "all problems at once: {}",
            e.message
        );
    }
    assert_no_secret("error", &e.message, &keys.admin);
    let after = (store.settings().unwrap(), store.token().unwrap());
    assert_eq!(format!("{before:?}"), format!("{after:?}"));
}

#[tokio::test(flavor = "multi_thread")]
async fn soak_one_thousand_sequential_requests_through_the_component() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 1)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let mut session = harness.session(Some(&keys.admin)).await.unwrap();
    let settings = vec![host_harness::sandbox::wit::Setting {
        key: "api_token".into(),
        value: host_harness::sandbox::wit::SettingValue::Text(keys.admin.clone()),
    }];
    session.configure(&settings).await.unwrap().unwrap();
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
}
