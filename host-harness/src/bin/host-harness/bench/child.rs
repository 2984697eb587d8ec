//! The backfill child (`bench --phase backfill`): a process of its own, so that its peak
//! resident set is the backfill's and not the bench's (the mock, the normalize phase's
//! pages). It does what a user's `configure` then `sync` do, in one process: load the
//! component (the precompiled artifact from the bench's cache), configure the key as a
//! secret, sync every stream into a new store; then, when the parent says so, pull again.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::Context;

use host_harness::bindings::v0_2::types as wit;
use host_harness::runner::{Harness, HostError, SyncOptions};
use host_harness::secret::Secret;
use host_harness::store::{Store, DEFAULT_CONNECTION};

use super::fixture;
use super::protocol::{Backfill, Incremental, Message, Setup, INCREMENTAL};
use super::stats::ms;

pub async fn run(component: &Path) -> Result<(), HostError> {
    let result = phases(component).await;
    if let Err(e) = &result {
        say(&Message::Error {
            message: format!("{e:#}"),
        })?;
    }
    result.map_err(|e| HostError::new("internal", format!("bench backfill: {e:#}")))
}

fn say(m: &Message) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", m.line())?;
    out.flush()?;
    Ok(())
}

/// One line from the parent (empty at the end of its input).
fn hear() -> anyhow::Result<String> {
    let mut line = String::new();
    tokio::task::block_in_place(|| std::io::stdin().lock().read_line(&mut line))
        .context("cannot read from the parent")?;
    Ok(line.trim_end().to_string())
}

/// Peak resident set of this process (VmHWM), in bytes; `None` where /proc has none.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

async fn phases(component: &Path) -> anyhow::Result<()> {
    let setup: Setup =
        serde_json::from_str(&hear()?).context("the parent's setup line is not readable")?;
    let key = Secret::from_input(&setup.key);
    drop(setup.key);

    let t = Instant::now();
    let harness = Harness::load(fixture::config(component, &setup.base)?).await?;
    let load = t.elapsed();
    let origin = format!("{:?}", harness.sandbox().origin());
    let store = Store::open_path(&setup.dir.join("bench.db")).await?;

    let t = Instant::now();
    harness
        .configure(
            &store,
            DEFAULT_CONNECTION,
            &fixture::settings(setup.days),
            fixture::secrets(&key),
        )
        .await?;
    let configure = t.elapsed();
    let t = Instant::now();
    let run = harness
        .sync(&store, DEFAULT_CONNECTION, SyncOptions::new("bench"))
        .await?;
    let sync = t.elapsed();
    say(&Message::Backfill(Backfill {
        load_ms: ms(load),
        origin,
        configure_ms: ms(configure),
        sync_ms: ms(sync),
        streams: run.streams,
        peak_rss: peak_rss(),
    }))?;

    // The parent reads the mock's request log before the next pull.
    if hear()? != INCREMENTAL {
        return Ok(());
    }
    let t = Instant::now();
    let run = harness
        .sync(&store, DEFAULT_CONNECTION, SyncOptions::new("bench"))
        .await?;
    let sync = t.elapsed();
    let modes = harness
        .info()
        .streams
        .iter()
        .map(|s| {
            let mode = match s.mode {
                wit::SyncMode::FullRefresh => "full-refresh",
                wit::SyncMode::Incremental => "incremental",
            };
            (s.name.clone(), mode.to_string())
        })
        .collect();
    say(&Message::Incremental(Incremental {
        sync_ms: ms(sync),
        streams: run.streams,
        modes,
        peak_rss: peak_rss(),
    }))?;
    Ok(())
}
