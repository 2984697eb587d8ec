//! Turning new commits into [`Commit`]s: the author after `.mailmap`, and the lines and files
//! against the first parent. Commits are taken in runs of consecutive commits (which share
//! most of their trees, kept in each thread's object cache) by as many threads as the machine
//! has cores, up to [`MAX_THREADS`]; the result is in the order given.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::commit::{Author, Commit};
use super::history::Node;
use super::lines::{LineCounter, LineCounts};

/// At most this many threads count lines.
pub const MAX_THREADS: usize = 8;
/// Commits taken at a time by a thread.
const RUN: usize = 128;
/// Decoded objects kept in memory per thread: consecutive commits share most of their
/// trees, so each tree is decoded about once.
pub(crate) const OBJECT_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A failure describing one commit: what was being done, and git's error.
pub(crate) struct Failure {
    pub doing: String,
    pub error: gix::Error,
}

/// Describe `nodes` (parents first, from the history walk), in that order, on `threads`
/// threads (`None`: one per core, up to [`MAX_THREADS`]).
pub(crate) fn describe(
    repo: &gix::Repository,
    nodes: &[Node],
    detect_renames: bool,
    threads: Option<usize>,
) -> Result<Vec<Commit>, Failure> {
    let threads = threads
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS)
        })
        .min(nodes.len().div_ceil(RUN))
        .max(1);
    if threads == 1 {
        let mut worker = Worker::new(repo, detect_renames)?;
        return nodes
            .iter()
            .map(|node| worker.describe(repo, node))
            .collect();
    }

    let shared = repo.clone().into_sync();
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let slots: Mutex<Vec<Option<Commit>>> = Mutex::new(vec![None; nodes.len()]);
    let first_failure: Mutex<Option<Failure>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut repo = shared.to_thread_local();
                repo.object_cache_size_if_unset(OBJECT_CACHE_BYTES);
                let run = || -> Result<(), Failure> {
                    let mut worker = Worker::new(&repo, detect_renames)?;
                    let mut done = Vec::with_capacity(RUN);
                    while !failed.load(Ordering::Relaxed) {
                        let start = next.fetch_add(RUN, Ordering::Relaxed);
                        if start >= nodes.len() {
                            break;
                        }
                        let end = (start + RUN).min(nodes.len());
                        done.clear();
                        for node in &nodes[start..end] {
                            done.push(worker.describe(&repo, node)?);
                        }
                        let mut slots = slots.lock().expect("no thread panics holding it");
                        for (slot, commit) in slots[start..end].iter_mut().zip(done.drain(..)) {
                            *slot = Some(commit);
                        }
                    }
                    Ok(())
                };
                if let Err(failure) = run() {
                    failed.store(true, Ordering::Relaxed);
                    first_failure
                        .lock()
                        .expect("no thread panics holding it")
                        .get_or_insert(failure);
                }
            });
        }
    });
    if let Some(failure) = first_failure.into_inner().expect("threads are done") {
        return Err(failure);
    }
    Ok(slots
        .into_inner()
        .expect("threads are done")
        .into_iter()
        .map(|slot| slot.expect("every commit was described"))
        .collect())
}

/// One thread's mailmap and diff buffers.
struct Worker {
    mailmap: gix::mailmap::Snapshot,
    counter: LineCounter,
}

impl Worker {
    fn new(repo: &gix::Repository, detect_renames: bool) -> Result<Worker, Failure> {
        Ok(Worker {
            mailmap: repo.open_mailmap(),
            counter: LineCounter::new(repo, detect_renames).map_err(|error| Failure {
                doing: "preparing diffs".into(),
                error,
            })?,
        })
    }

    fn describe(&mut self, repo: &gix::Repository, node: &Node) -> Result<Commit, Failure> {
        let reading = |error| Failure {
            doing: format!("reading commit {}", node.id),
            error,
        };
        let commit = repo.find_commit(node.id).map_err(reading)?;
        let author = Author::of(commit.author().map_err(reading)?, &self.mailmap);
        let merge = node.parents.len() > 1;
        let counts = if merge {
            LineCounts::default()
        } else {
            let tree = commit.tree_id().map_err(reading)?.detach();
            let parent_tree = match node.parents.first() {
                Some(&parent) => Some(
                    repo.find_commit(parent)
                        .and_then(|p| p.tree_id())
                        .map_err(reading)?
                        .detach(),
                ),
                None => None,
            };
            self.counter
                .count(repo, parent_tree, tree)
                .map_err(|error| Failure {
                    doing: format!("counting the lines of commit {}", node.id),
                    error,
                })?
        };
        Ok(Commit::new(node.id.to_string(), author, merge, counts))
    }
}
