//! The host state of one instance, and the host side of the contract's own imports:
//! `host-log` (redacted, bounded) and `secrets` (placeholders the outbound hook fills in).

use std::sync::{Arc, Mutex};

use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::p2::types::HostOutgoingRequest;
use wasmtime_wasi_http::{FieldMap, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::bindings::v0_2::{host_log, secrets};
use crate::policy::outbound::{Outbound, PolicyHooks};
use crate::policy::secrets::AttachRefusal;
use crate::redact::Redactor;

/// One line the component logged through `host-log`, redacted.
#[derive(Clone, Debug)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// The most log lines one instance keeps, and the longest line.
const LOG_LINES_KEPT: usize = 10_000;
const LOG_LINE_CHARS: usize = 2_000;

/// Per-instance host state.
pub struct HostState {
    pub(super) wasi: WasiCtx,
    pub(super) http: WasiHttpCtx,
    pub(super) table: ResourceTable,
    pub(super) hooks: PolicyHooks,
    pub(super) limiter: super::session::Limiter,
    pub(super) logs: Arc<Mutex<Vec<LogLine>>>,
    pub(super) redactor: Redactor,
    /// Epoch ticks the current call has spent executing WebAssembly.
    pub(super) cpu_ticks: u64,
    /// Attached for log lines: which connection and run this instance serves.
    pub(super) context: String,
}

impl HostState {
    fn outbound(&self) -> &Arc<Outbound> {
        &self.hooks.0
    }
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
        let clipped: String = message.chars().take(LOG_LINE_CHARS).collect();
        let message = self.redactor.redact(&clipped);
        tracing::debug!(target: "connector", level, context = %self.context, "{message}");
        let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
        if logs.len() < LOG_LINES_KEPT {
            logs.push(LogLine { level, message });
        }
    }
}

/// `FieldMap::new_immutable` strips the forbidden headers a hook names; the host's own
/// secret header must survive it, so the rebuilt map is checked against the defaults only.
struct DefaultForbidden;
impl WasiHttpHooks for DefaultForbidden {}

impl secrets::Host for HostState {
    fn attach(
        &mut self,
        request: Resource<HostOutgoingRequest>,
        key: String,
    ) -> Result<(), secrets::AttachError> {
        let (name, placeholder) = match self.outbound().secrets().placeholder(&key) {
            Ok(p) => p,
            Err(AttachRefusal::UnknownSecret) => return Err(secrets::AttachError::UnknownSecret),
            Err(AttachRefusal::NotSet) => return Err(secrets::AttachError::NotSet),
        };
        let Ok(req) = self.table.get_mut(&request) else {
            return Err(secrets::AttachError::Refused);
        };
        let mut headers: http::HeaderMap = req.headers.clone().into();
        headers.insert(name, placeholder);
        req.headers = FieldMap::new_immutable(&mut DefaultForbidden, headers);
        Ok(())
    }
}
