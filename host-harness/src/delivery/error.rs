//! Why a repository cannot be read. Each refusal names the path and says what to do; a read
//! that fails returns only its error, so the caller's cursor and store stay as they were.

use std::path::{Path, PathBuf};

/// A repository that cannot be read, or a read that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// The path does not exist, or is not the top of a git repository (its working tree or
    /// its `.git` directory).
    #[error("{} is not a git repository ({reason}); point at the top of a clone", path.display())]
    NotARepository { path: PathBuf, reason: String },

    /// A bare repository (no working tree), such as a server's or `git clone --mirror`.
    #[error("{} is a bare repository; point at a working clone", path.display())]
    Bare { path: PathBuf },

    /// A shallow clone: commits beyond its depth are missing.
    #[error(
        "{} is a shallow clone: its history is incomplete; run `git fetch --unshallow` in it first",
        path.display()
    )]
    Shallow { path: PathBuf },

    /// A partial clone (`--filter`): file contents are missing, so lines cannot be counted.
    #[error(
        "{} is a partial clone: file contents are missing, so lines cannot be counted; clone it without --filter",
        path.display()
    )]
    PartialClone { path: PathBuf },

    /// No selected ref points at a commit.
    #[error("{} has no commits yet (no branch points at a commit): nothing to read", path.display())]
    Empty { path: PathBuf },

    /// The cursor passed in is not one a read returned (a commit id is not hexadecimal).
    #[error("the saved read position is not valid: {0}")]
    InvalidCursor(String),

    /// Git data could not be read (a missing or corrupt object, an unreadable ref).
    #[error("reading {} failed: {message}", path.display())]
    Git { path: PathBuf, message: String },
}

impl DeliveryError {
    /// A short, stable name for the kind of failure, for logs and the CLI.
    pub fn kind(&self) -> &'static str {
        match self {
            DeliveryError::NotARepository { .. } => "not-a-repository",
            DeliveryError::Bare { .. } => "bare",
            DeliveryError::Shallow { .. } => "shallow",
            DeliveryError::PartialClone { .. } => "partial-clone",
            DeliveryError::Empty { .. } => "empty",
            DeliveryError::InvalidCursor(_) => "invalid-cursor",
            DeliveryError::Git { .. } => "git",
        }
    }

    /// A git failure while reading `path`, with what was being done.
    pub(crate) fn git(path: &Path, doing: &str, err: impl std::fmt::Display) -> Self {
        DeliveryError::Git {
            path: path.to_path_buf(),
            message: format!("{doing}: {err}"),
        }
    }
}
