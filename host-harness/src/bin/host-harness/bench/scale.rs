//! `host-harness bench --scale`: many connections through one cycle of hourly incremental
//! pulls, the way a platform runs them (issue 14).
//!
//! One mock serves one organization per connection, each with its own admin key, small
//! datasets and the provider latency of `--latency-ms` (50 ms). Per set-up:
//!
//! 1. **The store** (a SQLite file, or a database on a PostgreSQL server the bench starts
//!    in a temporary directory, [`super::postgres`]) gets the connections, each configured
//!    with its organization's key (encrypted at rest) and scheduled every hour.
//! 2. **Backfill** (untimed, no latency): one `host-harness worker --once` process runs
//!    every connection once; each must succeed.
//! 3. **The cycle.** The set-up's worker processes start (long-running `host-harness worker`
//!    children, as a platform runs them), and once each has catalogued every connection
//!    (its `/metrics` shows each one's last success) the hour ticks: one UPDATE makes every
//!    connection due at once (T0). The cycle ends with the last connection's successful
//!    pull. With PostgreSQL the second process is SIGKILLed once half the connections
//!    have pulled; its leases (a short TTL, 2 s) are taken over by the survivor, whose
//!    runs resume the killed ones.
//! 4. **Figures**, from the store's run history (runs newer than the backfill): pulls per
//!    second (successful pulls ÷ the cycle), p50 and p99 of the successful runs' durations
//!    (claim to close), peak RSS of each worker process (VmHWM, read while it lives: the
//!    killed one just before the kill), and whether every connection has exactly one
//!    successful run in the cycle (none twice, none skipped).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use host_harness::runner::Harness;
use host_harness::secret::Secret;
use host_harness::store::{
    crypto, lease, KeySource, Location, NewConnection, SecretKey, Store, StoreOptions,
};
use openai_mock::{MockConfig, MockServer};

use super::fixture;
use super::postgres::{self, PgServer};
use super::workers::{self, Worker};
use super::{progress, BenchOpts, ScaleSetup};

/// The targets, for 1,000 connections and 50 ms of provider latency.
pub const TARGET_CONNECTIONS: u32 = 1_000;
pub const TARGET_LATENCY_MS: u64 = 50;
pub const MIN_PULLS_PER_S: f64 = 100.0;
pub const MAX_CYCLE_S: f64 = 15.0;
pub const MAX_RSS_BYTES: u64 = 1_000_000_000;

/// Each organization: a few people, one project, a few days (a quick backfill).
const USERS: usize = 3;
const PROJECTS: usize = 1;
const DAYS: u32 = 3;
/// The lease TTL the PostgreSQL workers run with (renewed every third of it).
const LEASE_TTL: &str = "2s";

/// Workers per process unless `--workers`: the pulls wait on the provider (one request of
/// 50 ms each), so a pool well above the core count keeps the cores busy; the two
/// PostgreSQL processes share the same total.
fn default_workers(setup: ScaleSetup) -> usize {
    match setup {
        ScaleSetup::Sqlite => 48,
        ScaleSetup::Postgres => 24,
    }
}

/// The outcome of one set-up.
pub struct SetupResult {
    pub setup: ScaleSetup,
    pub processes: usize,
    pub connections: u32,
    pub workers: usize,
    pub outcome: Result<Measured, String>,
}

pub struct Measured {
    pub cycle: Duration,
    pub pulls: u64,
    pub pulls_per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Each process's peak RSS, bytes (None where /proc has none).
    pub rss: Vec<Option<u64>>,
    /// Each process's CPU seconds in the cycle (the killed one: until the kill).
    pub cpu_s: Vec<Option<f64>>,
    pub ran_once_each: bool,
    /// Connections with no successful run in the cycle, and with more than one.
    pub skipped: Vec<String>,
    pub twice: Vec<String>,
    pub interrupted: u64,
    pub failed: u64,
    pub requests: u64,
    /// The killed process: when (after T0), and the pulls done by then.
    pub killed: Option<(Duration, u64)>,
    /// CPU seconds the bench process (the mock, the polling) spent during the cycle.
    pub bench_cpu_s: Option<f64>,
    /// CPU seconds the PostgreSQL server spent during the cycle.
    pub server_cpu_s: Option<f64>,
}

impl Measured {
    fn peak_rss(&self) -> Option<u64> {
        self.rss.iter().flatten().copied().max()
    }
}

impl SetupResult {
    fn store(&self) -> &'static str {
        match self.setup {
            ScaleSetup::Sqlite => "sqlite",
            ScaleSetup::Postgres => "postgres",
        }
    }
}

pub struct ScaleReport {
    pub connections: u32,
    pub latency: Duration,
    pub setups: Vec<SetupResult>,
}

fn p(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // nearest rank
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms_of(t: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// The connection ids.
fn ids(n: u32) -> Vec<String> {
    (0..n).map(|i| format!("scale-{i:05}")).collect()
}

pub async fn run(opts: &BenchOpts, original: &Path) -> anyhow::Result<ScaleReport> {
    let n = opts.connections;
    let latency = Duration::from_millis(opts.latency_ms);
    let setups = if opts.setup.is_empty() {
        vec![ScaleSetup::Sqlite, ScaleSetup::Postgres]
    } else {
        let mut s = opts.setup.clone();
        s.dedup();
        s
    };
    let scratch = tempfile::Builder::new()
        .prefix("host-harness-bench-scale-")
        .tempdir()
        .context("cannot create a scratch directory")?;
    let component = scratch.path().join("component.wasm");
    std::fs::copy(original, &component)
        .with_context(|| format!("cannot read the component {}", original.display()))?;
    let cache = scratch.path().join("cache");
    let bin = std::env::current_exe().context("cannot find this program")?;

    progress(&format!(
        "scale: a mock of {n} organizations, {USERS} people × {DAYS} days each"
    ));
    let keys: Vec<String> = (0..n)
        .map(|_| host_harness::random::key("sk-admin-"))
        .collect();
    let mock = MockServer::start_many(
        MockConfig {
            users: USERS,
            projects: PROJECTS,
            days: DAYS,
            ..MockConfig::default()
        },
        keys,
    )
    .await?;
    let harness = Harness::load(fixture::config(&component, &mock.base_url())?).await?;

    let mut results = Vec::new();
    for setup in setups {
        let workers = opts.workers.unwrap_or_else(|| default_workers(setup));
        let processes = match setup {
            ScaleSetup::Sqlite => 1,
            ScaleSetup::Postgres => 2,
        };
        let outcome = match setup {
            ScaleSetup::Sqlite => {
                let dir = scratch.path().join("sqlite");
                std::fs::create_dir_all(&dir)?;
                let location = Location::Sqlite(dir.join("store.db"));
                let ctx = Ctx {
                    bin: &bin,
                    dir: &dir,
                    cache: &cache,
                    component: &component,
                    harness: &harness,
                    mock: &mock,
                    n,
                    latency,
                    workers,
                    processes,
                };
                Some(one_setup(&ctx, location, None, None).await)
            }
            ScaleSetup::Postgres => match postgres::bin_dir() {
                Err(why) => {
                    progress(&format!("scale: PostgreSQL set-up skipped: {why}"));
                    results.push(SetupResult {
                        setup,
                        processes,
                        connections: n,
                        workers,
                        outcome: Err(why),
                    });
                    None
                }
                Ok(pg_bin) => match PgServer::start(&pg_bin) {
                    Err(e) => {
                        let why = format!("{e:#}");
                        progress(&format!("scale: PostgreSQL set-up skipped: {why}"));
                        results.push(SetupResult {
                            setup,
                            processes,
                            connections: n,
                            workers,
                            outcome: Err(why),
                        });
                        None
                    }
                    Ok(server) => {
                        progress(&format!(
                            "scale: a PostgreSQL server in a temporary directory, port {}",
                            server.port
                        ));
                        let dir = scratch.path().join("postgres");
                        std::fs::create_dir_all(&dir)?;
                        let url = server.database("bench_scale").await?;
                        let key_file = dir.join("secret.key");
                        crypto::write_key_file(&key_file, &SecretKey::generate()?)?;
                        let ctx = Ctx {
                            bin: &bin,
                            dir: &dir,
                            cache: &cache,
                            component: &component,
                            harness: &harness,
                            mock: &mock,
                            n,
                            latency,
                            workers,
                            processes,
                        };
                        let r =
                            one_setup(&ctx, Location::Postgres(url), Some(key_file), Some(&server))
                                .await;
                        drop(server);
                        Some(r)
                    }
                },
            },
        };
        if let Some(outcome) = outcome {
            results.push(SetupResult {
                setup,
                processes,
                connections: n,
                workers,
                outcome: Ok(outcome?),
            });
        }
    }
    mock.shutdown().await;
    Ok(ScaleReport {
        connections: n,
        latency,
        setups: results,
    })
}

struct Ctx<'a> {
    bin: &'a Path,
    dir: &'a Path,
    cache: &'a Path,
    component: &'a Path,
    harness: &'a Harness,
    mock: &'a MockServer,
    n: u32,
    latency: Duration,
    workers: usize,
    processes: usize,
}

impl Ctx<'_> {
    /// The arguments of a `worker` on `db`.
    fn worker_args(
        &self,
        db: &str,
        key_file: Option<&Path>,
        workers: usize,
        once: bool,
    ) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "worker".into(),
            "--db".into(),
            db.into(),
            "--workers".into(),
            workers.to_string(),
            "--every".into(),
            "1h".into(),
            "--openai-base".into(),
            self.mock.base_url(),
        ];
        if let Some(k) = key_file {
            a.push("--secret-key-file".into());
            a.push(k.display().to_string());
        }
        if once {
            a.push("--once".into());
        } else {
            a.push("--metrics-listen".into());
            a.push("127.0.0.1:0".into());
        }
        a
    }

    fn env(&self, shared: bool) -> Vec<(&'static str, String)> {
        let mut env = vec![("HOST_HARNESS_CACHE_DIR", self.cache.display().to_string())];
        if shared {
            env.push(("HOST_HARNESS_LEASE_TTL", LEASE_TTL.to_string()));
        }
        env
    }
}

async fn one_setup(
    ctx: &Ctx<'_>,
    location: Location,
    key_file: Option<PathBuf>,
    server: Option<&PgServer>,
) -> anyhow::Result<Measured> {
    let shared = matches!(location, Location::Postgres(_));
    let db = match &location {
        Location::Sqlite(p) => p.display().to_string(),
        Location::Postgres(u) => u.clone(),
    };
    let label = if shared { "postgres" } else { "sqlite" };
    let opts = StoreOptions {
        key: key_file.clone().map_or(KeySource::Auto, KeySource::File),
        ..StoreOptions::default()
    };
    let store = Arc::new(Store::open(&location, opts).await?);
    let ids = ids(ctx.n);

    progress(&format!(
        "scale/{label}: adding and configuring {} connections",
        ctx.n
    ));
    let connector = ctx.harness.id().to_string();
    for (i, id) in ids.iter().enumerate() {
        store
            .add_connection(&NewConnection {
                id: id.clone(),
                name: format!("Organization {i}"),
                component: ctx.component.display().to_string(),
                connector: Some(connector.clone()),
            })
            .await?;
        let key = Secret::from_input(ctx.mock.admin_key_of(i));
        ctx.harness
            .configure(&store, id, &fixture::settings(DAYS), fixture::secrets(&key))
            .await?;
        store
            .set_schedule(id, Duration::from_secs(3600), 0.1, None)
            .await?;
    }

    progress(&format!(
        "scale/{label}: backfilling every connection (untimed, no latency): one `worker --once`"
    ));
    ctx.mock.set_latency(Duration::ZERO);
    {
        let mut w = Worker::spawn(
            "the backfill worker",
            ctx.bin,
            &ctx.worker_args(&db, key_file.as_deref(), 32, true),
            &ctx.env(shared),
            &ctx.dir.join("backfill.log"),
        )?;
        w.wait_exit(Duration::from_secs(60) + Duration::from_millis(300) * ctx.n)
            .await?;
    }
    // The newest run of each before the cycle: its backfill, which must have succeeded.
    let mut before = Vec::with_capacity(ids.len());
    for id in &ids {
        let runs = store.runs(id, 1).await?;
        match runs.first() {
            Some(r) if r.status == "succeeded" => before.push(r.id),
            other => bail!("the backfill of {id} did not succeed: {other:?}"),
        }
    }

    progress(&format!(
        "scale/{label}: starting {} worker process(es), {} workers each, provider latency {} ms",
        ctx.processes,
        ctx.workers,
        ctx.latency.as_millis()
    ));
    ctx.mock.set_latency(ctx.latency);
    let mut procs = Vec::new();
    for i in 0..ctx.processes {
        procs.push(Worker::spawn(
            &format!("worker process {}", i + 1),
            ctx.bin,
            &ctx.worker_args(&db, key_file.as_deref(), ctx.workers, false),
            &ctx.env(shared),
            &ctx.dir.join(format!("worker-{}.log", i + 1)),
        )?);
    }
    for w in &mut procs {
        w.wait_catalogued(ids.len(), Duration::from_secs(120))
            .await?;
    }
    ctx.mock.reset_requests();

    // The hour ticks: every connection due at once.
    let cpu0 = workers::cpu_seconds(std::process::id());
    let server_cpu0 = server.and_then(PgServer::cpu_seconds);
    let worker_cpu0: Vec<Option<f64>> = procs.iter().map(Worker::cpu_seconds).collect();
    let t0 = lease::now_ms();
    let started = Instant::now();
    make_all_due(&store, &location, t0).await?;
    progress(&format!(
        "scale/{label}: every connection is due; the cycle runs"
    ));

    // Until every connection has a successful run newer than its backfill.
    let deadline = started + Duration::from_secs(60).max(Duration::from_millis(100) * ctx.n);
    let mut pending: Vec<usize> = (0..ids.len()).collect();
    let mut killed = None;
    let mut rss: Vec<Option<u64>> = vec![None; procs.len()];
    let mut cpu: Vec<Option<f64>> = vec![None; procs.len()];
    let mut last_said = Instant::now();
    while !pending.is_empty() && Instant::now() < deadline {
        // (light on the store: the connections that finished since, and a few more)
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut misses = 0;
        let mut still = Vec::with_capacity(pending.len());
        for (k, &i) in pending.iter().enumerate() {
            if misses >= 8 {
                still.extend_from_slice(&pending[k..]);
                break;
            }
            let done = store
                .runs(&ids[i], 4)
                .await?
                .iter()
                .any(|r| r.id > before[i] && r.status == "succeeded");
            if !done {
                misses += 1;
                still.push(i);
            }
        }
        pending = still;
        for (j, w) in procs.iter().enumerate() {
            rss[j] = w.peak_rss().or(rss[j]);
            cpu[j] = w.cpu_seconds().or(cpu[j]);
        }
        let done = ids.len() - pending.len();
        if shared && killed.is_none() && procs.len() > 1 && done * 2 >= ids.len() {
            let victim = procs.len() - 1;
            rss[victim] = procs[victim].peak_rss().or(rss[victim]);
            cpu[victim] = procs[victim].cpu_seconds().or(cpu[victim]);
            procs[victim].kill();
            killed = Some((started.elapsed(), done as u64));
            progress(&format!(
                "scale/{label}: SIGKILLed {} (pid {}) after {done} pulls, {:.1} s into the cycle",
                procs[victim].name,
                procs[victim].pid,
                started.elapsed().as_secs_f64()
            ));
        }
        if last_said.elapsed() >= Duration::from_secs(2) {
            progress(&format!("scale/{label}: {done} of {} pulled", ids.len()));
            last_said = Instant::now();
        }
    }
    // A moment more, so that a second run of a connection would show.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bench_cpu_s = match (cpu0, workers::cpu_seconds(std::process::id())) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let server_cpu_s = match (server_cpu0, server.and_then(PgServer::cpu_seconds)) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    for (j, w) in procs.iter().enumerate() {
        rss[j] = w.peak_rss().or(rss[j]);
        cpu[j] = w.cpu_seconds().or(cpu[j]);
    }
    let requests = ctx.mock.request_count() as u64;
    // (CPU in the cycle: since T0)
    let cpu: Vec<Option<f64>> = cpu
        .iter()
        .zip(&worker_cpu0)
        .map(|(c, c0)| Some(c.as_ref()? - c0.as_ref()?))
        .collect();
    for w in &mut procs {
        if let Err(e) = w.stop(Duration::from_secs(20)).await {
            progress(&format!("scale/{label}: {e:#}"));
        }
    }
    drop(procs);

    // The cycle, from the history.
    let mut durations = Vec::new();
    let (mut skipped, mut twice) = (Vec::new(), Vec::new());
    let (mut interrupted, mut failed, mut last_end) = (0u64, 0u64, t0);
    for (i, id) in ids.iter().enumerate() {
        let runs = store.runs(id, 20).await?;
        let cycle: Vec<_> = runs.iter().filter(|r| r.id > before[i]).collect();
        let ok: Vec<_> = cycle.iter().filter(|r| r.status == "succeeded").collect();
        interrupted += cycle.iter().filter(|r| r.status == "interrupted").count() as u64;
        failed += cycle.iter().filter(|r| r.status == "failed").count() as u64;
        match ok.len() {
            0 => skipped.push(id.clone()),
            1 => {}
            _ => twice.push(id.clone()),
        }
        if ok.len() != 1 && skipped.len() + twice.len() <= 5 {
            // (what happened, on stderr, for the first few)
            for r in &cycle {
                progress(&format!(
                    "scale/{label}: {id}: run {} {} ({}) from {} to {}",
                    r.id,
                    r.status,
                    r.trigger,
                    r.started_at,
                    r.finished_at.as_deref().unwrap_or("-")
                ));
            }
        }
        for r in ok {
            let (Some(s), Some(e)) = (
                ms_of(&r.started_at),
                r.finished_at.as_deref().and_then(ms_of),
            ) else {
                continue;
            };
            durations.push((e - s) as f64);
            last_end = last_end.max(e);
        }
    }
    durations.sort_by(f64::total_cmp);
    let pulls = durations.len() as u64;
    let cycle = Duration::from_millis((last_end - t0).max(1) as u64);
    if !skipped.is_empty() {
        progress(&format!(
            "scale/{label}: {} connection(s) had no successful pull in {:.0} s",
            skipped.len(),
            started.elapsed().as_secs_f64()
        ));
    }
    Ok(Measured {
        cycle,
        pulls,
        pulls_per_s: pulls as f64 / cycle.as_secs_f64(),
        p50_ms: p(&durations, 0.50),
        p99_ms: p(&durations, 0.99),
        max_ms: durations.last().copied().unwrap_or(f64::NAN),
        rss,
        cpu_s: cpu,
        ran_once_each: skipped.is_empty() && twice.is_empty(),
        skipped,
        twice,
        interrupted,
        failed,
        requests,
        killed,
        bench_cpu_s,
        server_cpu_s,
    })
}

/// Every connection due now, in one statement (the hour ticking for all of them at once).
async fn make_all_due(store: &Store, location: &Location, t0: i64) -> anyhow::Result<()> {
    match location {
        Location::Sqlite(_) => {
            let db = store.sqlite().context("an embedded store")?;
            db.execute("UPDATE schedule SET next_due = ?1", [t0])?;
        }
        Location::Postgres(url) => {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
            let task = tokio::spawn(conn);
            client
                .execute("UPDATE schedule SET next_due = $1", &[&t0])
                .await?;
            drop(client);
            let _ = task.await;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------ report

/// Why the timing targets cannot be judged, if they cannot.
fn unjudged(r: &ScaleReport) -> Option<String> {
    (r.connections != TARGET_CONNECTIONS || r.latency != Duration::from_millis(TARGET_LATENCY_MS)).then(|| {
        format!(
            "measured for {} connections and {} ms of latency; the targets are for {TARGET_CONNECTIONS} and {TARGET_LATENCY_MS} ms",
            r.connections,
            r.latency.as_millis()
        )
    })
}

/// The targets a set-up missed, each with why (from its own figures).
fn misses(r: &ScaleReport, s: &SetupResult, m: &Measured) -> Vec<String> {
    let mut out = Vec::new();
    let capacity = (s.workers * s.processes) as f64 / (m.p50_ms / 1e3);
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as f64;
    let cpu: f64 = m.cpu_s.iter().flatten().sum::<f64>()
        + m.bench_cpu_s.unwrap_or(0.0)
        + m.server_cpu_s.unwrap_or(0.0);
    let busy = cpu / m.cycle.as_secs_f64();
    let why_slow = || {
        if capacity < MIN_PULLS_PER_S {
            format!(
                "{} workers × {} process(es) at a p50 run of {:.0} ms allow at most {capacity:.0} pulls/s",
                s.workers, s.processes, m.p50_ms
            )
        } else {
            format!(
                "the workers, the mock{} used {cpu:.1} CPU-seconds in the {:.1} s cycle ({busy:.1} of {cores:.0} cores; other work on the machine takes the rest), {:.1} ms of CPU per pull ({}): the runs wait for CPU, not the provider (p50 {:.0} ms against {} ms of latency)",
                if m.server_cpu_s.is_some() { " and the PostgreSQL server" } else { "" },
                m.cycle.as_secs_f64(),
                cpu * 1e3 / m.pulls.max(1) as f64,
                per_pull(m),
                m.p50_ms,
                r.latency.as_millis()
            )
        }
    };
    if unjudged(r).is_none() {
        if m.pulls_per_s < MIN_PULLS_PER_S {
            out.push(format!(
                "{:.0} pulls/s, target ≥ {MIN_PULLS_PER_S:.0}: {}",
                m.pulls_per_s,
                why_slow()
            ));
        }
        if m.cycle.as_secs_f64() > MAX_CYCLE_S {
            let kill = match m.killed {
                Some(_) => format!(
                    ", including the takeover of the killed process's {} interrupted run(s)",
                    m.interrupted
                ),
                None => String::new(),
            };
            out.push(format!(
                "cycle {:.1} s, target ≤ {MAX_CYCLE_S:.0} s{kill}: {}",
                m.cycle.as_secs_f64(),
                why_slow()
            ));
        }
    }
    if let Some(peak) = m.peak_rss() {
        if peak > MAX_RSS_BYTES {
            out.push(format!(
                "peak RSS {:.0} MB, target ≤ 1 GB per process",
                peak as f64 / 1e6
            ));
        }
    }
    if !m.ran_once_each {
        out.push(format!(
            "not every connection ran exactly once: {} without a successful pull ({}), {} with more than one ({})",
            m.skipped.len(),
            m.skipped.iter().take(5).cloned().collect::<Vec<_>>().join(", "),
            m.twice.len(),
            m.twice.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    out
}

/// CPU per pull, by process: `workers 6.1 ms, PostgreSQL 8.8 ms, mock 0.6 ms`.
fn per_pull(m: &Measured) -> String {
    let n = m.pulls.max(1) as f64;
    let mut parts = vec![format!(
        "workers {:.1} ms",
        m.cpu_s.iter().flatten().sum::<f64>() * 1e3 / n
    )];
    if let Some(s) = m.server_cpu_s {
        parts.push(format!("PostgreSQL {:.1} ms", s * 1e3 / n));
    }
    if let Some(b) = m.bench_cpu_s {
        parts.push(format!("mock and bench {:.1} ms", b * 1e3 / n));
    }
    parts.join(", ")
}

fn mb(b: Option<u64>) -> Value {
    b.map_or(Value::Null, |b| json!((b as f64 / 1e5).round() / 10.0))
}

fn round1(x: f64) -> Value {
    if x.is_finite() {
        json!((x * 10.0).round() / 10.0)
    } else {
        Value::Null
    }
}

impl ScaleReport {
    pub fn json(&self) -> Value {
        let setups: Vec<Value> = self
            .setups
            .iter()
            .map(|s| {
                let mut o = json!({
                    "store": s.store(),
                    "processes": s.processes,
                    "connections": s.connections,
                    "workers_per_process": s.workers,
                });
                match &s.outcome {
                    Err(why) => {
                        for k in [
                            "pulls_per_s",
                            "p50_ms",
                            "p99_ms",
                            "peak_rss_mb",
                            "ran_once_each",
                        ] {
                            o[k] = Value::Null;
                        }
                        o["skipped"] = json!(why);
                    }
                    Ok(m) => {
                        o["pulls_per_s"] = round1(m.pulls_per_s);
                        o["p50_ms"] = round1(m.p50_ms);
                        o["p99_ms"] = round1(m.p99_ms);
                        o["peak_rss_mb"] = mb(m.peak_rss());
                        o["ran_once_each"] = json!(m.ran_once_each);
                        o["cycle_s"] = json!((m.cycle.as_secs_f64() * 1e3).round() / 1e3);
                        o["pulls"] = json!(m.pulls);
                        o["max_ms"] = round1(m.max_ms);
                        o["process_peak_rss_mb"] =
                            json!(m.rss.iter().map(|b| mb(*b)).collect::<Vec<_>>());
                        o["process_cpu_s"] = json!(m
                            .cpu_s
                            .iter()
                            .map(|c| c.map_or(Value::Null, round1))
                            .collect::<Vec<_>>());
                        o["bench_cpu_s"] = m.bench_cpu_s.map_or(Value::Null, round1);
                        o["server_cpu_s"] = m.server_cpu_s.map_or(Value::Null, round1);
                        o["interrupted_runs"] = json!(m.interrupted);
                        o["failed_runs"] = json!(m.failed);
                        o["skipped_connections"] = json!(m.skipped.len());
                        o["connections_run_twice"] = json!(m.twice.len());
                        o["provider_requests"] = json!(m.requests);
                        o["killed"] = match m.killed {
                            Some((at, pulls)) => {
                                json!({ "at_s": round1(at.as_secs_f64()), "pulls_before": pulls })
                            }
                            None => Value::Null,
                        };
                        o["missed"] = json!(misses(self, s, m));
                    }
                }
                o
            })
            .collect();
        json!({
            "setups": setups,
            "latency_ms": self.latency.as_millis() as u64,
            "timing_judged": unjudged(self).is_none(),
            "machine": {
                "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
                "load_average_1m": std::fs::read_to_string("/proc/loadavg").ok()
                    .and_then(|l| l.split_whitespace().next()?.parse::<f64>().ok()),
            },
        })
    }

    pub fn print(&self) {
        let load = std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|l| l.split_whitespace().next().map(str::to_string))
            .unwrap_or_else(|| "?".into());
        println!(
            "host-harness bench --scale — {} connections, each its own organization — provider latency {} ms — {} cores, load average {load}",
            host_harness::human::thousands(self.connections as u64),
            self.latency.as_millis(),
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        println!();
        println!("| store | processes × workers | cycle | pulls/s | p50 | p99 | peak RSS per process | ran once each | verdict |");
        println!("|---|---|---|---|---|---|---|---|---|");
        let mut notes = Vec::new();
        for s in &self.setups {
            match &s.outcome {
                Err(why) => {
                    println!(
                        "| {} | {} × {} | - | - | - | - | - | - | skipped |",
                        s.store(),
                        s.processes,
                        s.workers
                    );
                    notes.push(format!("{}: skipped: {why}", s.store()));
                }
                Ok(m) => {
                    let missed = misses(self, s, m);
                    let rss: Vec<String> = m
                        .rss
                        .iter()
                        .map(|b| b.map_or("-".into(), |b| format!("{:.0} MB", b as f64 / 1e6)))
                        .collect();
                    let once = if m.ran_once_each {
                        "yes".to_string()
                    } else {
                        format!("NO ({} skipped, {} twice)", m.skipped.len(), m.twice.len())
                    };
                    println!(
                        "| {} | {} × {} | {:.1} s | {:.0} | {:.0} ms | {:.0} ms | {} | {once} | {} |",
                        s.store(),
                        s.processes,
                        s.workers,
                        m.cycle.as_secs_f64(),
                        m.pulls_per_s,
                        m.p50_ms,
                        m.p99_ms,
                        rss.join(", "),
                        if missed.is_empty() {
                            if unjudged(self).is_some() { "not judged (timing)" } else { "met" }
                        } else {
                            "MISSED"
                        }
                    );
                    for miss in missed {
                        notes.push(format!("{} — MISSED: {miss}", s.store()));
                    }
                    let kill = match m.killed {
                        Some((at, pulls)) => format!(
                            "; process 2 SIGKILLed {:.1} s into the cycle after {pulls} pulls, its {} run(s) in progress marked interrupted and taken over",
                            at.as_secs_f64(),
                            m.interrupted
                        ),
                        None => String::new(),
                    };
                    let cpu: Vec<String> = m
                        .cpu_s
                        .iter()
                        .map(|c| c.map_or("-".into(), |c| format!("{c:.1} s")))
                        .collect();
                    notes.push(format!(
                        "{}: {} successful pulls, {} provider requests, {} failed; CPU in the cycle: worker process(es) {}, the bench (the mock) {}{} — per pull: {}{kill}",
                        s.store(),
                        m.pulls,
                        m.requests,
                        m.failed,
                        cpu.join(", "),
                        m.bench_cpu_s.map_or("-".into(), |c| format!("{c:.1} s")),
                        m.server_cpu_s.map_or(String::new(), |c| format!(", the PostgreSQL server {c:.1} s")),
                        per_pull(m),
                    ));
                }
            }
        }
        println!();
        println!(
            "targets ({TARGET_CONNECTIONS} connections, {TARGET_LATENCY_MS} ms latency): ≥ {MIN_PULLS_PER_S:.0} pulls/s, cycle ≤ {MAX_CYCLE_S:.0} s, peak RSS ≤ 1 GB per process, every connection exactly one successful pull per cycle"
        );
        if let Some(why) = unjudged(self) {
            println!("timing not judged: {why}");
        }
        for n in notes {
            println!("- {n}");
        }
    }
}
