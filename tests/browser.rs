//! The settings page in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`) driven over WebDriver against `serve` and the OpenAI mock.
//!
//! Flow: the empty page (title, sections and fields from `describe()`); a project key → the
//! connector's own message on the API Token field, nothing saved; an admin key → saved and
//! connected, every capability listed with its status; Sync now → a history row whose
//! per-stream counts equal the mock's ground truth, with the usage view (its window the
//! history's, numbers with thousands separators, durations in human form, the connector's
//! notes once); the per-person table sorted by its column links; a key that cannot read
//! everything → "not saved", the saved settings untouched and the connection still shown
//! as working; reload → no secret (nor any 8-character slice of one) in the page source. A
//! screenshot of each step goes to `target/browser-test/`; with `UPDATE_DOCS_SCREENSHOT=1`
//! the synced page is copied to `docs/settings-page.png`.
//!
//! A third flow registers a generated git repository through the Delivery section's form
//! after an import of both paths, and reads the report beside delivery: one inlined `<svg>`
//! per chart, each series' values equal to the report's numbers (computed here from
//! `aligned_report`, not from the SVG); with `UPDATE_DOCS_SCREENSHOT=1` the report's section
//! is saved to `docs/alignment-charts.png`.
//!
//! A second flow adds a connection from the Integrations list and goes through its own page
//! (save, check, Sync now), back to the list with both connections.
//!
//! Beside it, plain-HTTP tests of what the page must refuse: cross-site posts, a foreign
//! `Host`, a missing CSRF token, a post with neither `Origin` nor `Sec-Fetch-Site`, a
//! non-loopback bind without a password, requests without the password; markup in a
//! setting rendered escaped; a rejected key that leaves the saved settings (and the
//! connection status) as they were; and the "no usage" notice.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use host_harness::human::thousands;
use host_harness::scheduler::ScheduleConfig;
use host_harness::serve::{ServeOptions, Server};
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

/// What the browser flow compares the page with.
struct Expected {
    /// `describe()` of the connector, read before the harness moves into the server.
    info: Info,
    truth_rows: u64,
    users: u64,
    projects: u64,
    api_keys: u64,
    days: u32,
}

/// The parts of `describe()` the flow checks.
#[derive(Clone)]
struct Info {
    name: String,
    section_titles: Vec<String>,
    capabilities: Vec<String>,
    notes: Vec<String>,
}

fn info_of(h: &host_harness::runner::Harness) -> Info {
    let i = h.info();
    Info {
        name: i.name.clone(),
        section_titles: i.sections.iter().map(|s| s.title.clone()).collect(),
        capabilities: i.capabilities.iter().map(|c| c.name.clone()).collect(),
        notes: i.notes.clone(),
    }
}

/// Text as minijinja's HTML escaping writes it.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// A duration as `human::seconds` writes it (and never `0.0 s`).
fn human_duration(s: &str) -> bool {
    let two = |t: &str| {
        t.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.len() == 2
                && b.bytes().all(|c| c.is_ascii_digit())
        })
    };
    let one = |t: &str| {
        t.split_once('.').is_some_and(|(a, b)| {
            a.len() == 2 && b.len() == 1 && b.bytes().all(|c| c.is_ascii_digit())
        })
    };
    match s.strip_suffix(" s") {
        Some(t) if t.contains(" min ") => true,
        Some(t) => two(t) || one(t),
        None => false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_page_in_a_real_browser() {
    let keys = keys();
    let (users, days) = (40usize, 90u32);
    let config = mock_config(&keys, users, days);
    let projects = config.projects as u64;
    let mock = MockServer::start(config).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let info = info_of(&harness);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    // The default connection's page (the list of connections has its own test below).
    let url = format!("{}connections/default", server.url());

    let truth_rows = mock.ground_truth().rows.len() as u64;
    let api_keys = api_keys_in(&mock);
    let expected = Expected {
        info,
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
    let store = open(&db).await;
    let runs = store.runs(CONN, 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, "ui");
    assert_eq!(store.record_count(CONN, "usage").await.unwrap(), truth_rows);
}

/// Whether the element `id` is in the browser's viewport (a post's redirect lands on it).
async fn in_view(c: &Client, id: &str) -> bool {
    c.execute(
        "var e = document.getElementById(arguments[0]); if (!e) { return false; } var r = e.getBoundingClientRect(); return r.top >= 0 && r.top < window.innerHeight;",
        vec![serde_json::json!(id)],
    )
    .await
    .ok()
    .and_then(|v| v.as_bool())
    .unwrap_or(false)
}

async fn click(c: &Client, id: &str) {
    c.find(Locator::Id(id))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// An attribute of every element matching `css`, in page order.
async fn attrs(c: &Client, css: &str, attr: &str) -> Vec<String> {
    let v = c
        .execute(
            "var a = arguments[1]; return Array.from(document.querySelectorAll(arguments[0])).map(function (e) { return e.getAttribute(a) || ''; });",
            vec![serde_json::json!(css), serde_json::json!(attr)],
        )
        .await
        .unwrap();
    serde_json::from_value(v).unwrap()
}

async fn browser_flow(c: Client, url: String, db: PathBuf, keys: Keys, expected: Expected) {
    let Expected {
        info,
        truth_rows,
        users,
        projects,
        api_keys,
        days,
    } = expected;
    let mut sources = String::new();

    // 0. The empty page: title and form from describe(), nothing saved.
    c.goto(&url).await.unwrap();
    let title = c.title().await.unwrap();
    assert!(
        title.contains(&format!("{} Settings", info.name)),
        "{title}"
    );
    assert_eq!(
        text_of(&c, "nav.crumbs").await,
        format!("Integrations → {}", info.name),
        "the default connection is named after its connector"
    );
    let nav = c.find(Locator::Id("nav-integrations")).await.unwrap();
    assert_eq!(
        nav.attr("href").await.unwrap().as_deref(),
        Some("/"),
        "Integrations is a link"
    );
    let legends = c
        .find_all(Locator::Css("fieldset.section legend"))
        .await
        .unwrap();
    let mut titles = Vec::new();
    for l in &legends {
        titles.push(l.text().await.unwrap());
    }
    assert_eq!(titles, info.section_titles, "one titled group per section");
    let label = text_of(&c, "label[for=f-api_token]").await;
    assert!(label.starts_with("API Token"), "{label}");
    let token_input = c.find(Locator::Id("f-api_token")).await.unwrap();
    assert_eq!(
        token_input.attr("type").await.unwrap().as_deref(),
        Some("password")
    );
    assert!(text_of(&c, "#connection").await.contains("api.openai.com"));
    assert_eq!(text_of(&c, "#conn-state").await, "Not configured");
    shot(&c, "01-empty.png").await;

    // 1. A project key: the connector's words on the field; nothing stored.
    fill(&c, "f-api_token", &keys.project).await;
    fill(&c, "f-backfill_days", &days.to_string()).await;
    click(&c, "save").await;
    c.wait().for_element(Locator::Id("result")).await.unwrap();
    assert!(c.current_url().await.unwrap().as_str().ends_with("#result"));
    assert!(
        in_view(&c, "result").await,
        "the redirect lands on the result"
    );
    let banner = text_of(&c, "#result").await;
    assert!(banner.starts_with("Not saved"), "{banner}");
    let field = text_of(&c, ".field.has-error[data-key=api_token]").await;
    assert!(field.contains("project API key"), "{field}");
    assert!(field.contains("Manage → Admin API Keys"), "{field}");
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
        "a secret is never filled back in"
    );
    assert_eq!(
        c.find(Locator::Id("f-backfill_days"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(days.to_string().as_str()),
        "the other fields come back as typed"
    );
    assert!(
        !open(&db).await.is_configured(CONN).await.unwrap(),
        "nothing saved"
    );
    assert_eq!(text_of(&c, "#conn-state").await, "Not configured");
    sources.push_str(&c.source().await.unwrap());
    shot(&c, "02-project-key.png").await;

    // 2. The admin key: saved and connected, every capability listed with its status.
    fill(&c, "f-api_token", &keys.admin).await;
    fill(&c, "f-backfill_days", &days.to_string()).await;
    click(&c, "save").await;
    wait_until("the connected state", Duration::from_secs(30), || async {
        text_of(&c, "#conn-state").await == "Connected"
    })
    .await;
    assert!(in_view(&c, "result").await);
    assert_eq!(
        attrs(&c, "#connection li.cap", "data-capability").await,
        info.capabilities,
        "every capability of describe(), in its order"
    );
    let statuses = attrs(&c, "#connection li.cap", "data-status").await;
    assert!(
        statuses
            .iter()
            .all(|s| s == "granted" || s == "not-configured")
            && statuses.iter().filter(|s| *s == "granted").count() >= 2,
        "{statuses:?}"
    );
    assert!(text_of(&c, "#connection").await.contains("Granted"));
    let banner = text_of(&c, "#result").await;
    assert!(banner.contains("Saved and connected"), "{banner}");
    let redacted = host_harness::secret::redacted_form(&keys.admin);
    assert!(text_of(&c, "#saved-api_token").await.contains(&redacted));
    assert!(text_of(&c, "#saved-api_token")
        .await
        .contains("Leave empty to keep the saved value"));
    let store = open(&db).await;
    assert_eq!(
        store.secrets(CONN).await.unwrap()["api_token"].expose(),
        keys.admin
    );
    drop(store);
    sources.push_str(&c.source().await.unwrap());
    shot(&c, "03-connected.png").await;

    // 3. Sync now: a new history row with the ground-truth record counts.
    assert!(c.find_all(Locator::Css("tr.run")).await.unwrap().is_empty());
    click(&c, "sync-now").await;
    wait_until("a finished import row", Duration::from_secs(90), || async {
        match c.find(Locator::Css("tr.run")).await {
            Ok(row) => {
                let status = row.attr("data-status").await.unwrap_or_default();
                matches!(status.as_deref(), Some("succeeded" | "failed"))
            }
            Err(_) => false,
        }
    })
    .await;
    // The page reloads itself when the import ends; wait for the usage view it brings.
    wait_until("the usage view", Duration::from_secs(30), || async {
        c.find(Locator::Id("usage-window")).await.is_ok()
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
    let added = attr("data-added").await;
    assert!(added >= truth_rows + users + projects + api_keys, "{added}");
    assert_eq!(attr("data-updated").await, 0);
    let row_text = row.text().await.unwrap();
    assert!(row_text.contains("Sync now"), "{row_text}");
    assert!(
        row_text.contains(&thousands(added)),
        "thousands separators: {row_text}"
    );
    let duration = text_of(&c, "tr.run td.duration").await;
    assert!(
        human_duration(&duration) && duration != "0.0 s",
        "{duration:?}"
    );
    // The history's window and the usage view's are the same days.
    let history_window = text_of(&c, "tr.run td.window").await;
    let usage_window = text_of(&c, "#usage-window").await;
    assert!(
        history_window.ends_with(&format!("({days} days)")),
        "{history_window}"
    );
    assert_eq!(history_window, usage_window);
    // The usage view: people by email, models, the attributed share, separated thousands.
    let people = text_of(&c, "#per-person").await;
    assert!(people.contains('@'), "{people}");
    assert!(text_of(&c, "#per-model").await.contains("codex"));
    assert!(text_of(&c, "#attributed").await.ends_with('%'));
    assert!(text_of(&c, "#usage-tokens").await.contains(','));
    // The connector's notes: on the page once, not inside every message.
    for n in &info.notes {
        let shown = c
            .execute(
                "return document.body.innerText.split(arguments[0]).length - 1;",
                vec![serde_json::json!(n)],
            )
            .await
            .unwrap();
        assert_eq!(shown.as_u64(), Some(1), "{n}");
    }
    sources.push_str(&c.source().await.unwrap());
    let synced = shot(&c, "04-synced.png").await;

    // 4. The per-person table sorts by its column links (on the server: ?sort=…).
    assert_eq!(attrs(&c, "#per-person", "data-sort").await, ["tokens"]);
    let tokens: Vec<u64> = attrs(&c, "#per-person tr.person", "data-tokens")
        .await
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    assert!(
        tokens.len() > 1 && tokens.windows(2).all(|w| w[0] >= w[1]),
        "{tokens:?}"
    );
    click(&c, "sort-requests").await;
    wait_until("the table by requests", Duration::from_secs(10), || async {
        attrs(&c, "#per-person", "data-sort").await == ["requests"]
    })
    .await;
    let requests: Vec<u64> = attrs(&c, "#per-person tr.person", "data-requests")
        .await
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(requests.len(), tokens.len(), "every person listed");
    assert!(requests.windows(2).all(|w| w[0] >= w[1]), "{requests:?}");
    click(&c, "sort-person").await;
    wait_until("the table by person", Duration::from_secs(10), || async {
        attrs(&c, "#per-person", "data-sort").await == ["person"]
    })
    .await;
    let names: Vec<String> = c
        .execute(
            "return Array.from(document.querySelectorAll('#per-person tr.person td:first-child')).map(function (e) { return e.textContent.toLowerCase(); });",
            vec![],
        )
        .await
        .map(|v| serde_json::from_value(v).unwrap())
        .unwrap();
    assert!(names.windows(2).all(|w| w[0] <= w[1]), "{names:?}");
    shot(&c, "05-sorted.png").await;

    // 5. A key that cannot read everything: not saved; the saved key stays, and the page
    //    still shows the saved connection as working.
    c.goto(&url).await.unwrap();
    fill(&c, "f-api_token", &keys.usage_only).await;
    click(&c, "save").await;
    wait_until("the rejected attempt", Duration::from_secs(30), || async {
        text_of(&c, "#result").await.contains("not saved")
    })
    .await;
    assert!(in_view(&c, "result").await);
    let banner = text_of(&c, "#result").await;
    assert!(
        banner.starts_with("The new API Token was not saved"),
        "{banner}"
    );
    assert!(banner.contains("unchanged and still in use"), "{banner}");
    let attempt = attrs(&c, "#result li.cap", "data-status").await;
    assert!(
        attempt.contains(&"denied".to_string()) && attempt.contains(&"granted".to_string()),
        "{attempt:?}"
    );
    assert_eq!(
        text_of(&c, "#conn-state").await,
        "Connected",
        "the saved configuration still works"
    );
    assert!(!c.source().await.unwrap().contains("Not connected"));
    assert!(text_of(&c, "#saved-api_token").await.contains(&redacted));
    assert_eq!(
        open(&db).await.secrets(CONN).await.unwrap()["api_token"].expose(),
        keys.admin
    );
    sources.push_str(&c.source().await.unwrap());
    shot(&c, "06-rejected-key.png").await;

    // 6. Reload: no secret in the page source (nor any 8-character slice of one).
    c.goto(&url).await.unwrap();
    c.wait()
        .for_element(Locator::Id("history-table"))
        .await
        .unwrap();
    let source = c.source().await.unwrap();
    assert!(source.contains(&html_escape(&redacted)) || source.contains(&redacted));
    sources.push_str(&source);
    for k in [&keys.admin, &keys.project, &keys.usage_only] {
        assert_no_secret("the page sources", &sources, k);
    }
    shot(&c, "07-reloaded.png").await;

    if std::env::var_os("UPDATE_DOCS_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&synced, docs.join("settings-page.png")).unwrap();
    }
}

/// The list of connections in a real browser: from Integrations, add a connection (a bad
/// id first: refused on the page, nothing added), land on its page, save its own
/// organization's key, see the connection check, Check connection, Sync now and its history
/// row (its organization's records), then back to Integrations through the breadcrumb: both
/// connections listed, each linking to its own page — the default one still empty, with
/// nothing of the new one's.
#[tokio::test(flavor = "multi_thread")]
async fn connections_in_a_real_browser() {
    let keys: Vec<String> = (0..2)
        .map(|_| host_harness::random::key("sk-admin-"))
        .collect();
    let template = openai_mock::MockConfig {
        users: 8,
        days: 5,
        ..openai_mock::MockConfig::default()
    };
    let mock = MockServer::start_many(template, keys.clone())
        .await
        .unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let info = info_of(&harness);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    let url = server.url();
    let org = OrgB {
        key: keys[1].clone(),
        other_key: keys[0].clone(),
        organization: mock.organization_id_of(1).to_string(),
        usage_rows: mock.ground_truth_of(1).rows.len() as u64,
    };

    let driver = start_driver().await;
    let c = browser(&driver, &dir.path().join("profile")).await;
    let flow = tokio::spawn(connections_flow(c.clone(), url, db.clone(), info, org)).await;
    let _ = c.close().await;
    drop(driver);
    if let Err(e) = flow {
        std::panic::resume_unwind(e.into_panic());
    }
    server.shutdown().await;
    let store = open(&db).await;
    let runs = store.runs("org-b", 10).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger, "ui");
    assert!(
        store.runs(CONN, 10).await.unwrap().is_empty(),
        "the default connection did not run"
    );
}

/// What the connections flow knows of the organization it adds.
struct OrgB {
    key: String,
    /// The other organization's key, which must show nowhere.
    other_key: String,
    organization: String,
    usage_rows: u64,
}

async fn connection_ids(db: &Path) -> Vec<String> {
    open(db)
        .await
        .connections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect()
}

async fn connections_flow(c: Client, url: String, db: PathBuf, info: Info, org: OrgB) {
    let mut sources = String::new();

    // 0. Integrations: the default connection, and the add form.
    c.goto(&url).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Integrations");
    assert_eq!(attrs(&c, "tr.connection", "data-connection").await, [CONN]);
    shot(&c, "10-integrations.png").await;

    // 1. A bad id: said on the page, next to the field, typed value back; nothing added.
    fill(&c, "add-id", "Org B").await;
    fill(&c, "add-name", "Org B").await;
    click(&c, "add-connection").await;
    c.wait().for_element(Locator::Id("result")).await.unwrap();
    assert!(text_of(&c, "#result").await.starts_with("Not added"));
    let field = text_of(&c, ".field.has-error[data-key=id]").await;
    assert!(field.contains("is not a connection id"), "{field}");
    assert!(field.contains("lowercase letters, digits"), "{field}");
    assert_eq!(
        c.find(Locator::Id("add-id"))
            .await
            .unwrap()
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("Org B")
    );
    assert_eq!(connection_ids(&db).await, [CONN]);
    shot(&c, "11-bad-id.png").await;

    // 2. A good id: the new connection's page, empty, under Integrations.
    fill(&c, "add-id", "org-b").await;
    fill(&c, "add-name", "Org B").await;
    click(&c, "add-connection").await;
    wait_until(
        "the new connection's page",
        Duration::from_secs(10),
        || async {
            c.current_url()
                .await
                .map(|u| u.path() == "/connections/org-b")
                .unwrap_or(false)
        },
    )
    .await;
    assert!(text_of(&c, "#result").await.starts_with("Added Org B"));
    assert_eq!(text_of(&c, "nav.crumbs").await, "Integrations → Org B");
    assert!(c
        .title()
        .await
        .unwrap()
        .contains(&format!("{} Settings", info.name)));
    assert_eq!(text_of(&c, "#conn-state").await, "Not configured");
    assert!(c.find_all(Locator::Css("tr.run")).await.unwrap().is_empty());
    assert_eq!(connection_ids(&db).await, [CONN, "org-b"]);

    // 3. Its own organization's key: saved and connected, the check lists that organization.
    fill(&c, "f-api_token", &org.key).await;
    fill(&c, "f-backfill_days", "5").await;
    click(&c, "save").await;
    wait_until("the connected state", Duration::from_secs(30), || async {
        text_of(&c, "#conn-state").await == "Connected"
    })
    .await;
    assert!(text_of(&c, "#result").await.contains("Saved and connected"));
    assert_eq!(
        attrs(&c, "#connection li.cap", "data-capability").await,
        info.capabilities,
        "the connection check, per capability"
    );
    assert!(text_of(&c, "#connection").await.contains(&org.organization));
    let store = open(&db).await;
    assert_eq!(
        store.secrets("org-b").await.unwrap()["api_token"].expose(),
        org.key
    );
    assert!(
        !store.is_configured(CONN).await.unwrap(),
        "the default connection untouched"
    );
    drop(store);
    sources.push_str(&c.source().await.unwrap());

    // 4. Check connection: the saved key, live, on this page.
    click(&c, "check-now").await;
    wait_until("the check's result", Duration::from_secs(30), || async {
        text_of(&c, "#result")
            .await
            .contains("passed the live check")
    })
    .await;
    assert_eq!(text_of(&c, "#conn-state").await, "Connected");

    // 5. Sync now: its history row, with its organization's records.
    click(&c, "sync-now").await;
    wait_until("a finished import row", Duration::from_secs(90), || async {
        match c.find(Locator::Css("tr.run")).await {
            Ok(row) => matches!(
                row.attr("data-status").await.unwrap_or_default().as_deref(),
                Some("succeeded" | "failed")
            ),
            Err(_) => false,
        }
    })
    .await;
    wait_until("the usage view", Duration::from_secs(30), || async {
        c.find(Locator::Id("usage-window")).await.is_ok()
    })
    .await;
    assert_eq!(attrs(&c, "tr.run", "data-status").await, ["succeeded"]);
    assert_eq!(
        attrs(&c, "tr.run", "data-usage-added").await,
        [org.usage_rows.to_string()]
    );
    sources.push_str(&c.source().await.unwrap());
    shot(&c, "12-connection-synced.png").await;

    // 6. Back to Integrations through the breadcrumb: both listed, each with its state.
    click(&c, "crumb-integrations").await;
    wait_until("the list", Duration::from_secs(10), || async {
        c.current_url()
            .await
            .map(|u| u.path() == "/")
            .unwrap_or(false)
    })
    .await;
    assert_eq!(
        attrs(&c, "tr.connection", "data-connection").await,
        [CONN, "org-b"]
    );
    assert_eq!(
        attrs(&c, "tr.connection", "data-state").await,
        ["not-configured", "configured"]
    );
    assert_eq!(
        attrs(
            &c,
            "tr.connection[data-connection=org-b]",
            "data-last-status"
        )
        .await,
        ["succeeded"]
    );
    let row = text_of(&c, "tr.connection[data-connection=org-b]").await;
    assert!(row.contains("Org B") && row.contains("Sync now"), "{row}");
    assert!(
        !text_of(&c, "tr.connection[data-connection=org-b] td:last-child")
            .await
            .is_empty()
    );
    sources.push_str(&c.source().await.unwrap());
    shot(&c, "13-integrations-two.png").await;

    // 7. The default connection's page: its own (empty) state, nothing of org-b's.
    click(&c, &format!("open-{CONN}")).await;
    wait_until(
        "the default connection's page",
        Duration::from_secs(10),
        || async {
            c.current_url()
                .await
                .map(|u| u.path() == "/connections/default")
                .unwrap_or(false)
        },
    )
    .await;
    assert_eq!(
        text_of(&c, "nav.crumbs").await,
        format!("Integrations → {}", info.name)
    );
    assert_eq!(text_of(&c, "#conn-state").await, "Not configured");
    assert!(c.find_all(Locator::Css("tr.run")).await.unwrap().is_empty());
    let source = c.source().await.unwrap();
    assert!(
        !source.contains(&org.organization),
        "org-b's check on the default page"
    );
    assert!(!source.contains(&host_harness::secret::redacted_form(&org.key)));
    sources.push_str(&source);
    for k in [&org.key, &org.other_key] {
        assert_no_secret("the page sources", &sources, k);
    }
}

// ------------------------------------------------------------------------------- plain HTTP

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

/// The page a post redirected to (its result banner).
async fn follow(addr: SocketAddr, host: &str, r: &Reply) -> Reply {
    assert_eq!(r.status, 303, "{}", r.body);
    let location = r.location();
    assert!(
        location.starts_with("/connections/default?r=") && location.ends_with("#result"),
        "{location}"
    );
    http(addr, &get(host, location.split('#').next().unwrap(), "")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn refuses_cross_site_posts_foreign_hosts_and_escapes() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 5, 3)).await.unwrap();
    let harness = harness(&connector_wasm(), Some(&mock)).await;
    let name = harness.info().name.clone();
    let notes = harness.info().notes.clone();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    let addr = server.addr();
    let host = format!("127.0.0.1:{}", addr.port());
    let same_origin = format!("Origin: http://{host}\r\n");
    let configured = || async { open(&db).await.is_configured(CONN).await.unwrap() };

    let page = http(addr, &get(&host, "/connections/default", "")).await;
    assert_eq!(page.status, 200);
    assert!(page
        .headers
        .contains("content-security-policy: default-src 'none'"));
    assert!(page.headers.contains("script-src 'nonce-"));
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
    let r = http(
        addr,
        &post(
            "attacker.example:80",
            "/connections/default/settings",
            "Origin: http://attacker.example:80\r\n",
            &save(&keys.admin, "*codex*"),
        ),
    )
    .await;
    assert_eq!(r.status, 421);

    // Cross-site posts: another Origin, a cross-site fetch, neither Origin nor
    // Sec-Fetch-Site (even with a valid token: a browser always sends one of them).
    let body = save(&keys.admin, "*codex*");
    for extra in [
        "Origin: http://attacker.example\r\n".to_string(),
        "Origin: null\r\n".to_string(),
        "Sec-Fetch-Site: cross-site\r\n".to_string(),
        "Sec-Fetch-Site: same-site\r\n".to_string(),
        format!("Origin: http://{host}\r\nSec-Fetch-Site: cross-site\r\n"),
        String::new(),
    ] {
        let r = http(
            addr,
            &post(&host, "/connections/default/settings", &extra, &body),
        )
        .await;
        assert_eq!(r.status, 403, "{extra:?}");
        let r = http(
            addr,
            &post(
                &host,
                "/connections/default/sync",
                &extra,
                &format!("csrf={csrf}"),
            ),
        )
        .await;
        assert_eq!(r.status, 403, "{extra:?}");
        let r = http(
            addr,
            &post(
                &host,
                "/connections",
                &extra,
                &format!("csrf={csrf}&id=cross-site"),
            ),
        )
        .await;
        assert_eq!(r.status, 403, "{extra:?}");
    }
    // A same-origin post without the page's token, or with another one.
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &same_origin,
            &body.replace(&csrf, &"0".repeat(64)),
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("token"), "{}", r.body);
    let no_token = body.replace(&format!("csrf={csrf}&"), "");
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &same_origin,
            &no_token,
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = http(
        addr,
        &post(&host, "/connections/default/sync", &same_origin, ""),
    )
    .await;
    assert_eq!(r.status, 403);
    let r = http(
        addr,
        &post(&host, "/connections", &same_origin, "id=no-token"),
    )
    .await;
    assert_eq!(r.status, 403);
    let ids: Vec<String> = open(&db)
        .await
        .connections()
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, [CONN], "no connection added by a refused post");
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/check",
            "Sec-Fetch-Site: same-origin\r\n",
            "",
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    assert!(!configured().await, "nothing saved");

    // Sync now before anything is saved: says so, records nothing.
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/sync",
            &same_origin,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(
        shown.body.contains("Nothing is saved yet"),
        "{}",
        shown.body
    );
    assert!(open(&db).await.runs(CONN, 5).await.unwrap().is_empty());

    // A same-origin save with markup in a setting: stored, and rendered escaped.
    let hostile = "<script>alert(1)</script>*nomatch*";
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &format!("{same_origin}Sec-Fetch-Site: same-origin\r\n"),
            &save(&keys.admin, hostile),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(shown.body.contains("Saved and connected"), "{}", shown.body);
    assert!(shown.body.contains("data-state=\"connected\""));
    let page = http(addr, &get(&host, "/connections/default", "")).await;
    assert!(!page.body.contains("<script>alert(1)"));
    assert!(page.body.contains("&lt;script&gt;alert(1)&lt;"), "escaped");
    assert_no_secret("the page", &page.body, &keys.admin);

    // The pattern matches no model: after an import the page says there is no usage of the
    // connector's kind, and the connector's notes (why some may be missing) are there once.
    let finished = server.scheduler().run_now(CONN, "test").await.unwrap();
    assert_eq!(finished.status, "succeeded", "{finished:?}");
    let page = http(addr, &get(&host, "/connections/default", "")).await;
    assert!(
        page.body
            .contains(&format!("no {} usage was imported", html_escape(&name))),
        "no notice"
    );
    for n in &notes {
        assert_eq!(page.body.matches(&html_escape(n)).count(), 1, "{n}");
    }
    let status = http(addr, &get(&host, "/connections/default/status", "")).await;
    assert!(status.body.contains("\"running\":null"), "{}", status.body);
    assert_no_secret("the status", &status.body, &keys.admin);

    // A rejected key (unknown to the provider) leaves the saved settings as they were, and
    // the page keeps the saved connection's status: the attempt is shown as such.
    let unknown = host_harness::random::key("sk-admin-");
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &same_origin,
            &save(&unknown, "*codex*"),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(
        shown.body.contains("The new API Token was not saved"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("class=\"cap attempt-cap\""));
    assert!(shown.body.contains("data-status=\"denied\""));
    assert!(
        shown.body.contains("rejected the API Token"),
        "the connector's words"
    );
    assert!(shown.body.contains("unchanged and still in use"));
    assert!(
        shown.body.contains("data-state=\"connected\""),
        "the saved key still works"
    );
    assert!(!shown.body.contains("Not connected"));
    assert!(
        shown.body.contains("*codex*"),
        "the attempt's values come back to be corrected"
    );
    assert_no_secret("the page", &shown.body, &unknown);
    let store = open(&db).await;
    assert_eq!(
        store.secrets(CONN).await.unwrap()["api_token"].expose(),
        keys.admin
    );
    let pattern = store
        .settings(CONN)
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.key == "codex_model_pattern")
        .unwrap();
    assert!(format!("{:?}", pattern.value).contains("nomatch"));
    drop(store);

    // Check connection: the saved settings, live; still connected.
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/check",
            &same_origin,
            &format!("csrf={csrf}"),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(
        shown.body.contains("passed the live check"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("data-state=\"connected\""));

    // Leaving the secret empty keeps the saved one (and saves the other settings).
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &same_origin,
            &save("", "*codex*"),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(shown.body.contains("Saved and connected"), "{}", shown.body);
    assert!(shown.body.contains("kept the saved value"));
    let store = open(&db).await;
    assert_eq!(
        store.secrets(CONN).await.unwrap()["api_token"].expose(),
        keys.admin
    );
    drop(store);

    // Sync now while a (slow) import runs: the page shows its progress, a second Sync now
    // says "already running".
    slow(&mock, Duration::from_millis(150));
    let sync_now = post(
        &host,
        "/connections/default/sync",
        &same_origin,
        &format!("csrf={csrf}"),
    );
    let r = http(addr, &sync_now).await;
    let shown = follow(addr, &host, &r).await;
    assert!(shown.body.contains("Import started"));
    let r = http(addr, &sync_now).await;
    let shown = follow(addr, &host, &r).await;
    assert!(
        shown.body.contains("An import is already running"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("data-running=\"true\""));
    assert!(shown.body.contains("Importing"));
    assert!(!shown.body.contains("0.0 s"));
    let status = http(addr, &get(&host, "/connections/default/status", "")).await;
    assert!(
        status.body.contains("\"trigger\":\"ui\""),
        "{}",
        status.body
    );
    server.scheduler().wait_idle().await;
    mock.clear_faults();
    let runs = open(&db).await.runs(CONN, 10).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        (runs[0].trigger.as_str(), runs[0].status.as_str()),
        ("ui", "succeeded")
    );

    server.shutdown().await;
}

/// A harness whose every declared origin goes to `mock` (the connector's second source
/// lives on another origin than `api.openai.com`).
async fn harness_on_mock(mock: &MockServer) -> host_harness::runner::Harness {
    let probe = harness(&connector_wasm(), Some(mock)).await;
    let mut cfg = config(&connector_wasm(), Some(mock));
    for o in probe.declared_origins() {
        if cfg.policy.redirect_for(&o.host).is_none() {
            cfg.policy
                .redirects
                .push(host_harness::policy::Redirect::to(&o.host, &mock.base_url()).unwrap());
        }
    }
    host_harness::runner::Harness::load(cfg).await.unwrap()
}

/// Two secret fields: each is kept or replaced on its own ("leave empty to keep the saved
/// value" per field), and a rejected attempt touches neither.
#[tokio::test(flavor = "multi_thread")]
async fn each_secret_is_kept_on_its_own() {
    let keys = keys();
    let analytics = host_harness::random::key("sk-cgpt-");
    let mut mc = mock_config(&keys, 5, 3);
    mc.analytics_key = Some(analytics.clone());
    let workspace_id = mc.workspace_id.clone();
    let mock = MockServer::start(mc).await.unwrap();
    let harness = harness_on_mock(&mock).await;
    let secrets: Vec<String> = harness
        .info()
        .settings
        .iter()
        .filter(|f| f.kind == host_harness::bindings::v0_2::types::SettingKind::Secret)
        .map(|f| f.key.clone())
        .collect();
    if secrets != ["api_token", "analytics_api_key"] {
        eprintln!("skipped: this connector's secret fields are {secrets:?} (the form's unit tests cover two secrets)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    let addr = server.addr();
    let host = format!("127.0.0.1:{}", addr.port());
    let same_origin = format!("Origin: http://{host}\r\n");
    let csrf = csrf_of(
        &http(addr, &get(&host, "/connections/default", ""))
            .await
            .body,
    );
    let save = |token: &str, analytics: &str| {
        format!(
            "csrf={csrf}&api_token={}&analytics_api_key={}&chatgpt_workspace_id={}&backfill_days=3",
            urlencode(token),
            urlencode(analytics),
            urlencode(&workspace_id)
        )
    };
    let saved = || async {
        let s = open(&db).await.secrets(CONN).await.unwrap();
        (
            s.get("api_token").map(|v| v.expose().to_string()),
            s.get("analytics_api_key").map(|v| v.expose().to_string()),
        )
    };
    let both = (Some(keys.admin.clone()), Some(analytics.clone()));

    // Both secrets, both sources: saved, every capability granted.
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &same_origin,
            &save(&keys.admin, &analytics),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(shown.body.contains("Saved and connected"), "{}", shown.body);
    assert!(
        !shown.body.contains("data-status=\"denied\"")
            && !shown.body.contains("data-status=\"not-configured\"")
    );
    assert_eq!(saved().await, both);
    let page = http(addr, &get(&host, "/connections/default", "")).await;
    for k in [&keys.admin, &analytics] {
        let r = host_harness::secret::redacted_form(k);
        assert!(
            page.body.contains(&format!("Saved: <code>{r}</code>")),
            "each secret shows its own saved form"
        );
        assert_no_secret("the page", &page.body, k);
    }

    // Both left empty: both kept.
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &same_origin,
            &save("", ""),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(shown.body.contains("Saved and connected"), "{}", shown.body);
    assert_eq!(shown.body.matches("kept the saved value").count(), 2);
    assert_eq!(saved().await, both);

    // Only the first typed in again: the second is kept.
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &same_origin,
            &save(&keys.admin, ""),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(shown.body.contains("Saved and connected"), "{}", shown.body);
    assert!(shown
        .body
        .contains("Analytics API key: kept the saved value"));
    assert_eq!(saved().await, both);

    // A new first key that cannot read everything: not saved, the second untouched too.
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/settings",
            &same_origin,
            &save(&keys.usage_only, ""),
        ),
    )
    .await;
    let shown = follow(addr, &host, &r).await;
    assert!(
        shown.body.contains("The new API Token was not saved"),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("data-state=\"connected\""));
    assert_eq!(saved().await, both);
    assert_no_secret("the page", &shown.body, &keys.usage_only);

    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_loopback_needs_the_admin_password() {
    let first = harness(&connector_wasm(), None).await;
    let name = first.info().name.clone();
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
            "/connections/default",
            "Authorization: Basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5\r\n",
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains(&format!("{} Settings", html_escape(&name))));
    // Beyond loopback any Host is answered, but a post still needs its origin and token.
    let r = http(
        addr,
        &post(
            &host,
            "/connections/default/sync",
            "Authorization: Basic YWRtaW46Y29ycmVjdCBob3JzZSBiYXR0ZXJ5\r\n",
            "",
        ),
    )
    .await;
    assert_eq!(r.status, 403);
    server.shutdown().await;
}

// ------------------------------------------------------------------ report beside delivery

/// Sums per period of `f` over the report's rows.
fn per_period(
    report: &host_harness::report::alignment::AlignmentReport,
    f: impl Fn(&host_harness::report::alignment::Row) -> f64,
) -> Vec<f64> {
    report
        .periods
        .iter()
        .map(|p| {
            report
                .rows
                .iter()
                .filter(|r| &r.period_start == p)
                .map(&f)
                .sum()
        })
        .collect()
}

/// The chart series the page must show, by `(chart, series)`, computed from the report's
/// rows (by person, per week).
fn expected_series(
    report: &host_harness::report::alignment::AlignmentReport,
) -> std::collections::BTreeMap<(String, String), Vec<f64>> {
    use host_harness::report::alignment::Cohort;
    let mut want = std::collections::BTreeMap::new();
    let mut put = |chart: &str, series: &str, values: Vec<f64>| {
        want.insert((chart.to_string(), series.to_string()), values);
    };
    put(
        "use-over-time",
        "Either path",
        per_period(report, |r| f64::from(r.codex_active_days)),
    );
    put(
        "use-over-time",
        "API key",
        per_period(report, |r| f64::from(r.api_key_active_days)),
    );
    put(
        "use-over-time",
        "ChatGPT sign-in",
        per_period(report, |r| f64::from(r.chatgpt_active_days)),
    );
    let surfaces: std::collections::BTreeSet<String> = report
        .rows
        .iter()
        .flat_map(|r| r.surface_active_days.keys().cloned())
        .collect();
    for s in &surfaces {
        put(
            "use-over-time",
            s,
            per_period(report, |r| {
                f64::from(r.surface_active_days.get(s).copied().unwrap_or(0))
            }),
        );
    }
    for c in Cohort::ALL {
        put(
            "cohorts",
            c.name(),
            per_period(report, |r| if r.cohort == Some(c) { 1.0 } else { 0.0 }),
        );
    }
    put(
        "use-beside-delivery",
        "Codex-active days",
        per_period(report, |r| f64::from(r.codex_active_days)),
    );
    put(
        "use-beside-delivery",
        "commits",
        per_period(report, |r| r.commits as f64),
    );
    put(
        "use-beside-delivery",
        "lines changed",
        per_period(report, |r| (r.lines_added + r.lines_deleted) as f64),
    );
    want
}

#[tokio::test(flavor = "multi_thread")]
async fn alignment_charts_in_a_real_browser() {
    use chrono::{NaiveDate, TimeZone};
    use host_harness::delivery::synthetic::{Synthetic, MAIN};
    use host_harness::report::aligned::aligned_report;
    use host_harness::report::alignment::Options;

    const DAYS: u32 = 28;
    let keys = keys();
    let analytics = host_harness::random::key("sk-cgpt-");
    let mock = MockServer::start(openai_mock::MockConfig {
        analytics_key: Some(analytics.clone()),
        chatgpt_users: 8,
        shared_users: 5,
        ..mock_config(&keys, 10, DAYS)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("serve.db");
    let harness = harness_both(&connector_wasm(), &mock).await;
    {
        let store = open(&db).await;
        let days = DAYS.to_string();
        let settings = set(&[
            ("chatgpt_workspace_id", mock.workspace_id()),
            ("backfill_days", &days),
            ("codex_model_pattern", "*"),
        ]);
        harness
            .configure(
                &store,
                CONN,
                &settings,
                secrets(&[
                    ("api_token", &keys.admin),
                    ("analytics_api_key", &analytics),
                ]),
            )
            .await
            .unwrap();
    }
    let server = Server::start(harness, serve_options(db.clone()))
        .await
        .unwrap();
    let run = server.scheduler().run_now(CONN, "test").await.unwrap();
    assert_eq!(run.status, "succeeded", "{run:?}");

    // A repository of known commits: half the people who use it commit on their first and
    // last days of use (one under a second email, joined later by no one: unmatched), and a
    // stranger.
    let users = aligned_report(&open(&db).await, CONN, &Options::default())
        .await
        .unwrap()
        .unmatched_codex_users;
    assert!(users.len() >= 6, "{users:?}");
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let at = |d: NaiveDate, h: u32| {
        chrono::Utc
            .from_utc_datetime(&d.and_hms_opt(h, 0, 0).unwrap())
            .fixed_offset()
    };
    let repo = dir.path().join("repo");
    let mut git = Synthetic::init(&repo).unwrap();
    let mut n = 0usize;
    for (i, u) in users.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        for (d, h) in [(day(&u.first_day), 9), (day(&u.last_day), 17)] {
            n += 1;
            let email = if i == 2 {
                "second.email@home.example".to_string()
            } else {
                u.email.clone()
            };
            let body = "line\n".repeat(1 + n % 5);
            git.commit(
                MAIN,
                ("Person", &email),
                at(d, h),
                "work",
                &[(&format!("f{n}.txt"), Some(&body))],
            )
            .unwrap();
        }
    }
    git.commit(
        MAIN,
        ("Stranger", "nobody@elsewhere.example"),
        at(day(&users[1].last_day), 12),
        "x",
        &[("x.txt", Some("1\n2\n"))],
    )
    .unwrap();

    let url = format!("{}connections/{CONN}", server.url());
    let driver = start_driver().await;
    let c = browser(&driver, &dir.path().join("profile")).await;
    let flow = tokio::spawn(alignment_flow(c.clone(), url, db.clone(), repo.clone())).await;
    let _ = c.close().await;
    drop(driver);
    if let Err(e) = flow {
        std::panic::resume_unwind(e.into_panic());
    }
    server.shutdown().await;
    assert_eq!(open(&db).await.repositories(CONN).await.unwrap().len(), 1);
}

async fn alignment_flow(c: Client, url: String, db: PathBuf, repo: PathBuf) {
    use host_harness::report::aligned::aligned_report;
    use host_harness::report::alignment::Options;

    // Register the repository through the Delivery section's form.
    c.goto(&url).await.unwrap();
    c.wait()
        .for_element(Locator::Id("repo-form"))
        .await
        .unwrap();
    fill(&c, "repo-path", &repo.display().to_string()).await;
    click(&c, "repo-add").await;
    c.wait().for_element(Locator::Id("result")).await.unwrap();
    let result = text_of(&c, "#result").await;
    assert!(result.contains("Repository added"), "{result}");
    assert!(in_view(&c, "result").await, "the post lands on its result");
    assert_eq!(attrs(&c, "tr.repository", "data-state").await, ["ok"]);

    // The report the page must show: the store's, by person and week.
    let report = aligned_report(&open(&db).await, CONN, &Options::default())
        .await
        .unwrap();
    assert!(
        report
            .rows
            .iter()
            .any(|r| r.commits > 0 && r.codex_active_days > 0),
        "use beside delivery"
    );
    assert!(
        report.rows.iter().any(|r| r.chatgpt_active_days > 0)
            && report.rows.iter().any(|r| r.api_key_active_days > 0)
    );
    let want = expected_series(&report);

    // One <svg> per chart, drawn (not empty), in the report's section.
    assert_eq!(
        attrs(&c, "#aligned svg.chart", "data-chart").await,
        ["use-over-time", "cohorts", "use-beside-delivery"]
    );
    assert_eq!(
        attrs(&c, "#aligned figure.chart-box", "data-chart")
            .await
            .len(),
        3
    );
    let sizes = c
        .execute(
            "return Array.from(document.querySelectorAll('#aligned svg.chart')).map(function (s) { var r = s.getBoundingClientRect(); return [r.width, r.height]; });",
            vec![],
        )
        .await
        .unwrap();
    let sizes: Vec<(f64, f64)> = serde_json::from_value(sizes).unwrap();
    assert!(
        sizes.iter().all(|(w, h)| *w > 400.0 && *h > 150.0),
        "{sizes:?}"
    );
    let periods = attrs(&c, "#aligned svg.chart", "data-periods").await;
    for p in &periods {
        assert_eq!(
            p.split(',').map(str::to_string).collect::<Vec<_>>(),
            report.periods,
            "every chart's periods are the report's"
        );
    }

    // Every series of every chart, as the browser sees it.
    let got = c
        .execute(
            "return Array.from(document.querySelectorAll('#aligned svg.chart g.series')).map(function (g) { return [g.closest('svg.chart').getAttribute('data-chart'), g.getAttribute('data-series'), g.getAttribute('data-values')]; });",
            vec![],
        )
        .await
        .unwrap();
    let got: Vec<(String, String, String)> = serde_json::from_value(got).unwrap();
    let mut seen = std::collections::BTreeMap::new();
    for (chart, series, values) in got {
        let values: Vec<f64> = values.split(',').map(|v| v.parse().unwrap()).collect();
        let before = seen.insert((chart.clone(), series.clone()), values);
        assert!(before.is_none(), "{chart}/{series} twice");
    }
    assert_eq!(
        seen.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "the charts' series are the report's"
    );
    for (key, values) in &want {
        assert_eq!(&seen[key], values, "{key:?}");
    }
    // Not all zero: the numbers mean something.
    assert!(
        want[&("use-beside-delivery".to_string(), "commits".to_string())]
            .iter()
            .sum::<f64>()
            > 0.0
    );

    // The tables: the framing, one row per person and week, the unmatched on both sides.
    assert!(text_of(&c, "#framing")
        .await
        .contains("not performance reviews of individuals"));
    assert_eq!(
        attrs(&c, "tr.aligned-person", "data-email").await.len(),
        report.rows.len()
    );
    let authors = attrs(&c, "tr.unmatched-author", "data-email").await;
    let want_authors: Vec<String> = report
        .unmatched_git_authors
        .iter()
        .map(|u| u.email.clone())
        .collect();
    assert_eq!(authors, want_authors);
    assert!(
        authors.contains(&"nobody@elsewhere.example".to_string())
            && authors.contains(&"second.email@home.example".to_string())
    );
    assert_eq!(
        attrs(&c, "tr.unmatched-user", "data-email").await,
        report
            .unmatched_codex_users
            .iter()
            .map(|u| u.email.clone())
            .collect::<Vec<_>>()
    );
    assert_eq!(attrs(&c, "tr.trend", "data-period").await, report.periods);

    // The report's section, for the docs.
    c.execute(
        "document.getElementById('aligned').scrollIntoView();",
        vec![],
    )
    .await
    .unwrap();
    shot(&c, "08-alignment-page.png").await;
    // The whole section in the window (an element's screenshot stops at the window's edge).
    let height = c
        .execute(
            "return Math.ceil(document.getElementById('aligned').getBoundingClientRect().height);",
            vec![],
        )
        .await
        .unwrap()
        .as_u64()
        .unwrap_or(1000) as u32;
    c.set_window_size(1280, height.clamp(600, 8000) + 200)
        .await
        .unwrap();
    c.execute(
        "document.getElementById('aligned').scrollIntoView(true);",
        vec![],
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let section = c.find(Locator::Id("aligned")).await.unwrap();
    let png = section.screenshot().await.unwrap();
    let path = out_dir().join("08-alignment-charts.png");
    std::fs::write(&path, &png).unwrap();
    if std::env::var_os("UPDATE_DOCS_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::copy(&path, docs.join("alignment-charts.png")).unwrap();
    }

    // Per month: the periods switch, the charts follow.
    click(&c, "period-month").await;
    c.wait()
        .for_element(Locator::Css("#aligned-periods[data-period=month]"))
        .await
        .unwrap();
    let monthly = aligned_report(
        &open(&db).await,
        CONN,
        &Options {
            period: host_harness::report::alignment::AlignPeriod::Month,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    for p in attrs(&c, "#aligned svg.chart", "data-periods").await {
        assert_eq!(
            p.split(',').map(str::to_string).collect::<Vec<_>>(),
            monthly.periods
        );
    }
    assert_eq!(
        attrs(&c, "tr.aligned-person", "data-email").await.len(),
        monthly.rows.len()
    );
}
