//! What the bench and its backfill child say to each other. The parent starts
//! `host-harness bench --phase backfill --component PATH` and writes one [`Setup`] line
//! on the child's stdin (the admin key travels there, never in argv or the environment);
//! the child answers with tagged [`Message`] lines on stdout, waits for [`INCREMENTAL`]
//! on stdin before the incremental pull (or ends if its stdin closes), and ends after it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use host_harness::store::StreamCounts;

/// Lines of the protocol on the child's stdout start with this.
pub const TAG: &str = "BENCH ";

/// The parent's go-ahead for the incremental pull.
pub const INCREMENTAL: &str = "incremental";

/// What the child needs. Deliberately not `Debug`: it holds the key.
#[derive(Serialize, Deserialize)]
pub struct Setup {
    /// The mock's base URL (the child redirects api.openai.com there).
    pub base: String,
    pub key: String,
    pub days: u32,
    /// A directory for the child's store.
    pub dir: PathBuf,
}

#[derive(Serialize, Deserialize, Debug)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Message {
    Backfill(Backfill),
    Incremental(Incremental),
    Error { message: String },
}

/// The full backfill: configure and sync of every stream into a new store.
#[derive(Serialize, Deserialize, Debug)]
pub struct Backfill {
    /// `Harness::load` (precompiled artifact from the bench's cache).
    pub load_ms: f64,
    /// Where the load's compiled code came from.
    pub origin: String,
    pub configure_ms: f64,
    pub sync_ms: f64,
    pub streams: BTreeMap<String, StreamCounts>,
    /// Peak resident set of the child so far (Linux), in bytes.
    pub peak_rss: Option<u64>,
}

/// The pull right after it, in the same process.
#[derive(Serialize, Deserialize, Debug)]
pub struct Incremental {
    pub sync_ms: f64,
    pub streams: BTreeMap<String, StreamCounts>,
    /// Each stream's sync mode, from `describe`.
    pub modes: BTreeMap<String, String>,
    pub peak_rss: Option<u64>,
}

impl Message {
    pub fn line(&self) -> String {
        format!(
            "{TAG}{}",
            serde_json::to_string(self).unwrap_or_else(|_| "{}".into())
        )
    }

    /// The message on `line`, if it is one.
    pub fn parse(line: &str) -> Option<anyhow::Result<Message>> {
        let json = line.strip_prefix(TAG)?;
        Some(serde_json::from_str(json).map_err(anyhow::Error::from))
    }
}
