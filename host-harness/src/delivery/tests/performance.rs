//! A history of 10,000 commits reads in seconds (in a release build), the same on one thread
//! as on several, and a second read with nothing new is immediate.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::fixture::{git_command, Repo};
use crate::delivery::{Cursor, Options, Source};

const COMMITS: usize = 10_000;
const FILES: usize = 200;
const LINES: usize = 50;

/// 10,000 commits by `git fast-import`: the first 200 add a file of 50 lines each, every
/// later one replaces one line of one file.
fn big_history() -> Repo {
    let repo = Repo::new();
    let mut files: Vec<Vec<String>> = (0..FILES)
        .map(|f| {
            (0..LINES)
                .map(|l| format!("file {f} line {l} of the original text"))
                .collect()
        })
        .collect();
    let mut stream = Vec::new();
    for i in 0..COMMITS {
        let f = i % FILES;
        if i >= FILES {
            let line = (i / FILES) % LINES;
            files[f][line] = format!("file {f} line {line} rewritten by commit {i}");
        }
        let content: String = files[f].iter().map(|l| format!("{l}\n")).collect();
        let who = [
            "Alice Martin <alice@example.com>",
            "Bob Stone <bob@example.com>",
        ][i % 2];
        let time = 1_600_000_000 + i as i64 * 600;
        write!(
            stream,
            "commit refs/heads/main\nmark :{}\nauthor {who} {time} +0000\ncommitter {who} {time} +0000\ndata 6\nchange\n",
            i + 1
        )
        .unwrap();
        if i > 0 {
            writeln!(stream, "from :{i}").unwrap();
        }
        write!(
            stream,
            "M 100644 inline src/f{f}.txt\ndata {}\n{content}\n",
            content.len()
        )
        .unwrap();
    }
    let mut child = git_command(repo.path())
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("git fast-import");
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
    repo
}

#[test]
fn ten_thousand_commits_read_in_seconds() {
    let repo = big_history();

    let started = Instant::now();
    let source = Source::open(repo.path(), Options::default()).unwrap();
    let read = source.read(&Cursor::default()).unwrap();
    let full = started.elapsed();

    assert_eq!(read.commits.len(), COMMITS);
    for (i, c) in read.commits.iter().enumerate() {
        let expected = if i < FILES {
            (LINES as u64, 0, 1)
        } else {
            (1, 1, 1)
        };
        assert_eq!(
            (c.lines_added, c.lines_deleted, c.files_changed),
            expected,
            "commit {i}"
        );
    }

    // The same on one thread as on several.
    let one = Options {
        threads: Some(1),
        ..Options::default()
    };
    let started = Instant::now();
    let single = Source::open(repo.path(), one)
        .unwrap()
        .read(&Cursor::default())
        .unwrap();
    let one_thread = started.elapsed();
    assert_eq!(single, read);
    let four = Options {
        threads: Some(4),
        ..Options::default()
    };
    assert_eq!(
        Source::open(repo.path(), four)
            .unwrap()
            .read(&Cursor::default())
            .unwrap(),
        read
    );

    let started = Instant::now();
    let again = source.read(&read.cursor).unwrap();
    let nothing_new = started.elapsed();
    assert!(again.commits.is_empty());

    eprintln!("10,000 commits: full read {full:?} ({one_thread:?} on one thread), read with nothing new {nothing_new:?}");
    if !cfg!(debug_assertions) {
        assert!(full < Duration::from_secs(30), "full read took {full:?}");
        assert!(
            nothing_new < Duration::from_secs(1),
            "read with nothing new took {nothing_new:?}"
        );
    }
}
