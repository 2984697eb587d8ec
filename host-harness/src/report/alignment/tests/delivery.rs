//! Delivery figures: merges apart, active days, the share of delivery days with Codex.

use super::*;

/// Merges are not in `commits` and make no delivery day; their count is in `merges`.
#[test]
fn merges_are_counted_apart() {
    let input = AlignmentInput {
        commits: vec![
            commit("a", "ada@x.io", "2026-01-05T09:00:00Z", 10, 2),
            commit("b", "ada@x.io", "2026-01-06T09:00:00Z", 4, 4),
            merge("m1", "ada@x.io", "2026-01-06T10:00:00Z"),
            merge("m2", "ada@x.io", "2026-01-07T10:00:00Z"),
        ],
        codex_days: vec![api_day("ada@x.io", "2026-01-07", 1, 5)],
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Week);
    let a = row(&r, "ada@x.io", "2026-01-05");
    assert_eq!((a.commits, a.merges), (2, 2));
    assert_eq!(
        (
            a.lines_added,
            a.lines_deleted,
            a.lines_changed(),
            a.files_changed
        ),
        (14, 6, 20, 2)
    );
    // Wednesday had only a merge: not a delivery day, so its Codex use is not "beside".
    assert_eq!((a.delivery_active_days, a.delivery_days_with_codex), (2, 0));
    assert_eq!(a.codex_share_of_delivery_days, Some(0.0));
}

/// Delivery Mon–Wed, Codex Tue–Thu: 2 of 3 delivery days with Codex. No delivery days:
/// the share is null.
#[test]
fn share_of_delivery_days_with_codex() {
    let input = AlignmentInput {
        commits: vec![
            commit("a", "ada@x.io", "2026-01-05T09:00:00Z", 1, 0),
            commit("b", "ada@x.io", "2026-01-06T09:00:00Z", 1, 0),
            commit("c", "ada@x.io", "2026-01-06T15:00:00Z", 1, 0),
            commit("d", "ada@x.io", "2026-01-07T09:00:00Z", 1, 0),
        ],
        codex_days: vec![
            api_day("ada@x.io", "2026-01-06", 1, 5),
            chat_day("ada@x.io", "2026-01-06", &[("CODEX_CLI", 1)]),
            chat_day(
                "ada@x.io",
                "2026-01-07",
                &[("CODEX_CLI", 1), ("CODEX_IDE_VSCODE", 2)],
            ),
            api_day("ada@x.io", "2026-01-08", 2, 7),
            api_day("cy@x.io", "2026-01-08", 2, 7),
        ],
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Week);
    let a = row(&r, "ada@x.io", "2026-01-05");
    assert_eq!((a.commits, a.delivery_active_days), (4, 3));
    assert_eq!(
        (
            a.codex_active_days,
            a.api_key_active_days,
            a.chatgpt_active_days
        ),
        (3, 2, 2)
    );
    assert_eq!(a.delivery_days_with_codex, 2);
    assert_eq!(a.codex_share_of_delivery_days, Some(2.0 / 3.0));
    assert_eq!((a.api_key_requests, a.api_key_tokens), (3, 12));
    assert_eq!(
        (a.chatgpt_threads, a.chatgpt_turns, a.chatgpt_credits),
        (4, 8, Decimal::new(200, 2))
    );
    assert_eq!(a.surfaces, ["CODEX_CLI", "CODEX_IDE_VSCODE"]);
    assert_eq!(a.surfaces_used, 2);
    let want: BTreeMap<String, u32> = [
        ("CODEX_CLI".to_string(), 2),
        ("CODEX_IDE_VSCODE".to_string(), 1),
    ]
    .into();
    assert_eq!(a.surface_active_days, want);
    let c = row(&r, "cy@x.io", "2026-01-05");
    assert_eq!(
        (c.delivery_active_days, c.codex_share_of_delivery_days),
        (0, None)
    );
    assert_eq!(c.cohort, Some(Cohort::Light));
}
