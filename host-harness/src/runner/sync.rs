//! One sync run: each stream page by page, from its checkpoint, in two fresh configured
//! instances (one pulls the next page while the other normalizes the page the host then
//! commits: [`super::pipeline`]); rate limits and transient failures retried on the same
//! cursor within bounds ([`super::pull`]); every page committed with its records and
//! checkpoint, in page order; then the connection's registered git repositories read
//! ([`crate::delivery::import`]); the run recorded in the history (a repository that could
//! not be read leaves a succeeded run with the error class `delivery` and its message).

use std::collections::BTreeMap;
use std::time::Duration;

use super::normalizers::Normalizers;
use super::pipeline::Instances;
use super::progress::ProgressTx;
use super::{Harness, HostError};
use crate::store::{lease, Run, RunLease, Store, StreamCounts};

/// What a run does.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions {
    /// Only these streams (all, in `describe` order, when `None`).
    pub streams: Option<Vec<String>>,
    /// Ignore the stored checkpoints: every stream is read from scratch.
    pub full_refresh: bool,
    /// Who started it: `cli`, `demo`, `schedule`, `ui`.
    pub trigger: String,
    pub progress: Option<ProgressTx>,
}

impl SyncOptions {
    pub fn new(trigger: &str) -> Self {
        SyncOptions {
            trigger: trigger.to_string(),
            ..Default::default()
        }
    }
}

impl Harness {
    /// One sync run of `connection` now. Refused before anything is recorded when the
    /// connection is busy (its lease is held, by this process or another), not configured,
    /// or asked for a stream the connector does not have.
    pub async fn sync(
        &self,
        store: &Store,
        connection: &str,
        opts: SyncOptions,
    ) -> Result<Run, HostError> {
        let lease = self.begin(store, connection, &opts).await?;
        self.run(store, lease, opts).await
    }

    /// The streams `opts` selects, in `describe` order.
    fn selected(&self, opts: &SyncOptions) -> Result<Vec<String>, HostError> {
        let names: Vec<String> = self.info().streams.iter().map(|s| s.name.clone()).collect();
        Ok(match &opts.streams {
            None => names,
            Some(list) => {
                if let Some(bad) = list.iter().find(|s| !names.contains(s)) {
                    return Err(HostError::new(
                        "usage",
                        format!(
                            "unknown stream {bad:?}; the streams are: {}",
                            names.join(", ")
                        ),
                    ));
                }
                names.iter().filter(|n| list.contains(n)).cloned().collect()
            }
        })
    }

    /// Start a run of `connection` for this process: check the request, then take the
    /// connection's lease and record the run (one transaction). Nothing is recorded when
    /// it is refused.
    pub async fn begin(
        &self,
        store: &Store,
        connection: &str,
        opts: &SyncOptions,
    ) -> Result<RunLease, HostError> {
        self.connection(store, connection).await?;
        self.selected(opts)?;
        // Not configured: say so, and record no failed run.
        self.stored(store, connection).await?;
        match store
            .start_run(connection, lease::process_owner(), &opts.trigger, self.id())
            .await?
        {
            Ok(lease) => Ok(lease),
            Err(busy) => Err(HostError::new(
                "busy",
                format!(
                    "run {} of the connection {connection} is still in progress",
                    busy.run_id
                ),
            )),
        }
    }

    /// Run a started (or claimed) run to its end: the streams, page by page, while a
    /// heartbeat renews the lease; then the run is closed and its lease released. A run
    /// whose lease was taken over stops at its next write (it was marked interrupted by
    /// whoever took it over).
    pub async fn run(
        &self,
        store: &Store,
        lease: RunLease,
        opts: SyncOptions,
    ) -> Result<Run, HostError> {
        let mut counts: BTreeMap<String, StreamCounts> = BTreeMap::new();
        let mut delivery_problems = None;
        let result = match self.selected(&opts) {
            Err(e) => Err(e),
            Ok(selected) => {
                let mut beat = lease.clone();
                let work = async {
                    let r = self
                        .run_streams(store, &lease, &selected, &opts, &mut counts)
                        .await;
                    // The connection's git repositories, read under the same lease; a
                    // repository that cannot be read is reported, never a failed run.
                    if !matches!(&r, Err(e) if e.class == "interrupted") {
                        delivery_problems =
                            crate::delivery::import::after_run(store, &lease.connection).await;
                    }
                    r
                };
                tokio::select! {
                    r = work => r,
                    e = heartbeat(store, &mut beat) => Err(e),
                }
            }
        };
        let closed = match &result {
            Ok(()) => {
                let note = delivery_problems.as_deref().map(|m| ("delivery", m));
                store.finish_run(&lease, "succeeded", &counts, note).await
            }
            // Taken over: the run is already closed (interrupted) by the new holder.
            Err(e) if e.class == "interrupted" => Ok(()),
            Err(e) => {
                store
                    .finish_run(&lease, "failed", &counts, Some((&e.class, &e.message)))
                    .await
            }
        };
        closed.map_err(HostError::from)?;
        let run = store
            .run(lease.run_id)
            .await?
            .ok_or_else(|| HostError::new("internal", "the run vanished from the history"))?;
        result.map(|()| run)
    }

    async fn run_streams(
        &self,
        store: &Store,
        lease: &RunLease,
        streams: &[String],
        opts: &SyncOptions,
        counts: &mut BTreeMap<String, StreamCounts>,
    ) -> Result<(), HostError> {
        let mut instances = self.instances(store, lease).await?;
        let mut result = Ok(());
        for stream in streams {
            let total = counts.entry(stream.clone()).or_default();
            result = self
                .sync_stream(
                    &mut instances,
                    store,
                    lease,
                    stream,
                    opts.full_refresh,
                    opts.progress.as_ref(),
                    total,
                )
                .await;
            if result.is_err() {
                break;
            }
        }
        let mut denied = instances.pull.denied();
        denied.extend(instances.normalize.denied());
        match result {
            Err(mut e) if !denied.is_empty() => {
                e.message.push_str(
                    &instances
                        .redactor
                        .redact(&format!(" (the sandbox refused: {})", denied.join("; "))),
                );
                Err(e)
            }
            other => other,
        }
    }

    /// The run's two instances of the component, fresh sandboxes configured identically
    /// from the stored settings and secrets: one pulls (the only one that may make
    /// requests), the other normalizes (its allow-list emptied: normalize is pure).
    async fn instances(&self, store: &Store, lease: &RunLease) -> Result<Instances, HostError> {
        let context = format!(
            "connection={} connector={} run={}",
            lease.connection,
            self.id(),
            lease.run_id
        );
        let stored = self.stored(store, &lease.connection).await?;
        let (pull, redactor) = self
            .configured_session(stored.clone(), &format!("{context} instance=pull"))
            .await?;
        Ok(Instances {
            pull,
            normalize: Normalizers::new(stored, format!("{context} instance=normalize")),
            redactor,
        })
    }
}

/// Renew `lease` every third of its time to live, for as long as the run goes; ends only
/// when the lease was taken over (the run must stop). A store that cannot be reached for a
/// while is retried; if it stays away past the lease's expiry, the run's next write fails.
async fn heartbeat(store: &Store, lease: &mut RunLease) -> HostError {
    let every = (store.lease_ttl() / 3).max(Duration::from_millis(10));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = store.renew(lease).await {
            if e.is::<crate::store::LeaseLost>() {
                return HostError::from(e);
            }
            tracing::warn!(connection = %lease.connection, run = lease.run_id, "cannot renew the run's lease: {e:#}");
        }
    }
}
