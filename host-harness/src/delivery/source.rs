//! A repository opened for reading delivery: the checks that refuse what cannot be read
//! faithfully, the current tips, and the read itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use gix::ObjectId;

use super::commit::Commit;
use super::cursor::{Cursor, RefChange, RefUpdate};
use super::describe::{self, OBJECT_CACHE_BYTES};
use super::error::DeliveryError;
use super::history::{self, Graph};
use super::options::Options;

/// What one read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// The new commits, each once, parents before children.
    pub commits: Vec<Commit>,
    /// The position to pass to the next read.
    pub cursor: Cursor,
    /// The refs that moved since the cursor, by name.
    pub refs: Vec<RefUpdate>,
    /// Tips of the cursor that are no longer in the repository (pruned by `git gc` after a
    /// force-push or a deletion): they could not hide their commits any more.
    pub pruned: Vec<String>,
}

/// A local repository, checked and opened for reading.
pub struct Source {
    repo: gix::Repository,
    path: PathBuf,
    options: Options,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("path", &self.path)
            .field("options", &self.options)
            .finish()
    }
}

/// Open `path` and read what is new since `since`: [`Source::open`] then [`Source::read`].
pub fn read(
    path: impl AsRef<Path>,
    since: &Cursor,
    options: Options,
) -> Result<Import, DeliveryError> {
    Source::open(path, options)?.read(since)
}

impl Source {
    /// Open the repository at `path` (the top of a working clone, or its `.git`), refusing
    /// what cannot be read faithfully: not a repository, bare, shallow, partial, or no
    /// commits. Only the repository's own configuration is read (not the user's or the
    /// system's), and nothing is written.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Source, DeliveryError> {
        let path = path.as_ref().to_path_buf();
        let not_a_repository = |reason: String| DeliveryError::NotARepository {
            path: path.clone(),
            reason,
        };
        match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(not_a_repository("no such directory".into()))
            }
            Err(e) => return Err(not_a_repository(e.to_string())),
            Ok(m) if !m.is_dir() => return Err(not_a_repository("not a directory".into())),
            Ok(_) => {}
        }
        // A working clone has `.git` (a directory, or a file naming one); a `.git` directory
        // is a repository itself. No searching upwards.
        if !path.join(".git").exists() && gix::discover::is_git(&path).is_err() {
            return Err(not_a_repository("no .git here".into()));
        }
        let mut repo = gix::open_opts(&path, gix::open::Options::isolated())
            .map_err(|e| not_a_repository(first_line(&e.to_string())))?;
        if repo.is_bare() {
            return Err(DeliveryError::Bare { path });
        }
        if repo
            .is_shallow()
            .map_err(|e| DeliveryError::git(&path, "checking for a shallow clone", e))?
        {
            return Err(DeliveryError::Shallow { path });
        }
        if is_partial_clone(&repo) {
            return Err(DeliveryError::PartialClone { path });
        }
        repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
        let source = Source {
            repo,
            path,
            options,
        };
        if source.tip_ids()?.is_empty() {
            return Err(DeliveryError::Empty { path: source.path });
        }
        Ok(source)
    }

    /// The path this source was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What this source reads.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The commit each selected ref points at now: full ref name → commit id.
    pub fn tips(&self) -> Result<BTreeMap<String, String>, DeliveryError> {
        Ok(self
            .tip_ids()?
            .into_iter()
            .map(|(name, id)| (name, id.to_string()))
            .collect())
    }

    /// The commits new since `since`, each once, with the next cursor and the refs that
    /// moved. See the module documentation for the rules. On error nothing is returned but
    /// the error.
    pub fn read(&self, since: &Cursor) -> Result<Import, DeliveryError> {
        let repo = &self.repo;
        let git = |doing: &str| {
            let path = self.path.clone();
            let doing = doing.to_string();
            move |e: gix::Error| DeliveryError::git(&path, &doing, e)
        };

        let tips = self.tip_ids()?;
        if tips.is_empty() {
            return Err(DeliveryError::Empty {
                path: self.path.clone(),
            });
        }
        let previous_refs: BTreeMap<&str, ObjectId> = since
            .refs
            .iter()
            .map(|(name, id)| Ok((name.as_str(), parse_id(id)?)))
            .collect::<Result<_, DeliveryError>>()?;
        let previous_tips: BTreeSet<ObjectId> = since
            .tips()
            .into_iter()
            .map(parse_id)
            .collect::<Result<_, _>>()?;

        // The previous tips still in the repository hide their history; pruned ones cannot.
        let mut hidden_tips = Vec::new();
        let mut pruned = Vec::new();
        for id in previous_tips {
            if self.is_commit(id)? {
                hidden_tips.push(id);
            } else {
                pruned.push(id.to_string());
            }
        }

        let unchanged = pruned.is_empty()
            && tips.len() == previous_refs.len()
            && tips
                .iter()
                .all(|(name, id)| previous_refs.get(name.as_str()) == Some(id));
        if unchanged {
            return Ok(Import {
                commits: Vec::new(),
                cursor: since.clone(),
                refs: Vec::new(),
                pruned,
            });
        }

        let current: Vec<ObjectId> = tips
            .values()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let reachable = Graph::walk(repo, &current).map_err(git("walking the current history"))?;
        let hidden = history::ancestors(repo, &hidden_tips)
            .map_err(git("walking the history already read"))?;

        let mut refs = Vec::new();
        let names: BTreeSet<&str> = previous_refs
            .keys()
            .copied()
            .chain(tips.keys().map(String::as_str))
            .collect();
        for name in names {
            let old = previous_refs.get(name).copied();
            let now = tips.get(name).copied();
            let change = match (old, now) {
                (None, Some(_)) => RefChange::Created,
                (Some(_), None) => RefChange::Deleted,
                (Some(o), Some(n)) if o == n => continue,
                (Some(o), Some(n)) if reachable.is_ancestor(o, n) => RefChange::FastForward,
                (Some(_), Some(_)) => RefChange::Rewritten,
                (None, None) => continue,
            };
            refs.push(RefUpdate {
                name: name.to_string(),
                old: old.map(|id| id.to_string()),
                new: now.map(|id| id.to_string()),
                change,
            });
        }
        let orphaned = hidden_tips
            .iter()
            .filter(|id| !reachable.contains(id))
            .map(|id| id.to_string())
            .collect();

        let new = reachable.without(&hidden);
        let commits = describe::describe(
            repo,
            &new,
            self.options.detect_renames,
            self.options.threads,
        )
        .map_err(|f| DeliveryError::git(&self.path, &f.doing, f.error))?;

        Ok(Import {
            commits,
            cursor: Cursor {
                refs: tips
                    .iter()
                    .map(|(name, id)| (name.clone(), id.to_string()))
                    .collect(),
                orphaned,
            },
            refs,
            pruned,
        })
    }

    /// The selected refs that point at a commit (through annotated tags if need be).
    fn tip_ids(&self) -> Result<BTreeMap<String, ObjectId>, DeliveryError> {
        let git =
            |doing: &'static str| move |e: gix::Error| DeliveryError::git(&self.path, doing, e);
        let platform = self.repo.references().map_err(git("listing refs"))?;
        let mut tips = BTreeMap::new();
        for reference in platform.all().map_err(git("listing refs"))? {
            let mut reference = reference.map_err(git("reading a ref"))?;
            let name = reference.name().as_bstr().to_string();
            if !self.options.selects(&name) || reference.target().try_id().is_none() {
                continue; // not selected, or symbolic
            }
            let id = reference
                .peel_to_id()
                .map_err(|e| DeliveryError::git(&self.path, &format!("reading ref {name}"), e))?
                .detach();
            if self.is_commit(id)? {
                tips.insert(name, id);
            }
        }
        Ok(tips)
    }

    /// Whether `id` is a commit in the object database (`false` when it is missing).
    fn is_commit(&self, id: ObjectId) -> Result<bool, DeliveryError> {
        if !self.repo.has_object(id) {
            return Ok(false);
        }
        let header = self
            .repo
            .find_header(id)
            .map_err(|e| DeliveryError::git(&self.path, &format!("reading object {id}"), e))?;
        Ok(header.kind() == gix::object::Kind::Commit)
    }
}

/// A partial clone (`git clone --filter=...`) lacks file contents it fetches on demand.
fn is_partial_clone(repo: &gix::Repository) -> bool {
    let config = repo.config_snapshot();
    if config.string("extensions.partialClone").is_some() {
        return true;
    }
    let file = config.plumbing();
    file.sections_by_name("remote").is_some_and(|mut sections| {
        sections.any(|section| {
            section.value("promisor").is_some_and(|v| {
                gix::config::Boolean::try_from(v.as_ref() as &gix::bstr::BStr).is_ok_and(|b| b.0)
            })
        })
    })
}

fn parse_id(hex: &str) -> Result<ObjectId, DeliveryError> {
    ObjectId::from_hex(hex.as_bytes())
        .map_err(|e| DeliveryError::InvalidCursor(format!("{hex:?} is not a commit id: {e}")))
}

fn first_line(message: &str) -> String {
    message.lines().next().unwrap_or_default().to_string()
}
