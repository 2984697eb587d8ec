//! The `host-harness` binary as an admin or a script uses it: each command with its own
//! options, the key only through stdin or an environment variable (by name), `configure`
//! checking live before it saves, typed exit codes with `error [class]: message` and advice
//! only where there is some, and no secret in any output.

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
    /// `--redirect api.openai.com=…` for the commands that run the component.
    redirect: Option<String>,
    transcript: String,
}

impl Cli<'_> {
    /// `host-harness COMMAND [its store and component options] ARGS`.
    fn run(
        &mut self,
        command: &str,
        args: &[&str],
        env: &[(&str, &str)],
        stdin: Option<&str>,
    ) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg(command);
        let (store, component) = match command {
            "describe" => (false, true),
            "configure" | "validate" | "sync" => (true, true),
            "history" | "export" | "report" => (true, false),
            _ => (false, false),
        };
        if store {
            cmd.arg("--db").arg(self.db);
        }
        if component {
            cmd.arg("--component").arg(connector_wasm());
            if let Some(r) = &self.redirect {
                cmd.args(["--redirect", r]);
            }
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
            // (a command refused before it reads stdin closes it: not an error here)
            let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
        }
        let out = child.wait_with_output().unwrap();
        // The transcript holds what the binary printed (not its arguments, where some tests
        // put a key on purpose).
        self.transcript.push_str(&format!(
            "$ {command} …\n{}{}\n",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        out
    }

    async fn stored_token(&self) -> Option<String> {
        open_existing(self.db)
            .await
            .secrets(CONN)
            .await
            .unwrap()
            .get("api_token")
            .map(|s| s.expose().to_string())
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The error convention: `error [class]: message` on stderr, then `what to do: …` only when
/// there is advice, and the class's exit code.
fn assert_error(o: &Output, class: &str, code: i32, advice: bool) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{class}: {}{err}", stdout(o));
    assert!(err.contains(&format!("error [{class}]: ")), "{err}");
    assert_eq!(
        err.contains("what to do: "),
        advice,
        "advice for {class}: {err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn full_cli_flow_never_prints_the_token() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 15, 12)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let mut cli = Cli {
        db: &db,
        redirect: Some(format!("api.openai.com={}", mock.base_url())),
        transcript: String::new(),
    };
    let tail = &keys.admin[keys.admin.len() - 4..];

    // configure checks the key live (both capabilities), then saves it
    let o = cli.run(
        "configure",
        &[
            "--token-env",
            "CODEX_TEST_TOKEN",
            "--set",
            "backfill_days=12",
        ],
        &[("CODEX_TEST_TOKEN", &keys.admin)],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("Connection: connected (organization org-mock"),
        "{out}"
    );
    assert!(out.contains("[ok  ] Platform usage"), "{out}");
    assert!(
        out.contains(&format!("Saved. api_token sk-admin…{tail}")),
        "{out}"
    );
    assert_eq!(mock.requests().len(), 2, "one probe per capability");
    let o = cli.run(
        "configure",
        &["--token-stdin", "--set", "backfill_days=12", "--json"],
        &[],
        Some(&format!("{}\n", keys.admin)),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["validated"].as_bool()),
        (Some(true), Some(true)),
        "{v}"
    );
    assert_eq!(
        v["saved"]["secrets"]["api_token"],
        format!("sk-admin…{tail}")
    );
    assert_eq!(
        cli.stored_token().await.as_deref(),
        Some(keys.admin.as_str()),
        "stdin's newline is trimmed"
    );

    let o = cli.run("validate", &["--json"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["ok"], true);
    let caps: Vec<(&str, &str)> = v["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    // the Platform's capabilities granted; any other source's is not configured
    assert_eq!(
        caps[..2],
        [
            ("platform-usage", "granted"),
            ("platform-directory", "granted")
        ]
    );
    assert!(
        caps[2..].iter().all(|c| c.1 == "not-configured"),
        "{caps:?}"
    );

    let before_sync = mock.requests().len();
    let o = cli.run("sync", &["-vv"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("usage: done"), "{}", stderr(&o));
    let sent = (mock.requests().len() - before_sync) as u64;

    let o = cli.run("history", &["--json"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let runs: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1);
    assert_eq!(runs[0]["status"], "succeeded");
    assert_eq!(runs[0]["connector"], CODEX);
    assert_eq!(runs[0]["trigger"], "cli");
    let inserted = runs[0]["streams"]["usage"]["inserted"].as_u64().unwrap();
    // the history's request counts are the host's own: what the provider saw
    let counted: u64 = runs[0]["streams"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(counted, sent);

    let o = cli.run(
        "export",
        &["--stream", "usage", "--format", "ndjson"],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let lines: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, inserted);
    let o = cli.run(
        "export",
        &["--stream", "usage", "--format", "csv"],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = stdout(&o);
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .starts_with("bucket_start,bucket_end,bucket_width,bucket_complete,user_id"));
    assert_eq!(csv.lines().count() as u64, inserted + 1);
    let out_file = dir.path().join("keys.csv");
    let o = cli.run(
        "export",
        &[
            "--stream",
            "api_keys",
            "--format",
            "csv",
            "--out",
            out_file.to_str().unwrap(),
        ],
        &[],
        None,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let exported = std::fs::read_to_string(&out_file).unwrap();
    assert!(exported.starts_with("api_key_id,"), "{exported}");
    cli.transcript.push_str(&exported);
    let o = cli.run("export", &["--stream", "invoices"], &[], None);
    assert_error(&o, "usage", 2, false);
    assert!(
        stderr(&o).contains("usage"),
        "names the streams: {}",
        stderr(&o)
    );

    let o = cli.run("report", &[], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("@example.com"), "{}", stdout(&o));
    let o = cli.run("report", &["--json"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli.run("history", &[], &[], None);
    assert!(stdout(&o).contains("succeeded"));
    let o = cli.run("describe", &["-vv"], &[], None);
    assert!(o.status.success());

    assert_no_secret("CLI transcript", &cli.transcript, &keys.admin);
    assert_no_secret(
        "store outside the secret slot",
        &dump_store_outside_secrets(&open(&db).await).await,
        &keys.admin,
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn describe_prints_the_component_interface() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let mut cli = Cli {
        db: &db,
        redirect: None,
        transcript: String::new(),
    };
    let o = cli.run("describe", &[], &[], None);
    let out = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    for needle in [
        "OpenAI Codex 0.2.0 (openai-codex), contract 0.2.0",
        "Component exports:\n  analytics:connector/connector@0.2.0",
        "analytics:connector/host-log@0.2.0",
        "analytics:connector/secrets@0.2.0",
        "wasi:http/outgoing-handler@0.2.12",
        "Origins the connector may call (the sandbox's allow-list): https://api.openai.com",
        "API Token",
        "sent only to https://api.openai.com (header authorization)",
        &format!("  {:<22} {:<13}", "usage", "incremental"),
        "Platform usage",
        "ChatGPT",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in\n{out}");
    }
    assert!(!db.exists(), "describe opens no store");
    let o = cli.run("describe", &["--json"], &[], None);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["id"], CODEX);
    assert_eq!(v["contract"], "0.2.0");
    assert_eq!(v["settings"][0]["key"], "api_token");
    assert_eq!(v["settings"][0]["kind"], "secret");
    assert_eq!(
        v["settings"][0]["secret_use"]["origins"][0],
        "https://api.openai.com"
    );
    assert_eq!(v["settings"][0]["secret_use"]["header"], "authorization");
    let usage = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "usage")
        .unwrap();
    assert_eq!(usage["primary_key"][0], "bucket_start");
    assert_eq!(usage["mode"], "incremental");
    assert_eq!(v["capabilities"][0]["name"], "platform-usage");
    assert_eq!(v["capabilities"][1]["name"], "platform-directory");
    assert_eq!(v["origins"][0], "https://api.openai.com");

    // An option of another command is refused by the parser (usage, exit 2).
    let o = Command::new(BIN)
        .args(["describe", "--db", "x.db"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_have_a_class_advice_and_exit_code() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 2)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("e.db");
    let mut cli = Cli {
        db: &db,
        redirect: Some(format!("api.openai.com={}", mock.base_url())),
        transcript: String::new(),
    };

    // nothing configured yet: not-configured (8), and no run is recorded
    let o = cli.run("sync", &[], &[], None);
    assert_error(&o, "not-configured", 8, true);
    assert!(
        stderr(&o).contains("what to do: Run `host-harness configure` first."),
        "{}",
        stderr(&o)
    );
    let o = cli.run("history", &["--json"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        serde_json::from_str::<Value>(&stdout(&o)).unwrap(),
        Value::Array(vec![])
    );
    let o = cli.run("sync", &["--json"], &[], None);
    assert_eq!(o.status.code(), Some(8));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(
        (v["ok"].as_bool(), v["error"]["class"].as_str()),
        (Some(false), Some("not-configured"))
    );
    assert!(v["error"]["advice"].is_string());

    // no token given: the connector names the field and where to create a key (invalid
    // settings, 2)
    let o = cli.run("configure", &[], &[], None);
    assert_error(&o, "invalid-settings", 2, true);
    assert!(stderr(&o).contains("api_token: "), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("Manage → Admin API Keys"),
        "{}",
        stderr(&o)
    );
    // the token as a --set value: refused as usage, without echoing it
    let o = cli.run(
        "configure",
        &[
            "--token-stdin",
            "--set",
            &format!("api_token={}", keys.admin),
        ],
        &[],
        Some(&keys.admin),
    );
    assert_error(&o, "usage", 2, false);
    assert!(
        stderr(&o).contains("api_token is a secret"),
        "{}",
        stderr(&o)
    );
    // two token sources at once: the parser refuses (2)
    let o = cli.run(
        "configure",
        &["--token-stdin", "--token-env", "X"],
        &[],
        Some(&keys.admin),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(mock.requests().is_empty(), "no live check of refused input");

    // a project key: refused from its shape (invalid settings), before any request
    let o = cli.run("configure", &["--token-stdin"], &[], Some(&keys.project));
    assert_error(&o, "invalid-settings", 2, true);
    assert!(
        stderr(&o).contains("project API key") && stderr(&o).contains("Manage → Admin API Keys"),
        "{}",
        stderr(&o)
    );
    assert!(
        mock.requests().is_empty(),
        "the shape decides, not the provider"
    );
    assert!(!open(&db).await.is_configured(CONN).await.unwrap());

    // an unknown admin key: the live check refuses it (unauthorized, 3) and saves nothing
    let unknown = host_harness::random::key("sk-admin-");
    let o = cli.run("configure", &["--token-stdin"], &[], Some(&unknown));
    assert_error(&o, "unauthorized", 3, true);
    assert!(stdout(&o).contains("NOT fully connected"), "{}", stdout(&o));
    assert!(stderr(&o).contains("nothing was saved"), "{}", stderr(&o));
    assert_eq!(cli.stored_token().await, None);
    // saved without the live check, it fails validate and sync with the same class
    let o = cli.run(
        "configure",
        &["--token-stdin", "--no-validate"],
        &[],
        Some(&unknown),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("Not checked with the provider"),
        "{}",
        stdout(&o)
    );
    let o = cli.run("validate", &[], &[], None);
    assert_error(&o, "unauthorized", 3, true);
    let o = cli.run("sync", &["--json"], &[], None);
    assert_eq!(o.status.code(), Some(3));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["class"], "unauthorized");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("rejected the API Token"),
        "{v}"
    );
    let o = cli.run("history", &["--json"], &[], None);
    let runs: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    assert_eq!(
        (runs[0]["status"].as_str(), runs[0]["error_class"].as_str()),
        (Some("failed"), Some("unauthorized"))
    );

    // a usage-only admin key: forbidden (4) at configure, validate and sync
    let o = cli.run("configure", &["--token-stdin"], &[], Some(&keys.usage_only));
    assert_error(&o, "forbidden", 4, true);
    assert!(stdout(&o).contains("[FAIL] Directory"), "{}", stdout(&o));
    assert_eq!(
        cli.stored_token().await.as_deref(),
        Some(unknown.as_str()),
        "the refused key was not saved"
    );
    let o = cli.run(
        "configure",
        &["--token-stdin", "--no-validate"],
        &[],
        Some(&keys.usage_only),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = cli.run("validate", &[], &[], None);
    assert_error(&o, "forbidden", 4, true);
    assert!(stdout(&o).contains("api.management.read"), "{}", stdout(&o));
    let o = cli.run("sync", &[], &[], None);
    assert_error(&o, "forbidden", 4, true);

    // plain http to a non-loopback redirect is refused before anything runs, with how to
    // write one
    for args in [
        vec!["--redirect", "api.openai.com=http://10.1.2.3:8080"],
        vec!["--openai-base", "http://10.1.2.3:8080"],
    ] {
        let mut bad = Cli {
            db: &db,
            redirect: None,
            transcript: String::new(),
        };
        let o = bad.run("validate", &args, &[], None);
        assert_error(&o, "usage", 2, true);
        assert!(stderr(&o).contains("loopback"), "{}", stderr(&o));
        cli.transcript.push_str(&bad.transcript);
    }
    // a store that is not there, for a command that only reads
    let o = Command::new(BIN)
        .args(["history", "--db"])
        .arg(dir.path().join("missing.db"))
        .output()
        .unwrap();
    assert_error(&o, "usage", 2, true);
    assert!(!dir.path().join("missing.db").exists());

    for k in [&keys.admin, &keys.project, &keys.usage_only, &unknown] {
        assert_no_secret("CLI transcript", &cli.transcript, k);
    }
}

/// Issue 12, bug 5: a key the provider refuses is not saved over the working one.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_key_leaves_the_saved_working_key_in_place() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 2)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let mut cli = Cli {
        db: &db,
        redirect: Some(format!("api.openai.com={}", mock.base_url())),
        transcript: String::new(),
    };
    let o = cli.run(
        "configure",
        &["--token-stdin", "--set", "backfill_days=2"],
        &[],
        Some(&keys.admin),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let settings_before = format!("{:?}", open(&db).await.settings(CONN).await.unwrap());

    let unknown = host_harness::random::key("sk-admin-");
    for (args, env, stdin) in [
        (
            vec!["--token-stdin", "--set", "backfill_days=5"],
            vec![],
            Some(unknown.as_str()),
        ),
        (
            vec!["--token-env", "NEW_KEY"],
            vec![("NEW_KEY", unknown.as_str())],
            None,
        ),
        (
            vec!["--secret-env", "api_token=NEW_KEY"],
            vec![("NEW_KEY", unknown.as_str())],
            None,
        ),
        (
            vec!["--token-stdin"],
            vec![],
            Some(keys.directory_only.as_str()),
        ),
    ] {
        let o = cli.run("configure", &args, &env, stdin);
        assert!(!o.status.success(), "{args:?}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("nothing was saved and the previous settings stay"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert_eq!(
            cli.stored_token().await.as_deref(),
            Some(keys.admin.as_str()),
            "{args:?}"
        );
        assert_eq!(
            format!("{:?}", open(&db).await.settings(CONN).await.unwrap()),
            settings_before
        );
    }
    // the working key still works
    let o = cli.run("validate", &[], &[], None);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = cli.run("sync", &[], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    // a later save without a new key keeps the saved one and changes only the settings
    let o = cli.run("configure", &["--set", "backfill_days=3"], &[], None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        cli.stored_token().await.as_deref(),
        Some(keys.admin.as_str())
    );
    for k in [&keys.admin, &keys.directory_only, &unknown] {
        assert_no_secret("CLI transcript", &cli.transcript, k);
    }
}

/// Issue 12, bug 1: the key itself given where a variable name belongs is neither printed
/// nor saved, and the message says the option takes a variable's name.
#[tokio::test(flavor = "multi_thread")]
async fn a_key_passed_as_a_variable_name_is_refused_without_printing_it() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 2)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v.db");
    let mut cli = Cli {
        db: &db,
        redirect: Some(format!("api.openai.com={}", mock.base_url())),
        transcript: String::new(),
    };
    let spec = format!("api_token={}", keys.admin);
    for (option, args, how) in [
        (
            "--token-env",
            vec!["--token-env", keys.admin.as_str()],
            "--token-env MY_KEY",
        ),
        (
            "--secret-env",
            vec!["--secret-env", spec.as_str()],
            "--secret-env api_token=MY_KEY",
        ),
    ] {
        let o = cli.run("configure", &args, &[], None);
        assert_error(&o, "usage", 2, true);
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "{option} takes the name of an environment variable"
            )),
            "{err}"
        );
        assert!(
            err.contains(&format!("what to do: Put the secret in a variable")) && err.contains(how),
            "shows how: {err}"
        );
        assert!(!err.contains(&keys.admin) && !stdout(&o).contains(&keys.admin));
        assert_no_secret("output", &format!("{}{err}", stdout(&o)), &keys.admin);
    }
    // a name that is not set is its own error, naming the variable
    let o = cli.run(
        "configure",
        &["--token-env", "CODEX_UNSET_VARIABLE_FOR_TEST"],
        &[],
        None,
    );
    assert_error(&o, "usage", 2, true);
    assert!(
        stderr(&o).contains("CODEX_UNSET_VARIABLE_FOR_TEST is not set"),
        "{}",
        stderr(&o)
    );
    assert!(mock.requests().is_empty());
    assert!(!db.exists() || !open(&db).await.is_configured(CONN).await.unwrap());
    assert_no_secret("CLI transcript", &cli.transcript, &keys.admin);
}
