//! Repositories written commit by commit with gitoxide (no `git` binary): chosen authors,
//! author times (with their UTC offsets), file contents, branches and merges. The demo
//! makes its sample repository with it, and the tests their repositories of known commits.
//!
//! The repository is a working clone (`.git` inside its directory) whose `HEAD` is
//! `refs/heads/main`; files committed on `main` are also written to the working tree, so
//! the checkout (and its `.mailmap`) is what `main` holds. Commits are written as objects
//! and refs directly: no index, no hooks, no configuration of the machine is read.
//!
//! ```no_run
//! use host_harness::delivery::synthetic::Synthetic;
//! let mut repo = Synthetic::init("/tmp/sample".as_ref())?;
//! let at = chrono::DateTime::parse_from_rfc3339("2025-03-09T23:30:00-05:00")?;
//! repo.commit("main", ("Ada", "ada@example.com"), at, "first", &[("a.txt", Some("1\n2\n"))])?;
//! # Ok::<(), anyhow::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, FixedOffset};
use gix::bstr::BStr;
use gix::refs::transaction::{Change, LogChange, PreviousValue, RefEdit};
use gix::refs::Target;
use gix::ObjectId;

/// Someone committing: (name, email).
pub type Who<'a> = (&'a str, &'a str);

/// A file change: a path (`/`-separated) and its new content, or `None` to delete it.
pub type FileChange<'a> = (&'a str, Option<&'a str>);

/// The branch `HEAD` points at.
pub const MAIN: &str = "main";

/// A branch: its tip and the files at the tip.
#[derive(Clone)]
struct Branch {
    tip: ObjectId,
    files: BTreeMap<String, String>,
}

/// A repository being written.
pub struct Synthetic {
    repo: gix::Repository,
    path: PathBuf,
    branches: BTreeMap<String, Branch>,
}

/// `time` as git writes it in a commit: `<seconds> <±hhmm>`.
fn raw_time(time: DateTime<FixedOffset>) -> String {
    let offset = time.offset().local_minus_utc();
    let sign = if offset < 0 { '-' } else { '+' };
    let minutes = offset.abs() / 60;
    format!(
        "{} {sign}{:02}{:02}",
        time.timestamp(),
        minutes / 60,
        minutes % 60
    )
}

impl Synthetic {
    /// A new, empty working clone at `path` (created if need be; it must not hold a
    /// repository), `HEAD` on `main`.
    pub fn init(path: &Path) -> anyhow::Result<Synthetic> {
        std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        let repo = gix::init(path)
            .with_context(|| format!("creating a repository in {}", path.display()))?;
        repo.edit_reference(RefEdit {
            change: Change::Update {
                log: LogChange::default(),
                expected: PreviousValue::Any,
                new: Target::Symbolic(format!("refs/heads/{MAIN}").try_into()?),
            },
            name: "HEAD".try_into()?,
            deref: false,
        })
        .context("pointing HEAD at main")?;
        Ok(Synthetic {
            repo,
            path: path.to_path_buf(),
            branches: BTreeMap::new(),
        })
    }

    /// The top of the working clone.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tip of `branch`, if it has commits.
    pub fn tip(&self, branch: &str) -> Option<String> {
        self.branches.get(branch).map(|b| b.tip.to_string())
    }

    /// Commit `changes` on `branch` (a root commit when the branch has none yet) as `who`
    /// (author and committer) at `at`; returns the commit id.
    pub fn commit(
        &mut self,
        branch: &str,
        who: Who<'_>,
        at: DateTime<FixedOffset>,
        message: &str,
        changes: &[FileChange<'_>],
    ) -> anyhow::Result<String> {
        let previous = self.branches.get(branch).cloned();
        let mut files = previous
            .as_ref()
            .map(|b| b.files.clone())
            .unwrap_or_default();
        for (path, content) in changes {
            match content {
                Some(c) => files.insert(path.to_string(), c.to_string()),
                None => files.remove(*path),
            };
        }
        let parents: Vec<ObjectId> = previous.iter().map(|b| b.tip).collect();
        let id = self.write(branch, who, at, message, &files, parents)?;
        if branch == MAIN {
            self.checkout(changes)?;
        }
        Ok(id)
    }

    /// Start `branch` at the tip of `from`.
    pub fn branch(&mut self, branch: &str, from: &str) -> anyhow::Result<()> {
        let start = self
            .branches
            .get(from)
            .cloned()
            .with_context(|| format!("no branch {from} to start {branch} from"))?;
        self.repo
            .reference(
                format!("refs/heads/{branch}"),
                start.tip,
                PreviousValue::MustNotExist,
                format!("branch: Created from {from}"),
            )
            .with_context(|| format!("creating the branch {branch}"))?;
        self.branches.insert(branch.to_string(), start);
        Ok(())
    }

    /// Merge `from` into `into` with a merge commit (parents: `into`'s tip, then `from`'s)
    /// whose files are `into`'s with `from`'s over them; returns the commit id.
    pub fn merge(
        &mut self,
        into: &str,
        from: &str,
        who: Who<'_>,
        at: DateTime<FixedOffset>,
    ) -> anyhow::Result<String> {
        let (Some(a), Some(b)) = (
            self.branches.get(into).cloned(),
            self.branches.get(from).cloned(),
        ) else {
            anyhow::bail!("merging {from} into {into}: both need commits");
        };
        let mut files = a.files.clone();
        let mut changes = Vec::new();
        for (path, content) in &b.files {
            if a.files.get(path) != Some(content) {
                changes.push((path.clone(), content.clone()));
            }
            files.insert(path.clone(), content.clone());
        }
        let id = self.write(
            into,
            who,
            at,
            &format!("Merge branch '{from}'"),
            &files,
            vec![a.tip, b.tip],
        )?;
        if into == MAIN {
            let changes: Vec<FileChange<'_>> = changes
                .iter()
                .map(|(p, c)| (p.as_str(), Some(c.as_str())))
                .collect();
            self.checkout(&changes)?;
        }
        Ok(id)
    }

    /// Write a file in the working tree only (not committed), e.g. a `.mailmap`.
    pub fn write_file(&self, rel: &str, content: &str) -> anyhow::Result<()> {
        let p = self.path.join(rel);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&p, content).with_context(|| format!("writing {}", p.display()))
    }

    /// Write the tree of `files` and a commit of it on `branch`, moving the branch.
    fn write(
        &mut self,
        branch: &str,
        who: Who<'_>,
        at: DateTime<FixedOffset>,
        message: &str,
        files: &BTreeMap<String, String>,
        parents: Vec<ObjectId>,
    ) -> anyhow::Result<String> {
        let mut editor = self
            .repo
            .edit_tree(ObjectId::empty_tree(self.repo.object_hash()))?;
        for (path, content) in files {
            let blob = self.repo.write_blob(content.as_bytes())?.detach();
            editor.upsert(path.as_str(), gix::object::tree::EntryKind::Blob, blob)?;
        }
        let tree = editor.write()?.detach();
        let time = raw_time(at);
        let signature = gix::actor::SignatureRef {
            name: BStr::new(who.0),
            email: BStr::new(who.1),
            time: &time,
        };
        let id = self
            .repo
            .commit_as(
                signature,
                signature,
                format!("refs/heads/{branch}"),
                message,
                tree,
                parents,
            )
            .with_context(|| format!("committing on {branch}"))?
            .detach();
        self.branches.insert(
            branch.to_string(),
            Branch {
                tip: id,
                files: files.clone(),
            },
        );
        Ok(id.to_string())
    }

    /// Apply `changes` to the working tree.
    fn checkout(&self, changes: &[FileChange<'_>]) -> anyhow::Result<()> {
        for (path, content) in changes {
            match content {
                Some(c) => self.write_file(path, c)?,
                None => {
                    let _ = std::fs::remove_file(self.path.join(path));
                }
            }
        }
        Ok(())
    }
}
