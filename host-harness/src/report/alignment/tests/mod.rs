//! Unit tests on synthetic data, exact numbers. Dates: 2026-01-05 is a Monday.

mod charts;
mod cohorts;
mod delivery;
mod identity;
mod output;
mod periods;
mod teams;
mod trend;

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use super::*;
use crate::delivery::Commit;
use crate::report::people::{Activity, ApiKeyUse, ChatgptUse, PersonRow};

/// A UTC day.
fn day(s: &str) -> NaiveDate {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// A commit authored at `time` (RFC 3339, with its offset), converted to UTC as the
/// delivery module does.
fn commit(id: &str, email: &str, time: &str, added: u64, deleted: u64) -> Commit {
    let t = DateTime::parse_from_rfc3339(time).unwrap();
    Commit {
        id: id.to_string(),
        author_name: email.split('@').next().unwrap().to_string(),
        author_email: email.to_string(),
        author_time: t.with_timezone(&Utc),
        author_utc_offset_seconds: t.offset().local_minus_utc(),
        merge: false,
        lines_added: added,
        lines_deleted: deleted,
        files_changed: u64::from(added + deleted > 0),
    }
}

/// A merge commit: no lines, no files (as the delivery module gives them).
fn merge(id: &str, email: &str, time: &str) -> Commit {
    Commit {
        merge: true,
        ..commit(id, email, time, 0, 0)
    }
}

/// A day of API-key Codex use.
fn api_day(email: &str, d: &str, requests: u64, tokens: u64) -> PersonRow {
    PersonRow {
        email: email.to_string(),
        period_start: Some(d.to_string()),
        api_key: ApiKeyUse {
            requests,
            input_tokens: tokens,
            tokens,
            ..ApiKeyUse::default()
        },
        ..PersonRow::default()
    }
}

/// A day of ChatGPT Codex use: per surface, threads; turns are twice the threads and
/// credits a quarter credit per turn.
fn chat_day(email: &str, d: &str, surfaces: &[(&str, u64)]) -> PersonRow {
    let mut c = ChatgptUse::default();
    for (s, threads) in surfaces {
        let a = Activity {
            threads: *threads,
            turns: threads * 2,
            credits: Decimal::new(*threads as i64 * 50, 2),
        };
        c.threads += a.threads;
        c.turns += a.turns;
        c.credits += a.credits;
        c.by_client.insert(s.to_string(), a);
    }
    PersonRow {
        email: email.to_string(),
        period_start: Some(d.to_string()),
        chatgpt: c,
        ..PersonRow::default()
    }
}

fn options(by: By, period: AlignPeriod) -> Options {
    Options {
        by,
        period,
        ..Options::default()
    }
}

fn run(input: &AlignmentInput, by: By, period: AlignPeriod) -> AlignmentReport {
    alignment(input, &options(by, period)).unwrap()
}

/// The row of `email` starting on `period_start`.
fn row<'a>(r: &'a AlignmentReport, email: &str, period_start: &str) -> &'a Row {
    r.rows
        .iter()
        .find(|x| x.email.as_deref() == Some(email) && x.period_start == period_start)
        .unwrap_or_else(|| panic!("no row {email} {period_start} in {:#?}", r.rows))
}

/// The row of `team` starting on `period_start`.
fn team_row<'a>(r: &'a AlignmentReport, team: &str, period_start: &str) -> &'a Row {
    r.rows
        .iter()
        .find(|x| x.team.as_deref() == Some(team) && x.period_start == period_start)
        .unwrap_or_else(|| panic!("no row {team} {period_start} in {:#?}", r.rows))
}

fn aliases(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}
