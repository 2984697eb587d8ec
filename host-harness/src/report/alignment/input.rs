//! What the report is computed from: plain data, read from the store (or anywhere) by the
//! caller.

use std::collections::BTreeMap;

use crate::delivery::Commit;
use crate::report::people::PersonRow;

/// The report's inputs.
#[derive(Clone, Debug, Default)]
pub struct AlignmentInput {
    /// Codex use per person and UTC day: the people view built with `Period::Day` (one row
    /// per email × day). Rows that are not a person (`(unattributed)`, service accounts)
    /// are left out; so is a row with no Codex use on either path (code reviews alone are
    /// Codex reviewing someone's pull request, not that person using Codex).
    pub codex_days: Vec<PersonRow>,
    /// Commits from the delivery import, authors after `.mailmap`, times in UTC. A commit id
    /// seen twice (the same repository read twice, a fork) is counted once.
    pub commits: Vec<Commit>,
    /// Alias email → the email of the same person. Case-insensitive; chains are followed.
    pub aliases: BTreeMap<String, String>,
    /// Team name → its members' emails (resolved through the aliases; a person may be in
    /// several teams).
    pub teams: BTreeMap<String, Vec<String>>,
}
