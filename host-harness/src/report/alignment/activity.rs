//! The inputs folded per person (canonical email) and period, keeping the UTC days each
//! thing happened on, so active days are counted as distinct days.
//!
//! - A **Codex-active day** is a UTC day with any Codex use on either path: an API-key
//!   figure (requests or tokens) above 0, or a ChatGPT figure (threads, turns, credits,
//!   tokens, or any surface's or model's) above 0. A day row with nothing above 0 (or code
//!   reviews alone) is no use.
//! - A surface counts on a day when its threads, turns or credits are above 0. Surfaces are
//!   the ChatGPT path's (`client_id`); the API-key path reports none.
//! - A **delivery-active day** is a UTC day with at least one commit that is not a merge.
//!   Merges are counted apart (`merges`); they carry no lines (the delivery module gives
//!   them none: their lines are in the commits merged).

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::aliases::Aliases;
use super::error::AlignmentError;
use super::input::AlignmentInput;
use super::options::Options;
use crate::report::identity::{is_person, person_key};
use crate::report::people::{ApiKeyUse, ChatgptUse, PersonRow};

/// One person's inputs in one period.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PersonPeriod {
    pub codex_days: BTreeSet<NaiveDate>,
    pub api_key_days: BTreeSet<NaiveDate>,
    pub chatgpt_days: BTreeSet<NaiveDate>,
    /// Per ChatGPT surface, the days it was used.
    pub surface_days: BTreeMap<String, BTreeSet<NaiveDate>>,
    pub delivery_days: BTreeSet<NaiveDate>,
    pub api_key_requests: u64,
    pub api_key_tokens: u64,
    pub chatgpt_threads: u64,
    pub chatgpt_turns: u64,
    pub chatgpt_credits: Decimal,
    /// Commits that are not merges.
    pub commits: u64,
    pub merges: u64,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub files_changed: u64,
}

impl PersonPeriod {
    /// Delivery days on which the person also used Codex.
    pub fn delivery_days_with_codex(&self) -> u32 {
        self.delivery_days.intersection(&self.codex_days).count() as u32
    }
}

/// What is known of one person over the whole window (for the unmatched lists).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PersonSeen {
    /// The emails (lower-cased) their commits carry.
    pub git_emails: BTreeSet<String>,
    /// The emails (lower-cased) their Codex use carries.
    pub codex_emails: BTreeSet<String>,
    /// Their names, from git and from the Platform's directory.
    pub names: BTreeSet<String>,
    /// Commits, merges included.
    pub commits: u64,
    pub first_commit: Option<NaiveDate>,
    pub last_commit: Option<NaiveDate>,
    pub codex_days: BTreeSet<NaiveDate>,
}

/// Everything the report needs, folded.
#[derive(Clone, Debug, Default)]
pub struct Activity {
    /// By (period start, canonical email).
    pub periods: BTreeMap<(NaiveDate, String), PersonPeriod>,
    /// By canonical email.
    pub people: BTreeMap<String, PersonSeen>,
    /// The first and last UTC day with a Codex-active day or a commit, in the window.
    pub first_day: Option<NaiveDate>,
    pub last_day: Option<NaiveDate>,
}

/// Whether the API-key part of a day row is Codex use.
fn api_key_used(u: &ApiKeyUse) -> bool {
    u.requests > 0
        || u.tokens > 0
        || u.input_tokens > 0
        || u.output_tokens > 0
        || u.cached_input_tokens > 0
}

/// Whether the ChatGPT part of a day row is Codex use.
fn chatgpt_used(c: &ChatgptUse) -> bool {
    c.threads > 0
        || c.turns > 0
        || c.credits > Decimal::ZERO
        || c.tokens.values().any(|n| *n > 0)
        || c.by_client
            .values()
            .any(|a| a.threads > 0 || a.turns > 0 || a.credits > Decimal::ZERO)
        || c.by_model
            .values()
            .any(|m| m.credits > Decimal::ZERO || m.tokens.values().any(|n| *n > 0))
}

impl Activity {
    fn seen(&mut self, day: NaiveDate) {
        self.first_day = Some(self.first_day.map_or(day, |f| f.min(day)));
        self.last_day = Some(self.last_day.map_or(day, |l| l.max(day)));
    }

    fn add_codex_day(&mut self, row: &PersonRow, day: NaiveDate, who: String, options: &Options) {
        let (api, chat) = (api_key_used(&row.api_key), chatgpt_used(&row.chatgpt));
        if !api && !chat {
            return;
        }
        self.seen(day);
        let seen = self.people.entry(who.clone()).or_default();
        seen.codex_emails.insert(person_key(&row.email));
        if let Some(name) = row.name.as_ref().filter(|n| !n.trim().is_empty()) {
            seen.names.insert(name.trim().to_string());
        }
        seen.codex_days.insert(day);
        let p = self
            .periods
            .entry((options.period.start_of(day), who))
            .or_default();
        p.codex_days.insert(day);
        if api {
            p.api_key_days.insert(day);
        }
        if chat {
            p.chatgpt_days.insert(day);
        }
        for (surface, a) in &row.chatgpt.by_client {
            if a.threads > 0 || a.turns > 0 || a.credits > Decimal::ZERO {
                p.surface_days
                    .entry(surface.clone())
                    .or_default()
                    .insert(day);
            }
        }
        p.api_key_requests += row.api_key.requests;
        p.api_key_tokens += row.api_key.tokens;
        p.chatgpt_threads += row.chatgpt.threads;
        p.chatgpt_turns += row.chatgpt.turns;
        p.chatgpt_credits += row.chatgpt.credits;
    }

    fn add_commit(&mut self, c: &crate::delivery::Commit, who: String, options: &Options) {
        let day = c.author_time.date_naive();
        self.seen(day);
        let seen = self.people.entry(who.clone()).or_default();
        seen.git_emails.insert(person_key(&c.author_email));
        if !c.author_name.trim().is_empty() {
            seen.names.insert(c.author_name.trim().to_string());
        }
        seen.commits += 1;
        seen.first_commit = Some(seen.first_commit.map_or(day, |f| f.min(day)));
        seen.last_commit = Some(seen.last_commit.map_or(day, |l| l.max(day)));
        let p = self
            .periods
            .entry((options.period.start_of(day), who))
            .or_default();
        if c.merge {
            p.merges += 1;
            return;
        }
        p.commits += 1;
        p.delivery_days.insert(day);
        p.lines_added += c.lines_added;
        p.lines_deleted += c.lines_deleted;
        p.files_changed += c.files_changed;
    }
}

/// Fold `input` per person and period, inside the options' window.
pub fn collect(
    input: &AlignmentInput,
    aliases: &Aliases,
    options: &Options,
) -> Result<Activity, AlignmentError> {
    let mut a = Activity::default();
    for row in &input.codex_days {
        if !is_person(&row.email) {
            continue;
        }
        let day = row
            .period_start
            .as_deref()
            .filter(|s| s.len() == 10)
            .and_then(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok())
            .ok_or_else(|| AlignmentError::NotDaily {
                email: row.email.clone(),
                period_start: row.period_start.clone(),
            })?;
        if options.contains(day) {
            a.add_codex_day(row, day, aliases.resolve(&row.email), options);
        }
    }
    let mut ids = BTreeSet::new();
    for c in &input.commits {
        if options.contains(c.author_time.date_naive()) && ids.insert(c.id.as_str()) {
            a.add_commit(c, aliases.resolve(&c.author_email), options);
        }
    }
    Ok(a)
}
