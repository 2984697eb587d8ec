//! The report beside delivery on a connection's page: what the platform's alignment report
//! ([`crate::report::aligned`]) makes of the connection's usage and of the commits of its
//! registered repositories — the three charts (inlined SVG), the per-person × period table,
//! the team table (small teams hidden, with the reason), the organization's adoption trend,
//! and the people on one side only (so an admin can join them with the alias form) — and
//! what the Delivery section lists: the registered repositories, the aliases and the teams.
//!
//! The period is `?period=week|month` (week by default); the per-person table shows the
//! most recent [`PEOPLE_SHOWN`] rows unless `?all=1`. This file is the page's one swap
//! point for the report: the report's own field names are read here and nowhere else.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::human::thousands;
use crate::report::aligned::{aligned_report, aligned_view, FRAMING};
use crate::report::alignment::{AlignPeriod, AlignmentReport, By, Options, Row, TrendPoint};
use crate::store::Store;

/// Person × period rows shown before "show all".
pub(crate) const PEOPLE_SHOWN: usize = 60;

/// `?period=…`: week unless `month`.
pub(crate) fn parse_period(s: Option<&str>) -> AlignPeriod {
    match s {
        Some("month") => AlignPeriod::Month,
        _ => AlignPeriod::Week,
    }
}

#[derive(Serialize)]
pub(crate) struct AlignedPage {
    /// `week` or `month`.
    pub period: &'static str,
    pub framing: &'static str,
    /// The cohort thresholds, stated.
    pub thresholds: String,
    /// Whether there is anything to report (periods with use or delivery).
    pub any: bool,
    pub periods: usize,
    pub charts: Vec<ChartView>,
    pub people: Vec<PersonRowView>,
    /// Person rows in all, and whether every one is shown.
    pub people_total: usize,
    pub people_all: bool,
    pub teams: Vec<TeamRowView>,
    pub hidden_teams: Vec<HiddenTeamView>,
    pub min_group: usize,
    pub trend: Vec<TrendView>,
    pub unmatched_authors: Vec<UnmatchedAuthorView>,
    pub unmatched_users: Vec<UnmatchedUserView>,
    pub notes: Vec<String>,
}

/// One chart: its name (`data-chart`) and its SVG, markup the chart module wrote and
/// escaped (inlined as is; it passes the page's CSP, see [`crate::charts::check`]).
#[derive(Serialize)]
pub(crate) struct ChartView {
    pub name: &'static str,
    pub svg: String,
}

/// The figures of a row, as text, for a person or a team.
#[derive(Serialize)]
pub(crate) struct Figures {
    pub active_days: u32,
    pub api_days: u32,
    pub seat_days: u32,
    pub requests: String,
    pub tokens: String,
    pub threads: String,
    pub turns: String,
    pub credits: String,
    pub surfaces: String,
    pub commits: String,
    pub merges: String,
    pub lines_added: String,
    pub lines_deleted: String,
    pub delivery_days: u32,
    /// Delivery days that were days of use, over delivery days.
    pub share: String,
    /// The plain numbers, for tests and scripts.
    pub commits_n: u64,
}

#[derive(Serialize)]
pub(crate) struct PersonRowView {
    pub period: String,
    pub email: String,
    pub cohort: &'static str,
    pub f: Figures,
}

#[derive(Serialize)]
pub(crate) struct TeamRowView {
    pub period: String,
    pub team: String,
    pub people: u32,
    pub active_people: u32,
    pub people_using: u32,
    pub people_delivering: u32,
    /// none / light / moderate / heavy head counts.
    pub cohorts: [u32; 4],
    pub f: Figures,
}

#[derive(Serialize)]
pub(crate) struct HiddenTeamView {
    pub team: String,
    pub people: u32,
}

#[derive(Serialize)]
pub(crate) struct TrendView {
    pub period: String,
    pub active_people: u32,
    pub people_using: u32,
    pub people_delivering: u32,
    pub cohorts: [u32; 4],
    pub share: String,
    pub change: String,
}

#[derive(Serialize)]
pub(crate) struct UnmatchedAuthorView {
    pub email: String,
    pub other_emails: String,
    pub names: String,
    pub commits: String,
    pub first: String,
    pub last: String,
}

#[derive(Serialize)]
pub(crate) struct UnmatchedUserView {
    pub email: String,
    pub other_emails: String,
    pub names: String,
    pub active_days: u32,
    pub first: String,
    pub last: String,
}

/// The Delivery section's lists.
#[derive(Serialize)]
pub(crate) struct DeliveryView {
    pub repositories: Vec<RepositoryView>,
    pub aliases: Vec<(String, String)>,
    pub teams: Vec<TeamDefView>,
}

#[derive(Serialize)]
pub(crate) struct RepositoryView {
    pub path: String,
    pub added_at: String,
    pub last_read: Option<String>,
    pub last_new: String,
    pub commits: String,
    pub problem: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct TeamDefView {
    pub name: String,
    pub members: String,
    pub size: usize,
}

fn pct(share: Option<f64>) -> String {
    share.map_or_else(|| "—".to_string(), |s| format!("{:.0}%", s * 100.0))
}

fn figures(r: &Row) -> Figures {
    Figures {
        active_days: r.codex_active_days,
        api_days: r.api_key_active_days,
        seat_days: r.chatgpt_active_days,
        requests: thousands(r.api_key_requests),
        tokens: thousands(r.api_key_tokens),
        threads: thousands(r.chatgpt_threads),
        turns: thousands(r.chatgpt_turns),
        credits: r.chatgpt_credits.normalize().to_string(),
        surfaces: r.surfaces.join(", "),
        commits: thousands(r.commits),
        merges: thousands(r.merges),
        lines_added: thousands(r.lines_added),
        lines_deleted: thousands(r.lines_deleted),
        delivery_days: r.delivery_active_days,
        share: pct(r.codex_share_of_delivery_days),
        commits_n: r.commits,
    }
}

fn trend_view(t: &TrendPoint) -> TrendView {
    TrendView {
        period: t.period_start.clone(),
        active_people: t.active_people,
        people_using: t.people_using_codex,
        people_delivering: t.people_delivering,
        cohorts: [
            t.people_none,
            t.people_light,
            t.people_moderate,
            t.people_heavy,
        ],
        share: pct(t.codex_user_share),
        change: match (t.change_people_using_codex, t.change_codex_user_share) {
            (Some(n), Some(s)) => format!("{n:+} people, {:+.0} pts", s * 100.0),
            (Some(n), None) => format!("{n:+} people"),
            _ => "—".to_string(),
        },
    }
}

/// The page's part of the report of `by_person` and `by_team` (the same period).
pub(crate) fn page_view(
    by_person: &AlignmentReport,
    by_team: &AlignmentReport,
    charts: Vec<ChartView>,
    all: bool,
) -> AlignedPage {
    // Newest period first, then by email.
    let mut rows: Vec<&Row> = by_person.rows.iter().collect();
    rows.sort_by(|a, b| {
        b.period_start
            .cmp(&a.period_start)
            .then(a.email.cmp(&b.email))
    });
    let people_total = rows.len();
    let people_all = all || people_total <= PEOPLE_SHOWN;
    let shown = if people_all {
        people_total
    } else {
        PEOPLE_SHOWN
    };
    let people = rows
        .into_iter()
        .take(shown)
        .map(|r| PersonRowView {
            period: r.period_start.clone(),
            email: r.email.clone().unwrap_or_default(),
            cohort: r.cohort.map_or("", |c| c.name()),
            f: figures(r),
        })
        .collect();
    let teams = by_team
        .rows
        .iter()
        .map(|r| {
            let m = r.members.clone().unwrap_or_default();
            TeamRowView {
                period: r.period_start.clone(),
                team: r.team.clone().unwrap_or_default(),
                people: m.people,
                active_people: m.active_people,
                people_using: m.people_using_codex,
                people_delivering: m.people_delivering,
                cohorts: [
                    m.people_none,
                    m.people_light,
                    m.people_moderate,
                    m.people_heavy,
                ],
                f: figures(r),
            }
        })
        .collect();
    let list = |v: &[String]| v.join(", ");
    AlignedPage {
        period: by_person.period.name(),
        framing: FRAMING,
        thresholds: by_person.thresholds.describe(),
        any: !by_person.periods.is_empty(),
        periods: by_person.periods.len(),
        charts,
        people,
        people_total,
        people_all,
        teams,
        hidden_teams: by_team
            .hidden_teams
            .iter()
            .map(|h| HiddenTeamView {
                team: h.team.clone(),
                people: h.people,
            })
            .collect(),
        min_group: by_team.min_group,
        trend: by_person.trend.iter().map(trend_view).collect(),
        unmatched_authors: by_person
            .unmatched_git_authors
            .iter()
            .map(|u| UnmatchedAuthorView {
                email: u.email.clone(),
                other_emails: list(
                    &u.git_emails
                        .iter()
                        .filter(|e| e.to_lowercase() != u.email)
                        .cloned()
                        .collect::<Vec<_>>(),
                ),
                names: list(&u.names),
                commits: thousands(u.commits),
                first: u.first_commit.clone(),
                last: u.last_commit.clone(),
            })
            .collect(),
        unmatched_users: by_person
            .unmatched_codex_users
            .iter()
            .map(|u| UnmatchedUserView {
                email: u.email.clone(),
                other_emails: list(
                    &u.codex_emails
                        .iter()
                        .filter(|e| e.to_lowercase() != u.email)
                        .cloned()
                        .collect::<Vec<_>>(),
                ),
                names: list(&u.names),
                active_days: u.codex_active_days,
                first: u.first_day.clone(),
                last: u.last_day.clone(),
            })
            .collect(),
        notes: by_team.notes.clone(),
    }
}

/// The report of `connection` per `period`, by person (with the organization's charts) and
/// by team.
pub(crate) async fn view(
    store: &Store,
    connection: &str,
    period: AlignPeriod,
    all: bool,
) -> anyhow::Result<AlignedPage> {
    let options = Options {
        by: By::Person,
        period,
        ..Options::default()
    };
    let person = aligned_view(store, connection, &options).await?;
    let team = aligned_report(
        store,
        connection,
        &Options {
            by: By::Team,
            ..options
        },
    )
    .await?;
    let charts = person
        .charts
        .all()
        .into_iter()
        .map(|(name, svg)| ChartView {
            name,
            svg: svg.to_string(),
        })
        .collect();
    Ok(page_view(&person.report, &team, charts, all))
}

/// The Delivery section's lists of `connection`.
pub(crate) async fn delivery(store: &Store, connection: &str) -> anyhow::Result<DeliveryView> {
    let repositories = store
        .repositories(connection)
        .await?
        .into_iter()
        .map(|r| RepositoryView {
            path: r.path,
            added_at: super::views::when(&r.added_at),
            last_read: r.last_import_at.as_deref().map(super::views::when),
            last_new: thousands(r.last_new_commits),
            commits: thousands(r.commits),
            problem: r.last_error,
        })
        .collect();
    let aliases: BTreeMap<String, String> = store.aliases(connection).await?;
    let teams = store
        .teams(connection)
        .await?
        .into_iter()
        .map(|(name, members)| TeamDefView {
            size: members.len(),
            members: members.join(", "),
            name,
        })
        .collect();
    Ok(DeliveryView {
        repositories,
        aliases: aliases.into_iter().collect(),
        teams,
    })
}
