//! The scheduler: runs a sandboxed sync of one connection every `every` (with jitter), one
//! run at a time, and lets the settings page start one now.
//!
//! - Its runs take the connection's lease like any other ([`crate::store::lease`]): a run
//!   of the same connection by another process (or the CLI) makes it wait its turn.
//!
//! - A run is a plain tokio task; its progress arrives through a channel.
//! - One at a time: while a run is going, "Sync now" and scheduled ticks are refused
//!   ([`TriggerError::Busy`]); the next interval is counted from the end of a run.
//! - A failed run is recorded in the import history by the runner, and the schedule goes on.
//! - Nothing is scheduled while nothing is saved (the tick is skipped, not recorded).
//! - [`Scheduler::shutdown`] stops a run between two awaits of the sync: pages commit with
//!   their records and checkpoint in one transaction, so the store stays consistent; the
//!   run is marked `interrupted` with what it had committed, and the next run resumes from
//!   the last committed page.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::watch;

use crate::runner::{Harness, HostError, Progress, SyncOptions};
use crate::store::{Store, StreamCounts};

/// What a stopped run's history row says.
const STOPPED: &str = "the server stopped during this run; the next run resumes from the last committed page";

/// How often, and how irregularly, scheduled runs happen.
#[derive(Clone, Debug)]
pub struct ScheduleConfig {
    pub every: Duration,
    /// Each interval is `every` × (1 ± `jitter`), drawn per interval (0 ≤ jitter ≤ 0.5).
    pub jitter: f64,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            every: Duration::from_secs(3600),
            jitter: 0.1,
        }
    }
}

impl ScheduleConfig {
    /// The next interval, jittered.
    pub fn next_delay(&self) -> Duration {
        let j = self.jitter.clamp(0.0, 0.5);
        // Jitter needs no cryptographic strength; without a random source, no jitter.
        let u = crate::random::unit().unwrap_or(0.5);
        self.every.mul_f64(1.0 + j * (2.0 * u - 1.0))
    }
}

/// `"500ms"`, `"30s"`, `"15m"`, `"1h"`, `"1h30m"`, `"2d"` → a duration (at least 10 ms).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    let bad = || format!("{text:?} is not a duration; use e.g. 30s, 15m, 1h or 1h30m");
    if s.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        total = total
            .checked_add(
                unit.checked_mul(u32::try_from(n).map_err(|_| bad())?)
                    .ok_or_else(bad)?,
            )
            .ok_or_else(bad)?;
        rest = &rest[unit_len..];
    }
    if total < Duration::from_millis(10) {
        return Err(format!(
            "{text:?} is too short; the shortest interval is 10ms"
        ));
    }
    Ok(total)
}

/// A duration the way [`parse_duration`] reads it: `1h`, `1h30m`, `200ms`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if !ms.is_multiple_of(1000) {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if secs >= len {
            out.push_str(&format!("{}{unit}", secs / len));
            secs %= len;
        }
    }
    out
}

/// The run in progress.
#[derive(Clone, Debug, Serialize)]
pub struct LiveRun {
    pub trigger: String,
    pub started_at: String,
    #[serde(skip)]
    pub started: Instant,
    /// The stream being pulled.
    pub stream: Option<String>,
    /// Per-stream counters of what the run has committed so far.
    pub streams: BTreeMap<String, StreamCounts>,
    /// Set while the run waits to retry (rate limit, transient failure).
    pub waiting: Option<String>,
}

/// How a run ended.
#[derive(Clone, Debug, Serialize)]
pub struct Finished {
    pub trigger: String,
    /// The history row (none when the run could not start, e.g. busy elsewhere).
    pub run_id: Option<i64>,
    /// `succeeded`, `failed` or `interrupted`.
    pub status: String,
    pub error: Option<HostError>,
    pub finished_at: String,
}

/// A snapshot for pages and tests.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub running: Option<LiveRun>,
    /// When the next scheduled run is due (RFC 3339), while the timer waits.
    pub next_at: Option<String>,
    pub every: String,
    pub jitter: f64,
    /// Runs started and finished by this scheduler.
    pub started: u64,
    pub finished: u64,
    /// Scheduled ticks skipped because a run was going / no token was stored.
    pub skipped_busy: u64,
    pub skipped_unconfigured: u64,
    pub last: Option<Finished>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TriggerError {
    #[error("a sync is already running (started {0})")]
    Busy(String),
    #[error("nothing is saved for this connection yet")]
    NotConfigured,
    #[error("the server is stopping")]
    Stopping,
}

#[derive(Default)]
struct State {
    live: Option<LiveRun>,
    task: Option<tokio::task::JoinHandle<()>>,
    next_at: Option<String>,
    started: u64,
    finished: u64,
    skipped_busy: u64,
    skipped_unconfigured: u64,
    last: Option<Finished>,
    stopping: bool,
}

struct Shared {
    harness: Arc<Harness>,
    store: Arc<Store>,
    connection: String,
    config: ScheduleConfig,
    state: Mutex<State>,
    /// Bumped on every change of the state (start, progress, finish).
    changed: watch::Sender<u64>,
    cancel: watch::Sender<bool>,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    fn on_progress(&self, p: Progress) {
        {
            let mut st = self.state();
            let Some(live) = st.live.as_mut() else { return };
            match p {
                Progress::StreamStarted { stream } => {
                    live.streams.entry(stream.clone()).or_default();
                    live.stream = Some(stream);
                    live.waiting = None;
                }
                Progress::PageCommitted { stream, counts, .. }
                | Progress::StreamDone { stream, counts } => {
                    live.streams.insert(stream, counts);
                    live.waiting = None;
                }
                Progress::Waiting { .. } => {
                    live.waiting = Some(format!("{}: {}", p.stream(), p.message()));
                }
            }
        }
        self.bump();
    }
}

/// Runs syncs of one connection, on a timer and on demand.
pub struct Scheduler {
    shared: Arc<Shared>,
    timer: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Scheduler {
    /// A scheduler without a timer: runs only when triggered.
    pub fn new(harness: Arc<Harness>, store: Arc<Store>, connection: &str, config: ScheduleConfig) -> Scheduler {
        Scheduler {
            shared: Arc::new(Shared {
                harness,
                store,
                connection: connection.to_string(),
                config,
                state: Mutex::new(State::default()),
                changed: watch::channel(0).0,
                cancel: watch::channel(false).0,
            }),
            timer: Mutex::new(None),
        }
    }

    /// A scheduler whose timer runs a sync every interval (call within a tokio runtime).
    pub fn start(harness: Arc<Harness>, store: Arc<Store>, connection: &str, config: ScheduleConfig) -> Scheduler {
        let s = Scheduler::new(harness, store, connection, config);
        let shared = s.shared.clone();
        *s.timer.lock().unwrap_or_else(|p| p.into_inner()) = Some(tokio::spawn(timer(shared)));
        s
    }

    pub fn harness(&self) -> &Arc<Harness> {
        &self.shared.harness
    }

    pub fn config(&self) -> &ScheduleConfig {
        &self.shared.config
    }

    /// The connection it runs.
    pub fn connection(&self) -> &str {
        &self.shared.connection
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// Start a run now (in the background). Refused while one is going.
    pub async fn trigger(&self, trigger: &str) -> Result<(), TriggerError> {
        start_run(&self.shared, trigger).await
    }

    /// Start a run now and wait until it ends.
    pub async fn run_now(&self, trigger: &str) -> Result<Finished, TriggerError> {
        let mut rx = self.shared.changed.subscribe();
        let before = self.shared.state().finished;
        self.trigger(trigger).await?;
        loop {
            {
                let st = self.shared.state();
                if st.finished > before && st.live.is_none() {
                    return Ok(st.last.clone().expect("a finished run"));
                }
            }
            if rx.changed().await.is_err() {
                return Err(TriggerError::Stopping);
            }
        }
    }

    /// Wait until no run is going.
    pub async fn wait_idle(&self) {
        let mut rx = self.shared.changed.subscribe();
        loop {
            if self.shared.state().live.is_none() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// A receiver that sees every change of [`Scheduler::status`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changed.subscribe()
    }

    pub fn status(&self) -> Status {
        let st = self.shared.state();
        Status {
            running: st.live.clone(),
            next_at: st.next_at.clone(),
            every: format_duration(self.shared.config.every),
            jitter: self.shared.config.jitter,
            started: st.started,
            finished: st.finished,
            skipped_busy: st.skipped_busy,
            skipped_unconfigured: st.skipped_unconfigured,
            last: st.last.clone(),
        }
    }

    /// Stop the timer and any run in progress (which is marked `interrupted`), and wait for
    /// the run's task to end. Later triggers are refused.
    pub async fn shutdown(&self) {
        self.shared.state().stopping = true;
        self.shared.cancel.send_replace(true);
        let timer = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = timer {
            t.abort();
            let _ = t.await;
        }
        let task = self.shared.state().task.take();
        if let Some(t) = task {
            let _ = t.await;
        }
        self.shared.state().next_at = None;
        self.shared.bump();
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        self.shared.cancel.send_replace(true);
        if let Some(t) = self.timer.lock().unwrap_or_else(|p| p.into_inner()).take() {
            t.abort();
        }
    }
}

async fn start_run(shared: &Arc<Shared>, trigger: &str) -> Result<(), TriggerError> {
    let configured = shared
        .store
        .is_configured(&shared.connection)
        .await
        .unwrap_or(true); // an unreadable store: let the run record the error
    let mut st = shared.state();
    if st.stopping {
        return Err(TriggerError::Stopping);
    }
    if let Some(live) = &st.live {
        return Err(TriggerError::Busy(live.started_at.clone()));
    }
    if !configured {
        return Err(TriggerError::NotConfigured);
    }
    st.live = Some(LiveRun {
        trigger: trigger.to_string(),
        started_at: now_rfc3339(),
        started: Instant::now(),
        stream: None,
        streams: BTreeMap::new(),
        waiting: None,
    });
    st.started += 1;
    let sh = shared.clone();
    let t = trigger.to_string();
    st.task = Some(tokio::spawn(run_task(sh, t)));
    drop(st);
    shared.bump();
    Ok(())
}

/// One run, as a task: a panic in it is recorded as a failed run, like any error.
async fn run_task(shared: Arc<Shared>, trigger: String) {
    let sh = shared.clone();
    let t = trigger.clone();
    let finished = match tokio::spawn(async move { run_once(&sh, &t).await }).await {
        Ok(f) => f,
        Err(_) => failed(
            &trigger,
            None,
            HostError::new("internal", "the sync run panicked"),
        ),
    };
    match &finished.error {
        Some(e) => {
            tracing::warn!(trigger = %trigger, status = %finished.status, class = %e.class, "sync run ended: {}", e.message)
        }
        None => {
            tracing::info!(trigger = %trigger, status = %finished.status, run = ?finished.run_id, "sync run ended")
        }
    }
    {
        let mut st = shared.state();
        st.live = None;
        st.finished += 1;
        st.last = Some(finished);
    }
    shared.bump();
}

fn failed(trigger: &str, run_id: Option<i64>, e: HostError) -> Finished {
    Finished {
        trigger: trigger.to_string(),
        run_id,
        status: "failed".into(),
        error: Some(e),
        finished_at: now_rfc3339(),
    }
}

async fn run_once(shared: &Arc<Shared>, trigger: &str) -> Finished {
    let store = &shared.store;
    let mut cancel = shared.cancel.subscribe();
    if *cancel.borrow() {
        return Finished {
            trigger: trigger.to_string(),
            run_id: None,
            status: "interrupted".into(),
            error: Some(HostError::new("interrupted", "the server is stopping")),
            finished_at: now_rfc3339(),
        };
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let sh = shared.clone();
    let listener = tokio::spawn(async move {
        while let Some(p) = rx.recv().await {
            sh.on_progress(p);
        }
    });
    let opts = SyncOptions {
        progress: Some(tx),
        ..SyncOptions::new(trigger)
    };
    // The lease first (busy elsewhere, not configured: nothing is recorded), then the run.
    let lease = match shared.harness.begin(store, &shared.connection, &opts).await {
        Ok(l) => l,
        Err(e) => {
            drop(opts);
            let _ = listener.await;
            return failed(trigger, None, e);
        }
    };
    let run_id = lease.run_id;
    let result = tokio::select! {
        r = shared.harness.run(store, lease.clone(), opts) => Some(r),
        _ = cancel.wait_for(|stop| *stop) => None,
    };
    // The sender is gone with the sync future: the listener drains what is left and ends.
    let _ = listener.await;
    match result {
        Some(Ok(run)) => Finished {
            trigger: trigger.to_string(),
            run_id: Some(run.id),
            status: run.status,
            error: None,
            finished_at: now_rfc3339(),
        },
        Some(Err(e)) => {
            let status = if e.class == "interrupted" { "interrupted" } else { "failed" };
            Finished {
                status: status.into(),
                ..failed(trigger, Some(run_id), e)
            }
        }
        None => {
            // The sync future was dropped between two awaits: every page it committed is
            // whole, and the run's history row holds their counts. Close it and release
            // the lease.
            if let Err(e) = store.interrupt_run(&lease, STOPPED).await {
                tracing::error!("could not mark the stopped run interrupted: {e:#}");
            }
            Finished {
                trigger: trigger.to_string(),
                run_id: Some(run_id),
                status: "interrupted".into(),
                error: Some(HostError::new("interrupted", STOPPED)),
                finished_at: now_rfc3339(),
            }
        }
    }
}

async fn timer(shared: Arc<Shared>) {
    let mut cancel = shared.cancel.subscribe();
    let mut changed = shared.changed.subscribe();
    loop {
        let delay = shared.config.next_delay();
        shared.state().next_at = Some(
            (chrono::Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default())
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        );
        shared.bump();
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.wait_for(|stop| *stop) => return,
        }
        shared.state().next_at = None;
        match start_run(&shared, "schedule").await {
            Ok(()) => {
                // Count the next interval from the end of this run.
                loop {
                    if shared.state().live.is_none() {
                        break;
                    }
                    tokio::select! {
                        r = changed.changed() => if r.is_err() { return },
                        _ = cancel.wait_for(|stop| *stop) => return,
                    }
                }
            }
            Err(TriggerError::Busy(_)) => {
                tracing::info!("scheduled sync skipped: a run is going");
                shared.state().skipped_busy += 1;
            }
            Err(TriggerError::NotConfigured) => {
                tracing::info!("scheduled sync skipped: nothing is saved for this connection");
                shared.state().skipped_unconfigured += 1;
            }
            Err(TriggerError::Stopping) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("200ms").unwrap(), Duration::from_millis(200));
        assert_eq!(
            parse_duration(" 2d ").unwrap(),
            Duration::from_secs(172_800)
        );
        for bad in ["", "h", "10", "1x", "-1s", "1.5h", "5ms", "s10"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        for d in ["1h", "1h30m", "200ms", "45s", "2d"] {
            assert_eq!(format_duration(parse_duration(d).unwrap()), d);
        }
    }

    #[test]
    fn jitter_stays_in_bounds() {
        let c = ScheduleConfig {
            every: Duration::from_secs(100),
            jitter: 0.1,
        };
        for _ in 0..200 {
            let d = c.next_delay();
            assert!(
                d >= Duration::from_secs(90) && d <= Duration::from_secs(110),
                "{d:?}"
            );
        }
    }
}
