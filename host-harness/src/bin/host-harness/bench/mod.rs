//! `host-harness bench`: what users wait for, measured end to end on this machine, each
//! figure beside its target with a verdict, in one table (or, with `--json`, one object
//! holding every figure). docs/performance.md describes the method and the last full run.
//!
//! One phase per file, run in this order (the table follows the targets' order instead):
//!
//! - [`size`]: the component's size on disk,
//! - [`load`]: compiling the component vs. loading the host's precompiled artifact,
//! - [`instantiate`]: a fresh instance per run from the linked `InstancePre`,
//! - [`normalize`]: the same usage pages normalized inside the component and natively,
//! - [`minimum`]: the fewest provider requests a full sync can make, counted with plain
//!   GETs ([`plain_http`]), independently of the connector,
//! - [`backfill`]: a full backfill and the incremental pull after it, in a child process
//!   ([`child`], speaking [`protocol`]) so that its peak RSS is its own; [`requests`] and
//!   [`incremental`] judge what it reports, [`mock_cost`] says what the mock itself costs.
//!
//! - [`bare_client`]: a usage backfill (400 users × 90 days) beside a bare client that only
//!   fetches the same pages from the same mock, and their ratio (`--bare-only`: this row
//!   alone, a quick way to check the pipelined fetching).
//!
//! [`sizes`] holds the workloads and repetitions, [`stats`] medians and units, [`fixture`]
//! the mock and the harness pointed at it, [`report`] the rows, verdicts and output.
//!
//! `bench --scale` is a benchmark of its own ([`scale`]): many connections, each its own
//! organization of the mock, through one cycle of hourly incremental pulls by
//! `host-harness worker` processes ([`workers`]) on SQLite and on a PostgreSQL server the
//! bench starts itself ([`postgres`]).

mod backfill;
mod bare_client;
mod child;
mod fixture;
mod incremental;
mod instantiate;
mod load;
mod minimum;
mod mock_cost;
mod normalize;
mod plain_http;
mod postgres;
mod protocol;
mod report;
mod requests;
mod scale;
mod size;
mod sizes;
mod stats;
mod workers;

use std::path::{Path, PathBuf};

use anyhow::Context;
use host_harness::runner::HostError;

use report::Report;
use sizes::Sizes;

/// Options of `host-harness bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchOpts {
    /// The connector component (.wasm). Default: this workspace's release build.
    #[arg(long, value_name = "PATH")]
    pub component: Option<PathBuf>,
    /// Small sizes and few repetitions: every phase in seconds (for CI). Timing verdicts
    /// are not judged; counts (requests, size) are.
    #[arg(long)]
    pub quick: bool,
    /// Print one JSON object with every figure instead of the table.
    #[arg(long)]
    pub json: bool,
    /// People in the mock organization for the backfill [default: 1000; --quick: 60].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub users: Option<u32>,
    /// Days of backfill [default: 90; --quick: 10].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=365))]
    pub days: Option<u32>,
    /// Usage rows normalized per repetition, in whole pages, repeating the backfill's
    /// usage pages as needed [default: 100000; --quick: the quick backfill's pages once].
    #[arg(long, value_name = "ROWS", value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub normalize_rows: Option<u64>,
    /// Only the backfill-vs-bare-client row (usage, 400 users × 90 days; with --quick,
    /// 60 × 40), e.g. to check the pipelined fetching quickly.
    #[arg(long, conflicts_with = "scale")]
    pub bare_only: bool,
    /// Provider latency of the mock in the backfill-vs-bare-client row, in milliseconds
    /// [default: 500; --quick: 100].
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub bare_latency_ms: Option<u64>,
    /// The scale benchmark instead: --connections connections, each its own organization
    /// of the mock, backfilled, then one cycle of hourly incremental pulls by `worker`
    /// processes — SQLite with one process, PostgreSQL with two (one SIGKILLed mid-cycle).
    #[arg(long, conflicts_with = "quick")]
    pub scale: bool,
    /// --scale: connections (each its own organization with one admin key).
    #[arg(long, default_value_t = scale::TARGET_CONNECTIONS, requires = "scale",
          value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub connections: u32,
    /// --scale: the mock's provider latency, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = scale::TARGET_LATENCY_MS, requires = "scale",
          value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub latency_ms: u64,
    /// --scale: workers per worker process [default: 48 for SQLite's one process, 24 for
    /// each of PostgreSQL's two].
    #[arg(long, requires = "scale", value_parser = crate::args::workers)]
    pub workers: Option<usize>,
    /// --scale: only this set-up (repeatable) [default: both].
    #[arg(long, value_enum, requires = "scale")]
    pub setup: Vec<ScaleSetup>,
    /// Internal: run one phase in this process, talking to the parent on stdin/stdout.
    #[arg(long, hide = true, value_enum)]
    pub phase: Option<Phase>,
}

/// The set-ups of `bench --scale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ScaleSetup {
    /// An embedded SQLite store, one worker process.
    Sqlite,
    /// A PostgreSQL server, two worker processes.
    Postgres,
}

/// The phases that run in a process of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Phase {
    /// The full backfill and the incremental pull after it.
    Backfill,
}

pub async fn run(opts: BenchOpts) -> Result<(), HostError> {
    let component = opts
        .component
        .clone()
        .unwrap_or_else(host_harness::default_component_path);
    if let Some(Phase::Backfill) = opts.phase {
        return child::run(&component).await;
    }
    if !component.is_file() {
        return Err(HostError::new(
            "usage",
            format!("there is no component at {}", component.display()),
        )
        .with_hint(
            "Build it with `cargo build --release --target wasm32-wasip2 -p codex-connector`, or pass --component PATH.",
        ));
    }
    if opts.scale {
        let report = scale::run(&opts, &component).await?;
        if opts.json {
            println!("{}", report.json());
        } else {
            report.print();
        }
        return Ok(());
    }
    let sizes = Sizes::from(&opts);
    let report = if opts.bare_only {
        bare_only(&sizes, &component).await?
    } else {
        suite(&sizes, &component).await?
    };
    if opts.json {
        println!("{}", report.json());
    } else {
        report.print();
    }
    Ok(())
}

/// Progress on stderr, so stdout holds only the table or the JSON object.
fn progress(what: &str) {
    eprintln!("bench: {what}");
}

async fn suite(sizes: &Sizes, original: &Path) -> anyhow::Result<Report> {
    // Every phase measures one snapshot of the component, even if a build replaces the
    // original meanwhile; the precompiled artifacts go to a cache of the bench's own.
    let scratch = tempfile::Builder::new()
        .prefix("host-harness-bench-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let bytes = std::fs::read(original)
        .with_context(|| format!("cannot read the component {}", original.display()))?;
    let component = scratch.path().join("component.wasm");
    std::fs::write(&component, &bytes)?;
    let cache = scratch.path().join("cache");

    progress("component size");
    let size = size::measure(bytes.len() as u64);

    progress(&format!(
        "load: {}, {} precompiled loads after each",
        stats::plural(sizes.compile_reps as u64, "compilation", "compilations"),
        sizes.precompiled_reps
    ));
    let load = load::measure(&component, &cache, sizes)?;

    progress(&format!(
        "instantiate: {} fresh instances per allocator",
        sizes.instantiate_reps
    ));
    let instantiate = instantiate::measure(&component, &cache, sizes).await?;

    progress(&format!(
        "mock: {} users × {} days",
        sizes.users, sizes.days
    ));
    let mock = fixture::Mock::start(sizes).await?;

    progress("normalize: pulling the usage pages through the component");
    let normalize = normalize::measure(&component, &mock, sizes).await?;

    progress("minimum requests: listing the organization with plain GETs");
    let minimum = minimum::count(&mock, sizes.days).await?;

    progress(&format!(
        "backfill: {} users × {} days in a child process, then the incremental pull",
        sizes.users, sizes.days
    ));
    let outcome = backfill::run(&component, &cache, &mock, sizes).await?;

    progress("mock: serving a usage page to a plain client");
    let mock_cost = mock_cost::measure(&mock, &outcome, &minimum, sizes).await?;
    let dataset = mock.server.dataset_summary();
    mock.server.shutdown().await;

    progress(&bare_progress(sizes));
    let bare = bare_client::measure(&component, sizes).await?;

    let mut report = Report::new(sizes, original, bytes.len() as u64, dataset);
    report.row(backfill::wall_row(&outcome, sizes, &mock_cost));
    report.row(backfill::rss_row(&outcome, sizes));
    report.row(requests::row(&outcome, &minimum));
    report.row(incremental::requests_row(&outcome));
    report.row(incremental::wall_row(&outcome, sizes));
    report.row(bare.row);
    report.row(normalize.row);
    report.row(instantiate);
    report.row(load);
    report.row(size);
    report.context("normalize_breakdown", normalize.breakdown);
    report.context("mock", mock_cost.figures);
    // The bench's own high-water mark, for comparison with the backfill child's.
    report.context("bench_process_peak_rss_bytes", child::peak_rss().into());
    report.note(backfill::note(&outcome));
    report.note(mock_cost.note);
    report.note(normalize.note);
    report.note(bare.note);
    Ok(report)
}

fn bare_progress(sizes: &Sizes) -> String {
    format!(
        "backfill vs a bare client: usage of {} users × {} days, {} interleaved pairs",
        sizes.bare_users, sizes.bare_days, sizes.bare_reps
    )
}

/// `--bare-only`: the backfill-vs-bare-client row alone.
async fn bare_only(sizes: &Sizes, original: &Path) -> anyhow::Result<Report> {
    let scratch = tempfile::Builder::new()
        .prefix("host-harness-bench-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let bytes = std::fs::read(original)
        .with_context(|| format!("cannot read the component {}", original.display()))?;
    let component = scratch.path().join("component.wasm");
    std::fs::write(&component, &bytes)?;
    progress(&bare_progress(sizes));
    let b = bare_client::measure(&component, sizes).await?;
    let mut report = Report::new(sizes, original, bytes.len() as u64, String::new());
    report.row(b.row);
    report.note(b.note);
    Ok(report)
}
