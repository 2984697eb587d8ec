//! Identities seen on one side only, over the whole window, for an admin to fix (usually
//! with an alias: a personal email in git, a work email in Codex):
//!
//! - **unmatched git authors**: people (after aliases) with commits and no Codex use under
//!   any of their emails;
//! - **unmatched Codex users**: people with Codex use and no commits.
//!
//! Being listed is not a fault: someone may simply not use Codex, or not commit to the
//! repositories read. The lists say which emails to look at.

use serde::Serialize;

use super::activity::Activity;
use super::period::label;

/// A git author with no Codex use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmatchedGitAuthor {
    /// The person's email (canonical).
    pub email: String,
    /// The emails their commits carry (lower-cased), to alias.
    pub git_emails: Vec<String>,
    /// Their names as git shows them (after `.mailmap`).
    pub names: Vec<String>,
    /// Commits, merges included.
    pub commits: u64,
    pub first_commit: String,
    pub last_commit: String,
}

/// A Codex user with no commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmatchedCodexUser {
    /// The person's email (canonical).
    pub email: String,
    /// The emails their Codex use carries (lower-cased), to alias.
    pub codex_emails: Vec<String>,
    /// Their names, where the Platform's directory has them.
    pub names: Vec<String>,
    pub codex_active_days: u32,
    pub first_day: String,
    pub last_day: String,
}

/// Both lists, each sorted by email.
pub fn unmatched(activity: &Activity) -> (Vec<UnmatchedGitAuthor>, Vec<UnmatchedCodexUser>) {
    let (mut git, mut codex) = (Vec::new(), Vec::new());
    for (email, seen) in &activity.people {
        let names: Vec<String> = seen.names.iter().cloned().collect();
        match (
            seen.commits > 0,
            seen.codex_days.first(),
            seen.codex_days.last(),
        ) {
            (true, None, _) => git.push(UnmatchedGitAuthor {
                email: email.clone(),
                git_emails: seen.git_emails.iter().cloned().collect(),
                names,
                commits: seen.commits,
                first_commit: seen.first_commit.map(label).unwrap_or_default(),
                last_commit: seen.last_commit.map(label).unwrap_or_default(),
            }),
            (false, Some(first), Some(last)) => codex.push(UnmatchedCodexUser {
                email: email.clone(),
                codex_emails: seen.codex_emails.iter().cloned().collect(),
                names,
                codex_active_days: seen.codex_days.len() as u32,
                first_day: label(*first),
                last_day: label(*last),
            }),
            _ => {}
        }
    }
    (git, codex)
}
