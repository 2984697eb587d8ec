//! Who is who, per connection: the alias table (another email of a person → the email that
//! names them) and teams (a name → its members' emails). Emails are stored as the reports
//! compare them: trimmed and lower-cased ([`person_key`]).

use std::collections::BTreeMap;

use super::{Backend, Store};
use crate::report::identity::person_key;

impl Store {
    /// Record that `alias` is another email of the person whose email is `email`
    /// (replacing what `alias` pointed at before).
    pub async fn set_alias(
        &self,
        connection: &str,
        alias: &str,
        email: &str,
    ) -> anyhow::Result<()> {
        let (alias, email) = (person_key(alias), person_key(email));
        dispatch!(self.set_alias(connection, &alias, &email))
    }

    /// Forget an alias; `false` when there was none.
    pub async fn remove_alias(&self, connection: &str, alias: &str) -> anyhow::Result<bool> {
        let alias = person_key(alias);
        dispatch!(self.remove_alias(connection, &alias))
    }

    /// The alias table: alias → email.
    pub async fn aliases(&self, connection: &str) -> anyhow::Result<BTreeMap<String, String>> {
        dispatch!(self.aliases(connection))
    }

    /// Make `members` the members of team `team` (replacing its members, in one
    /// transaction); no members removes the team.
    pub async fn set_team(
        &self,
        connection: &str,
        team: &str,
        members: &[String],
    ) -> anyhow::Result<()> {
        let mut members: Vec<String> = members.iter().map(|m| person_key(m)).collect();
        members.sort();
        members.dedup();
        dispatch!(self.set_team(connection, team, members))
    }

    /// Every team: name → its members' emails, sorted.
    pub async fn teams(&self, connection: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        dispatch!(self.teams(connection))
    }
}
