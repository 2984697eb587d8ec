//! What is new since a cursor, computed exactly: the commits reachable from the current tips
//! minus those reachable from the cursor's tips, each history walked in full. Walks use the
//! commit-graph file when the repository has one, and never stop on dates, so clock skew
//! cannot make a commit be missed or returned twice.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};

use gix::revision::walk::Sorting;
use gix::traverse::commit::simple::CommitTimeOrder;
use gix::ObjectId;

/// A commit in the graph: its parents and its commit (committer) time.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub id: ObjectId,
    pub parents: Vec<ObjectId>,
    pub time: i64,
}

/// Every commit reachable from some tips, tips included, with its parents.
pub(crate) struct Graph {
    nodes: Vec<Node>,
    index: HashMap<ObjectId, usize>,
}

impl Graph {
    /// Walk everything reachable from `tips`.
    pub(crate) fn walk(repo: &gix::Repository, tips: &[ObjectId]) -> gix::Result<Graph> {
        let mut nodes = Vec::new();
        if !tips.is_empty() {
            let walk = repo
                .rev_walk(tips.iter().copied())
                .sorting(Sorting::ByCommitTime(CommitTimeOrder::NewestFirst))
                .all()?;
            for info in walk {
                let info = info?;
                nodes.push(Node {
                    id: info.id,
                    parents: info.parent_ids.iter().copied().collect(),
                    time: info.commit_time.unwrap_or_default(),
                });
            }
        }
        let index = nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
        Ok(Graph { nodes, index })
    }

    /// Whether `id` is reachable from the tips.
    pub(crate) fn contains(&self, id: &ObjectId) -> bool {
        self.index.contains_key(id)
    }

    /// Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor).
    pub(crate) fn is_ancestor(&self, ancestor: ObjectId, descendant: ObjectId) -> bool {
        if !self.contains(&ancestor) {
            return false;
        }
        let mut seen = HashSet::from([descendant]);
        let mut queue = vec![descendant];
        while let Some(id) = queue.pop() {
            if id == ancestor {
                return true;
            }
            let Some(&i) = self.index.get(&id) else {
                continue;
            };
            for parent in &self.nodes[i].parents {
                if seen.insert(*parent) {
                    queue.push(*parent);
                }
            }
        }
        false
    }

    /// The commits not in `hidden`, parents before children (see [`parents_first`]).
    pub(crate) fn without(self, hidden: &HashSet<ObjectId>) -> Vec<Node> {
        parents_first(
            self.nodes
                .into_iter()
                .filter(|n| !hidden.contains(&n.id))
                .collect(),
        )
    }
}

/// The ids of every commit reachable from `tips`, tips included.
pub(crate) fn ancestors(
    repo: &gix::Repository,
    tips: &[ObjectId],
) -> gix::Result<HashSet<ObjectId>> {
    let mut out = HashSet::new();
    if tips.is_empty() {
        return Ok(out);
    }
    for info in repo.rev_walk(tips.iter().copied()).all()? {
        out.insert(info?.id);
    }
    Ok(out)
}

/// `nodes` ordered parents before children, and among commits not related that way, older
/// commit time first (then id), so the order is the same on every read.
pub(crate) fn parents_first(nodes: Vec<Node>) -> Vec<Node> {
    let index: HashMap<ObjectId, usize> =
        nodes.iter().enumerate().map(|(i, n)| (n.id, i)).collect();
    let mut waiting = vec![0usize; nodes.len()];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    for (i, node) in nodes.iter().enumerate() {
        let mut seen = HashSet::new();
        for parent in &node.parents {
            if let Some(&p) = index.get(parent) {
                if seen.insert(p) {
                    waiting[i] += 1;
                    children[p].push(i);
                }
            }
        }
    }
    let mut ready: BinaryHeap<Reverse<(i64, ObjectId, usize)>> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| waiting[*i] == 0)
        .map(|(i, n)| Reverse((n.time, n.id, i)))
        .collect();
    let mut order = Vec::with_capacity(nodes.len());
    while let Some(Reverse((_, _, i))) = ready.pop() {
        order.push(i);
        for &c in &children[i] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.push(Reverse((nodes[c].time, nodes[c].id, c)));
            }
        }
    }
    debug_assert_eq!(order.len(), nodes.len(), "a commit graph has no cycles");
    let mut slots: Vec<Option<Node>> = nodes.into_iter().map(Some).collect();
    order.into_iter().filter_map(|i| slots[i].take()).collect()
}
