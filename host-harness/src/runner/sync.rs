//! One sync run: each stream page by page, from its checkpoint, in a fresh configured
//! instance; rate limits and transient failures retried on the same cursor within bounds;
//! every page committed with its records and checkpoint; the run recorded in the history.

use std::collections::BTreeMap;
use std::time::Duration;

use super::progress::{emit, Progress, ProgressTx};
use super::{call_error, connector_error, rfc3339, Harness, HostError};
use crate::bindings::v0_2::types as wit;
use crate::redact::Redactor;
use crate::sandbox::Session;
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
    pub async fn sync(&self, store: &Store, connection: &str, opts: SyncOptions) -> Result<Run, HostError> {
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
                        format!("unknown stream {bad:?}; the streams are: {}", names.join(", ")),
                    ));
                }
                names.iter().filter(|n| list.contains(n)).cloned().collect()
            }
        })
    }

    /// Start a run of `connection` for this process: check the request, then take the
    /// connection's lease and record the run (one transaction). Nothing is recorded when
    /// it is refused.
    pub async fn begin(&self, store: &Store, connection: &str, opts: &SyncOptions) -> Result<RunLease, HostError> {
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
                format!("run {} of the connection {connection} is still in progress", busy.run_id),
            )),
        }
    }

    /// Run a started (or claimed) run to its end: the streams, page by page, while a
    /// heartbeat renews the lease; then the run is closed and its lease released. A run
    /// whose lease was taken over stops at its next write (it was marked interrupted by
    /// whoever took it over).
    pub async fn run(&self, store: &Store, lease: RunLease, opts: SyncOptions) -> Result<Run, HostError> {
        let mut counts: BTreeMap<String, StreamCounts> = BTreeMap::new();
        let result = match self.selected(&opts) {
            Err(e) => Err(e),
            Ok(selected) => {
                let mut beat = lease.clone();
                let work = self.run_streams(store, &lease, &selected, &opts, &mut counts);
                tokio::select! {
                    r = work => r,
                    e = heartbeat(store, &mut beat) => Err(e),
                }
            }
        };
        let closed = match &result {
            Ok(()) => store.finish_run(&lease, "succeeded", &counts, None).await,
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
        let context = format!("connection={} connector={} run={}", lease.connection, self.id(), lease.run_id);
        let stored = self.stored(store, &lease.connection).await?;
        let (mut session, redactor) = self.configured_session(stored, &context).await?;
        let result = self
            .pull_streams(&mut session, &redactor, store, lease, streams, opts, counts)
            .await;
        let denied = session.denied();
        match result {
            Err(mut e) if !denied.is_empty() => {
                e.message.push_str(&redactor.redact(&format!(
                    " (the sandbox refused: {})",
                    denied.join("; ")
                )));
                Err(e)
            }
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn pull_streams(
        &self,
        session: &mut Session,
        redactor: &Redactor,
        store: &Store,
        lease: &RunLease,
        streams: &[String],
        opts: &SyncOptions,
        counts: &mut BTreeMap<String, StreamCounts>,
    ) -> Result<(), HostError> {
        let progress = opts.progress.as_ref();
        for stream in streams {
            emit(progress, Progress::StreamStarted { stream: stream.clone() });
            let key_len = self
                .info()
                .streams
                .iter()
                .find(|s| &s.name == stream)
                .map_or(0, |s| s.primary_key.len());
            let checkpoint = if opts.full_refresh {
                None
            } else {
                store.checkpoint(&lease.connection, stream).await?
            };
            let mut cursor: Option<String> = None;
            let total = counts.entry(stream.clone()).or_default();
            loop {
                if total.pages >= self.config().max_pages_per_stream {
                    return Err(HostError::new(
                        "sandbox",
                        format!(
                            "stream {stream} returned more than {} pages in one run; stopped",
                            self.config().max_pages_per_stream
                        ),
                    ));
                }
                let before = session.requests();
                let page = self
                    .pull_with_retries(session, redactor, stream, checkpoint.as_deref(), cursor.as_deref(), progress)
                    .await;
                let requests = session.requests() - before;
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        total.requests += requests;
                        return Err(e);
                    }
                };
                if page.raw.stream != *stream {
                    return Err(HostError::new(
                        "sandbox",
                        "the component returned a page of another stream",
                    ));
                }
                let records = match session.normalize(&page.raw).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        let (class, message) = connector_error(&e);
                        return Err(HostError::new(&class, redactor.redact(&message)));
                    }
                    Err(e) => return Err(call_error(&e, redactor)),
                };
                let records = crate::records::check(stream, key_len, records, redactor)
                    .map_err(|m| HostError::new("sandbox", redactor.redact(&m)))?;
                if let Some(w) = &page.window {
                    store
                        .set_window(lease.run_id, &rfc3339(w.start), &rfc3339(w.end))
                        .await?;
                }
                let page = redact_page(page, redactor);
                let next_cursor = page.next_cursor.clone();
                let c = store
                    .commit_page(lease, total.pages, page, requests, records)
                    .await
                    .map_err(|e| match e.downcast_ref::<crate::store::LeaseLost>() {
                        Some(_) => HostError::from(e),
                        None => HostError::new("store", redactor.redact(&format!("{e:#}"))),
                    })?;
                total.add(&c);
                emit(
                    progress,
                    Progress::PageCommitted {
                        stream: stream.clone(),
                        pages: total.pages,
                        counts: total.clone(),
                    },
                );
                match next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            emit(
                progress,
                Progress::StreamDone {
                    stream: stream.clone(),
                    counts: total.clone(),
                },
            );
        }
        Ok(())
    }

    /// `pull-page`, retried on the same cursor after a rate limit (waiting what the
    /// provider asked, within bounds) or a transient failure (backing off).
    async fn pull_with_retries(
        &self,
        session: &mut Session,
        redactor: &Redactor,
        stream: &str,
        checkpoint: Option<&str>,
        cursor: Option<&str>,
        progress: Option<&ProgressTx>,
    ) -> Result<wit::Page, HostError> {
        let retry = &self.config().retry;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match session.pull_page(stream, checkpoint, cursor).await {
                Ok(Ok(page)) => return Ok(page),
                Ok(Err(e)) => e,
                Err(e) => return Err(call_error(&e, redactor)),
            };
            // A request that never reached its origin is not a provider outage: say which
            // origin and why, and retry once at most (a network or redirect problem does
            // not go away in seconds).
            if let (wit::ConnectorError::Transient(_), Some(u)) = (&err, session.take_unreachable()) {
                let via = u.via.map(|v| format!(" (redirected to {v})")).unwrap_or_default();
                let e = HostError::new(
                    "network",
                    redactor.redact(&format!("could not reach {}{via}: {}", u.origin, u.what)),
                );
                if attempt >= 2 {
                    return Err(e);
                }
                emit(
                    progress,
                    Progress::Waiting {
                        stream: stream.to_string(),
                        class: "network".into(),
                        delay: retry.base_delay,
                        attempt,
                    },
                );
                tokio::time::sleep(retry.base_delay).await;
                continue;
            }
            let (class, message) = connector_error(&err);
            let retry_after = match &err {
                wit::ConnectorError::RateLimited(r) => Some(r.retry_after_ms.map(Duration::from_millis)),
                wit::ConnectorError::Transient(_) => Some(None),
                _ => None,
            };
            match retry_after {
                Some(ra) if attempt < retry.max_attempts => {
                    let delay = retry.delay(attempt, ra);
                    tracing::info!(stream = %stream, class = %class, attempt, ?delay, "retrying the same cursor");
                    emit(
                        progress,
                        Progress::Waiting {
                            stream: stream.to_string(),
                            class: class.clone(),
                            delay,
                            attempt,
                        },
                    );
                    tokio::time::sleep(delay).await;
                }
                Some(_) => {
                    return Err(HostError::new(
                        &class,
                        format!("{} (gave up after {attempt} attempts)", redactor.redact(&message)),
                    ))
                }
                None => return Err(HostError::new(&class, redactor.redact(&message))),
            }
        }
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

/// The strings of a page the host stores, redacted (the body, cursors and checkpoint).
fn redact_page(mut p: wit::Page, redactor: &Redactor) -> wit::Page {
    if redactor.finds(&p.raw.body) {
        p.raw.body = redactor.redact(&p.raw.body);
    }
    p.raw.scope = p.raw.scope.map(|s| redactor.redact(&s));
    p.checkpoint = p.checkpoint.map(|s| redactor.redact(&s));
    p.next_cursor = p.next_cursor.map(|s| redactor.redact(&s));
    p
}
