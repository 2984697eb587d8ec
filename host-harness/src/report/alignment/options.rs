//! What the report is asked for: by person or by team, per week or per month, the smallest
//! team shown, and optionally a window of UTC days.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::period::AlignPeriod;

/// The default `--min-group`: team aggregates of fewer people are not shown.
pub const DEFAULT_MIN_GROUP: usize = 5;

/// Who a row is about (`--by person|team`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum By {
    /// One row per person (canonical email) and period in which the person was active.
    Person,
    /// One row per shown team and period, every period of the report.
    Team,
}

/// The report's options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub by: By,
    pub period: AlignPeriod,
    /// Teams of fewer people than this (declared members, after aliases) are hidden.
    pub min_group: usize,
    /// Only inputs on or after this UTC day (say, the first day Codex data was imported,
    /// so years of git history do not read as years without Codex).
    pub since: Option<NaiveDate>,
    /// Only inputs on or before this UTC day.
    pub until: Option<NaiveDate>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            by: By::Person,
            period: AlignPeriod::Week,
            min_group: DEFAULT_MIN_GROUP,
            since: None,
            until: None,
        }
    }
}

impl Options {
    /// Whether a UTC day is inside the window.
    pub fn contains(&self, day: NaiveDate) -> bool {
        self.since.is_none_or(|s| day >= s) && self.until.is_none_or(|u| day <= u)
    }
}
