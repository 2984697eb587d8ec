//! The WAL checkpoint, off the write path. SQLite's automatic checkpoint runs inside the
//! commit that takes the WAL past 1,000 pages; a backfill page (a raw body of several MB
//! and its records) crosses that on nearly every commit, and the checkpoint (copying the
//! pages back and syncing both files) was half of such a commit's time, with the store's
//! connection held. Here the writer's automatic checkpoint is off, and a thread with its
//! own connection runs a passive checkpoint after writes: it copies what no reader still
//! needs, never blocks the writer, and the next writer restarts the WAL from its start
//! once everything is copied, so the file stays as small as before.

use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection as Db;

/// Asks the checkpoint thread to run. Dropped, it ends the thread and waits for it, so
/// that the writer's connection, closed after it, is the last one and leaves a complete
/// database file with no WAL beside it (as SQLite does when nothing else has it open).
pub struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Start the thread on its own connection to `path`, and turn the automatic
    /// checkpoint of `writer` off. `None` (and `writer` left as it was) when the thread
    /// or its connection cannot start.
    pub fn start(path: &Path, writer: &Db) -> Option<Checkpointer> {
        let db = Db::open(path)
            .and_then(|db| {
                db.busy_timeout(Duration::from_secs(10))?;
                Ok(db)
            })
            .inspect_err(|e| {
                tracing::warn!(
                    "no checkpoint thread (its connection: {e}); SQLite checkpoints in the commits"
                )
            })
            .ok()?;
        let (nudge, asked) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&db, &asked))
            .inspect_err(|e| {
                tracing::warn!("no checkpoint thread ({e}); SQLite checkpoints in the commits")
            })
            .ok()?;
        let checkpointer = Checkpointer {
            nudge: Some(nudge),
            thread: Some(thread),
        };
        writer.pragma_update(None, "wal_autocheckpoint", 0).ok()?;
        Some(checkpointer)
    }

    /// Something was written: checkpoint soon. Never waits; asks already pending merge.
    pub fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            match nudge.try_send(()) {
                Ok(()) | Err(TrySendError::Full(())) | Err(TrySendError::Disconnected(())) => {}
            }
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.nudge.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(db: &Db, asked: &Receiver<()>) {
    while asked.recv().is_ok() {
        // PASSIVE: copy what it can without waiting for readers or blocking the writer;
        // a WAL with nothing new to copy costs a lock and a header read.
        let r = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match r {
            Ok((busy, frames, copied)) => {
                tracing::trace!(busy, frames, copied, "WAL checkpoint")
            }
            Err(e) => {
                tracing::debug!("WAL checkpoint failed (tried again after the next write): {e}")
            }
        }
    }
}
