//! The organization's adoption trend over the periods.

use super::*;

/// Four weeks: 2 of 4 active people use Codex; nobody is active; 3 of 4; 1 of 4.
pub(super) fn input() -> AlignmentInput {
    let mut codex = vec![
        api_day("p1@x.io", "2026-01-05", 1, 1),
        chat_day("p3@x.io", "2026-01-06", &[("CODEX_WEB", 1)]),
        api_day("p2@x.io", "2026-01-19", 1, 1),
        chat_day("p2@x.io", "2026-01-20", &[("CODEX_CLI", 2)]),
        chat_day(
            "p3@x.io",
            "2026-01-21",
            &[("CODEX_CLI", 1), ("CODEX_WEB", 1)],
        ),
        api_day("p1@x.io", "2026-01-26", 5, 50),
    ];
    for d in 19..23 {
        codex.push(api_day("p1@x.io", &format!("2026-01-{d}"), 1, 10));
    }
    AlignmentInput {
        codex_days: codex,
        commits: vec![
            commit("1", "p1@x.io", "2026-01-05T10:00:00Z", 1, 0),
            commit("2", "p2@x.io", "2026-01-06T10:00:00Z", 2, 0),
            commit("3", "p4@x.io", "2026-01-07T10:00:00Z", 3, 0),
            commit("4", "p4@x.io", "2026-01-20T10:00:00Z", 4, 1),
            commit("5", "p2@x.io", "2026-01-27T10:00:00Z", 5, 0),
            commit("6", "p3@x.io", "2026-01-28T10:00:00Z", 6, 0),
            merge("7", "p4@x.io", "2026-01-29T10:00:00Z"),
        ],
        ..AlignmentInput::default()
    }
}

#[test]
fn trend_counts_people_per_period_and_the_change() {
    let r = run(&input(), By::Person, AlignPeriod::Week);
    let t = &r.trend;
    let periods: Vec<&str> = t.iter().map(|p| p.period_start.as_str()).collect();
    assert_eq!(
        periods,
        ["2026-01-05", "2026-01-12", "2026-01-19", "2026-01-26"]
    );
    let counts: Vec<[u32; 7]> = t
        .iter()
        .map(|p| {
            [
                p.active_people,
                p.people_using_codex,
                p.people_delivering,
                p.people_none,
                p.people_light,
                p.people_moderate,
                p.people_heavy,
            ]
        })
        .collect();
    assert_eq!(
        counts,
        [
            [4, 2, 3, 2, 2, 0, 0],
            [0, 0, 0, 0, 0, 0, 0],
            // p1 4 days (heavy), p2 2 (moderate), p3 1 (light), p4 commits only.
            [4, 3, 1, 1, 1, 1, 1],
            // p4 merged only: active, not delivering.
            [4, 1, 2, 3, 1, 0, 0],
        ]
    );
    let shares: Vec<Option<f64>> = t.iter().map(|p| p.codex_user_share).collect();
    assert_eq!(shares, [Some(0.5), None, Some(0.75), Some(0.25)]);
    let change: Vec<Option<i64>> = t.iter().map(|p| p.change_people_using_codex).collect();
    assert_eq!(change, [None, Some(-2), Some(3), Some(-2)]);
    let change_share: Vec<Option<f64>> = t.iter().map(|p| p.change_codex_user_share).collect();
    assert_eq!(change_share, [None, None, None, Some(-0.5)]);
}
