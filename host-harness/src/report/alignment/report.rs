//! The report: rows by person or team, the organization's trend, the unmatched lists, the
//! hidden teams and the cohort thresholds, computed from plain inputs.

use serde::Serialize;

use super::activity::collect;
use super::aliases::Aliases;
use super::cohort::CohortThresholds;
use super::error::AlignmentError;
use super::input::AlignmentInput;
use super::options::{By, Options};
use super::period::{label, AlignPeriod};
use super::row::Row;
use super::team::{hidden_note, team_rows, HiddenTeam};
use super::trend::{trend, TrendPoint};
use super::unmatched::{unmatched, UnmatchedCodexUser, UnmatchedGitAuthor};

/// The whole report. It serializes as `{"rows": [...], ...}`: the flat rows first, then
/// the rest.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlignmentReport {
    /// By period then email (or team name). By person: a row per person and period in which
    /// the person had any Codex use or any commit. By team: a row per shown team and every
    /// period.
    pub rows: Vec<Row>,
    pub by: By,
    pub period: AlignPeriod,
    /// Every period from the first to the last (or the window's bounds), oldest first, as
    /// `YYYY-MM-DD`: the charts' x axis; periods with no activity included.
    pub periods: Vec<String>,
    pub thresholds: CohortThresholds,
    /// The organization's adoption, one point per period.
    pub trend: Vec<TrendPoint>,
    pub unmatched_git_authors: Vec<UnmatchedGitAuthor>,
    pub unmatched_codex_users: Vec<UnmatchedCodexUser>,
    pub min_group: usize,
    /// Teams not shown for having fewer than `min_group` people (empty by person).
    pub hidden_teams: Vec<HiddenTeam>,
    /// Sentences for whoever reads the report (why teams are missing).
    pub notes: Vec<String>,
}

/// Compute the report. Fails only on inputs it cannot read as intended: an alias cycle, or
/// Codex rows that are not per UTC day.
pub fn alignment(
    input: &AlignmentInput,
    options: &Options,
) -> Result<AlignmentReport, AlignmentError> {
    let aliases = Aliases::new(&input.aliases)?;
    let activity = collect(input, &aliases, options)?;
    let thresholds = CohortThresholds::for_period(options.period);
    let first = options.since.or(activity.first_day);
    let last = options.until.or(activity.last_day);
    let periods = match (first, last) {
        (Some(f), Some(l)) => options.period.range(f, l),
        _ => Vec::new(),
    };
    let (rows, hidden_teams) = match options.by {
        By::Person => {
            let rows = activity
                .periods
                .iter()
                .map(|((p, email), pp)| Row::person(label(*p), email, pp, &thresholds))
                .collect();
            (rows, Vec::new())
        }
        By::Team => team_rows(
            &input.teams,
            &aliases,
            &activity,
            &periods,
            &thresholds,
            options.min_group,
        ),
    };
    let (unmatched_git_authors, unmatched_codex_users) = unmatched(&activity);
    let notes = hidden_note(&hidden_teams, options.min_group)
        .into_iter()
        .collect();
    Ok(AlignmentReport {
        rows,
        by: options.by,
        period: options.period,
        trend: trend(&activity, &periods, &thresholds),
        periods: periods.into_iter().map(label).collect(),
        thresholds,
        unmatched_git_authors,
        unmatched_codex_users,
        min_group: options.min_group,
        hidden_teams,
        notes,
    })
}
