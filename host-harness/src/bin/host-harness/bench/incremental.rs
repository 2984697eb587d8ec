//! The incremental pull right after each backfill, in the same process (as the scheduler's
//! next run in `serve` would be): few requests per stream, and quick.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::json;

use super::backfill::Outcome;
use super::report::{Row, Verdict};
use super::sizes::Sizes;
use super::stats::{median, of_n};

pub const MAX_REQUESTS_PER_STREAM: u64 = 3;
pub const MAX_WALL: Duration = Duration::from_millis(200);

pub fn requests_row(outcome: &Outcome) -> Row {
    // Each stream's most requests in any trial.
    let mut most: BTreeMap<&str, u64> = BTreeMap::new();
    for t in &outcome.trials {
        for (s, c) in &t.incremental.streams {
            let m = most.entry(s.as_str()).or_default();
            *m = (*m).max(c.requests);
        }
    }
    let disagree: Vec<String> = outcome
        .trials
        .iter()
        .filter_map(|t| {
            let host: u64 = t.incremental.streams.values().map(|c| c.requests).sum();
            let served = t.incremental_log.len() as u64;
            (host != served)
                .then(|| format!("the host counted {host} requests, the mock served {served}"))
        })
        .collect();
    let modes = &outcome.trials[0].incremental.modes;
    let over: Vec<String> = most
        .iter()
        .filter(|(_, &n)| n > MAX_REQUESTS_PER_STREAM)
        .map(|(s, n)| {
            format!(
                "{s} made {n} ({})",
                modes.get(*s).map_or("?", String::as_str)
            )
        })
        .collect();
    let per: Vec<String> = most.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let max = most.values().copied().max().unwrap_or(0);
    let served: Vec<u64> = outcome
        .trials
        .iter()
        .map(|t| t.incremental_log.len() as u64)
        .collect();
    Row {
        id: "incremental_requests",
        what: "incremental: requests",
        measured: format!(
            "{max} at most per stream ({}; the mock served {})",
            per.join(", "),
            served
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" / ")
        ),
        target: "≤ 3 per stream",
        verdict: Verdict::judge(over.is_empty() && disagree.is_empty(), || {
            over.into_iter()
                .chain(disagree)
                .collect::<Vec<_>>()
                .join("; ")
        }),
        figures: json!({
            "max_per_stream": max,
            "by_stream": most,
            "host_counted": outcome.trials.iter().map(|t| t.incremental.streams.values().map(|c| c.requests).sum::<u64>()).max(),
            "served": served.iter().max(),
            "served_per_trial": served,
            "modes": modes,
        }),
    }
}

pub fn wall_row(outcome: &Outcome, sizes: &Sizes) -> Row {
    let walls: Vec<Duration> = outcome
        .trials
        .iter()
        .map(|t| Duration::from_secs_f64(t.incremental.sync_ms / 1e3))
        .collect();
    let took = median(&walls);
    let i = &outcome.trials[0].incremental;
    let (updated, unchanged, inserted) = i.streams.values().fold((0, 0, 0), |(u, n, a), c| {
        (u + c.updated, n + c.unchanged, a + c.inserted)
    });
    let took_ms = took.as_secs_f64() * 1e3;
    Row {
        id: "incremental_wall",
        what: "incremental: wall",
        measured: format!(
            "{took_ms:.0} ms{} ({inserted} records added, {updated} updated, {unchanged} unchanged)",
            of_n("median", walls.len())
        ),
        target: "≤ 200 ms",
        verdict: Verdict::judge_unless(sizes.backfill_unjudged(), took <= MAX_WALL, || {
            format!(
                "the pull took {took_ms:.0} ms for {} records re-read",
                inserted + updated + unchanged
            )
        }),
        figures: json!({
            "ms": took_ms,
            "trials_ms": walls.iter().map(|w| w.as_secs_f64() * 1e3).collect::<Vec<_>>(),
            "inserted": inserted,
            "updated": updated,
            "unchanged": unchanged,
        }),
    }
}
