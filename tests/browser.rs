//! The settings page in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver against `serve` and the OpenAI mock.
//!
//! Flow: a project key → the not-admin message; an admin key → connected with both
//! capabilities; Sync now → a new history row with the ground-truth record counts; reload →
//! the token is nowhere in the page source. A screenshot of each step goes to
//! `target/browser-test/`; with `UPDATE_DOCS_SCREENSHOT=1` the synced page is copied to
//! `docs/settings-page.png`.
//!
//! Beside it, plain-HTTP tests of what the page must refuse: cross-site posts, a foreign
//! `Host`, a non-loopback bind without a password, requests without the password; and the
//! "no Codex usage" notice.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use host_harness::scheduler::ScheduleConfig;
use host_harness::serve::{ServeOptions, Server};
use host_harness::store::Store;
use openai_mock::MockServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/browser-test");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver on a free loopback port; killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    assert!(
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists(),
        "install Debian's chromium and chromium-driver (`.ci/run` does)"
    );
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .arg("--allowed-ips=127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver = Driver { child, port };
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    driver
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1000",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("connect to chromedriver")
}

/// A screenshot of the whole page (the window grows to the page's height first).
async fn shot(c: &Client, name: &str) -> PathBuf {
    let height = c
        .execute(
            "return Math.ceil(document.documentElement.scrollHeight);",
            vec![],
        )
        .await
        .ok()
        .and_then(|v| v.as_u64())
        .unwrap_or(1000)
        .clamp(600, 6000) as u32;
    c.set_window_size(1280, height + 90).await.unwrap();
    c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let png = c.screenshot().await.unwrap();
    let path = out_dir().join(name);
    std::fs::write(&path, png).unwrap();
    path
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + timeout;
    while !f().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn fill(c: &Client, id: &str, value: &str) {
    let e = c.find(Locator::Id(id)).await.unwrap();
    e.clear().await.unwrap();
    e.send_keys(value).await.unwrap();
}

fn serve_options(db: PathBuf) -> ServeOptions {
    ServeOptions {
        db,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        schedule: ScheduleConfig {
            every: Duration::from_secs(3600),
            jitter: 0.1,
        },
        admin_password: None,
    }
}

fn api_keys_in(mock: &MockServer) -> u64 {
    // "… api_keys=78 (service accounts 2) …"
    let summary = mock.dataset_summary();
    let n = summary
        .split("api_keys=")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .expect("api_keys in the mock's summary");
    n
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_page_in_a_real_browser() {
    let keys = keys();
    let (users, days) = (40usize, 90u32);
    let config = mock_config(&keys, users, days);
    let projects = config.projects as u64;
    let mock = MockServer::start(config).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    let url = server.url();

    let truth_rows = mock.ground_truth().rows.len() as u64;
    let api_keys = api_keys_in(&mock);
    let expected = Expected {
        truth_rows,
        users: users as u64,
        projects,
        api_keys,
        days,
    };

    let driver = start_driver().await;
    let c = browser(&driver, &dir.path().join("profile")).await;
    // The flow runs in a task so that the browser is closed even when an assertion fails.
    let flow = tokio::spawn(browser_flow(c.clone(), url, db.clone(), keys, expected)).await;
    let _ = c.close().await;
    drop(driver);
    if let Err(e) = flow {
        std::panic::resume_unwind(e.into_panic());
    }
    server.shutdown().await;
    let store = Store::open(&db).unwrap();
    let runs = store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, "ui");
    assert_eq!(store.record_count("usage").unwrap(), truth_rows);
}

struct Expected {
    truth_rows: u64,
    users: u64,
    projects: u64,
    api_keys: u64,
    days: u32,
}

async fn browser_flow(c: Client, url: String, db: PathBuf, keys: Keys, expected: Expected) {
    let Expected {
        truth_rows,
        users,
        projects,
        api_keys,
        days,
    } = expected;
    let mut sources = String::new();

    // 0. The empty page: the form from describe(), no token anywhere.
    c.goto(&url).await.unwrap();
    let title = c.title().await.unwrap();
    assert!(title.contains("OpenAI Codex Settings"), "{title}");
    let label = text_of(&c, "label[for=f-api_token]").await;
    assert!(label.starts_with("API Token"), "{label}");
    let token_input = c.find(Locator::Id("f-api_token")).await.unwrap();
    assert_eq!(
        token_input.attr("type").await.unwrap().as_deref(),
        Some("password")
    );
    assert!(text_of(&c, "#connection").await.contains("api.openai.com"));
    shot(&c, "01-empty.png").await;

    // 1. A project key: refused with what to do; nothing stored.
    fill(&c, "f-api_token", &keys.project).await;
    fill(&c, "f-backfill_days", &days.to_string()).await;
    c.find(Locator::Id("save"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait().for_element(Locator::Id("result")).await.unwrap();
    let banner = text_of(&c, "#result").await;
    assert!(banner.contains("project key"), "{banner}");
    assert!(banner.contains("Manage → Admin API Keys"), "{banner}");
    assert!(
        text_of(&c, ".field.has-error")
            .await
            .contains("project API key"),
        "the API Token field says what is wrong"
    );
    let value = c
        .find(Locator::Id("f-api_token"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        value.as_deref(),
        Some(""),
        "the token is never filled back in"
    );
    assert!(Store::open(&db).unwrap().token().unwrap().is_none());
    sources.push_str(&c.source().await.unwrap());
    shot(&c, "02-project-key.png").await;

    // 2. The admin key: saved, connected with both capabilities.
    fill(&c, "f-api_token", &keys.admin).await;
    fill(&c, "f-backfill_days", &days.to_string()).await;
    c.find(Locator::Id("save"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("the connected state", Duration::from_secs(30), || async {
        text_of(&c, "#conn-state").await == "Connected"
    })
    .await;
    let caps = c.find_all(Locator::Css("li.cap")).await.unwrap();
    let mut granted = Vec::new();
    for cap in &caps {
        granted.push((
            cap.attr("data-capability")
                .await
                .unwrap()
                .unwrap_or_default(),
            cap.attr("data-granted").await.unwrap().unwrap_or_default(),
        ));
    }
    assert_eq!(
        granted,
        vec![
            ("usage-read".to_string(), "true".to_string()),
            ("directory-read".to_string(), "true".to_string())
        ]
    );
    let banner = text_of(&c, "#result").await;
    assert!(banner.contains("Saved and connected"), "{banner}");
    let redacted = host_harness::redact::redacted_form(&keys.admin);
    assert!(text_of(&c, "#settings").await.contains(&redacted));
    assert_eq!(
        Store::open(&db).unwrap().token().unwrap().as_deref(),
        Some(keys.admin.as_str())
    );
    sources.push_str(&c.source().await.unwrap());
    shot(&c, "03-connected.png").await;

    // 3. Sync now: a new history row with the ground-truth record counts.
    let rows_before = c.find_all(Locator::Css("tr.run")).await.unwrap().len();
    assert_eq!(rows_before, 0);
    c.find(Locator::Id("sync-now"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until("a finished import row", Duration::from_secs(60), || async {
        match c.find(Locator::Css("tr.run")).await {
            Ok(row) => {
                let status = row.attr("data-status").await.unwrap_or_default();
                matches!(status.as_deref(), Some("succeeded" | "failed"))
            }
            Err(_) => false,
        }
    })
    .await;
    let rows = c.find_all(Locator::Css("tr.run")).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    let attr = |name: &'static str| async move {
        row.attr(name)
            .await
            .unwrap()
            .unwrap_or_default()
            .parse::<u64>()
            .unwrap_or(u64::MAX)
    };
    assert_eq!(
        row.attr("data-status").await.unwrap().as_deref(),
        Some("succeeded"),
        "{}",
        row.text().await.unwrap()
    );
    assert_eq!(attr("data-usage-added").await, truth_rows, "usage lines");
    assert_eq!(attr("data-users-added").await, users, "users");
    assert_eq!(attr("data-projects-added").await, projects, "projects");
    assert_eq!(attr("data-api-keys-added").await, api_keys, "api keys");
    assert_eq!(
        attr("data-added").await,
        truth_rows + users + projects + api_keys
    );
    assert_eq!(attr("data-updated").await, 0);
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains("Sync now"), "{row_text}");
    // The Codex usage view: people by email, models, the attributed share.
    let people = text_of(&c, "#per-person").await;
    assert!(people.contains('@'), "{people}");
    assert!(text_of(&c, "#per-model").await.contains("codex"));
    assert!(text_of(&c, "#attributed").await.ends_with('%'));
    sources.push_str(&c.source().await.unwrap());
    let synced = shot(&c, "04-synced.png").await;

    // 4. Reload: the token is not in the page source (nor any 8-character slice of it).
    c.refresh().await.unwrap();
    c.wait()
        .for_element(Locator::Id("history-table"))
        .await
        .unwrap();
    let source = c.source().await.unwrap();
    assert!(source.contains(&redacted));
    sources.push_str(&source);
    assert_no_secret("the page sources", &sources, &keys.admin);
    assert_no_secret("the page sources", &sources, &keys.project);
    shot(&c, "05-reloaded.png").await;

    if std::env::var_os("UPDATE_DOCS_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&synced, docs.join("settings-page.png")).unwrap();
    }
}

// ------------------------------------------------------------------------------- plain HTTP

struct Reply {
    status: u16,
    headers: String,
    body: String,
}

async fn http(addr: SocketAddr, request: &str) -> Reply {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        headers: head.to_ascii_lowercase(),
        body: body.to_string(),
    }
}

fn get(host: &str, path: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
}

fn post(host: &str, path: &str, extra: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
        body.len()
    )
}

fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    page[i..i + 64].to_string()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_cross_site_posts_foreign_hosts_and_escapes() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 3)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    let addr = server.addr();
    let host = format!("127.0.0.1:{}", addr.port());

    let page = http(addr, &get(&host, "/", "")).await;
    assert_eq!(page.status, 200);
    assert!(page
        .headers
        .contains("content-security-policy: default-src 'none'"));
    assert!(page.headers.contains("x-frame-options: deny"));
    let csrf = csrf_of(&page.body);
    let save = |token: &str, pattern: &str| {
        format!(
            "csrf={csrf}&api_token={}&backfill_days=3&codex_model_pattern={}",
            urlencode(token),
            urlencode(pattern)
        )
    };

    // A DNS-rebinding page reaches the loopback port under a foreign name: refused.
    let r = http(addr, &get("attacker.example:80", "/", "")).await;
    assert_eq!(r.status, 421);

    // Cross-site posts: another Origin, a cross-site fetch, a missing or wrong token.
    let body = save(&keys.admin, "*codex*");
    for extra in [
        "Origin: http://attacker.example\r\n".to_string(),
        "Origin: null\r\n".to_string(),
        "Sec-Fetch-Site: cross-site\r\n".to_string(),
    ] {
        let r = http(addr, &post(&host, "/settings", &extra, &body)).await;
        assert_eq!(r.status, 403, "{extra}");
    }
    let r = http(
        addr,
        &post(
            &host,
            "/settings",
            "",
            &body.replace(&csrf, &"0".repeat(64)),
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = http(addr, &post(&host, "/sync", "", "")).await;
    assert_eq!(r.status, 403);
    assert!(
        Store::open(&db).unwrap().token().unwrap().is_none(),
        "nothing saved"
    );

    // Sync now before any token: says so, records nothing.
    let r = http(
        addr,
        &post(
            &host,
            "/sync",
            &format!("Origin: http://{host}\r\n"),
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    assert_eq!(r.status, 303);
    let location = r
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .to_string();
    let shown = http(addr, &get(&host, location.split('#').next().unwrap(), "")).await;
    assert!(shown.body.contains("Save an API Token first"));
    assert!(Store::open(&db).unwrap().runs(5).unwrap().is_empty());

    // A same-origin save with markup in a setting: stored, and rendered escaped.
    let hostile = "<script>alert(1)</script>*nomatch*";
    let r = http(
        addr,
        &post(
            &host,
            "/settings",
            &format!("Origin: http://{host}\r\nSec-Fetch-Site: same-origin\r\n"),
            &save(&keys.admin, hostile),
        ),
    )
    .await;
    assert_eq!(r.status, 303, "{}", r.body);
    let page = http(addr, &get(&host, "/", "")).await;
    assert!(!page.body.contains("<script>alert(1)"));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;"), "escaped");
    assert_no_secret("the page", &page.body, &keys.admin);

    // The pattern matches no model: after an import the page says there is no Codex usage,
    // and why some may be missing.
    let finished = server.scheduler().run_now("test").await.unwrap();
    assert_eq!(finished.status, "succeeded", "{finished:?}");
    let page = http(addr, &get(&host, "/", "")).await;
    assert!(page.body.contains("no Codex usage"), "no notice");
    assert!(page.body.contains("ChatGPT sign-in"));
    let status = http(addr, &get(&host, "/status", "")).await;
    assert!(status.body.contains("\"running\":null"), "{}", status.body);
    assert_no_secret("the status", &status.body, &keys.admin);

    // A rejected key (unknown to OpenAI) leaves the saved settings as they were.
    let unknown = host_harness::random_admin_key();
    let r = http(
        addr,
        &post(
            &host,
            "/settings",
            &format!("Origin: http://{host}\r\n"),
            &save(&unknown, "*codex*"),
        ),
    )
    .await;
    assert_eq!(r.status, 303);
    let location = r
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .to_string();
    let shown = http(addr, &get(&host, location.split('#').next().unwrap(), "")).await;
    assert!(shown.body.contains("Key rejected"), "per-capability result");
    assert!(shown.body.contains("previous settings stay in place"));
    assert_no_secret("the page", &shown.body, &unknown);
    let store = Store::open(&db).unwrap();
    assert_eq!(store.token().unwrap().as_deref(), Some(keys.admin.as_str()));
    let pattern = store
        .settings()
        .unwrap()
        .into_iter()
        .find(|s| s.key == "codex_model_pattern")
        .unwrap();
    assert!(format!("{:?}", pattern.value).contains("nomatch"));

    // Sync now while a (slow) import runs: the page shows its progress, a second Sync now
    // says "already running".
    slow(&mock, Duration::from_millis(150));
    let sync_now = post(
        &host,
        "/sync",
        &format!("Origin: http://{host}\r\n"),
        &format!("csrf={csrf}"),
    );
    let r = http(addr, &sync_now).await;
    assert_eq!(r.status, 303);
    let r = http(addr, &sync_now).await;
    let location = r
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("location: "))
        .unwrap()
        .to_string();
    let shown = http(addr, &get(&host, location.split('#').next().unwrap(), "")).await;
    assert!(shown.body.contains("A sync is already running"));
    assert!(shown.body.contains("data-running=\"true\""));
    assert!(shown.body.contains("Importing"));
    let status = http(addr, &get(&host, "/status", "")).await;
    assert!(
        status.body.contains("\"trigger\":\"ui\""),
        "{}",
        status.body
    );
    server.scheduler().wait_idle().await;
    mock.clear_faults();
    let runs = Store::open(&db).unwrap().runs(10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].trigger.as_str(), runs[0].status.as_str()),
        ("ui", "succeeded")
    );

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_loopback_needs_the_admin_password() {
    let first = harness(&connector_wasm(), None).await;
    let dir = tempfile::tempdir().unwrap();
    let mut opts = serve_options(dir.path().join("serve.db"));
    opts.listen = SocketAddr::from(([0, 0, 0, 0], 0));
    let err = Server::start(first, opts.clone())
        .await
        .err()
        .expect("refuses to start without a password");
    assert!(err.to_string().contains("admin password"), "{err}");

    let second = harness(&connector_wasm(), None).await;
    opts.admin_password = Some("correct horse battery".into());
    let server = Server::start(second, opts).await.unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], server.addr().port()));
    let host = format!("127.0.0.1:{}", addr.port());
    let r = http(addr, &get(&host, "/", "")).await;
    assert_eq!(r.status, 401);
    assert!(r.headers.contains("www-authenticate: basic"));
    // "admin:wrong password" / "admin:correct horse battery"
    let r = http(
        addr,
        &get(
            &host,
            "/",
            "Authorization: Basic YWRtaW46d3JvbmcgcGFzc3dvcmQ=\r\n",
        ),
    )
    .await;
    assert_eq!(r.status, 401);
    let r = http(
        addr,
        &get(
            &host,
            "/",
            "Authorization: Basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5\r\n",
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("OpenAI Codex Settings"));
    server.shutdown().await;
}
