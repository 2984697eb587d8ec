//! The sandbox: wasmtime with wasi and wasi-http, and every policy the host owns in one
//! place — the outbound allow-list, the `api.openai.com` redirect to a local mock, HTTP
//! timeouts, a response body cap, a memory cap and a wall-clock limit per call.
//!
//! The component is compiled once per process (`Sandbox::load`); every run gets a fresh
//! instance (`Sandbox::session`) from a pre-linked `InstancePre`, so no state leaks between
//! runs and a broken instance is simply dropped.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context};
use http_body_util::BodyExt;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::redact::Redactor;

wasmtime::component::bindgen!({
    path: "../wit",
    world: "analytics:connector/connector-plugin",
    exports: { default: async },
    with: {
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasi:io": wasmtime_wasi::p2::bindings::io,
    },
});

use analytics::connector::host_log;
pub use analytics::connector::types as wit;

/// Everything the host decides about what a component may do.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Hosts the component may call; set from `describe().hosts` for each session.
    pub allowed_hosts: BTreeSet<String>,
    /// Where `api.openai.com` really goes (a local mock in tests and demos).
    pub openai_base: Option<Base>,
    pub connect_timeout: Duration,
    pub first_byte_timeout: Duration,
    pub between_bytes_timeout: Duration,
    /// Largest response body handed to the component.
    pub max_body_bytes: u64,
    /// Linear-memory cap of one instance.
    pub max_memory_bytes: usize,
    /// Wall-clock limit of one export call (a `pull-page` includes its HTTP request).
    pub call_timeout: Duration,
    /// CPU time one export call may spend executing WebAssembly (measured in epoch ticks
    /// of `EPOCH_TICK`; time spent waiting on the network does not count).
    pub cpu_budget: Duration,
    /// Largest raw page body the host accepts from `pull-page`.
    pub max_page_bytes: usize,
    /// Most records, and largest record payload, the host accepts from one `normalize`.
    pub max_records_per_page: usize,
    pub max_record_bytes: usize,
}

/// How often the engine's epoch advances; the CPU budget is counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_hosts: BTreeSet::new(),
            openai_base: None,
            connect_timeout: Duration::from_secs(10),
            first_byte_timeout: Duration::from_secs(60),
            between_bytes_timeout: Duration::from_secs(30),
            max_body_bytes: 192 * 1024 * 1024,
            max_memory_bytes: 1024 * 1024 * 1024,
            call_timeout: Duration::from_secs(180),
            cpu_budget: Duration::from_secs(60),
            max_page_bytes: 192 * 1024 * 1024,
            max_records_per_page: 1_000_000,
            max_record_bytes: 1024 * 1024,
        }
    }
}

/// A redirect target for `api.openai.com`.
#[derive(Clone, Debug, PartialEq)]
pub struct Base {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
}

impl Base {
    /// Parse `--openai-base`. Plain http is accepted only for loopback addresses, so a
    /// token can never travel unencrypted across a network.
    pub fn parse(url: &str) -> anyhow::Result<Base> {
        let uri: http::Uri = url
            .trim_end_matches('/')
            .parse()
            .context("--openai-base is not a URL")?;
        let scheme = uri
            .scheme()
            .cloned()
            .context("--openai-base needs a scheme (http:// or https://)")?;
        let authority = uri
            .authority()
            .cloned()
            .context("--openai-base needs a host")?;
        if uri.path() != "/" && !uri.path().is_empty() {
            bail!("--openai-base takes only scheme://host:port, without a path");
        }
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let loopback = host == "localhost"
            || host
                .parse::<IpAddr>()
                .map(|ip| ip.is_loopback())
                .unwrap_or(false);
        if scheme == http::uri::Scheme::HTTP && !loopback {
            bail!("--openai-base may use plain http only for a loopback address (127.0.0.1, ::1, localhost)");
        } else if scheme != http::uri::Scheme::HTTP && scheme != http::uri::Scheme::HTTPS {
            bail!("--openai-base must be http:// or https://");
        }
        Ok(Base { scheme, authority })
    }
}

/// What the component's HTTP calls did during one session.
#[derive(Debug, Default)]
pub struct HttpStats {
    pub requests: AtomicU64,
    pub denied: Mutex<Vec<String>>,
}

/// One line the component logged through `host-log`.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// Per-instance host state.
pub struct HostState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: PolicyHooks,
    limits: StoreLimits,
    logs: Arc<Mutex<Vec<LogLine>>>,
    redactor: Redactor,
    /// Epoch ticks the current call has spent executing WebAssembly.
    cpu_ticks: u64,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl host_log::Host for HostState {
    fn log(&mut self, level: host_log::Level, message: String) {
        let level = match level {
            host_log::Level::Trace => "trace",
            host_log::Level::Debug => "debug",
            host_log::Level::Info => "info",
            host_log::Level::Warn => "warn",
            host_log::Level::Error => "error",
        };
        // Bounded: a chatty or hostile component cannot grow host memory through logs.
        let message: String = self.redactor.redact(&message).chars().take(2_000).collect();
        tracing::debug!(target: "connector", level, "{message}");
        let mut logs = self.logs.lock().unwrap();
        if logs.len() < 10_000 {
            logs.push(LogLine { level, message });
        }
    }
}

/// Enforces the policy on every outgoing request (the `wasi:http` hook).
struct PolicyHooks {
    policy: Arc<Policy>,
    stats: Arc<HttpStats>,
}

impl WasiHttpHooks for PolicyHooks {
    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        let policy = self.policy.clone();
        let stats = self.stats.clone();
        let host = request.uri().host().unwrap_or("").to_ascii_lowercase();
        if !policy.allowed_hosts.contains(&host) {
            tracing::warn!(host = %host, "outbound request denied: host is not in the connector's allow-list");
            let mut denied = stats.denied.lock().unwrap();
            if denied.len() < 100 {
                denied.push(host);
            }
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        if host == "api.openai.com" {
            if let Some(base) = &policy.openai_base {
                let mut parts = request.uri().clone().into_parts();
                parts.scheme = Some(base.scheme.clone());
                parts.authority = Some(base.authority.clone());
                match http::Uri::from_parts(parts) {
                    Ok(uri) => *request.uri_mut() = uri,
                    Err(_) => {
                        return Box::new(async {
                            Err(wasmtime_wasi_http::Error::HttpRequestUriInvalid)
                        })
                    }
                }
                if let Ok(v) = http::HeaderValue::from_str(base.authority.as_str()) {
                    request.headers_mut().insert(http::header::HOST, v);
                }
            }
        }
        // The guest may ask for shorter timeouts, never longer ones.
        let cap = |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |a| a.min(max)));
        let options = RequestOptions {
            connect_timeout: cap(
                options.and_then(|o| o.connect_timeout),
                policy.connect_timeout,
            ),
            first_byte_timeout: cap(
                options.and_then(|o| o.first_byte_timeout),
                policy.first_byte_timeout,
            ),
            between_bytes_timeout: cap(
                options.and_then(|o| o.between_bytes_timeout),
                policy.between_bytes_timeout,
            ),
        };
        Box::new(async move {
            stats.requests.fetch_add(1, Ordering::Relaxed);
            let (resp, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let max = policy.max_body_bytes;
            let declared = resp
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max) {
                return Err(wasmtime_wasi_http::Error::HttpResponseBodySize(declared));
            }
            let resp = resp.map(|body| {
                http_body_util::Limited::new(body, max as usize)
                    .map_err(move |e| match e.downcast::<wasmtime_wasi_http::Error>() {
                        Ok(e) => *e,
                        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                            wasmtime_wasi_http::Error::HttpResponseBodySize(Some(max))
                        }
                        Err(e) => wasmtime_wasi_http::Error::InternalError(Some(e.to_string())),
                    })
                    .boxed_unsync()
            });
            Ok((resp, Box::new(io) as Box<dyn Future<Output = _> + Send>))
        })
    }
}

/// A compiled component, ready to be instantiated many times.
pub struct Sandbox {
    engine: Engine,
    pre: ConnectorPluginPre<HostState>,
    component: Component,
}

/// The process-wide engine: epoch interruption lets the host preempt a spinning guest.
fn engine() -> anyhow::Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(e) = ENGINE.get() {
        return Ok(e.clone());
    }
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    let engine = Engine::new(&config)?;
    let ticker = engine.clone();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            ticker.increment_epoch();
        })?;
    Ok(ENGINE.get_or_init(|| engine).clone())
}

impl Sandbox {
    /// Compile (or deserialize) the component and link it against the host's imports.
    pub fn load(path: &Path) -> anyhow::Result<Sandbox> {
        let engine = engine()?;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read component {}", path.display()))?;
        let component = Component::new(&engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{} is not a valid component", path.display()))?;
        Self::from_component(engine, component)
    }

    fn from_component(engine: Engine, component: Component) -> anyhow::Result<Sandbox> {
        let mut linker: Linker<HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        host_log::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs imports this host does not provide")?;
        let pre = ConnectorPluginPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component does not export analytics:connector/connector@0.1.x")?;
        Ok(Sandbox {
            engine,
            pre,
            component,
        })
    }

    /// Names of what the component imports and exports, for `host-harness describe`.
    pub fn interface(&self) -> (Vec<String>, Vec<String>) {
        let ty = self.component.component_type();
        let imports = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        let exports = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_string())
            .collect();
        (imports, exports)
    }

    /// A fresh instance under `policy`. No filesystem, no environment, no sockets: the
    /// only way out is `wasi:http`, through the policy hook.
    pub async fn session(&self, policy: Policy, redactor: Redactor) -> anyhow::Result<Session> {
        let policy = Arc::new(policy);
        let stats = Arc::new(HttpStats::default());
        let logs = Arc::new(Mutex::new(Vec::new()));
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let state = HostState {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: PolicyHooks {
                policy: policy.clone(),
                stats: stats.clone(),
            },
            limits: StoreLimitsBuilder::new()
                .memory_size(policy.max_memory_bytes)
                .instances(16)
                .tables(64)
                .memories(4)
                .trap_on_grow_failure(true)
                .build(),
            logs: logs.clone(),
            redactor,
            cpu_ticks: 0,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        // Every epoch tick spent in WebAssembly lands here: count it against the call's CPU
        // budget, and yield to the executor so other runs progress and a wall-clock
        // timeout can stop a guest that never returns.
        let max_ticks = (policy.cpu_budget.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |mut ctx| {
            let state = ctx.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_ticks > max_ticks {
                Ok(wasmtime::UpdateDeadline::Interrupt)
            } else {
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        let plugin = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("instantiating the component failed")?;
        Ok(Session {
            store,
            plugin,
            policy,
            stats,
            logs,
            poisoned: false,
        })
    }
}

/// Why a call into the component did not return a value.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("the component did not return within the wall-clock limit of {0:?}")]
    Timeout(Duration),
    #[error("the component used up its CPU budget of {0:?} for one call")]
    CpuBudget(Duration),
    #[error("the component exceeded its memory limit of {} MiB", .0 / (1024 * 1024))]
    Memory(usize),
    #[error("the component trapped: {0}")]
    Trap(String),
    #[error("the component broke a host limit: {0}")]
    Limit(String),
}

impl CallError {
    fn from_trap(e: wasmtime::Error, policy: &Policy) -> CallError {
        if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return CallError::CpuBudget(policy.cpu_budget);
        }
        let text = format!("{e:?}");
        if text.contains("growing memory") || text.contains("memory limit") {
            return CallError::Memory(policy.max_memory_bytes);
        }
        // Name the trap itself; the wasm backtrace is for developers (debug log).
        tracing::debug!("component trap: {e:?}");
        let what = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => e.root_cause().to_string(),
        };
        CallError::Trap(what.chars().take(500).collect())
    }
}

/// One instance of the component, for one run.
pub struct Session {
    store: Store<HostState>,
    plugin: ConnectorPlugin,
    policy: Arc<Policy>,
    pub stats: Arc<HttpStats>,
    pub logs: Arc<Mutex<Vec<LogLine>>>,
    poisoned: bool,
}

/// Call an export under the wall-clock limit and a fresh CPU budget. After any error
/// the instance is poisoned: the session must be dropped.
macro_rules! guarded {
    ($self:ident, $call:ident ( $($arg:expr),* )) => {{
        if $self.poisoned {
            return Err(CallError::Trap("this instance already failed; start a new session".into()));
        }
        let limit = $self.policy.call_timeout;
        $self.store.data_mut().cpu_ticks = 0;
        let api = $self.plugin.analytics_connector_connector();
        let r = match tokio::time::timeout(limit, api.$call(&mut $self.store $(, $arg)*)).await {
            Err(_) => Err(CallError::Timeout(limit)),
            Ok(Err(trap)) => Err(CallError::from_trap(trap, &$self.policy)),
            Ok(Ok(v)) => Ok(v),
        };
        $self.poisoned = r.is_err();
        r
    }};
}

impl Session {
    pub async fn describe(&mut self) -> Result<wit::ConnectorInfo, CallError> {
        guarded!(self, call_describe())
    }
    pub async fn configure(
        &mut self,
        settings: &[wit::Setting],
    ) -> Result<Result<wit::Configured, wit::ConnectorError>, CallError> {
        guarded!(self, call_configure(settings))
    }
    pub async fn validate_credentials(
        &mut self,
    ) -> Result<Result<wit::CredentialReport, wit::ConnectorError>, CallError> {
        guarded!(self, call_validate_credentials())
    }
    pub async fn pull_page(
        &mut self,
        stream: &str,
        checkpoint: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Result<wit::Page, wit::ConnectorError>, CallError> {
        let r = guarded!(self, call_pull_page(stream, checkpoint, cursor))?;
        if let Ok(page) = &r {
            let max = self.policy.max_page_bytes;
            if page.raw.body.len() > max {
                self.poisoned = true;
                return Err(CallError::Limit(format!(
                    "a {} page of {} MiB exceeds the {} MiB page cap",
                    page.raw.stream,
                    page.raw.body.len() >> 20,
                    max >> 20
                )));
            }
            let cursor_len = page.next_cursor.as_ref().map_or(0, |c| c.len())
                + page.checkpoint.as_ref().map_or(0, |c| c.len());
            if cursor_len > 1024 * 1024 {
                self.poisoned = true;
                return Err(CallError::Limit(
                    "a cursor or checkpoint larger than 1 MiB".into(),
                ));
            }
        }
        Ok(r)
    }
    pub async fn normalize(
        &mut self,
        raw: &wit::RawPage,
    ) -> Result<Result<Vec<wit::NormalizedRecord>, wit::ConnectorError>, CallError> {
        let r = guarded!(self, call_normalize(raw))?;
        if let Ok(records) = &r {
            let (max_n, max_len) = (
                self.policy.max_records_per_page,
                self.policy.max_record_bytes,
            );
            if records.len() > max_n {
                self.poisoned = true;
                return Err(CallError::Limit(format!(
                    "{} records from one page exceed the cap of {max_n}",
                    records.len()
                )));
            }
            if let Some(big) = records
                .iter()
                .find(|r| r.payload.len() + r.key.len() > max_len)
            {
                self.poisoned = true;
                return Err(CallError::Limit(format!(
                    "a record of {} KiB exceeds the {} KiB record cap",
                    (big.payload.len() + big.key.len()) >> 10,
                    max_len >> 10
                )));
            }
        }
        Ok(r)
    }
    pub fn requests(&self) -> u64 {
        self.stats.requests.load(Ordering::Relaxed)
    }
    pub fn denied(&self) -> Vec<String> {
        self.stats.denied.lock().unwrap().clone()
    }
}
