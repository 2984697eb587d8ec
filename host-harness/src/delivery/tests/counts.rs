//! Exact per-commit counts on known commits: text, binary, renames, modes, line endings.

use super::fixture::{Repo, ALICE, BOB};
use crate::delivery::{Commit, Cursor, Options};

fn counts(c: &Commit) -> (u64, u64, u64) {
    (c.lines_added, c.lines_deleted, c.files_changed)
}

fn by_id<'a>(commits: &'a [Commit], id: &str) -> &'a Commit {
    commits
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("commit {id} was read"))
}

#[test]
fn known_commits_give_exact_counts() {
    let mut repo = Repo::new();
    repo.write("a.txt", "one\ntwo\nthree\n");
    repo.write("src/b.txt", "alpha\nbeta\n");
    let root = repo.commit(ALICE, "two files");

    repo.write("a.txt", "one\n2\nthree\nfour\n"); // one line replaced, one added
    let edit = repo.commit(BOB, "edit");

    repo.remove("src/b.txt");
    let delete = repo.commit(ALICE, "delete");

    repo.write("logo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01");
    let binary = repo.commit(ALICE, "binary");

    repo.write(
        "logo.png",
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x02\x03",
    );
    repo.write("a.txt", "one\n2\nthree\nfour\nfive\n");
    let binary_and_text = repo.commit(BOB, "binary and text");

    repo.mv("a.txt", "docs/renamed.txt");
    let rename = repo.commit(ALICE, "pure rename");

    repo.mv("docs/renamed.txt", "docs/again.txt");
    repo.write("docs/again.txt", "one\n2\nthree\nfour\nfive\nsix\n");
    let rename_and_edit = repo.commit(ALICE, "rename and edit");

    repo.make_executable("docs/again.txt");
    let mode = repo.commit(BOB, "mode only");

    repo.write("tail.txt", "no newline at the end");
    let unterminated = repo.commit(BOB, "unterminated");
    repo.write("tail.txt", "no newline at the end\n");
    let terminated = repo.commit(BOB, "terminated");

    repo.write("crlf.txt", "a\r\nb\r\n");
    let crlf = repo.commit(ALICE, "crlf");
    repo.write("crlf.txt", "a\nb\n");
    let lf = repo.commit(ALICE, "lf");

    repo.write("empty.txt", "");
    let empty = repo.commit(ALICE, "empty file");

    let read = repo.read(&Cursor::default());
    let c = &read.commits;
    assert_eq!(c.len(), 13);
    assert_eq!(counts(by_id(c, &root)), (5, 0, 2));
    assert_eq!(counts(by_id(c, &edit)), (2, 1, 1));
    assert_eq!(counts(by_id(c, &delete)), (0, 2, 1));
    assert_eq!(
        counts(by_id(c, &binary)),
        (0, 0, 1),
        "a binary file counts, with no lines"
    );
    assert_eq!(counts(by_id(c, &binary_and_text)), (1, 0, 2));
    assert_eq!(
        counts(by_id(c, &rename)),
        (0, 0, 1),
        "a pure rename is one file, no lines"
    );
    assert_eq!(counts(by_id(c, &rename_and_edit)), (1, 0, 1));
    assert_eq!(
        counts(by_id(c, &mode)),
        (0, 0, 1),
        "a mode change is a file, no lines"
    );
    assert_eq!(counts(by_id(c, &unterminated)), (1, 0, 1));
    assert_eq!(
        counts(by_id(c, &terminated)),
        (1, 1, 1),
        "ending the last line changes it"
    );
    assert_eq!(counts(by_id(c, &crlf)), (2, 0, 1));
    assert_eq!(
        counts(by_id(c, &lf)),
        (2, 2, 1),
        "line endings are compared"
    );
    assert_eq!(counts(by_id(c, &empty)), (0, 0, 1));
    assert!(c.iter().all(|c| !c.merge));

    // Parents before children: here, the order they were made in.
    let order = [
        &root,
        &edit,
        &delete,
        &binary,
        &binary_and_text,
        &rename,
        &rename_and_edit,
        &mode,
        &unterminated,
        &terminated,
        &crlf,
        &lf,
        &empty,
    ];
    assert_eq!(c.iter().map(|c| &c.id).collect::<Vec<_>>(), order);
}

#[test]
fn without_rename_detection_a_rename_is_a_deletion_and_an_addition() {
    let mut repo = Repo::new();
    repo.write("a.txt", "1\n2\n3\n4\n");
    repo.commit(ALICE, "a");
    repo.mv("a.txt", "b.txt");
    let rename = repo.commit(ALICE, "rename");

    let detected = repo.read(&Cursor::default());
    assert_eq!(counts(by_id(&detected.commits, &rename)), (0, 0, 1));

    let options = Options {
        detect_renames: false,
        ..Options::default()
    };
    let plain = repo.read_with(&Cursor::default(), options);
    assert_eq!(counts(by_id(&plain.commits, &rename)), (4, 4, 2));
}

#[test]
fn gitattributes_binary_files_have_no_lines() {
    let mut repo = Repo::new();
    repo.write(".gitattributes", "*.dat binary\n");
    repo.write("table.dat", "looks\nlike\ntext\n");
    let first = repo.commit(ALICE, "attributes and data");
    repo.write("table.dat", "looks\nlike\nmore text\n");
    let second = repo.commit(ALICE, "data");

    let read = repo.read(&Cursor::default());
    assert_eq!(
        counts(by_id(&read.commits, &first)),
        (1, 0, 2),
        "only .gitattributes has lines"
    );
    assert_eq!(counts(by_id(&read.commits, &second)), (0, 0, 1));
}

#[test]
fn an_empty_commit_changes_nothing() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit(ALICE, "a");
    let empty = repo.commit(ALICE, "nothing");
    let read = repo.read(&Cursor::default());
    assert_eq!(counts(by_id(&read.commits, &empty)), (0, 0, 0));
}
