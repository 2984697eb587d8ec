//! Codex use beside delivery, end to end through the binary: repositories written with
//! gitoxide ([`host_harness::delivery::synthetic`], no `git` binary) with known commits,
//! registered with `delivery add-repo`, joined with `people alias` and `people team`, and
//! reported by `report --by person|team --period week --json|--csv`.
//!
//! Expected figures are computed here, from what each test wrote (its commits, their UTC
//! days, their lines) and from the mock's ground truth, with the report's rules restated
//! (cohort thresholds, merges left out of commits, emails compared case-insensitively,
//! aliases): never from the code under test.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone, Utc};
use common::*;
use host_harness::delivery::synthetic::{Synthetic, MAIN};
use openai_mock::{MockConfig, MockServer};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_host-harness");

// ---------------------------------------------------------------------------------------
// helpers

/// `host-harness ARGS --db DB`.
fn hh(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The command succeeded; its stdout.
fn ok(o: &Output) -> String {
    assert!(o.status.success(), "{}", text(o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_str(&ok(o)).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// An author time: `rfc3339` (with its offset).
fn at(rfc3339: &str) -> DateTime<FixedOffset> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap()
}

/// Noon UTC on `day`.
fn noon(day: NaiveDate) -> DateTime<FixedOffset> {
    FixedOffset::east_opt(0)
        .unwrap()
        .from_utc_datetime(&day.and_hms_opt(12, 0, 0).unwrap())
}

/// `n` lines of text, distinct per `tag`.
fn lines(tag: &str, n: usize) -> String {
    (0..n).map(|i| format!("{tag} {i}\n")).collect()
}

/// The Monday of the UTC week of `day`.
fn monday(day: NaiveDate) -> NaiveDate {
    day - Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// One commit as the test expects the report to count it: whose (the person's email after
/// `.mailmap` and aliases, lower-cased), its UTC day, and what it carries.
#[derive(Clone, Debug)]
struct Expect {
    person: String,
    day: NaiveDate,
    merge: bool,
    added: u64,
    deleted: u64,
    files: u64,
}

impl Expect {
    fn new(
        person: &str,
        time: DateTime<FixedOffset>,
        added: u64,
        deleted: u64,
        files: u64,
    ) -> Expect {
        Expect {
            person: person.to_lowercase(),
            day: time.with_timezone(&Utc).date_naive(),
            merge: false,
            added,
            deleted,
            files,
        }
    }

    fn merge(person: &str, time: DateTime<FixedOffset>) -> Expect {
        Expect {
            merge: true,
            ..Expect::new(person, time, 0, 0, 0)
        }
    }
}

/// Delivery figures of one person in one week.
#[derive(Clone, Debug, Default, PartialEq)]
struct Delivery {
    commits: u64,
    merges: u64,
    added: u64,
    deleted: u64,
    files: u64,
    days: BTreeSet<NaiveDate>,
}

/// The commits folded per (Monday, person): merges apart, delivery days from the others.
fn delivery_by_week(commits: &[Expect]) -> BTreeMap<(NaiveDate, String), Delivery> {
    let mut out: BTreeMap<(NaiveDate, String), Delivery> = BTreeMap::new();
    for c in commits {
        let d = out.entry((monday(c.day), c.person.clone())).or_default();
        if c.merge {
            d.merges += 1;
        } else {
            d.commits += 1;
            d.added += c.added;
            d.deleted += c.deleted;
            d.files += c.files;
            d.days.insert(c.day);
        }
    }
    out
}

/// The cohort of someone Codex-active on `days` days of a week, as docs/alignment.md
/// states it: none 0, light 1, moderate 2–3, heavy 4 or more.
fn week_cohort(days: usize) -> &'static str {
    match days {
        0 => "none",
        1 => "light",
        2 | 3 => "moderate",
        _ => "heavy",
    }
}

/// The report's rows keyed by (period_start, email).
fn rows_by_key(report: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for r in report["rows"].as_array().unwrap() {
        let key = (
            r["period_start"].as_str().unwrap().to_string(),
            r["email"].as_str().unwrap().to_string(),
        );
        assert!(
            out.insert(key.clone(), r.clone()).is_none(),
            "{key:?} twice"
        );
    }
    out
}

/// Compare a row's delivery columns with what was written.
fn assert_delivery(row: &Value, want: &Delivery, what: &str) {
    let got = (
        row["commits"].as_u64().unwrap(),
        row["merges"].as_u64().unwrap(),
        row["lines_added"].as_u64().unwrap(),
        row["lines_deleted"].as_u64().unwrap(),
        row["files_changed"].as_u64().unwrap(),
        row["delivery_active_days"].as_u64().unwrap(),
    );
    let expected = (
        want.commits,
        want.merges,
        want.added,
        want.deleted,
        want.files,
        want.days.len() as u64,
    );
    assert_eq!(
        got, expected,
        "{what}: (commits, merges, +, -, files, delivery days)\n{row:#}"
    );
}

/// A minimal RFC 4180 reader (quoted cells, doubled quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

/// `--csv` holds the rows of `--json`, cell for cell: the same columns, numbers as JSON
/// writes them, null as an empty cell.
fn assert_csv_equals_json(csv: &str, json: &Value) {
    let table = parse_csv(csv);
    let (header, lines) = table.split_first().expect("a header");
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(lines.len(), rows.len(), "{csv}");
    for (line, row) in lines.iter().zip(rows) {
        let obj = row.as_object().unwrap();
        assert_eq!(
            header.len(),
            obj.len(),
            "the same columns: {header:?} vs {:?}",
            obj.keys().collect::<Vec<_>>()
        );
        for (column, cell) in header.iter().zip(line) {
            let want = match &obj[column.as_str()] {
                Value::Null => String::new(),
                Value::String(s) => s.clone(),
                v => v.to_string(),
            };
            assert_eq!(cell, &want, "column {column} of {row}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// 1. known commits, exact counts

/// A repository of known commits gives exact per-person-week counts: merges (left out of
/// commits, counted as merges, no lines), a `.mailmap` (a laptop's address mapped to the
/// work email), an alias (a personal email joined to the work email, given in another
/// case), an author with two emails (the same email in two cases is one person; another
/// email without an alias is another row), and commit times near a week boundary in UTC
/// (Sunday 23:30 in UTC−5 is Monday in UTC; Monday 00:00 in UTC+1 is Sunday in UTC).
#[test]
fn known_commits_give_exact_per_person_week_counts() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let path = dir.path().join("repo");
    let mut repo = Synthetic::init(&path).unwrap();
    let ada = ("Ada Lovelace", "ada@work.example");
    let laptop = ("ada", "ada@laptop.local");
    let bob_home = ("Bob Stone", "bob@personal.example");
    let bob_work = ("Bob Stone", "bob@work.example");
    let carol = ("Carol Diaz", "carol@work.example");
    let carol_caps = ("Carol Diaz", "Carol@WORK.example");
    let carol_old = ("Carol Diaz", "carol@old.example");
    let dave = ("Dave Wu", "dave@work.example");
    let mailmap = "Ada Lovelace <ada@work.example> <ada@laptop.local>\n";
    let mut want = Vec::new();

    // week of Monday 2025-03-03
    let t = at("2025-03-03T10:00:00Z");
    repo.commit(
        MAIN,
        ada,
        t,
        "a",
        &[
            (".mailmap", Some(mailmap)),
            ("a.txt", Some("one\ntwo\nthree\n")),
        ],
    )
    .unwrap();
    want.push(Expect::new("ada@work.example", t, 4, 0, 2));
    let t = at("2025-03-04T10:00:00Z");
    repo.commit(MAIN, ada, t, "a2", &[("a.txt", Some("one\n2\nthree\n"))])
        .unwrap();
    want.push(Expect::new("ada@work.example", t, 1, 1, 1));
    repo.branch("feature", MAIN).unwrap();
    let t = at("2025-03-05T09:00:00+02:00");
    repo.commit(MAIN, laptop, t, "b", &[("b.txt", Some(&lines("b", 2)))])
        .unwrap();
    want.push(Expect::new("ada@work.example", t, 2, 0, 1)); // .mailmap
    let t = at("2025-03-05T12:00:00Z");
    repo.commit(
        "feature",
        bob_home,
        t,
        "c",
        &[("c.txt", Some(&lines("c", 4)))],
    )
    .unwrap();
    want.push(Expect::new("bob@work.example", t, 4, 0, 1)); // alias
    let t = at("2025-03-06T16:00:00Z");
    repo.merge(MAIN, "feature", bob_home, t).unwrap();
    want.push(Expect::merge("bob@work.example", t));
    let t = at("2025-03-06T17:00:00Z");
    repo.commit(MAIN, bob_work, t, "d", &[("d.txt", Some("d\n"))])
        .unwrap();
    want.push(Expect::new("bob@work.example", t, 1, 0, 1));
    let t = at("2025-03-09T22:00:00Z"); // Sunday in UTC
    repo.commit(MAIN, carol_caps, t, "f", &[("f.txt", Some("f\n"))])
        .unwrap();
    want.push(Expect::new("carol@work.example", t, 1, 0, 1));
    let t = at("2025-03-10T00:00:00+01:00"); // Monday where written, Sunday 23:00 in UTC
    repo.commit(MAIN, dave, t, "h", &[("h.txt", Some("h\n"))])
        .unwrap();
    want.push(Expect::new("dave@work.example", t, 1, 0, 1));
    // week of Monday 2025-03-10
    let t = at("2025-03-09T23:30:00-05:00"); // Sunday where written, Monday 04:30 in UTC
    repo.commit(MAIN, carol, t, "e", &[("e.txt", Some(&lines("e", 2)))])
        .unwrap();
    want.push(Expect::new("carol@work.example", t, 2, 0, 1));
    let t = at("2025-03-11T09:00:00Z");
    repo.commit(
        MAIN,
        carol_old,
        t,
        "g",
        &[("g.txt", Some(&lines("g", 5))), ("a.txt", None)],
    )
    .unwrap();
    want.push(Expect::new("carol@old.example", t, 5, 3, 2));

    let added = json(&hh(
        &db,
        &["delivery", "add-repo", path.to_str().unwrap(), "--json"],
    ));
    assert_eq!(added["repository"]["new_commits"], want.len(), "{added}");
    ok(&hh(
        &db,
        &[
            "people",
            "alias",
            "BOB@personal.example",
            "Bob@Work.example",
        ],
    ));

    let report = json(&hh(
        &db,
        &["report", "--by", "person", "--period", "week", "--json"],
    ));
    let rows = rows_by_key(&report);
    let expected = delivery_by_week(&want);
    let keys: Vec<(String, String)> = expected
        .keys()
        .map(|(d, p)| (d.to_string(), p.clone()))
        .collect();
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        keys,
        "one row per person and week"
    );
    for ((week, person), d) in &expected {
        let row = &rows[&(week.to_string(), person.clone())];
        assert_delivery(row, d, &format!("{person} in the week of {week}"));
        assert_eq!(row["codex_active_days"], 0);
        assert_eq!(row["cohort"], "none");
        assert_eq!(row["codex_share_of_delivery_days"], 0.0);
    }
    // The merge's author is in the week's row only as a merge.
    assert_eq!(
        rows[&("2025-03-03".to_string(), "bob@work.example".to_string())]["merges"],
        1
    );
    // With no Codex data, every author is unmatched; the unmatched list names their emails
    // as git wrote them (after .mailmap), lower-cased.
    let unmatched: BTreeMap<&str, Vec<&str>> = report["unmatched_git_authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["email"].as_str().unwrap(),
                a["git_emails"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
                    .collect(),
            )
        })
        .collect();
    let want_unmatched: BTreeMap<&str, Vec<&str>> = [
        ("ada@work.example", vec!["ada@work.example"]),
        (
            "bob@work.example",
            vec!["bob@personal.example", "bob@work.example"],
        ),
        ("carol@old.example", vec!["carol@old.example"]),
        ("carol@work.example", vec!["carol@work.example"]),
        ("dave@work.example", vec!["dave@work.example"]),
    ]
    .into();
    assert_eq!(unmatched, want_unmatched);
    assert!(report["framing"]
        .as_str()
        .unwrap()
        .contains("not performance reviews"));

    // The table says the same, with its framing.
    let table = ok(&hh(&db, &["report", "--by", "person"]));
    assert!(
        table.contains("trend signals for teams, not performance reviews of individuals"),
        "{table}"
    );
    assert!(table.contains("bob@work.example"), "{table}");
    // and --csv holds the same rows
    let csv = ok(&hh(
        &db,
        &["report", "--by", "person", "--period", "week", "--csv"],
    ));
    assert_csv_equals_json(&csv, &report);
}

// ---------------------------------------------------------------------------------------
// 2. joined with the mock's ground truth

/// Codex figures of one person in one week, from the mock's ground truth.
#[derive(Clone, Debug, Default)]
struct Codex {
    days: BTreeSet<NaiveDate>,
    requests: u64,
    tokens: u64,
    threads: u64,
    turns: u64,
    credits: f64,
}

/// The mock's ground truth per (Monday, email): API-key rows of people (input plus output
/// tokens), ChatGPT day rows; a day with any figure above 0 on either path is Codex-active.
fn codex_by_week(mock: &MockServer) -> BTreeMap<(NaiveDate, String), Codex> {
    let mut out: BTreeMap<(NaiveDate, String), Codex> = BTreeMap::new();
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    for r in mock
        .ground_truth()
        .rows
        .iter()
        .filter(|r| r.user_id.is_some())
    {
        let d = day(&r.day);
        let c = out
            .entry((monday(d), r.user_email.clone().unwrap().to_lowercase()))
            .or_default();
        c.requests += r.requests;
        c.tokens += r.input_tokens + r.output_tokens;
        if r.requests + r.input_tokens + r.output_tokens + r.cached_input_tokens > 0 {
            c.days.insert(d);
        }
    }
    for r in mock.workspace_truth().daily {
        let d = day(&r.day);
        let c = out.entry((monday(d), r.email.to_lowercase())).or_default();
        c.threads += r.threads;
        c.turns += r.turns;
        c.credits += r.credits.as_f64();
        if r.threads + r.turns > 0 || r.credits.quarters() > 0 {
            c.days.insert(d);
        }
    }
    out.retain(|_, c| !c.days.is_empty());
    out
}

/// Every expected row (Codex use or commits in a week) against the report's.
fn assert_joined(report: &Value, codex: &BTreeMap<(NaiveDate, String), Codex>, commits: &[Expect]) {
    let delivery = delivery_by_week(commits);
    let keys: BTreeSet<(NaiveDate, String)> =
        codex.keys().chain(delivery.keys()).cloned().collect();
    let rows = rows_by_key(report);
    let want_keys: Vec<(String, String)> = keys
        .iter()
        .map(|(d, p)| (d.to_string(), p.clone()))
        .collect();
    assert_eq!(
        rows.keys().cloned().collect::<Vec<_>>(),
        want_keys,
        "one row per person and week"
    );
    let none = Codex::default();
    let nothing = Delivery::default();
    for key in &keys {
        let (c, d) = (
            codex.get(key).unwrap_or(&none),
            delivery.get(key).unwrap_or(&nothing),
        );
        let what = format!("{} in the week of {}", key.1, key.0);
        let row = &rows[&(key.0.to_string(), key.1.clone())];
        assert_delivery(row, d, &what);
        assert_eq!(
            row["codex_active_days"].as_u64().unwrap(),
            c.days.len() as u64,
            "{what}"
        );
        assert_eq!(row["cohort"], week_cohort(c.days.len()), "{what}");
        assert_eq!(
            row["api_key_requests"].as_u64().unwrap(),
            c.requests,
            "{what}"
        );
        assert_eq!(row["api_key_tokens"].as_u64().unwrap(), c.tokens, "{what}");
        assert_eq!(
            row["chatgpt_threads"].as_u64().unwrap(),
            c.threads,
            "{what}"
        );
        assert_eq!(row["chatgpt_turns"].as_u64().unwrap(), c.turns, "{what}");
        assert_eq!(
            row["chatgpt_credits"].as_f64().unwrap(),
            c.credits,
            "{what}"
        );
        let with_codex = d.days.intersection(&c.days).count();
        assert_eq!(
            row["delivery_days_with_codex"].as_u64().unwrap(),
            with_codex as u64,
            "{what}"
        );
        let share = (!d.days.is_empty()).then(|| with_codex as f64 / d.days.len() as f64);
        assert_eq!(
            row["codex_share_of_delivery_days"].as_f64(),
            share,
            "{what}"
        );
    }
}

/// The joined report (`report --by person --period week --json` after a `sync` against the
/// mock) equals the mock's ground truth beside the repository written here; a second sync
/// reads only the commits written since; `--csv` holds the same rows; a repository that
/// became unreadable is reported by the sync, which still succeeds.
#[tokio::test(flavor = "multi_thread")]
async fn the_joined_report_equals_the_ground_truth_and_the_repository() {
    const DAYS: u32 = 21;
    let keys = keys();
    let analytics = host_harness::random::key("sk-cgpt-");
    let mock = MockServer::start(MockConfig {
        analytics_key: Some(analytics.clone()),
        chatgpt_users: 8,
        shared_users: 5,
        ..mock_config(&keys, 8, DAYS)
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    {
        let store = open(&db).await;
        let h = harness_both(&connector_wasm(), &mock).await;
        let days = DAYS.to_string();
        let settings = set(&[
            ("chatgpt_workspace_id", mock.workspace_id()),
            ("backfill_days", &days),
            ("codex_model_pattern", "*"),
        ]);
        h.configure(
            &store,
            CONN,
            &settings,
            secrets(&[
                ("api_token", &keys.admin),
                ("analytics_api_key", &analytics),
            ]),
        )
        .await
        .unwrap();
    }
    let truth = mock.workspace_truth();
    let first = NaiveDate::parse_from_str(&truth.first_day, "%Y-%m-%d").unwrap();
    let last = NaiveDate::parse_from_str(&truth.last_day, "%Y-%m-%d").unwrap();
    // Three people with ChatGPT days: one commits under the email Codex knows, one under
    // it in capitals, one under a personal email joined by an alias; and someone Codex does
    // not know.
    let mut with_days: Vec<(String, BTreeSet<NaiveDate>)> = Vec::new();
    for d in &truth.daily {
        let day = NaiveDate::parse_from_str(&d.day, "%Y-%m-%d").unwrap();
        match with_days
            .iter_mut()
            .find(|(e, _)| *e == d.email.to_lowercase())
        {
            Some((_, days)) => {
                days.insert(day);
            }
            None => with_days.push((d.email.to_lowercase(), [day].into())),
        }
    }
    with_days.sort();
    assert!(with_days.len() >= 3, "the mock has people using Codex");
    let people: Vec<(String, BTreeSet<NaiveDate>)> = with_days.into_iter().take(3).collect();
    let git_emails = [
        people[0].0.clone(),
        people[1].0.to_uppercase(),
        "someone.personal@home.example".to_string(),
    ];
    let stranger = "nobody@elsewhere.example";

    let path = dir.path().join("repo");
    let mut repo = Synthetic::init(&path).unwrap();
    let mut want = Vec::new();
    let mut n = 0usize;
    let mut commit = |repo: &mut Synthetic,
                      branch: &str,
                      git_email: &str,
                      person: &str,
                      t: DateTime<FixedOffset>,
                      want: &mut Vec<Expect>| {
        n += 1;
        let k = 1 + n % 7;
        repo.commit(
            branch,
            ("Someone", git_email),
            t,
            "work",
            &[(&format!("f{n}.txt"), Some(&lines("x", k)))],
        )
        .unwrap();
        want.push(Expect::new(person, t, k as u64, 0, 1));
    };
    for (i, (person, codex_days)) in people.iter().enumerate() {
        // two Codex days, and two days without Codex use (when there are some)
        let mut days: Vec<NaiveDate> = codex_days.iter().take(2).copied().collect();
        days.extend(
            (0..=(last - first).num_days())
                .map(|k| first + Duration::days(k))
                .filter(|d| !codex_days.contains(d))
                .take(2),
        );
        for day in days {
            commit(
                &mut repo,
                MAIN,
                &git_emails[i],
                person,
                noon(day),
                &mut want,
            );
        }
    }
    // a merge, by the first person
    repo.branch("topic", MAIN).unwrap();
    commit(
        &mut repo,
        "topic",
        &git_emails[0],
        &people[0].0,
        noon(last),
        &mut want,
    );
    let t = noon(last) + Duration::hours(1);
    repo.merge(MAIN, "topic", ("Someone", &git_emails[0]), t)
        .unwrap();
    want.push(Expect::merge(&people[0].0, t));
    // Sunday 23:30 in UTC−5: Monday in UTC (when the window holds a Sunday and its Monday)
    if let Some(sunday) = (0..(last - first).num_days())
        .map(|k| first + Duration::days(k))
        .find(|d| d.weekday() == chrono::Weekday::Sun)
    {
        let t = FixedOffset::west_opt(5 * 3600)
            .unwrap()
            .from_local_datetime(&sunday.and_hms_opt(23, 30, 0).unwrap())
            .unwrap();
        commit(&mut repo, MAIN, &git_emails[1], &people[1].0, t, &mut want);
        assert_eq!(want.last().unwrap().day, sunday + Duration::days(1));
    }
    commit(&mut repo, MAIN, stranger, stranger, noon(first), &mut want);

    let component = connector_wasm();
    let sync = || {
        let mut c = Command::new(BIN);
        c.args(["sync", "--json", "--db"])
            .arg(&db)
            .arg("--component")
            .arg(&component);
        for host in ["api.openai.com", "api.chatgpt.com"] {
            c.args(["--redirect", &format!("{host}={}", mock.base_url())]);
        }
        c.env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        json(&c.output().unwrap())
    };
    let added = json(&hh(
        &db,
        &["delivery", "add-repo", path.to_str().unwrap(), "--json"],
    ));
    assert_eq!(added["repository"]["new_commits"], want.len());
    ok(&hh(&db, &["people", "alias", &git_emails[2], &people[2].0]));
    let run = sync();
    assert_eq!(run["run"]["status"], "succeeded", "{run}");
    assert_eq!(run["run"]["error_class"], Value::Null, "{run}");

    let report = json(&hh(
        &db,
        &["report", "--by", "person", "--period", "week", "--json"],
    ));
    let codex = codex_by_week(&mock);
    assert_joined(&report, &codex, &want);
    let unmatched: Vec<&str> = report["unmatched_git_authors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert_eq!(unmatched, [stranger]);
    let codex_people: BTreeSet<&str> = codex.keys().map(|(_, e)| e.as_str()).collect();
    let committers: BTreeSet<&str> = want.iter().map(|c| c.person.as_str()).collect();
    let want_unmatched: Vec<&str> = codex_people.difference(&committers).copied().collect();
    let unmatched: Vec<&str> = report["unmatched_codex_users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert_eq!(unmatched, want_unmatched);
    // surfaces: over the weeks, a person's are the clients of their ChatGPT use
    for (person, _) in &people {
        let got: BTreeSet<String> = report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["email"] == person.as_str())
            .flat_map(|r| {
                r["surfaces"]
                    .as_str()
                    .unwrap()
                    .split(';')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
        let clients: BTreeSet<String> = truth
            .by_client
            .iter()
            .filter(|c| c.email == *person && (c.threads + c.turns > 0 || c.credits.quarters() > 0))
            .map(|c| c.client_id.clone())
            .collect();
        assert_eq!(got, clients, "{person}'s surfaces");
    }
    assert_csv_equals_json(
        &ok(&hh(
            &db,
            &["report", "--by", "person", "--period", "week", "--csv"],
        )),
        &report,
    );

    // A second sync reads only what was committed since.
    let before = json(&hh(&db, &["delivery", "list", "--json"]))["repositories"][0].clone();
    assert_eq!(before["commits"], want.len());
    for _ in 0..2 {
        commit(
            &mut repo,
            MAIN,
            &git_emails[0],
            &people[0].0,
            noon(last) + Duration::hours(2),
            &mut want,
        );
    }
    assert_eq!(sync()["run"]["status"], "succeeded");
    let after = json(&hh(&db, &["delivery", "list", "--json"]))["repositories"][0].clone();
    assert_eq!(
        (
            after["last_new_commits"].as_u64(),
            after["commits"].as_u64()
        ),
        (Some(2), Some(want.len() as u64)),
        "{after}"
    );
    let report = json(&hh(
        &db,
        &["report", "--by", "person", "--period", "week", "--json"],
    ));
    assert_joined(&report, &codex, &want);
    // A third sync with nothing new reads nothing.
    assert_eq!(sync()["run"]["status"], "succeeded");
    assert_eq!(
        json(&hh(&db, &["delivery", "list", "--json"]))["repositories"][0]["last_new_commits"],
        0
    );

    // The charts: one document, the three charts, the rows' numbers in their series.
    let svg_path = dir.path().join("charts.svg");
    ok(&hh(
        &db,
        &[
            "report",
            "--by",
            "person",
            "--json",
            "--chart",
            svg_path.to_str().unwrap(),
        ],
    ));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    for chart in ["use-over-time", "cohorts", "use-beside-delivery"] {
        assert!(svg.contains(&format!("data-chart=\"{chart}\"")), "{chart}");
    }
    assert!(host_harness::charts::check::csp_findings(&svg).is_empty());
    let commits_per_week: Vec<String> = report["periods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let n: u64 = report["rows"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["period_start"] == *p)
                .map(|r| r["commits"].as_u64().unwrap())
                .sum();
            n.to_string()
        })
        .collect();
    assert!(
        svg.contains(&format!(
            "data-series=\"commits\" data-values=\"{}\"",
            commits_per_week.join(",")
        )),
        "{svg}"
    );

    // A repository that became unreadable: the sync succeeds, and says so.
    std::fs::rename(&path, dir.path().join("moved")).unwrap();
    let run = sync();
    assert_eq!(
        (
            run["run"]["status"].as_str(),
            run["run"]["error_class"].as_str()
        ),
        (Some("succeeded"), Some("delivery")),
        "{run}"
    );
    assert!(
        run["run"]["error_message"]
            .as_str()
            .unwrap()
            .contains(path.file_name().unwrap().to_str().unwrap()),
        "{run}"
    );
    let listed = json(&hh(&db, &["delivery", "list", "--json"]))["repositories"][0].clone();
    assert!(
        listed["last_error"]
            .as_str()
            .unwrap()
            .contains("not a git repository"),
        "{listed}"
    );
    assert_eq!(
        listed["commits"].as_u64(),
        Some(want.len() as u64),
        "its commits stay"
    );
    assert_joined(
        &json(&hh(
            &db,
            &["report", "--by", "person", "--period", "week", "--json"],
        )),
        &codex,
        &want,
    );
}

// ---------------------------------------------------------------------------------------
// 3. refused repositories

/// A path that is not a repository, a bare repository, a shallow clone and an empty
/// repository are refused with a clear message, and nothing stored changes (the store's
/// dump is the same before and after; a store that did not exist is not created).
#[tokio::test(flavor = "multi_thread")]
async fn bad_repositories_are_refused_and_the_store_is_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    let mut repo = Synthetic::init(&good).unwrap();
    let tip = repo
        .commit(
            MAIN,
            ("A", "a@x.example"),
            at("2025-01-06T10:00:00Z"),
            "a",
            &[("a", Some("a\n"))],
        )
        .unwrap();

    let plain = dir.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::write(plain.join("file.txt"), "not a repository").unwrap();
    let bare = dir.path().join("bare.git");
    gix::init_bare(&bare).unwrap();
    let empty = dir.path().join("empty");
    gix::init(&empty).unwrap();
    let shallow = dir.path().join("shallow");
    let mut s = Synthetic::init(&shallow).unwrap();
    s.commit(
        MAIN,
        ("A", "a@x.example"),
        at("2025-01-06T10:00:00Z"),
        "a",
        &[("a", Some("a\n"))],
    )
    .unwrap();
    std::fs::write(shallow.join(".git/shallow"), format!("{tip}\n")).unwrap();
    let missing = dir.path().join("no-such-dir");

    let cases: [(&Path, &str); 5] = [
        (&plain, "is not a git repository"),
        (&missing, "is not a git repository"),
        (&bare, "is a bare repository"),
        (&shallow, "is a shallow clone"),
        (&empty, "has no commits"),
    ];
    // Into no store: none is created.
    let none = dir.path().join("none.db");
    for (path, _) in &cases {
        let o = hh(&none, &["delivery", "add-repo", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(!none.exists(), "a refused repository created the store");
    }
    // Into a store with a repository, aliases and teams: nothing changes.
    let db = dir.path().join("store.db");
    ok(&hh(&db, &["delivery", "add-repo", good.to_str().unwrap()]));
    ok(&hh(&db, &["people", "alias", "b@x.example", "a@x.example"]));
    ok(&hh(&db, &["people", "team", "t", "a@x.example"]));
    let before = dump_store_outside_secrets(&open_existing(&db).await).await;
    for (path, message) in &cases {
        let o = hh(&db, &["delivery", "add-repo", path.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.starts_with("error [usage]: "), "{err}");
        assert!(
            err.contains(message) && err.contains("nothing was stored"),
            "{path:?}: {err}"
        );
        let after = dump_store_outside_secrets(&open_existing(&db).await).await;
        assert_eq!(before, after, "{path:?} changed the store");
    }
    // The same through the library: typed refusals, nothing written.
    let store = open_existing(&db).await;
    for (path, kind) in [
        (&plain, "not-a-repository"),
        (&bare, "bare"),
        (&shallow, "shallow"),
        (&empty, "empty"),
    ] {
        let e =
            host_harness::delivery::import::add_repository(&store, CONN, path, Default::default())
                .await
                .unwrap_err();
        match e {
            host_harness::delivery::import::AddError::Refused(r) => assert_eq!(r.kind(), kind),
            other => panic!("{other}"),
        }
    }
    assert_eq!(before, dump_store_outside_secrets(&store).await);
}

// ---------------------------------------------------------------------------------------
// 4. teams

/// `--min-group` hides teams of fewer people (5 by default): a hidden team has no row and
/// is listed with its size; a shown team has a row in every week, its figures the sums of
/// its members'.
#[test]
fn min_group_hides_small_teams() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let path = dir.path().join("repo");
    let mut repo = Synthetic::init(&path).unwrap();
    let people = [
        "p1@x.example",
        "p2@x.example",
        "p3@x.example",
        "p4@x.example",
        "p5@x.example",
    ];
    let mut want = Vec::new();
    let start = NaiveDate::from_ymd_opt(2025, 2, 3).unwrap();
    for (i, p) in people.iter().enumerate() {
        for w in 0..2 {
            if (i + w) % 2 == 0 {
                let t = noon(start + Duration::days(7 * w as i64 + i as i64));
                repo.commit(
                    MAIN,
                    ("P", p),
                    t,
                    "w",
                    &[(&format!("{p}-{w}"), Some(&lines(p, i + 1)))],
                )
                .unwrap();
                want.push(Expect::new(p, t, i as u64 + 1, 0, 1));
            }
        }
    }
    ok(&hh(&db, &["delivery", "add-repo", path.to_str().unwrap()]));
    ok(&hh(
        &db,
        &["people", "team", "big", people[0], people[1], people[2]],
    ));
    ok(&hh(&db, &["people", "team", "small", people[3], people[4]]));

    let by_default = json(&hh(&db, &["report", "--by", "team", "--json"]));
    assert_eq!(
        by_default["rows"],
        Value::Array(vec![]),
        "both teams are smaller than 5"
    );
    assert_eq!(
        by_default["hidden_teams"],
        serde_json::json!([{"team": "big", "people": 3}, {"team": "small", "people": 2}])
    );

    let three = json(&hh(
        &db,
        &["report", "--by", "team", "--min-group", "3", "--json"],
    ));
    assert_eq!(
        three["hidden_teams"],
        serde_json::json!([{"team": "small", "people": 2}])
    );
    let rows = three["rows"].as_array().unwrap();
    let weeks: Vec<&str> = rows
        .iter()
        .map(|r| r["period_start"].as_str().unwrap())
        .collect();
    assert_eq!(weeks, ["2025-02-03", "2025-02-10"]);
    let members: Vec<Expect> = want
        .iter()
        .filter(|c| people[..3].contains(&c.person.as_str()))
        .cloned()
        .collect();
    for row in rows {
        assert_eq!(row["team"], "big");
        assert_eq!(row["people"], 3);
        let week =
            NaiveDate::parse_from_str(row["period_start"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        let (mut commits, mut added, mut member_days, mut active) = (0, 0, 0, 0);
        for d in delivery_by_week(&members)
            .iter()
            .filter(|((w, _), _)| *w == week)
            .map(|(_, d)| d)
        {
            commits += d.commits;
            added += d.added;
            member_days += d.days.len() as u64; // (each member's days, summed)
            active += 1;
        }
        let got = (
            row["commits"].as_u64().unwrap(),
            row["lines_added"].as_u64().unwrap(),
            row["delivery_active_days"].as_u64().unwrap(),
            row["active_people"].as_u64().unwrap(),
            row["people_delivering"].as_u64().unwrap(),
        );
        assert_eq!(
            got,
            (commits, added, member_days, active, active),
            "team big, week of {week}"
        );
    }
    let csv = ok(&hh(
        &db,
        &["report", "--by", "team", "--min-group", "3", "--csv"],
    ));
    assert_csv_equals_json(&csv, &three);
    let two = json(&hh(
        &db,
        &["report", "--by", "team", "--min-group", "2", "--json"],
    ));
    assert_eq!(two["hidden_teams"], Value::Array(vec![]));
    assert_eq!(
        two["rows"].as_array().unwrap().len(),
        4,
        "two teams, two weeks"
    );
    let table = ok(&hh(&db, &["report", "--by", "team", "--min-group", "3"]));
    assert!(
        table.contains("1 team hidden (fewer than 3 people): small (2)"),
        "{table}"
    );
}

/// Options that mean nothing together are refused as usage errors, saying what to do.
#[test]
fn meaningless_combinations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("store.db");
    let path = dir.path().join("repo");
    let mut repo = Synthetic::init(&path).unwrap();
    repo.commit(
        MAIN,
        ("A", "a@x.example"),
        at("2025-01-06T10:00:00Z"),
        "a",
        &[("a", Some("a\n"))],
    )
    .unwrap();
    ok(&hh(&db, &["delivery", "add-repo", path.to_str().unwrap()]));
    for (args, says) in [
        (
            &["report", "--period", "month"][..],
            "add --by person or --by team",
        ),
        (&["report", "--csv"], "add --by person or --by team"),
        (
            &["report", "--min-group", "3"],
            "add --by person or --by team",
        ),
        (
            &["report", "--chart", "x.svg"],
            "add --by person or --by team",
        ),
        (
            &["report", "--by", "person", "--period", "day"],
            "week or month",
        ),
        (
            &["report", "--by", "team", "--period", "all"],
            "week or month",
        ),
        (
            &["report", "--by", "person", "--min-group", "3"],
            "--by team only",
        ),
        (
            &[
                "report",
                "--by",
                "person",
                "--since",
                "2025-02-01",
                "--until",
                "2025-01-01",
            ],
            "is after",
        ),
        (
            &["people", "alias", "a@x.example", "A@X.example"],
            "two different emails",
        ),
        (
            &["people", "alias", "not-an-email", "a@x.example"],
            "not an email address",
        ),
    ] {
        let o = hh(&db, args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{args:?}: {}", text(&o));
    }
    // an alias cycle is refused before it is stored
    ok(&hh(&db, &["people", "alias", "b@x.example", "a@x.example"]));
    let o = hh(&db, &["people", "alias", "a@x.example", "b@x.example"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("cycle"), "{}", text(&o));
    let list = json(&hh(&db, &["people", "list", "--json"]));
    assert_eq!(
        list["aliases"],
        serde_json::json!({"b@x.example": "a@x.example"})
    );
    // the per-person view without --by still works as before
    let view = json(&hh(&db, &["report", "--period", "week", "--json"]));
    assert_eq!(view["period"], "week");
    // and a registered repository can be removed
    ok(&hh(&db, &["delivery", "remove", path.to_str().unwrap()]));
    assert_eq!(
        json(&hh(&db, &["delivery", "list", "--json"]))["repositories"],
        Value::Array(vec![])
    );
}
