//! Team rows: a team is a named set of people (emails, resolved through the aliases; a
//! person may be in several teams). Its row in a period sums its members' figures:
//!
//! - counts and lines are sums;
//! - **active days are member-days**: `codex_active_days` is the sum over members of their
//!   Codex-active days (two members on the same Monday is 2), likewise
//!   `delivery_active_days`, `api_key_active_days`, `chatgpt_active_days` and each
//!   surface's days; `codex_share_of_delivery_days` is the members' delivery days with
//!   Codex over their delivery days;
//! - head counts ([`Members`]): declared members, members active in the period (any Codex
//!   use or any commit), using Codex, delivering, and active members per cohort.
//!
//! A team has a row in **every** period of the report (zeros included), so its trend has
//! no gaps. A team of fewer declared members than `min_group` is **hidden**: no row at
//! all, and listed in [`HiddenTeam`]s (name and size) so an admin knows why it is missing.
//! The size is the declared membership, fixed over the periods, so a team is either shown
//! in every period or in none.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::activity::Activity;
use super::aliases::Aliases;
use super::cohort::CohortThresholds;
use super::period::label;
use super::row::{Members, Row};

/// A team left out for having fewer people than the smallest group shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HiddenTeam {
    pub team: String,
    /// Its declared members (distinct people after aliases).
    pub people: u32,
}

/// The rows of every team of at least `min_group` people, by period then team name, and
/// the teams hidden.
pub fn team_rows(
    teams: &BTreeMap<String, Vec<String>>,
    aliases: &Aliases,
    activity: &Activity,
    periods: &[NaiveDate],
    thresholds: &CohortThresholds,
    min_group: usize,
) -> (Vec<Row>, Vec<HiddenTeam>) {
    let mut rows = Vec::new();
    let mut hidden = Vec::new();
    let mut shown = Vec::new();
    for (name, emails) in teams {
        let members = aliases.resolve_all(emails);
        if members.len() < min_group {
            hidden.push(HiddenTeam {
                team: name.clone(),
                people: members.len() as u32,
            });
        } else {
            shown.push((name, members));
        }
    }
    for period in periods {
        for (name, members) in &shown {
            let mut row = Row::empty(label(*period));
            row.team = Some((*name).clone());
            let mut m = Members {
                people: members.len() as u32,
                ..Members::default()
            };
            for email in members {
                let Some(p) = activity.periods.get(&(*period, email.clone())) else {
                    continue;
                };
                m.active_people += 1;
                m.people_using_codex += u32::from(!p.codex_days.is_empty());
                m.people_delivering += u32::from(!p.delivery_days.is_empty());
                m.add_cohort(thresholds.cohort(p.codex_days.len() as u32));
                row.add(p);
            }
            row.members = Some(m);
            rows.push(row);
        }
    }
    (rows, hidden)
}

/// The note for hidden teams: "2 teams hidden (fewer than 5 people): design (3), infra (4)".
pub fn hidden_note(hidden: &[HiddenTeam], min_group: usize) -> Option<String> {
    if hidden.is_empty() {
        return None;
    }
    let list: Vec<String> = hidden
        .iter()
        .map(|h| format!("{} ({})", h.team, h.people))
        .collect();
    Some(format!(
        "{} team{} hidden (fewer than {min_group} people): {}",
        hidden.len(),
        if hidden.len() == 1 { "" } else { "s" },
        list.join(", ")
    ))
}
