//! Shared helpers for the end-to-end tests: the real `.wasm` components (built once per
//! test binary), a mock on loopback with random keys, temporary stores, and secret checks.
#![allow(dead_code)]

pub mod postgres;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use std::collections::BTreeMap;

use host_harness::policy::Redirect;
use host_harness::runner::{Harness, HarnessConfig, HostError, SyncOptions};
use host_harness::secret::Secret;
use host_harness::store::{Location, Run, Store, StoreOptions};
use openai_mock::{Fault, FaultRule, MockConfig, MockServer};

/// The connector id of the codex connector.
pub const CODEX: &str = "openai-codex";

/// The connection the tests use: the default one, created when first needed.
pub const CONN: &str = host_harness::store::DEFAULT_CONNECTION;

/// Open (or create) the embedded store at `db`, its key in `<db>.key`.
pub async fn open(db: &Path) -> Store {
    Store::open_path(db).await.unwrap()
}

/// Open the embedded store at `db`, which must exist.
pub async fn open_existing(db: &Path) -> Store {
    Store::open_existing(&Location::Sqlite(db.to_path_buf()), StoreOptions::default())
        .await
        .unwrap()
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Build the wasm components once (a no-op when up to date) so no test runs against a
/// stale component. `CODEX_CONNECTOR_WASM` points at a prebuilt connector instead.
fn build_components() -> &'static () {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        if std::env::var_os("CODEX_SKIP_WASM_BUILD").is_some() {
            return;
        }
        let status = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "-p",
                "codex-connector",
                "-p",
                "hostile-connector",
                "-p",
                "broken-describe-connector",
                "-p",
                "other-contract-connector",
            ])
            .status()
            .expect("run cargo to build the components");
        assert!(status.success(), "building the wasm components failed");
    })
}

pub fn connector_wasm() -> PathBuf {
    if let Some(p) = std::env::var_os("CODEX_CONNECTOR_WASM") {
        return PathBuf::from(p);
    }
    build_components();
    host_harness::default_component_path()
}

pub fn broken_describe_wasm() -> PathBuf {
    build_components();
    workspace().join("target/wasm32-wasip2/release/broken_describe_connector.wasm")
}

pub fn other_contract_wasm() -> PathBuf {
    build_components();
    workspace().join("target/wasm32-wasip2/release/other_contract_connector.wasm")
}

pub fn hostile_wasm() -> PathBuf {
    build_components();
    workspace().join("target/wasm32-wasip2/release/hostile_connector.wasm")
}

/// Keys for one test: random, so a leak cannot hide behind a fixed string.
pub struct Keys {
    pub admin: String,
    pub usage_only: String,
    pub directory_only: String,
    pub project: String,
}

pub fn keys() -> Keys {
    let admin = host_harness::random::key("sk-admin-");
    let usage_only = host_harness::random::key("sk-admin-");
    let directory_only = host_harness::random::key("sk-admin-");
    let project = host_harness::random::key("sk-proj-");
    Keys {
        admin,
        usage_only,
        directory_only,
        project,
    }
}

pub fn mock_config(keys: &Keys, users: usize, days: u32) -> MockConfig {
    MockConfig {
        users,
        days,
        admin_key: keys.admin.clone(),
        usage_only_admin_key: Some(keys.usage_only.clone()),
        directory_only_admin_key: Some(keys.directory_only.clone()),
        project_key: Some(keys.project.clone()),
        ..MockConfig::default()
    }
}

/// Every request from now on waits this long before the mock answers, as a distant
/// provider's would.
pub fn slow(mock: &MockServer, each: std::time::Duration) {
    mock.inject(FaultRule {
        path_contains: None,
        skip: 0,
        times: usize::MAX,
        fault: Fault::StallBeforeFirstByte(each),
    });
}

/// A harness config for `component`, with api.openai.com redirected to `mock`.
pub fn config(component: &Path, mock: Option<&MockServer>) -> HarnessConfig {
    let mut config = HarnessConfig::new(component.to_path_buf());
    if let Some(m) = mock {
        config
            .policy
            .redirects
            .push(Redirect::to("api.openai.com", &m.base_url()).unwrap());
    }
    config.retry.base_delay = std::time::Duration::from_millis(5);
    config
}

pub async fn harness(component: &Path, mock: Option<&MockServer>) -> Harness {
    Harness::load(config(component, mock))
        .await
        .expect("load the component")
}

/// A harness config for `component` with both of the connector's origins redirected to
/// `mock`: api.openai.com (the Platform Admin API) and api.chatgpt.com (the ChatGPT
/// workspace's Codex Analytics API), which the mock serves on one address.
pub fn config_both(component: &Path, mock: &MockServer) -> HarnessConfig {
    let mut config = config(component, Some(mock));
    config
        .policy
        .redirects
        .push(Redirect::to("api.chatgpt.com", &mock.base_url()).unwrap());
    config
}

pub async fn harness_both(component: &Path, mock: &MockServer) -> Harness {
    Harness::load(config_both(component, mock))
        .await
        .expect("load the component")
}

/// Secrets for `configure` from `(key, value)` pairs, e.g. `api_token` and
/// `analytics_api_key`.
pub fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, Secret> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), Secret::from_input(v)))
        .collect()
}

/// Secrets for `configure`: `api_token` = `token`.
pub fn token(token: &str) -> BTreeMap<String, Secret> {
    let mut s = BTreeMap::new();
    s.insert("api_token".to_string(), Secret::from_input(token));
    s
}

/// `(key, value)` settings from pairs.
pub fn set(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Save `api_token` (and `settings`) without a live check.
pub async fn configure(
    h: &Harness,
    store: &Store,
    settings: &[(&str, &str)],
    api_token: &str,
) -> Result<host_harness::runner::Saved, HostError> {
    h.configure(store, CONN, &set(settings), token(api_token))
        .await
}

/// A sync of every stream of the default connection, without progress.
pub async fn sync(h: &Harness, store: &Store) -> Result<Run, HostError> {
    h.sync(store, CONN, SyncOptions::new("test")).await
}

/// The newest run of the default connection.
pub async fn last_run(store: &Store) -> Run {
    store.runs(CONN, 1).await.unwrap().remove(0)
}

pub async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir.path().join("store.db")).await;
    (dir, store)
}

/// Fails if `haystack` holds the token or any 8-character slice of its secret part (after
/// `sk-` and its kind: `admin-`, `proj-`, `cgpt-`).
pub fn assert_no_secret(what: &str, haystack: &str, token: &str) {
    assert!(!haystack.contains(token), "{what} contains the token");
    let secret = token.split_once("-").map(|(_, s)| s).unwrap_or(token);
    let secret = secret
        .strip_prefix("admin-")
        .or(secret.strip_prefix("proj-"))
        .or(secret.strip_prefix("cgpt-"))
        .unwrap_or(secret);
    let chars: Vec<char> = secret.chars().collect();
    for w in chars.windows(8) {
        let slice: String = w.iter().collect();
        assert!(
            !haystack.contains(&slice),
            "{what} contains the token fragment {slice:?}"
        );
    }
}

/// Every table of the store as text, the secret slot included (its values are sealed:
/// only their ciphertext is there).
pub async fn dump_store_outside_secrets(store: &Store) -> String {
    let mut out = String::new();
    for (table, rows) in store.dump().await.unwrap() {
        out.push_str(&format!("== {table}\n"));
        for r in rows {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}

/// One usage line: (day, user id or "", api key id, project id, model).
pub type Line = (String, String, String, String, String);

/// The stored usage records as (line → [input, cached input, output, requests]); fails on
/// a duplicate line.
pub async fn stored_usage(store: &Store) -> std::collections::BTreeMap<Line, [u64; 4]> {
    stored_usage_of(store, CONN).await
}

/// [`stored_usage`] of the connection `connection`.
pub async fn stored_usage_of(
    store: &Store,
    connection: &str,
) -> std::collections::BTreeMap<Line, [u64; 4]> {
    let mut out = std::collections::BTreeMap::new();
    for r in store.records(connection, "usage").await.unwrap() {
        let p: serde_json::Value = serde_json::from_str(&r.payload).unwrap();
        let s = |k: &str| p[k].as_str().unwrap_or("").to_string();
        let key = (
            s("bucket_start")[..10].to_string(),
            s("user_id"),
            s("api_key_id"),
            s("project_id"),
            s("model"),
        );
        let n = |k: &str| p[k].as_u64().unwrap();
        let v = [
            n("input_tokens"),
            n("cached_input_tokens"),
            n("output_tokens"),
            n("requests"),
        ];
        assert!(
            out.insert(key.clone(), v).is_none(),
            "duplicate usage line {key:?}"
        );
    }
    out
}

/// The mock's ground truth in the same form.
pub fn truth_usage(mock: &MockServer) -> std::collections::BTreeMap<Line, [u64; 4]> {
    truth_usage_of(mock, 0)
}

/// The ground truth of the mock's organization `org` in the same form.
pub fn truth_usage_of(mock: &MockServer, org: usize) -> std::collections::BTreeMap<Line, [u64; 4]> {
    mock.ground_truth_of(org)
        .rows
        .into_iter()
        .map(|r| {
            (
                (
                    r.day,
                    r.user_id.unwrap_or_default(),
                    r.api_key_id,
                    r.project_id,
                    r.model,
                ),
                [
                    r.input_tokens,
                    r.cached_input_tokens,
                    r.output_tokens,
                    r.requests,
                ],
            )
        })
        .collect()
}
