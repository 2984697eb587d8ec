//! The second host, in Node (examples/node-host): it loads the same `.wasm` through jco and
//! preview2-shim, runs describe -> configure -> validate-credentials -> every usage page
//! against the OpenAI mock, and must import exactly the mock's ground truth without the key
//! ever showing in its output. Also runs the host's own JavaScript tests (`node --test`):
//! the policy hook (allow-list, https only, host normalization, IP literals, loopback-only
//! redirects) and the secrets import (a secret goes only to its origins, in its header).
//!
//! Needs Node 20+ and npm on PATH; `npm ci` runs once when `examples/node-host/node_modules`
//! is missing. `CODEX_CONNECTOR_WASM` points at a prebuilt component (otherwise it is built,
//! unless `CODEX_SKIP_WASM_BUILD` is set); `CODEX_SKIP_NODE_HOST=1` skips these tests on a
//! machine without Node.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use openai_mock::{MockConfig, MockServer};
use serde_json::Value;

/// Days of usage the mock holds; the connector backfills them all (two 31-day pages).
const DAYS: u32 = 40;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn node_host_dir() -> PathBuf {
    workspace().join("examples/node-host")
}

fn skip() -> bool {
    if std::env::var_os("CODEX_SKIP_NODE_HOST").is_some() {
        eprintln!("CODEX_SKIP_NODE_HOST is set: skipping the Node host test");
        return true;
    }
    false
}

/// The connector component, built once per test binary (a no-op when up to date).
fn connector_wasm() -> PathBuf {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        if let Some(p) = std::env::var_os("CODEX_CONNECTOR_WASM") {
            return PathBuf::from(p);
        }
        if std::env::var_os("CODEX_SKIP_WASM_BUILD").is_none() {
            let status = Command::new(env!("CARGO"))
                .current_dir(workspace())
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "-p",
                    "codex-connector",
                ])
                .status()
                .expect("run cargo to build the connector component");
            assert!(status.success(), "building the connector component failed");
        }
        let path = host_harness::default_component_path();
        assert!(
            path.exists(),
            "no component at {}: build it with `cargo build --release --target wasm32-wasip2 -p codex-connector` or set CODEX_CONNECTOR_WASM",
            path.display()
        );
        path
    })
    .clone()
}

/// What a finished child process printed.
struct Output {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `cmd` to completion, killing it after `limit`.
fn run(mut cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e} (is Node 20+ with npm on PATH?)"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).map(|_| s)
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).map(|_| s)
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        code: status.code(),
        stdout: out_reader.join().unwrap().unwrap(),
        stderr: err_reader.join().unwrap().unwrap(),
    }
}

/// `npm ci` when examples/node-host/node_modules is missing, once per test binary.
fn npm_ready() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = node_host_dir();
            if !dir.join("node_modules").exists() {
                let mut npm = Command::new("npm");
                npm.current_dir(&dir)
                    .args(["ci", "--no-audit", "--no-fund"]);
                let out = run(npm, Duration::from_secs(600));
                assert_eq!(
                    out.code,
                    Some(0),
                    "npm ci in {} failed:\n{}\n{}",
                    dir.display(),
                    out.stdout,
                    out.stderr
                );
            }
            dir
        })
        .clone()
}

/// The component, transpiled once per test binary (the node processes below then reuse
/// examples/node-host/gen/).
fn prepare_node_host() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = npm_ready();
            let wasm = connector_wasm();
            let mut build = Command::new("node");
            build.current_dir(&dir).arg("lib/build.mjs").arg(&wasm);
            let out = run(build, Duration::from_secs(300));
            assert_eq!(
                out.code,
                Some(0),
                "transpiling {} failed:\n{}",
                wasm.display(),
                out.stderr
            );
            wasm
        })
        .clone()
}

/// `node run.mjs` against the mock; the key goes in the environment (or a file), never argv.
fn node_run(mock: &MockServer, key_env: Option<&str>, extra: &[&str]) -> Output {
    let wasm = prepare_node_host();
    let mut cmd = Command::new("node");
    cmd.current_dir(node_host_dir())
        .arg("run.mjs")
        .arg(&wasm)
        .arg("--redirect")
        .arg(format!("api.openai.com={}", mock.base_url()))
        .arg("--setting")
        .arg(format!("backfill_days={DAYS}"))
        .args(extra)
        .env_remove("OPENAI_ADMIN_KEY");
    if let Some(key) = key_env {
        cmd.env("OPENAI_ADMIN_KEY", key);
    }
    run(cmd, Duration::from_secs(300))
}

/// The one-line JSON summary (the last line of stdout).
fn summary(out: &Output) -> Value {
    let line = out.stdout.lines().last().unwrap_or_else(|| {
        panic!("no summary on stdout; stderr:\n{}", out.stderr);
    });
    serde_json::from_str(line).unwrap_or_else(|e| panic!("summary {line:?} is not JSON: {e}"))
}

/// Fails if `haystack` holds the key or any 8-character slice of its secret part.
fn assert_no_secret(what: &str, haystack: &str, key: &str) {
    assert!(!haystack.contains(key), "{what} contains the key");
    let secret = key.strip_prefix("sk-admin-").unwrap_or(key);
    let chars: Vec<char> = secret.chars().collect();
    for w in chars.windows(8) {
        let slice: String = w.iter().collect();
        assert!(
            !haystack.contains(&slice),
            "{what} contains the key fragment {slice:?}"
        );
    }
}

/// A random admin-shaped key (std only: `RandomState` seeds differ per instance).
fn random_admin_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut s = String::from("sk-admin-");
    while s.len() < 9 + 48 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(s.len());
        let mut v = h.finish();
        for _ in 0..8 {
            s.push(ALPHABET[(v % ALPHABET.len() as u64) as usize] as char);
            v /= ALPHABET.len() as u64;
        }
    }
    s
}

async fn start_mock(key: &str) -> MockServer {
    MockServer::start(MockConfig {
        users: 20,
        days: DAYS,
        admin_key: key.to_string(),
        ..MockConfig::default()
    })
    .await
    .expect("start the OpenAI mock")
}

#[test]
fn node_host_javascript_tests_pass() {
    if skip() {
        return;
    }
    let dir = npm_ready();
    let mut cmd = Command::new("node");
    cmd.current_dir(dir)
        .args(["--test", "test/policy.test.mjs", "test/host.test.mjs"]);
    let out = run(cmd, Duration::from_secs(120));
    assert_eq!(
        out.code,
        Some(0),
        "node --test failed:\n{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(out.stdout.contains("# fail 0"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn node_host_imports_the_ground_truth_and_never_prints_the_key() {
    if skip() {
        return;
    }
    let key = random_admin_key();
    let mock = start_mock(&key).await;
    let out = {
        let (mock_ref, key) = (&mock, key.clone());
        // The mock serves on the runtime's workers while this thread waits for node.
        tokio::task::block_in_place(|| node_run(mock_ref, Some(&key), &[]))
    };
    assert_eq!(
        out.code,
        Some(0),
        "node run.mjs failed:\nstdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    let s = summary(&out);
    assert_eq!(s["ok"], true, "{s}");

    // Every capability the admin key has was checked live and granted.
    let caps = s["validate"]["capabilities"]
        .as_object()
        .expect("capability statuses");
    assert!(!caps.is_empty(), "{s}");
    assert!(
        caps.values().any(|v| v == "granted"),
        "no capability granted: {s}"
    );
    for (name, status) in caps {
        assert!(
            status == "granted" || status == "not-configured",
            "capability {name}: {status} ({s})"
        );
    }
    assert_eq!(s["validate"]["ok"], true, "{s}");

    // The usage pages cover the backfill window, which covers every day the mock holds.
    let truth = mock.ground_truth();
    let sum = |f: fn(&openai_mock::TruthRow) -> u64| truth.rows.iter().map(f).sum::<u64>();
    let usage = &s["usage"];
    assert!(usage["pages"].as_u64().unwrap() >= 2, "{s}");
    assert_eq!(
        usage["records"].as_u64(),
        Some(truth.rows.len() as u64),
        "{s}"
    );
    assert_eq!(
        usage["input_tokens"].as_u64(),
        Some(sum(|r| r.input_tokens)),
        "{s}"
    );
    assert_eq!(
        usage["output_tokens"].as_u64(),
        Some(sum(|r| r.output_tokens)),
        "{s}"
    );
    assert_eq!(usage["requests"].as_u64(), Some(sum(|r| r.requests)), "{s}");
    assert_eq!(
        usage["cached_input_tokens"].as_u64(),
        Some(sum(|r| r.cached_input_tokens)),
        "{s}"
    );
    // Nothing was refused: the connector only called its declared origin.
    assert_eq!(s["http"]["denied"].as_u64(), Some(0), "{s}");

    // Every usage request reached the mock with the key (the mock answered 200).
    let usage_requests: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/usage/completions"))
        .collect();
    assert!(!usage_requests.is_empty());
    assert!(
        usage_requests.iter().all(|r| r.status == 200),
        "{usage_requests:?}"
    );

    assert_no_secret("stdout", &out.stdout, &key);
    assert_no_secret("stderr", &out.stderr, &key);
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn node_host_reports_a_wrong_key_without_printing_it() {
    if skip() {
        return;
    }
    let good = random_admin_key();
    let wrong = random_admin_key();
    let mock = start_mock(&good).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("admin-key");
    std::fs::write(&key_file, format!("{wrong}\n")).unwrap();
    let key_file = key_file.to_str().unwrap().to_string();

    let out =
        tokio::task::block_in_place(|| node_run(&mock, None, &["--admin-key-file", &key_file]));
    assert_ne!(out.code, Some(0), "a wrong key must fail: {}", out.stdout);
    let s = summary(&out);
    assert_eq!(s["ok"], false, "{s}");
    // Refused by the provider (the mock), not by the host's policy.
    assert_eq!(s["http"]["denied"].as_u64().unwrap_or(0), 0, "{s}");
    assert!(
        mock.requests().iter().any(|r| r.status == 401),
        "the mock saw no request with the wrong key"
    );
    for (what, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        assert_no_secret(what, text, &wrong);
        assert_no_secret(what, text, &good);
    }

    // A key on the command line is refused before anything runs, and not echoed.
    let out = tokio::task::block_in_place(|| node_run(&mock, None, &["--admin-key", &wrong]));
    assert_eq!(out.code, Some(2), "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stderr.contains("never passed on the command line"),
        "{}",
        out.stderr
    );
    assert_no_secret("stderr", &out.stderr, &wrong);
    assert_no_secret("stdout", &out.stdout, &wrong);
    mock.shutdown().await;
}
