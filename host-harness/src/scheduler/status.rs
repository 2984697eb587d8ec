//! What a pool shows: per connection, the run in progress (with its live counts), the last
//! run's outcome, the schedule as last read; for the pool, its workers and owner. Snapshots
//! are plain data ([`ConnectionStatus`], [`PoolStatus`]) for pages, `/status` and tests;
//! every change bumps a counter that [`super::Scheduler::subscribe`] watches.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use super::config::format_duration;
use crate::runner::{HostError, Progress};
use crate::store::{Schedule, StreamCounts};

/// A run in progress.
#[derive(Clone, Debug, Serialize)]
pub struct LiveRun {
    /// Its history row.
    pub run_id: i64,
    pub trigger: String,
    pub started_at: String,
    #[serde(skip)]
    pub started: Instant,
    /// The stream being pulled.
    pub stream: Option<String>,
    /// Per-stream counters of what the run has committed so far.
    pub streams: BTreeMap<String, StreamCounts>,
    /// Set while the run waits: for a free worker, or to retry (rate limit, transient
    /// failure).
    pub waiting: Option<String>,
}

/// How a run ended.
#[derive(Clone, Debug, Serialize)]
pub struct Finished {
    pub connection: String,
    pub trigger: String,
    /// The history row.
    pub run_id: Option<i64>,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    pub error: Option<HostError>,
    pub finished_at: String,
}

/// One connection as this pool sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionStatus {
    pub connection: String,
    pub running: Option<LiveRun>,
    /// When its next scheduled run is due (RFC 3339), as last read from the store; none
    /// while a run goes or when it has no schedule.
    pub next_at: Option<String>,
    /// Its interval (its own schedule's, or the pool's default until it has one).
    pub every: String,
    pub jitter: f64,
    /// Runs of it this pool started and finished.
    pub started: u64,
    pub finished: u64,
    pub last: Option<Finished>,
}

/// The whole pool.
#[derive(Clone, Debug, Serialize)]
pub struct PoolStatus {
    /// The lease owner it runs as (`host:pid:random`).
    pub owner: String,
    pub workers: usize,
    /// Runs going now (each holds a worker, or waits for one).
    pub running: usize,
    /// Times the dispatcher looked for due connections.
    pub passes: u64,
    /// The dispatcher's last store error, if its last look failed.
    pub error: Option<String>,
    pub stopping: bool,
    /// Runs this pool ended, by status.
    pub ended: BTreeMap<String, u64>,
    /// Every connection it knows, by id.
    pub connections: Vec<ConnectionStatus>,
}

/// Why a run was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    /// A run of the connection is going (here or in another host sharing the store); when it
    /// started (RFC 3339).
    #[error("a sync is already running (started {0})")]
    Busy(String),
    /// Nothing is saved for the connection (or there is no such connection).
    #[error("nothing is saved for this connection yet")]
    NotConfigured,
    #[error("the server is stopping")]
    Stopping,
    /// The store could not be asked.
    #[error("the run could not start: {0}")]
    Failed(String),
}

/// The mutable state behind the snapshots.
#[derive(Default)]
pub(super) struct Board {
    pub connections: BTreeMap<String, ConnState>,
    /// Run tasks going, by run id.
    pub tasks: std::collections::HashMap<i64, tokio::task::JoinHandle<()>>,
    pub passes: u64,
    pub error: Option<String>,
    pub stopping: bool,
    pub ended: BTreeMap<String, u64>,
}

#[derive(Default)]
pub(super) struct ConnState {
    pub live: Option<LiveRun>,
    pub started: u64,
    pub finished: u64,
    pub last: Option<Finished>,
    /// Its schedule, as last read (or set) by this pool.
    pub schedule: Option<Schedule>,
    /// The catalog has seen it (and read its last success).
    pub seen: bool,
}

impl ConnState {
    pub fn snapshot(&self, id: &str, default: &super::config::ScheduleConfig) -> ConnectionStatus {
        let (every, jitter) = match &self.schedule {
            Some(s) => (s.every, s.jitter),
            None => (default.every, default.jitter),
        };
        ConnectionStatus {
            connection: id.to_string(),
            running: self.live.clone(),
            next_at: match (&self.live, &self.schedule) {
                (None, Some(s)) => Some(rfc3339_ms(s.next_due_ms)),
                _ => None,
            },
            every: format_duration(every),
            jitter,
            started: self.started,
            finished: self.finished,
            last: self.last.clone(),
        }
    }
}

/// What a progress event changes in a live run; returns the pages and records (inserted,
/// updated) it committed beyond what the run showed before, for the metrics.
pub(super) fn apply(live: &mut LiveRun, p: Progress) -> (u64, u64, u64) {
    match p {
        Progress::StreamStarted { stream } => {
            live.streams.entry(stream.clone()).or_default();
            live.stream = Some(stream);
            live.waiting = None;
            (0, 0, 0)
        }
        Progress::PageCommitted { stream, counts, .. }
        | Progress::StreamDone { stream, counts } => {
            let before = live.streams.get(&stream).cloned().unwrap_or_default();
            let delta = (
                counts.pages.saturating_sub(before.pages),
                counts.inserted.saturating_sub(before.inserted),
                counts.updated.saturating_sub(before.updated),
            );
            live.streams.insert(stream, counts);
            live.waiting = None;
            delta
        }
        Progress::Waiting { .. } => {
            live.waiting = Some(format!("{}: {}", p.stream(), p.message()));
            (0, 0, 0)
        }
    }
}

pub(super) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
