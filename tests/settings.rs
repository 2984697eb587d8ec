//! Bad input from admins, through the real component: every setting's negative cases give
//! a field-level error an admin can act on, and a rejected save changes nothing stored.

mod common;

use common::*;
use host_harness::sandbox::wit;
use openai_mock::MockServer;

fn long(n: usize) -> String {
    "a".repeat(n)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_setting_is_a_field_error_and_changes_nothing() {
    let keys = keys();
    let harness = harness(&connector_wasm(), None).await;
    let (_dir, mut store) = store();
    harness
        .configure(
            &mut store,
            &[
                ("backfill_days".into(), "45".into()),
                ("codex_project_ids".into(), "proj_codex".into()),
            ],
            &keys.admin,
        )
        .await
        .unwrap();
    let stored = |store: &host_harness::store::Store| {
        (
            format!("{:?}", store_settings(store)),
            store.token().unwrap(),
        )
    };
    let before = stored(&store);

    let good = keys.admin.clone();
    let many_ids = (0..1001)
        .map(|i| format!("proj_{i}"))
        .collect::<Vec<_>>()
        .join(",");
    // (settings, token, field, what the message must say)
    type Case<'a> = (Vec<(&'a str, String)>, String, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], String::new(), "api_token", "The API Token is empty"),
        (
            vec![],
            "   \n\t ".into(),
            "api_token",
            "The API Token is empty",
        ),
        (
            vec![],
            format!("sk-admin-{}", long(600)),
            "api_token",
            "longer than 512",
        ),
        (
            vec![],
            format!("{good}\r\nX-Injected: 1"),
            "api_token",
            "line breaks or control characters",
        ),
        (
            vec![],
            format!("{good}\u{0}"),
            "api_token",
            "control characters",
        ),
        (
            vec![],
            format!("sk-admin-abc def{}", long(20)),
            "api_token",
            "contains spaces",
        ),
        (
            vec![],
            format!("sk-admin-{}é", long(20)),
            "api_token",
            "never occur in OpenAI keys",
        ),
        (vec![], keys.project.clone(), "api_token", "project API key"),
        (
            vec![],
            format!("sk-svcacct-{}", long(30)),
            "api_token",
            "service-account key",
        ),
        (
            vec![],
            format!("sk-{}", long(40)),
            "api_token",
            "not an OpenAI Admin API key",
        ),
        (vec![], "sk-admin-short".into(), "api_token", "too short"),
        (
            vec![("backfill_days", "".into())],
            good.clone(),
            "backfill_days",
            "whole number from 1 to 365",
        ),
        (
            vec![("backfill_days", "ten".into())],
            good.clone(),
            "backfill_days",
            "whole number from 1 to 365",
        ),
        (
            vec![("backfill_days", "0".into())],
            good.clone(),
            "backfill_days",
            "from 1 to 365; got 0",
        ),
        (
            vec![("backfill_days", "366".into())],
            good.clone(),
            "backfill_days",
            "from 1 to 365; got 366",
        ),
        (
            vec![("backfill_days", "-5".into())],
            good.clone(),
            "backfill_days",
            "got -5",
        ),
        (
            vec![("backfill_days", "99999999999999999999999".into())],
            good.clone(),
            "backfill_days",
            "whole number",
        ),
        (
            vec![("bucket_width", "1w".into())],
            good.clone(),
            "bucket_width",
            "1d or 1h",
        ),
        (
            vec![("bucket_width", "".into())],
            good.clone(),
            "bucket_width",
            "1d or 1h",
        ),
        (
            vec![("lookback_buckets", "0".into())],
            good.clone(),
            "lookback_buckets",
            "from 1 to 48",
        ),
        (
            vec![("lookback_buckets", "49".into())],
            good.clone(),
            "lookback_buckets",
            "from 1 to 48",
        ),
        (
            vec![("codex_model_pattern", "".into())],
            good.clone(),
            "codex_model_pattern",
            "at least one",
        ),
        (
            vec![("codex_model_pattern", long(300))],
            good.clone(),
            "codex_model_pattern",
            "longer than 256",
        ),
        (
            vec![("codex_model_pattern", "co\u{1}dex".into())],
            good.clone(),
            "codex_model_pattern",
            "printable",
        ),
        (
            vec![("codex_project_ids", "key_abc".into())],
            good.clone(),
            "codex_project_ids",
            "proj_",
        ),
        (
            vec![("codex_project_ids", "proj_a;drop".into())],
            good.clone(),
            "codex_project_ids",
            "proj_",
        ),
        (
            vec![("codex_project_ids", many_ids)],
            good.clone(),
            "codex_project_ids",
            "At most 1000",
        ),
        (
            vec![("codex_api_key_ids", "proj_x".into())],
            good.clone(),
            "codex_api_key_ids",
            "key_",
        ),
        (
            vec![("organization_id", "acme".into())],
            good.clone(),
            "organization_id",
            "org-",
        ),
        (
            vec![("organization_id", format!("org-{}", long(80)))],
            good.clone(),
            "organization_id",
            "org-",
        ),
        (
            vec![("colour", "blue".into())],
            good.clone(),
            "colour",
            "Unknown setting",
        ),
    ];
    for (settings, token, field, needle) in cases {
        let raw: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let e = harness
            .configure(&mut store, &raw, &token)
            .await
            .unwrap_err();
        assert_eq!(e.class, "invalid-settings", "{field}: {e:?}");
        let line = e
            .message
            .lines()
            .find(|l| l.starts_with(&format!("{field}: ")))
            .unwrap_or_else(|| panic!("no error for {field} in {:?}", e.message));
        assert!(line.contains(needle), "{field}: {line}");
        if !token.trim().is_empty() && token.len() > 20 {
            assert_no_secret("field error", &e.message, &token);
        }
        assert_eq!(
            stored(&store),
            before,
            "a rejected save of {field} changed the store"
        );
    }
}

fn store_settings(store: &host_harness::store::Store) -> Vec<(String, String)> {
    store
        .settings()
        .unwrap()
        .into_iter()
        .map(|s| (s.key, host_harness::store::value_to_json(&s.value)))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types_and_duplicates_through_the_contract() {
    let harness = harness(&connector_wasm(), None).await;
    let token = host_harness::random_admin_key();
    let mut session = harness.session(Some(&token)).await.unwrap();
    let s = |k: &str, v: wit::SettingValue| wit::Setting {
        key: k.into(),
        value: v,
    };
    let settings = vec![
        s("api_token", wit::SettingValue::List(vec![token.clone()])),
        s("backfill_days", wit::SettingValue::Boolean(true)),
        s("bucket_width", wit::SettingValue::Number(1)),
        s("codex_project_ids", wit::SettingValue::Number(3)),
        s("lookback_buckets", wit::SettingValue::Number(2)),
        s("lookback_buckets", wit::SettingValue::Number(3)),
    ];
    let e = session.configure(&settings).await.unwrap().unwrap_err();
    let wit::ConnectorError::InvalidSettings(fields) = e else {
        panic!("{e:?}")
    };
    let by = |f: &str| {
        fields
            .iter()
            .find(|x| x.field == f)
            .map(|x| x.message.clone())
            .unwrap_or_default()
    };
    assert!(by("api_token").contains("must be text"), "{fields:?}");
    assert!(by("backfill_days").contains("whole number"), "{fields:?}");
    assert!(by("bucket_width").contains("1d or 1h"), "{fields:?}");
    assert!(
        by("codex_project_ids").contains("list of ids"),
        "{fields:?}"
    );
    assert!(
        by("lookback_buckets").contains("more than once"),
        "{fields:?}"
    );
    assert_no_secret("field errors", &format!("{fields:?}"), &token);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_saves_but_the_connection_check_says_rejected() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 3, 1)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, mut store) = store();
    let revoked = host_harness::random_admin_key();
    harness.configure(&mut store, &[], &revoked).await.unwrap();
    let report = harness.validate(&store).await.unwrap();
    assert!(!report.ok);
    for c in &report.capabilities {
        assert_eq!(c.error_class, "unauthorized");
        assert!(
            c.message.contains("unknown, revoked or mistyped"),
            "{}",
            c.message
        );
        assert!(c.message.contains("Manage → Admin API Keys"));
    }
}
