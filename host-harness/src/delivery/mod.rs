//! Delivery read from local git repositories: who committed what, when, and how many lines,
//! read with gitoxide (`gix`), never with the `git` binary.
//!
//! One [`Commit`] per new commit: its id, its author's name and email **after `.mailmap`**,
//! the author time in UTC (and the offset it was written with), lines added and deleted, and
//! files changed. Reads are incremental: a [`Cursor`] holds what was read last, and each read
//! returns only what is new since, with the next cursor.
//!
//! ```no_run
//! use host_harness::delivery::{Cursor, Options, Source};
//! let source = Source::open("/path/to/clone", Options::default())?; // refuses bad repositories
//! let first = source.read(&Cursor::default())?;                      // everything so far
//! // ... store first.commits, keep first.cursor (it serializes to JSON) ...
//! let next = source.read(&first.cursor)?;                            // only what is new
//! # Ok::<(), host_harness::delivery::DeliveryError>(())
//! ```
//!
//! # The rules
//!
//! - **Which history.** The tips are the refs whose names start with one of
//!   [`Options::ref_prefixes`] (by default local branches `refs/heads/` and remote-tracking
//!   branches `refs/remotes/`); symbolic refs (`refs/remotes/origin/HEAD`) and refs that do
//!   not point at a commit are skipped. Tags are not tips by default.
//! - **New commits.** A read returns the commits reachable from the current tips and not
//!   from any tip the cursor holds: the previous tip of every ref, including refs deleted
//!   since, and the cursor's orphaned tips (below). Reachability is computed exactly, by
//!   walking both histories in full (no date heuristics, so clock skew cannot duplicate or
//!   lose a commit). A commit reachable from several refs is returned once. Commits come
//!   parents first (older first among unrelated ones).
//! - **Force-pushes.** A ref whose previous tip is not an ancestor of its new tip is
//!   reported as [`RefChange::Rewritten`]. Its new commits (those no previous tip reaches)
//!   are returned, nothing already returned is returned again, and the commits it dropped
//!   stay where they are in the platform (they were delivered then). So that they are never
//!   returned again, even if a ref later goes back to them, a previous tip that no current
//!   tip reaches any more (force-pushed away, or an unmerged branch deleted) is kept in
//!   [`Cursor::orphaned`] until it is reachable again or git prunes it. Over a chain of
//!   reads, **each commit id is returned at most once**, as long as the objects it was
//!   reached from are not pruned by `git gc`; a tip that was pruned is listed in
//!   [`Import::pruned`] (its commits could come back only if a ref pointed at them again).
//!   A rebase makes new commits with new ids: they are new delivery, returned as such.
//! - **Merges** are returned once, with [`Commit::merge`] set and **no lines and no files**:
//!   the lines they bring were counted in the commits merged (this is what `git log
//!   --numstat` shows for merges too). Conflict resolutions in a merge are not counted.
//! - **Line counts** are those of `git log --numstat` for the commit against its first
//!   (only) parent, the root commit against the empty tree: lines of text compared with line
//!   terminators included (so a changed line ending counts), with the repository's
//!   `diff.algorithm` (Myers by default). Binary files (git's rule: a NUL byte in the first
//!   8000 bytes, or the checkout's `.gitattributes` saying so) count as files changed with 0
//!   lines; a change of mode alone is a file with 0 lines; a submodule is one line
//!   (`Subproject commit <id>`) per side, as git shows it. Checked against `git log
//!   --numstat` on the whole history of a large public repository (16,107 commits, renames
//!   on and off): the same numbers for every commit.
//! - **Renames** are detected as `git log` does by default (50% similarity, empty files
//!   included, no copies, at most 1000 candidates; see [`Options::detect_renames`]): a renamed file is one file changed, with the lines that
//!   differ between its two versions (0 and 0 for a pure rename). Without rename detection it
//!   is a deletion and an addition: two files, every line.
//! - **Who and when.** The author (not the committer), mapped through the repository's
//!   `.mailmap`, read as git does for a working clone: the `.mailmap` file at the top of the
//!   working tree, plus `mailmap.blob` and `mailmap.file` when the repository's own
//!   configuration sets them (global and system git configuration are not read, so a read
//!   does not depend on who runs it). Emails keep their case; compare them
//!   case-insensitively. The author time is converted to UTC: Sunday 23:30 -0500 is Monday
//!   04:30 UTC, in Monday's week. A malformed author time reads as the epoch, as in git.
//! - **Refused repositories**, each with its own [`DeliveryError`] and message: a path that
//!   is not the top of a repository, a **bare** repository (refused: point at a working
//!   clone, whose `.mailmap` and checkout are what the team sees), a **shallow** clone
//!   (history incomplete), a **partial** clone (file contents missing), and a repository
//!   with **no commits**. A read never writes to the repository, and on error returns
//!   nothing but the error: the caller's cursor is untouched.
//!
//! Files: [`source`] opens and checks a repository and reads it, [`history`] computes what
//! is new, [`describe`] turns new commits into [`Commit`]s over several threads, [`lines`]
//! counts the lines of one commit, [`commit`] is one commit, [`cursor`] the read position
//! and ref changes, [`options`] what to read, [`error`] the failures; `tests/` (in the
//! source) make their repositories with the `git` command in temporary directories.
//! [`import`] reads registered repositories into the store (`delivery add-repo`, and every
//! sync run); [`synthetic`] writes repositories of chosen commits with gitoxide (the demo's
//! sample repository, the integration tests' repositories).
//!
//! A [`Source`] can move to another thread (`Send`); a read runs where it is called, with
//! line counting spread over [`Options::threads`] threads of its own. All returned data is
//! plain (strings, numbers, `chrono` times).

pub mod commit;
pub mod cursor;
pub mod describe;
pub mod error;
pub mod history;
pub mod import;
pub mod lines;
pub mod options;
pub mod source;
pub mod synthetic;

#[cfg(test)]
mod tests;

pub use commit::Commit;
pub use cursor::{Cursor, RefChange, RefUpdate};
pub use error::DeliveryError;
pub use lines::LineCounts;
pub use options::Options;
pub use source::{read, Import, Source};
