//! Delivery kept per connection: the local git repositories registered, where the last read
//! of each stopped (its tips, see [`crate::delivery::Cursor`]), and the commits read.
//!
//! A read's new commits and its next position are written in **one transaction**
//! ([`Store::import_repository`]): a crash between the two can neither lose commits (the
//! position would have moved past them) nor count them twice (commits are upserted by
//! connection, repository and commit id, so importing the same commit again changes
//! nothing). Removing a repository removes its tips and commits; removing the connection
//! removes its repositories.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Backend, Store};
use crate::delivery::{Commit, Cursor};

/// A registered repository, as `delivery list` and the page show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    /// The repository's absolute path, as registered (the key).
    pub path: String,
    /// When it was registered (RFC 3339).
    pub added_at: String,
    /// When its last read (successful or not) ended, if any.
    pub last_import_at: Option<String>,
    /// Commits the last successful read added.
    pub last_new_commits: u64,
    /// Why the last read failed (the repository became unreadable, moved, …); `None` after
    /// a successful read.
    pub last_error: Option<String>,
    /// Commits stored for it.
    pub commits: u64,
}

/// One read of a repository, to commit at once: its new commits and the position after
/// them.
#[derive(Clone, Debug)]
pub struct RepositoryImport {
    /// The repository's path (the key it is registered under).
    pub repository: String,
    /// The new commits.
    pub commits: Vec<Commit>,
    /// The read position after them.
    pub cursor: Cursor,
    /// Register the repository in the same transaction (its first read, by `add-repo`).
    /// When `false`, the repository must be registered already: one removed meanwhile
    /// gets [`NotRegistered`] and nothing is written.
    pub register: bool,
}

/// A read of a repository that is not (or no longer) registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the repository {repository} is not registered with the connection {connection}")]
pub struct NotRegistered {
    pub connection: String,
    pub repository: String,
}

/// The tip rows of a cursor: `(kind, name, commit id)`, kind `ref` (name = ref name) or
/// `orphaned` (name = the commit id).
pub(crate) fn cursor_rows(cursor: &Cursor) -> Vec<(&'static str, String, String)> {
    cursor
        .refs
        .iter()
        .map(|(name, id)| ("ref", name.clone(), id.clone()))
        .chain(
            cursor
                .orphaned
                .iter()
                .map(|id| ("orphaned", id.clone(), id.clone())),
        )
        .collect()
}

/// A cursor from its tip rows.
pub(crate) fn cursor_of(rows: impl IntoIterator<Item = (String, String, String)>) -> Cursor {
    let mut cursor = Cursor::default();
    for (kind, name, id) in rows {
        if kind == "orphaned" {
            cursor.orphaned.insert(id);
        } else {
            cursor.refs.insert(name, id);
        }
    }
    cursor
}

/// A commit's author time as stored: RFC 3339 in UTC, to the second.
pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A stored author time read back (the epoch if it is not one: as git shows a malformed
/// time).
pub(crate) fn time_of(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// Clamp a count into a database integer.
pub(crate) fn int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// The repositories registered with `connection`, by path.
    pub async fn repositories(&self, connection: &str) -> anyhow::Result<Vec<Repository>> {
        dispatch!(self.repositories(connection))
    }

    /// Where the last read of `repository` stopped; `None` when it is not registered.
    pub async fn repository_cursor(
        &self,
        connection: &str,
        repository: &str,
    ) -> anyhow::Result<Option<Cursor>> {
        dispatch!(self.repository_cursor(connection, repository))
    }

    /// Store a read of a repository: upsert its commits, replace its position, note the
    /// import (and register it, when asked) — in one transaction. [`NotRegistered`] when
    /// it is not registered and not to be.
    pub async fn import_repository(
        &self,
        connection: &str,
        import: RepositoryImport,
    ) -> anyhow::Result<()> {
        dispatch!(self.import_repository(connection, import))
    }

    /// Note that a read of `repository` failed (`message` says why); its commits and
    /// position stay as they were.
    pub async fn repository_failed(
        &self,
        connection: &str,
        repository: &str,
        message: &str,
    ) -> anyhow::Result<()> {
        dispatch!(self.repository_failed(connection, repository, message))
    }

    /// Unregister a repository, with its position and commits. `false` when it was not
    /// registered.
    pub async fn remove_repository(
        &self,
        connection: &str,
        repository: &str,
    ) -> anyhow::Result<bool> {
        dispatch!(self.remove_repository(connection, repository))
    }

    /// Every commit stored for `connection`, over all its repositories (a commit found in
    /// two repositories, a fork, is listed once per repository).
    pub async fn commits(&self, connection: &str) -> anyhow::Result<Vec<Commit>> {
        dispatch!(self.commits(connection))
    }
}
