//! The scheduler: a pool of workers that runs the store's due connections concurrently,
//! each in a fresh sandbox, and starts a run of one connection on demand ("Sync now").
//! `serve` runs one behind the settings page, `worker` one without a page.
//!
//! - **Due work** comes from the store: each connection has its own schedule (interval ±
//!   jitter, [`crate::store::Store::schedule`]); a connection without one gets the pool's
//!   default the first time the pool sees it ([`PoolConfig::schedule`]). The dispatcher
//!   ([`dispatcher`]) takes as many free workers as it finds and claims that many due
//!   connections ([`crate::store::Store::claim_due`]), so a host never holds leases it
//!   cannot run (another host with free workers takes them).
//! - **At most one run per connection**, across every host sharing the store: each run holds
//!   the connection's lease ([`crate::store::lease`]); a connection leased elsewhere is
//!   neither claimed nor triggered ([`TriggerError::Busy`]).
//! - **Runs are independent tokio tasks** ([`run`]), each holding a worker permit: a slow,
//!   failing or hostile connection holds its own worker and delays no other run beyond that
//!   slot. The dispatcher only claims and spawns; it never waits on a run. A spinning
//!   guest cannot starve the runtime either: wasmtime's epoch deadline makes it yield every
//!   tick ([`crate::sandbox`]), and the policy's CPU budget and call timeout end it.
//! - **The interval counts from the end of a run**: closing a run moves the connection's next
//!   due time (the store does it in the same transaction). A run that fails is recorded by
//!   the runner and the schedule goes on.
//! - **Leases stay alive** from the moment they are taken to the end of the run
//!   ([`heartbeat`] until the runner's own heartbeat takes over).
//! - **Components** are loaded once per process and path ([`Harnesses`]).
//! - **Shutdown** ([`Scheduler::shutdown`]) stops the dispatcher and every run between two
//!   awaits of its sync: pages commit with their records and checkpoint in one transaction,
//!   so the store stays consistent; each run is marked `interrupted` with what it had
//!   committed, its schedule is left due, and the next run (here or in another host)
//!   resumes from the last committed page.
//! - **Logs**: every run's work is inside a `run{connection=…, run=…}` span, the component's
//!   own log lines included.
//! - **Status** for pages and tests ([`status`]), and **metrics** ([`crate::metrics`]).

pub mod config;
mod dispatcher;
pub mod harnesses;
mod heartbeat;
mod run;
pub mod status;

use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, Notify, Semaphore};

pub use config::{
    format_duration, parse_duration, FirstRun, PoolConfig, ScheduleConfig, DEFAULT_WORKERS,
    MAX_WORKERS,
};
pub use harnesses::Harnesses;
pub use status::{ConnectionStatus, Finished, LiveRun, PoolStatus, TriggerError};

use crate::metrics::Metrics;
use crate::store::{lease, Store};
use status::Board;

/// What the dispatcher, the run tasks and the handle share.
struct Shared {
    store: Arc<Store>,
    harnesses: Arc<Harnesses>,
    config: PoolConfig,
    owner: String,
    /// One permit per worker.
    permits: Arc<Semaphore>,
    board: Mutex<Board>,
    /// Bumped on every change of the status.
    changed: watch::Sender<u64>,
    /// Set once, on shutdown.
    cancel: watch::Sender<bool>,
    /// A run ended (a worker is free): the dispatcher looks for due work at once.
    freed: Notify,
    /// Set when the dispatcher has ended.
    done: watch::Sender<bool>,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn board(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    /// Runs going in this pool.
    fn running(&self) -> usize {
        self.board()
            .connections
            .values()
            .filter(|c| c.live.is_some())
            .count()
    }
}

/// A pool of workers running the store's connections.
pub struct Scheduler {
    shared: Arc<Shared>,
    dispatcher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Scheduler {
    /// A pool that runs due connections until [`Scheduler::shutdown`] (call within a tokio
    /// runtime).
    pub fn start(store: Arc<Store>, harnesses: Arc<Harnesses>, config: PoolConfig) -> Scheduler {
        let s = Scheduler::new(store, harnesses, config);
        s.spawn_dispatcher(dispatcher::Mode::Forever);
        s
    }

    /// A pool that runs every due connection once and stops when none is due any more:
    /// when nothing is left to claim, no run of its own goes, and no due connection is
    /// still held by another host (one that died is waited for until its lease expires,
    /// then its connections are taken over and resumed). [`Scheduler::wait_done`] waits
    /// for that. A connection whose interval is shorter than the whole pass may run twice.
    pub fn start_once(
        store: Arc<Store>,
        harnesses: Arc<Harnesses>,
        config: PoolConfig,
    ) -> Scheduler {
        let s = Scheduler::new(store, harnesses, config);
        s.spawn_dispatcher(dispatcher::Mode::UntilIdle);
        s
    }

    /// A pool without a dispatcher: it runs only what it is asked to
    /// ([`Scheduler::trigger`]).
    pub fn new(store: Arc<Store>, harnesses: Arc<Harnesses>, config: PoolConfig) -> Scheduler {
        let owner = config
            .owner
            .clone()
            .unwrap_or_else(|| lease::process_owner().to_string());
        let metrics = Arc::new(Metrics::new());
        metrics.set_workers(config.workers);
        Scheduler {
            shared: Arc::new(Shared {
                store,
                harnesses,
                permits: Arc::new(Semaphore::new(config.workers.max(1))),
                config,
                owner,
                board: Mutex::new(Board::default()),
                changed: watch::channel(0).0,
                cancel: watch::channel(false).0,
                freed: Notify::new(),
                done: watch::channel(false).0,
                metrics,
            }),
            dispatcher: Mutex::new(None),
        }
    }

    fn spawn_dispatcher(&self, mode: dispatcher::Mode) {
        let task = tokio::spawn(dispatcher::dispatch(self.shared.clone(), mode));
        *self.dispatcher.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    pub fn harnesses(&self) -> &Arc<Harnesses> {
        &self.shared.harnesses
    }

    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// The lease owner this pool runs as.
    pub fn owner(&self) -> &str {
        &self.shared.owner
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }

    /// Start a run of `connection` now (who asked: `trigger`, e.g. `ui`): its lease is
    /// taken and its history row written at once; it runs as soon as a worker is free.
    /// Returns the run's id. Refused, with nothing recorded, while a run of it goes (here
    /// or in another host), when nothing is saved for it, or while the pool stops.
    pub async fn trigger(&self, connection: &str, trigger: &str) -> Result<i64, TriggerError> {
        run::trigger(&self.shared, connection, trigger).await
    }

    /// Start a run of `connection` now and wait until it ends.
    pub async fn run_now(&self, connection: &str, trigger: &str) -> Result<Finished, TriggerError> {
        let mut rx = self.shared.changed.subscribe();
        let run_id = self.trigger(connection, trigger).await?;
        loop {
            {
                let b = self.shared.board();
                if let Some(last) = b.connections.get(connection).and_then(|c| c.last.as_ref()) {
                    if last.run_id == Some(run_id) {
                        return Ok(last.clone());
                    }
                }
            }
            if rx.changed().await.is_err() {
                return Err(TriggerError::Stopping);
            }
        }
    }

    /// Wait until no run of this pool goes.
    pub async fn wait_idle(&self) {
        let mut rx = self.shared.changed.subscribe();
        while self.shared.running() > 0 {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Wait until the dispatcher has ended: for a pool from [`Scheduler::start_once`], when
    /// no connection is due any more; otherwise after [`Scheduler::shutdown`].
    pub async fn wait_done(&self) {
        let mut rx = self.shared.done.subscribe();
        let _ = rx.wait_for(|d| *d).await;
    }

    /// A receiver that sees every change of the status.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    /// `connection` as this pool sees it (a connection it does not know yet shows idle,
    /// with the pool's default interval).
    pub fn status(&self, connection: &str) -> ConnectionStatus {
        let b = self.shared.board();
        match b.connections.get(connection) {
            Some(c) => c.snapshot(connection, &self.shared.config.schedule),
            None => status::ConnState::default().snapshot(connection, &self.shared.config.schedule),
        }
    }

    /// The whole pool, every connection it knows.
    pub fn statuses(&self) -> PoolStatus {
        let b = self.shared.board();
        let connections: Vec<ConnectionStatus> = b
            .connections
            .iter()
            .map(|(id, c)| c.snapshot(id, &self.shared.config.schedule))
            .collect();
        PoolStatus {
            owner: self.shared.owner.clone(),
            workers: self.shared.config.workers,
            running: connections.iter().filter(|c| c.running.is_some()).count(),
            passes: b.passes,
            error: b.error.clone(),
            stopping: b.stopping,
            ended: b.ended.clone(),
            connections,
        }
    }

    /// Give `connection` this interval (stored, so every host sharing the store follows
    /// it), unless it has it already. Its next run is due one jittered interval from now,
    /// or sooner when it was due sooner.
    pub async fn keep_interval(
        &self,
        connection: &str,
        schedule: &ScheduleConfig,
    ) -> anyhow::Result<()> {
        let store = &self.shared.store;
        let current = store.schedule(connection).await?;
        if let Some(s) = &current {
            if s.every == schedule.every
                && (s.jitter - schedule.jitter.clamp(0.0, 0.5)).abs() < 1e-9
            {
                self.shared
                    .board()
                    .connections
                    .entry(connection.to_string())
                    .or_default()
                    .schedule = current;
                self.shared.bump();
                return Ok(());
            }
        }
        let next = lease::now_ms() + lease::ttl_ms(schedule.next_delay());
        let next = current.map_or(next, |s| s.next_due_ms.min(next));
        store
            .set_schedule(connection, schedule.every, schedule.jitter, Some(next))
            .await?;
        let stored = store.schedule(connection).await?;
        self.shared
            .board()
            .connections
            .entry(connection.to_string())
            .or_default()
            .schedule = stored;
        self.shared.bump();
        Ok(())
    }

    /// Stop the dispatcher and every run in progress (each is marked `interrupted`, and
    /// resumes from its last committed page next time), and wait for them. Later triggers
    /// are refused.
    pub async fn shutdown(&self) {
        self.shared.board().stopping = true;
        self.shared.cancel.send_replace(true);
        let dispatcher = self
            .dispatcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut d) = dispatcher {
            // It stops at its next wait; a store that hangs does not hold the shutdown.
            if tokio::time::timeout(std::time::Duration::from_secs(10), &mut d)
                .await
                .is_err()
            {
                d.abort();
            }
        }
        loop {
            let tasks: Vec<_> = self.shared.board().tasks.drain().map(|(_, t)| t).collect();
            if tasks.is_empty() {
                break;
            }
            for t in tasks {
                let _ = t.await;
            }
        }
        self.shared.done.send_replace(true);
        self.shared.bump();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        // Runs still going see the stop and close themselves as interrupted.
        self.shared.board().stopping = true;
        self.shared.cancel.send_replace(true);
        if let Some(d) = self
            .dispatcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            d.abort();
        }
    }
}
