//! Bad input from admins, through the real component and the host: every setting's
//! negative cases give a field-level error an admin can act on, and a rejected save changes
//! nothing stored. The API Token is a secret: the component judges it from its shape
//! (length, first 8 characters), the host from its value (what cannot travel in its
//! header), the provider live (what neither can know); and a secret is never taken as a
//! plain setting.
//!
//! And the settings pages of several connections over plain HTTP (`serve`): a connection
//! added through the list's form, each configured with its own organization's key, and
//! nothing of one — its key, its check, its records' emails, a post's result — on the
//! other's page; unknown connections are a 404 page; a bad or taken id is refused with a
//! clear message and changes nothing stored.
//!
//! And the Delivery section of a connection's page: a generated git repository registered
//! through its form, bad paths refused with their reason and the store unchanged, an alias
//! and teams added through the forms, and the report beside delivery (its inlined charts
//! free of anything the page's CSP would block) changing accordingly.

mod common;

use std::collections::BTreeMap;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use host_harness::bindings::v0_2::types as wit;
use host_harness::scheduler::ScheduleConfig;
use host_harness::secret::Secret;
use host_harness::serve::{ServeOptions, Server};
use host_harness::store::Store;
use openai_mock::{MockConfig, MockServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn long(n: usize) -> String {
    "a".repeat(n)
}

/// Everything stored for the codex connector: settings and secrets.
async fn stored(store: &Store) -> (Vec<(String, String)>, BTreeMap<String, Secret>) {
    let settings = store
        .settings(CONN)
        .await
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
    assert!(
        before
            .0
            .contains(&("backfill_days".into(), r#"{"number":45}"#.into())),
        "{:?}",
        before.0
    );
    assert!(before.0.contains(&(
        "codex_project_ids".into(),
        r#"{"list":["proj_codex"]}"#.into()
    )));

    let good = keys.admin.clone();
    let many_ids = (0..1001)
        .map(|i| format!("proj_{i}"))
        .collect::<Vec<_>>()
        .join(",");
    // (settings, token, field, what the message must say)
    type Case<'a> = (Vec<(&'a str, String)>, String, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        // nothing left after trimming: no key at all, and where to create one
        (
            vec![],
            String::new(),
            "api_token",
            "Manage → Admin API Keys",
        ),
        (
            vec![],
            "   \n\t ".into(),
            "api_token",
            "Manage → Admin API Keys",
        ),
        // judged by the component from the shape
        (
            vec![],
            format!("sk-admin-{}", long(600)),
            "api_token",
            "longer than 512",
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
        (
            vec![],
            "sk-admin-0123456789".into(),
            "api_token",
            "too short",
        ),
        (
            vec![],
            "sk-a\u{7}min-0123456789abcdefghijkl".into(),
            "api_token",
            "control characters",
        ),
        (
            vec![],
            "sk-a min-0123456789abcdefghijkl".into(),
            "api_token",
            "contains spaces",
        ),
        (
            vec![],
            "sk-admé-0123456789abcdefghijkl".into(),
            "api_token",
            "never occur in OpenAI keys",
        ),
        // judged by the host from the value (beyond the 8 characters the component sees)
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
            "line breaks or control characters",
        ),
        (
            vec![],
            format!("sk-admin-{}é", long(20)),
            "api_token",
            "non-ASCII",
        ),
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
            vec![("directory_refresh_hours", "169".into())],
            good.clone(),
            "directory_refresh_hours",
            "from 0 to 168",
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
    for (settings, token_value, field, needle) in cases {
        let raw: Vec<(String, String)> = settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
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
        assert!(
            lines[0].contains(needle),
            "{field} ({token_value:?}): {}",
            lines[0]
        );
        for k in [&keys.admin, &keys.project] {
            if token_value.contains(k.as_str()) {
                assert_no_secret("field error", &e.message, k);
            }
        }
        if token_value.trim().len() > 8 {
            assert!(!e.message.contains(token_value.trim()), "{}", e.message);
        }
        assert_eq!(
            stored(&store).await,
            before,
            "a rejected save of {field} changed the store"
        );
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
        .configure_validated(
            &store,
            CONN,
            &set(&[("backfill_days", "7")]),
            token(&keys.admin),
        )
        .await
        .unwrap()
        .0
        .expect("saved");
    let before = stored(&store).await;
    // A space past the first 8 characters: a valid shape, a value a header can carry, but
    // not a key the provider knows.
    let spaced = format!("{} {}", &keys.admin[..20], &keys.admin[20..]);
    let (saved, report) = harness
        .configure_validated(
            &store,
            CONN,
            &set(&[("backfill_days", "9")]),
            token(&spaced),
        )
        .await
        .unwrap();
    assert!(saved.is_none());
    assert!(!report.ok);
    assert!(
        report
            .capabilities
            .iter()
            .filter(|c| c.name.starts_with("platform-"))
            .all(|c| c.problem == Some(wit::ErrorClass::Unauthorized)),
        "{report:?}"
    );
    assert_no_secret("report", &format!("{report:?}"), &keys.admin);
    assert_eq!(
        stored(&store).await,
        before,
        "a key the provider refused changed the store"
    );
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
    let e = harness
        .configure(&store, CONN, &[], secrets)
        .await
        .unwrap_err();
    assert_eq!(e.class, "usage");
    assert!(
        e.message.contains("backfill_days is not a secret setting")
            && e.message.contains("api_token"),
        "{}",
        e.message
    );
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
    assert!(
        by("codex_project_ids").contains("list of ids"),
        "{fields:?}"
    );
    assert!(
        by("lookback_buckets").contains("more than once"),
        "{fields:?}"
    );
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
        assert!(
            by_field(&fields, "api_token").contains("secret-shape"),
            "{fields:?}"
        );
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
    for c in report
        .capabilities
        .iter()
        .filter(|c| c.name.starts_with("platform-"))
    {
        assert_eq!(c.status, wit::CheckStatus::Denied);
        assert_eq!(c.problem, Some(wit::ErrorClass::Unauthorized));
        assert!(
            c.message.contains("unknown, revoked or mistyped"),
            "{}",
            c.message
        );
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

// ------------------------------------------------------------------ several connections

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

impl Reply {
    fn location(&self) -> String {
        self.headers
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .expect("a redirect")
            .to_string()
    }
}

/// One HTTP/1.1 exchange with `Connection: close`.
async fn http(addr: SocketAddr, request: &str) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
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

/// The page server `addr` answers on loopback.
struct Client {
    addr: SocketAddr,
    host: String,
    csrf: String,
}

impl Client {
    async fn new(addr: SocketAddr) -> Client {
        let mut c = Client {
            addr,
            host: format!("127.0.0.1:{}", addr.port()),
            csrf: String::new(),
        };
        let list = c.get("/").await;
        assert_eq!(list.status, 200);
        let i = list
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        c.csrf = list.body[i..i + 64].to_string();
        c
    }

    async fn get(&self, path: &str) -> Reply {
        let host = &self.host;
        http(
            self.addr,
            &format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await
    }

    /// A same-origin form post with the page's token and `fields` (url-encoded here).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let mut body = format!("csrf={}", self.csrf);
        for (k, v) in fields {
            body.push_str(&format!("&{k}={}", urlencode(v)));
        }
        self.post_raw(path, &format!("Origin: http://{}\r\n", self.host), &body)
            .await
    }

    async fn post_raw(&self, path: &str, extra: &str, body: &str) -> Reply {
        let host = &self.host;
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
            body.len()
        );
        http(self.addr, &request).await
    }

    /// The page a post redirected to, which must be `page` at its result banner.
    async fn follow(&self, r: &Reply, page: &str) -> Reply {
        assert_eq!(r.status, 303, "{}", r.body);
        let location = r.location();
        assert!(
            location.starts_with(&format!("{page}?r=")) && location.ends_with("#result"),
            "{location}"
        );
        self.get(location.split('#').next().unwrap()).await
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn serve_options(db: std::path::PathBuf) -> ServeOptions {
    ServeOptions {
        db: host_harness::store::Location::Sqlite(db),
        store: host_harness::store::StoreOptions::default(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        schedule: ScheduleConfig {
            every: Duration::from_secs(3600),
            jitter: 0.1,
        },
        workers: 2,
        admin_password: None,
    }
}

async fn ids(store: &Store) -> Vec<String> {
    store
        .connections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

/// The emails of the people in organization `org`'s records.
fn emails_of(mock: &MockServer, org: usize) -> BTreeSet<String> {
    mock.ground_truth_of(org)
        .rows
        .iter()
        .filter_map(|r| r.user_email.clone())
        .collect()
}

/// Two connections on one server, each for its own organization of the mock: the second is
/// added through the list's form; each page shows its own key's redacted form, check,
/// history and people, and nothing of the other's — not its key (nor any 8-character slice
/// of it), not its organization, not its records' emails, not a result of a post to it.
#[tokio::test(flavor = "multi_thread")]
async fn each_connection_has_its_own_page_and_nothing_of_another() {
    let keys: Vec<String> = (0..2)
        .map(|_| host_harness::random::key("sk-admin-"))
        .collect();
    let template = MockConfig {
        users: 12,
        days: 7,
        ..MockConfig::default()
    };
    let mock = MockServer::start_many(template, keys.clone())
        .await
        .unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    let c = Client::new(server.addr()).await;
    let (a, b) = (CONN, "org-b");
    let (page_a, page_b) = (format!("/connections/{a}"), format!("/connections/{b}"));

    // The list: the default connection only, linking to its page; the add form.
    let list = c.get("/").await;
    assert!(
        list.body.contains(&format!("href=\"{page_a}\"")),
        "{}",
        list.body
    );
    assert!(list.body.contains("action=\"/connections\""));
    assert_eq!(ids(&open(&db).await).await, [a]);

    // Bad ids and a taken one: a clear message on the list, the typed id back, nothing stored.
    for (bad, says) in [
        ("Org B", "is not a connection id"),
        ("org b", "is not a connection id"),
        ("org/b", "is not a connection id"),
        ("", "is not a connection id"),
        (&"x".repeat(65), "is not a connection id"),
        ("<script>x</script>", "is not a connection id"),
        (a, "There is already a connection default"),
    ] {
        let r = c
            .post("/connections", &[("id", bad), ("name", "Org B")])
            .await;
        let shown = c.follow(&r, "/").await;
        assert!(shown.body.contains("Not added"), "{bad:?}: {}", shown.body);
        assert!(shown.body.contains(says), "{bad:?}: {}", shown.body);
        assert!(
            shown
                .body
                .contains("class=\"field has-error\" data-key=\"id\""),
            "{bad:?}"
        );
        assert!(!shown.body.contains("<script>x"), "escaped");
        assert_eq!(
            ids(&open(&db).await).await,
            [a],
            "{bad:?} changed the connections"
        );
    }
    // A name that cannot be shown on one line: refused too.
    let r = c
        .post("/connections", &[("id", b), ("name", "two\nlines")])
        .await;
    let shown = c.follow(&r, "/").await;
    assert!(shown.body.contains("control characters"), "{}", shown.body);
    assert_eq!(ids(&open(&db).await).await, [a]);

    // Unknown connections: a 404 page for every route under them; nothing is created.
    for path in [
        "/connections/nope",
        "/connections/nope/status",
        "/connections/Org%20B",
        "/connections/org-b",
    ] {
        let r = c.get(path).await;
        assert_eq!(r.status, 404, "{path}");
    }
    let r = c.get("/connections/nope").await;
    assert!(
        r.body.contains("No such connection") && r.body.contains("href=\"/\""),
        "{}",
        r.body
    );
    assert!(r
        .headers
        .contains("content-security-policy: default-src 'none'"));
    for route in ["settings", "check", "sync"] {
        let r = c
            .post(
                &format!("/connections/nope/{route}"),
                &[("api_token", &keys[1])],
            )
            .await;
        assert_eq!(r.status, 404, "{route}");
        assert_no_secret("a 404 page", &r.body, &keys[1]);
    }
    assert_eq!(ids(&open(&db).await).await, [a]);

    // Add the second connection: it lands on its own page, empty.
    let r = c
        .post("/connections", &[("id", b), ("name", "Org <B>")])
        .await;
    let shown = c.follow(&r, &page_b).await;
    assert!(shown.body.contains("Added Org &lt;B&gt;"), "{}", shown.body);
    assert!(shown.body.contains("data-state=\"not-configured\""));
    assert!(shown
        .body
        .contains(&format!("action=\"{page_b}/settings\"")));
    let store = open(&db).await;
    assert_eq!(ids(&store).await, [a, b]);
    let added = store.connection(b).await.unwrap().unwrap();
    assert_eq!(added.name, "Org <B>");
    assert_eq!(
        added.connector.as_deref(),
        Some(CODEX),
        "the server's component"
    );
    drop(store);

    // Each saved with its own organization's key, checked live.
    for (id, page, key) in [(a, &page_a, &keys[0]), (b, &page_b, &keys[1])] {
        let r = c
            .post(
                &format!("{page}/settings"),
                &[("api_token", key), ("backfill_days", "7")],
            )
            .await;
        let shown = c.follow(&r, page).await;
        assert!(
            shown.body.contains("Saved and connected"),
            "{id}: {}",
            shown.body
        );
        let store = open(&db).await;
        assert_eq!(
            store.secrets(id).await.unwrap()["api_token"].expose(),
            key.as_str()
        );
    }
    // A check of B, then the result id of B's check asked for on A's page: not shown there.
    let r = c.post(&format!("{page_b}/check"), &[]).await;
    let location = r.location();
    let shown = c.follow(&r, &page_b).await;
    assert!(
        shown.body.contains("passed the live check"),
        "{}",
        shown.body
    );
    let result = location
        .split("?r=")
        .nth(1)
        .unwrap()
        .trim_end_matches("#result");
    let foreign = c.get(&format!("{page_a}?r={result}")).await;
    assert_eq!(foreign.status, 200);
    assert!(
        !foreign.body.contains("id=\"result\""),
        "B's result on A's page"
    );
    assert!(!foreign.body.contains("passed the live check"));

    // One import each, then both pages side by side.
    for id in [a, b] {
        let finished = server.scheduler().run_now(id, "test").await.unwrap();
        assert_eq!(finished.status, "succeeded", "{id}: {finished:?}");
    }
    let (emails_a, emails_b) = (emails_of(&mock, 0), emails_of(&mock, 1));
    let only_a: Vec<&String> = emails_a.difference(&emails_b).collect();
    let only_b: Vec<&String> = emails_b.difference(&emails_a).collect();
    assert!(
        !only_a.is_empty() && !only_b.is_empty(),
        "the organizations have their own people"
    );
    let pages = [
        (a, c.get(&page_a).await.body, 0usize),
        (b, c.get(&page_b).await.body, 1usize),
    ];
    for (id, body, org) in &pages {
        let other = 1 - org;
        let (own, foreign) = if *org == 0 {
            (&only_a, &only_b)
        } else {
            (&only_b, &only_a)
        };
        // Its own: the redacted key, the organization checked, the import, its people.
        assert!(
            body.contains(&host_harness::secret::redacted_form(&keys[*org])),
            "{id}: its saved key's redacted form"
        );
        assert!(
            body.contains(mock.organization_id_of(*org)),
            "{id}: its check's organization"
        );
        assert_eq!(
            body.matches("class=\"run\"").count(),
            1,
            "{id}: its one import"
        );
        assert!(
            own.iter().any(|e| body.contains(e.as_str())),
            "{id}: none of its people shown"
        );
        // Nothing of the other.
        assert_no_secret(&format!("{id}'s page (its own key)"), body, &keys[*org]);
        assert_no_secret(
            &format!("{id}'s page (the other's key)"),
            body,
            &keys[other],
        );
        assert!(
            !body.contains(&host_harness::secret::redacted_form(&keys[other])),
            "{id}: the other's redacted key"
        );
        assert!(
            !body.contains(mock.organization_id_of(other)),
            "{id}: the other's organization"
        );
        for e in foreign.iter() {
            assert!(
                !body.contains(e.as_str()),
                "{id}'s page shows {e} of the other organization"
            );
        }
    }
    for (id, _, org) in &pages {
        let status = c.get(&format!("/connections/{id}/status")).await;
        assert!(status.body.contains("\"last\""), "{}", status.body);
        assert_no_secret("the status", &status.body, &keys[*org]);
    }

    // The list: both, configured, their last import, linking to their pages; no secret.
    let list = c.get("/").await;
    for (id, page) in [(a, &page_a), (b, &page_b)] {
        assert!(list.body.contains(&format!("href=\"{page}\"")), "{id}");
        assert!(
            list.body.contains(&format!(
                "data-connection=\"{id}\" data-state=\"configured\" data-last-status=\"succeeded\""
            )),
            "{id}: {}",
            list.body
        );
    }
    assert!(list.body.contains("Org &lt;B&gt;"));
    for k in &keys {
        assert_no_secret("the list", &list.body, k);
    }

    // A refused add on the list does not leak into a connection's page, nor the reverse.
    let r = c.post("/connections", &[("id", "Bad")]).await;
    let location = r.location();
    let result = location
        .split("?r=")
        .nth(1)
        .unwrap()
        .trim_end_matches("#result");
    assert!(!c
        .get(&format!("{page_a}?r={result}"))
        .await
        .body
        .contains("id=\"result\""));

    server.shutdown().await;
    let store = open(&db).await;
    assert_eq!(ids(&store).await, [a, b]);
    for (id, org) in [(a, 0), (b, 1)] {
        assert_eq!(
            store.record_count(id, "usage").await.unwrap(),
            mock.ground_truth_of(org).rows.len() as u64,
            "{id}: its own organization's records"
        );
    }
}

// ------------------------------------------------------------------ delivery on the page

/// The attribute `attr` of every element with `class="CLASS"` in `html` (`class` given as
/// `tr class="…"`-style prefix), in page order.
fn attr_of_rows(html: &str, row: &str, attr: &str) -> Vec<String> {
    html.split(&format!("<tr class=\"{row}\""))
        .skip(1)
        .filter_map(|rest| {
            let head = &rest[..rest.find('>').unwrap_or(rest.len())];
            let at = head.find(&format!(" {attr}=\""))? + attr.len() + 3;
            Some(unescape(&head[at..at + head[at..].find('"')?]))
        })
        .collect()
}

/// An attribute's value as minijinja escaped it, back to text.
fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&amp;", "&")
}

/// The inlined charts of a page: `(data-chart, the <svg>…</svg> markup)`.
fn charts_of(html: &str) -> Vec<(String, String)> {
    html.split("<figure class=\"chart-box\"")
        .skip(1)
        .map(|rest| {
            let name = rest
                .split("data-chart=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .to_string();
            let body = &rest[rest.find('>').unwrap() + 1..rest.find("</figure>").unwrap()];
            (name, body.to_string())
        })
        .collect()
}

/// The text of the result banner of `page` (tags left in).
fn banner(page: &Reply) -> &str {
    let at = page
        .body
        .find("id=\"result\"")
        .unwrap_or_else(|| panic!("no result banner: {}", page.body));
    let rest = &page.body[at..];
    &rest[..rest.find("</div>").unwrap()]
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_forms_register_repositories_join_people_and_make_teams() {
    use chrono::{NaiveDate, TimeZone};
    use host_harness::delivery::synthetic::{Synthetic, MAIN};
    use host_harness::report::aligned::aligned_report;
    use host_harness::report::alignment::Options;

    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 8, 14)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    let c = Client::new(server.addr()).await;
    let page = format!("/connections/{CONN}");

    // Before anything: the Delivery section's forms, each posting to the connection.
    let empty = c.get(&page).await;
    for route in ["repositories", "aliases", "teams"] {
        assert!(
            empty.body.contains(&format!("action=\"{page}/{route}\"")),
            "{route}"
        );
    }
    assert!(empty.body.contains("id=\"no-repositories\""));
    assert!(
        unescape(&empty.body).contains(host_harness::report::aligned::FRAMING),
        "the framing sentence"
    );

    // Configure and import the mock's usage.
    let r = c
        .post(
            &format!("{page}/settings"),
            &[
                ("api_token", &keys.admin),
                ("backfill_days", "14"),
                ("codex_model_pattern", "*"),
            ],
        )
        .await;
    assert!(c
        .follow(&r, &page)
        .await
        .body
        .contains("Saved and connected"));
    let run = server.scheduler().run_now(CONN, "test").await.unwrap();
    assert_eq!(run.status, "succeeded", "{run:?}");

    // Who uses it: every user is unmatched (no repository yet).
    let before = aligned_report(&open(&db).await, CONN, &Options::default())
        .await
        .unwrap();
    let users = before.unmatched_codex_users.clone();
    assert!(users.len() >= 6, "the mock's people use it: {users:?}");
    assert!(before.unmatched_git_authors.is_empty());
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let noon = |d: NaiveDate| {
        chrono::Utc
            .from_utc_datetime(&d.and_hms_opt(12, 0, 0).unwrap())
            .fixed_offset()
    };
    let (u0, u1) = (&users[0], &users[1]);
    let personal = "u0.personal@home.example";

    // A repository: u0 commits under a personal email, u1 under the email its usage carries
    // (in capitals), and someone nobody knows.
    let repo = dir.path().join("repo");
    let mut git = Synthetic::init(&repo).unwrap();
    git.commit(
        MAIN,
        ("U0", personal),
        noon(day(&u0.first_day)),
        "a",
        &[("a.txt", Some("1\n2\n3\n"))],
    )
    .unwrap();
    git.commit(
        MAIN,
        ("U1", &u1.email.to_uppercase()),
        noon(day(&u1.first_day)),
        "b",
        &[("b.txt", Some("1\n"))],
    )
    .unwrap();
    git.commit(
        MAIN,
        ("Stranger", "nobody@elsewhere.example"),
        noon(day(&u1.last_day)),
        "c",
        &[("c.txt", Some("1\n"))],
    )
    .unwrap();

    // Refused paths: the reason in the banner, nothing stored.
    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("f.txt"), "not a repository").unwrap();
    let empty_repo = dir.path().join("empty");
    gix::init(&empty_repo).unwrap();
    let bare = dir.path().join("bare.git");
    gix::init_bare(&bare).unwrap();
    let dumped = open(&db).await.dump().await.unwrap();
    for (path, says) in [
        (plain.display().to_string(), "is not a git repository"),
        (
            dir.path().join("missing").display().to_string(),
            "is not a git repository",
        ),
        (empty_repo.display().to_string(), "has no commits"),
        (bare.display().to_string(), "is a bare repository"),
        ("relative/repo".to_string(), "is not an absolute path"),
        ("   ".to_string(), "Give the path"),
        (
            format!("{}<script>", plain.display()),
            "is not a git repository",
        ),
    ] {
        let r = c
            .post(&format!("{page}/repositories"), &[("path", &path)])
            .await;
        let shown = c.follow(&r, &page).await;
        let text = unescape(banner(&shown));
        assert!(
            text.contains("Repository not added") && text.contains(says),
            "{path}: {text}"
        );
        assert!(!shown.body.contains("<script>"), "escaped");
        assert_eq!(
            open(&db).await.dump().await.unwrap(),
            dumped,
            "{path} changed the store"
        );
    }
    // Without the page's token, or from another site: refused, nothing stored.
    let good = repo.display().to_string();
    let r = c
        .post_raw(
            &format!("{page}/repositories"),
            &format!("Origin: http://{}\r\n", c.host),
            &format!("path={}", urlencode(&good)),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = c
        .post_raw(
            &format!("{page}/repositories"),
            "Origin: http://evil.example\r\n",
            &format!("csrf={}&path={}", c.csrf, urlencode(&good)),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = c
        .post("/connections/nope/repositories", &[("path", &good)])
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(open(&db).await.dump().await.unwrap(), dumped);

    // The repository through the form: registered, read, listed.
    let canonical = std::fs::canonicalize(&repo).unwrap().display().to_string();
    let r = c
        .post(&format!("{page}/repositories"), &[("path", &good)])
        .await;
    let shown = c.follow(&r, &page).await;
    let text = unescape(banner(&shown));
    assert!(
        text.contains("Repository added")
            && text.contains("3 new commits")
            && text.contains(&canonical),
        "{text}"
    );
    assert_eq!(
        attr_of_rows(&shown.body, "repository", "data-path"),
        [canonical.clone()]
    );
    assert_eq!(
        attr_of_rows(&shown.body, "repository", "data-state"),
        ["ok"]
    );
    let stored = open(&db).await.repositories(CONN).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].path.as_str(), stored[0].commits),
        (canonical.as_str(), 3)
    );

    // The report: u0's personal email and the stranger are unmatched authors, u0 an unmatched
    // user; u1 is matched (case-insensitively) and has its commit in its row.
    let authors = attr_of_rows(&shown.body, "unmatched-author", "data-email");
    assert_eq!(
        authors,
        ["nobody@elsewhere.example", personal],
        "{authors:?}"
    );
    let unmatched = attr_of_rows(&shown.body, "unmatched-user", "data-email");
    assert!(
        unmatched.contains(&u0.email) && !unmatched.contains(&u1.email),
        "{unmatched:?}"
    );
    let commits_of = |html: &str, email: &str| -> u64 {
        let emails = attr_of_rows(html, "aligned-person", "data-email");
        let commits = attr_of_rows(html, "aligned-person", "data-commits");
        emails
            .iter()
            .zip(commits)
            .filter(|(e, _)| e.as_str() == email)
            .map(|(_, n)| n.parse::<u64>().unwrap())
            .sum()
    };
    assert_eq!(commits_of(&shown.body, &u1.email), 1);
    assert_eq!(commits_of(&shown.body, &u0.email), 0);
    // Three charts, inlined, with nothing the page's CSP would block.
    let charts = charts_of(&shown.body);
    let names: Vec<&str> = charts.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["use-over-time", "cohorts", "use-beside-delivery"]);
    for (name, svg) in &charts {
        assert!(
            svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"),
            "{name}"
        );
        assert_eq!(svg.matches("<svg").count(), 1, "{name}");
        assert_eq!(
            host_harness::charts::check::csp_findings(svg),
            Vec::<String>::new(),
            "{name}"
        );
    }

    // Bad aliases: refused with the reason, nothing stored.
    let dumped = open(&db).await.dump().await.unwrap();
    for (alias, email, says) in [
        ("not-an-email", u0.email.as_str(), "is not an email address"),
        (personal, "", "is not an email address"),
        (
            u0.email.as_str(),
            &u0.email.to_uppercase(),
            "already itself",
        ),
    ] {
        let r = c
            .post(
                &format!("{page}/aliases"),
                &[("alias", alias), ("email", email)],
            )
            .await;
        let shown = c.follow(&r, &page).await;
        let text = banner(&shown);
        assert!(
            text.contains("Alias not added") && text.contains(says),
            "{alias}: {text}"
        );
        assert_eq!(
            open(&db).await.dump().await.unwrap(),
            dumped,
            "{alias} changed the store"
        );
    }
    // The alias: u0's personal email counts as u0; both lists lose them, u0's row has the
    // commit.
    let r = c
        .post(
            &format!("{page}/aliases"),
            &[("alias", &personal.to_uppercase()), ("email", &u0.email)],
        )
        .await;
    let shown = c.follow(&r, &page).await;
    assert!(banner(&shown).contains("Alias added"), "{}", banner(&shown));
    assert_eq!(attr_of_rows(&shown.body, "alias", "data-alias"), [personal]);
    assert_eq!(
        attr_of_rows(&shown.body, "unmatched-author", "data-email"),
        ["nobody@elsewhere.example"]
    );
    assert!(!attr_of_rows(&shown.body, "unmatched-user", "data-email").contains(&u0.email));
    assert_eq!(commits_of(&shown.body, &u0.email), 1);
    // A cycle is refused.
    let r = c
        .post(
            &format!("{page}/aliases"),
            &[("alias", &u0.email), ("email", personal)],
        )
        .await;
    let shown = c.follow(&r, &page).await;
    assert!(
        banner(&shown).contains("the alias was not added"),
        "{}",
        banner(&shown)
    );
    assert_eq!(open(&db).await.aliases(CONN).await.unwrap().len(), 1);

    // Teams: one of two people is hidden with the reason; one of five is shown.
    let r = c
        .post(
            &format!("{page}/teams"),
            &[
                ("name", "pair"),
                ("emails", &format!("{}, {}", u0.email, u1.email)),
            ],
        )
        .await;
    let shown = c.follow(&r, &page).await;
    assert!(
        banner(&shown).contains("Team pair saved"),
        "{}",
        banner(&shown)
    );
    assert!(
        shown.body.contains(
            "<li data-team=\"pair\" data-people=\"2\">pair: hidden, 2 people, fewer than 5"
        ),
        "{}",
        shown.body
    );
    assert!(attr_of_rows(&shown.body, "team", "data-team").is_empty());
    let five: Vec<String> = users.iter().take(5).map(|u| u.email.clone()).collect();
    let r = c
        .post(
            &format!("{page}/teams"),
            &[("name", "Core <5>"), ("emails", &five.join("\n"))],
        )
        .await;
    let shown = c.follow(&r, &page).await;
    assert!(banner(&shown).contains("5 people"), "{}", banner(&shown));
    let teams = attr_of_rows(&shown.body, "team", "data-team");
    assert!(
        !teams.is_empty() && teams.iter().all(|t| t == "Core <5>"),
        "{teams:?}"
    );
    let team_commits: u64 = attr_of_rows(&shown.body, "team", "data-commits")
        .iter()
        .map(|n| n.parse::<u64>().unwrap())
        .sum();
    assert_eq!(team_commits, 2, "u0's and u1's commits");
    // Bad teams: refused, nothing stored.
    let dumped = open(&db).await.dump().await.unwrap();
    for (name, emails, says) in [
        ("", "a@x.example", "give the team a name"),
        ("t", "", "give the emails"),
        ("t", "a@x.example nope", "\"nope\" is not an email"),
    ] {
        let r = c
            .post(
                &format!("{page}/teams"),
                &[("name", name), ("emails", emails)],
            )
            .await;
        let shown = c.follow(&r, &page).await;
        let text = banner(&shown).replace("&quot;", "\"");
        assert!(
            text.contains("Team not saved") && text.contains(says),
            "{name}: {text}"
        );
    }
    assert_eq!(open(&db).await.dump().await.unwrap(), dumped);

    // Per month: the same people, the periods the first of each month.
    let monthly = c.get(&format!("{page}?period=month")).await;
    assert!(monthly.body.contains("data-period=\"month\""));
    let periods = attr_of_rows(&monthly.body, "aligned-person", "data-period");
    assert!(
        !periods.is_empty() && periods.iter().all(|p| p.ends_with("-01")),
        "{periods:?}"
    );
    assert_eq!(
        commits_of(&monthly.body, &u0.email) + commits_of(&monthly.body, &u1.email),
        2
    );

    // The page's rows are the report's.
    let report = aligned_report(&open(&db).await, CONN, &Options::default())
        .await
        .unwrap();
    let weekly = c.get(&page).await;
    assert_eq!(
        attr_of_rows(&weekly.body, "aligned-person", "data-period").len(),
        report.rows.len()
    );
    let mut want: Vec<(String, String, u32)> = report
        .rows
        .iter()
        .map(|r| {
            (
                r.period_start.clone(),
                r.email.clone().unwrap(),
                r.codex_active_days,
            )
        })
        .collect();
    let mut got: Vec<(String, String, u32)> =
        attr_of_rows(&weekly.body, "aligned-person", "data-period")
            .into_iter()
            .zip(attr_of_rows(&weekly.body, "aligned-person", "data-email"))
            .zip(attr_of_rows(&weekly.body, "aligned-person", "data-days"))
            .map(|((p, e), d)| (p, e, d.parse().unwrap()))
            .collect();
    want.sort();
    got.sort();
    assert_eq!(got, want);
    server.shutdown().await;
}
