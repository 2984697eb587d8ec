//! Registered repositories read into the store: [`add_repository`] (`delivery add-repo`,
//! the page's form) checks a repository, reads all of it and registers it in one
//! transaction; [`sync_repositories`] (every sync run: CLI, Sync now, the scheduler) reads
//! what is new in each registered repository since its stored position.
//!
//! Reads are blocking (gix), so they run on tokio's blocking pool. A repository is read
//! first and written after: a repository that is refused, or a read that fails, writes
//! nothing (for [`add_repository`], the store is exactly as it was). During a sync, one
//! repository failing (moved, deleted, turned shallow) is noted on its row and reported,
//! and the others (and the Codex import) go on.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Cursor, DeliveryError, Import, Options, Source};
use crate::store::{NotRegistered, RepositoryImport, Store};

/// What [`add_repository`] did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Added {
    /// The path it is registered under: absolute, symbolic links resolved.
    pub path: String,
    /// `false` when it was registered already (then only its new commits were read).
    pub registered_now: bool,
    /// Commits read and stored.
    pub new_commits: usize,
    /// Refs read (branch and remote-tracking tips).
    pub refs: usize,
}

/// Why [`add_repository`] did nothing.
#[derive(Debug, thiserror::Error)]
pub enum AddError {
    /// The repository cannot be read (not a repository, bare, shallow, partial, empty, …).
    #[error(transparent)]
    Refused(#[from] DeliveryError),
    /// The store failed (nothing was written: the import is one transaction).
    #[error(transparent)]
    Store(#[from] anyhow::Error),
}

/// One repository's part of a sync.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RepositorySync {
    pub path: String,
    /// New commits stored, or why the repository could not be read.
    pub outcome: Result<usize, String>,
}

/// The delivery part of a sync run: one entry per registered repository.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DeliverySync {
    pub repositories: Vec<RepositorySync>,
}

impl DeliverySync {
    /// New commits over every repository.
    pub fn new_commits(&self) -> usize {
        self.repositories
            .iter()
            .filter_map(|r| r.outcome.as_ref().ok())
            .sum()
    }

    /// One line naming each repository that could not be read, and why; `None` when every
    /// repository was read.
    pub fn problems(&self) -> Option<String> {
        let failed: Vec<String> = self
            .repositories
            .iter()
            .filter_map(|r| r.outcome.as_ref().err().map(|e| format!("{}: {e}", r.path)))
            .collect();
        (!failed.is_empty()).then(|| {
            format!(
                "{} of {} repositories could not be read (the Codex import is not affected): {}",
                failed.len(),
                self.repositories.len(),
                failed.join("; ")
            )
        })
    }
}

/// Read `path` in full and register it with `connection` (its commits and position in the
/// same transaction). A repository registered already has only its new commits read. A
/// repository that cannot be read is refused with its [`DeliveryError`], and nothing in
/// the store changes.
pub async fn add_repository(
    store: &Store,
    connection: &str,
    path: &Path,
    options: Options,
) -> Result<Added, AddError> {
    // Checked and opened before anything else: a bad path is refused as given.
    let given = path.to_path_buf();
    let key = std::fs::canonicalize(&given)
        .unwrap_or_else(|_| given.clone())
        .display()
        .to_string();
    let since = store.repository_cursor(connection, &key).await?;
    let registered_now = since.is_none();
    let import = read(given, since.unwrap_or_default(), options).await?;
    let added = Added {
        path: key.clone(),
        registered_now,
        new_commits: import.commits.len(),
        refs: import.cursor.refs.len(),
    };
    store
        .import_repository(
            connection,
            RepositoryImport {
                repository: key,
                commits: import.commits,
                cursor: import.cursor,
                register: true,
            },
        )
        .await?;
    Ok(added)
}

/// Read what is new in every repository registered with `connection`, each into the store
/// in its own transaction. Fails only when the list of repositories cannot be read; a
/// repository that cannot be read is noted on its row and in the result.
pub async fn sync_repositories(
    store: &Store,
    connection: &str,
    options: &Options,
) -> anyhow::Result<DeliverySync> {
    let mut out = DeliverySync::default();
    for repo in store.repositories(connection).await? {
        let outcome = sync_one(store, connection, &repo.path, options).await;
        match &outcome {
            Ok(Some(n)) => {
                tracing::info!(connection, repository = %repo.path, new_commits = n, "delivery read")
            }
            Ok(None) => continue, // removed meanwhile
            Err(e) => {
                tracing::warn!(connection, repository = %repo.path, "delivery not read: {e}");
                if let Err(s) = store.repository_failed(connection, &repo.path, e).await {
                    tracing::warn!(connection, repository = %repo.path, "cannot note the failed read: {s:#}");
                }
            }
        }
        out.repositories.push(RepositorySync {
            path: repo.path,
            outcome: outcome.map(|n| n.unwrap_or(0)),
        });
    }
    Ok(out)
}

/// One repository's new commits into the store: `Ok(None)` when it is no longer
/// registered.
async fn sync_one(
    store: &Store,
    connection: &str,
    path: &str,
    options: &Options,
) -> Result<Option<usize>, String> {
    let Some(since) = store
        .repository_cursor(connection, path)
        .await
        .map_err(|e| format!("{e:#}"))?
    else {
        return Ok(None);
    };
    let import = read(PathBuf::from(path), since, options.clone())
        .await
        .map_err(|e| e.to_string())?;
    let n = import.commits.len();
    let written = store
        .import_repository(
            connection,
            RepositoryImport {
                repository: path.to_string(),
                commits: import.commits,
                cursor: import.cursor,
                register: false,
            },
        )
        .await;
    match written {
        Ok(()) => Ok(Some(n)),
        Err(e) if e.is::<NotRegistered>() => Ok(None),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Open and read a repository on the blocking pool.
async fn read(path: PathBuf, since: Cursor, options: Options) -> Result<Import, DeliveryError> {
    let shown = path.clone();
    tokio::task::spawn_blocking(move || Source::open(&path, options)?.read(&since))
        .await
        .unwrap_or_else(|e| {
            Err(DeliveryError::Git {
                path: shown,
                message: format!("the read stopped: {e}"),
            })
        })
}

/// The delivery part of a sync run (the runner calls it after the streams): every
/// registered repository read on one thread each (a background read leaves the other
/// cores to the imports running beside it). Returns the message for the run's history
/// when a repository could not be read; logs what it did.
pub async fn after_run(store: &Store, connection: &str) -> Option<String> {
    let options = Options {
        threads: Some(1),
        ..Options::default()
    };
    match sync_repositories(store, connection, &options).await {
        Ok(sync) => sync.problems(),
        Err(e) => {
            let message = format!("the registered repositories could not be listed: {e:#}");
            tracing::warn!(connection, "{message}");
            Some(message)
        }
    }
}
