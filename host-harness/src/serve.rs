//! `host-harness serve`: the host's settings page for the connector — Integrations → OpenAI
//! Codex Settings — with the connection check, the import history, "Sync now", a Codex
//! usage view and the scheduler behind it.
//!
//! Server-rendered HTML (axum + minijinja, templates embedded in the binary, autoescaped),
//! one small inline script that polls `/status` while a sync runs.
//!
//! Safe by default:
//! - binds loopback unless told otherwise, and then answers only requests whose `Host` is a
//!   loopback name (a DNS-rebinding page cannot read it);
//! - beyond loopback it refuses to start without an admin password (HTTP Basic);
//! - every form post carries a per-process CSRF token and must come from the same origin
//!   (`Origin` / `Sec-Fetch-Site`);
//! - templates escape everything; a strict Content-Security-Policy with a per-response
//!   nonce; the token is never sent to the browser (only its redacted form), never filled
//!   back into the form, and every message shown went through the runner's redactor.

use crate::report::thousands;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, Request, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::{Deserialize, Serialize};

use crate::redact::redacted_form;
use crate::report::codex_usage;
use crate::runner::{Harness, HostError};
use crate::sandbox::wit;
use crate::scheduler::{format_duration, ScheduleConfig, Scheduler, TriggerError};
use crate::store::{Run, Store, TOKEN_SLOT};

const PAGE_TEMPLATE: &str = include_str!("../templates/page.html");

/// How `serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub db: PathBuf,
    pub listen: SocketAddr,
    pub schedule: ScheduleConfig,
    /// Required (HTTP Basic, any user name) when `listen` is not a loopback address.
    pub admin_password: Option<String>,
}

/// A running settings server and its scheduler.
pub struct Server {
    addr: SocketAddr,
    scheduler: Arc<Scheduler>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Check the options, bind, start the scheduler and serve (in the background).
    pub async fn start(harness: Harness, opts: ServeOptions) -> anyhow::Result<Server> {
        let loopback = opts.listen.ip().is_loopback();
        let password = opts.admin_password.clone().filter(|p| !p.is_empty());
        if !loopback && password.is_none() {
            anyhow::bail!(
                "refusing to listen on {} (beyond loopback) without an admin password: pass --admin-password-env VAR",
                opts.listen
            );
        }
        if let Some(p) = &password {
            if p.chars().count() < 8 {
                anyhow::bail!("the admin password is too short (at least 8 characters)");
            }
        }
        // The store must open (and stale runs of dead processes are closed).
        Store::open(&opts.db)?.mark_interrupted_runs()?;
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let harness = Arc::new(harness);
        let scheduler = Arc::new(Scheduler::start(
            harness.clone(),
            opts.db.clone(),
            opts.schedule.clone(),
        ));
        let mut env = minijinja::Environment::new();
        env.add_template("page.html", PAGE_TEMPLATE)?;
        let app = Arc::new(App {
            harness,
            db: opts.db.clone(),
            scheduler: scheduler.clone(),
            csrf: random_hex(32),
            password,
            allowed_hosts: if loopback {
                Some(loopback_hosts(addr.port()))
            } else {
                None
            },
            env,
            flashes: Mutex::new(VecDeque::new()),
            last_check: Mutex::new(None),
            save_lock: tokio::sync::Mutex::new(()),
        });
        let router = Router::new()
            .route("/", get(page))
            .route("/settings", post(save))
            .route("/sync", post(sync_now))
            .route("/status", get(status))
            .fallback(not_found)
            .layer(middleware::from_fn_with_state(app.clone(), guard))
            .with_state(app);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the settings server stopped: {e}");
            }
        });
        Ok(Server {
            addr,
            scheduler,
            stop: Some(tx),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Stop taking requests, stop the scheduler (a run in progress is marked interrupted)
    /// and wait for both.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.scheduler.shutdown().await;
        if let Some(mut task) = self.task.take() {
            // Open keep-alive connections (a browser's) would hold graceful shutdown open.
            if tokio::time::timeout(std::time::Duration::from_secs(3), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Serve until Ctrl-C or SIGTERM, then shut down cleanly.
pub async fn run(harness: Harness, opts: ServeOptions) -> anyhow::Result<()> {
    let every = opts.schedule.every;
    let protected = opts.admin_password.is_some();
    let server = Server::start(harness, opts).await?;
    println!("Settings page: {}", server.url());
    println!(
        "Scheduled imports every {} (±{:.0}% jitter); Ctrl-C stops the server (a running import is marked interrupted and resumes next time).",
        format_duration(every),
        server.scheduler().config().jitter * 100.0
    );
    if protected {
        println!("The page asks for the admin password (HTTP Basic, any user name).");
        if !server.addr().ip().is_loopback() {
            println!("Note: this is plain HTTP; put a TLS proxy in front of it before using it across a network.");
        }
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    wait_for_signal().await;
    eprintln!("stopping…");
    server.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

// ------------------------------------------------------------------------------- state

struct App {
    harness: Arc<Harness>,
    db: PathBuf,
    scheduler: Arc<Scheduler>,
    csrf: String,
    password: Option<String>,
    /// `Host` values accepted when bound to loopback.
    allowed_hosts: Option<Vec<String>>,
    env: minijinja::Environment<'static>,
    /// Results of form posts, shown by the page the post redirects to (`/?r=ID`).
    flashes: Mutex<VecDeque<(String, Flash)>>,
    /// The latest connection check (since the server started).
    last_check: Mutex<Option<CheckView>>,
    /// One save at a time.
    save_lock: tokio::sync::Mutex<()>,
}

type Shared = Arc<App>;

const FLASHES_KEPT: usize = 32;

impl App {
    fn put_flash(&self, flash: Flash) -> String {
        let id = random_hex(12);
        let mut f = self.flashes.lock().unwrap_or_else(|p| p.into_inner());
        f.push_back((id.clone(), flash));
        while f.len() > FLASHES_KEPT {
            f.pop_front();
        }
        id
    }

    fn flash(&self, id: &str) -> Option<Flash> {
        self.flashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, f)| f.clone())
    }
}

fn loopback_hosts(port: u16) -> Vec<String> {
    let mut hosts = Vec::new();
    for h in ["127.0.0.1", "localhost", "[::1]"] {
        hosts.push(format!("{h}:{port}"));
        if port == 80 {
            hosts.push(h.to_string());
        }
    }
    hosts
}

// ------------------------------------------------------------------------------- guard

/// Host check (loopback), admin password, same-origin posts, security headers.
async fn guard(State(app): State<Shared>, req: Request<axum::body::Body>, next: Next) -> Response {
    let headers = req.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if let Some(allowed) = &app.allowed_hosts {
        if !allowed.iter().any(|a| a == &host) {
            return plain(
                StatusCode::MISDIRECTED_REQUEST,
                "This server answers only on its loopback address.",
            );
        }
    }
    if let Some(password) = &app.password {
        if !basic_auth_ok(headers, password) {
            let mut r = plain(StatusCode::UNAUTHORIZED, "The admin password is required.");
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(
                    "Basic realm=\"host-harness settings\", charset=\"UTF-8\"",
                ),
            );
            return r;
        }
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        if let Err(why) = same_origin(headers, &host) {
            tracing::warn!("refused a cross-site post: {why}");
            return plain(
                StatusCode::FORBIDDEN,
                "Refused: this form can only be posted from the settings page itself.",
            );
        }
    }
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// A post must come from a page of this origin: `Sec-Fetch-Site` (when sent) is
/// `same-origin` or `none`, and `Origin` (when sent) is this server's.
fn same_origin(headers: &HeaderMap, host: &str) -> Result<(), String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if site != "same-origin" && site != "none" {
            return Err(format!("Sec-Fetch-Site: {site}"));
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("").to_ascii_lowercase();
        if origin != format!("http://{host}") {
            return Err(format!("Origin {origin:?} is not http://{host}"));
        }
    } else if let Some(referer) = headers.get(header::REFERER) {
        let referer = referer.to_str().unwrap_or("").to_ascii_lowercase();
        if !referer.starts_with(&format!("http://{host}/")) {
            return Err("Referer of another origin".into());
        }
    }
    Ok(())
}

fn basic_auth_ok(headers: &HeaderMap, password: &str) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(b64) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Some(decoded) = base64_decode(b64.trim()) else {
        return false;
    };
    let Ok(text) = String::from_utf8(decoded) else {
        return false;
    };
    let given = text.split_once(':').map(|(_, p)| p).unwrap_or("");
    constant_time_eq(given.as_bytes(), password.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for i in 0..a.len().max(b.len()) {
        diff |= a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0xff);
    }
    diff == 0
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// `n` random bytes as hex (the kernel's generator; a keyed hash of the clock as fallback).
fn random_hex(n: usize) -> String {
    use std::io::Read;
    let mut bytes = vec![0u8; n];
    let ok = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !ok {
        for chunk in bytes.chunks_mut(8) {
            let v = (crate::runner::random_unit() * (1u64 << 53) as f64) as u64;
            for (i, b) in chunk.iter_mut().enumerate() {
                *b = (v >> (i * 8)) as u8;
            }
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn plain(status: StatusCode, text: &'static str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "Not found.")
}

fn csrf_ok(app: &App, form: &[(String, String)]) -> bool {
    form.iter()
        .find(|(k, _)| k == "csrf")
        .is_some_and(|(_, v)| constant_time_eq(v.as_bytes(), app.csrf.as_bytes()))
}

// ------------------------------------------------------------------------------- views

/// The outcome of a form post, shown once by the page it redirects to.
#[derive(Clone, Debug, Serialize)]
struct Flash {
    /// `ok` | `warn` | `error`
    tone: &'static str,
    title: String,
    lines: Vec<String>,
    advice: Option<String>,
    /// Field key → what is wrong with it.
    field_errors: BTreeMap<String, String>,
    /// The non-secret values the admin submitted, when they were not saved.
    submitted: Option<BTreeMap<String, String>>,
    check: Option<CheckView>,
}

impl Flash {
    fn new(tone: &'static str, title: impl Into<String>) -> Flash {
        Flash {
            tone,
            title: title.into(),
            lines: Vec::new(),
            advice: None,
            field_errors: BTreeMap::new(),
            submitted: None,
            check: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
struct CheckView {
    at: String,
    ok: bool,
    token: String,
    organization: Option<String>,
    caps: Vec<CapView>,
    notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
struct CapView {
    name: String,
    ok: bool,
    title: String,
    detail: String,
}

#[derive(Serialize)]
struct FieldView {
    key: String,
    label: String,
    input: &'static str,
    required: bool,
    help: String,
    value: String,
    checked: bool,
    choices: Vec<String>,
    min: Option<i64>,
    max: Option<i64>,
    max_length: Option<u32>,
    placeholder: String,
    error: Option<String>,
    saved_hint: Option<String>,
}

#[derive(Serialize)]
struct StreamCell {
    name: String,
    pages: u64,
    requests: u64,
    inserted: u64,
    updated: u64,
}

#[derive(Serialize)]
struct RunView {
    id: i64,
    when: String,
    duration: String,
    status: String,
    trigger: String,
    streams: Vec<StreamCell>,
    added: u64,
    updated: u64,
    added_text: String,
    updated_text: String,
    window: String,
    error: Option<String>,
}

#[derive(Serialize)]
struct UsageRow {
    name: String,
    requests: String,
    tokens: String,
    input: String,
    cached: String,
    output: String,
}

#[derive(Serialize)]
struct UsageView {
    window: String,
    codex_requests: String,
    codex_tokens: String,
    codex_share: String,
    attributed: String,
    people: Vec<UsageRow>,
    models: Vec<UsageRow>,
    no_codex: bool,
    any_usage: bool,
}

#[derive(Serialize)]
struct LiveView {
    trigger: String,
    started_at: String,
    text: String,
}

#[derive(Serialize)]
struct PageView {
    name: String,
    version: String,
    description: String,
    csrf: String,
    nonce: String,
    fields: Vec<FieldView>,
    hosts: Vec<String>,
    notes: Vec<String>,
    flash: Option<Flash>,
    check: Option<CheckView>,
    token_saved: Option<String>,
    history: Vec<RunView>,
    live: Option<LiveView>,
    every: String,
    jitter_pct: String,
    next_at: Option<String>,
    usage: Option<UsageView>,
    no_codex_notice: Option<String>,
    chatgpt_note: String,
    store: String,
}

/// The note the connector shows wherever Codex usage could seem missing.
const CHATGPT_NOTE: &str = "Codex used through a ChatGPT sign-in (Plus, Pro, Business, Enterprise) is not reported to the API organization and cannot be imported with any API key; only Codex used with API keys is.";

fn kind_input(kind: wit::SettingKind) -> &'static str {
    match kind {
        wit::SettingKind::Text => "text",
        wit::SettingKind::Secret => "password",
        wit::SettingKind::Number => "number",
        wit::SettingKind::Choice => "select",
        wit::SettingKind::List => "textarea",
        wit::SettingKind::Boolean => "checkbox",
    }
}

fn value_text(v: &wit::SettingValue) -> String {
    match v {
        wit::SettingValue::Text(t) => t.clone(),
        wit::SettingValue::Number(n) => n.to_string(),
        wit::SettingValue::Boolean(b) => b.to_string(),
        wit::SettingValue::List(l) => l.join(", "),
    }
}

/// `2025-06-01T14:03:22.123Z` → `2025-06-01 14:03:22 UTC`.
fn when(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_string())
}

fn day(ts: &str) -> String {
    ts.get(..10).unwrap_or(ts).to_string()
}

/// Messages pass through the runner's redactor, which also turns the "sk-proj-…" of the
/// connector's wording into a marker; drop that marker where it only named the key kind.
fn tidy(message: &str) -> String {
    message
        .replace(" ([redacted key])", "")
        .replace(" ([redacted key]…)", "")
}

fn run_view(r: &Run) -> RunView {
    let duration = match (
        &r.finished_at,
        chrono::DateTime::parse_from_rfc3339(&r.started_at),
    ) {
        (Some(f), Ok(s)) => chrono::DateTime::parse_from_rfc3339(f)
            .map(|f| format!("{:.1} s", (f - s).num_milliseconds() as f64 / 1000.0))
            .unwrap_or_default(),
        _ => "…".into(),
    };
    RunView {
        id: r.id,
        when: when(&r.started_at),
        duration,
        status: r.status.clone(),
        trigger: match r.trigger.as_str() {
            "ui" => "Sync now".into(),
            "schedule" => "scheduled".into(),
            other => other.to_string(),
        },
        streams: r
            .streams
            .iter()
            .map(|(name, c)| StreamCell {
                name: name.clone(),
                pages: c.pages,
                requests: c.requests,
                inserted: c.inserted,
                updated: c.updated,
            })
            .collect(),
        added: r.inserted(),
        updated: r.updated(),
        added_text: thousands(r.inserted()),
        updated_text: thousands(r.updated()),
        window: match (&r.window_start, &r.window_end) {
            (Some(s), Some(e)) => format!("{} → {}", day(s), day(e)),
            _ => "—".into(),
        },
        error: match (&r.error_class, &r.error_message) {
            (Some(c), Some(m)) => Some(format!("{c}: {}", tidy(m))),
            (Some(c), None) => Some(c.clone()),
            _ => None,
        },
    }
}

fn live_text(live: &crate::scheduler::LiveRun) -> String {
    let mut parts: Vec<String> = live
        .streams
        .iter()
        .map(|(s, c)| {
            format!(
                "{s}: {} page{}, {} added",
                c.pages,
                if c.pages == 1 { "" } else { "s" },
                thousands(c.inserted)
            )
        })
        .collect();
    if parts.is_empty() {
        parts.push("starting".into());
    }
    let mut text = format!(
        "Importing — {} ({}s)",
        parts.join("; "),
        live.started.elapsed().as_secs()
    );
    if let Some(w) = &live.waiting {
        text.push_str(&format!(" — {w}"));
    }
    text
}

fn usage_row(name: &str, t: &crate::report::Totals) -> UsageRow {
    UsageRow {
        name: name.to_string(),
        requests: thousands(t.requests),
        tokens: thousands(t.tokens()),
        input: thousands(t.input_tokens),
        cached: thousands(t.cached_input_tokens),
        output: thousands(t.output_tokens),
    }
}

/// Whether a usage import succeeded, and then whether it found Codex usage.
fn usage_view(store: &Store, runs: &[Run]) -> anyhow::Result<Option<UsageView>> {
    let imported = runs
        .iter()
        .any(|r| r.status == "succeeded" && r.streams.contains_key("usage"))
        || store.record_count("usage")? > 0;
    if !imported {
        return Ok(None);
    }
    let r = codex_usage(store)?;
    let mut people: Vec<_> = r.per_person.iter().collect();
    people.sort_by(|a, b| b.1.tokens().cmp(&a.1.tokens()).then(a.0.cmp(b.0)));
    let mut models: Vec<_> = r.per_model.iter().collect();
    models.sort_by(|a, b| b.1.tokens().cmp(&a.1.tokens()).then(a.0.cmp(b.0)));
    let window = match (&r.window_start, &r.window_end) {
        (Some(s), Some(e)) => format!("{} → {}", day(s), day(e)),
        _ => runs
            .iter()
            .find_map(|r| {
                Some(format!(
                    "{} → {}",
                    day(r.window_start.as_ref()?),
                    day(r.window_end.as_ref()?)
                ))
            })
            .unwrap_or_else(|| "the backfill window".into()),
    };
    let share = if r.all_total.tokens() == 0 {
        0.0
    } else {
        r.codex_total.tokens() as f64 / r.all_total.tokens() as f64
    };
    Ok(Some(UsageView {
        window,
        codex_requests: thousands(r.codex_total.requests),
        codex_tokens: thousands(r.codex_total.tokens()),
        codex_share: format!("{:.1}%", share * 100.0),
        attributed: format!("{:.1}%", r.attributed_share * 100.0),
        people: people.iter().map(|(n, t)| usage_row(n, t)).collect(),
        models: models.iter().map(|(n, t)| usage_row(n, t)).collect(),
        no_codex: r.codex_total.requests == 0 && r.codex_total.tokens() == 0,
        any_usage: r.all_total.requests > 0 || r.all_total.tokens() > 0,
    }))
}

fn no_codex_notice(u: &UsageView) -> Option<String> {
    if !u.no_codex {
        return None;
    }
    Some(format!(
        "The key works, but the organization shows no Codex usage between {}{}. {CHATGPT_NOTE} If your team uses Codex with API keys in dedicated projects or keys, list them under Codex projects or Codex API keys.",
        u.window,
        if u.any_usage { " (it has other API usage)" } else { "" }
    ))
}

fn build_page(app: &App, flash: Option<Flash>, nonce: String) -> anyhow::Result<PageView> {
    let store = Store::open(&app.db)?;
    let info = app.harness.info();
    let stored: BTreeMap<String, String> = store
        .settings()?
        .iter()
        .map(|s| (s.key.clone(), value_text(&s.value)))
        .collect();
    let token_saved = store.token()?.map(|t| redacted_form(&t));
    let submitted = flash.as_ref().and_then(|f| f.submitted.clone());
    let fields = info
        .settings
        .iter()
        .map(|f| {
            let input = kind_input(f.kind);
            let value = if input == "password" {
                String::new() // never filled back in
            } else if let Some(sub) = &submitted {
                sub.get(&f.key).cloned().unwrap_or_default()
            } else {
                stored
                    .get(&f.key)
                    .cloned()
                    .or_else(|| f.default_value.clone())
                    .unwrap_or_default()
            };
            FieldView {
                key: f.key.clone(),
                label: f.label.clone(),
                input,
                required: f.required,
                help: f.help.clone(),
                checked: value == "true",
                value,
                choices: f.choices.clone(),
                min: f.min,
                max: f.max,
                max_length: f.max_length,
                placeholder: match input {
                    "password" if token_saved.is_some() => {
                        "Leave empty to keep the saved key".into()
                    }
                    "password" => "sk-admin-…".into(),
                    "textarea" => "Comma- or newline-separated".into(),
                    _ => f.default_value.clone().unwrap_or_default(),
                },
                error: flash
                    .as_ref()
                    .and_then(|fl| fl.field_errors.get(&f.key).cloned()),
                saved_hint: if input == "password" {
                    token_saved.clone()
                } else {
                    None
                },
            }
        })
        .collect();
    let runs = store.runs(25)?;
    let usage = usage_view(&store, &runs)?;
    let status = app.scheduler.status();
    let check = flash.as_ref().and_then(|f| f.check.clone()).or_else(|| {
        app.last_check
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    });
    Ok(PageView {
        name: info.name.clone(),
        version: info.version.clone(),
        description: info.description.clone(),
        csrf: app.csrf.clone(),
        nonce,
        fields,
        hosts: info.hosts.clone(),
        notes: info.notes.clone(),
        flash,
        check,
        token_saved,
        history: runs.iter().map(run_view).collect(),
        live: status.running.as_ref().map(|l| LiveView {
            trigger: l.trigger.clone(),
            started_at: when(&l.started_at),
            text: live_text(l),
        }),
        every: status.every.clone(),
        jitter_pct: format!("{:.0}%", status.jitter * 100.0),
        next_at: status.next_at.as_deref().map(when),
        no_codex_notice: usage.as_ref().and_then(no_codex_notice),
        usage,
        chatgpt_note: CHATGPT_NOTE.into(),
        store: app.db.display().to_string(),
    })
}

// ------------------------------------------------------------------------------- handlers

#[derive(Deserialize)]
struct PageQuery {
    r: Option<String>,
}

async fn page(State(app): State<Shared>, Query(q): Query<PageQuery>) -> Response {
    let flash = q.r.as_deref().and_then(|id| app.flash(id));
    let nonce = random_hex(16);
    let a = app.clone();
    let n = nonce.clone();
    let built = tokio::task::spawn_blocking(move || build_page(&a, flash, n)).await;
    let view = match built {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            tracing::error!("cannot build the page: {e:#}");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be built (the store is unreadable); see the server's log.",
            );
        }
        Err(_) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be built.",
            )
        }
    };
    let html = app
        .env
        .get_template("page.html")
        .and_then(|t| t.render(&view));
    match html {
        Ok(html) => {
            let csp = format!(
                "default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
            );
            (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8".to_string()),
                    (header::CONTENT_SECURITY_POLICY, csp),
                ],
                html,
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!("template error: {e:#}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
        }
    }
}

async fn status(State(app): State<Shared>) -> Response {
    let s = app.scheduler.status();
    let body = serde_json::json!({
        "running": s.running.as_ref().map(|l| serde_json::json!({
            "trigger": l.trigger,
            "started_at": l.started_at,
            "text": live_text(l),
        })),
        "finished": s.finished,
        "next_at": s.next_at,
        "last": s.last.as_ref().map(|l| serde_json::json!({
            "status": l.status, "run_id": l.run_id, "trigger": l.trigger,
        })),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn see(id: &str, anchor: &str) -> Response {
    Redirect::to(&format!("/?r={id}#{anchor}")).into_response()
}

async fn sync_now(State(app): State<Shared>, Form(form): Form<Vec<(String, String)>>) -> Response {
    if !csrf_ok(&app, &form) {
        return plain(
            StatusCode::FORBIDDEN,
            "Refused: the form's token is missing or stale. Reload the settings page and try again.",
        );
    }
    let flash = match app.scheduler.trigger("ui") {
        Ok(()) => return Redirect::to("/#history").into_response(),
        Err(TriggerError::Busy(since)) => {
            let mut f = Flash::new("warn", "A sync is already running");
            f.lines.push(format!(
                "It started {}; this page shows its progress below. One import runs at a time.",
                when(&since)
            ));
            f
        }
        Err(TriggerError::NotConfigured) => {
            let mut f = Flash::new("error", "Save an API Token first");
            f.lines
                .push("Paste an Admin API key under API Token and press Save Credentials.".into());
            f
        }
        Err(TriggerError::Stopping) => Flash::new("error", "The server is stopping"),
    };
    let id = app.put_flash(flash);
    see(&id, "history")
}

async fn save(State(app): State<Shared>, Form(form): Form<Vec<(String, String)>>) -> Response {
    if !csrf_ok(&app, &form) {
        return plain(
            StatusCode::FORBIDDEN,
            "Refused: the form's token is missing or stale. Reload the settings page and try again.",
        );
    }
    let _one = app.save_lock.lock().await;
    let info = app.harness.info();
    let mut token = String::new();
    let mut raw: Vec<(String, String)> = Vec::new();
    let mut submitted: BTreeMap<String, String> = BTreeMap::new();
    for f in &info.settings {
        if f.key == TOKEN_SLOT || f.kind == wit::SettingKind::Secret {
            if f.key == TOKEN_SLOT {
                if let Some((_, v)) = form.iter().find(|(k, _)| k == &f.key) {
                    token = v.clone();
                }
            }
            continue;
        }
        let value = form
            .iter()
            .find(|(k, _)| k == &f.key)
            .map(|(_, v)| v.clone());
        match f.kind {
            wit::SettingKind::Boolean => {
                let on = value.is_some_and(|v| v == "true" || v == "on");
                raw.push((f.key.clone(), on.to_string()));
                submitted.insert(f.key.clone(), on.to_string());
            }
            _ => {
                let v = value.unwrap_or_default();
                if !v.trim().is_empty() {
                    raw.push((f.key.clone(), v.clone()));
                }
                submitted.insert(f.key.clone(), v);
            }
        }
    }
    let labels: BTreeMap<String, String> = info
        .settings
        .iter()
        .map(|f| (f.key.clone(), f.label.clone()))
        .collect();
    let harness = app.harness.clone();
    let db = app.db.clone();
    let outcome = on_own_thread(move || async move {
        save_and_check(&harness, &db, raw, token, submitted, &labels).await
    })
    .await;
    let flash = match outcome {
        Ok(f) => f,
        Err(e) => {
            let mut f = Flash::new("error", "Not saved: the check could not run");
            f.lines.push(format!("{}: {}", e.class, tidy(&e.message)));
            f.advice = Some(e.advice().to_string());
            f
        }
    };
    if let Some(c) = &flash.check {
        if flash.tone != "error" {
            *app.last_check.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        }
    }
    let id = app.put_flash(flash);
    see(&id, "connection")
}

/// Run a future that need not be `Send` (the sandbox's calls) on its own thread.
async fn on_own_thread<F, Fut, T>(f: F) -> Result<T, HostError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("serve-call".into())
        .spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = tx.send(rt.block_on(f()));
            }
        })
        .map_err(|e| HostError::new("internal", format!("cannot start a thread: {e}")))?;
    rx.await
        .map_err(|_| HostError::new("internal", "the call ended without an answer"))
}

fn cap_title(c: &wit::CapabilityCheck) -> String {
    let what = match c.name.as_str() {
        "usage-read" => "organization usage",
        "directory-read" => "users, projects and API keys",
        other => other,
    };
    if c.granted {
        return format!("Connected — reads {what}");
    }
    match (c.name.as_str(), c.error_class.as_str()) {
        (_, "unauthorized") => "Key rejected — OpenAI does not accept this API Token".into(),
        ("usage-read", "not-admin") => {
            "Missing scope — this key cannot read usage (api.usage.read)".into()
        }
        ("directory-read", "not-admin") => {
            "Missing scope — this key cannot read the directory (api.management.read)".into()
        }
        (_, class) => format!("Not granted — {what} ({class})"),
    }
}

fn check_view(report: &wit::CredentialReport, token: &str) -> CheckView {
    CheckView {
        at: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        ok: report.ok,
        token: redacted_form(token.trim()),
        organization: report.organization.clone(),
        caps: report
            .capabilities
            .iter()
            .map(|c| CapView {
                name: c.name.clone(),
                ok: c.granted,
                title: cap_title(c),
                detail: tidy(&c.message),
            })
            .collect(),
        notes: report.notes.iter().map(|n| tidy(n)).collect(),
    }
}

/// Put back what was stored before a save whose key did not work.
fn restore(store: &mut Store, previous: Option<(Vec<wit::Setting>, String)>) -> anyhow::Result<()> {
    match previous {
        Some((settings, token)) => {
            let settings: Vec<wit::Setting> = settings
                .into_iter()
                .filter(|s| s.key != TOKEN_SLOT)
                .collect();
            store.save_settings(&settings, &token)
        }
        None => store.clear_settings(),
    }
}

async fn save_and_check(
    harness: &Harness,
    db: &std::path::Path,
    raw: Vec<(String, String)>,
    token: String,
    submitted: BTreeMap<String, String>,
    labels: &BTreeMap<String, String>,
) -> Flash {
    let mut store = match Store::open(db) {
        Ok(s) => s,
        Err(e) => {
            let mut f = Flash::new("error", "Not saved: the store cannot be opened");
            f.lines.push(format!("{e:#}"));
            return f;
        }
    };
    let previous = store.settings_with_token().ok().flatten();
    let kept_token = token.trim().is_empty() && previous.is_some();
    let token = if kept_token {
        previous.as_ref().map(|p| p.1.clone()).unwrap_or_default()
    } else {
        token
    };
    let not_saved = |mut f: Flash| {
        f.submitted = Some(submitted.clone());
        f
    };
    match harness.configure(&mut store, &raw, &token).await {
        Err(e) if e.class == "invalid-settings" => {
            let project_key = token.trim().starts_with("sk-proj-");
            let mut f = Flash::new(
                "error",
                if project_key {
                    "Not saved: this is a project key, not an Admin API key"
                } else {
                    "Not saved: please correct the fields marked below"
                },
            );
            for line in e.message.lines() {
                match line.split_once(": ") {
                    Some((key, msg)) if labels.contains_key(key) => {
                        f.field_errors.insert(key.to_string(), tidy(msg));
                    }
                    _ => f.lines.push(tidy(line)),
                }
            }
            if !f.field_errors.is_empty() && !project_key {
                let named: Vec<&str> = f.field_errors.keys().map(|k| labels[k].as_str()).collect();
                f.lines
                    .push(format!("See the message under: {}.", named.join(", ")));
            }
            if project_key {
                f.advice = Some("Create an Admin API key in the OpenAI Platform under Manage → Admin API Keys (only an organization Owner can), then paste it under API Token.".into());
            }
            f.lines
                .push("Nothing was stored; the previous settings stay in place.".into());
            not_saved(f)
        }
        Err(e) => {
            let mut f = Flash::new("error", "Not saved");
            f.lines.push(format!("{}: {}", e.class, tidy(&e.message)));
            f.advice = Some(e.advice().to_string());
            not_saved(f)
        }
        Ok(saved) => match harness.validate(&store).await {
            Ok(report) if report.ok => {
                let mut f = Flash::new(
                    "ok",
                    format!(
                        "Saved and connected{}",
                        if kept_token {
                            " (kept the saved key)"
                        } else {
                            ""
                        }
                    ),
                );
                f.lines.push(format!(
                    "API Token {} works for every capability this connector needs.",
                    saved.token_redacted
                ));
                let runs = store.runs(25).unwrap_or_default();
                match usage_view(&store, &runs) {
                    Ok(Some(u)) if u.no_codex => {
                        f.tone = "warn";
                        f.lines.extend(no_codex_notice(&u));
                    }
                    Ok(Some(_)) => {}
                    _ => f.lines.push(
                        "Nothing imported yet: press Sync now (or wait for the schedule); this page then shows the Codex usage found, or says that there is none.".into(),
                    ),
                }
                f.check = Some(check_view(&report, &token));
                f
            }
            Ok(report) => {
                let restored = restore(&mut store, previous);
                let mut f = Flash::new(
                    "error",
                    "Not saved: the key cannot read everything this connector needs",
                );
                if report
                    .capabilities
                    .iter()
                    .all(|c| !c.granted && c.error_class == "unauthorized")
                {
                    f.title = "Not saved: OpenAI rejected this API Token".into();
                }
                f.lines.push(match restored {
                    Ok(()) => "Nothing was stored; the previous settings stay in place.".into(),
                    Err(e) => format!("Restoring the previous settings failed: {e:#}"),
                });
                f.check = Some(check_view(&report, &token));
                not_saved(f)
            }
            Err(e) => {
                let restored = restore(&mut store, previous);
                let mut f = Flash::new("error", "Not saved: the connection check failed");
                f.lines.push(format!("{}: {}", e.class, tidy(&e.message)));
                if let Err(re) = restored {
                    f.lines
                        .push(format!("Restoring the previous settings failed: {re:#}"));
                } else {
                    f.lines
                        .push("Nothing was stored; the previous settings stay in place.".into());
                }
                f.advice = Some(e.advice().to_string());
                not_saved(f)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_and_helpers() {
        let mut h = HeaderMap::new();
        // "admin:correct horse" in base64
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWRtaW46Y29ycmVjdCBob3JzZQ=="),
        );
        assert!(basic_auth_ok(&h, "correct horse"));
        assert!(!basic_auth_ok(&h, "correct horsf"));
        assert!(!basic_auth_ok(&HeaderMap::new(), "x"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(random_hex(16).len(), 32);
    }

    #[test]
    fn same_origin_rules() {
        let host = "127.0.0.1:8080";
        let mut h = HeaderMap::new();
        assert!(same_origin(&h, host).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(same_origin(&h, host).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(same_origin(&h, host).is_err());
        h.insert(header::ORIGIN, HeaderValue::from_static("null"));
        assert!(same_origin(&h, host).is_err());
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(same_origin(&h, host).is_err());
    }
}
