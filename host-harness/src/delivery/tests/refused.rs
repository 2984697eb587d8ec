//! Repositories that cannot be read faithfully are refused, each with its own message, and a
//! read that fails returns nothing but its error.

use super::fixture::{git_in, Repo, ALICE};
use crate::delivery::{read, Cursor, DeliveryError, Options, Source};

fn open_err(path: &std::path::Path) -> DeliveryError {
    Source::open(path, Options::default()).expect_err("refused")
}

/// A repository with three commits, to clone from.
fn origin() -> Repo {
    let mut repo = Repo::new();
    for i in 0..3 {
        repo.write(&format!("f{i}.txt"), format!("{i}\n"));
        repo.commit(ALICE, &format!("c{i}"));
    }
    repo
}

#[test]
fn a_path_that_is_not_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_err(dir.path());
    assert!(
        matches!(err, DeliveryError::NotARepository { .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), "not-a-repository");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a git repository (no .git here); point at the top of a clone",
            dir.path().display()
        )
    );

    let missing = dir.path().join("missing");
    let err = open_err(&missing);
    assert!(err.to_string().contains("(no such directory)"), "{err}");

    let file = dir.path().join("file.txt");
    std::fs::write(&file, "x").unwrap();
    let err = open_err(&file);
    assert!(err.to_string().contains("not a directory"), "{err}");

    // Inside a clone is not the top of it: no searching upwards.
    let mut repo = Repo::new();
    repo.write("sub/a.txt", "a\n");
    repo.commit(ALICE, "a");
    assert!(matches!(
        open_err(&repo.path().join("sub")),
        DeliveryError::NotARepository { .. }
    ));
    // Its .git directory is the same repository.
    assert!(Source::open(repo.path().join(".git"), Options::default()).is_ok());
}

#[test]
fn a_bare_repository_is_refused() {
    let origin = origin();
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.git");
    git_in(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            origin.path().to_str().unwrap(),
            bare.to_str().unwrap(),
        ],
    );
    let err = open_err(&bare);
    assert!(matches!(err, DeliveryError::Bare { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} is a bare repository; point at a working clone",
            bare.display()
        )
    );
}

#[test]
fn a_shallow_clone_is_refused() {
    let origin = origin();
    let dir = tempfile::tempdir().unwrap();
    let shallow = dir.path().join("shallow");
    let url = format!("file://{}", origin.path().display());
    git_in(
        dir.path(),
        &[
            "clone",
            "-q",
            "--depth",
            "1",
            &url,
            shallow.to_str().unwrap(),
        ],
    );
    let err = open_err(&shallow);
    assert!(matches!(err, DeliveryError::Shallow { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("is a shallow clone: its history is incomplete"),
        "{err}"
    );
    assert!(err.to_string().contains("git fetch --unshallow"), "{err}");
}

#[test]
fn a_partial_clone_is_refused() {
    let origin = origin();
    origin.git(&["config", "uploadpack.allowFilter", "true"]);
    let dir = tempfile::tempdir().unwrap();
    let partial = dir.path().join("partial");
    let url = format!("file://{}", origin.path().display());
    git_in(
        dir.path(),
        &[
            "clone",
            "-q",
            "--filter=blob:none",
            &url,
            partial.to_str().unwrap(),
        ],
    );
    let err = open_err(&partial);
    assert!(matches!(err, DeliveryError::PartialClone { .. }), "{err:?}");
    assert!(
        err.to_string().contains("file contents are missing"),
        "{err}"
    );
}

#[test]
fn an_empty_repository_is_refused() {
    let repo = Repo::new();
    let err = open_err(repo.path());
    assert!(matches!(err, DeliveryError::Empty { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "{} has no commits yet (no branch points at a commit): nothing to read",
            repo.path().display()
        )
    );
    // The same through `read`.
    let err = read(repo.path(), &Cursor::default(), Options::default()).unwrap_err();
    assert_eq!(err.kind(), "empty");
}

#[test]
fn a_missing_object_fails_the_whole_read() {
    let mut repo = Repo::new();
    repo.write("a.txt", "a\n");
    repo.commit(ALICE, "a");
    let first = repo.read(&Cursor::default());
    repo.write("b.txt", "a blob that goes missing\n");
    let b = repo.commit(ALICE, "b");
    // Remove the new blob's loose object, as a corrupt copy would lack it.
    let blob = repo.git(&["rev-parse", "HEAD:b.txt"]);
    let blob = blob.trim();
    std::fs::remove_file(
        repo.path()
            .join(".git/objects")
            .join(&blob[..2])
            .join(&blob[2..]),
    )
    .unwrap();

    let source = Source::open(repo.path(), Options::default()).unwrap();
    let err = source.read(&first.cursor).unwrap_err();
    assert!(matches!(err, DeliveryError::Git { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("counting the lines of commit {b}")),
        "{err}"
    );
    // Nothing came back but the error: once the object is back, the same cursor reads the
    // commit.
    repo.git(&["hash-object", "-w", "b.txt"]);
    let retry = source.read(&first.cursor).unwrap();
    assert_eq!(super::fixture::ids(&retry), vec![b]);
}

#[test]
fn a_source_and_its_results_can_move_between_threads() {
    fn send<T: Send>() {}
    send::<Source>();
    send::<crate::delivery::Import>();
    send::<DeliveryError>();
}
