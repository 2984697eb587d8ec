//! Team rows: sums over members, active days as member-days, head counts, every period,
//! teams under `min_group` hidden with a note.

use super::*;

/// Week of 2026-01-05: a (Codex Mon+Tue, commits Mon+Wed), b (Codex Mon, ChatGPT), c
/// (commits Tue, listed in the team under an alias), d (nothing), e (Codex and a commit on
/// Mon); z commits outside any team. Week of 01-12: nothing. Week of 01-19: a, Codex Tue.
fn input() -> AlignmentInput {
    let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    AlignmentInput {
        codex_days: vec![
            api_day("a@x.io", "2026-01-05", 2, 20),
            api_day("a@x.io", "2026-01-06", 1, 10),
            chat_day("b@x.io", "2026-01-05", &[("CODEX_CLI", 1)]),
            api_day("e@x.io", "2026-01-05", 1, 5),
            api_day("a@x.io", "2026-01-20", 1, 1),
        ],
        commits: vec![
            commit("1", "a@x.io", "2026-01-05T09:00:00Z", 10, 0),
            commit("2", "a@x.io", "2026-01-07T09:00:00Z", 5, 1),
            commit("3", "c@x.io", "2026-01-06T09:00:00Z", 3, 3),
            commit("4", "e@x.io", "2026-01-05T12:00:00Z", 1, 0),
            commit("5", "z@x.io", "2026-01-05T12:00:00Z", 100, 0),
        ],
        aliases: aliases(&[("c-home@x.io", "c@x.io")]),
        teams: [
            // b twice (case), c under an alias: 5 people.
            (
                "core".to_string(),
                list(&[
                    "a@x.io",
                    "B@x.io",
                    "b@x.io",
                    "C-Home@x.io",
                    "d@x.io",
                    "e@x.io",
                ]),
            ),
            ("tiny".to_string(), list(&["a@x.io", "f@x.io"])),
        ]
        .into(),
    }
}

#[test]
fn team_rows_sum_members_and_count_member_days() {
    let r = run(&input(), By::Team, AlignPeriod::Week);
    assert_eq!(r.periods, ["2026-01-05", "2026-01-12", "2026-01-19"]);
    let teams: Vec<(&str, &str)> = r
        .rows
        .iter()
        .map(|x| (x.period_start.as_str(), x.team.as_deref().unwrap()))
        .collect();
    assert_eq!(
        teams,
        [
            ("2026-01-05", "core"),
            ("2026-01-12", "core"),
            ("2026-01-19", "core")
        ]
    );
    let w1 = team_row(&r, "core", "2026-01-05");
    assert_eq!(w1.email, None);
    assert_eq!(w1.cohort, None);
    assert_eq!(
        w1.members,
        Some(Members {
            people: 5,
            active_people: 4,
            people_using_codex: 3,
            people_delivering: 3,
            people_none: 1,
            people_light: 2,
            people_moderate: 1,
            people_heavy: 0,
        })
    );
    // Three members Codex-active on Monday and one on Tuesday: 4 member-days (2 calendar
    // days).
    assert_eq!(
        (
            w1.codex_active_days,
            w1.api_key_active_days,
            w1.chatgpt_active_days
        ),
        (4, 3, 1)
    );
    assert_eq!((w1.api_key_requests, w1.api_key_tokens), (4, 35));
    assert_eq!((w1.chatgpt_threads, w1.chatgpt_turns), (1, 2));
    assert_eq!((w1.commits, w1.lines_added, w1.lines_deleted), (4, 19, 4));
    assert_eq!(
        (w1.delivery_active_days, w1.delivery_days_with_codex),
        (4, 2)
    );
    assert_eq!(w1.codex_share_of_delivery_days, Some(0.5));
    assert_eq!(
        (w1.surfaces.clone(), w1.surfaces_used),
        (vec!["CODEX_CLI".to_string()], 1)
    );
    // An empty week is a row of zeros, not a gap.
    let w2 = team_row(&r, "core", "2026-01-12");
    assert_eq!(
        w2.members.as_ref().map(|m| (m.people, m.active_people)),
        Some((5, 0))
    );
    assert_eq!(
        (
            w2.codex_active_days,
            w2.commits,
            w2.codex_share_of_delivery_days
        ),
        (0, 0, None)
    );
    let w3 = team_row(&r, "core", "2026-01-19");
    assert_eq!(
        w3.members
            .as_ref()
            .map(|m| (m.people_using_codex, m.people_light)),
        Some((1, 1))
    );
    assert_eq!(w3.codex_active_days, 1);
}

#[test]
fn teams_under_min_group_are_hidden_with_a_note() {
    let r = run(&input(), By::Team, AlignPeriod::Week);
    assert_eq!(r.min_group, 5);
    assert_eq!(
        r.hidden_teams,
        [HiddenTeam {
            team: "tiny".into(),
            people: 2
        }]
    );
    assert_eq!(r.notes, ["1 team hidden (fewer than 5 people): tiny (2)"]);
    assert!(r.rows.iter().all(|x| x.team.as_deref() != Some("tiny")));
    assert!(!serde_json::to_string(&r.rows).unwrap().contains("tiny"));

    let o = |min_group| Options {
        by: By::Team,
        min_group,
        ..Options::default()
    };
    let r = alignment(&input(), &o(2)).unwrap();
    assert!(r.hidden_teams.is_empty() && r.notes.is_empty());
    let t = team_row(&r, "tiny", "2026-01-05");
    assert_eq!(
        t.members.as_ref().map(|m| (m.people, m.active_people)),
        Some((2, 1))
    );
    assert_eq!(t.codex_active_days, 2);

    let r = alignment(&input(), &o(6)).unwrap();
    assert!(r.rows.is_empty());
    assert_eq!(r.hidden_teams.len(), 2);
    assert_eq!(
        r.notes,
        ["2 teams hidden (fewer than 6 people): core (5), tiny (2)"]
    );
    // The trend and the unmatched lists are the organization's, teams or not.
    assert_eq!(r.trend[0].active_people, 5);
}
