//! Progress of a sync, sent through a channel: the run is a plain `Send` future, and the
//! CLI's bars, the page's status and the scheduler all read the same events.

use std::time::Duration;

use crate::store::StreamCounts;

/// Where a run sends its progress; `None` when nobody listens.
pub type ProgressTx = tokio::sync::mpsc::UnboundedSender<Progress>;

/// One step of a sync.
#[derive(Clone, Debug)]
pub enum Progress {
    StreamStarted {
        stream: String,
    },
    PageCommitted {
        stream: String,
        pages: u64,
        counts: StreamCounts,
    },
    Waiting {
        stream: String,
        class: String,
        delay: Duration,
        attempt: u32,
    },
    StreamDone {
        stream: String,
        counts: StreamCounts,
    },
}

impl Progress {
    /// The stream the event is about.
    pub fn stream(&self) -> &str {
        match self {
            Progress::StreamStarted { stream }
            | Progress::PageCommitted { stream, .. }
            | Progress::Waiting { stream, .. }
            | Progress::StreamDone { stream, .. } => stream,
        }
    }

    /// What happened, in words, without the stream name (log lines, bars, the web page).
    pub fn message(&self) -> String {
        use crate::human::thousands;
        match self {
            Progress::StreamStarted { .. } => "starting".into(),
            Progress::PageCommitted { pages, counts, .. } => format!(
                "page {pages} committed ({} inserted, {} updated, {} unchanged so far)",
                thousands(counts.inserted),
                thousands(counts.updated),
                thousands(counts.unchanged)
            ),
            Progress::Waiting {
                class,
                delay,
                attempt,
                ..
            } => format!(
                "{class}; retrying in {:.1}s (attempt {attempt})",
                delay.as_secs_f64()
            ),
            Progress::StreamDone { counts, .. } => format!(
                "done — {} pages, {} requests, {} inserted, {} updated",
                thousands(counts.pages),
                thousands(counts.requests),
                thousands(counts.inserted),
                thousands(counts.updated)
            ),
        }
    }
}

/// Send `p` if anyone listens.
pub fn emit(tx: Option<&ProgressTx>, p: Progress) {
    if let Some(tx) = tx {
        let _ = tx.send(p);
    }
}
