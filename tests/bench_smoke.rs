//! `host-harness bench --quick` runs every phase of the benchmark suite on small sizes and
//! prints the whole table; a full sync makes exactly the minimum number of requests.

mod common;

use std::process::Command;

const ROWS: [&str; 11] = [
    "component size",
    "load",
    "instantiate",
    "normalize, native",
    "normalize, in component",
    "full backfill: wall",
    "full backfill: peak RSS",
    "provider requests",
    "incremental: requests",
    "incremental: wall",
    "mock throughput",
];

#[test]
fn quick_bench_prints_every_row_and_the_minimum_requests() {
    let wasm = common::connector_wasm();
    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_host-harness"))
        .arg("--component")
        .arg(&wasm)
        .args(["bench", "--quick"])
        .env_remove("RUST_LOG")
        .env("HOST_HARNESS_CACHE_DIR", cache.path())
        .output()
        .expect("run host-harness bench --quick");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bench --quick failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let table: Vec<&str> = stdout.lines().filter(|l| l.starts_with("| ")).collect();
    assert!(
        table.contains(&"| what | measured | target | verdict |"),
        "{stdout}"
    );
    for row in ROWS {
        let prefix = format!("| {row} |");
        assert_eq!(
            table.iter().filter(|l| l.starts_with(&prefix)).count(),
            1,
            "row {row:?} missing or repeated:\n{stdout}"
        );
    }
    let requests = table
        .iter()
        .find(|l| l.starts_with("| provider requests |"))
        .unwrap();
    assert!(
        requests.ends_with("| equal | equal |"),
        "the sync made more requests than the minimum: {requests}"
    );
    // Nothing secret on either stream: the bench's admin key travels only by environment.
    assert!(!stdout.contains("sk-admin-") && !stderr.contains("sk-admin-"));
}
