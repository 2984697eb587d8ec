//! Week and month boundaries, in UTC.

use super::*;

#[test]
fn weeks_start_on_monday_and_months_on_the_first() {
    let w = AlignPeriod::Week;
    assert_eq!(w.start_of(day("2026-01-05")), day("2026-01-05")); // Monday
    assert_eq!(w.start_of(day("2026-01-11")), day("2026-01-05")); // Sunday
    assert_eq!(w.start_of(day("2026-01-01")), day("2025-12-29")); // across the year
    assert_eq!(w.next(day("2025-12-29")), day("2026-01-05"));
    let m = AlignPeriod::Month;
    assert_eq!(m.start_of(day("2026-02-28")), day("2026-02-01"));
    assert_eq!(m.next(day("2025-12-01")), day("2026-01-01"));
    assert_eq!(
        m.range(day("2025-12-15"), day("2026-02-03")),
        vec![day("2025-12-01"), day("2026-01-01"), day("2026-02-01")]
    );
    assert_eq!(
        w.range(day("2025-12-31"), day("2026-01-12")),
        vec![day("2025-12-29"), day("2026-01-05"), day("2026-01-12")]
    );
    assert!(w.range(day("2026-01-12"), day("2026-01-05")).is_empty());
}

/// Sunday 23:30 -0500 is Monday 04:30 UTC: Monday's week. Sunday 20:00 UTC stays in the
/// week before.
#[test]
fn a_sunday_evening_commit_west_of_utc_is_in_mondays_week() {
    let input = AlignmentInput {
        commits: vec![
            commit("a", "ada@x.io", "2026-01-04T23:30:00-05:00", 10, 1),
            commit("b", "ada@x.io", "2026-01-04T20:00:00+00:00", 5, 0),
        ],
        codex_days: vec![api_day("ada@x.io", "2026-01-05", 3, 100)],
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Week);
    assert_eq!(r.periods, ["2025-12-29", "2026-01-05"]);
    assert_eq!(r.rows.len(), 2);
    let before = row(&r, "ada@x.io", "2025-12-29");
    assert_eq!(
        (
            before.commits,
            before.lines_added,
            before.delivery_active_days
        ),
        (1, 5, 1)
    );
    assert_eq!(before.codex_active_days, 0);
    assert_eq!(before.codex_share_of_delivery_days, Some(0.0));
    let monday = row(&r, "ada@x.io", "2026-01-05");
    assert_eq!(
        (monday.commits, monday.lines_added, monday.lines_deleted),
        (1, 10, 1)
    );
    // The commit's UTC day is Monday, the Codex day's too: a delivery day with Codex.
    assert_eq!(
        (monday.delivery_active_days, monday.delivery_days_with_codex),
        (1, 1)
    );
    assert_eq!(monday.codex_share_of_delivery_days, Some(1.0));
}

/// The last evening of January west of UTC is February; just after midnight east of UTC on
/// February 1st is still January.
#[test]
fn month_boundaries_are_utc() {
    let input = AlignmentInput {
        commits: vec![
            commit("a", "ada@x.io", "2026-01-31T23:30:00-05:00", 7, 0),
            commit("b", "ada@x.io", "2026-02-01T00:30:00+01:00", 3, 0),
        ],
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Month);
    assert_eq!(r.periods, ["2026-01-01", "2026-02-01"]);
    assert_eq!(row(&r, "ada@x.io", "2026-01-01").lines_added, 3);
    assert_eq!(row(&r, "ada@x.io", "2026-02-01").lines_added, 7);
}

/// The window keeps inputs on the days inside it, and the periods run over it (empty ones
/// included).
#[test]
fn the_window_bounds_inputs_and_periods() {
    let input = AlignmentInput {
        commits: vec![
            commit("old", "ada@x.io", "2025-06-02T10:00:00Z", 100, 0),
            commit("new", "ada@x.io", "2026-01-06T10:00:00Z", 1, 0),
        ],
        codex_days: vec![
            api_day("ada@x.io", "2026-01-06", 1, 1),
            api_day("ada@x.io", "2026-01-20", 1, 1),
        ],
        ..AlignmentInput::default()
    };
    let o = Options {
        since: Some(day("2025-12-29")),
        until: Some(day("2026-01-18")),
        ..Options::default()
    };
    let r = alignment(&input, &o).unwrap();
    assert_eq!(r.periods, ["2025-12-29", "2026-01-05", "2026-01-12"]);
    assert_eq!(r.rows.len(), 1);
    let w = row(&r, "ada@x.io", "2026-01-05");
    assert_eq!((w.commits, w.lines_added, w.codex_active_days), (1, 1, 1));
    assert_eq!(r.trend.len(), 3);
    assert_eq!(r.trend[0].active_people, 0);
}

#[test]
fn codex_rows_must_be_days() {
    let mut weekly = api_day("ada@x.io", "2026-01-05", 1, 1);
    weekly.period_start = None;
    let input = AlignmentInput {
        codex_days: vec![weekly],
        ..AlignmentInput::default()
    };
    let e = alignment(&input, &Options::default()).unwrap_err();
    assert_eq!(
        e,
        AlignmentError::NotDaily {
            email: "ada@x.io".into(),
            period_start: None
        }
    );
}
