//! `host-harness bench --quick --json` runs every phase of the benchmark on small sizes
//! and reports every target with its figures; the full sync makes exactly the minimum
//! number of provider requests, counted independently of the connector. The same check
//! refuses doctored copies of the report, so it can fail.
//!
//! `host-harness bench --scale --connections 20 --json` runs the scale benchmark small:
//! each set-up (SQLite, one worker process; PostgreSQL, two, one SIGKILLed mid-cycle)
//! pulls every connection exactly once per cycle.

mod common;

use std::process::Command;

use serde_json::Value;

/// Every target's row, with the figures it must carry (positive, finite numbers).
const ROWS: [(&str, &[&str]); 10] = [
    (
        "backfill_vs_bare_client",
        &["ratio", "backfill_ms", "bare_client_ms", "pages", "records"],
    ),
    (
        "backfill_wall",
        &["end_to_end_s", "sync_ms", "records", "usage_records"],
    ),
    ("backfill_peak_rss", &["peak_rss_bytes"]),
    ("provider_requests", &["made", "minimum", "host_counted"]),
    (
        "incremental_requests",
        &["max_per_stream", "served", "host_counted"],
    ),
    ("incremental_wall", &["ms"]),
    (
        "normalize",
        &["rows_per_s", "native_rows_per_s", "ratio_to_native", "rows"],
    ),
    ("instantiate", &["median_us", "on_demand_median_us"]),
    (
        "precompiled_load",
        &["precompiled_ms", "compile_ms", "ratio"],
    ),
    ("component_size", &["bytes"]),
];

fn row<'a>(report: &'a Value, id: &str) -> Result<&'a Value, String> {
    let rows = report["rows"].as_array().ok_or("no rows")?;
    let found: Vec<&Value> = rows.iter().filter(|r| r["id"] == id).collect();
    match found[..] {
        [one] => Ok(one),
        [] => Err(format!("row {id} is missing")),
        _ => Err(format!("row {id} is repeated")),
    }
}

fn number(row: &Value, figure: &str) -> Result<f64, String> {
    let n = row["figures"][figure]
        .as_f64()
        .ok_or_else(|| format!("{}: figure {figure} is missing or not a number", row["id"]))?;
    if !(n.is_finite() && n > 0.0) {
        return Err(format!("{}: figure {figure} is {n}", row["id"]));
    }
    Ok(n)
}

/// Everything the smoke test requires of a report; the first problem found.
fn check(report: &Value, component_bytes: u64) -> Result<(), String> {
    if report["ok"] != true || report["quick"] != true {
        return Err("not a successful quick report".into());
    }
    let rows = report["rows"].as_array().ok_or("no rows")?;
    if rows.len() != ROWS.len() {
        return Err(format!("{} rows, expected {}", rows.len(), ROWS.len()));
    }
    for (id, figures) in ROWS {
        let r = row(report, id)?;
        for text in ["what", "measured", "target"] {
            if r[text].as_str().is_none_or(str::is_empty) {
                return Err(format!("{id}: no {text}"));
            }
        }
        if !matches!(r["verdict"].as_str(), Some("met" | "missed" | "not-judged")) {
            return Err(format!("{id}: verdict {}", r["verdict"]));
        }
        for f in figures {
            // Peak RSS comes from /proc, so only Linux reports it.
            if *f == "peak_rss_bytes" && !cfg!(target_os = "linux") {
                continue;
            }
            number(r, f)?;
        }
    }
    // The full sync asks the provider for nothing more than the minimum.
    let requests = row(report, "provider_requests")?;
    let made = number(requests, "made")?;
    let minimum = number(requests, "minimum")?;
    if made != minimum {
        return Err(format!(
            "the backfill made {made} provider requests; the minimum is {minimum}"
        ));
    }
    if number(requests, "host_counted")? != made || requests["figures"]["failed"] != 0 {
        return Err(format!(
            "the host's count or the statuses disagree: {}",
            requests["figures"]
        ));
    }
    if requests["verdict"] != "met" {
        return Err("the provider requests row is not met".into());
    }
    let incremental = row(report, "incremental_requests")?;
    if number(incremental, "max_per_stream")? > 3.0 || incremental["verdict"] != "met" {
        return Err(format!("the incremental pull: {}", incremental["figures"]));
    }
    let size = row(report, "component_size")?;
    if number(size, "bytes")? != component_bytes as f64 {
        return Err(format!("the component's size: {}", size["figures"]));
    }
    Ok(())
}

#[test]
fn quick_bench_reports_every_target_and_the_minimum_requests() {
    let wasm = common::connector_wasm();
    let component_bytes = std::fs::metadata(&wasm).expect("the component").len();
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .args(["bench", "--quick", "--json", "--component"])
        .arg(&wasm)
        .env_remove("RUST_LOG")
        .env("HOST_HARNESS_CACHE_DIR", cache.path())
        .output()
        .expect("run host-harness bench --quick --json");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench --quick --json failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}):\n{stdout}"));
    if let Err(problem) = check(&report, component_bytes) {
        panic!("{problem}\n{report:#}");
    }
    // Nothing secret on either stream: the admin key reaches the child on its stdin only.
    assert!(!stdout.contains("sk-admin-") && !stderr.contains("sk-admin-"));

    // The check refuses a report that lacks a row, a figure, or the minimum.
    type Doctor = fn(&mut Value);
    let doctored: [(&str, Doctor); 5] = [
        ("a row removed", |r| {
            r["rows"]
                .as_array_mut()
                .unwrap()
                .retain(|x| x["id"] != "normalize")
        }),
        ("a row repeated", |r| {
            let rows = r["rows"].as_array_mut().unwrap();
            let again = rows[0].clone();
            rows[0] = rows[1].clone();
            rows[1] = again.clone();
            rows[2] = again;
        }),
        ("a figure removed", |r| {
            for x in r["rows"].as_array_mut().unwrap() {
                if x["id"] == "instantiate" {
                    x["figures"].as_object_mut().unwrap().remove("median_us");
                }
            }
        }),
        ("one request more than the minimum", |r| {
            for x in r["rows"].as_array_mut().unwrap() {
                if x["id"] == "provider_requests" {
                    let made = x["figures"]["made"].as_u64().unwrap();
                    x["figures"]["made"] = (made + 1).into();
                    x["figures"]["host_counted"] = (made + 1).into();
                }
            }
        }),
        ("a figure that is not a number", |r| {
            for x in r["rows"].as_array_mut().unwrap() {
                if x["id"] == "backfill_wall" {
                    x["figures"]["end_to_end_s"] = Value::Null;
                }
            }
        }),
    ];
    for (what, doctor) in doctored {
        let mut copy = report.clone();
        doctor(&mut copy);
        assert!(
            check(&copy, component_bytes).is_err(),
            "the check accepted {what}"
        );
    }
}

// ------------------------------------------------------------------------------ --scale

/// Whether Debian's PostgreSQL is installed (then the PostgreSQL set-up must run).
fn postgres_installed() -> bool {
    std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.path().join("bin/initdb").is_file())
}

/// Everything the smoke test requires of a `bench --scale --json` report of `connections`
/// connections; the first problem found.
fn check_scale(report: &Value, connections: u64, postgres: bool) -> Result<(), String> {
    let obj = report.as_object().ok_or("not an object")?;
    let setups = obj
        .get("setups")
        .and_then(Value::as_array)
        .ok_or("no setups")?;
    let expected = [("sqlite", 1), ("postgres", 2)];
    if setups.len() != expected.len() {
        return Err(format!("{} set-ups, expected 2", setups.len()));
    }
    for (s, (store, processes)) in setups.iter().zip(expected) {
        if s["store"] != store || s["processes"] != processes {
            return Err(format!(
                "expected {store} with {processes} process(es): {s}"
            ));
        }
        if s["connections"] != connections {
            return Err(format!("{store}: connections {}", s["connections"]));
        }
        let keys = [
            "pulls_per_s",
            "p50_ms",
            "p99_ms",
            "peak_rss_mb",
            "ran_once_each",
        ];
        for k in keys {
            if s.get(k).is_none() {
                return Err(format!("{store}: no {k}"));
            }
        }
        if store == "postgres" && !postgres {
            if s["skipped"].as_str().is_none_or(str::is_empty) {
                return Err("postgres: not installed, yet not reported as skipped".into());
            }
            continue;
        }
        if s.get("skipped").is_some() {
            return Err(format!("{store}: skipped: {}", s["skipped"]));
        }
        for k in ["pulls_per_s", "p50_ms", "p99_ms"] {
            let n = s[k]
                .as_f64()
                .ok_or(format!("{store}: {k} is not a number"))?;
            if !(n.is_finite() && n > 0.0) {
                return Err(format!("{store}: {k} is {n}"));
            }
        }
        if cfg!(target_os = "linux") && !s["peak_rss_mb"].as_f64().is_some_and(|m| m > 0.0) {
            return Err(format!("{store}: peak_rss_mb {}", s["peak_rss_mb"]));
        }
        if s["p99_ms"].as_f64() < s["p50_ms"].as_f64() {
            return Err(format!("{store}: p99 below p50"));
        }
        if s["ran_once_each"] != true {
            return Err(format!(
                "{store}: not every connection ran exactly once: {s}"
            ));
        }
        if s["pulls"] != connections {
            return Err(format!(
                "{store}: {} successful pulls for {connections} connections",
                s["pulls"]
            ));
        }
        if store == "postgres" && s["killed"].is_null() {
            return Err("postgres: no worker process was killed mid-cycle".into());
        }
    }
    Ok(())
}

/// `bench --scale --connections 20 --json`: both set-ups (PostgreSQL skipped, with why,
/// only when it is not installed), every connection pulled exactly once in the cycle, also
/// with one of the two PostgreSQL workers SIGKILLed in the middle of it. Two workers per
/// process, so that the killed one has runs in progress to be taken over.
#[test]
fn scale_bench_runs_every_connection_once_per_cycle() {
    let wasm = common::connector_wasm();
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .args([
            "bench",
            "--scale",
            "--connections",
            "20",
            "--workers",
            "2",
            "--json",
            "--component",
        ])
        .arg(&wasm)
        .env_remove("RUST_LOG")
        .env("HOST_HARNESS_CACHE_DIR", cache.path())
        .output()
        .expect("run host-harness bench --scale --json");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench --scale --json failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("stdout is not one JSON object ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    let postgres = postgres_installed();
    if let Err(problem) = check_scale(&report, 20, postgres) {
        panic!("{problem}\n{report:#}\nstderr:\n{stderr}");
    }
    assert!(!stdout.contains("sk-admin-") && !stderr.contains("sk-admin-"));

    // The check refuses a report where a connection ran twice or was skipped, a set-up or
    // a figure is missing.
    type Doctor = fn(&mut Value);
    let doctored: [(&str, Doctor); 4] = [
        ("a connection run twice", |r| {
            r["setups"][0]["ran_once_each"] = false.into()
        }),
        ("a set-up removed", |r| {
            r["setups"].as_array_mut().unwrap().pop();
        }),
        ("a figure removed", |r| {
            r["setups"][0].as_object_mut().unwrap().remove("p99_ms");
        }),
        ("a pull missing", |r| r["setups"][0]["pulls"] = 19.into()),
    ];
    for (what, doctor) in doctored {
        let mut copy = report.clone();
        doctor(&mut copy);
        assert!(
            check_scale(&copy, 20, postgres).is_err(),
            "the check accepted {what}"
        );
    }
}
