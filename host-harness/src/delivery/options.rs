//! What a read takes as tips, and how it counts renames.

/// What to read from a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Refs whose full names start with one of these are the tips read. Default: local
    /// branches (`refs/heads/`) and remote-tracking branches (`refs/remotes/`).
    pub ref_prefixes: Vec<String>,
    /// Detect renames as `git log` does by default (50% similarity, empty files included, no
    /// copies, at most 1000 candidates): a renamed file counts once, with the lines that
    /// differ. Default `true`. When `false`, a rename is a deletion plus an addition (two
    /// files, every line), which is faster on commits that move many files.
    pub detect_renames: bool,
    /// Threads counting lines: `None` for one per core, up to
    /// [`MAX_THREADS`](super::describe::MAX_THREADS); `Some(1)` to count on the calling thread
    /// only (a background import that should leave the other cores alone).
    pub threads: Option<usize>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ref_prefixes: vec!["refs/heads/".to_string(), "refs/remotes/".to_string()],
            detect_renames: true,
            threads: None,
        }
    }
}

impl Options {
    /// Whether a full ref name is one of the tips.
    pub fn selects(&self, ref_name: &str) -> bool {
        self.ref_prefixes
            .iter()
            .any(|p| ref_name.starts_with(p.as_str()))
    }
}
