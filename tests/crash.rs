//! Crash safety: SIGKILL the harness at random points of a long sync, repeatedly; every
//! following sync completes, the store equals the ground truth (nothing lost, nothing
//! duplicated), the history shows the killed runs as interrupted, and the key is still
//! only in the secret slot.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use openai_mock::MockServer;

const BIN: &str = env!("CARGO_BIN_EXE_host-harness");

fn random_unit() -> f64 {
    host_harness::random::unit().unwrap()
}

/// `host-harness COMMAND --db DB --component C --redirect api.openai.com=BASE`: each
/// command takes its own options.
fn harness_cmd(command: &str, db: &std::path::Path, base: &str) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.arg(command)
        .arg("--db")
        .arg(db)
        .arg("--component")
        .arg(connector_wasm())
        .arg("--redirect")
        .arg(format!("api.openai.com={base}"))
        .env_remove("RUST_LOG");
    cmd.stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null());
    cmd
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_at_random_points_loses_and_duplicates_nothing() {
    let keys = keys();
    let mock = MockServer::start(mock_config(&keys, 600, 90))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    let base = mock.base_url();

    // Checked live with the mock, then saved.
    let ok = harness_cmd("configure", &db, &base)
        .args([
            "--token-env",
            "CRASH_TEST_TOKEN",
            "--set",
            "backfill_days=90",
        ])
        .env("CRASH_TEST_TOKEN", &keys.admin)
        .status()
        .unwrap();
    assert!(ok.success());

    // Every answer now takes STALL, as a distant provider's would, so a sync always has
    // pages left when its kill comes: a full backfill is about 22 commits, and each kill
    // lets at most 2 more through (plus whatever lands inside the random delay). Without
    // the stall a fast machine finishes the whole backfill inside one delay.
    const STALL: Duration = Duration::from_millis(25);
    slow(&mock, STALL);

    // Kill each sync after a random number (0 to 2) of committed pages, read from its
    // progress lines, plus a random delay up to about the next answer after that, so kills
    // land before the first request, between commits and inside them.
    let kills = 8;
    let mut log = Vec::new(); // (target, commits seen, killed) per sync, for the failure message
    for i in 0..kills {
        let mut child = harness_cmd("sync", &db, &base)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let target = (random_unit() * 3.0) as usize;
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut committed = 0;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if line.contains("committed") {
                    committed += 1;
                    if committed == target {
                        let _ = tx.send(());
                    }
                }
            }
            committed
        });
        if target > 0 {
            let _ = rx.recv_timeout(Duration::from_secs(60));
        }
        std::thread::sleep(STALL.mul_f64(random_unit() * 2.0));
        let killed = match child.try_wait().unwrap() {
            None => {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                true
            }
            Some(status) => {
                assert!(status.success(), "kill {i}: the sync failed on its own");
                false
            }
        };
        log.push((target, reader.join().unwrap(), killed));
    }
    let killed_while_running = log.iter().filter(|(_, _, killed)| *killed).count();
    assert!(
        killed_while_running >= kills / 2,
        "only {killed_while_running} of {kills} kills hit a running sync \
         (target, commits seen, killed): {log:?}"
    );
    eprintln!("(target, commits seen, killed) per sync: {log:?}");

    // A normal run now finishes the job.
    let status = harness_cmd("sync", &db, &base).status().unwrap();
    assert!(status.success());

    let store = open(&db).await;
    let integrity: String = store
        .sqlite()
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");

    // Exactly the ground truth: every line once, with the provider's numbers.
    let (stored, truth) = (stored_usage(&store).await, truth_usage(&mock));
    assert_eq!(stored.len(), truth.len());
    assert!(stored == truth, "the store differs from the ground truth");
    assert_eq!(store.record_count(CONN, "users").await.unwrap(), 600);

    // History: the killed runs are interrupted, the last one succeeded, none still "running".
    let runs = store.runs(CONN, 100).await.unwrap();
    assert_eq!(runs[0].status, "succeeded");
    let interrupted = runs.iter().filter(|r| r.status == "interrupted").count();
    assert!(interrupted >= 1, "{runs:#?}");
    assert!(
        runs.iter()
            .all(|r| r.status == "succeeded" || r.status == "interrupted"),
        "{runs:#?}"
    );
    assert!(runs
        .iter()
        .filter(|r| r.status == "interrupted")
        .all(|r| r.error_class.as_deref() == Some("interrupted")));
    // (a sync killed before it recorded its start leaves no row)
    assert!(interrupted <= killed_while_running, "{runs:#?}");
    // The finishing run's counts are the host's own: it sent requests for what was left.
    assert!(runs[0].requests() >= 1, "{:#?}", runs[0]);

    // Kills never spread the key outside its slot, nor lost it.
    assert_eq!(
        store.secrets(CONN).await.unwrap()["api_token"].expose(),
        keys.admin
    );
    assert_no_secret(
        "store outside the secret slot",
        &dump_store_outside_secrets(&store).await,
        &keys.admin,
    );
}
