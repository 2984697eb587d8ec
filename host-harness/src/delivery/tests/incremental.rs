//! Incremental reads: only what is new, new refs, force-pushes, deleted and pruned tips.

use std::collections::{BTreeMap, HashSet};

use super::fixture::{git_in, ids, Repo, ALICE, BOB};
use crate::delivery::{Cursor, DeliveryError, Options, RefChange, Source};

fn change_of(import: &crate::delivery::Import, name: &str) -> Option<RefChange> {
    import
        .refs
        .iter()
        .find(|r| r.name == name)
        .map(|r| r.change)
}

#[test]
fn a_second_read_returns_only_new_commits() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    let a = repo.commit(ALICE, "a");
    repo.write("b.txt", "b\n");
    let b = repo.commit(ALICE, "b");

    let first = repo.read(&Cursor::default());
    assert_eq!(ids(&first), vec![a.clone(), b.clone()]);
    assert_eq!(
        first.cursor.refs,
        BTreeMap::from([("refs/heads/main".to_string(), b.clone())])
    );
    assert_eq!(
        change_of(&first, "refs/heads/main"),
        Some(RefChange::Created)
    );

    let unchanged = repo.read(&first.cursor);
    assert!(unchanged.commits.is_empty());
    assert!(unchanged.refs.is_empty());
    assert_eq!(unchanged.cursor, first.cursor);

    repo.write("c.txt", "c\nc\n");
    let c = repo.commit(BOB, "c");
    repo.write("d.txt", "d\n");
    let d = repo.commit(BOB, "d");
    let second = repo.read(&first.cursor);
    assert_eq!(ids(&second), vec![c, d.clone()]);
    assert_eq!(second.commits[0].lines_added, 2);
    assert_eq!(
        change_of(&second, "refs/heads/main"),
        Some(RefChange::FastForward)
    );
    assert_eq!(second.cursor.refs["refs/heads/main"], d);
}

#[test]
fn a_new_ref_brings_only_its_own_commits() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    let a = repo.commit(ALICE, "a");
    repo.write("b.txt", "b\n");
    repo.commit(ALICE, "b");
    let first = repo.read(&Cursor::default());

    // A branch at a commit already read: a new ref, no new commits.
    repo.git(&["branch", "old-start", &a]);
    let second = repo.read(&first.cursor);
    assert!(second.commits.is_empty());
    assert_eq!(
        change_of(&second, "refs/heads/old-start"),
        Some(RefChange::Created)
    );
    assert_eq!(second.cursor.refs.len(), 2);

    // A branch from an old commit with a commit of its own: that commit only.
    repo.checkout(&["-b", "topic", &a]);
    repo.write("t.txt", "t\n");
    let t = repo.commit(BOB, "topic");
    let third = repo.read(&second.cursor);
    assert_eq!(ids(&third), vec![t]);
    assert_eq!(
        change_of(&third, "refs/heads/topic"),
        Some(RefChange::Created)
    );
}

#[test]
fn a_force_push_loses_nothing_and_duplicates_nothing() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit(ALICE, "a");
    repo.write("b.txt", "b\n");
    let b = repo.commit(ALICE, "b");
    repo.checkout(&["-b", "feature"]);
    repo.write("f.txt", "1\n");
    let f1 = repo.commit(BOB, "f1");
    repo.write("f.txt", "1\n2\n");
    let f2 = repo.commit(BOB, "f2");
    let first = repo.read(&Cursor::default());
    assert_eq!(first.commits.len(), 4);
    let mut seen: Vec<String> = ids(&first);

    // Rewrite the feature: back to b, two different commits (a rebase, an amend).
    repo.git(&["reset", "-q", "--hard", &b]);
    repo.write("f.txt", "1\n");
    repo.write("g.txt", "g\n");
    let g1 = repo.commit(BOB, "f1, redone");
    repo.write("f.txt", "1\n2\n3\n");
    let g2 = repo.commit(BOB, "f2, redone");
    let second = repo.read(&first.cursor);
    assert_eq!(
        ids(&second),
        vec![g1.clone(), g2.clone()],
        "the new commits, and only them"
    );
    let update = second
        .refs
        .iter()
        .find(|r| r.name == "refs/heads/feature")
        .unwrap();
    assert_eq!(update.change, RefChange::Rewritten);
    assert_eq!(update.old.as_deref(), Some(f2.as_str()));
    assert_eq!(update.new.as_deref(), Some(g2.as_str()));
    assert_eq!(
        change_of(&second, "refs/heads/main"),
        None,
        "main did not move"
    );
    assert!(
        second.cursor.orphaned.contains(&f2),
        "the old tip is remembered"
    );
    seen.extend(ids(&second));

    // Force-pushed back to the old tip: those commits were read already.
    repo.git(&["reset", "-q", "--hard", &f2]);
    let third = repo.read(&second.cursor);
    assert!(
        third.commits.is_empty(),
        "nothing read twice: {:?}",
        ids(&third)
    );
    assert_eq!(
        change_of(&third, "refs/heads/feature"),
        Some(RefChange::Rewritten)
    );
    assert!(!third.cursor.orphaned.contains(&f2), "reachable again");
    assert!(
        third.cursor.orphaned.contains(&g2),
        "now the redone tip is the orphan"
    );

    // And on from there: only what is new.
    repo.write("h.txt", "h\n");
    let h = repo.commit(BOB, "h");
    let fourth = repo.read(&third.cursor);
    assert_eq!(ids(&fourth), vec![h]);
    seen.extend(ids(&fourth));

    // Over the chain of reads every commit in the repository was returned exactly once.
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len());
    assert!(unique.contains(&f1) && unique.contains(&g1));
    let all = repo.git(&["rev-list", "--all", "--reflog"]);
    assert_eq!(all.lines().count(), seen.len());
}

#[test]
fn a_ref_reset_to_an_older_commit_brings_nothing() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    let a = repo.commit(ALICE, "a");
    repo.write("b.txt", "b\n");
    let b = repo.commit(ALICE, "b");
    let first = repo.read(&Cursor::default());
    repo.git(&["reset", "-q", "--hard", &a]);
    let second = repo.read(&first.cursor);
    assert!(second.commits.is_empty());
    assert_eq!(
        change_of(&second, "refs/heads/main"),
        Some(RefChange::Rewritten)
    );
    assert_eq!(second.cursor.orphaned.iter().collect::<Vec<_>>(), vec![&b]);
}

#[test]
fn a_deleted_unmerged_branch_is_kept_as_an_orphan_then_pruned() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit(ALICE, "a");
    repo.checkout(&["-b", "spike"]);
    repo.write("s.txt", "s\n");
    let s = repo.commit(BOB, "spike");
    repo.checkout(&["main"]);
    let first = repo.read(&Cursor::default());
    assert_eq!(first.commits.len(), 2);

    repo.git(&["branch", "-q", "-D", "spike"]);
    let second = repo.read(&first.cursor);
    assert!(second.commits.is_empty());
    assert_eq!(
        change_of(&second, "refs/heads/spike"),
        Some(RefChange::Deleted)
    );
    assert!(second.cursor.orphaned.contains(&s));

    // Recreated at the same commit: not read again.
    repo.git(&["branch", "spike", &s]);
    let again = repo.read(&second.cursor);
    assert!(again.commits.is_empty());
    assert!(again.cursor.orphaned.is_empty());

    // Deleted and pruned by git: reported, and dropped from the cursor.
    repo.git(&["branch", "-q", "-D", "spike"]);
    let third = repo.read(&again.cursor);
    repo.git(&["reflog", "expire", "--expire=now", "--all"]);
    repo.git(&["gc", "-q", "--prune=now"]);
    let fourth = repo.read(&third.cursor);
    assert_eq!(fourth.pruned, vec![s]);
    assert!(fourth.cursor.orphaned.is_empty());
    assert!(fourth.commits.is_empty());
}

#[test]
fn remote_tracking_refs_are_read_and_symbolic_refs_skipped() {
    let mut origin = Repo::new();
    origin.write("a.txt", "a\n");
    let a = origin.commit(ALICE, "a");
    let dir = tempfile::tempdir().unwrap();
    let clone_path = dir.path().join("clone");
    git_in(
        dir.path(),
        &[
            "clone",
            "-q",
            origin.path().to_str().unwrap(),
            clone_path.to_str().unwrap(),
        ],
    );
    let clone = Repo::at(clone_path);

    let first = clone.read(&Cursor::default());
    assert_eq!(
        ids(&first),
        vec![a.clone()],
        "local and remote-tracking main: one commit"
    );
    let names: Vec<&str> = first.cursor.refs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec!["refs/heads/main", "refs/remotes/origin/main"],
        "origin/HEAD is symbolic"
    );

    origin.write("b.txt", "b\n");
    let b = origin.commit(BOB, "b");
    clone.git(&["fetch", "-q"]);
    let second = clone.read(&first.cursor);
    assert_eq!(ids(&second), vec![b]);
    assert_eq!(
        change_of(&second, "refs/remotes/origin/main"),
        Some(RefChange::FastForward)
    );
    assert_eq!(change_of(&second, "refs/heads/main"), None);

    // Local branches only.
    let options = Options {
        ref_prefixes: vec!["refs/heads/".into()],
        ..Options::default()
    };
    let local = clone.read_with(&Cursor::default(), options);
    assert_eq!(ids(&local), vec![a]);
}

#[test]
fn a_cursor_round_trips_through_json_and_plain_maps_work() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit(ALICE, "a");
    repo.checkout(&["-b", "gone"]);
    repo.write("g.txt", "g\n");
    let g = repo.commit(ALICE, "g");
    repo.checkout(&["main"]);
    let first = repo.read(&Cursor::default());
    repo.git(&["branch", "-q", "-D", "gone"]);
    let second = repo.read(&first.cursor);
    assert!(second.cursor.orphaned.contains(&g));

    let json = serde_json::to_string(&second.cursor).unwrap();
    let back: Cursor = serde_json::from_str(&json).unwrap();
    assert_eq!(back, second.cursor);

    // A cursor with no orphans serializes as the plain map of refs, and reads back.
    let plain = Cursor::from_refs(first.cursor.refs.clone());
    let json = serde_json::to_string(&plain).unwrap();
    assert!(!json.contains("orphaned"), "{json}");
    let back: Cursor = serde_json::from_str(
        r#"{"refs":{"refs/heads/main":"0000000000000000000000000000000000000000"}}"#,
    )
    .unwrap();
    assert_eq!(back.refs.len(), 1);
}

#[test]
fn an_invalid_cursor_is_refused() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit(ALICE, "a");
    let cursor = Cursor::from_refs(BTreeMap::from([(
        "refs/heads/main".to_string(),
        "not-hex".to_string(),
    )]));
    let err = Source::open(repo.path(), Options::default())
        .unwrap()
        .read(&cursor)
        .unwrap_err();
    assert!(matches!(err, DeliveryError::InvalidCursor(_)), "{err:?}");
    assert!(err.to_string().contains("not-hex"), "{err}");
}

#[test]
fn a_tip_the_repository_never_had_hides_nothing() {
    // A cursor from elsewhere (another repository, or tips since pruned): its tips are
    // reported as pruned and everything reachable is read.
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    let a = repo.commit(ALICE, "a");
    let stranger = "1234567890123456789012345678901234567890".to_string();
    let cursor = Cursor::from_refs(BTreeMap::from([(
        "refs/heads/main".to_string(),
        stranger.clone(),
    )]));
    let read = repo.read(&cursor);
    assert_eq!(ids(&read), vec![a]);
    assert_eq!(read.pruned, vec![stranger]);
    assert_eq!(
        change_of(&read, "refs/heads/main"),
        Some(RefChange::Rewritten)
    );
}
