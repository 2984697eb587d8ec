//! Backfill vs a bare client (issue 14): a usage backfill through the host (pull-page,
//! normalize, the host's checks and the commits, pipelined by the runner) beside a client
//! that only fetches the same pages — the same paths, queries and cursors, taken from the
//! mock's log of the backfill — with plain HTTP ([`super::plain_http`]) from the same mock,
//! in the same process. Repetitions are interleaved, their order alternating, and the ratio
//! reported is the median of the per-repetition ratios.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use serde_json::json;

use host_harness::runner::{Harness, SyncOptions};
use host_harness::store::{Store, DEFAULT_CONNECTION};

use super::fixture::{self, Mock};
use super::plain_http;
use super::report::{Row, Verdict};
use super::sizes::Sizes;
use super::stats::{mb, median, median_f64, ms, plural};

/// The backfill may take at most this many times the bare client's time.
pub const MAX_RATIO: f64 = 1.15;

/// The stream this row backfills.
const STREAM: &str = "usage";

pub struct BareClient {
    pub row: Row,
    pub note: String,
}

/// One repetition: the backfill's time and the bare client's.
struct Pair {
    backfill: Duration,
    bare: Duration,
}

/// The usage requests the mock logged, as `path?query`, in order.
fn usage_paths(mock: &Mock) -> anyhow::Result<Vec<String>> {
    let log = mock.server.requests();
    if let Some(r) = log.iter().find(|r| r.status != 200) {
        bail!("the mock answered {} to {}", r.status, r.path);
    }
    Ok(log
        .iter()
        .filter(|r| r.path.contains("/usage/"))
        .map(|r| format!("{}?{}", r.path, r.query))
        .collect())
}

/// A usage backfill into a new store (configured first, untimed): the time of
/// `Harness::sync` of the usage stream, its records, and the pages the mock served.
async fn backfill(
    harness: &Harness,
    mock: &Mock,
    days: u32,
) -> anyhow::Result<(Duration, u64, Vec<String>)> {
    let dir = tempfile::Builder::new()
        .prefix("host-harness-bench-bare-")
        .tempdir()
        .context("cannot create a directory for the store")?;
    let store = Store::open_path(&dir.path().join("bench.db")).await?;
    harness
        .configure(
            &store,
            DEFAULT_CONNECTION,
            &fixture::settings(days),
            fixture::secrets(&mock.key),
        )
        .await?;
    mock.server.reset_requests();
    let opts = SyncOptions {
        streams: Some(vec![STREAM.to_string()]),
        ..SyncOptions::new("bench")
    };
    let t = Instant::now();
    let run = harness.sync(&store, DEFAULT_CONNECTION, opts).await?;
    let took = t.elapsed();
    let paths = usage_paths(mock)?;
    let counts = run.streams.get(STREAM).cloned().unwrap_or_default();
    ensure!(
        counts.requests == paths.len() as u64 && counts.pages == paths.len() as u64,
        "the host counted {} requests for {} pages; the mock served {}",
        counts.requests,
        counts.pages,
        paths.len()
    );
    Ok((took, counts.inserted, paths))
}

/// The same pages: as many, with the same cursors.
fn same_pages(a: &[String], b: &[String]) -> anyhow::Result<()> {
    let cursors = |v: &[String]| -> Vec<String> {
        v.iter()
            .map(|p| {
                p.split('&')
                    .filter(|kv| !kv.starts_with("end_time="))
                    .collect::<Vec<_>>()
                    .join("&")
            })
            .collect()
    };
    ensure!(
        cursors(a) == cursors(b),
        "the backfill asked for other pages than the one before: {a:?} vs {b:?}"
    );
    Ok(())
}

/// The bare client: each page in order, one plain GET each; the time and the bytes.
async fn bare(mock: &Mock, paths: &[String]) -> anyhow::Result<(Duration, u64)> {
    let t = Instant::now();
    let mut bytes = 0u64;
    for p in paths {
        let (status, body) = plain_http::get(mock.server.addr(), p, &mock.key).await?;
        ensure!(status == 200, "the mock answered {status} to a usage page");
        bytes += body.len() as u64;
    }
    Ok((t.elapsed(), bytes))
}

pub async fn measure(component: &Path, sizes: &Sizes) -> anyhow::Result<BareClient> {
    let (users, days) = (sizes.bare_users, sizes.bare_days);
    let mock = Mock::start_with(users, days, sizes.bare_latency).await?;
    let harness = Harness::load(fixture::config(component, &mock.server.base_url())?).await?;

    // A warm-up pair (untimed): the pages, and every path of the host and the client warm.
    let (_, records, mut paths) = backfill(&harness, &mock, days).await?;
    let (_, bytes) = bare(&mock, &paths).await?;

    // The client asks for what the latest backfill asked for (its `end_time` is the
    // moment it started, so the queries differ in that only; the pages are the same).
    let mut pairs = Vec::new();
    for i in 0..sizes.bare_reps {
        // Alternate which side goes first, so neither always meets the other's leftovers.
        let (backfill_t, bare_t) = if i % 2 == 0 {
            let (b, _, got) = backfill(&harness, &mock, days).await?;
            same_pages(&got, &paths)?;
            paths = got;
            (b, bare(&mock, &paths).await?.0)
        } else {
            let (c, _) = bare(&mock, &paths).await?;
            let (b, _, got) = backfill(&harness, &mock, days).await?;
            same_pages(&got, &paths)?;
            paths = got;
            (b, c)
        };
        pairs.push(Pair {
            backfill: backfill_t,
            bare: bare_t,
        });
    }
    mock.server.shutdown().await;

    let ratios: Vec<f64> = pairs
        .iter()
        .map(|p| p.backfill.as_secs_f64() / p.bare.as_secs_f64())
        .collect();
    let ratio = median_f64(&ratios);
    let backfill_t = median(&pairs.iter().map(|p| p.backfill).collect::<Vec<_>>());
    let bare_t = median(&pairs.iter().map(|p| p.bare).collect::<Vec<_>>());
    let pages = paths.len() as u64;
    let latency = if sizes.bare_latency.is_zero() {
        String::new()
    } else {
        format!(
            ", the mock answering after {:.0} ms",
            ms(sizes.bare_latency)
        )
    };
    let row = Row {
        id: "backfill_vs_bare_client",
        what: "backfill vs a bare client",
        measured: format!(
            "{:.0} ms vs {:.0} ms: {ratio:.2}× (median of {} per-repetition ratios); usage only, {} users × {days} days{latency}: {}, {}, {} records",
            ms(backfill_t),
            ms(bare_t),
            pairs.len(),
            users,
            plural(pages, "page", "pages"),
            mb(bytes),
            host_harness::human::thousands(records),
        ),
        target: "≤ 1.15× the bare client",
        verdict: Verdict::judge_unless(sizes.timing_unjudged(), ratio <= MAX_RATIO, || {
            format!(
                "the backfill took {ratio:.2}× the bare client's time, {:.0} ms more: it fetches the same {} (each one while the one before is normalized and committed), then normalizes, checks and commits the last one, which nothing can overlap; with {:.0} ms of provider latency per page that excess is more than 15% of the fetch",
                ms(backfill_t.saturating_sub(bare_t)),
                plural(pages, "page", "pages"),
                ms(sizes.bare_latency)
            )
        }),
        figures: json!({
            "ratio": ratio,
            "ratios": ratios,
            "backfill_ms": ms(backfill_t),
            "bare_client_ms": ms(bare_t),
            "backfill_trials_ms": pairs.iter().map(|p| ms(p.backfill)).collect::<Vec<_>>(),
            "bare_client_trials_ms": pairs.iter().map(|p| ms(p.bare)).collect::<Vec<_>>(),
            "pages": pages,
            "bytes": bytes,
            "records": records,
            "users": users,
            "days": days,
            "mock_latency_ms": ms(sizes.bare_latency),
        }),
    };
    let note = format!(
        "backfill vs a bare client: backfills {} ms, bare client {} ms, ratios {}",
        pairs
            .iter()
            .map(|p| format!("{:.0}", ms(p.backfill)))
            .collect::<Vec<_>>()
            .join(", "),
        pairs
            .iter()
            .map(|p| format!("{:.0}", ms(p.bare)))
            .collect::<Vec<_>>()
            .join(", "),
        ratios
            .iter()
            .map(|r| format!("{r:.2}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    Ok(BareClient { row, note })
}
