//! `host-harness bench`: one table of what the connector and the host cost, measured in one
//! run on this machine — medians of repeated measurements and ratios taken within the same
//! run, each beside its target.
//!
//! Phases: component size; load (compile vs. precompiled artifact from the cache);
//! instantiate (a fresh sandbox per pull from the `InstancePre`, pooling vs. on-demand
//! allocation); normalize (the same usage pages natively and inside the component); a full
//! backfill against the mock on loopback, in a child process (`bench --phase backfill`) so
//! its peak RSS is its own; the provider requests it made vs. the minimum the API's page
//! limits allow; the incremental pull right after it; and the mock's own throughput.

use crate::report::thousands;
use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::redact::Redactor;
use crate::runner::{Harness, HarnessConfig};
use crate::sandbox::{self, wit, Allocator, Base, LoadOrigin, Policy, Sandbox};
use crate::store::Store;
use openai_mock::{MockConfig, MockServer, RequestRecord};

/// Options of `host-harness bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchOpts {
    /// Small sizes and few repetitions: exercises every phase in seconds (for CI), the
    /// figures are not meaningful.
    #[arg(long)]
    pub quick: bool,
    /// People in the mock organisation for the backfill [default: 1000, --quick: 60].
    #[arg(long)]
    pub users: Option<usize>,
    /// Days of backfill [default: 90, --quick: 10].
    #[arg(long)]
    pub days: Option<u32>,
    /// Usage rows normalized per repetition (whole pages, at least this many)
    /// [default: 100000, --quick: all the quick backfill's rows].
    #[arg(long)]
    pub normalize_rows: Option<usize>,
    /// Internal: run one phase in this process (`backfill`), talking JSON lines to the parent.
    #[arg(long, hide = true)]
    pub phase: Option<String>,
}

/// Environment of the backfill child (the key never travels in argv).
const ENV_BASE: &str = "HOST_HARNESS_BENCH_BASE";
const ENV_KEY: &str = "HOST_HARNESS_BENCH_KEY";
const ENV_DAYS: &str = "HOST_HARNESS_BENCH_DAYS";
const ENV_DIR: &str = "HOST_HARNESS_BENCH_DIR";
/// Lines of the child's protocol on stdout start with this.
const TAG: &str = "BENCH-RESULT ";

/// Largest page the usage endpoint allows for daily buckets.
const USAGE_PAGE_DAYS: u64 = 31;
const DIRECTORY_PAGE: u64 = 100;

struct Sizes {
    users: usize,
    days: u32,
    normalize_rows: usize,
    compile_reps: usize,
    cached_reps: usize,
    instantiate_reps: usize,
    normalize_reps: usize,
    mock_reps: usize,
}

impl Sizes {
    fn from(opts: &BenchOpts) -> Sizes {
        let q = opts.quick;
        Sizes {
            users: opts.users.unwrap_or(if q { 60 } else { 1000 }),
            days: opts.days.unwrap_or(if q { 10 } else { 90 }),
            normalize_rows: opts.normalize_rows.unwrap_or(if q { 1 } else { 100_000 }),
            compile_reps: if q { 1 } else { 5 },
            cached_reps: if q { 5 } else { 50 },
            instantiate_reps: if q { 200 } else { 5_000 },
            normalize_reps: if q { 3 } else { 15 },
            mock_reps: if q { 2 } else { 7 },
        }
    }
}

/// Run the suite (or, with `--phase`, one phase of it) for `component`.
pub async fn run(opts: BenchOpts, component: &Path) -> anyhow::Result<()> {
    match opts.phase.as_deref() {
        None => suite(&opts, component).await,
        Some("backfill") => backfill_child(component).await,
        Some(other) => bail!("unknown bench phase {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Helpers

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    let n = v.len();
    if n == 0 {
        Duration::ZERO
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ceil_div(a: u64, b: u64) -> u64 {
    a.div_ceil(b)
}

/// Pages a list of `n` items takes at `per_page`: an empty list still takes one request.
fn pages(n: u64, per_page: u64) -> u64 {
    ceil_div(n, per_page).max(1)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

/// Peak resident set of this process (VmHWM), in bytes.
fn vm_hwm() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// A private scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> anyhow::Result<Scratch> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "host-harness-{what}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn note(msg: &str) {
    eprintln!("bench: {msg}");
}

/// One GET on a fresh loopback connection, the way a plain client would: returns the
/// status and the body (de-chunked).
async fn raw_get(addr: SocketAddr, path: &str, key: &str) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {key}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1 << 20);
    s.read_to_end(&mut buf).await?;
    let head_end = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers in the mock's response")?;
    let head = std::str::from_utf8(&buf[..head_end]).context("non-UTF-8 headers")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .context("no status in the mock's response")?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let mut body = buf.split_off(head_end + 4);
    if chunked {
        let mut out = Vec::with_capacity(body.len());
        let mut rest = &body[..];
        loop {
            let eol = rest
                .windows(2)
                .position(|w| w == b"\r\n")
                .context("bad chunk")?;
            let size_text = std::str::from_utf8(&rest[..eol])?;
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)?;
            rest = &rest[eol + 2..];
            if size == 0 {
                break;
            }
            if rest.len() < size + 2 {
                bail!("truncated chunk");
            }
            out.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        body = out;
    }
    Ok((status, body))
}

/// Every item of a directory list, following `after` with `limit=100`.
async fn list_all(
    addr: SocketAddr,
    key: &str,
    endpoint: &str,
    extra: &str,
) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("{endpoint}?limit={DIRECTORY_PAGE}{extra}");
        if let Some(a) = &after {
            path.push_str("&after=");
            path.push_str(a);
        }
        let (status, body) = raw_get(addr, &path, key).await?;
        if status != 200 {
            bail!("{endpoint}: status {status}");
        }
        let v: Value = serde_json::from_slice(&body)?;
        let data = v["data"].as_array().cloned().unwrap_or_default();
        after = data
            .last()
            .and_then(|d| d["id"].as_str())
            .map(str::to_string);
        out.extend(data);
        if !v["has_more"].as_bool().unwrap_or(false) || after.is_none() {
            return Ok(out);
        }
    }
}

/// What the API's page limits allow at least for a full sync of this organisation.
struct Minimum {
    usage: u64,
    users: u64,
    projects: u64,
    api_keys: u64,
    detail: String,
}

impl Minimum {
    fn total(&self) -> u64 {
        self.usage + self.users + self.projects + self.api_keys
    }
}

/// Count the organisation independently of the connector (plain GETs) and derive the
/// minimum number of requests a full sync needs.
async fn minimum_requests(mock: &MockServer, key: &str, days: u32) -> anyhow::Result<Minimum> {
    let addr = mock.addr();
    let users = list_all(addr, key, "/v1/organization/users", "").await?;
    let projects = list_all(
        addr,
        key,
        "/v1/organization/projects",
        "&include_archived=true",
    )
    .await?;
    let project_pages = pages(projects.len() as u64, DIRECTORY_PAGE);
    let mut key_pages = 0;
    let mut keys_total = 0;
    for p in &projects {
        let id = p["id"].as_str().context("project without id")?;
        let keys = list_all(
            addr,
            key,
            &format!("/v1/organization/projects/{id}/api_keys"),
            "",
        )
        .await?;
        keys_total += keys.len();
        key_pages += pages(keys.len() as u64, DIRECTORY_PAGE);
    }
    Ok(Minimum {
        usage: ceil_div(days as u64, USAGE_PAGE_DAYS),
        users: pages(users.len() as u64, DIRECTORY_PAGE),
        projects: project_pages,
        api_keys: project_pages + key_pages,
        detail: format!(
            "{} users, {} projects, {} keys",
            users.len(),
            projects.len(),
            keys_total
        ),
    })
}

fn stream_of(r: &RequestRecord) -> &'static str {
    if r.path.contains("/usage/") {
        "usage"
    } else if r.path.ends_with("/users") {
        "users"
    } else if r.path.contains("/api_keys") {
        "api_keys"
    } else if r.path.ends_with("/projects") {
        "projects (+ api_keys' project pages)"
    } else {
        "other"
    }
}

// ---------------------------------------------------------------------------------------
// The suite

struct Row {
    what: &'static str,
    measured: String,
    target: &'static str,
    verdict: String,
}

async fn suite(opts: &BenchOpts, original: &Path) -> anyhow::Result<()> {
    let sizes = Sizes::from(opts);
    let mut rows: Vec<Row> = Vec::new();
    let mut notes: Vec<String> = Vec::new();

    // Every phase measures this one snapshot of the component, even if a build replaces
    // the original meanwhile.
    let bytes = std::fs::read(original)
        .with_context(|| format!("cannot read component {}", original.display()))?;
    let snapshot = Scratch::new("bench-component")?;
    let component_path = snapshot.0.join("component.wasm");
    std::fs::write(&component_path, &bytes)?;
    let component = component_path.as_path();

    // ---- component size
    let size = bytes.len() as u64;
    rows.push(Row {
        what: "component size",
        measured: format!("{} bytes ({:.1} KB)", thousands(size), size as f64 / 1000.0),
        target: "≤ 250 KB",
        verdict: verdict(size <= 250_000).into(),
    });

    // ---- load: compile vs. precompiled artifact
    note("load: compiling and loading the precompiled artifact");
    let cache = Scratch::new("bench-cache")?;
    let mut compile = Vec::new();
    for _ in 0..sizes.compile_reps {
        let t = Instant::now();
        let s = Sandbox::load_with(component, None, Allocator::Pooling)?;
        compile.push(t.elapsed());
        drop(s);
    }
    let first = Sandbox::load_with(component, Some(&cache.0), Allocator::Pooling)?;
    if first.origin() != LoadOrigin::CompiledAndCached {
        bail!(
            "the first cached load did not write the cache ({:?})",
            first.origin()
        );
    }
    drop(first);
    let mut cached = Vec::new();
    for _ in 0..sizes.cached_reps {
        let t = Instant::now();
        let s = Sandbox::load_with(component, Some(&cache.0), Allocator::Pooling)?;
        cached.push(t.elapsed());
        if s.origin() != LoadOrigin::Cached {
            bail!("a warm cached load compiled ({:?})", s.origin());
        }
    }
    // The bare wasmtime calls, for the notes.
    let engine = Sandbox::load_with(component, Some(&cache.0), Allocator::Pooling)?
        .engine()
        .clone();
    let artifact = cache.0.join(format!(
        "{}.cwasm",
        sandbox::cache_key(Allocator::Pooling, &bytes)?
    ));
    let mut bare_deser = Vec::new();
    for _ in 0..sizes.cached_reps {
        let t = Instant::now();
        // SAFETY: the artifact was written just above by this process (Sandbox::load_with).
        let c = unsafe { wasmtime::component::Component::deserialize_file(&engine, &artifact) }?;
        bare_deser.push(t.elapsed());
        drop(c);
    }
    let (compile_med, cached_med) = (median(&mut compile), median(&mut cached));
    let load_ratio = compile_med.as_secs_f64() / cached_med.as_secs_f64();
    rows.push(Row {
        what: "load",
        measured: format!(
            "compile {:.1} ms vs precompiled {:.2} ms: {:.0}× faster (medians of {} / {})",
            ms(compile_med),
            ms(cached_med),
            load_ratio,
            sizes.compile_reps,
            sizes.cached_reps
        ),
        target: "precompiled ≥ 20× faster",
        verdict: verdict(load_ratio >= 20.0).into(),
    });
    notes.push(format!(
        "load = read + compile or (SHA-256 key + Component::deserialize_file) + link + InstancePre; \
         the bare deserialize_file is {:.2} ms; artifact {} bytes",
        ms(median(&mut bare_deser)),
        thousands(std::fs::metadata(&artifact).map(|m| m.len()).unwrap_or(0))
    ));

    // ---- instantiate
    note("instantiate: fresh sessions from the InstancePre");
    let pooled = Sandbox::load_with(component, Some(&cache.0), Allocator::Pooling)?;
    let on_demand = Sandbox::load_with(component, Some(&cache.0), Allocator::OnDemand)?;
    let mut inst = BTreeMap::new();
    for (name, sb) in [("pooling", &pooled), ("on-demand", &on_demand)] {
        let mut create = Vec::with_capacity(sizes.instantiate_reps);
        let mut cycle = Vec::with_capacity(sizes.instantiate_reps);
        for i in 0..sizes.instantiate_reps + 50 {
            let policy = Policy::default();
            let t = Instant::now();
            let session = sb.session(policy, Redactor::default()).await?;
            let created = t.elapsed();
            drop(session);
            if i >= 50 {
                create.push(created);
                cycle.push(t.elapsed());
            }
        }
        inst.insert(name, (median(&mut create), median(&mut cycle)));
    }
    let (pool_create, pool_cycle) = inst["pooling"];
    let (od_create, od_cycle) = inst["on-demand"];
    rows.push(Row {
        what: "instantiate",
        measured: format!(
            "{:.1} µs median (pooling; on-demand {:.1} µs, {:.1}×; with drop {:.1} vs {:.1} µs; n = {})",
            us(pool_create),
            us(od_create),
            od_create.as_secs_f64() / pool_create.as_secs_f64(),
            us(pool_cycle),
            us(od_cycle),
            sizes.instantiate_reps
        ),
        target: "≤ 50 µs median",
        verdict: verdict(pool_create <= Duration::from_micros(50)).into(),
    });
    drop(on_demand);

    // ---- the mock for everything below
    note(&format!(
        "starting the mock: {} users, {} days",
        sizes.users, sizes.days
    ));
    let key = crate::random_admin_key();
    let t = Instant::now();
    let mock = MockServer::start(MockConfig {
        users: sizes.users,
        days: sizes.days,
        admin_key: key.clone(),
        ..MockConfig::default()
    })
    .await?;
    notes.push(format!(
        "mock: {} (generated in {:.1} s)",
        mock.dataset_summary(),
        t.elapsed().as_secs_f64()
    ));
    let base = Base::parse(&mock.base_url())?;

    // ---- normalize: the connector's own usage pages, natively and in the component
    note("normalize: pulling the usage pages through the component");
    let mut hc = HarnessConfig::new(component.to_path_buf());
    hc.openai_base = Some(base.clone());
    let harness = Harness::load(hc).await?;
    let mut session = harness
        .session(Some(&key))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut settings = harness.typed_settings(&[("backfill_days".into(), sizes.days.to_string())]);
    settings.push(wit::Setting {
        key: crate::store::TOKEN_SLOT.into(),
        value: wit::SettingValue::Text(key.clone()),
    });
    match session.configure(&settings).await? {
        Ok(_) => {}
        Err(e) => bail!("configure failed: {e:?}"),
    }
    let mut raw_pages: Vec<wit::RawPage> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = match session.pull_page("usage", None, cursor.as_deref()).await? {
            Ok(p) => p,
            Err(e) => bail!("pull-page failed: {e:?}"),
        };
        raw_pages.push(page.raw);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let usage_request: Option<RequestRecord> = mock
        .requests()
        .into_iter()
        .find(|r| r.path.contains("/usage/"));
    let native_settings = codex_connector::settings::Settings::for_normalize("*codex*", &[], &[]);
    let to_native = |p: &wit::RawPage| codex_connector::model::RawPage {
        stream: p.stream.clone(),
        scope: p.scope.clone(),
        fetched_at: p.fetched_at,
        body: p.body.clone(),
    };
    // Whole pages until the target row count (repeating the set if the org is small).
    let mut chosen: Vec<(wit::RawPage, codex_connector::model::RawPage)> = Vec::new();
    let mut rows_chosen = 0usize;
    let page_rows: Vec<usize> = raw_pages
        .iter()
        .map(|p| {
            codex_connector::normalize::normalize(&to_native(p), &native_settings)
                .map(|r| r.len())
                .unwrap_or(0)
        })
        .collect();
    if page_rows.iter().sum::<usize>() == 0 {
        bail!("the mock's usage pages hold no rows");
    }
    'fill: loop {
        for (p, &n) in raw_pages.iter().zip(&page_rows) {
            if n == 0 {
                continue;
            }
            chosen.push((p.clone(), to_native(p)));
            rows_chosen += n;
            if rows_chosen >= sizes.normalize_rows && !opts.quick {
                break 'fill;
            }
        }
        if rows_chosen >= sizes.normalize_rows {
            break;
        }
    }
    let body_bytes: usize = chosen.iter().map(|(w, _)| w.body.len()).sum();
    // Same output both ways (also warms both paths up).
    for (w, n) in &chosen {
        let native = codex_connector::normalize::normalize(n, &native_settings)
            .map_err(|e| anyhow::anyhow!("native normalize failed: {e:?}"))?;
        let inside = match session.normalize(w).await? {
            Ok(r) => r,
            Err(e) => bail!("normalize in the component failed: {e:?}"),
        };
        let same = native.len() == inside.len()
            && native.iter().zip(inside.iter()).all(|(a, b)| {
                a.stream == b.stream
                    && a.key == b.key
                    && a.schema_version == b.schema_version
                    && a.payload == b.payload
            });
        if !same {
            bail!("native and in-component normalize disagree on a page");
        }
    }
    note(&format!(
        "normalize: {} rows in {} pages ({:.1} MB of JSON)",
        rows_chosen,
        chosen.len(),
        body_bytes as f64 / 1e6
    ));
    let mut native_t = Vec::new();
    let mut inside_t = Vec::new();
    let mut ratios = Vec::new();
    for _ in 0..sizes.normalize_reps {
        let t = Instant::now();
        let mut n = 0;
        for (_, p) in &chosen {
            n += codex_connector::normalize::normalize(p, &native_settings)
                .map_err(|e| anyhow::anyhow!("{e:?}"))?
                .len();
        }
        native_t.push(t.elapsed());
        assert_eq!(n, rows_chosen);
        let t = Instant::now();
        let mut n = 0;
        for (p, _) in &chosen {
            n += match session.normalize(p).await? {
                Ok(r) => r.len(),
                Err(e) => bail!("{e:?}"),
            };
        }
        inside_t.push(t.elapsed());
        assert_eq!(n, rows_chosen);
        // Interleaved, so each ratio compares runs seconds apart under the same load.
        ratios.push(
            inside_t[inside_t.len() - 1].as_secs_f64() / native_t[native_t.len() - 1].as_secs_f64(),
        );
    }
    drop(session);
    let (native_med, inside_med) = (median(&mut native_t), median(&mut inside_t));
    let native_rate = rows_chosen as f64 / native_med.as_secs_f64();
    let inside_rate = rows_chosen as f64 / inside_med.as_secs_f64();
    ratios.sort_by(f64::total_cmp);
    let norm_ratio = ratios[ratios.len() / 2];
    rows.push(Row {
        what: "normalize, native",
        measured: format!(
            "{} rows in {} pages ({:.1} MB): {:.1} ms, {}k rows/s (median of {})",
            thousands(rows_chosen as u64),
            chosen.len(),
            body_bytes as f64 / 1e6,
            ms(native_med),
            thousands((native_rate / 1000.0) as u64),
            sizes.normalize_reps
        ),
        target: "≥ 500k usage rows/s",
        verdict: verdict(native_rate >= 500_000.0).into(),
    });
    rows.push(Row {
        what: "normalize, in component",
        measured: format!(
            "{:.1} ms, {}k rows/s: {:.2}× native (median of per-run ratios; same pages, same output)",
            ms(inside_med),
            thousands((inside_rate / 1000.0) as u64),
            norm_ratio
        ),
        target: "≤ 1.5× native",
        verdict: verdict(norm_ratio <= 1.5).into(),
    });
    drop(chosen);
    drop(raw_pages);

    // ---- the mock's own throughput on the largest page of the backfill
    let mut mock_page_ms = None;
    if let Some(r) = &usage_request {
        note("mock: serving the first usage page to a plain client");
        let path = format!("{}?{}", r.path, r.query);
        let mut times = Vec::new();
        let mut len = 0;
        for _ in 0..sizes.mock_reps {
            let t = Instant::now();
            let (status, body) = raw_get(mock.addr(), &path, &key).await?;
            times.push(t.elapsed());
            if status != 200 {
                bail!("the mock answered {status}");
            }
            len = body.len();
        }
        let med = median(&mut times);
        mock_page_ms = Some((ms(med), len));
    }

    // ---- provider requests: the minimum, counted independently
    note("provider requests: counting the organisation with plain GETs");
    let minimum = minimum_requests(&mock, &key, sizes.days).await?;
    mock.reset_requests();

    // ---- full backfill + incremental, in a child process
    note(&format!(
        "backfill: {} users × {} days in a child process",
        sizes.users, sizes.days
    ));
    let work = Scratch::new("bench-backfill")?;
    let mut child = Command::new(std::env::current_exe().context("current_exe")?)
        .arg("--component")
        .arg(component)
        .args(["bench", "--phase", "backfill"])
        .env(ENV_BASE, mock.base_url())
        .env(ENV_KEY, &key)
        .env(ENV_DAYS, sizes.days.to_string())
        .env(ENV_DIR, &work.0)
        .env("HOST_HARNESS_CACHE_DIR", &cache.0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("cannot start the backfill child")?;
    let mut child_in = child.stdin.take().context("child stdin")?;
    let mut child_out = std::io::BufReader::new(child.stdout.take().context("child stdout")?);
    let read_result =
        |out: &mut std::io::BufReader<std::process::ChildStdout>| -> anyhow::Result<Value> {
            tokio::task::block_in_place(|| loop {
                let mut line = String::new();
                if out.read_line(&mut line)? == 0 {
                    bail!("the backfill child ended without a result");
                }
                if let Some(j) = line.trim_end().strip_prefix(TAG) {
                    let v: Value = serde_json::from_str(j)?;
                    if let Some(e) = v.get("error") {
                        bail!("backfill child: {}", e.as_str().unwrap_or("failed"));
                    }
                    return Ok(v);
                }
            })
        };
    let backfill = read_result(&mut child_out);
    let backfill_requests = mock.requests();
    mock.reset_requests();
    let backfill = match backfill {
        Ok(v) => v,
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    };
    writeln!(child_in, "go")?;
    child_in.flush()?;
    let incremental = read_result(&mut child_out);
    let incremental_requests = mock.requests();
    let status = tokio::task::block_in_place(|| child.wait())?;
    let incremental = incremental?;
    if !status.success() {
        bail!("the backfill child failed: {status}");
    }

    let wall = Duration::from_secs_f64(backfill["wall_s"].as_f64().unwrap_or(f64::NAN));
    let records = backfill["records"].as_u64().unwrap_or(0);
    let usage_records = backfill["usage_records"].as_u64().unwrap_or(0);
    let hwm = backfill["vm_hwm"].as_u64().unwrap_or(u64::MAX);
    rows.push(Row {
        what: "full backfill: wall",
        measured: format!(
            "{} users × {} days: {} records ({} usage) in {:.2} s = {}k records/s",
            thousands(sizes.users as u64),
            sizes.days,
            thousands(records),
            thousands(usage_records),
            wall.as_secs_f64(),
            thousands((records as f64 / wall.as_secs_f64() / 1000.0) as u64)
        ),
        target: "≤ 5 s",
        verdict: verdict(wall <= Duration::from_secs(5)).into(),
    });
    rows.push(Row {
        what: "full backfill: peak RSS",
        measured: format!("{:.0} MB VmHWM of the backfill process", hwm as f64 / 1e6),
        target: "≤ 200 MB",
        verdict: verdict(hwm <= 200_000_000).into(),
    });
    notes.push(format!(
        "backfill = Harness::configure + Harness::sync (all streams) on a fresh store, in a child process \
         whose Harness::load took {:.1} ms ({}) before the clock started; VmHWM covers its whole life",
        backfill["load_ms"].as_f64().unwrap_or(f64::NAN),
        backfill["origin"].as_str().unwrap_or("?")
    ));

    // provider requests
    let made = backfill_requests.len() as u64;
    let failed = backfill_requests.iter().filter(|r| r.status != 200).count();
    let mut per: BTreeMap<&str, u64> = BTreeMap::new();
    for r in &backfill_requests {
        *per.entry(stream_of(r)).or_default() += 1;
    }
    let equal = made == minimum.total() && failed == 0;
    rows.push(Row {
        what: "provider requests",
        measured: format!(
            "{} made, minimum {} (usage {} + users {} + projects {} + api_keys {}; {})",
            made,
            minimum.total(),
            minimum.usage,
            minimum.users,
            minimum.projects,
            minimum.api_keys,
            minimum.detail
        ),
        target: "equal",
        verdict: if equal {
            "equal".into()
        } else {
            format!(
                "NOT equal ({:+}; {failed} failed)",
                made as i64 - minimum.total() as i64
            )
        },
    });
    let by_stream: Vec<String> = backfill["streams"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(s, c)| format!("{s} {}", c["requests"]))
                .collect()
        })
        .unwrap_or_default();
    notes.push(format!(
        "backfill requests by stream (connector's count): {}; by endpoint (mock's log): {}",
        by_stream.join(", "),
        per.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    // incremental
    let inc_wall = Duration::from_secs_f64(incremental["wall_s"].as_f64().unwrap_or(f64::NAN));
    let inc_streams = incremental["streams"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let mut inc_parts = Vec::new();
    let mut over: Vec<String> = Vec::new();
    let mut inc_total = 0;
    for (s, c) in &inc_streams {
        let n = c["requests"].as_u64().unwrap_or(0);
        inc_total += n;
        inc_parts.push(format!("{s} {n}"));
        if n > 3 {
            let mode = incremental["modes"][s].as_str().unwrap_or("?");
            over.push(format!("{s} ({mode})"));
        }
    }
    let inc_ok_req = over.is_empty() && inc_total == incremental_requests.len() as u64;
    rows.push(Row {
        what: "incremental: requests",
        measured: format!(
            "{} in all (mock saw {}): {}",
            inc_total,
            incremental_requests.len(),
            inc_parts.join(", ")
        ),
        target: "≤ 3 requests per stream",
        verdict: if inc_ok_req {
            "met".into()
        } else if !over.is_empty() {
            format!("MISSED for {}", over.join(", "))
        } else {
            "MISSED (counts disagree)".into()
        },
    });
    rows.push(Row {
        what: "incremental: wall",
        measured: format!(
            "{:.0} ms ({} records updated, {} unchanged)",
            ms(inc_wall),
            incremental["updated"],
            incremental["unchanged"]
        ),
        target: "≤ 200 ms",
        verdict: verdict(inc_wall <= Duration::from_millis(200)).into(),
    });

    // the mock's throughput, and whether it is the bottleneck
    if let Some((page_ms, len)) = mock_page_ms {
        let usage_pages = minimum.usage as f64;
        let mock_share = page_ms * usage_pages / ms(wall);
        rows.push(Row {
            what: "mock throughput",
            measured: format!(
                "{}-day usage page ({:.1} MB) in {:.1} ms = {:.0} MB/s (plain client, median of {}); \
                 {} such pages ≈ {:.0}% of the backfill wall",
                (sizes.days as u64).min(USAGE_PAGE_DAYS),
                len as f64 / 1e6,
                page_ms,
                len as f64 / 1e6 / (page_ms / 1e3),
                sizes.mock_reps,
                minimum.usage,
                mock_share * 100.0
            ),
            target: "(not a target)",
            verdict: if mock_share >= 0.5 {
                "the mock IS the bottleneck".into()
            } else {
                "not the bottleneck".into()
            },
        });
    }
    mock.shutdown().await;
    drop(harness);
    drop(pooled);

    // ---- the table
    println!(
        "\nhost-harness bench{} — {} ({} cores)",
        if opts.quick { " --quick" } else { "" },
        original.display(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();
    println!("| what | measured | target | verdict |");
    println!("|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} |",
            r.what, r.measured, r.target, r.verdict
        );
    }
    println!();
    for n in &notes {
        println!("- {n}");
    }
    std::io::stdout().flush()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The backfill child

async fn backfill_child(component: &Path) -> anyhow::Result<()> {
    let result = backfill_child_inner(component).await;
    if let Err(e) = &result {
        println!("{TAG}{}", json!({ "error": format!("{e:#}") }));
    }
    result
}

fn counts_json(run: &crate::store::Run) -> Value {
    json!(run
        .streams
        .iter()
        .map(|(s, c)| (s.clone(), json!({ "pages": c.pages, "requests": c.requests, "inserted": c.inserted, "updated": c.updated })))
        .collect::<serde_json::Map<String, Value>>())
}

async fn backfill_child_inner(component: &Path) -> anyhow::Result<()> {
    let base = std::env::var(ENV_BASE).context("no mock base")?;
    let key = std::env::var(ENV_KEY).context("no key")?;
    let days = std::env::var(ENV_DAYS).context("no days")?;
    let dir = PathBuf::from(std::env::var_os(ENV_DIR).context("no work dir")?);

    let t = Instant::now();
    let mut config = HarnessConfig::new(component.to_path_buf());
    config.openai_base = Some(Base::parse(&base)?);
    let harness = Harness::load(config).await?;
    let load = t.elapsed();
    let origin = format!("{:?}", harness.sandbox().origin());
    let mut store = Store::open(&dir.join("bench.db"))?;
    let modes: serde_json::Map<String, Value> = harness
        .info()
        .streams
        .iter()
        .map(|s| {
            let mode = match s.mode {
                wit::SyncMode::FullRefresh => "full-refresh",
                wit::SyncMode::Incremental => "incremental",
            };
            (s.name.clone(), json!(mode))
        })
        .collect();

    let t = Instant::now();
    harness
        .configure(&mut store, &[("backfill_days".into(), days)], &key)
        .await
        .map_err(|e| anyhow::anyhow!("configure: {e}"))?;
    let run = harness
        .sync(&mut store, None, "bench", &mut |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("backfill: {e}"))?;
    let wall = t.elapsed();
    println!(
        "{TAG}{}",
        json!({
            "wall_s": wall.as_secs_f64(),
            "load_ms": ms(load),
            "origin": origin,
            "records": run.inserted(),
            "usage_records": run.streams.get("usage").map_or(0, |c| c.inserted),
            "streams": counts_json(&run),
            "vm_hwm": vm_hwm(),
        })
    );
    std::io::stdout().flush()?;

    // Wait for the parent to snapshot the mock's request log, then pull again.
    let mut line = String::new();
    tokio::task::block_in_place(|| std::io::stdin().read_line(&mut line))?;
    let t = Instant::now();
    let run = harness
        .sync(&mut store, None, "bench", &mut |_| {})
        .await
        .map_err(|e| anyhow::anyhow!("incremental: {e}"))?;
    let wall = t.elapsed();
    let unchanged: u64 = run.streams.values().map(|c| c.unchanged).sum();
    println!(
        "{TAG}{}",
        json!({
            "wall_s": wall.as_secs_f64(),
            "streams": counts_json(&run),
            "modes": modes,
            "updated": run.updated(),
            "unchanged": unchanged,
            "vm_hwm": vm_hwm(),
        })
    );
    std::io::stdout().flush()?;
    Ok(())
}
