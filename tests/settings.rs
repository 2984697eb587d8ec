//! Bad input from admins, through the real component and the host: every setting's
//! negative cases give a field-level error an admin can act on, and a rejected save changes
//! nothing stored. The API Token is a secret: the component judges it from its shape
//! (length, first 8 characters), the host from its value (what cannot travel in its
//! header), the provider live (what neither can know); and a secret is never taken as a
//! plain setting.

mod common;

use std::collections::BTreeMap;

use common::*;
use host_harness::bindings::v0_2::types as wit;
use host_harness::secret::Secret;
use host_harness::store::Store;
use openai_mock::MockServer;

fn long(n: usize) -> String {
    "a".repeat(n)
}

/// Everything stored for the codex connector: settings and secrets.
async fn stored(store: &Store) -> (Vec<(String, String)>, BTreeMap<String, Secret>) {
    let settings = store
        .settings(CONN).await
        .unwrap()
        .into_iter()
        .map(|s| (s.key, host_harness::store::value_to_json(&s.value).unwrap()))
        .collect();
    (settings, store.secrets(CONN).await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_setting_is_a_field_error_and_changes_nothing() {
    let keys = keys();
    let harness = harness(&connector_wasm(), None).await;
    let (_dir, store) = store().await;
    configure(
        &harness,
        &store,
        &[("backfill_days", "45"), ("codex_project_ids", "proj_codex")],
        &keys.admin,
    )
    .await
    .unwrap();
    let before = stored(&store).await;
    assert_eq!(before.1["api_token"].expose(), keys.admin);
    assert!(before.0.contains(&("backfill_days".into(), r#"{"number":45}"#.into())), "{:?}", before.0);
    assert!(before.0.contains(&("codex_project_ids".into(), r#"{"list":["proj_codex"]}"#.into())));

    let good = keys.admin.clone();
    let many_ids = (0..1001)
        .map(|i| format!("proj_{i}"))
        .collect::<Vec<_>>()
        .join(",");
    // (settings, token, field, what the message must say)
    type Case<'a> = (Vec<(&'a str, String)>, String, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        // nothing left after trimming: no key at all, and where to create one
        (vec![], String::new(), "api_token", "Manage → Admin API Keys"),
        (vec![], "   \n\t ".into(), "api_token", "Manage → Admin API Keys"),
        // judged by the component from the shape
        (vec![], format!("sk-admin-{}", long(600)), "api_token", "longer than 512"),
        (vec![], keys.project.clone(), "api_token", "project API key"),
        (vec![], format!("sk-svcacct-{}", long(30)), "api_token", "service-account key"),
        (vec![], format!("sk-{}", long(40)), "api_token", "not an OpenAI Admin API key"),
        (vec![], "sk-admin-0123456789".into(), "api_token", "too short"),
        (vec![], "sk-a\u{7}min-0123456789abcdefghijkl".into(), "api_token", "control characters"),
        (vec![], "sk-a min-0123456789abcdefghijkl".into(), "api_token", "contains spaces"),
        (vec![], "sk-admé-0123456789abcdefghijkl".into(), "api_token", "never occur in OpenAI keys"),
        // judged by the host from the value (beyond the 8 characters the component sees)
        (
            vec![],
            format!("{good}\r\nX-Injected: 1"),
            "api_token",
            "line breaks or control characters",
        ),
        (vec![], format!("{good}\u{0}"), "api_token", "line breaks or control characters"),
        (vec![], format!("sk-admin-{}é", long(20)), "api_token", "non-ASCII"),
        (vec![("backfill_days", "".into())], good.clone(), "backfill_days", "whole number from 1 to 365"),
        (vec![("backfill_days", "ten".into())], good.clone(), "backfill_days", "whole number from 1 to 365"),
        (vec![("backfill_days", "0".into())], good.clone(), "backfill_days", "from 1 to 365; got 0"),
        (vec![("backfill_days", "366".into())], good.clone(), "backfill_days", "from 1 to 365; got 366"),
        (vec![("backfill_days", "-5".into())], good.clone(), "backfill_days", "got -5"),
        (
            vec![("backfill_days", "99999999999999999999999".into())],
            good.clone(),
            "backfill_days",
            "whole number",
        ),
        (vec![("bucket_width", "1w".into())], good.clone(), "bucket_width", "1d or 1h"),
        (vec![("bucket_width", "".into())], good.clone(), "bucket_width", "1d or 1h"),
        (vec![("lookback_buckets", "0".into())], good.clone(), "lookback_buckets", "from 1 to 48"),
        (vec![("lookback_buckets", "49".into())], good.clone(), "lookback_buckets", "from 1 to 48"),
        (
            vec![("directory_refresh_hours", "169".into())],
            good.clone(),
            "directory_refresh_hours",
            "from 0 to 168",
        ),
        (vec![("codex_model_pattern", "".into())], good.clone(), "codex_model_pattern", "at least one"),
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
        (vec![("codex_project_ids", "key_abc".into())], good.clone(), "codex_project_ids", "proj_"),
        (vec![("codex_project_ids", "proj_a;drop".into())], good.clone(), "codex_project_ids", "proj_"),
        (vec![("codex_project_ids", many_ids)], good.clone(), "codex_project_ids", "At most 1000"),
        (vec![("codex_api_key_ids", "proj_x".into())], good.clone(), "codex_api_key_ids", "key_"),
        (vec![("organization_id", "acme".into())], good.clone(), "organization_id", "org-"),
        (
            vec![("organization_id", format!("org-{}", long(80)))],
            good.clone(),
            "organization_id",
            "org-",
        ),
        (vec![("colour", "blue".into())], good.clone(), "colour", "Unknown setting"),
    ];
    for (settings, token_value, field, needle) in cases {
        let raw: Vec<(String, String)> = settings.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let e = harness
            .configure(&store, CONN, &raw, token(&token_value))
            .await
            .unwrap_err();
        assert_eq!(e.class, "invalid-settings", "{field}: {e:?}");
        assert_eq!(e.exit_code(), 2);
        assert!(e.advice().unwrap().contains("nothing was stored"));
        let lines: Vec<&str> = e
            .message
            .lines()
            .filter(|l| l.starts_with(&format!("{field}: ")))
            .collect();
        assert_eq!(lines.len(), 1, "one error for {field} in {:?}", e.message);
        assert!(lines[0].contains(needle), "{field} ({token_value:?}): {}", lines[0]);
        for k in [&keys.admin, &keys.project] {
            if token_value.contains(k.as_str()) {
                assert_no_secret("field error", &e.message, k);
            }
        }
        if token_value.trim().len() > 8 {
            assert!(!e.message.contains(token_value.trim()), "{}", e.message);
        }
        assert_eq!(stored(&store).await, before, "a rejected save of {field} changed the store");
    }
}

/// The host shows a connector at most 8 characters of a secret and never more than half of
/// it (the contract's "at most 8"), so a short paste is judged from fewer: still "too
/// short", not a host error.
#[tokio::test(flavor = "multi_thread")]
async fn a_short_key_is_too_short_whatever_prefix_the_host_shows() {
    let harness = harness(&connector_wasm(), None).await;
    let (_dir, store) = store().await;
    for short in ["sk-admin-short", "sk-admin", "sk-adm"] {
        let e = configure(&harness, &store, &[], short).await.unwrap_err();
        assert_eq!(e.class, "invalid-settings");
        assert!(e.message.starts_with("api_token: "), "{}", e.message);
        assert!(e.message.contains("too short"), "{short}: {}", e.message);
        assert!(!e.message.contains("sk-admin-s"), "{}", e.message);
        assert!(!store.is_configured(CONN).await.unwrap());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn what_neither_the_shape_nor_the_host_can_judge_is_refused_live_and_not_saved() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 3, 1)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, store) = store().await;
    harness
        .configure_validated(&store, CONN, &set(&[("backfill_days", "7")]), token(&keys.admin))
        .await
        .unwrap()
        .0
        .expect("saved");
    let before = stored(&store).await;
    // A space past the first 8 characters: a valid shape, a value a header can carry, but
    // not a key the provider knows.
    let spaced = format!("{} {}", &keys.admin[..20], &keys.admin[20..]);
    let (saved, report) = harness
        .configure_validated(&store, CONN, &set(&[("backfill_days", "9")]), token(&spaced))
        .await
        .unwrap();
    assert!(saved.is_none());
    assert!(!report.ok);
    assert!(report
        .capabilities
        .iter()
        .filter(|c| c.name.starts_with("platform-"))
        .all(|c| c.problem == Some(wit::ErrorClass::Unauthorized)), "{report:?}");
    assert_no_secret("report", &format!("{report:?}"), &keys.admin);
    assert_eq!(stored(&store).await, before, "a key the provider refused changed the store");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_secret_is_never_a_plain_setting() {
    let keys = keys();
    let harness = harness(&connector_wasm(), None).await;
    let (_dir, store) = store().await;
    configure(&harness, &store, &[], &keys.admin).await.unwrap();
    let before = stored(&store).await;

    // The token as a plain value: refused as usage, without echoing it.
    let other = host_harness::random::key("sk-admin-");
    for secrets in [BTreeMap::new(), token(&keys.admin)] {
        let e = harness
            .configure(&store, CONN, &set(&[("api_token", &other)]), secrets)
            .await
            .unwrap_err();
        assert_eq!((e.class.as_str(), e.exit_code()), ("usage", 2), "{e:?}");
        assert!(e.message.contains("api_token is a secret"), "{}", e.message);
        assert_no_secret("usage error", &format!("{e:?}"), &other);
        assert_eq!(stored(&store).await, before);
    }
    // A plain setting given as a secret: refused as usage too, naming the secrets.
    let mut secrets = token(&keys.admin);
    secrets.insert("backfill_days".into(), Secret::from_input("30"));
    let e = harness.configure(&store, CONN, &[], secrets).await.unwrap_err();
    assert_eq!(e.class, "usage");
    assert!(e.message.contains("backfill_days is not a secret setting") && e.message.contains("api_token"), "{}", e.message);
    assert_eq!(stored(&store).await, before);
    assert!(harness.secret_keys().contains(&"api_token".to_string()));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_types_and_duplicates_through_the_contract() {
    let harness = harness(&connector_wasm(), None).await;
    let secret = host_harness::random::key("sk-admin-");
    let mut session = harness.session(&token(&secret), "test").await.unwrap();
    let s = |k: &str, v: wit::SettingValue| wit::Setting {
        key: k.into(),
        value: v,
    };
    let settings = vec![
        s("api_token", wit::SettingValue::List(vec![secret.clone()])),
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
    assert!(by("api_token").contains("secret-shape"), "{fields:?}");
    assert!(by("backfill_days").contains("whole number"), "{fields:?}");
    assert!(by("bucket_width").contains("1d or 1h"), "{fields:?}");
    assert!(by("codex_project_ids").contains("list of ids"), "{fields:?}");
    assert!(by("lookback_buckets").contains("more than once"), "{fields:?}");
    assert_no_secret("field errors", &format!("{fields:?}"), &secret);

    // A host that hands over the value itself, as text or as an over-long prefix, is told
    // to pass a shape, and the value is not repeated back.
    for value in [
        wit::SettingValue::Text(secret.clone()),
        wit::SettingValue::Secret(wit::SecretShape {
            length: secret.len() as u32,
            prefix: secret.clone(),
            same_as: None,
        }),
    ] {
        let mut session = harness.session(&token(&secret), "test").await.unwrap();
        let e = session
            .configure(&[s("api_token", value)])
            .await
            .unwrap()
            .unwrap_err();
        let wit::ConnectorError::InvalidSettings(fields) = e else {
            panic!("{e:?}")
        };
        assert!(by_field(&fields, "api_token").contains("secret-shape"), "{fields:?}");
        assert_no_secret("field errors", &format!("{fields:?}"), &secret);
    }
}

fn by_field(fields: &[wit::FieldError], f: &str) -> String {
    fields
        .iter()
        .find(|x| x.field == f)
        .map(|x| x.message.clone())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revoked_key_saves_offline_but_the_connection_check_says_rejected() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 3, 1)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let (_dir, store) = store().await;
    let revoked = host_harness::random::key("sk-admin-");
    // Offline set-up (no live check) saves it: the shape is right.
    configure(&harness, &store, &[], &revoked).await.unwrap();
    assert!(mock.requests().is_empty());
    let report = harness.validate(&store, CONN).await.unwrap();
    assert!(!report.ok);
    for c in report.capabilities.iter().filter(|c| c.name.starts_with("platform-")) {
        assert_eq!(c.status, wit::CheckStatus::Denied);
        assert_eq!(c.problem, Some(wit::ErrorClass::Unauthorized));
        assert!(c.message.contains("unknown, revoked or mistyped"), "{}", c.message);
        assert!(c.message.contains("Manage → Admin API Keys"));
        assert_no_secret("capability message", &c.message, &revoked);
    }
    // Checked live, the same key is not saved over a working one.
    configure(&harness, &store, &[], &keys.admin).await.unwrap();
    let before = stored(&store).await;
    let (saved, report) = harness
        .configure_validated(&store, CONN, &[], token(&revoked))
        .await
        .unwrap();
    assert!(saved.is_none() && !report.ok);
    assert_eq!(stored(&store).await, before);
    assert!(harness.validate(&store, CONN).await.unwrap().ok);
}
