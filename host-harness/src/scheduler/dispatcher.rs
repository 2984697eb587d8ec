//! The dispatcher: one loop per pool that finds due work and hands it to workers. It never
//! runs anything itself, and never waits on a run.
//!
//! Each pass:
//! 1. now and then, the **catalog**: connections the pool has not seen get their schedule
//!    read, or the pool's default one stored when they have none; removed ones are
//!    forgotten (and the last-success gauge of each new one is read from its history);
//! 2. now and then, **reap**: runs whose host stopped without closing them (expired leases,
//!    or a dead process of this machine) are marked `interrupted` and their leases freed;
//! 3. **claim**: take every free worker permit, claim that many due connections (each claim
//!    takes the lease and writes the run's history row, in one transaction), spawn one run
//!    task per claim with its permit, and give back the permits left over;
//! 4. wait for the poll interval, or until a run ends (a worker is free), or the stop.
//!
//! In [`Mode::UntilIdle`] (`worker --once`) the loop ends when a pass claims nothing, no
//! run of its own goes, and no due connection is left: one still due then is held by
//! another host (it is waited for: it ends, or its lease expires and it is taken over).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::config::FirstRun;
use super::run::{close_at_once, spawn};
use super::Shared;
use crate::store::lease;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mode {
    Forever,
    UntilIdle,
}

pub(super) async fn dispatch(shared: Arc<Shared>, mode: Mode) {
    let mut cancel = shared.cancel.subscribe();
    let config = shared.config.clone();
    let reap_every = (shared.store.lease_ttl() / 2).max(Duration::from_millis(100));
    let mut last_catalog: Option<Instant> = None;
    let mut last_reap: Option<Instant> = None;
    // (until idle: the due connections another host held at the last look)
    let mut waiting_for: Option<Vec<String>> = None;
    tracing::info!(owner = %shared.owner, workers = config.workers, mode = ?mode, "dispatcher started");
    loop {
        if *cancel.borrow() {
            break;
        }
        let mut error = None;
        if last_catalog.is_none_or(|t| t.elapsed() >= config.rescan) {
            if let Err(e) = catalog(&shared).await {
                error = Some(e);
            }
            last_catalog = Some(Instant::now());
        }
        if last_reap.is_none_or(|t| t.elapsed() >= reap_every) {
            match shared.store.reap().await {
                Ok(0) => {}
                Ok(n) => tracing::info!("{n} run(s) whose host stopped were marked interrupted"),
                Err(e) => error = Some(format!("{e:#}")),
            }
            last_reap = Some(Instant::now());
        }
        let claimed = match claim(&shared).await {
            Ok(n) => n,
            Err(e) => {
                error = Some(e);
                0
            }
        };
        if let Some(e) = &error {
            tracing::warn!("the dispatcher could not read the store: {e}");
        }
        {
            let mut b = shared.board();
            b.passes += 1;
            b.error = error;
        }
        shared.bump();
        if mode == Mode::UntilIdle && claimed == 0 && shared.running() == 0 {
            match still_due(&shared, waiting_for.as_deref()).await {
                Ok(left) if left.is_empty() => break,
                Ok(left) => {
                    tracing::debug!(
                        ?left,
                        "due connections held by another host: waiting for them"
                    );
                    waiting_for = Some(left);
                    // (a dead process of this machine frees its leases at the next reap)
                    last_reap = None;
                }
                Err(e) => tracing::warn!("the dispatcher could not read the store: {e}"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(config.poll) => {}
            _ = shared.freed.notified() => {}
            _ = cancel.wait_for(|stop| *stop) => break,
        }
    }
    tracing::info!(owner = %shared.owner, "dispatcher stopped");
    shared.done.send_replace(true);
    shared.bump();
}

/// Claim as many due connections as workers are free, and start their runs.
async fn claim(shared: &Arc<Shared>) -> Result<usize, String> {
    if *shared.cancel.borrow() {
        return Ok(0);
    }
    let mut permits = Vec::new();
    while let Ok(p) = shared.permits.clone().try_acquire_owned() {
        permits.push(p);
    }
    if permits.is_empty() {
        return Ok(0);
    }
    let leases = shared
        .store
        .claim_due(&shared.owner, permits.len())
        .await
        .map_err(|e| format!("{e:#}"))?;
    let n = leases.len();
    for lease in leases {
        if let Err(lease) = spawn(shared, lease, "schedule", permits.pop()) {
            close_at_once(shared, &lease).await;
        }
    }
    Ok(n)
}

/// Connections the pool has not seen: their schedule (the default one stored when they
/// have none) and their last success. Removed ones are forgotten.
async fn catalog(shared: &Shared) -> Result<(), String> {
    let store = &shared.store;
    let err = |e: anyhow::Error| format!("{e:#}");
    let connections = store.connections().await.map_err(err)?;
    let ids: BTreeSet<&str> = connections.iter().map(|c| c.id.as_str()).collect();
    let removed: Vec<String> = {
        let mut b = shared.board();
        let gone: Vec<String> = b
            .connections
            .iter()
            .filter(|(id, st)| !ids.contains(id.as_str()) && st.live.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        for id in &gone {
            b.connections.remove(id);
        }
        gone
    };
    for id in &removed {
        shared.metrics.forget(id);
    }
    let default = &shared.config.schedule;
    for c in &connections {
        let (known, gauge) = {
            let b = shared.board();
            let st = b.connections.get(&c.id);
            (
                st.is_some_and(|s| s.schedule.is_some()),
                st.is_some_and(|s| s.seen),
            )
        };
        if !known {
            let schedule = match store.schedule(&c.id).await.map_err(err)? {
                Some(s) => Some(s),
                None => {
                    let first = match shared.config.first_run {
                        FirstRun::Now => None,
                        FirstRun::AfterInterval => {
                            Some(lease::now_ms() + lease::ttl_ms(default.next_delay()))
                        }
                    };
                    store
                        .set_schedule(&c.id, default.every, default.jitter, first)
                        .await
                        .map_err(err)?;
                    tracing::info!(connection = %c.id, every = %super::format_duration(default.every), "scheduled with the default interval");
                    store.schedule(&c.id).await.map_err(err)?
                }
            };
            shared
                .board()
                .connections
                .entry(c.id.clone())
                .or_default()
                .schedule = schedule;
        }
        if !gauge {
            // The last success survives a restart of the host (best effort: the newest runs).
            let runs = store.runs(&c.id, 20).await.map_err(err)?;
            let last = runs
                .iter()
                .filter(|r| r.status == "succeeded")
                .find_map(|r| r.finished_at.as_deref())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            if let Some(t) = last {
                shared.metrics.set_last_success(&c.id, t.timestamp());
            }
            shared
                .board()
                .connections
                .entry(c.id.clone())
                .or_default()
                .seen = true;
        }
    }
    shared.bump();
    Ok(())
}

/// Configured connections whose schedule is due now, after a pass that claimed nothing:
/// held by another host. Among `among` when given (those of the last look: a connection
/// that was not due then is not waited for).
async fn still_due(shared: &Shared, among: Option<&[String]>) -> Result<Vec<String>, String> {
    let store = &shared.store;
    let err = |e: anyhow::Error| format!("{e:#}");
    let ids: Vec<String> = match among {
        Some(ids) => ids.to_vec(),
        None => store
            .connections()
            .await
            .map_err(err)?
            .into_iter()
            .map(|c| c.id)
            .collect(),
    };
    let now = lease::now_ms();
    let mut left = Vec::new();
    for id in ids {
        let Some(s) = store.schedule(&id).await.map_err(err)? else {
            continue;
        };
        if s.next_due_ms <= now && store.is_configured(&id).await.map_err(err)? {
            left.push(id);
        }
    }
    Ok(left)
}
