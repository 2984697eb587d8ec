//! The sandbox: wasmtime with wasi and wasi-http, under the host's [`crate::policy`].
//!
//! The component is compiled once per process (or loaded from a precompiled artifact the
//! host wrote earlier, [`cache`]), checked against the contract versions this host accepts
//! ([`contract`]), and linked once into an `InstancePre`. Every run gets a fresh instance
//! ([`Sandbox::session`]) in a pooling allocator, so no state leaks between runs and a
//! broken instance is simply dropped. The instance gets no files, no environment, no
//! arguments and no sockets: its only way out is `wasi:http`, through the policy hook.

pub mod cache;
pub mod contract;
pub mod engine;
mod session;
mod state;

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::WasiCtxBuilder;
use wasmtime_wasi_http::WasiHttpCtx;

pub use cache::{default_cache_dir, LoadOrigin};
pub use engine::Allocator;
pub use session::{CallError, Session};
pub use state::LogLine;

use crate::bindings::v0_2::{host_log, secrets, ConnectorPluginPre};
use crate::policy::outbound::{Outbound, PolicyHooks};
use crate::policy::secrets::SessionSecrets;
use crate::policy::{Policy, EPOCH_TICK};
use crate::redact::Redactor;

/// A compiled, checked and linked component, ready to be instantiated many times.
pub struct Sandbox {
    engine: Engine,
    pre: ConnectorPluginPre<state::HostState>,
    component: Component,
    origin: LoadOrigin,
    contract: String,
}

/// What a session is for, and what it may use.
pub struct SessionSpec {
    pub policy: Arc<Policy>,
    /// The secrets the component may have attached, with their rules.
    pub secrets: SessionSecrets,
    /// Redacts every string the component hands the host.
    pub redactor: Redactor,
    /// Put on every log line of the instance (e.g. `connection=default run=12`).
    pub context: String,
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

    /// Load through the cache in `cache_dir`.
    pub fn load_cached(path: &Path, cache_dir: &Path) -> anyhow::Result<Sandbox> {
        Self::load_with(path, Some(cache_dir), Allocator::Pooling)
    }

    /// The general form: an optional cache and a choice of instance allocator.
    pub fn load_with(
        path: &Path,
        cache_dir: Option<&Path>,
        allocator: Allocator,
    ) -> anyhow::Result<Sandbox> {
        let engine = engine::engine_with(allocator)?;
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read component {}", path.display()))?;
        let (component, origin) = cache::load(&engine, path, &bytes, cache_dir)?;
        let contract = contract::check(&component, &engine)?;
        let mut linker: Linker<state::HostState> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        host_log::add_to_linker::<_, HasSelf<state::HostState>>(&mut linker, |s| s)?;
        secrets::add_to_linker::<_, HasSelf<state::HostState>>(&mut linker, |s| s)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("the component needs imports this host does not provide")?;
        let pre = ConnectorPluginPre::new(pre)
            .map_err(anyhow::Error::from)
            .context("the component's connector interface does not match the contract")?;
        Ok(Sandbox {
            engine,
            pre,
            component,
            origin,
            contract,
        })
    }

    /// Where this sandbox's compiled code came from.
    pub fn origin(&self) -> LoadOrigin {
        self.origin
    }

    /// The contract version the component was built for (e.g. `0.2.0`).
    pub fn contract_version(&self) -> &str {
        &self.contract
    }

    /// The engine this sandbox's component was compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
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

    /// A fresh instance under `spec`.
    pub async fn session(&self, spec: SessionSpec) -> anyhow::Result<Session> {
        let SessionSpec {
            policy,
            secrets,
            redactor,
            context,
        } = spec;
        let out = Outbound::new(policy.clone(), Arc::new(secrets));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let wasi = WasiCtxBuilder::new()
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let mut http = WasiHttpCtx::new();
        http.set_field_size_limit(policy.max_field_bytes);
        let mut table = ResourceTable::new();
        table.set_max_capacity(policy.max_resources);
        let state = state::HostState {
            wasi,
            http,
            table,
            hooks: PolicyHooks(out.clone()),
            limiter: session::Limiter {
                max_memory: policy.max_memory_bytes,
                max_table_elements: 1 << 20,
                memory_hit: false,
                memory_peak: 0,
            },
            logs: logs.clone(),
            redactor,
            cpu_ticks: 0,
            context,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(policy.max_lifted_bytes);
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
            out,
            policy,
            logs,
            poisoned: false,
        })
    }
}
