//! Issue 12, "A newcomer's first hour": each stumble a new user hit, run through the real
//! binary the way they ran it. Items covered elsewhere are named where they are proved:
//! 1 (a key given to `--token-env`) in tests/cli.rs
//! `a_key_passed_as_a_variable_name_is_refused_without_printing_it`; 5 (nothing the provider
//! rejects is saved) in tests/cli.rs `a_refused_key_leaves_the_saved_working_key_in_place`
//! and `errors_have_a_class_advice_and_exit_code`; 13 (`sync` before `configure`) in
//! tests/cli.rs `errors_have_a_class_advice_and_exit_code` and tests/e2e.rs
//! `sync_before_configure_is_not_configured_and_records_no_run`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use host_harness::human::thousands;
use openai_mock::{MockConfig, MockServer};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_host-harness");

// ---------------------------------------------------------------------------------------
// helpers

/// `host-harness ARGS`, with no RUST_LOG from the caller and nothing on stdin.
fn hh(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn run(c: &mut Command) -> Output {
    c.output().expect("run host-harness")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn wasm() -> String {
    connector_wasm().to_str().unwrap().to_string()
}

/// `error [class]: …` on stderr and the class's exit code.
fn assert_class(o: &Output, class: &str, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "{class}: {}{}",
        stdout(o),
        stderr(o)
    );
    assert!(
        stderr(o).contains(&format!("error [{class}]: ")),
        "{class}: {}",
        stderr(o)
    );
}

/// The `what to do:` line of an error, if any.
fn advice(o: &Output) -> Option<String> {
    stderr(o)
        .lines()
        .find_map(|l| l.strip_prefix("what to do: "))
        .map(str::to_string)
}

/// A store with both sources imported from a mock of `users` people over `days` days.
struct Imported {
    _dir: tempfile::TempDir,
    db: PathBuf,
    _mock: MockServer,
}

async fn imported(users: usize, days: u32) -> Imported {
    let keys = keys();
    let analytics = host_harness::random::key("sk-cgpt-");
    let mock = MockServer::start(MockConfig {
        analytics_key: Some(analytics.clone()),
        ..mock_config(&keys, users, days)
    })
    .await
    .unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let store = open(&db).await;
    let values = set(&[
        ("chatgpt_workspace_id", mock.workspace_id()),
        ("backfill_days", &days.to_string()),
    ]);
    harness
        .configure(
            &store,
            CONN,
            &values,
            secrets(&[
                ("api_token", &keys.admin),
                ("analytics_api_key", &analytics),
            ]),
        )
        .await
        .unwrap();
    sync(&harness, &store).await.unwrap();
    Imported {
        _dir: dir,
        db,
        _mock: mock,
    }
}

/// A store with an admin key saved (not checked live) and nothing imported.
fn configured_store(dir: &Path) -> PathBuf {
    let db = dir.join("configured.db");
    let key = host_harness::random::key("sk-admin-");
    let o = run(hh(&[
        "configure",
        "--db",
        p(&db),
        "--component",
        &wasm(),
        "--token-env",
        "NEWCOMER_KEY",
        "--no-validate",
    ])
    .env("NEWCOMER_KEY", &key));
    assert!(o.status.success(), "{}", stderr(&o));
    db
}

/// The connector's stream names, from `describe --json`.
fn stream_names() -> Vec<String> {
    let o = run(&mut hh(&["describe", "--json", "--component", &wasm()]));
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<String> = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert!(names.len() >= 7, "{names:?}");
    names
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The entries of a directory, by name.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Library log lines (tracing's format: a level word after the timestamp), which a run
/// without `-v` must not print.
fn assert_no_log_lines(what: &str, err: &str) {
    for l in err.lines() {
        for level in [" WARN ", " INFO ", " DEBUG ", " TRACE ", " ERROR "] {
            assert!(
                !l.contains(level),
                "{what}: a log line without -v: {l}\n{err}"
            );
        }
        for lib in ["wasmtime", "hyper", "rustls", "tokio"] {
            assert!(
                !l.contains(lib),
                "{what}: a library's line without -v: {l}\n{err}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// 2. advice keeps the documentation of key shapes

/// The connector's advice names the kinds of keys ("sk-proj-…", "those start with
/// sk-admin-"): the host redacts secrets, not that documentation. On the CLI and on the
/// settings page.
#[tokio::test(flavor = "multi_thread")]
async fn advice_keeps_the_documentation_of_key_shapes() {
    let keys = keys();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("shapes.db");
    let not_admin = host_harness::random::key("sk-live-");
    for (key, says) in [
        (&keys.project, "This is a project API key (sk-proj-…)"),
        (
            &not_admin,
            "This is not an OpenAI Admin API key (those start with sk-admin-)",
        ),
    ] {
        for via_env in [false, true] {
            let mut c = hh(&["configure", "--db", p(&db), "--component", &wasm()]);
            if via_env {
                c.args(["--token-env", "NEWCOMER_KEY"])
                    .env("NEWCOMER_KEY", key);
            } else {
                c.arg("--token-stdin").stdin(Stdio::piped());
            }
            let mut child = c.spawn().unwrap();
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(key.as_bytes()).unwrap();
            }
            let o = child.wait_with_output().unwrap();
            assert_class(&o, "invalid-settings", 2);
            let err = stderr(&o);
            assert!(err.contains(&format!("api_token: {says}")), "{err}");
            assert!(!err.contains("[redacted"), "over-redacted: {err}");
            assert_no_secret("configure's output", &format!("{}{err}", stdout(&o)), key);
        }
    }

    // The page: the same words on the field.
    let page_db = dir.path().join("page.db");
    let mut serve = hh(&[
        "serve",
        "--db",
        p(&page_db),
        "--component",
        &wasm(),
        "--listen",
        "127.0.0.1:0",
    ])
    .spawn()
    .unwrap();
    let mut out = BufReader::new(serve.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("Settings page: ")
        .unwrap_or_else(|| panic!("{line}"));
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let page = http(
        &host,
        &format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    let i = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    let csrf = &page[i..i + 64];
    let body = format!("csrf={csrf}&api_token={}&backfill_days=3", keys.project);
    let reply = http(
        &host,
        &format!(
            "POST /connections/default/settings HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    let location = reply
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or(l.strip_prefix("Location: "))
        })
        .unwrap_or_else(|| panic!("a redirect: {reply}"))
        .trim()
        .split('#')
        .next()
        .unwrap()
        .to_string();
    let result = http(
        &host,
        &format!("GET {location} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    );
    serve.kill().unwrap();
    serve.wait().unwrap();
    assert!(
        result.contains("This is a project API key (sk-proj-…)"),
        "{result}"
    );
    assert!(!result.contains("[redacted"), "over-redacted on the page");
    assert_no_secret("the page", &result, &keys.project);
    assert!(!open(&page_db).await.is_configured(CONN).await.unwrap());
}

/// One HTTP/1.1 exchange with `Connection: close`: the whole reply as text.
fn http(host: &str, request: &str) -> String {
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    String::from_utf8_lossy(&buf).into_owned()
}

// ---------------------------------------------------------------------------------------
// 3. the demo's own store

/// `demo --keep PATH` refuses a path that exists and leaves it as it was, byte for byte.
#[test]
fn demo_keep_refuses_an_existing_path_and_leaves_it_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let existing = dir.path().join("mine.db");
    let bytes = b"someone's store: not the demo's to touch\n".to_vec();
    std::fs::write(&existing, &bytes).unwrap();
    let o = run(hh(&[
        "demo",
        "--users",
        "5",
        "--days",
        "3",
        "--component",
        &wasm(),
        "--keep",
        p(&existing),
    ])
    .env("TMPDIR", tmp.path()));
    assert_class(&o, "usage", 2);
    assert!(
        stderr(&o).contains(p(&existing)),
        "names the path: {}",
        stderr(&o)
    );
    assert!(
        advice(&o).is_some_and(|a| a.contains("--keep")),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read(&existing).unwrap(), bytes);
    assert_eq!(entries(dir.path()), ["mine.db"]);
    assert!(entries(tmp.path()).is_empty(), "{:?}", entries(tmp.path()));
    assert!(stdout(&o).is_empty(), "nothing started: {}", stdout(&o));

    // A --keep in a directory that does not exist: said before anything starts.
    let nowhere = dir.path().join("no-such-dir").join("demo.db");
    let o = run(hh(&[
        "demo",
        "--users",
        "5",
        "--days",
        "3",
        "--component",
        &wasm(),
        "--keep",
        p(&nowhere),
    ])
    .env("TMPDIR", tmp.path()));
    assert_class(&o, "usage", 2);
    assert!(stderr(&o).contains("does not exist"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "nothing started: {}", stdout(&o));
    assert!(!nowhere.parent().unwrap().exists());
}

/// `demo` works in a store of its own: a `codex-connector.db` in the working directory is
/// left as it was, nothing is added there, and its temporary files are gone at the end.
#[test]
fn demo_uses_its_own_store_and_removes_its_temporary_files() {
    let cwd = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let theirs = cwd.path().join("codex-connector.db");
    let bytes = b"an admin's real store\n".to_vec();
    std::fs::write(&theirs, &bytes).unwrap();
    let o = run(hh(&[
        "demo",
        "--users",
        "5",
        "--days",
        "3",
        "--component",
        &wasm(),
    ])
    .current_dir(cwd.path())
    .env("TMPDIR", tmp.path()));
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("exact match"), "{}", stdout(&o));
    assert_eq!(
        std::fs::read(&theirs).unwrap(),
        bytes,
        "the demo touched a store it did not create"
    );
    assert_eq!(entries(cwd.path()), ["codex-connector.db"]);
    let left: Vec<String> = entries(tmp.path())
        .into_iter()
        .filter(|e| e.starts_with("codex-connector-demo-"))
        .collect();
    assert!(left.is_empty(), "the demo left {left:?} in TMPDIR");

    // and its help names no store of anyone's
    let o = run(&mut hh(&["demo", "--help"]));
    assert!(o.status.success());
    let help = stdout(&o);
    assert!(
        !help.contains("codex-connector.db") && !help.contains("--db"),
        "{help}"
    );
}

// ---------------------------------------------------------------------------------------
// 4. `… | head`

/// A reader that goes away after one line (`export … | head -1`) is a normal end: exit 0,
/// nothing about a broken pipe. The same for `report` and `demo`, whose lines are printed.
#[tokio::test(flavor = "multi_thread")]
async fn a_closed_pipe_is_a_normal_end() {
    let s = imported(40, 30).await;
    let usage_rows = open_existing(&s.db)
        .await
        .records(CONN, "usage")
        .await
        .unwrap()
        .len();
    assert!(usage_rows >= 1000, "enough to fill a pipe: {usage_rows}");
    for args in [
        vec!["export", "--stream", "usage"],
        vec!["export", "--stream", "usage", "--format", "csv"],
        vec!["export", "--people", "--period", "day"],
        vec!["report", "--period", "day"],
    ] {
        let mut child = hh(&args).args(["--db", p(&s.db)]).spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        assert!(!first.is_empty(), "{args:?}");
        drop(out);
        let o = child.wait_with_output().unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            !err.to_lowercase().contains("broken pipe") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
    // `demo | head -1`: the same quiet end, and its temporary files still removed
    let tmp = tempfile::tempdir().unwrap();
    let mut child = hh(&[
        "demo",
        "--users",
        "5",
        "--days",
        "3",
        "--component",
        &wasm(),
    ])
    .env("TMPDIR", tmp.path())
    .spawn()
    .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.starts_with("Demo: "), "{first}");
    drop(out);
    let o = child.wait_with_output().unwrap();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(0), "demo: {err}");
    assert!(
        !err.to_lowercase().contains("broken pipe") && !err.contains("panicked"),
        "demo: {err}"
    );
    let left: Vec<String> = entries(tmp.path())
        .into_iter()
        .filter(|e| e.starts_with("codex-connector-demo-"))
        .collect();
    assert!(left.is_empty(), "demo | head left {left:?} in TMPDIR");
}

// ---------------------------------------------------------------------------------------
// 6. usage errors: real advice or none

#[test]
fn usage_errors_give_real_advice_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let configured = configured_store(d);
    let existing = d.join("exists.db");
    std::fs::write(&existing, b"x").unwrap();
    let empty = d.join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    let missing = d.join("missing.db");
    let no_dir = d.join("no-such-dir").join("x.db");
    let key = host_harness::random::key("sk-admin-");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let w = wasm();
    let c = |args: &[&str]| hh(args);
    let mut cases: Vec<(&str, Command)> = vec![
        (
            "missing store (history)",
            c(&["history", "--db", p(&missing)]),
        ),
        (
            "missing store (report)",
            c(&["report", "--db", p(&missing)]),
        ),
        (
            "missing store (export)",
            c(&["export", "--db", p(&missing), "--stream", "usage"]),
        ),
        (
            "no directory (sync)",
            c(&["sync", "--db", p(&no_dir), "--component", &w]),
        ),
        (
            "key as a variable name",
            c(&[
                "configure",
                "--db",
                p(&configured),
                "--component",
                &w,
                "--token-env",
                &key,
            ]),
        ),
        (
            "unset variable",
            c(&[
                "configure",
                "--db",
                p(&configured),
                "--component",
                &w,
                "--token-env",
                "NEWCOMER_UNSET_VARIABLE",
            ]),
        ),
        (
            "--secret-env without =",
            c(&[
                "configure",
                "--db",
                p(&configured),
                "--component",
                &w,
                "--secret-env",
                "api_token",
            ]),
        ),
        (
            "--set without =",
            c(&[
                "configure",
                "--db",
                p(&configured),
                "--component",
                &w,
                "--set",
                "backfill_days",
            ]),
        ),
        (
            "empty stdin",
            c(&[
                "configure",
                "--db",
                p(&configured),
                "--component",
                &w,
                "--token-stdin",
            ]),
        ),
        (
            "bad redirect",
            c(&[
                "validate",
                "--db",
                p(&configured),
                "--component",
                &w,
                "--redirect",
                "api.openai.com",
            ]),
        ),
        (
            "plain http beyond loopback",
            c(&[
                "validate",
                "--db",
                p(&configured),
                "--component",
                &w,
                "--redirect",
                "api.openai.com=http://10.1.2.3:8080",
            ]),
        ),
        (
            "no component",
            c(&["describe", "--component", p(&d.join("none.wasm"))]),
        ),
        (
            "unknown stream (sync)",
            c(&[
                "sync",
                "--db",
                p(&configured),
                "--component",
                &w,
                "--stream",
                "invoices",
            ]),
        ),
        (
            "unknown stream (export, nothing imported)",
            c(&["export", "--db", p(&configured), "--stream", "invoices"]),
        ),
        ("not a store", c(&["history", "--db", p(&existing)])),
        ("an empty file", c(&["report", "--db", p(&empty)])),
        (
            "demo --keep exists",
            c(&["demo", "--component", &w, "--keep", p(&existing)]),
        ),
        (
            "mock beyond loopback",
            c(&["mock-openai", "--listen", "0.0.0.0:0"]),
        ),
        (
            "mock on a taken port",
            c(&["mock-openai", "--listen", &addr]),
        ),
        (
            "serve on a taken port",
            c(&[
                "serve",
                "--db",
                p(&d.join("serve.db")),
                "--component",
                &w,
                "--listen",
                &addr,
            ]),
        ),
    ];
    for (what, cmd) in &mut cases {
        let o = run(cmd);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{what}: {}{err}", stdout(&o));
        assert!(
            err.contains("error [usage]: ") || err.contains("error [invalid-settings]: "),
            "{what}: {err}"
        );
        let lower = err.to_lowercase();
        assert!(
            !lower.contains("message above") && !lower.contains("see above"),
            "{what}: advice that points nowhere: {err}"
        );
        if let Some(a) = advice(&o) {
            assert!(a.len() > 12, "{what}: advice that says nothing: {a:?}");
        }
        assert_no_secret(*what, &format!("{}{err}", stdout(&o)), &key);
    }
    // (a reading command left the files it refused as they were)
    assert_eq!(std::fs::read(&existing).unwrap(), b"x");
    assert_eq!(std::fs::read(&empty).unwrap(), b"");
    // and as JSON
    let o = run(&mut hh(&["history", "--json", "--db", p(&missing)]));
    assert_eq!(o.status.code(), Some(2));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["class"], "usage");
    assert!(
        !v["error"]["advice"]
            .as_str()
            .unwrap_or("")
            .contains("above"),
        "{v}"
    );
    drop(taken);
}

// ---------------------------------------------------------------------------------------
// 7. --db in a directory that does not exist

#[test]
fn a_store_in_a_missing_directory_is_usage_and_says_to_create_it() {
    let dir = tempfile::tempdir().unwrap();
    let parent = dir.path().join("no").join("such");
    let db = parent.join("x.db");
    let key = host_harness::random::key("sk-admin-");
    let w = wasm();
    // commands that create the store: create the directory
    for args in [
        vec!["sync", "--component", &w],
        vec![
            "configure",
            "--component",
            &w,
            "--token-env",
            "NEWCOMER_KEY",
            "--no-validate",
        ],
    ] {
        let o = run(hh(&args).args(["--db", p(&db)]).env("NEWCOMER_KEY", &key));
        assert_class(&o, "usage", 2);
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "the store's directory {} does not exist",
                parent.display()
            )),
            "{args:?}: {err}"
        );
        assert!(
            advice(&o).is_some_and(|a| a.contains(&format!("mkdir -p {}", parent.display()))),
            "{args:?}: {err}"
        );
        assert!(!err.contains("internal"), "{err}");
    }
    // commands that only read one: no store there, and why
    for args in [
        vec!["validate", "--component", &w],
        vec!["history"],
        vec!["report"],
        vec!["export", "--stream", "usage"],
    ] {
        let o = run(hh(&args).args(["--db", p(&db)]));
        assert_class(&o, "usage", 2);
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "there is no store at {}: the directory {} does not exist",
                db.display(),
                parent.display()
            )),
            "{args:?}: {err}"
        );
    }
    assert!(!dir.path().join("no").exists(), "nothing created");
}

// ---------------------------------------------------------------------------------------
// 8. an unreachable host

/// A connection refused (a closed port behind `--redirect`) and a name that does not
/// resolve: class network (exit 6), the host and the redirect target named, what to check,
/// at once (no long retrying), and no library warnings without `-v`.
#[test]
fn an_unreachable_host_is_network_named_and_quick() {
    let dir = tempfile::tempdir().unwrap();
    let db = configured_store(dir.path());
    let port = closed_port();
    let refused = format!("http://127.0.0.1:{port}");
    let unresolvable = "https://nonexistent.invalid".to_string();
    let w = wasm();
    for target in [&refused, &unresolvable] {
        for command in ["validate", "sync"] {
            let redirect = format!("api.openai.com={target}");
            let started = Instant::now();
            let o = run(&mut hh(&[
                command,
                "--db",
                p(&db),
                "--component",
                &w,
                "--redirect",
                &redirect,
            ]));
            let took = started.elapsed();
            assert_class(&o, "network", 6);
            let err = stderr(&o);
            let message = err
                .lines()
                .find(|l| l.starts_with("error [network]: "))
                .unwrap();
            assert!(
                message.contains("api.openai.com"),
                "names the host: {message}"
            );
            assert!(
                message.contains(target.as_str()),
                "names the redirect target: {message}"
            );
            let a = advice(&o).unwrap_or_default();
            assert!(
                a.contains("network") && a.contains("--redirect"),
                "{command} → {target}: {a}"
            );
            assert!(
                took < Duration::from_secs(10),
                "{command} → {target} took {took:?}"
            );
            assert_no_log_lines(command, &err);
            if target == &unresolvable {
                assert!(
                    message.contains("resolve"),
                    "says the name did not resolve: {message}"
                );
            }
        }
    }
    // --json: the same class, as JSON on stdout
    let o = run(&mut hh(&[
        "sync",
        "--json",
        "--db",
        p(&db),
        "--component",
        &w,
        "--redirect",
        &format!("api.openai.com={refused}"),
    ]));
    assert_eq!(o.status.code(), Some(6));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["error"]["class"], "network");
}

// ---------------------------------------------------------------------------------------
// 9. a port in use

#[test]
fn a_port_in_use_is_usage_naming_the_address_and_listen() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let w = wasm();
    for args in [
        vec![
            "serve",
            "--db",
            p(&dir.path().join("s.db")),
            "--component",
            &w,
            "--listen",
            &addr,
        ],
        vec!["mock-openai", "--listen", &addr],
    ] {
        let o = run(&mut hh(&args));
        assert_class(&o, "usage", 2);
        let err = stderr(&o);
        assert!(
            err.contains(&format!("the address {addr} is already in use")),
            "{args:?}: {err}"
        );
        assert!(
            advice(&o).is_some_and(|a| a.contains("--listen")),
            "{args:?}: {err}"
        );
    }
    drop(taken);
}

// ---------------------------------------------------------------------------------------
// 10. export of an unknown stream

#[tokio::test(flavor = "multi_thread")]
async fn export_of_an_unknown_stream_lists_the_streams() {
    let s = imported(5, 3).await;
    let o = run(&mut hh(&["export", "--db", p(&s.db), "--stream", "foo"]));
    assert_class(&o, "usage", 2);
    let message = stderr(&o).lines().next().unwrap_or("").to_string();
    assert!(message.contains("\"foo\""), "{message}");
    for name in stream_names() {
        assert!(message.contains(&name), "lists {name}: {message}");
    }
    // before anything is imported: says so, and what to run
    let empty = tempfile::tempdir().unwrap();
    let db = configured_store(empty.path());
    let o = run(&mut hh(&["export", "--db", p(&db), "--stream", "usage"]));
    assert_class(&o, "usage", 2);
    assert!(
        stderr(&o).contains("nothing imported yet"),
        "{}",
        stderr(&o)
    );
    assert!(
        advice(&o).is_some_and(|a| a.contains("sync")),
        "{}",
        stderr(&o)
    );
}

// ---------------------------------------------------------------------------------------
// 11. reading commands and a missing store

#[test]
fn reading_commands_refuse_a_missing_store_naming_it_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("typo.db");
    for args in [
        vec!["history"],
        vec!["report"],
        vec!["export", "--stream", "usage"],
        vec!["export", "--people"],
        vec!["history", "--json"],
        vec!["report", "--json"],
    ] {
        let o = run(hh(&args).args(["--db", p(&db)]));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        let text = if args.contains(&"--json") {
            let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
            assert_eq!(v["error"]["class"], "usage");
            v["error"]["message"].as_str().unwrap().to_string()
        } else {
            assert_class(&o, "usage", 2);
            stderr(&o)
        };
        assert!(
            text.contains(&format!("there is no store at {}", db.display())),
            "{args:?}: {text}"
        );
        assert!(
            entries(dir.path()).is_empty(),
            "{args:?} created {:?}",
            entries(dir.path())
        );
    }
}

// ---------------------------------------------------------------------------------------
// 12. report on an empty store

#[test]
fn report_on_an_empty_store_says_nothing_imported_yet() {
    let dir = tempfile::tempdir().unwrap();
    // configured, never synced
    let db = configured_store(dir.path());
    let o = run(&mut hh(&["report", "--db", p(&db)]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.to_lowercase().contains("nothing imported yet") && out.contains("sync"),
        "{out}"
    );
    assert!(
        !out.contains('?') && !out.contains('│'),
        "no empty table: {out}"
    );
    // a sync that failed imports nothing either
    let redirect = format!("api.openai.com=http://127.0.0.1:{}", closed_port());
    let o = run(&mut hh(&[
        "sync",
        "--db",
        p(&db),
        "--component",
        &wasm(),
        "--redirect",
        &redirect,
    ]));
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let o = run(&mut hh(&["report", "--db", p(&db)]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.to_lowercase().contains("nothing imported yet") && !out.contains('?'),
        "{out}"
    );
    // a store that holds nothing at all (made by a sync before configure)
    let bare = dir.path().join("bare.db");
    let o = run(&mut hh(&["sync", "--db", p(&bare), "--component", &wasm()]));
    assert_class(&o, "not-configured", 8);
    let o = run(&mut hh(&["report", "--db", p(&bare)]));
    let text = format!("{}{}", stdout(&o), stderr(&o));
    assert!(
        text.to_lowercase().contains("nothing imported yet") && text.contains("sync"),
        "{text}"
    );
    assert!(!text.contains('?') && !text.contains('│'), "{text}");
}

// ---------------------------------------------------------------------------------------
// 14. each command's options, with help

/// The option lines of a `--help`: (flags, help text). Clap prints the text beside the
/// flags, or (when some help is long) on the lines below them.
fn options(help: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut in_options = false;
    for l in help.lines() {
        if l == "Options:" {
            in_options = true;
            continue;
        }
        if in_options && !l.is_empty() && !l.starts_with(' ') {
            in_options = false;
        }
        if !in_options || l.trim().is_empty() {
            continue;
        }
        let t = l.trim_start();
        // Flags are indented by at most 6 spaces, text on its own line by more.
        if !t.starts_with('-') || l.len() - t.len() > 6 {
            // The text of the flags above, on its own line.
            if let Some(last) = out.last_mut() {
                last.1 = format!("{} {}", last.1, t.trim()).trim().to_string();
            }
            continue;
        }
        let (flags, text) = t.split_once("  ").unwrap_or((t, ""));
        out.push((flags.trim().to_string(), text.trim().to_string()));
    }
    out
}

fn help_of(command: &str) -> String {
    let o = run(&mut hh(&[command, "--help"]));
    assert!(o.status.success(), "{command} --help: {}", stderr(&o));
    stdout(&o)
}

/// The help text of `--name` in `command --help`.
fn option_help(command: &str, name: &str) -> String {
    options(&help_of(command))
        .into_iter()
        .find(|(f, _)| f.split([',', ' ']).any(|w| w == name))
        .unwrap_or_else(|| panic!("{command} has no {name}"))
        .1
}

#[test]
fn each_command_takes_its_own_options_and_every_option_has_help() {
    let o = run(&mut hh(&["--help"]));
    let top = stdout(&o);
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_string)
        .collect();
    for want in [
        "describe",
        "configure",
        "validate",
        "sync",
        "history",
        "export",
        "report",
        "mock-openai",
        "demo",
        "serve",
    ] {
        assert!(commands.iter().any(|c| c == want), "{want} in {commands:?}");
    }
    for command in &commands {
        let opts = options(&help_of(command));
        assert!(!opts.is_empty(), "{command}");
        for (flags, text) in &opts {
            assert!(!text.is_empty(), "{command} {flags} has no help text");
        }
    }
    // options that do not apply are not offered
    let flags = |c: &str| {
        options(&help_of(c))
            .into_iter()
            .map(|(f, _)| f)
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (command, foreign) in [
        (
            "mock-openai",
            &["--db", "--component", "--json", "--redirect"][..],
        ),
        ("demo", &["--db", "--json"][..]),
        ("serve", &["--json"][..]),
        ("export", &["--json", "--component", "--redirect"][..]),
        ("history", &["--component", "--redirect"][..]),
        ("report", &["--component", "--redirect"][..]),
        ("describe", &["--db"][..]),
    ] {
        let f = flags(command);
        for x in foreign {
            assert!(
                !f.split([' ', ',']).any(|w| w == *x),
                "{command} offers {x}: {f}"
            );
        }
    }
    // enumerations list their values, ranges are stated
    let stream = option_help("export", "--stream");
    for name in stream_names() {
        assert!(
            stream.contains(&name),
            "export --stream lists {name}: {stream}"
        );
    }
    let format = option_help("export", "--format");
    assert!(
        format.contains("ndjson") && format.contains("csv"),
        "{format}"
    );
    for command in ["report", "export"] {
        let period = option_help(command, "--period");
        assert!(
            ["all", "day", "week"].iter().all(|v| period.contains(v)),
            "{command}: {period}"
        );
    }
    let limit = option_help("history", "--limit");
    assert!(
        limit.contains("1–10000") || limit.contains("1-10000"),
        "{limit}"
    );
    let listen = options(&help_of("mock-openai"))
        .into_iter()
        .find(|(f, _)| f.starts_with("--listen"))
        .unwrap();
    assert!(
        listen.0.contains("ADDR:PORT") && listen.1.to_lowercase().contains("loopback"),
        "{listen:?}"
    );
    assert!(option_help("mock-openai", "--users").contains("1–10000"));
    assert!(option_help("mock-openai", "--days").contains("1–365"));
    assert!(option_help("mock-openai", "--seed").contains("whole number"));
    // 5: --no-validate exists and says what it skips
    let nv = option_help("configure", "--no-validate");
    assert!(nv.contains("live check") && nv.contains("provider"), "{nv}");
    // 1: --token-env says it takes a name
    assert!(option_help("configure", "--token-env").contains("NAME"));
}

// ---------------------------------------------------------------------------------------
// 15. --json honoured or rejected

#[tokio::test(flavor = "multi_thread")]
async fn json_is_honoured_or_refused() {
    let dir = tempfile::tempdir().unwrap();
    let w = wasm();
    // refused by the parser, before anything runs
    for args in [
        vec!["demo", "--json", "--users", "5", "--days", "3"],
        vec!["serve", "--json", "--listen", "127.0.0.1:0"],
        vec!["mock-openai", "--json", "--listen", "127.0.0.1:0"],
        vec!["export", "--json", "--stream", "usage"],
    ] {
        let o = run(hh(&args).current_dir(dir.path()));
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}{}",
            stdout(&o),
            stderr(&o)
        );
        assert!(stderr(&o).contains("--json"), "{args:?}: {}", stderr(&o));
        assert!(stdout(&o).is_empty(), "{args:?}");
    }
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
    // honoured by those that take it
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 3)).await.unwrap();
    let db = dir.path().join("j.db");
    let redirect = format!("api.openai.com={}", mock.base_url());
    let json = |args: &[&str], env: &[(&str, &str)]| {
        let o = run(hh(args).envs(env.iter().copied()));
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_str::<Value>(&stdout(&o))
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)))
    };
    json(&["describe", "--json", "--component", &w], &[]);
    let v = json(
        &[
            "configure",
            "--json",
            "--db",
            p(&db),
            "--component",
            &w,
            "--redirect",
            &redirect,
            "--token-env",
            "NEWCOMER_KEY",
            "--set",
            "backfill_days=3",
        ],
        &[("NEWCOMER_KEY", &keys.admin)],
    );
    assert_eq!(v["ok"], true);
    let v = json(
        &[
            "configure",
            "--json",
            "--db",
            p(&db),
            "--component",
            &w,
            "--no-validate",
        ],
        &[],
    );
    assert_eq!(v["validated"], false);
    json(
        &[
            "validate",
            "--json",
            "--db",
            p(&db),
            "--component",
            &w,
            "--redirect",
            &redirect,
        ],
        &[],
    );
    let v = json(
        &[
            "sync",
            "--json",
            "--db",
            p(&db),
            "--component",
            &w,
            "--redirect",
            &redirect,
        ],
        &[],
    );
    assert_eq!(v["ok"], true);
    let v = json(&["history", "--json", "--db", p(&db)], &[]);
    assert_eq!(v.as_array().unwrap().len(), 1);
    let v = json(&["report", "--json", "--db", p(&db)], &[]);
    assert!(v["people"].is_array());
}

// ---------------------------------------------------------------------------------------
// 16. numbers

/// A number cell as people read it: digits grouped by thousands (`1,234,567`), credits
/// with a fraction (`12,345.25`).
fn grouped(cell: &str) -> bool {
    let whole = cell.split_once('.').map_or(cell, |(w, f)| {
        assert!(f.bytes().all(|b| b.is_ascii_digit()), "{cell}");
        w
    });
    let groups: Vec<&str> = whole.split(',').collect();
    !groups[0].is_empty()
        && groups[0].len() <= 3
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
        && groups[1..].iter().all(|g| g.len() == 3)
}

fn number(cell: &str) -> u64 {
    cell.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("{cell:?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn human_numbers_are_grouped_and_the_report_totals_tokens_beside_names() {
    let s = imported(40, 30).await;
    let db = p(&s.db);

    // history: the counts grouped
    let runs: Value =
        serde_json::from_str(&stdout(&run(&mut hh(&["history", "--json", "--db", db])))).unwrap();
    let inserted: u64 = runs[0]["streams"]
        .as_object()
        .unwrap()
        .values()
        .map(|s| s["inserted"].as_u64().unwrap())
        .sum();
    assert!(inserted >= 1000, "{inserted}");
    let o = run(&mut hh(&["history", "--db", db]));
    let text = stdout(&o);
    let row = text
        .lines()
        .find(|l| l.trim_start().starts_with("1 "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        row.contains(&format!(" {} ", thousands(inserted))),
        "grouped: {row}"
    );
    assert!(!row.contains(&format!(" {inserted} ")), "{row}");
    let usage = runs[0]["streams"]["usage"]["inserted"].as_u64().unwrap();
    assert!(text.contains(&format!("+{} ", thousands(usage))), "{text}");

    // report: a total-tokens column (the API-key path's tokens plus the ChatGPT path's
    // input and output), names beside emails, every number grouped
    let v: Value =
        serde_json::from_str(&stdout(&run(&mut hh(&["report", "--json", "--db", db])))).unwrap();
    let o = run(&mut hh(&["report", "--db", db]));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let header = text
        .lines()
        .find(|l| l.starts_with("person "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(header.contains("total tokens"), "{header}");
    let mut named = 0;
    let mut big = 0;
    for person in v["people"].as_array().unwrap() {
        let email = person["email"].as_str().unwrap();
        let shown = match person["name"].as_str() {
            Some(n) => {
                named += 1;
                format!("{n} <{email}>")
            }
            None => email.to_string(),
        };
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{shown} ")))
            .unwrap_or_else(|| panic!("{shown} in\n{text}"));
        let parts: Vec<&str> = line.split('│').collect();
        assert_eq!(parts.len(), 5, "{line}");
        let cells: Vec<&str> = parts[1..]
            .iter()
            .flat_map(|p| p.split_whitespace())
            .collect();
        for c in &cells {
            assert!(grouped(c), "{c:?} in {line}");
            big += usize::from(c.contains(','));
        }
        let api_tokens = person["api_key"]["tokens"].as_u64().unwrap();
        let t = &person["chatgpt"]["tokens"];
        let chat = t["text_input_tokens"].as_u64().unwrap_or(0)
            + t["text_output_tokens"].as_u64().unwrap_or(0);
        let total = number(parts[3].trim());
        assert_eq!(total, api_tokens + chat, "{line}");
        assert_eq!(number(cells[1]), api_tokens, "{line}");
    }
    assert!(named > 0, "names from the directory beside emails:\n{text}");
    assert!(big > 0, "some numbers have thousands:\n{text}");
}

// ---------------------------------------------------------------------------------------
// 17. the demo's closing hint

/// The commands the demo prints at the end work as printed from the repository root:
/// `cargo run --release -q -p host-harness -- ARGS` is this binary with ARGS (the package's
/// only binary), so each is run here as `host-harness ARGS` in the workspace root, even
/// when `--keep` was given relative to another directory.
#[test]
fn the_demos_closing_hint_works_from_the_repository_root() {
    const RUN: &str = "  cargo run --release -q -p host-harness -- ";
    let manifest = std::fs::read_to_string(workspace().join("host-harness/Cargo.toml")).unwrap();
    assert_eq!(
        manifest.matches("[[bin]]").count(),
        1,
        "`cargo run -p host-harness` is unambiguous"
    );
    assert!(manifest.contains("name = \"host-harness\""));

    let cwd = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let o = run(hh(&[
        "demo",
        "--users",
        "5",
        "--days",
        "3",
        "--component",
        &wasm(),
        "--keep",
        "kept.db",
    ])
    .current_dir(cwd.path())
    .env("TMPDIR", tmp.path()));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let hints: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix(RUN)).collect();
    assert_eq!(hints.len(), 5, "{text}");
    let kept = cwd.path().join("kept.db").canonicalize().unwrap();
    let out_csv = tmp.path().join("usage.csv");
    let out_svg = tmp.path().join("charts.svg");
    for hint in hints {
        let mut args: Vec<String> = hint.split_whitespace().map(str::to_string).collect();
        let i = args.iter().position(|a| a == "--db").unwrap();
        assert_eq!(
            Path::new(&args[i + 1]).canonicalize().unwrap(),
            kept,
            "{hint}"
        );
        if let Some(o) = args.iter().position(|a| a == "--out") {
            assert!(args[o + 1].starts_with("/tmp/"), "{hint}");
            args[o + 1] = p(&out_csv).to_string(); // (a file of this test's own)
        }
        if let Some(o) = args.iter().position(|a| a == "--chart") {
            assert!(args[o + 1].starts_with("/tmp/"), "{hint}");
            args[o + 1] = p(&out_svg).to_string();
        }
        let o = run(Command::new(BIN)
            .args(&args)
            .current_dir(workspace())
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped()));
        assert!(o.status.success(), "{hint}: {}", stderr(&o));
        match args[0].as_str() {
            "history" => assert!(stdout(&o).contains("succeeded"), "{}", stdout(&o)),
            "report" => assert!(stdout(&o).contains("@example.com"), "{}", stdout(&o)),
            // (the demo's sample repository was kept beside the store)
            "delivery" => assert!(stdout(&o).contains("kept.sample-repo"), "{}", stdout(&o)),
            "export" => assert!(std::fs::read_to_string(&out_csv)
                .unwrap()
                .starts_with("bucket_start,")),
            other => panic!("unexpected hint {other}"),
        }
    }
    assert!(std::fs::read_to_string(&out_svg)
        .unwrap()
        .contains("data-chart=\"cohorts\""));

    // Without --keep, the hint is the command that keeps one.
    let o = run(hh(&[
        "demo",
        "--users",
        "5",
        "--days",
        "3",
        "--component",
        &wasm(),
    ])
    .current_dir(cwd.path())
    .env("TMPDIR", tmp.path()));
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    let hint = text
        .lines()
        .find_map(|l| l.strip_prefix(RUN))
        .unwrap_or_else(|| panic!("{text}"));
    let mut args: Vec<String> = hint.split_whitespace().map(str::to_string).collect();
    assert_eq!(args[0], "demo", "{hint}");
    let k = args.iter().position(|a| a == "--keep").unwrap();
    assert!(args[k + 1].starts_with("/tmp/"), "{hint}");
    let second = tmp.path().join("second.db");
    args[k + 1] = p(&second).to_string();
    args.extend(["--component".to_string(), wasm()]);
    let o = run(Command::new(BIN)
        .args(&args)
        .current_dir(workspace())
        .env("TMPDIR", tmp.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped()));
    assert!(o.status.success(), "{hint}: {}", stderr(&o));
    let runs = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async { open_existing(&second).await.runs(CONN, 1).await.unwrap() });
    assert!(runs.len() == 1);
}

// ---------------------------------------------------------------------------------------
// 18. files a newcomer creates

#[test]
fn files_a_newcomer_creates_are_git_ignored_and_the_readme_writes_to_tmp() {
    let root = workspace();
    for file in [
        "key.txt",
        "usage.csv",
        "codex-connector-demo.keys.txt",
        "my-demo.keys.txt",
        "codex-connector.db",
        "codex-connector.db-wal",
        "codex-connector-demo.db",
        "host-harness/key.txt",
    ] {
        let o = Command::new("git")
            .args(["check-ignore", "-q", "--no-index", file])
            .current_dir(&root)
            .output()
            .expect("run git");
        assert_eq!(
            o.status.code(),
            Some(0),
            "{file} is not git-ignored: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // Every file the README's steps write is under /tmp.
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mut seen = 0;
    for line in readme.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        for (i, w) in words.iter().enumerate() {
            if [
                "--admin-key-file",
                "--out",
                "--ground-truth",
                "--keep",
                "<",
                ">",
            ]
            .contains(w)
            {
                let Some(path) = words.get(i + 1) else {
                    continue;
                };
                let path = path.trim_matches(|c| matches!(c, '`' | ',' | ')' | '.' | ';'));
                if path == "PATH" || path == "FILE" {
                    continue;
                }
                assert!(
                    path.starts_with("/tmp/"),
                    "the README writes {path} outside /tmp: {line}"
                );
                seen += 1;
            }
        }
    }
    assert!(
        seen >= 3,
        "the README's steps name the files they write ({seen})"
    );
}
