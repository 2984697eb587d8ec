//! The `host-harness` binary as an admin or a script uses it: the token only through stdin
//! or an environment variable, typed exit codes, and no secret in any output.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::*;
use openai_mock::MockServer;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_host-harness");

struct Cli<'a> {
    db: &'a Path,
    base: Option<String>,
    transcript: String,
}

impl Cli<'_> {
    fn run(&mut self, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--db")
            .arg(self.db)
            .arg("--component")
            .arg(connector_wasm());
        if let Some(b) = &self.base {
            cmd.args(["--openai-base", b]);
        }
        cmd.args(args)
            .envs(env.iter().copied())
            .env_remove("RUST_LOG");
        cmd.stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        self.transcript.push_str(&format!(
            "$ {args:?}\n{}{}\n",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        out
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn full_cli_flow_never_prints_the_token() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 15, 12)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let mut cli = Cli {
        db: &db,
        base: Some(mock.base_url()),
        transcript: String::new(),
    };

    let o = cli.run(
        &[
            "configure",
            "--token-env",
            "CODEX_TEST_TOKEN",
            "--set",
            "backfill_days=12",
        ],
        &[("CODEX_TEST_TOKEN", &keys.admin)],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Saved. API Token: sk-admin…"),
        "{}",
        stdout(&o)
    );
    let o = cli.run(
        &["configure", "--token-stdin", "--set", "backfill_days=12"],
        &[],
        Some(&format!("{}\n", keys.admin)),
    );
    assert!(o.status.success(), "{}", stderr(&o));

    let o = cli.run(&["--json", "validate"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ok"], true);

    let o = cli.run(&["-vv", "sync"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("usage: done"), "{}", stderr(&o));

    let o = cli.run(&["--json", "history"], &[], None);
    let runs: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(runs[0]["status"], "succeeded");
    let inserted = runs[0]["streams"]["usage"]["inserted"].as_u64().unwrap();

    let o = cli.run(
        &["export", "--stream", "usage", "--format", "ndjson"],
        &[],
        None,
    );
    assert!(o.status.success());
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, inserted);
    let o = cli.run(
        &["export", "--stream", "usage", "--format", "csv"],
        &[],
        None,
    );
    let csv = stdout(&o);
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .starts_with("bucket_start,bucket_end,bucket_width,bucket_complete,user_id"));
    assert_eq!(csv.lines().count() as u64, inserted + 1);
    let o = cli.run(
        &["export", "--stream", "api_keys", "--format", "csv"],
        &[],
        None,
    );
    assert!(o.status.success());
    let o = cli.run(&["report"], &[], None);
    assert!(stdout(&o).contains("@example.com"), "{}", stdout(&o));
    let o = cli.run(&["history"], &[], None);
    assert!(stdout(&o).contains("succeeded"));
    let o = cli.run(&["-vv", "describe"], &[], None);
    assert!(o.status.success());

    assert_no_secret("CLI transcript", &cli.transcript, &keys.admin);
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_prints_the_component_interface() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let mut cli = Cli {
        db: &db,
        base: None,
        transcript: String::new(),
    };
    let o = cli.run(&["describe"], &[], None);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    for needle in [
        "Component exports:\n  analytics:connector/connector@0.1.0",
        "analytics:connector/host-log@0.1.0",
        "wasi:http/outgoing-handler@0.2.12",
        "Outbound hosts (the sandbox allow-list): api.openai.com",
        "API Token",
        "usage      incremental",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    let o = cli.run(&["--json", "describe"], &[], None);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["settings"][0]["key"], "api_token");
    assert_eq!(v["settings"][0]["kind"], "secret");
    assert_eq!(v["streams"][3]["primary_key"][0], "bucket_start");
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_a_class_advice_and_exit_code() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 2)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let mut cli = Cli {
        db: &db,
        base: Some(mock.base_url()),
        transcript: String::new(),
    };

    // nothing configured yet
    let o = cli.run(&["sync"], &[], None);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("error [not-configured]"));

    // no token source
    let o = cli.run(&["configure"], &[], None);
    assert_eq!(o.status.code(), Some(2));
    // the token is refused as a --set value, without echoing it
    let o = cli.run(
        &[
            "configure",
            "--token-stdin",
            "--set",
            &format!("api_token={}", keys.admin),
        ],
        &[],
        Some(&keys.admin),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(!stderr(&o).contains(&keys.admin));

    // a project key: invalid settings, with what to do
    let o = cli.run(&["configure", "--token-stdin"], &[], Some(&keys.project));
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("project API key") && stderr(&o).contains("Manage → Admin API Keys"),
        "{}",
        stderr(&o)
    );

    // an unknown admin key: unauthorized (3) on validate and on sync
    let unknown = host_harness::random_admin_key();
    let o = cli.run(&["configure", "--token-stdin"], &[], Some(&unknown));
    assert!(o.status.success());
    let o = cli.run(&["validate"], &[], None);
    assert_eq!(o.status.code(), Some(3), "{}{}", stdout(&o), stderr(&o));
    let o = cli.run(&["--json", "sync"], &[], None);
    assert_eq!(o.status.code(), Some(3));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["class"], "unauthorized");

    // a usage-only admin key: not-admin (4)
    let o = cli.run(&["configure", "--token-stdin"], &[], Some(&keys.usage_only));
    assert!(o.status.success());
    let o = cli.run(&["validate"], &[], None);
    assert_eq!(o.status.code(), Some(4), "{}", stdout(&o));

    // plain http to a non-loopback base is refused before anything runs
    cli.base = Some("http://10.1.2.3:8080".into());
    let o = cli.run(&["validate"], &[], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("loopback"), "{}", stderr(&o));

    for k in [&keys.admin, &keys.project, &keys.usage_only, &unknown] {
        assert_no_secret(
            "CLI transcript",
            &cli.transcript
                .replace(&format!("api_token={}", keys.admin), ""),
            k,
        );
    }
}
