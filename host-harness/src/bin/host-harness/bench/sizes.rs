//! The workloads and repetitions of one bench run, and which verdicts they can support.

use std::time::Duration;

use serde_json::{json, Value};

use super::BenchOpts;

/// The organization the backfill targets are stated for.
pub const TARGET_USERS: u32 = 1_000;
pub const TARGET_DAYS: u32 = 90;
/// The usage backfill compared with a bare client (issue 14).
pub const BARE_USERS: u32 = 400;
pub const BARE_DAYS: u32 = 90;
/// The provider latency of that comparison: the time the provider takes to answer a usage
/// page (a 31-day page of 400 people is several MB; the real API takes about half a second
/// or more). Without latency the bare client measures only the loopback mock, and no
/// overlap can bring the backfill near it: the last page's normalize and commit alone take
/// several times the whole fetch.
pub const BARE_LATENCY_MS: u64 = 500;
pub const QUICK_BARE_LATENCY_MS: u64 = 100;

pub struct Sizes {
    pub quick: bool,
    pub users: u32,
    pub days: u32,
    /// Usage rows per normalize repetition (0 = the pages once).
    pub normalize_rows: u64,
    pub normalize_reps: usize,
    pub compile_reps: usize,
    /// Precompiled loads after each compilation.
    pub precompiled_reps: usize,
    pub instantiate_warmup: usize,
    pub instantiate_reps: usize,
    /// Backfills, each in a new child process with a new store.
    pub backfill_reps: usize,
    /// Plain GETs of one usage page, to tell the mock's share of the backfill.
    pub mock_reps: usize,
    /// Backfill vs a bare client: the organization, the mock's latency, the pairs.
    pub bare_users: u32,
    pub bare_days: u32,
    pub bare_latency: Duration,
    pub bare_reps: usize,
}

impl Sizes {
    pub fn from(opts: &BenchOpts) -> Sizes {
        let q = opts.quick;
        Sizes {
            quick: q,
            users: opts.users.unwrap_or(if q { 60 } else { TARGET_USERS }),
            days: opts.days.unwrap_or(if q { 10 } else { TARGET_DAYS }),
            normalize_rows: opts.normalize_rows.unwrap_or(if q { 0 } else { 100_000 }),
            normalize_reps: if q { 3 } else { 15 },
            compile_reps: if q { 1 } else { 5 },
            precompiled_reps: if q { 3 } else { 10 },
            instantiate_warmup: if q { 20 } else { 200 },
            instantiate_reps: if q { 200 } else { 5_000 },
            backfill_reps: if q { 1 } else { 3 },
            mock_reps: if q { 2 } else { 7 },
            bare_users: if q { 60 } else { BARE_USERS },
            bare_days: if q { 40 } else { BARE_DAYS },
            bare_latency: Duration::from_millis(opts.bare_latency_ms.unwrap_or(if q {
                QUICK_BARE_LATENCY_MS
            } else {
                BARE_LATENCY_MS
            })),
            bare_reps: if q { 2 } else { 7 },
        }
    }

    /// Why timing figures cannot be judged against their targets, if they cannot.
    pub fn timing_unjudged(&self) -> Option<String> {
        self.quick
            .then(|| "--quick: sizes and repetitions too small to judge a time".to_string())
    }

    /// Why the backfill's figures cannot be judged, if they cannot: a quick run, or an
    /// organization other than the one the targets are stated for.
    pub fn backfill_unjudged(&self) -> Option<String> {
        self.timing_unjudged().or_else(|| {
            (self.users != TARGET_USERS || self.days != TARGET_DAYS).then(|| {
                format!(
                    "measured for {} users × {} days; the target is for {TARGET_USERS} × {TARGET_DAYS}",
                    self.users, self.days
                )
            })
        })
    }

    pub fn json(&self) -> Value {
        json!({
            "quick": self.quick,
            "users": self.users,
            "days": self.days,
            "normalize_rows": self.normalize_rows,
            "normalize_reps": self.normalize_reps,
            "compile_reps": self.compile_reps,
            "precompiled_reps": self.precompiled_reps,
            "instantiate_warmup": self.instantiate_warmup,
            "instantiate_reps": self.instantiate_reps,
            "backfill_reps": self.backfill_reps,
            "mock_reps": self.mock_reps,
            "bare_users": self.bare_users,
            "bare_days": self.bare_days,
            "bare_latency_ms": self.bare_latency.as_secs_f64() * 1e3,
            "bare_reps": self.bare_reps,
        })
    }
}
