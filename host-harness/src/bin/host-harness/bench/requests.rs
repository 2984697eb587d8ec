//! Provider requests of the full backfill: what the mock served (its own log) and what the
//! host counted, against the minimum counted independently ([`super::minimum`]), in every
//! trial. Every request costs the user time and the organization rate limit, so the target
//! is equality.

use std::collections::BTreeMap;

use serde_json::json;

use openai_mock::RequestRecord;

use super::backfill::{Outcome, Trial};
use super::minimum::Minimum;
use super::report::{Row, Verdict};

/// The stream a request served, by its endpoint.
fn stream_of(r: &RequestRecord) -> &'static str {
    if r.path.contains("/usage/") {
        "usage"
    } else if r.path.ends_with("/users") {
        "users"
    } else if r.path.contains("/api_keys") {
        "api_keys"
    } else if r.path.ends_with("/projects") {
        "projects"
    } else {
        "other"
    }
}

/// One trial's counts.
struct Counts<'a> {
    served: u64,
    failed: u64,
    host: u64,
    by_stream: BTreeMap<&'a str, u64>,
    by_endpoint: BTreeMap<&'static str, u64>,
}

impl<'a> Counts<'a> {
    fn of(t: &'a Trial) -> Counts<'a> {
        let mut by_endpoint = BTreeMap::new();
        for r in &t.backfill_log {
            *by_endpoint.entry(stream_of(r)).or_default() += 1;
        }
        Counts {
            served: t.backfill_log.len() as u64,
            failed: t.backfill_log.iter().filter(|r| r.status != 200).count() as u64,
            host: t.backfill.streams.values().map(|c| c.requests).sum(),
            by_stream: t
                .backfill
                .streams
                .iter()
                .map(|(s, c)| (s.as_str(), c.requests))
                .collect(),
            by_endpoint,
        }
    }

    fn equal(&self, minimum: u64) -> bool {
        self.served == minimum && self.host == self.served && self.failed == 0
    }
}

pub fn row(outcome: &Outcome, min: &Minimum) -> Row {
    let minimum = min.total();
    let all: Vec<Counts> = outcome.trials.iter().map(Counts::of).collect();
    // The figures of the first trial that is not equal, else of the first.
    let shown = all.iter().find(|c| !c.equal(minimum)).unwrap_or(&all[0]);
    let served: Vec<u64> = all.iter().map(|c| c.served).collect();
    let ok = all.iter().all(|c| c.equal(minimum));
    let each = match all.len() {
        1 => String::new(),
        n if served.iter().all(|&s| s == shown.served) => {
            format!("; the same in each of {n} backfills")
        }
        n => format!("; {served:?} in {n} backfills"),
    };
    Row {
        id: "provider_requests",
        what: "provider requests",
        measured: format!(
            "{} made, minimum {minimum} (usage {} + users {} + projects {} + api_keys {}){each}",
            shown.served, min.usage, min.users, min.projects, min.api_keys,
        ),
        target: "= the minimum",
        verdict: Verdict::judge(ok, || {
            let per: Vec<String> = shown
                .by_stream
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            format!(
                "the mock served {} ({:+} on the minimum; {} not 200), the host counted {}; per stream {}; minimum per stream {}; served per backfill {served:?}",
                shown.served,
                shown.served as i64 - minimum as i64,
                shown.failed,
                shown.host,
                per.join(", "),
                min.by_stream()
            )
        }),
        figures: json!({
            "made": shown.served,
            "host_counted": shown.host,
            "minimum": minimum,
            "failed": shown.failed,
            "made_per_trial": served,
            "by_stream": shown.by_stream,
            "by_endpoint": shown.by_endpoint,
            "minimum_by_stream": min.by_stream(),
            "organization": min.organization,
        }),
    }
}
