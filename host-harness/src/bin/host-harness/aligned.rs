//! `report --by person|team`: Codex use beside delivery (see docs/alignment.md). The rows
//! as a table (thousands separated), as `{"rows": [...], …}` (`--json`) or as CSV (`--csv`,
//! the same columns), and the charts as one SVG document (`--chart FILE.svg`).
//!
//! `report` without `--by` stays the per-person view of issue 13 (`--period all|day|week`);
//! `--by` makes it this report, which takes `--period week|month` (week by default). The
//! options only this report has (`--csv`, `--min-group`, `--chart`, `--since`, `--until`)
//! are refused without `--by`, and `--min-group` with `--by person` (it hides teams).

use std::path::PathBuf;

use chrono::NaiveDate;
use serde_json::Value;

use host_harness::human::thousands;
use host_harness::report::aligned::{aligned_report, aligned_view, FRAMING};
use host_harness::report::alignment::{
    AlignPeriod, AlignmentReport, By, Options, Row, DEFAULT_MIN_GROUP,
};
use host_harness::runner::HostError;
use host_harness::store::Store;

use crate::args::{ReportBy, ReportCut};
use crate::output::decimal;

/// Unmatched identities shown in the table output (all of them in `--json`).
const UNMATCHED_SHOWN: usize = 20;

/// How the aligned report is asked for.
pub struct Request {
    pub options: Options,
    pub json: bool,
    pub csv: bool,
    pub chart: Option<PathBuf>,
}

fn usage(message: impl Into<String>) -> HostError {
    HostError::new("usage", message).with_hint(
        "`host-harness report --help` lists the options; docs/alignment.md explains the report.",
    )
}

impl Request {
    /// The aligned report asked for (`None`: the per-person view), or a usage error for
    /// options that mean nothing together.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        by: Option<ReportBy>,
        period: Option<ReportCut>,
        json: bool,
        csv: bool,
        min_group: Option<u32>,
        chart: Option<PathBuf>,
        since: Option<NaiveDate>,
        until: Option<NaiveDate>,
    ) -> Result<Option<Request>, HostError> {
        let Some(by) = by else {
            let only_aligned = [
                (period == Some(ReportCut::Month), "--period month"),
                (csv, "--csv"),
                (min_group.is_some(), "--min-group"),
                (chart.is_some(), "--chart"),
                (since.is_some(), "--since"),
                (until.is_some(), "--until"),
            ];
            if let Some((_, flag)) = only_aligned.iter().find(|(given, _)| *given) {
                return Err(usage(format!(
                    "{flag} is an option of the report beside delivery: add --by person or --by team (without --by, `report` is the per-person view, --period all, day or week)"
                )));
            }
            return Ok(None);
        };
        let period = match period {
            None | Some(ReportCut::Week) => AlignPeriod::Week,
            Some(ReportCut::Month) => AlignPeriod::Month,
            Some(ReportCut::All) | Some(ReportCut::Day) => {
                return Err(usage("--by takes --period week or month (the report beside delivery is per UTC week or calendar month)"))
            }
        };
        let by = match by {
            ReportBy::Person => By::Person,
            ReportBy::Team => By::Team,
        };
        if by == By::Person && min_group.is_some() {
            return Err(usage(
                "--min-group hides small teams: it applies to --by team only",
            ));
        }
        if let (Some(s), Some(u)) = (since, until) {
            if s > u {
                return Err(usage(format!("--since {s} is after --until {u}")));
            }
        }
        Ok(Some(Request {
            options: Options {
                by,
                period,
                min_group: min_group.map_or(DEFAULT_MIN_GROUP, |n| n as usize),
                since,
                until,
            },
            json,
            csv,
            chart,
        }))
    }
}

/// Print the report of `connection` as asked, and write its charts.
pub async fn run(store: &Store, connection: &str, request: Request) -> Result<(), HostError> {
    let report_error =
        |e: anyhow::Error| match e.downcast::<host_harness::report::alignment::AlignmentError>() {
            Ok(a) => usage(a.to_string()),
            Err(e) => HostError::from(e),
        };
    let (report, charts) = match &request.chart {
        Some(_) => {
            let view = aligned_view(store, connection, &request.options)
                .await
                .map_err(report_error)?;
            (view.report, Some(view.charts))
        }
        None => (
            aligned_report(store, connection, &request.options)
                .await
                .map_err(report_error)?,
            None,
        ),
    };
    if request.json {
        println!("{}", report_json(&report));
    } else if request.csv {
        print!("{}", report.to_csv());
    } else {
        print_report(&report);
    }
    if let (Some(path), Some(charts)) = (&request.chart, charts) {
        let title = format!("Codex use beside delivery, per {}", report.period.name());
        let svg = charts
            .document(&title)
            .map_err(|e| HostError::new("internal", format!("cannot draw the charts: {e}")))?;
        std::fs::write(path, svg).map_err(|e| {
            HostError::new(
                "usage",
                format!("cannot write the charts to {}: {e}", path.display()),
            )
        })?;
        let line = format!(
            "Charts written to {} (one SVG document: Codex use over time, adoption cohorts, Codex use beside delivery).",
            path.display()
        );
        if request.json || request.csv {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }
    Ok(())
}

/// `{"rows": [...], "by": …, "period": …, "periods": […], "thresholds": …, "trend": […],
/// "unmatched_git_authors": […], "unmatched_codex_users": […], "min_group": …,
/// "hidden_teams": […], "notes": […], "framing": "…"}`.
pub fn report_json(report: &AlignmentReport) -> Value {
    let mut v = serde_json::to_value(report).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("framing".into(), Value::String(FRAMING.into()));
    }
    v
}

fn share(s: Option<f64>) -> String {
    s.map(|x| format!("{:.0}%", x * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// The report as tables: its rows, the organization's trend, the unmatched identities.
pub fn print_report(r: &AlignmentReport) {
    let per = r.period.name();
    let span = match (r.periods.first(), r.periods.last()) {
        (Some(f), Some(l)) => format!("{per}s from {f} to {l}"),
        _ => "no periods".into(),
    };
    println!(
        "Codex use beside delivery, per {} and {per} (UTC{}), {span}.",
        match r.by {
            By::Person => "person",
            By::Team => "team",
        },
        if r.period == AlignPeriod::Week {
            ", weeks from Monday"
        } else {
            ""
        }
    );
    println!("{FRAMING}");
    println!(
        "Cohorts by {}. Commits exclude merges (counted apart); a delivery day is a UTC day with a commit.",
        r.thresholds.describe()
    );
    if r.periods.is_empty() {
        println!("\nNo Codex use and no commits yet: `host-harness sync` imports Codex use, `host-harness delivery add-repo PATH` a repository.");
        return;
    }
    println!();
    match r.by {
        By::Person => print_person_rows(&r.rows),
        By::Team => print_team_rows(&r.rows),
    }
    for note in &r.notes {
        println!("note: {note}");
    }
    print_trend(r);
    print_unmatched(r);
}

pub fn print_person_rows(rows: &[Row]) {
    if rows.is_empty() {
        println!("No person was active in these periods.");
        return;
    }
    println!(
        "{:<11} {:<34} {:<9} │ {:>5} {:>9} {:>13} {:>8} {:>8} {:>10} │ {:>7} {:>9} {:>9} {:>5} │ {:>6} │ surfaces",
        "period", "person", "cohort", "codex", "API reqs", "API tokens", "threads", "turns", "credits", "commits", "+lines", "-lines", "days", "share"
    );
    for row in rows {
        println!(
            "{:<11} {:<34} {:<9} │ {:>5} {:>9} {:>13} {:>8} {:>8} {:>10} │ {:>7} {:>9} {:>9} {:>5} │ {:>6} │ {}",
            row.period_start,
            row.email.as_deref().unwrap_or(""),
            row.cohort.map(|c| c.name()).unwrap_or(""),
            row.codex_active_days,
            thousands(row.api_key_requests),
            thousands(row.api_key_tokens),
            thousands(row.chatgpt_threads),
            thousands(row.chatgpt_turns),
            decimal(row.chatgpt_credits),
            thousands(row.commits),
            thousands(row.lines_added),
            thousands(row.lines_deleted),
            row.delivery_active_days,
            share(row.codex_share_of_delivery_days),
            row.surfaces.join(", ")
        );
    }
    println!("(codex: Codex-active days; days: delivery-active days; share: delivery days with Codex use)");
}

pub fn print_team_rows(rows: &[Row]) {
    if rows.is_empty() {
        println!("No team is shown (`host-harness people team NAME EMAIL…` defines one).");
        return;
    }
    println!(
        "{:<11} {:<20} {:>7} {:>6} {:<15} │ {:>6} {:>9} {:>13} {:>8} {:>10} │ {:>7} {:>9} {:>9} {:>6} │ {:>6}",
        "period", "team", "people", "codex", "n/l/m/h", "c-days", "API reqs", "API tokens", "threads", "credits", "commits", "+lines", "-lines", "d-days", "share"
    );
    for row in rows {
        let m = row.members.clone().unwrap_or_default();
        println!(
            "{:<11} {:<20} {:>7} {:>6} {:<15} │ {:>6} {:>9} {:>13} {:>8} {:>10} │ {:>7} {:>9} {:>9} {:>6} │ {:>6}",
            row.period_start,
            row.team.as_deref().unwrap_or(""),
            format!("{}/{}", m.active_people, m.people),
            m.people_using_codex,
            format!("{}/{}/{}/{}", m.people_none, m.people_light, m.people_moderate, m.people_heavy),
            row.codex_active_days,
            thousands(row.api_key_requests),
            thousands(row.api_key_tokens),
            thousands(row.chatgpt_threads),
            decimal(row.chatgpt_credits),
            thousands(row.commits),
            thousands(row.lines_added),
            thousands(row.lines_deleted),
            row.delivery_active_days,
            share(row.codex_share_of_delivery_days)
        );
    }
    println!("(people: active/declared; codex: members using Codex; n/l/m/h: members per cohort; c-days, d-days: Codex-active and delivery-active member-days)");
}

fn print_trend(r: &AlignmentReport) {
    println!("\nThe organization's adoption, per {}:", r.period.name());
    println!(
        "{:<11} {:>7} {:>11} {:>7} {:>8} {:>6} {:>6} {:>9} {:>6}",
        "period", "active", "using Codex", "share", "change", "none", "light", "moderate", "heavy"
    );
    for t in &r.trend {
        println!(
            "{:<11} {:>7} {:>11} {:>7} {:>8} {:>6} {:>6} {:>9} {:>6}",
            t.period_start,
            t.active_people,
            t.people_using_codex,
            share(t.codex_user_share),
            t.change_people_using_codex
                .map(|c| format!("{c:+}"))
                .unwrap_or_else(|| "-".into()),
            t.people_none,
            t.people_light,
            t.people_moderate,
            t.people_heavy
        );
    }
}

fn print_unmatched(r: &AlignmentReport) {
    let more = |n: usize| {
        if n > UNMATCHED_SHOWN {
            println!(
                "  … and {} more (--json lists them all)",
                n - UNMATCHED_SHOWN
            );
        }
    };
    println!(
        "\nUnmatched git authors (commits, but no Codex use under any of their emails): {}",
        r.unmatched_git_authors.len()
    );
    for a in r.unmatched_git_authors.iter().take(UNMATCHED_SHOWN) {
        println!(
            "  {:<34} {:>6} commits {} → {}  ({}; emails {})",
            a.email,
            thousands(a.commits),
            a.first_commit,
            a.last_commit,
            a.names.join(", "),
            a.git_emails.join(", ")
        );
    }
    more(r.unmatched_git_authors.len());
    println!(
        "Unmatched Codex users (Codex use, but no commits in the registered repositories): {}",
        r.unmatched_codex_users.len()
    );
    for u in r.unmatched_codex_users.iter().take(UNMATCHED_SHOWN) {
        println!(
            "  {:<34} {:>4} Codex-active days {} → {}{}",
            u.email,
            u.codex_active_days,
            u.first_day,
            u.last_day,
            if u.names.is_empty() {
                String::new()
            } else {
                format!("  ({})", u.names.join(", "))
            }
        );
    }
    more(r.unmatched_codex_users.len());
    if !r.unmatched_git_authors.is_empty() {
        println!("A git author who uses Codex under another email: `host-harness people alias GIT_EMAIL CODEX_EMAIL`.");
    }
}
