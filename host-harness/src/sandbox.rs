//! The sandbox: wasmtime with wasi and wasi-http, and every policy the host owns in one
//! place — the outbound allow-list, the `api.openai.com` redirect to a local mock, HTTP
//! timeouts, a response body cap, a memory cap and a wall-clock limit per call.
//!
//! The component is compiled once per process (`Sandbox::load`), or loaded from a
//! precompiled artifact the host itself wrote earlier (`Sandbox::load_cached`, keyed by the
//! component's SHA-256 and the engine's compatibility hash); every run gets a fresh
//! instance (`Sandbox::session`) from a pre-linked `InstancePre` in a pooling allocator, so
//! no state leaks between runs and a broken instance is simply dropped.

use std::collections::BTreeSet;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context};
use http_body_util::BodyExt;
use wasmtime::component::{Component, ComponentExportIndex, Func, HasSelf, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits,
    StoreLimitsBuilder,
};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::records::Records;
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

/// The interface this host drives, as the component exports it (any semver-compatible
/// version matches, as for the generated bindings).
const CONNECTOR_INTERFACE: &str = "analytics:connector/connector@0.1.0";

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
    /// `normalize`, called directly so that its records lift into one buffer (`Records`).
    normalize: ComponentExportIndex,
    component: Component,
    origin: LoadOrigin,
}

/// How instances get their memories, tables and stacks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// Preallocated slots reused across instances (the default: instantiating is a few
    /// microseconds instead of an mmap per memory and stack).
    Pooling,
    /// An mmap per instance (wasmtime's default), kept for comparison in `bench`.
    OnDemand,
}

/// Where a [`Sandbox`]'s compiled code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadOrigin {
    /// Compiled from the .wasm in this process, no cache involved.
    Compiled,
    /// Compiled from the .wasm, and the artifact written to the cache for next time.
    CompiledAndCached,
    /// Loaded from a precompiled artifact in the cache.
    Cached,
}

/// The process-wide engines: epoch interruption lets the host preempt a spinning guest.
/// The pooling one is what `Sandbox::load*` use; the on-demand one exists for comparison.
fn engine_with(allocator: Allocator) -> anyhow::Result<Engine> {
    static POOLING: OnceLock<Engine> = OnceLock::new();
    static ON_DEMAND: OnceLock<Engine> = OnceLock::new();
    let cell = match allocator {
        Allocator::Pooling => &POOLING,
        Allocator::OnDemand => &ON_DEMAND,
    };
    if let Some(e) = cell.get() {
        return Ok(e.clone());
    }
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.wasm_component_model(true);
    // For `perf record`: name the guest's functions in /tmp/perf-PID.map.
    if std::env::var_os("HOST_HARNESS_PERF_MAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if allocator == Allocator::Pooling {
        // Linear memories keep wasmtime's default 4 GiB reservation (bounds checks elided);
        // the per-instance cap stays the store limiter's (`Policy::max_memory_bytes`).
        // 200 concurrent instances per process is far more than the runner uses (one per
        // run) and bounds the address space reserved up front (~0.8 TiB, not resident).
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(200)
            .total_core_instances(1_000)
            .total_memories(200)
            .total_tables(1_000)
            .total_stacks(200)
            // Keep a little of each slot's memory resident across reuse: resetting a
            // slot then needs no page faults for the component's first pages.
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = match Engine::new(&config) {
        Ok(e) => e,
        // The pool's address-space reservation can fail where virtual memory is limited
        // (ulimit -v): fall back to allocating per instance rather than not running.
        Err(e) if allocator == Allocator::Pooling => {
            tracing::warn!("pooling allocator unavailable ({e}); allocating per instance");
            config.allocation_strategy(InstanceAllocationStrategy::OnDemand);
            Engine::new(&config)?
        }
        Err(e) => return Err(e.into()),
    };
    let engine = cell.get_or_init(|| engine).clone();
    static TICKER: OnceLock<()> = OnceLock::new();
    let mut spawn_err = None;
    TICKER.get_or_init(|| {
        if let Err(e) = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(|| loop {
                std::thread::sleep(EPOCH_TICK);
                for e in [&POOLING, &ON_DEMAND].iter().filter_map(|c| c.get()) {
                    e.increment_epoch();
                }
            })
        {
            spawn_err = Some(e);
        }
    });
    if let Some(e) = spawn_err {
        return Err(e.into());
    }
    Ok(engine)
}

/// Where `Sandbox::load_default` keeps precompiled components:
/// `$HOST_HARNESS_CACHE_DIR` (empty or `off` = no cache), else
/// `$XDG_CACHE_HOME/host-harness/components`, else `$HOME/.cache/host-harness/components`.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("HOST_HARNESS_CACHE_DIR") {
        if dir.is_empty() || dir == "off" {
            return None;
        }
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty() && Path::new(d).is_absolute())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|d| !d.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })?;
    Some(base.join("host-harness").join("components"))
}

/// Feeds `Hash` output into SHA-256, so the engine's compatibility hash is keyed at full
/// strength (and independently of std's hasher).
struct ShaHasher(sha2::Sha256);

impl std::hash::Hasher for ShaHasher {
    fn write(&mut self, bytes: &[u8]) {
        sha2::Digest::update(&mut self.0, bytes);
    }
    fn finish(&self) -> u64 {
        0
    }
}

/// The cache key of `bytes` compiled by `engine`: hex SHA-256 over the component's bytes
/// and the engine's precompile compatibility hash (wasmtime version, target, settings).
pub fn cache_key(engine_allocator: Allocator, bytes: &[u8]) -> anyhow::Result<String> {
    let engine = engine_with(engine_allocator)?;
    Ok(cache_key_for(&engine, bytes))
}

fn cache_key_for(engine: &Engine, bytes: &[u8]) -> String {
    use sha2::Digest;
    use std::hash::Hash;
    let mut h = ShaHasher(sha2::Sha256::new());
    h.0.update(b"host-harness component cache v1\0");
    h.0.update((bytes.len() as u64).to_le_bytes());
    h.0.update(bytes);
    engine.precompile_compatibility_hash().hash(&mut h);
    h.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Make (or check) the cache directory: it must be ours and writable by nobody else,
/// because whatever lands in it is later mapped as executable code.
#[cfg(unix)]
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let meta = std::fs::symlink_metadata(dir)?;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    if !meta.is_dir() || meta.uid() != me {
        bail!("{} is not a directory owned by this user", dir.display());
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// A cached artifact we may map: a regular file owned by this user, not writable by others.
#[cfg(unix)]
fn trusted_artifact(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions.
    let me = unsafe { libc::geteuid() };
    match std::fs::symlink_metadata(path) {
        Ok(m) => m.is_file() && m.uid() == me && m.mode() & 0o022 == 0,
        Err(_) => false,
    }
}

#[cfg(not(unix))]
fn trusted_artifact(path: &Path) -> bool {
    path.is_file()
}

/// Write `bytes` to `path` atomically (a private temp file renamed into place), so a
/// concurrent reader sees either nothing or the whole artifact.
fn write_artifact(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let tmp = path.with_extension(format!(
        "tmp.{}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let result = (|| -> anyhow::Result<()> {
        let mut f = opts.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Keep the `keep` most recently used artifacts; remove older ones and stale temp files.
fn prune_cache(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut artifacts = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let Ok(meta) = e.metadata() else { continue };
        let modified = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".cwasm") {
            artifacts.push((modified, path));
        } else if name.contains(".tmp.")
            && modified.elapsed().unwrap_or_default() > Duration::from_secs(3600)
        {
            let _ = std::fs::remove_file(&path);
        }
    }
    if artifacts.len() > keep {
        artifacts.sort();
        let excess = artifacts.len() - keep;
        for (_, p) in artifacts.into_iter().take(excess) {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Sandbox {
    /// Compile the component and link it against the host's imports.
    pub fn load(path: &Path) -> anyhow::Result<Sandbox> {
        Self::load_with(path, None, Allocator::Pooling)
    }

    /// Like [`Sandbox::load`], through the precompiled-artifact cache in
    /// [`default_cache_dir`] when there is one.
    pub fn load_default(path: &Path) -> anyhow::Result<Sandbox> {
        Self::load_with(path, default_cache_dir().as_deref(), Allocator::Pooling)
    }

    /// Load through the cache in `cache_dir`: on a hit, map the artifact the host wrote
    /// earlier (no compilation); on a miss, compile and write the artifact for next time.
    /// A cache that cannot be used (unwritable, foreign-owned, a stale or corrupt
    /// artifact) only costs a compilation, never the load.
    pub fn load_cached(path: &Path, cache_dir: &Path) -> anyhow::Result<Sandbox> {
        Self::load_with(path, Some(cache_dir), Allocator::Pooling)
    }

    /// The general form: an optional cache and a choice of instance allocator.
    pub fn load_with(
        path: &Path,
        cache_dir: Option<&Path>,
        allocator: Allocator,
    ) -> anyhow::Result<Sandbox> {
        let engine = engine_with(allocator)?;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read component {}", path.display()))?;
        let Some(dir) = cache_dir else {
            let component = Self::compile(&engine, path, &bytes)?;
            return Self::from_component(engine, component, LoadOrigin::Compiled);
        };
        let usable = private_dir(dir)
            .map_err(|e| tracing::debug!("component cache {} not used: {e:#}", dir.display()))
            .is_ok();
        let artifact = dir.join(format!("{}.cwasm", cache_key_for(&engine, &bytes)));
        if usable && trusted_artifact(&artifact) {
            // SAFETY: the artifact is a file this host wrote (into a directory only this
            // user may write) with `Component::serialize` of a component compiled by an
            // engine with the same compatibility hash, as the file name says; wasmtime
            // checks the version and settings in its header again and refuses a mismatch.
            match unsafe { Component::deserialize_file(&engine, &artifact) } {
                Ok(component) => {
                    return Self::from_component(engine, component, LoadOrigin::Cached)
                }
                Err(e) => {
                    tracing::debug!("cached artifact {} unusable: {e:#}", artifact.display());
                    let _ = std::fs::remove_file(&artifact);
                }
            }
        }
        let component = Self::compile(&engine, path, &bytes)?;
        let mut origin = LoadOrigin::Compiled;
        if usable {
            match component
                .serialize()
                .map_err(anyhow::Error::from)
                .and_then(|art| write_artifact(&artifact, &art))
            {
                Ok(()) => {
                    origin = LoadOrigin::CompiledAndCached;
                    prune_cache(dir, 16);
                }
                Err(e) => tracing::debug!(
                    "cannot write the component cache {}: {e:#}",
                    artifact.display()
                ),
            }
        }
        Self::from_component(engine, component, origin)
    }

    fn compile(engine: &Engine, path: &Path, bytes: &[u8]) -> anyhow::Result<Component> {
        Component::new(engine, bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{} is not a valid component", path.display()))
    }

    /// Where this sandbox's compiled code came from.
    pub fn origin(&self) -> LoadOrigin {
        self.origin
    }

    /// The engine this sandbox's component was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    fn from_component(
        engine: Engine,
        component: Component,
        origin: LoadOrigin,
    ) -> anyhow::Result<Sandbox> {
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
        // `ConnectorPluginPre::new` found the interface and its `normalize` already.
        let normalize = component
            .get_export_index(None, CONNECTOR_INTERFACE)
            .and_then(|i| component.get_export_index(Some(&i), "normalize"))
            .context("the component does not export connector.normalize")?;
        Ok(Sandbox {
            engine,
            pre,
            normalize,
            component,
            origin,
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
        let instance = self
            .pre
            .instance_pre()
            .instantiate_async(&mut store)
            .await
            .map_err(anyhow::Error::from)
            .context("instantiating the component failed")?;
        let plugin = ConnectorPlugin::new(&mut store, &instance).map_err(anyhow::Error::from)?;
        let normalize = instance
            .get_func(&mut store, self.normalize)
            .context("the component does not export connector.normalize")?;
        Ok(Session {
            store,
            plugin,
            normalize,
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
    normalize: Func,
    policy: Arc<Policy>,
    pub stats: Arc<HttpStats>,
    pub logs: Arc<Mutex<Vec<LogLine>>>,
    poisoned: bool,
}

/// Call an export under the wall-clock limit and a fresh CPU budget. After any error
/// the instance is poisoned: the session must be dropped.
macro_rules! guarded {
    ($self:ident, $call:ident ( $($arg:expr),* )) => {{
        let api = $self.plugin.analytics_connector_connector();
        guarded!($self, api.$call(&mut $self.store $(, $arg)*))
    }};
    ($self:ident, $call:expr) => {{
        if $self.poisoned {
            return Err(CallError::Trap("this instance already failed; start a new session".into()));
        }
        let limit = $self.policy.call_timeout;
        $self.store.data_mut().cpu_ticks = 0;
        let r = match tokio::time::timeout(limit, $call).await {
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
    ) -> Result<Result<Records, wit::ConnectorError>, CallError> {
        type Normalize = (Result<Records, wit::ConnectorError>,);
        let func = self
            .normalize
            .typed::<(&wit::RawPage,), Normalize>(&self.store)
            .map_err(|e| CallError::Trap(format!("normalize has an unexpected type: {e}")))?;
        let (r,) = guarded!(self, func.call_async(&mut self.store, (raw,)))?;
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
            if records.largest() > max_len {
                self.poisoned = true;
                return Err(CallError::Limit(format!(
                    "a record of {} KiB exceeds the {} KiB record cap",
                    records.largest() >> 10,
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
