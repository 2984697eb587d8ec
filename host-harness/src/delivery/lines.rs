//! The lines and files one commit changes: its tree against its first parent's tree (the
//! empty tree for a root commit), as `git log --numstat` counts them.

use gix::bstr::ByteSlice;
use gix::diff::blob::platform::prepare_diff::{Operation, TextChange};
use gix::diff::blob::{Diff, InternedInput};
use gix::diff::tree_with_rewrites::Change;
use gix::objs::tree::EntryMode;

/// Lines added and deleted and files changed by one commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct LineCounts {
    pub added: u64,
    pub deleted: u64,
    pub files: u64,
}

/// Counts lines commit after commit, reusing its buffers.
pub(crate) struct LineCounter {
    /// Blob contents, binary detection (`.gitattributes` from the checkout's index) and the
    /// diff algorithm (`diff.algorithm`). Object-database contents only: no filters, no
    /// text conversion commands, no external diff.
    cache: gix::diff::blob::Platform,
    rewrites: Option<gix::diff::Rewrites>,
    changes: Vec<Change>,
}

impl LineCounter {
    pub(crate) fn new(repo: &gix::Repository, detect_renames: bool) -> gix::Result<LineCounter> {
        let mut cache = repo.diff_resource_cache_for_tree_diff()?;
        cache.options.skip_internal_diff_if_external_is_configured = false;
        Ok(LineCounter {
            cache,
            // git's defaults for `git log`, empty files included (`diff.renames`, with
            // rename_empty on).
            rewrites: detect_renames.then_some(gix::diff::Rewrites {
                track_empty: true,
                ..Default::default()
            }),
            changes: Vec::new(),
        })
    }

    /// What turning `old` (the first parent's tree, or `None` for a root commit) into `new`
    /// changes.
    pub(crate) fn count(
        &mut self,
        repo: &gix::Repository,
        old: Option<gix::ObjectId>,
        new: gix::ObjectId,
    ) -> gix::Result<LineCounts> {
        let old_tree = match old {
            Some(id) => repo.find_tree(id)?,
            None => repo.empty_tree(),
        };
        let new_tree = repo.find_tree(new)?;
        self.changes.clear();
        let changes = &mut self.changes;
        let rewrites = self.rewrites;
        old_tree
            .changes()?
            .options(|o| {
                o.track_path().track_rewrites(rewrites);
            })
            .for_each_to_obtain_tree_with_cache(&new_tree, &mut self.cache, |change| {
                changes.push(change.detach());
                Ok(std::ops::ControlFlow::Continue(()))
            })?;

        let changes = std::mem::take(&mut self.changes);
        let mut counts = LineCounts::default();
        for change in &changes {
            let (mode, id) = change.entry_mode_and_id();
            let (source_mode, source_id) = match change {
                Change::Addition { .. } => (mode, id),
                Change::Deletion { .. } => (mode, id),
                Change::Modification {
                    previous_entry_mode,
                    previous_id,
                    ..
                } => (*previous_entry_mode, previous_id.as_ref()),
                Change::Rewrite {
                    source_entry_mode,
                    source_id,
                    ..
                } => (*source_entry_mode, source_id.as_ref()),
            };
            // Directories are not files: their files are listed one by one. (A file replaced
            // by a directory, or the reverse, comes as a deletion and an addition.)
            if mode.is_tree() {
                continue;
            }
            counts.files += 1;
            // A submodule is one line, `Subproject commit <id>`, on each side it is on (as
            // git shows it); a file replaced by one, or the reverse, likewise.
            if is_submodule(mode) || is_submodule(source_mode) {
                let (added, deleted) = match change {
                    Change::Addition { .. } => (1, 0),
                    Change::Deletion { .. } => (0, 1),
                    _ if source_id == id => (0, 0),
                    _ => (1, 1),
                };
                counts.added += added;
                counts.deleted += deleted;
                continue;
            }
            // The same content on both sides: a change of mode, a pure rename.
            if !matches!(change, Change::Addition { .. } | Change::Deletion { .. })
                && source_id == id
            {
                continue;
            }
            let (added, deleted) = match self.lines(repo, change) {
                Ok(lines) => lines,
                Err(e) => {
                    self.changes = changes;
                    return Err(e);
                }
            };
            counts.added += added;
            counts.deleted += deleted;
        }
        self.changes = changes;
        self.cache.clear_resource_cache_keep_allocation();
        Ok(counts)
    }

    /// Lines added and deleted by one file's change; 0 and 0 when either side is binary.
    fn lines(&mut self, repo: &gix::Repository, change: &Change) -> gix::Result<(u64, u64)> {
        self.cache
            .set_resource_by_change(change.to_ref(), &repo.objects)?;
        let prepared = self.cache.prepare_diff()?;
        let Operation::InternalDiff { algorithm, change } = prepared.operation else {
            return Ok((0, 0)); // binary, or neither side exists
        };
        Ok(match change {
            TextChange::Addition { new } => (count_lines(new.as_slice()), 0),
            TextChange::Deletion { old } => (0, count_lines(old.as_slice())),
            TextChange::Modification(pair) => {
                // Lines with their terminators, as git compares them.
                let input = InternedInput::new(pair.before().as_slice(), pair.after().as_slice());
                let diff = Diff::compute(algorithm, &input);
                (
                    u64::from(diff.count_additions()),
                    u64::from(diff.count_removals()),
                )
            }
        })
    }
}

fn is_submodule(mode: EntryMode) -> bool {
    mode.is_commit()
}

/// Lines in a text: one per line terminator, plus an unterminated last line.
fn count_lines(text: &[u8]) -> u64 {
    let newlines = text.find_iter(b"\n").count() as u64;
    newlines + u64::from(!text.is_empty() && !text.ends_with(b"\n"))
}
