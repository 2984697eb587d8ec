//! One instance of a component, for one run: every export call under a wall-clock limit,
//! a CPU budget and the outbound policy, with the component's results checked against the
//! host's caps. After any failure the instance is poisoned and must be dropped.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::Store;

use super::state::{HostState, LogLine};
use crate::bindings::v0_2::{types as wit, ConnectorPlugin};
use crate::origin::Origin;
use crate::policy::outbound::Outbound;
use crate::policy::Policy;

/// Why a call into the component did not return a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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

/// Counts linear-memory growth against the policy's cap and remembers that the cap was
/// hit, so that the trap that follows is reported as a memory failure by type, not text.
pub(super) struct Limiter {
    pub max_memory: usize,
    pub max_table_elements: usize,
    pub memory_hit: bool,
    /// The largest size a linear memory of the instance was granted, in bytes.
    pub memory_peak: usize,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.memory_hit = true;
            wasmtime::bail!("memory limit reached");
        }
        self.memory_peak = self.memory_peak.max(desired);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }

    fn instances(&self) -> usize {
        16
    }
    fn tables(&self) -> usize {
        64
    }
    fn memories(&self) -> usize {
        4
    }
}

/// One instance of the component.
pub struct Session {
    pub(super) store: Store<HostState>,
    pub(super) plugin: ConnectorPlugin,
    pub(super) out: Arc<Outbound>,
    pub(super) policy: Arc<Policy>,
    pub(super) logs: Arc<Mutex<Vec<LogLine>>>,
    pub(super) poisoned: bool,
}

impl Session {
    /// Run one export call under the policy: a fresh CPU budget and request count, the
    /// wall-clock limit, and the caps the outbound hook enforces.
    async fn guarded<T, F>(&mut self, call: F) -> Result<T, CallError>
    where
        F: for<'a> FnOnce(
            &'a ConnectorPlugin,
            &'a mut Store<HostState>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = wasmtime::Result<T>> + Send + 'a>,
        >,
    {
        if self.poisoned {
            return Err(CallError::Trap(
                "this instance already failed; start a new session".into(),
            ));
        }
        let limit = self.policy.call_timeout;
        self.store.data_mut().cpu_ticks = 0;
        self.out.begin_call();
        let outcome = tokio::time::timeout(limit, call(&self.plugin, &mut self.store)).await;
        let r = match outcome {
            Err(_) => Err(CallError::Timeout(limit)),
            Ok(Err(trap)) => Err(self.from_trap(trap)),
            Ok(Ok(v)) => match self.out.take_violation() {
                Some(why) => Err(CallError::Limit(why)),
                None => Ok(v),
            },
        };
        self.poisoned = r.is_err();
        r
    }

    fn from_trap(&mut self, e: wasmtime::Error) -> CallError {
        if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
            return CallError::CpuBudget(self.policy.cpu_budget);
        }
        if self.store.data().limiter.memory_hit {
            return CallError::Memory(self.policy.max_memory_bytes);
        }
        if let Some(why) = self.out.take_violation() {
            return CallError::Limit(why);
        }
        // Name the trap itself; the wasm backtrace is for developers (debug log).
        tracing::debug!("component trap: {e:?}");
        let what = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => trap.to_string(),
            None => e.root_cause().to_string(),
        };
        CallError::Trap(
            self.store
                .data()
                .redactor
                .redact(&what.chars().take(500).collect::<String>()),
        )
    }

    fn poison(&mut self, e: CallError) -> CallError {
        self.poisoned = true;
        e
    }

    pub async fn describe(&mut self) -> Result<wit::ConnectorInfo, CallError> {
        self.guarded(|p, s| Box::pin(p.analytics_connector_connector().call_describe(s)))
            .await
    }

    /// `configure`. The host keeps secrets: `settings` carries them as `secret-shape`s.
    pub async fn configure(
        &mut self,
        settings: &[wit::Setting],
    ) -> Result<Result<wit::Configured, wit::ConnectorError>, CallError> {
        let settings = settings.to_vec();
        self.guarded(move |p, s| {
            Box::pin(async move {
                p.analytics_connector_connector()
                    .call_configure(s, &settings)
                    .await
            })
        })
        .await
    }

    /// Set the allow-list this instance may reach (checked origins from `configure`).
    pub fn allow(&self, origins: Vec<Origin>) {
        self.out.allow(origins);
    }

    pub async fn validate_credentials(
        &mut self,
    ) -> Result<Result<wit::CredentialReport, wit::ConnectorError>, CallError> {
        self.guarded(|p, s| {
            Box::pin(
                p.analytics_connector_connector()
                    .call_validate_credentials(s),
            )
        })
        .await
    }

    pub async fn pull_page(
        &mut self,
        stream: &str,
        checkpoint: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Result<wit::Page, wit::ConnectorError>, CallError> {
        let (stream, checkpoint, cursor) = (
            stream.to_string(),
            checkpoint.map(str::to_string),
            cursor.map(str::to_string),
        );
        let r = self
            .guarded(move |p, s| {
                Box::pin(async move {
                    p.analytics_connector_connector()
                        .call_pull_page(s, &stream, checkpoint.as_deref(), cursor.as_deref())
                        .await
                })
            })
            .await?;
        if let Ok(page) = &r {
            let max = self.policy.max_page_bytes;
            if page.raw.body.len() > max {
                return Err(self.poison(CallError::Limit(format!(
                    "a page of {} MiB exceeds the {} MiB page cap",
                    page.raw.body.len() >> 20,
                    max >> 20
                ))));
            }
            let cursor_len = page.next_cursor.as_ref().map_or(0, |c| c.len())
                + page.checkpoint.as_ref().map_or(0, |c| c.len());
            if cursor_len > 1024 * 1024 {
                return Err(self.poison(CallError::Limit(
                    "a cursor or checkpoint larger than 1 MiB".into(),
                )));
            }
        }
        Ok(r)
    }

    /// `normalize`, lifted by the generated bindings: wasmtime charges every byte it
    /// copies out of the component to the store's hostcall fuel and checks every string's
    /// UTF-8, so a result that aliases one huge string a million times, or splits a
    /// character between two strings, fails typed before the host holds it.
    pub async fn normalize(
        &mut self,
        raw: &wit::RawPage,
    ) -> Result<Result<Vec<wit::NormalizedRecord>, wit::ConnectorError>, CallError> {
        Ok(self.normalize_owned(raw.clone()).await?.1)
    }

    /// [`Self::normalize`] taking the page and giving it back: the runner keeps one copy of
    /// a page's body (several MB) instead of two while the component normalizes it.
    pub async fn normalize_owned(
        &mut self,
        raw: wit::RawPage,
    ) -> Result<
        (
            wit::RawPage,
            Result<Vec<wit::NormalizedRecord>, wit::ConnectorError>,
        ),
        CallError,
    > {
        let (raw, r) = self
            .guarded(move |p, s| {
                Box::pin(async move {
                    let r = p
                        .analytics_connector_connector()
                        .call_normalize(s, &raw)
                        .await?;
                    Ok((raw, r))
                })
            })
            .await?;
        if let Ok(records) = &r {
            let (max_n, max_len) = (
                self.policy.max_records_per_page,
                self.policy.max_record_bytes,
            );
            if records.len() > max_n {
                return Err(self.poison(CallError::Limit(format!(
                    "{} records from one page exceed the cap of {max_n}",
                    records.len()
                ))));
            }
            let largest = records
                .iter()
                .map(|r| r.payload.len() + r.key.iter().flatten().map(String::len).sum::<usize>())
                .max()
                .unwrap_or(0);
            if largest > max_len {
                return Err(self.poison(CallError::Limit(format!(
                    "a record of {} KiB exceeds the {} KiB record cap",
                    largest >> 10,
                    max_len >> 10
                ))));
            }
        }
        Ok((raw, r))
    }

    /// Requests the host sent for this instance so far (its own count, not the
    /// component's claim).
    pub fn requests(&self) -> u64 {
        self.out.sent()
    }

    /// The last request of the last call that could not reach its origin (DNS, connect,
    /// TLS), as the host saw it.
    pub fn take_unreachable(&self) -> Option<crate::policy::outbound::Unreachable> {
        self.out.take_unreachable()
    }

    /// The most linear memory the instance has had, in bytes (a wasm memory never
    /// shrinks: this is what it holds until it is dropped).
    pub fn memory_bytes(&self) -> usize {
        self.store.data().limiter.memory_peak
    }

    /// The cap (bytes) at which the host stopped a response body during the last call:
    /// the host's own record, so the call's failure is classified without reading the
    /// component's words.
    pub fn take_oversize(&self) -> Option<u64> {
        self.out.take_oversize()
    }

    /// Requests the policy refused, with why.
    pub fn denied(&self) -> Vec<String> {
        self.out.denied()
    }

    /// The lines the component logged (redacted).
    pub fn logs(&self) -> Vec<LogLine> {
        self.logs.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}
