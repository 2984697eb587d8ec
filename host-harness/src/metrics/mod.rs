//! What a pool of runs did, for Prometheus: `GET /metrics` (on `serve`'s router, and on
//! `worker --metrics-listen`) in the Prometheus text format (0.0.4), through the Prometheus
//! project's Rust client. One registry per pool: the figures are this process's (several
//! hosts sharing a store each report their own; sum them, or take the `max` of the
//! last-success gauge, across instances).
//!
//! | metric | type | labels | what |
//! |---|---|---|---|
//! | `host_harness_runs_total` | counter | `status` (`succeeded`, `failed`, `interrupted`) | runs ended |
//! | `host_harness_pages_total` | counter | | pages committed (each with its records and checkpoint) |
//! | `host_harness_records_total` | counter | `change` (`inserted`, `updated`) | records written by those pages |
//! | `host_harness_run_duration_seconds` | histogram | | from a run's start to its end |
//! | `host_harness_last_success_timestamp_seconds` | gauge | `connection` | end of the connection's last successful run, Unix seconds |
//! | `host_harness_runs_in_progress` | gauge | | runs going now |
//! | `host_harness_workers` | gauge | | the pool's size |
//!
//! [`http`] serves them, and `/healthz` (200 `ok` while the store answers, 503 otherwise).

pub mod http;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

type Label = [(&'static str, String); 1];

/// Upper bounds of the run-duration buckets, in seconds: from an incremental run on a fast
/// network (a fraction of a second) to a long backfill (an hour).
const DURATION_BUCKETS: [f64; 14] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];

/// A pool's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    runs: Family<Label, Counter>,
    pages: Counter,
    records: Family<Label, Counter>,
    duration: Histogram,
    last_success: Family<Label, Gauge>,
    in_progress: Gauge,
    workers: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("host_harness");
        let runs = Family::<Label, Counter>::default();
        registry.register(
            "runs",
            "Runs ended, by status (succeeded, failed, interrupted)",
            runs.clone(),
        );
        let pages = Counter::default();
        registry.register(
            "pages",
            "Pages committed, each with its records and checkpoint",
            pages.clone(),
        );
        let records = Family::<Label, Counter>::default();
        registry.register(
            "records",
            "Records written by the committed pages, by change (inserted, updated)",
            records.clone(),
        );
        let duration = Histogram::new(DURATION_BUCKETS);
        registry.register_with_unit(
            "run_duration",
            "Run duration, from its start to its end",
            Unit::Seconds,
            duration.clone(),
        );
        let last_success = Family::<Label, Gauge>::default();
        registry.register_with_unit(
            "last_success_timestamp",
            "End of each connection's last successful run, Unix time",
            Unit::Seconds,
            last_success.clone(),
        );
        let in_progress = Gauge::default();
        registry.register("runs_in_progress", "Runs going now", in_progress.clone());
        let workers = Gauge::default();
        registry.register(
            "workers",
            "Runs this process keeps going at once",
            workers.clone(),
        );
        for status in ["succeeded", "failed", "interrupted"] {
            let _ = runs.get_or_create(&[("status", status.to_string())]);
        }
        for change in ["inserted", "updated"] {
            let _ = records.get_or_create(&[("change", change.to_string())]);
        }
        Metrics {
            registry,
            runs,
            pages,
            records,
            duration,
            last_success,
            in_progress,
            workers,
        }
    }

    /// Everything, in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // (writing into a String cannot fail)
        let _ = prometheus_text::encode(&mut out, &self.registry);
        out
    }

    pub fn set_workers(&self, n: usize) {
        self.workers.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// A run began (it holds a worker or waits for one).
    pub fn run_started(&self) {
        self.in_progress.inc();
    }

    /// A run ended with `status` after `seconds`; `finished_unix` is when, for a success.
    pub fn run_ended(&self, connection: &str, status: &str, seconds: f64, finished_unix: i64) {
        self.in_progress.dec();
        self.runs
            .get_or_create(&[("status", status.to_string())])
            .inc();
        self.duration.observe(seconds);
        if status == "succeeded" {
            self.set_last_success(connection, finished_unix);
        }
    }

    /// Pages committed, and the records they inserted and updated.
    pub fn committed(&self, pages: u64, inserted: u64, updated: u64) {
        if pages > 0 {
            self.pages.inc_by(pages);
        }
        if inserted > 0 {
            self.records
                .get_or_create(&[("change", "inserted".to_string())])
                .inc_by(inserted);
        }
        if updated > 0 {
            self.records
                .get_or_create(&[("change", "updated".to_string())])
                .inc_by(updated);
        }
    }

    /// The connection's last success (Unix seconds), unless a later one is known.
    pub fn set_last_success(&self, connection: &str, unix: i64) {
        let g = self
            .last_success
            .get_or_create(&[("connection", connection.to_string())]);
        if g.get() < unix {
            g.set(unix);
        }
    }

    /// Forget a connection that was removed.
    pub fn forget(&self, connection: &str) {
        self.last_success
            .remove(&[("connection", connection.to_string())]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_types_and_values() {
        let m = Metrics::new();
        m.set_workers(8);
        m.run_started();
        m.run_started();
        m.committed(3, 120, 2);
        m.run_ended("acme", "succeeded", 1.5, 1_700_000_000);
        m.run_ended("beta", "failed", 0.05, 1_700_000_001);
        m.set_last_success("acme", 1_600_000_000);
        let text = m.encode();
        for line in [
            "# TYPE host_harness_runs_total counter",
            "host_harness_runs_total{status=\"succeeded\"} 1",
            "host_harness_runs_total{status=\"failed\"} 1",
            "host_harness_runs_total{status=\"interrupted\"} 0",
            "host_harness_pages_total 3",
            "host_harness_records_total{change=\"inserted\"} 120",
            "host_harness_records_total{change=\"updated\"} 2",
            "# TYPE host_harness_run_duration_seconds histogram",
            "host_harness_run_duration_seconds_count 2",
            "host_harness_run_duration_seconds_bucket{le=\"0.1\"} 1",
            "host_harness_run_duration_seconds_bucket{le=\"2.5\"} 2",
            "# TYPE host_harness_last_success_timestamp_seconds gauge",
            "host_harness_last_success_timestamp_seconds{connection=\"acme\"} 1700000000",
            "host_harness_runs_in_progress 0",
            "host_harness_workers 8",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line:?} missing from:\n{text}"
            );
        }
        assert!(
            !text.contains("connection=\"beta\""),
            "no success, no gauge"
        );
        m.forget("acme");
        assert!(!m.encode().contains("acme"));
    }
}
