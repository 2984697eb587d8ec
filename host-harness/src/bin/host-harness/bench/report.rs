//! The rows of the table, their verdicts, and the two outputs: a table for people and one
//! JSON object with every figure for programs.

use std::path::Path;

use serde_json::{json, Map, Value};

use host_harness::human::thousands;

use super::sizes::Sizes;

/// How a figure compares with its target.
pub enum Verdict {
    Met,
    /// Missed, with why (from what the run measured).
    Missed(String),
    /// Measured, but not on the workload the target is stated for.
    Unjudged(String),
}

impl Verdict {
    /// Met when `ok`; otherwise missed, for the reason `why` gives.
    pub fn judge(ok: bool, why: impl FnOnce() -> String) -> Verdict {
        if ok {
            Verdict::Met
        } else {
            Verdict::Missed(why())
        }
    }

    /// Like [`Verdict::judge`], unless the run cannot judge this figure.
    pub fn judge_unless(
        unjudged: Option<String>,
        ok: bool,
        why: impl FnOnce() -> String,
    ) -> Verdict {
        match unjudged {
            Some(reason) => Verdict::Unjudged(reason),
            None => Verdict::judge(ok, why),
        }
    }

    fn word(&self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed(_) => "MISSED",
            Verdict::Unjudged(_) => "not judged",
        }
    }

    fn why(&self) -> Option<&str> {
        match self {
            Verdict::Met => None,
            Verdict::Missed(w) | Verdict::Unjudged(w) => Some(w),
        }
    }
}

/// One target: what was measured, the target, the verdict, and the figures behind them.
pub struct Row {
    /// Stable name for programs (`backfill_wall`).
    pub id: &'static str,
    /// Name for people (`full backfill: wall`).
    pub what: &'static str,
    pub measured: String,
    pub target: &'static str,
    pub verdict: Verdict,
    /// Every number behind `measured`, by name (units in the names).
    pub figures: Value,
}

pub struct Report {
    quick: bool,
    component: String,
    component_bytes: u64,
    users: u32,
    days: u32,
    sizes: Value,
    dataset: String,
    rows: Vec<Row>,
    context: Map<String, Value>,
    notes: Vec<String>,
}

impl Report {
    pub fn new(sizes: &Sizes, component: &Path, component_bytes: u64, dataset: String) -> Report {
        Report {
            quick: sizes.quick,
            component: component.display().to_string(),
            component_bytes,
            users: sizes.users,
            days: sizes.days,
            sizes: sizes.json(),
            dataset,
            rows: Vec::new(),
            context: Map::new(),
            notes: Vec::new(),
        }
    }

    pub fn row(&mut self, row: Row) {
        self.rows.push(row);
    }

    /// Figures that explain others but have no target of their own.
    pub fn context(&mut self, key: &str, value: Value) {
        self.context.insert(key.to_string(), value);
    }

    pub fn note(&mut self, note: String) {
        self.notes.push(note);
    }

    fn cores() -> usize {
        std::thread::available_parallelism().map_or(0, |n| n.get())
    }

    /// The machine's 1-minute load average at the end (Linux): how busy it was.
    fn load_average() -> Option<f64> {
        std::fs::read_to_string("/proc/loadavg")
            .ok()?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }

    pub fn print(&self) {
        println!(
            "host-harness bench{} — {} users × {} days — {} ({} bytes) — {} cores{}",
            if self.quick { " --quick" } else { "" },
            thousands(self.users as u64),
            self.days,
            self.component,
            thousands(self.component_bytes),
            Self::cores(),
            Self::load_average()
                .map(|l| format!(", load average {l:.2}"))
                .unwrap_or_default()
        );
        println!();
        println!("| what | measured | target | verdict |");
        println!("|---|---|---|---|");
        for r in &self.rows {
            println!(
                "| {} | {} | {} | {} |",
                r.what,
                r.measured,
                r.target,
                r.verdict.word()
            );
        }
        let missed: Vec<&Row> = self
            .rows
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Missed(_)))
            .collect();
        if !missed.is_empty() {
            println!();
            for r in missed {
                println!(
                    "{} — MISSED: {}",
                    r.what,
                    r.verdict.why().unwrap_or_default()
                );
            }
        }
        // Rows not judged, grouped by why.
        let mut unjudged: Vec<(&str, Vec<&str>)> = Vec::new();
        for r in &self.rows {
            if let Verdict::Unjudged(why) = &r.verdict {
                match unjudged.iter_mut().find(|(w, _)| w == why) {
                    Some((_, rows)) => rows.push(r.what),
                    None => unjudged.push((why, vec![r.what])),
                }
            }
        }
        if !unjudged.is_empty() {
            println!();
            for (why, rows) in unjudged {
                println!("not judged ({why}): {}", rows.join(", "));
            }
        }
        println!();
        println!("mock: {}", self.dataset);
        for n in &self.notes {
            println!("- {n}");
        }
    }

    pub fn json(&self) -> Value {
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "what": r.what,
                    "measured": r.measured,
                    "target": r.target,
                    "verdict": match r.verdict {
                        Verdict::Met => "met",
                        Verdict::Missed(_) => "missed",
                        Verdict::Unjudged(_) => "not-judged",
                    },
                    "why": r.verdict.why(),
                    "figures": r.figures,
                })
            })
            .collect();
        let judged = self
            .rows
            .iter()
            .filter(|r| !matches!(r.verdict, Verdict::Unjudged(_)));
        let missed: Vec<&str> = self
            .rows
            .iter()
            .filter(|r| matches!(r.verdict, Verdict::Missed(_)))
            .map(|r| r.id)
            .collect();
        json!({
            "ok": true,
            "quick": self.quick,
            "component": { "path": self.component, "bytes": self.component_bytes },
            "machine": {
                "cores": Self::cores(),
                "load_average_1m": Self::load_average(),
                "os": std::env::consts::OS,
                "arch": std::env::consts::ARCH,
            },
            "sizes": self.sizes,
            "mock": self.dataset,
            "rows": rows,
            "judged": judged.count(),
            "missed": missed,
            "context": self.context,
            "notes": self.notes,
        })
    }
}
