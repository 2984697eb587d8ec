//! Emails matched case-insensitively, joined by aliases; unmatched lists; what is no person.

use super::*;

/// Codex under a work email, commits under a personal one: unmatched without the alias,
/// one person with it.
#[test]
fn an_alias_joins_two_emails() {
    let mut input = AlignmentInput {
        codex_days: vec![
            api_day("ada.work@corp.io", "2026-01-05", 4, 400),
            chat_day("ada.work@corp.io", "2026-01-06", &[("CODEX_CLI", 1)]),
        ],
        commits: vec![
            commit("a", "Ada@Home.net", "2026-01-06T09:00:00Z", 20, 2),
            commit("b", "ada@home.net", "2026-01-07T09:00:00Z", 5, 5),
        ],
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Week);
    assert_eq!(r.rows.len(), 2);
    assert_eq!(r.unmatched_git_authors.len(), 1);
    let g = &r.unmatched_git_authors[0];
    assert_eq!(g.email, "ada@home.net");
    assert_eq!(g.git_emails, ["ada@home.net"]);
    assert_eq!(g.names, ["Ada", "ada"]);
    assert_eq!(
        (g.commits, g.first_commit.as_str(), g.last_commit.as_str()),
        (2, "2026-01-06", "2026-01-07")
    );
    assert_eq!(r.unmatched_codex_users.len(), 1);
    let c = &r.unmatched_codex_users[0];
    assert_eq!(
        (c.email.as_str(), c.codex_active_days),
        ("ada.work@corp.io", 2)
    );
    assert_eq!(
        (c.first_day.as_str(), c.last_day.as_str()),
        ("2026-01-05", "2026-01-06")
    );

    // Alias A → B, written in any case.
    input.aliases = aliases(&[("ADA@home.net", "Ada.Work@corp.io")]);
    let r = run(&input, By::Person, AlignPeriod::Week);
    assert_eq!(r.rows.len(), 1);
    let a = row(&r, "ada.work@corp.io", "2026-01-05");
    assert_eq!((a.commits, a.lines_added, a.lines_deleted), (2, 25, 7));
    assert_eq!(
        (
            a.codex_active_days,
            a.api_key_active_days,
            a.chatgpt_active_days
        ),
        (2, 1, 1)
    );
    assert_eq!((a.api_key_requests, a.api_key_tokens), (4, 400));
    assert_eq!((a.delivery_active_days, a.delivery_days_with_codex), (2, 1));
    assert_eq!(a.codex_share_of_delivery_days, Some(0.5));
    assert!(r.unmatched_git_authors.is_empty());
    assert!(r.unmatched_codex_users.is_empty());
}

/// One author committing under two emails (one differing only in case, one aliased): one
/// person, a day with commits under both emails counted once, a commit id seen twice
/// counted once.
#[test]
fn an_author_with_two_emails_is_one_person() {
    let input = AlignmentInput {
        commits: vec![
            commit("a", "Bob@Corp.io", "2026-01-05T09:00:00Z", 10, 0),
            commit("b", "bob@corp.io", "2026-01-05T11:00:00Z", 1, 1),
            commit("c", "bob@personal.dev", "2026-01-05T22:00:00Z", 2, 0),
            commit("c", "bob@personal.dev", "2026-01-05T22:00:00Z", 2, 0),
            commit("d", "bob@personal.dev", "2026-01-08T10:00:00Z", 3, 0),
        ],
        codex_days: vec![chat_day(
            "BOB@corp.io",
            "2026-01-05",
            &[("CODEX_IDE_VSCODE", 2)],
        )],
        aliases: aliases(&[("bob@personal.dev", "bob@corp.io")]),
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Week);
    assert_eq!(r.rows.len(), 1);
    let b = row(&r, "bob@corp.io", "2026-01-05");
    assert_eq!((b.commits, b.lines_added, b.lines_deleted), (4, 16, 1));
    assert_eq!((b.delivery_active_days, b.delivery_days_with_codex), (2, 1));
    assert_eq!(b.codex_share_of_delivery_days, Some(0.5));
    assert!(r.unmatched_git_authors.is_empty() && r.unmatched_codex_users.is_empty());
}

#[test]
fn alias_chains_are_followed_and_cycles_refused() {
    let a = Aliases::new(&aliases(&[
        ("a@x.io", "b@x.io"),
        ("B@x.io", "c@x.io"),
        ("c@x.io", "c@x.io"),
    ]))
    .unwrap();
    assert_eq!(a.resolve("A@X.IO"), "c@x.io");
    assert_eq!(a.resolve(" b@x.io "), "c@x.io");
    assert_eq!(a.resolve("c@x.io"), "c@x.io");
    assert_eq!(a.resolve("d@x.io"), "d@x.io");
    let e = Aliases::new(&aliases(&[("a@x.io", "b@x.io"), ("b@x.io", "a@x.io")])).unwrap_err();
    assert_eq!(
        e,
        AlignmentError::AliasCycle(vec!["a@x.io".into(), "b@x.io".into(), "a@x.io".into()])
    );
}

/// Unmatched lists: git authors with commits (merges too) and no Codex under any alias;
/// Codex users with no commits. Usage tied to no person, and code reviews alone, are no
/// Codex use; a person on both sides is in neither list.
#[test]
fn unmatched_lists() {
    let mut reviews_only = PersonRow {
        email: "rev@x.io".into(),
        period_start: Some("2026-01-05".into()),
        ..PersonRow::default()
    };
    reviews_only.code_reviews.insert("prs_reviewed".into(), 3);
    let input = AlignmentInput {
        codex_days: vec![
            api_day("both@x.io", "2026-01-05", 1, 10),
            api_day("codex-only@x.io", "2026-01-06", 1, 10),
            chat_day("codex-only@x.io", "2026-01-07", &[("CODEX_WEB", 1)]),
            api_day("(unattributed)", "2026-01-05", 9, 900),
            api_day("service account: ci", "2026-01-05", 9, 900),
            api_day("rev@x.io", "2026-01-05", 0, 0),
            reviews_only,
        ],
        commits: vec![
            commit("1", "both@x.io", "2026-01-05T10:00:00Z", 1, 0),
            merge("2", "merger@x.io", "2026-01-05T10:00:00Z"),
            commit("3", "rev@x.io", "2026-01-06T10:00:00Z", 1, 0),
        ],
        ..AlignmentInput::default()
    };
    let r = run(&input, By::Person, AlignPeriod::Week);
    let git: Vec<(&str, u64)> = r
        .unmatched_git_authors
        .iter()
        .map(|g| (g.email.as_str(), g.commits))
        .collect();
    assert_eq!(git, [("merger@x.io", 1), ("rev@x.io", 1)]);
    let codex: Vec<(&str, u32)> = r
        .unmatched_codex_users
        .iter()
        .map(|c| (c.email.as_str(), c.codex_active_days))
        .collect();
    assert_eq!(codex, [("codex-only@x.io", 2)]);
    let emails: Vec<&str> = r.rows.iter().filter_map(|x| x.email.as_deref()).collect();
    assert_eq!(
        emails,
        ["both@x.io", "codex-only@x.io", "merger@x.io", "rev@x.io"]
    );
}
