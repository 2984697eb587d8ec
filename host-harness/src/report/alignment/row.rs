//! One row of the report: one person (or one team) in one period, every figure under a
//! plain snake_case name, flat (no nested objects), so `--json` and `--csv` carry the same
//! columns ([`columns`]).
//!
//! A person's row: `period_start`, `email`, `cohort`, then the figures. A team's row:
//! `period_start`, `team`, its head counts ([`Members`]), then the same figures summed over
//! its members (no `cohort`: a team has people in every cohort, counted in `people_none` …
//! `people_heavy`).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Serialize, Serializer};

use super::activity::PersonPeriod;
use super::cohort::{Cohort, CohortThresholds};
use super::options::By;

/// One person or team in one period.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The period's first day (the Monday, or the first of the month), `YYYY-MM-DD`, UTC.
    pub period_start: String,
    /// The person's email (canonical, lower-cased); absent in a team's row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The team's name; absent in a person's row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    /// A team's head counts; absent in a person's row.
    #[serde(flatten)]
    pub members: Option<Members>,
    /// A person's adoption cohort by `codex_active_days`; absent in a team's row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cohort: Option<Cohort>,
    /// UTC days with Codex use on either path (a team: the sum over its members).
    pub codex_active_days: u32,
    /// UTC days with Codex use through an API key.
    pub api_key_active_days: u32,
    /// UTC days with Codex use through a ChatGPT sign-in.
    pub chatgpt_active_days: u32,
    pub api_key_requests: u64,
    /// Input plus output tokens.
    pub api_key_tokens: u64,
    pub chatgpt_threads: u64,
    pub chatgpt_turns: u64,
    /// Summed as decimals, exactly; written as a JSON number.
    #[serde(with = "rust_decimal::serde::float")]
    pub chatgpt_credits: Decimal,
    /// The ChatGPT surfaces used (`client_id`s), sorted, written `;`-separated
    /// (`"CODEX_CLI;CODEX_IDE_VSCODE"`, `""` for none).
    #[serde(serialize_with = "joined")]
    pub surfaces: Vec<String>,
    /// How many surfaces.
    pub surfaces_used: u32,
    /// Per surface, the UTC days it was used (a team: member-days), written
    /// `"CODEX_CLI:3;CODEX_IDE_VSCODE:1"`.
    #[serde(serialize_with = "pairs")]
    pub surface_active_days: BTreeMap<String, u32>,
    /// Commits that are not merges.
    pub commits: u64,
    /// Merge commits (not in `commits`; they carry no lines).
    pub merges: u64,
    pub lines_added: u64,
    pub lines_deleted: u64,
    pub files_changed: u64,
    /// UTC days with at least one commit that is not a merge (a team: the sum over its
    /// members).
    pub delivery_active_days: u32,
    /// Delivery-active days that were also Codex-active days.
    pub delivery_days_with_codex: u32,
    /// `delivery_days_with_codex / delivery_active_days`; null when no delivery days.
    pub codex_share_of_delivery_days: Option<f64>,
}

/// A team's head counts in a period.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Members {
    /// Declared members (distinct people after aliases), active or not.
    pub people: u32,
    /// Members with any Codex use or any commit in the period.
    pub active_people: u32,
    /// Members with at least one Codex-active day.
    pub people_using_codex: u32,
    /// Members with at least one delivery-active day.
    pub people_delivering: u32,
    /// Active members per cohort (the four add up to `active_people`).
    pub people_none: u32,
    pub people_light: u32,
    pub people_moderate: u32,
    pub people_heavy: u32,
}

impl Members {
    /// The count of `cohort`.
    pub fn cohort(&self, cohort: Cohort) -> u32 {
        match cohort {
            Cohort::None => self.people_none,
            Cohort::Light => self.people_light,
            Cohort::Moderate => self.people_moderate,
            Cohort::Heavy => self.people_heavy,
        }
    }

    pub(crate) fn add_cohort(&mut self, cohort: Cohort) {
        *match cohort {
            Cohort::None => &mut self.people_none,
            Cohort::Light => &mut self.people_light,
            Cohort::Moderate => &mut self.people_moderate,
            Cohort::Heavy => &mut self.people_heavy,
        } += 1;
    }
}

fn joined<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&v.join(";"))
}

fn pairs<S: Serializer>(v: &BTreeMap<String, u32>, s: S) -> Result<S::Ok, S::Error> {
    let text: Vec<String> = v.iter().map(|(k, n)| format!("{k}:{n}")).collect();
    s.serialize_str(&text.join(";"))
}

/// The columns before the figures, by person.
const PERSON_HEAD: [&str; 3] = ["period_start", "email", "cohort"];
/// The columns before the figures, by team.
const TEAM_HEAD: [&str; 10] = [
    "period_start",
    "team",
    "people",
    "active_people",
    "people_using_codex",
    "people_delivering",
    "people_none",
    "people_light",
    "people_moderate",
    "people_heavy",
];
/// The figures, in every row.
const FIGURES: [&str; 19] = [
    "codex_active_days",
    "api_key_active_days",
    "chatgpt_active_days",
    "api_key_requests",
    "api_key_tokens",
    "chatgpt_threads",
    "chatgpt_turns",
    "chatgpt_credits",
    "surfaces",
    "surfaces_used",
    "surface_active_days",
    "commits",
    "merges",
    "lines_added",
    "lines_deleted",
    "files_changed",
    "delivery_active_days",
    "delivery_days_with_codex",
    "codex_share_of_delivery_days",
];

/// The columns of a report by person or by team, in order: the keys of each JSON row and
/// the CSV header.
pub fn columns(by: By) -> Vec<&'static str> {
    let head: &[&str] = match by {
        By::Person => &PERSON_HEAD,
        By::Team => &TEAM_HEAD,
    };
    head.iter().chain(FIGURES.iter()).copied().collect()
}

/// `part / whole`, or `None` when `whole` is 0.
pub(crate) fn share(part: u32, whole: u32) -> Option<f64> {
    (whole > 0).then(|| f64::from(part) / f64::from(whole))
}

impl Row {
    /// Lines added plus lines deleted.
    pub fn lines_changed(&self) -> u64 {
        self.lines_added + self.lines_deleted
    }

    /// A row with every figure 0, for `period_start`.
    pub(crate) fn empty(period_start: String) -> Row {
        Row {
            period_start,
            email: None,
            team: None,
            members: None,
            cohort: None,
            codex_active_days: 0,
            api_key_active_days: 0,
            chatgpt_active_days: 0,
            api_key_requests: 0,
            api_key_tokens: 0,
            chatgpt_threads: 0,
            chatgpt_turns: 0,
            chatgpt_credits: Decimal::ZERO,
            surfaces: Vec::new(),
            surfaces_used: 0,
            surface_active_days: BTreeMap::new(),
            commits: 0,
            merges: 0,
            lines_added: 0,
            lines_deleted: 0,
            files_changed: 0,
            delivery_active_days: 0,
            delivery_days_with_codex: 0,
            codex_share_of_delivery_days: None,
        }
    }

    /// Add one person's period to this row's figures (active days add up as member-days).
    pub(crate) fn add(&mut self, p: &PersonPeriod) {
        self.codex_active_days += p.codex_days.len() as u32;
        self.api_key_active_days += p.api_key_days.len() as u32;
        self.chatgpt_active_days += p.chatgpt_days.len() as u32;
        self.api_key_requests += p.api_key_requests;
        self.api_key_tokens += p.api_key_tokens;
        self.chatgpt_threads += p.chatgpt_threads;
        self.chatgpt_turns += p.chatgpt_turns;
        self.chatgpt_credits += p.chatgpt_credits;
        for (surface, days) in &p.surface_days {
            *self.surface_active_days.entry(surface.clone()).or_default() += days.len() as u32;
        }
        self.surfaces = self.surface_active_days.keys().cloned().collect();
        self.surfaces_used = self.surfaces.len() as u32;
        self.commits += p.commits;
        self.merges += p.merges;
        self.lines_added += p.lines_added;
        self.lines_deleted += p.lines_deleted;
        self.files_changed += p.files_changed;
        self.delivery_active_days += p.delivery_days.len() as u32;
        self.delivery_days_with_codex += p.delivery_days_with_codex();
        self.codex_share_of_delivery_days =
            share(self.delivery_days_with_codex, self.delivery_active_days);
    }

    /// One person's row.
    pub(crate) fn person(
        period_start: String,
        email: &str,
        p: &PersonPeriod,
        thresholds: &CohortThresholds,
    ) -> Row {
        let mut row = Row::empty(period_start);
        row.email = Some(email.to_string());
        row.add(p);
        row.cohort = Some(thresholds.cohort(row.codex_active_days));
        row
    }
}
