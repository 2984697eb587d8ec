//! Who and when: `.mailmap`, an author with two emails, author times in UTC.

use chrono::{Datelike, TimeZone, Timelike, Utc, Weekday};

use super::fixture::{Repo, ALICE};
use crate::delivery::Cursor;

#[test]
fn an_author_with_two_emails_is_one_person_after_the_mailmap() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    let work = repo.commit(("Carol Jones", "carol@corp.example"), "at work");
    repo.write("b.txt", "b\n");
    let home = repo.commit(("carol", "Carol.Jones@Home.Example"), "at home");
    repo.write("c.txt", "c\n");
    let other = repo.commit(ALICE, "someone else");

    // Without a mailmap, two emails are two identities, as written.
    let before = repo.read(&Cursor::default());
    let who = |id: &str, import: &crate::delivery::Import| {
        let c = import.commits.iter().find(|c| c.id == id).unwrap();
        (c.author_name.clone(), c.author_email.clone())
    };
    assert_eq!(
        who(&work, &before),
        ("Carol Jones".into(), "carol@corp.example".into())
    );
    assert_eq!(
        who(&home, &before),
        ("carol".into(), "Carol.Jones@Home.Example".into())
    );

    // The .mailmap of the working tree maps both to one (emails matched case-insensitively);
    // it applies to every commit, including those before it was written.
    repo.write(
        ".mailmap",
        "# team\nCarol Jones <carol@corp.example>\nCarol Jones <carol@corp.example> <carol.jones@home.example>\n",
    );
    let after = repo.read(&Cursor::default());
    assert_eq!(
        who(&work, &after),
        ("Carol Jones".into(), "carol@corp.example".into())
    );
    assert_eq!(
        who(&home, &after),
        ("Carol Jones".into(), "carol@corp.example".into())
    );
    assert_eq!(
        who(&other, &after),
        (ALICE.0.into(), ALICE.1.into()),
        "others are untouched"
    );

    // Committed, it works the same; git reads the working tree's file in a clone.
    repo.commit(ALICE, "mailmap");
    let committed = repo.read(&Cursor::default());
    assert_eq!(
        who(&home, &committed),
        ("Carol Jones".into(), "carol@corp.example".into())
    );
}

#[test]
fn a_mailmap_entry_can_fix_only_the_name() {
    let mut repo = Repo::new();
    repo.write(".mailmap", "Bob Stone <bob@example.com>\n");
    let id = repo.commit(("bstone", "bob@example.com"), "first");
    let read = repo.read(&Cursor::default());
    assert_eq!(read.commits[0].id, id);
    assert_eq!(read.commits[0].author_name, "Bob Stone");
    assert_eq!(read.commits[0].author_email, "bob@example.com");
}

#[test]
fn author_time_is_utc_across_a_week_boundary() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    // Sunday 10 March 2024, 23:30 in New York (-0500) is Monday 11 March, 04:30 UTC.
    let late = repo.commit_at(ALICE, "late on Sunday", "2024-03-10T23:30:00-05:00");
    repo.write("b.txt", "b\n");
    // Monday 11 March, 00:30 in Paris (+0100) is Sunday 10 March, 23:30 UTC: the week before.
    let early = repo.commit_at(ALICE, "early on Monday", "2024-03-11T00:30:00+01:00");

    let read = repo.read(&Cursor::default());
    let late = read.commits.iter().find(|c| c.id == late).unwrap();
    assert_eq!(
        late.author_time,
        Utc.with_ymd_and_hms(2024, 3, 11, 4, 30, 0).unwrap()
    );
    assert_eq!(late.author_time.weekday(), Weekday::Mon);
    assert_eq!(late.author_time.iso_week().week(), 11);
    assert_eq!(late.author_utc_offset_seconds, -5 * 3600);

    let early = read.commits.iter().find(|c| c.id == early).unwrap();
    assert_eq!(
        early.author_time,
        Utc.with_ymd_and_hms(2024, 3, 10, 23, 30, 0).unwrap()
    );
    assert_eq!(early.author_time.weekday(), Weekday::Sun);
    assert_eq!(early.author_time.iso_week().week(), 10);
    assert_eq!(early.author_time.hour(), 23);
    assert_eq!(early.author_utc_offset_seconds, 3600);
}

#[test]
fn author_and_committer_differ_and_the_author_counts() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit(ALICE, "a");
    repo.write("b.txt", "b\n");
    repo.git(&["add", "-A"]);
    // Dana wrote it on 1 Feb; Alice committed it (a rebase, a patch applied) on 1 Mar.
    let out = super::fixture::git_command(repo.path())
        .args([
            "commit",
            "-q",
            "-m",
            "applied",
            "--author",
            "Dana Lee <dana@example.com>",
        ])
        .env("GIT_AUTHOR_DATE", "2024-02-01T12:00:00+00:00")
        .env("GIT_COMMITTER_NAME", ALICE.0)
        .env("GIT_COMMITTER_EMAIL", ALICE.1)
        .env("GIT_COMMITTER_DATE", "2024-03-01T12:00:00+00:00")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read = repo.read(&Cursor::default());
    let c = read.commits.last().unwrap();
    assert_eq!(
        (c.author_name.as_str(), c.author_email.as_str()),
        ("Dana Lee", "dana@example.com")
    );
    assert_eq!(
        c.author_time,
        Utc.with_ymd_and_hms(2024, 2, 1, 12, 0, 0).unwrap()
    );
}
