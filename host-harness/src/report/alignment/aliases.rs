//! One person, several emails: the alias table maps an email (the alias) to the email that
//! names the person (the canonical one). Emails are compared as the rest of the report
//! compares them: trimmed and lower-cased ([`person_key`]). Chains are followed
//! (A → B, B → C puts A and B under C); a cycle is refused.

use std::collections::{BTreeMap, BTreeSet};

use super::error::AlignmentError;
use crate::report::identity::person_key;

/// The alias table, resolved: every email to the email of its person.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Aliases {
    canonical: BTreeMap<String, String>,
}

impl Aliases {
    /// Resolve `table` (alias → canonical email). An alias to itself is ignored.
    pub fn new(table: &BTreeMap<String, String>) -> Result<Aliases, AlignmentError> {
        let direct: BTreeMap<String, String> = table
            .iter()
            .map(|(a, b)| (person_key(a), person_key(b)))
            .filter(|(a, b)| a != b)
            .collect();
        let mut canonical = BTreeMap::new();
        for start in direct.keys() {
            let mut seen = vec![start.clone()];
            let mut at = start;
            while let Some(next) = direct.get(at) {
                if seen.contains(next) {
                    let from = seen.iter().position(|s| s == next).unwrap_or(0);
                    let mut cycle = seen[from..].to_vec();
                    cycle.push(next.clone());
                    return Err(AlignmentError::AliasCycle(cycle));
                }
                seen.push(next.clone());
                at = next;
            }
            canonical.insert(start.clone(), at.clone());
        }
        Ok(Aliases { canonical })
    }

    /// The email of the person `email` belongs to (itself, normalized, when it is no alias).
    pub fn resolve(&self, email: &str) -> String {
        let key = person_key(email);
        self.canonical.get(&key).cloned().unwrap_or(key)
    }

    /// Resolve a set of emails, each person once.
    pub fn resolve_all<'a>(
        &self,
        emails: impl IntoIterator<Item = &'a String>,
    ) -> BTreeSet<String> {
        emails.into_iter().map(|e| self.resolve(e)).collect()
    }
}
