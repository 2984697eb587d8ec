//! The organization's adoption trend: per period, the people active (any Codex use or any
//! commit), how many used Codex and in which cohort, and the change from the period
//! before. Everyone counts, in a team or not; people with no activity in a period are not
//! in it (the report cannot tell an absent person from someone who left).

use chrono::NaiveDate;
use serde::Serialize;

use super::activity::Activity;
use super::cohort::{Cohort, CohortThresholds};
use super::period::label;
use super::row::share;

/// One period of the trend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TrendPoint {
    pub period_start: String,
    /// People with any Codex use or any commit in the period.
    pub active_people: u32,
    /// Active people with at least one Codex-active day.
    pub people_using_codex: u32,
    /// Active people with at least one delivery-active day.
    pub people_delivering: u32,
    /// Active people per cohort (the four add up to `active_people`).
    pub people_none: u32,
    pub people_light: u32,
    pub people_moderate: u32,
    pub people_heavy: u32,
    /// `people_using_codex / active_people`; null with no one active.
    pub codex_user_share: Option<f64>,
    /// `people_using_codex` minus the previous period's; null for the first period.
    pub change_people_using_codex: Option<i64>,
    /// `codex_user_share` minus the previous period's (a difference of shares, so 0.25 is
    /// 25 percentage points); null for the first period or when either share is null.
    pub change_codex_user_share: Option<f64>,
}

impl TrendPoint {
    /// The count of `cohort`.
    pub fn cohort(&self, cohort: Cohort) -> u32 {
        match cohort {
            Cohort::None => self.people_none,
            Cohort::Light => self.people_light,
            Cohort::Moderate => self.people_moderate,
            Cohort::Heavy => self.people_heavy,
        }
    }
}

/// The trend over `periods` (every period of the report, oldest first).
pub fn trend(
    activity: &Activity,
    periods: &[NaiveDate],
    thresholds: &CohortThresholds,
) -> Vec<TrendPoint> {
    let mut out: Vec<TrendPoint> = Vec::new();
    for period in periods {
        let mut t = TrendPoint {
            period_start: label(*period),
            active_people: 0,
            people_using_codex: 0,
            people_delivering: 0,
            people_none: 0,
            people_light: 0,
            people_moderate: 0,
            people_heavy: 0,
            codex_user_share: None,
            change_people_using_codex: None,
            change_codex_user_share: None,
        };
        let start = (*period, String::new());
        for ((p, _), pp) in activity.periods.range(start..) {
            if p != period {
                break;
            }
            t.active_people += 1;
            t.people_using_codex += u32::from(!pp.codex_days.is_empty());
            t.people_delivering += u32::from(!pp.delivery_days.is_empty());
            *match thresholds.cohort(pp.codex_days.len() as u32) {
                Cohort::None => &mut t.people_none,
                Cohort::Light => &mut t.people_light,
                Cohort::Moderate => &mut t.people_moderate,
                Cohort::Heavy => &mut t.people_heavy,
            } += 1;
        }
        t.codex_user_share = share(t.people_using_codex, t.active_people);
        if let Some(prev) = out.last() {
            t.change_people_using_codex =
                Some(i64::from(t.people_using_codex) - i64::from(prev.people_using_codex));
            t.change_codex_user_share = match (t.codex_user_share, prev.codex_user_share) {
                (Some(now), Some(before)) => Some(now - before),
                _ => None,
            };
        }
        out.push(t);
    }
    out
}
