//! Merges: returned once, flagged, with no lines and no files; the merged commits carry the
//! lines, each once.

use super::fixture::{ids, Repo, ALICE, BOB};
use crate::delivery::Cursor;

#[test]
fn a_merge_is_counted_once_with_no_lines() {
    let mut repo = Repo::new();
    repo.write("a.txt", "1\n2\n3\n");
    let base = repo.commit(ALICE, "base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("feature.txt", "f1\nf2\n");
    let f1 = repo.commit(BOB, "feature 1");
    repo.write("feature.txt", "f1\nf2\nf3\n");
    let f2 = repo.commit(BOB, "feature 2");
    repo.checkout(&["main"]);
    repo.write("a.txt", "1\n2\n3\n4\n");
    let m1 = repo.commit(ALICE, "main moves on");
    let merge = repo.merge(ALICE, "feature");

    let read = repo.read(&Cursor::default());
    let got = ids(&read);
    assert_eq!(
        got.len(),
        5,
        "each commit once, though two refs reach most of them"
    );
    for id in [&base, &f1, &f2, &m1, &merge] {
        assert_eq!(got.iter().filter(|g| g == &id).count(), 1, "{id} once");
    }
    let m = read.commits.iter().find(|c| c.id == merge).unwrap();
    assert!(m.merge);
    assert_eq!((m.lines_added, m.lines_deleted, m.files_changed), (0, 0, 0));
    assert_eq!(
        got.last(),
        Some(&merge),
        "parents first: the merge comes after both sides"
    );
    assert_eq!(read.commits.iter().filter(|c| c.merge).count(), 1);

    // The lines are those of the commits merged, counted once: 3 + 2 + 1 + 1.
    let added: u64 = read.commits.iter().map(|c| c.lines_added).sum();
    assert_eq!(added, 7);
}

#[test]
fn a_merge_read_later_brings_only_itself_and_what_was_not_read() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit(ALICE, "base");
    repo.git(&["checkout", "-q", "-b", "feature"]);
    repo.write("f.txt", "f\n");
    repo.commit(BOB, "feature");
    repo.checkout(&["main"]);
    let first = repo.read(&Cursor::default());
    assert_eq!(first.commits.len(), 2);

    let merge = repo.merge(ALICE, "feature");
    // The branch is merged and deleted: its commit was read already.
    repo.git(&["branch", "-q", "-d", "feature"]);
    let second = repo.read(&first.cursor);
    assert_eq!(ids(&second), vec![merge.clone()]);
    assert!(second.commits[0].merge);
    assert!(
        second.cursor.orphaned.is_empty(),
        "a merged branch's tip is reachable: not orphaned"
    );
}
