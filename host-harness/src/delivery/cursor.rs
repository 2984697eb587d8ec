//! Where the last read stopped: the tip read per ref, plus the tips no ref reaches any more.
//! A cursor is plain data (ref names and hexadecimal commit ids) and serializes to JSON, so
//! the platform can keep it per repository next to what it stored.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// The read position in one repository. [`Cursor::default()`] (empty) reads everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// The commit each ref pointed at when it was read: full ref name → commit id (hex).
    pub refs: BTreeMap<String, String>,
    /// Tips read before that no current ref reaches any more (a force-pushed ref's old tip,
    /// an unmerged branch since deleted). Their commits were returned already; keeping them
    /// here keeps them from being returned again if a ref comes back to them. One drops out
    /// when a ref reaches it again, or when git prunes it.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub orphaned: BTreeSet<String>,
}

impl Cursor {
    /// A cursor from the last tip read per ref (ref name → commit id), with no orphaned tips.
    pub fn from_refs(refs: BTreeMap<String, String>) -> Cursor {
        Cursor {
            refs,
            orphaned: BTreeSet::new(),
        }
    }

    /// Whether this cursor is the start: nothing read yet.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty() && self.orphaned.is_empty()
    }

    /// Every tip this cursor hides: the refs' tips and the orphaned ones, each once.
    pub fn tips(&self) -> BTreeSet<&str> {
        self.refs
            .values()
            .map(String::as_str)
            .chain(self.orphaned.iter().map(String::as_str))
            .collect()
    }
}

/// How a ref moved since the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefChange {
    /// A ref the cursor did not have.
    Created,
    /// The previous tip is an ancestor of the new one.
    FastForward,
    /// The previous tip is not an ancestor of the new one: a force-push or a reset.
    Rewritten,
    /// A ref the cursor had and the repository no longer has (or no longer selects).
    Deleted,
}

/// One ref that moved since the cursor. Refs that did not move are not listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefUpdate {
    /// The full ref name, e.g. `refs/heads/main`.
    pub name: String,
    /// The tip in the cursor, if the cursor had the ref.
    pub old: Option<String>,
    /// The tip now, if the ref still exists.
    pub new: Option<String>,
    pub change: RefChange,
}
