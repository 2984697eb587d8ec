//! One run, as a task of its own: from a lease already taken (claimed by the dispatcher, or
//! started by a trigger) to the run's end, inside a `run{connection=…, run=…}` span.
//!
//! 1. A worker permit (a claimed run comes with one; a triggered run waits for one) and the
//!    connection's component (loaded once per process), while [`super::heartbeat`] keeps
//!    the lease alive.
//! 2. The runner's sync ([`crate::runner::Harness::run`]): a fresh sandbox, the streams page
//!    by page, its own heartbeat, the run closed in the history. Its progress updates the
//!    status and the metrics as pages commit.
//! 3. A stop (shutdown) drops the sync between two awaits; the run is then closed here as
//!    `interrupted` with what it had committed. A panic is closed as `failed`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::OwnedSemaphorePermit;
use tracing::Instrument;

use super::status::{apply, now_rfc3339, Finished, LiveRun, TriggerError};
use super::Shared;
use crate::runner::{Harness, HostError, Progress, SyncOptions};
use crate::store::{RunLease, StreamCounts};

/// What a stopped run's history row says.
pub(super) const STOPPED: &str =
    "the host stopped during this run; the next run resumes from the last committed page";

/// What a run shows while every worker is busy.
const WAITING_FOR_A_WORKER: &str = "waiting for a free worker";

/// Start a run of `connection` for `trigger`: the checks, then its lease and history row,
/// then its task.
pub(super) async fn trigger(
    shared: &Arc<Shared>,
    connection: &str,
    trigger: &str,
) -> Result<i64, TriggerError> {
    {
        let b = shared.board();
        if b.stopping {
            return Err(TriggerError::Stopping);
        }
        if let Some(live) = b.connections.get(connection).and_then(|c| c.live.as_ref()) {
            return Err(TriggerError::Busy(live.started_at.clone()));
        }
    }
    let store = &shared.store;
    let failed = |e: anyhow::Error| TriggerError::Failed(HostError::from(e).message);
    let Some(conn) = store.connection(connection).await.map_err(failed)? else {
        return Err(TriggerError::NotConfigured);
    };
    if !store.is_configured(connection).await.map_err(failed)? {
        return Err(TriggerError::NotConfigured);
    }
    let connector = match conn.connector {
        Some(c) => c,
        None => shared
            .harnesses
            .get(Path::new(&conn.component))
            .await
            .map_err(|e| TriggerError::Failed(e.message))?
            .id()
            .to_string(),
    };
    match store
        .start_run(connection, &shared.owner, trigger, &connector)
        .await
    {
        Err(e) => Err(failed(e)),
        Ok(Err(busy)) => {
            let since = match store.run(busy.run_id).await {
                Ok(Some(r)) => r.started_at,
                _ => now_rfc3339(),
            };
            Err(TriggerError::Busy(since))
        }
        Ok(Ok(lease)) => {
            let run_id = lease.run_id;
            if let Err(lease) = spawn(shared, lease, trigger, None) {
                close_at_once(shared, &lease).await;
                return Err(TriggerError::Stopping);
            }
            Ok(run_id)
        }
    }
}

/// Spawn the task of a run whose lease is held (with its worker's permit when it has one).
/// Refused, handing the lease back, once the pool stops.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    lease: RunLease,
    trigger: &str,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<(), RunLease> {
    let mut board = shared.board();
    if board.stopping {
        return Err(lease);
    }
    let st = board
        .connections
        .entry(lease.connection.clone())
        .or_default();
    st.live = Some(LiveRun {
        run_id: lease.run_id,
        trigger: trigger.to_string(),
        started_at: now_rfc3339(),
        started: Instant::now(),
        stream: None,
        streams: BTreeMap::new(),
        waiting: permit.is_none().then(|| WAITING_FOR_A_WORKER.to_string()),
    });
    st.started += 1;
    shared.metrics.run_started();
    let run_id = lease.run_id;
    // (spawned under the board's lock: the task cannot end, and remove itself, before it
    // is in the list)
    let task = tokio::spawn(task(shared.clone(), lease, trigger.to_string(), permit));
    board.tasks.insert(run_id, task);
    drop(board);
    shared.bump();
    Ok(())
}

/// A run whose lease was taken as the pool stopped: closed at once as `interrupted` (its
/// connection stays due for whoever runs next), and counted like any run that ended.
pub(super) async fn close_at_once(shared: &Shared, lease: &RunLease) {
    if let Err(e) = shared.store.interrupt_run(lease, STOPPED).await {
        tracing::error!(connection = %lease.connection, run = lease.run_id, "could not close a run taken as the pool stopped: {e:#}");
    }
    shared.metrics.run_started();
    shared
        .metrics
        .run_ended(&lease.connection, "interrupted", 0.0, 0);
    *shared
        .board()
        .ended
        .entry("interrupted".to_string())
        .or_default() += 1;
    shared.bump();
}

/// The run in its span; a panic in it is recorded as a failed run, like any error.
async fn task(
    shared: Arc<Shared>,
    lease: RunLease,
    trigger: String,
    permit: Option<OwnedSemaphorePermit>,
) {
    let span = tracing::info_span!("run", connection = %lease.connection, run = lease.run_id);
    let started = Instant::now();
    let inner = tokio::spawn(
        run(shared.clone(), lease.clone(), trigger.clone(), permit).instrument(span.clone()),
    );
    async move {
        let finished = match inner.await {
            Ok(f) => f,
            Err(e) => {
                let error = HostError::new(
                    "internal",
                    format!("the sync run stopped unexpectedly: {e}"),
                );
                let counts = live_counts(&shared, &lease.connection);
                if let Err(e) = shared
                    .store
                    .finish_run(
                        &lease,
                        "failed",
                        &counts,
                        Some((&error.class, &error.message)),
                    )
                    .await
                {
                    tracing::error!("could not close the run: {e:#}");
                }
                ended(&lease, &trigger, "failed", Some(error))
            }
        };
        end(&shared, &lease, finished, started).await;
    }
    .instrument(span)
    .await
}

/// The counts a run had committed, as its progress showed them.
fn live_counts(shared: &Shared, connection: &str) -> BTreeMap<String, StreamCounts> {
    shared
        .board()
        .connections
        .get(connection)
        .and_then(|c| c.live.as_ref())
        .map(|l| l.streams.clone())
        .unwrap_or_default()
}

fn ended(lease: &RunLease, trigger: &str, status: &str, error: Option<HostError>) -> Finished {
    Finished {
        connection: lease.connection.clone(),
        trigger: trigger.to_string(),
        run_id: Some(lease.run_id),
        status: status.to_string(),
        error,
        finished_at: now_rfc3339(),
    }
}

/// The connection's component, checked against the connector whose data it holds.
async fn harness_for(shared: &Shared, connection: &str) -> Result<Arc<Harness>, HostError> {
    let conn = shared.store.connection(connection).await?.ok_or_else(|| {
        HostError::new("usage", format!("the connection {connection} was removed"))
    })?;
    let harness = shared.harnesses.get(Path::new(&conn.component)).await?;
    harness.connection(&shared.store, connection).await?;
    Ok(harness)
}

async fn run(
    shared: Arc<Shared>,
    lease: RunLease,
    trigger: String,
    permit: Option<OwnedSemaphorePermit>,
) -> Finished {
    let store = &shared.store;
    let connection = lease.connection.clone();
    let mut cancel = shared.cancel.subscribe();
    tracing::info!(trigger = %trigger, owner = %lease.owner, "run started");
    let prepare = async {
        let permit = match permit {
            Some(p) => Some(p),
            None => {
                // (the pool never closes its semaphore)
                let p = shared.permits.clone().acquire_owned().await;
                if let Some(live) = shared
                    .board()
                    .connections
                    .get_mut(&connection)
                    .and_then(|c| c.live.as_mut())
                {
                    live.waiting = None;
                }
                shared.bump();
                p.ok()
            }
        };
        (permit, harness_for(&shared, &connection).await)
    };
    let prepared = tokio::select! {
        r = super::heartbeat::keep_alive(store, &lease, prepare) => Some(r),
        _ = cancel.wait_for(|stop| *stop) => None,
    };
    let (_permit, harness) = match prepared {
        None => return stopped(&shared, &lease, &trigger).await,
        Some(Err(lost)) => {
            let e = HostError::from(anyhow::Error::from(lost));
            return ended(&lease, &trigger, "interrupted", Some(e));
        }
        Some(Ok((_, Err(e)))) => {
            let closed = store
                .finish_run(
                    &lease,
                    "failed",
                    &BTreeMap::new(),
                    Some((&e.class, &e.message)),
                )
                .await;
            if let Err(c) = closed {
                tracing::error!("could not close the run: {c:#}");
            }
            return ended(&lease, &trigger, "failed", Some(e));
        }
        Some(Ok((permit, Ok(h)))) => (permit, h),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let sh = shared.clone();
    let c = connection.clone();
    let listener = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            on_progress(&sh, &c, p);
        }
    });
    let opts = SyncOptions {
        progress: Some(tx),
        ..SyncOptions::new(&trigger)
    };
    let result = tokio::select! {
        r = harness.run(store, lease.clone(), opts) => Some(r),
        _ = cancel.wait_for(|stop| *stop) => None,
    };
    // The sender went with the sync future: the listener drains what is left and ends.
    let _ = listener.await;
    match result {
        Some(Ok(run)) => ended(&lease, &trigger, &run.status, None),
        Some(Err(e)) => {
            let status = if e.class == "interrupted" {
                "interrupted"
            } else {
                "failed"
            };
            ended(&lease, &trigger, status, Some(e))
        }
        None => stopped(&shared, &lease, &trigger).await,
    }
}

/// The run was stopped between two awaits: every page it committed is whole and its
/// history row holds their counts. Close it and release the lease.
async fn stopped(shared: &Shared, lease: &RunLease, trigger: &str) -> Finished {
    if let Err(e) = shared.store.interrupt_run(lease, STOPPED).await {
        tracing::error!("could not mark the stopped run interrupted: {e:#}");
    }
    ended(
        lease,
        trigger,
        "interrupted",
        Some(HostError::new("interrupted", STOPPED)),
    )
}

fn on_progress(shared: &Shared, connection: &str, p: Progress) {
    let delta = {
        let mut b = shared.board();
        let Some(live) = b
            .connections
            .get_mut(connection)
            .and_then(|c| c.live.as_mut())
        else {
            return;
        };
        apply(live, p)
    };
    shared.metrics.committed(delta.0, delta.1, delta.2);
    shared.bump();
}

/// The run's end: logged, counted, shown; its worker is free.
async fn end(shared: &Shared, lease: &RunLease, finished: Finished, started: Instant) {
    let seconds = started.elapsed().as_secs_f64();
    match &finished.error {
        Some(e) => {
            tracing::warn!(status = %finished.status, class = %e.class, seconds, "run ended: {}", e.message)
        }
        None => tracing::info!(status = %finished.status, seconds, "run ended"),
    }
    shared.metrics.run_ended(
        &lease.connection,
        &finished.status,
        seconds,
        chrono::Utc::now().timestamp(),
    );
    // Its next due time, as the close moved it (for the status).
    let schedule = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        shared.store.schedule(&lease.connection),
    )
    .await
    .ok()
    .and_then(Result::ok);
    {
        let mut b = shared.board();
        b.tasks.remove(&lease.run_id);
        *b.ended.entry(finished.status.clone()).or_default() += 1;
        let st = b.connections.entry(lease.connection.clone()).or_default();
        st.live = None;
        st.finished += 1;
        st.last = Some(finished);
        if let Some(s) = schedule {
            st.schedule = s;
        }
    }
    shared.bump();
    shared.freed.notify_one();
}
