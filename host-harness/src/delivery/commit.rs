//! One commit as delivery: who (after `.mailmap`), when (UTC), and how much.

use chrono::{DateTime, Utc};
use gix::bstr::ByteSlice;

use super::lines::LineCounts;

/// A commit read from a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    /// The full commit id, hexadecimal.
    pub id: String,
    /// The author's name, after `.mailmap`.
    pub author_name: String,
    /// The author's email, after `.mailmap`, with its case as written.
    pub author_email: String,
    /// When it was authored, in UTC.
    pub author_time: DateTime<Utc>,
    /// The author's UTC offset as written in the commit, in seconds east of UTC (-18000 for
    /// -0500).
    pub author_utc_offset_seconds: i32,
    /// A merge (two or more parents): counted once, with no lines and no files.
    pub merge: bool,
    /// Lines added against the first parent (the empty tree for a root commit).
    pub lines_added: u64,
    /// Lines deleted against the first parent.
    pub lines_deleted: u64,
    /// Files added, deleted, modified or renamed (a rename is one file).
    pub files_changed: u64,
}

/// The author of a commit after `.mailmap`, and the author time.
pub(crate) struct Author {
    pub name: String,
    pub email: String,
    pub time: DateTime<Utc>,
    pub offset_seconds: i32,
}

impl Author {
    /// The author of `signature`, mapped through `mailmap`. A malformed time reads as the
    /// epoch (as git shows it).
    pub(crate) fn of(
        signature: gix::actor::SignatureRef<'_>,
        mailmap: &gix::mailmap::Snapshot,
    ) -> Author {
        let signature = signature.trim();
        let time = signature.time().unwrap_or_default();
        let mapped = mailmap.resolve_cow(signature);
        Author {
            name: mapped.name.to_str_lossy().into_owned(),
            email: mapped.email.to_str_lossy().into_owned(),
            time: DateTime::from_timestamp(time.seconds, 0).unwrap_or_default(),
            offset_seconds: time.offset,
        }
    }
}

impl Commit {
    pub(crate) fn new(id: String, author: Author, merge: bool, counts: LineCounts) -> Commit {
        Commit {
            id,
            author_name: author.name,
            author_email: author.email,
            author_time: author.time,
            author_utc_offset_seconds: author.offset_seconds,
            merge,
            lines_added: counts.added,
            lines_deleted: counts.deleted,
            files_changed: counts.files,
        }
    }
}
