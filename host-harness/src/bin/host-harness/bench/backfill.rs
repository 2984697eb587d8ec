//! The full backfill, end to end, in a child process ([`super::child`]): the clock runs
//! from starting the process to its report that the sync is committed, so it covers what
//! a user waits for from pressing enter: process start, loading the component (from the
//! precompiled artifact), creating the store, configuring the key, and the sync of every
//! stream. The child's peak RSS is its own. Then the incremental pull, in the same child.
//! Each trial is a new child with a new store; the wall is the median trial's, the peak
//! RSS the highest.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use host_harness::human::thousands;
use openai_mock::RequestRecord;

use super::fixture::Mock;
use super::mock_cost::MockCost;
use super::protocol::{Backfill, Incremental, Message, Setup, INCREMENTAL};
use super::report::{Row, Verdict};
use super::sizes::Sizes;
use super::stats::{mb, of_n};

pub const MAX_WALL: Duration = Duration::from_secs(3);
pub const MAX_PEAK_RSS: u64 = 200_000_000;
/// However slow the machine, a bench that hears nothing for this long has failed.
const PATIENCE: Duration = Duration::from_secs(20 * 60);

/// Every trial.
pub struct Outcome {
    pub trials: Vec<Trial>,
}

impl Outcome {
    /// The trial of median end-to-end wall (the lower middle for an even count).
    pub fn median(&self) -> &Trial {
        let mut by_wall: Vec<&Trial> = self.trials.iter().collect();
        by_wall.sort_by_key(|t| t.end_to_end);
        by_wall[(by_wall.len() - 1) / 2]
    }

    /// The highest peak RSS of any trial's backfill.
    pub fn peak_rss(&self) -> Option<u64> {
        self.trials
            .iter()
            .map(|t| t.backfill.peak_rss)
            .max()
            .flatten()
    }
}

/// One child: a backfill and the incremental pull after it.
pub struct Trial {
    pub backfill: Backfill,
    pub incremental: Incremental,
    /// From starting the child to its report that the backfill is committed.
    pub end_to_end: Duration,
    /// The mock's log of the backfill's requests, and of the incremental pull's.
    pub backfill_log: Vec<RequestRecord>,
    pub incremental_log: Vec<RequestRecord>,
}

impl Trial {
    pub fn records(&self) -> u64 {
        self.backfill.streams.values().map(|c| c.inserted).sum()
    }
}

/// The child, killed if the bench stops early.
struct Running {
    process: Option<Child>,
    stdin: Option<ChildStdin>,
    /// Its stdout, line by line, with when each line arrived.
    lines: UnboundedReceiver<(Instant, String)>,
}

impl Running {
    fn start(component: &Path, cache: &Path) -> anyhow::Result<Running> {
        let mut process =
            Command::new(std::env::current_exe().context("cannot find this program")?)
                .args(["bench", "--phase", "backfill", "--component"])
                .arg(component)
                .env("HOST_HARNESS_CACHE_DIR", cache)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .context("cannot start the backfill child")?;
        let stdin = process.stdin.take();
        let stdout = process.stdout.take().context("the child has no stdout")?;
        let (tx, lines) = unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        Ok(Running {
            process: Some(process),
            stdin,
            lines,
        })
    }

    fn send(&mut self, line: &str) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("the child's stdin is closed")?;
        writeln!(stdin, "{line}")?;
        stdin.flush()?;
        Ok(())
    }

    /// The child's next message, and when it arrived.
    async fn next(&mut self) -> anyhow::Result<(Instant, Message)> {
        loop {
            let (at, line) = tokio::time::timeout(PATIENCE, self.lines.recv())
                .await
                .context("the backfill child went silent")?
                .context("the backfill child ended without a report (its errors are above)")?;
            match Message::parse(&line) {
                Some(Ok(Message::Error { message })) => bail!("backfill child: {message}"),
                Some(m) => return Ok((at, m?)),
                None => eprintln!("{line}"),
            }
        }
    }

    /// Close its stdin and wait for it to exit.
    async fn finish(mut self) -> anyhow::Result<()> {
        self.stdin = None;
        let mut process = self.process.take().context("the child is gone")?;
        let status = tokio::task::spawn_blocking(move || process.wait()).await??;
        if !status.success() {
            bail!("the backfill child failed: {status}");
        }
        Ok(())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut p) = self.process.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

pub async fn run(
    component: &Path,
    cache: &Path,
    mock: &Mock,
    sizes: &Sizes,
) -> anyhow::Result<Outcome> {
    let mut trials = Vec::new();
    for _ in 0..sizes.backfill_reps {
        mock.server.reset_requests();
        trials.push(trial(component, cache, mock, sizes).await?);
    }
    Ok(Outcome { trials })
}

async fn trial(
    component: &Path,
    cache: &Path,
    mock: &Mock,
    sizes: &Sizes,
) -> anyhow::Result<Trial> {
    let work = tempfile::Builder::new()
        .prefix("host-harness-bench-store-")
        .tempdir()
        .context("cannot create a directory for the child's store")?;
    let setup = serde_json::to_string(&Setup {
        base: mock.server.base_url(),
        key: mock.key.expose().to_string(),
        days: sizes.days,
        dir: work.path().to_path_buf(),
    })?;
    let started = Instant::now();
    let mut child = Running::start(component, cache)?;
    child.send(&setup)?;
    drop(setup);
    let (at, backfill) = match child.next().await? {
        (at, Message::Backfill(b)) => (at, b),
        (_, other) => bail!("the backfill child answered {other:?}"),
    };
    let end_to_end = at - started;
    let backfill_log = mock.server.requests();
    mock.server.reset_requests();

    child.send(INCREMENTAL)?;
    let incremental = match child.next().await? {
        (_, Message::Incremental(i)) => i,
        (_, other) => bail!("the backfill child answered {other:?}"),
    };
    let incremental_log = mock.server.requests();
    child.finish().await?;
    Ok(Trial {
        backfill,
        incremental,
        end_to_end,
        backfill_log,
        incremental_log,
    })
}

pub fn wall_row(outcome: &Outcome, sizes: &Sizes, mock: &MockCost) -> Row {
    let o = outcome.median();
    let b = &o.backfill;
    let usage = b.streams.get("usage").map_or(0, |c| c.inserted);
    let secs = o.end_to_end.as_secs_f64();
    let n = outcome.trials.len();
    Row {
        id: "backfill_wall",
        what: "full backfill: wall",
        measured: format!(
            "{secs:.2} s end to end (sync {:.2} s{}); {} users × {} days: {} records ({} usage)",
            b.sync_ms / 1e3,
            of_n("median", n),
            thousands(sizes.users as u64),
            sizes.days,
            thousands(o.records()),
            thousands(usage)
        ),
        target: "≤ 3 s",
        verdict: Verdict::judge_unless(sizes.backfill_unjudged(), o.end_to_end <= MAX_WALL, || {
            format!(
                "{secs:.2} s from starting the process: load {:.0} ms, configure {:.0} ms, sync {:.2} s, the rest process start and store creation; the mock itself takes about {:.0}% of it to serve the usage pages",
                b.load_ms,
                b.configure_ms,
                b.sync_ms / 1e3,
                mock.share_of_backfill * 100.0
            )
        }),
        figures: json!({
            "end_to_end_s": secs,
            "trials_s": outcome.trials.iter().map(|t| t.end_to_end.as_secs_f64()).collect::<Vec<_>>(),
            "load_ms": b.load_ms,
            "configure_ms": b.configure_ms,
            "sync_ms": b.sync_ms,
            "records": o.records(),
            "usage_records": usage,
            "records_per_s": o.records() as f64 / secs,
            "streams": b.streams,
        }),
    }
}

pub fn rss_row(outcome: &Outcome, sizes: &Sizes) -> Row {
    let peak = outcome.peak_rss();
    let n = outcome.trials.len();
    Row {
        id: "backfill_peak_rss",
        what: "full backfill: peak RSS",
        measured: match peak {
            Some(p) => format!(
                "{} (VmHWM of the backfill process{})",
                mb(p),
                of_n("highest", n)
            ),
            None => "not measured (no /proc on this system)".into(),
        },
        target: "≤ 200 MB",
        verdict: match peak {
            None => Verdict::Unjudged(
                "this system does not report a process's peak RSS in /proc".into(),
            ),
            Some(p) => Verdict::judge_unless(sizes.backfill_unjudged(), p <= MAX_PEAK_RSS, || {
                format!(
                    "the backfill process peaked at {}: the engine and compiled code, the instance's linear memory, and the largest usage page held by the component and the host at once",
                    mb(p)
                )
            }),
        },
        figures: json!({
            "peak_rss_bytes": peak,
            "trials_bytes": outcome.trials.iter().map(|t| t.backfill.peak_rss).collect::<Vec<_>>(),
            "after_incremental_bytes": outcome.trials.iter().map(|t| t.incremental.peak_rss).max().flatten(),
        }),
    }
}

pub fn note(outcome: &Outcome) -> String {
    let o = outcome.median();
    let b = &o.backfill;
    format!(
        "backfill: a new child process per trial (its own RSS), the key on its stdin; walls {} s; the median trial: load {:.1} ms ({}), configure {:.1} ms, sync {:.0} ms, {:.0} ms for the rest (process start, store); records per stream: {}",
        outcome
            .trials
            .iter()
            .map(|t| format!("{:.2}", t.end_to_end.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        b.load_ms,
        b.origin,
        b.configure_ms,
        b.sync_ms,
        (o.end_to_end.as_secs_f64() * 1e3 - b.load_ms - b.configure_ms - b.sync_ms).max(0.0),
        b.streams
            .iter()
            .map(|(s, c)| format!("{s} {}", thousands(c.inserted)))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
