//! `host-harness bench --quick --json` runs every phase of the benchmark on small sizes
//! and reports every target with its figures; the full sync makes exactly the minimum
//! number of provider requests, counted independently of the connector. The same check
//! refuses doctored copies of the report, so it can fail.

mod common;

use std::process::Command;

use serde_json::Value;

/// Every target's row, with the figures it must carry (positive, finite numbers).
const ROWS: [(&str, &[&str]); 9] = [
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
