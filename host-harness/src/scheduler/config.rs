//! How a pool runs: how many workers, the interval a connection without its own gets, when
//! such a connection first runs, and how often the dispatcher looks for due work. Also the
//! durations the command line reads (`30s`, `1h30m`) and writes.

use std::time::Duration;

/// Workers of a pool unless told otherwise.
///
/// A run spends nearly all its time waiting on the network: each page is one or a few
/// provider requests (hundreds of milliseconds to seconds each, more under rate limits),
/// while the CPU work of a page (normalizing it in the sandbox, one store transaction) is
/// a few milliseconds. So a core keeps several runs going, and the pool is sized above the
/// core count (8 on the 2-core machines this is measured on). It stays bounded: each run
/// holds a sandbox instance (its linear memory, capped per instance by the policy), store
/// connections and the provider's rate budget, and the process-wide instance pool has 200
/// slots ([`crate::sandbox::engine`]).
pub const DEFAULT_WORKERS: usize = 8;

/// The most workers one pool takes (well within the sandbox's 200 instance slots).
pub const MAX_WORKERS: usize = 128;

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

/// When a connection that has no schedule yet first runs, once the pool gives it the
/// default one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstRun {
    /// As soon as it is configured (headless workers: a new connection imports right away).
    Now,
    /// One (jittered) interval from now (the settings page: the first import is the admin's
    /// "Sync now", scheduled ones follow).
    AfterInterval,
}

/// How a pool runs.
#[derive(Clone, Debug)]
pub struct PoolConfig {
    /// Runs at once in this process (at least 1).
    pub workers: usize,
    /// The interval of a connection that has no schedule of its own (it is stored as the
    /// connection's schedule the first time the pool sees it).
    pub schedule: ScheduleConfig,
    pub first_run: FirstRun,
    /// How often the dispatcher asks the store for due connections while workers are free
    /// (it also looks at once whenever a run ends).
    pub poll: Duration,
    /// How often it looks for connections added since (to give them the default schedule).
    pub rescan: Duration,
    /// The lease owner this pool runs as; `None` = this process's
    /// ([`crate::store::lease::process_owner`]). Tests give two pools of one process two
    /// owners, as two hosts would have.
    pub owner: Option<String>,
}

impl PoolConfig {
    /// `workers` workers, `schedule` for connections without their own, first runs now,
    /// polling at an eighth of the interval (between 10 ms and 1 s).
    pub fn new(workers: usize, schedule: ScheduleConfig) -> PoolConfig {
        let poll = (schedule.every / 8).clamp(Duration::from_millis(10), Duration::from_secs(1));
        PoolConfig {
            workers: workers.clamp(1, MAX_WORKERS),
            schedule,
            first_run: FirstRun::Now,
            poll,
            rescan: Duration::from_secs(10),
            owner: None,
        }
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig::new(DEFAULT_WORKERS, ScheduleConfig::default())
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

    #[test]
    fn pools_poll_within_bounds() {
        let p = PoolConfig::new(0, ScheduleConfig::default());
        assert_eq!((p.workers, p.poll), (1, Duration::from_secs(1)));
        let fast = ScheduleConfig {
            every: Duration::from_millis(200),
            jitter: 0.1,
        };
        assert_eq!(PoolConfig::new(10_000, fast.clone()).workers, MAX_WORKERS);
        assert_eq!(PoolConfig::new(4, fast).poll, Duration::from_millis(25));
    }
}
