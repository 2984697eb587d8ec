//! The rows as the charts module's inputs ([`crate::charts`]): each function sums the rows
//! it is given per period, so the charts show exactly the rows' numbers. Given a report's
//! person rows, that is the whole organization; given one team's rows, that team. (Given
//! several teams' rows, a person in two teams counts twice: chart teams one at a time, or
//! the organization from person rows.) Rows of a period not in `periods` are left out; a
//! period with no row is 0.
//!
//! - [`use_over_time`]: Codex-active days (person-days) by path, and by ChatGPT surface;
//! - [`cohorts`]: people per adoption cohort (a person's row counts in its cohort, a team's
//!   row adds its `people_none` … `people_heavy`), with the thresholds as the legend's bands;
//! - [`beside_delivery`]: Codex-active days beside commits (merges excluded) and lines
//!   changed (added plus deleted).

use std::collections::{BTreeMap, BTreeSet};

use super::cohort::{Cohort, CohortThresholds};
use super::report::AlignmentReport;
use super::row::Row;
use crate::charts::{Cohorts, Panel, Series, UseBesideDelivery, UseOverTime};

/// Series names and panel titles, as the charts show them.
pub const EITHER_PATH: &str = "Either path";
pub const API_KEY: &str = "API key";
pub const CHATGPT: &str = "ChatGPT sign-in";
pub const BY_PATH: &str = "Codex-active days, by path";
pub const BY_SURFACE: &str = "ChatGPT sign-in, by surface";
pub const PERSON_DAYS: &str = "person-days";
pub const CODEX_ACTIVE_DAYS: &str = "Codex-active days";

/// Per period (in `periods`' order), `f` summed over the rows of that period.
fn per_period(periods: &[String], rows: &[Row], f: impl Fn(&Row) -> f64) -> Vec<f64> {
    let index: BTreeMap<&str, usize> = periods
        .iter()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let mut out = vec![0.0; periods.len()];
    for row in rows {
        if let Some(&i) = index.get(row.period_start.as_str()) {
            out[i] += f(row);
        }
    }
    out
}

/// Codex use over time: Codex-active days by path (either path, API key, ChatGPT sign-in),
/// then by surface (one series per surface seen in the rows, sorted).
pub fn use_over_time(periods: &[String], rows: &[Row]) -> UseOverTime {
    let by_path = vec![
        Series::new(
            EITHER_PATH,
            per_period(periods, rows, |r| f64::from(r.codex_active_days)),
        ),
        Series::new(
            API_KEY,
            per_period(periods, rows, |r| f64::from(r.api_key_active_days)),
        ),
        Series::new(
            CHATGPT,
            per_period(periods, rows, |r| f64::from(r.chatgpt_active_days)),
        ),
    ];
    let surfaces: BTreeSet<&String> = rows
        .iter()
        .flat_map(|r| r.surface_active_days.keys())
        .collect();
    let by_surface = surfaces
        .into_iter()
        .map(|s| {
            Series::new(
                s.clone(),
                per_period(periods, rows, |r| {
                    f64::from(r.surface_active_days.get(s).copied().unwrap_or(0))
                }),
            )
        })
        .collect();
    UseOverTime {
        title: "Codex use over time".to_string(),
        periods: periods.to_vec(),
        panels: vec![
            Panel {
                title: BY_PATH.to_string(),
                unit: PERSON_DAYS.to_string(),
                series: by_path,
            },
            Panel {
                title: BY_SURFACE.to_string(),
                unit: PERSON_DAYS.to_string(),
                series: by_surface,
            },
        ],
    }
}

/// How many people of `row` are in `cohort`.
fn in_cohort(row: &Row, cohort: Cohort) -> f64 {
    match (&row.members, row.cohort) {
        (Some(m), _) => f64::from(m.cohort(cohort)),
        (None, Some(c)) if c == cohort => 1.0,
        _ => 0.0,
    }
}

/// Adoption cohorts over time.
pub fn cohorts(periods: &[String], rows: &[Row], thresholds: &CohortThresholds) -> Cohorts {
    let column = |c: Cohort| -> Vec<u32> {
        per_period(periods, rows, |r| in_cohort(r, c))
            .into_iter()
            .map(|v| v as u32)
            .collect()
    };
    Cohorts {
        title: format!("Adoption cohorts, per {}", thresholds.period.name()),
        periods: periods.to_vec(),
        none: column(Cohort::None),
        light: column(Cohort::Light),
        moderate: column(Cohort::Moderate),
        heavy: column(Cohort::Heavy),
        bands: Some(thresholds.bands()),
    }
}

/// Codex use beside delivery: Codex-active days, commits, lines changed.
pub fn beside_delivery(periods: &[String], rows: &[Row]) -> UseBesideDelivery {
    UseBesideDelivery {
        title: "Codex use beside delivery".to_string(),
        periods: periods.to_vec(),
        usage: Series::new(
            CODEX_ACTIVE_DAYS,
            per_period(periods, rows, |r| f64::from(r.codex_active_days)),
        ),
        commits: per_period(periods, rows, |r| r.commits as f64),
        lines_changed: per_period(periods, rows, |r| r.lines_changed() as f64),
    }
}

impl AlignmentReport {
    /// [`use_over_time`] of the report's rows over its periods.
    pub fn use_over_time_chart(&self) -> UseOverTime {
        use_over_time(&self.periods, &self.rows)
    }

    /// The organization's cohorts from the trend (everyone active, whatever the rows are
    /// by): the same numbers as [`cohorts`] of the person rows.
    pub fn cohorts_chart(&self) -> Cohorts {
        let column = |c: Cohort| self.trend.iter().map(|t| t.cohort(c)).collect();
        Cohorts {
            title: format!("Adoption cohorts, per {}", self.thresholds.period.name()),
            periods: self.trend.iter().map(|t| t.period_start.clone()).collect(),
            none: column(Cohort::None),
            light: column(Cohort::Light),
            moderate: column(Cohort::Moderate),
            heavy: column(Cohort::Heavy),
            bands: Some(self.thresholds.bands()),
        }
    }

    /// [`beside_delivery`] of the report's rows over its periods.
    pub fn beside_delivery_chart(&self) -> UseBesideDelivery {
        beside_delivery(&self.periods, &self.rows)
    }
}
