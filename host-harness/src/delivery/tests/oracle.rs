//! The same numbers as `git log --numstat` (and the same authors as `%aN <%aE>`) on a
//! history of random edits: modifications, additions, deletions, renames with and without
//! edits, binary files, line endings, several authors with a mailmap, branches and merges.

use std::collections::HashMap;

use super::fixture::{Repo, Who};
use crate::delivery::{Cursor, Options};

const PEOPLE: [Who; 4] = [
    ("Alice Martin", "alice@example.com"),
    ("alice", "Alice.Martin@Laptop.Example"),
    ("Bob Stone", "bob@example.com"),
    ("Chen Wei", "chen@example.com"),
];

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Text files are lines unique to the file (so that no two files look alike to rename
/// detection), some of them repeated within it (so that diffs have choices to make).
fn text(rng: &mut Rng, file: usize, lines: usize) -> Vec<String> {
    (0..lines)
        .map(|_| format!("file {file} line {}", rng.below(12)))
        .collect()
}

fn join(lines: &[String], crlf: bool) -> String {
    let end = if crlf { "\r\n" } else { "\n" };
    lines.iter().map(|l| format!("{l}{end}")).collect()
}

struct File {
    path: String,
    lines: Vec<String>,
    crlf: bool,
}

/// A rename, half the time with a line added to a file long enough to stay well above the
/// 50% similarity threshold (at the threshold git's and gitoxide's estimates may differ).
fn rename(rng: &mut Rng, repo: &Repo, files: &mut [File], next_file: &mut usize) {
    let i = rng.below(files.len());
    let to = format!("moved/{}-{}.txt", *next_file, rng.below(100));
    *next_file += 1;
    let f = &mut files[i];
    repo.mv(&f.path, &to);
    f.path = to;
    if rng.below(2) == 0 && f.lines.len() > 6 {
        f.lines.push("one more line after the move".to_string());
        repo.write(&f.path, join(&f.lines, f.crlf));
    }
}

fn edit(
    rng: &mut Rng,
    repo: &Repo,
    files: &mut Vec<File>,
    next_file: &mut usize,
    binaries: &mut usize,
) {
    match rng.below(10) {
        // Modify: replace, insert and delete a few lines.
        0..=3 if !files.is_empty() => {
            let i = rng.below(files.len());
            let id = 1000 + i;
            let f = &mut files[i];
            for _ in 0..1 + rng.below(4) {
                match rng.below(3) {
                    0 if !f.lines.is_empty() => {
                        let at = rng.below(f.lines.len());
                        f.lines[at] = format!("file {id} changed {}", rng.below(1000));
                    }
                    1 => {
                        let at = rng.below(f.lines.len() + 1);
                        f.lines
                            .insert(at, format!("file {id} inserted {}", rng.below(1000)));
                    }
                    _ if !f.lines.is_empty() => {
                        let at = rng.below(f.lines.len());
                        f.lines.remove(at);
                    }
                    _ => {}
                }
            }
            if rng.below(15) == 0 {
                f.crlf = !f.crlf;
            }
            repo.write(&f.path, join(&f.lines, f.crlf));
        }
        // Delete.
        5 if files.len() > 3 => {
            let i = rng.below(files.len());
            let f = files.remove(i);
            repo.remove(&f.path);
        }
        // A binary file, new or changed.
        6 => {
            let bytes: Vec<u8> = (0..64)
                .map(|_| (rng.next() % 256) as u8)
                .chain([0u8])
                .collect();
            repo.write(
                &format!("assets/blob{}.bin", rng.below(*binaries + 1)),
                bytes,
            );
            *binaries += 1;
        }
        // A new text file.
        _ => {
            let id = *next_file;
            *next_file += 1;
            let n = 1 + rng.below(30);
            let f = File {
                path: format!("src/{}/f{id}.txt", rng.below(3)),
                lines: text(rng, id, n),
                crlf: false,
            };
            repo.write(&f.path, join(&f.lines, false));
            files.push(f);
        }
    }
}

/// (added, deleted, files) per non-merge commit id.
type Counts = HashMap<String, (u64, u64, u64)>;
/// (`name <email>`, author time) per commit id.
type Authors = HashMap<String, (String, i64)>;

/// Counts per non-merge commit, and authors per commit, from `git log`.
fn git_log(repo: &Repo, renames: &str) -> (Counts, Authors) {
    let out = repo.git(&[
        "log",
        "--all",
        renames,
        "--numstat",
        "--format=@%H%x09%P%x09%aN <%aE>%x09%at",
    ]);
    let mut counts = HashMap::new();
    let mut authors = HashMap::new();
    let mut current: Option<String> = None;
    for line in out.lines() {
        if let Some(header) = line.strip_prefix('@') {
            let parts: Vec<&str> = header.split('\t').collect();
            let id = parts[0].to_string();
            authors.insert(
                id.clone(),
                (parts[2].to_string(), parts[3].parse().unwrap()),
            );
            let merge = parts[1].split(' ').count() > 1;
            current = (!merge).then(|| id.clone());
            if !merge {
                counts.insert(id, (0, 0, 0));
            }
        } else if !line.is_empty() {
            let id = current
                .as_ref()
                .expect("numstat lines follow a non-merge commit");
            let mut fields = line.splitn(3, '\t');
            let (a, d) = (fields.next().unwrap(), fields.next().unwrap());
            let c = counts.get_mut(id).unwrap();
            c.0 += a.parse::<u64>().unwrap_or(0); // "-" for binary
            c.1 += d.parse::<u64>().unwrap_or(0);
            c.2 += 1;
        }
    }
    (counts, authors)
}

#[test]
fn counts_and_authors_match_git_log() {
    let mut repo = Repo::new();
    repo.write(
        ".mailmap",
        "Alice Martin <alice@example.com> <alice.martin@laptop.example>\n",
    );
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut files: Vec<File> = Vec::new();
    let (mut next_file, mut binaries) = (0usize, 0usize);
    let mut branch = 0;
    for n in 0..120 {
        // Now and then a short branch, merged back.
        if n % 25 == 24 {
            branch += 1;
            let name = format!("topic{branch}");
            repo.git(&["checkout", "-q", "-b", &name]);
            for _ in 0..3 {
                edit(&mut rng, &repo, &mut files, &mut next_file, &mut binaries);
                let who = PEOPLE[rng.below(PEOPLE.len())];
                repo.commit(who, "topic work");
            }
            repo.checkout(&["main"]);
            // The files as main has them again.
            files.retain(|f| repo.path().join(&f.path).exists());
            for f in &mut files {
                let content = std::fs::read_to_string(repo.path().join(&f.path)).unwrap();
                f.crlf = content.contains("\r\n");
                f.lines = content
                    .lines()
                    .map(|l| l.trim_end_matches('\r').to_string())
                    .collect();
            }
            repo.merge(PEOPLE[0], &name);
            // And main after the merge.
            let tracked = repo.git(&["ls-files", "src", "moved"]);
            files = tracked
                .lines()
                .map(|path| {
                    let content = std::fs::read_to_string(repo.path().join(path)).unwrap();
                    File {
                        path: path.to_string(),
                        crlf: content.contains("\r\n"),
                        lines: content
                            .lines()
                            .map(|l| l.trim_end_matches('\r').to_string())
                            .collect(),
                    }
                })
                .collect();
            continue;
        }
        if !files.is_empty() && rng.below(6) == 0 {
            rename(&mut rng, &repo, &mut files, &mut next_file);
        } else {
            for _ in 0..1 + rng.below(3) {
                edit(&mut rng, &repo, &mut files, &mut next_file, &mut binaries);
            }
        }
        let who = PEOPLE[rng.below(PEOPLE.len())];
        repo.commit(who, "work");
    }

    for (detect_renames, flag) in [(true, "-M"), (false, "--no-renames")] {
        let options = Options {
            detect_renames,
            ..Options::default()
        };
        let read = repo.read_with(&Cursor::default(), options);
        let (counts, authors) = git_log(&repo, flag);
        assert_eq!(read.commits.len(), authors.len(), "every commit once");
        let mut compared = 0;
        for c in &read.commits {
            let (who, time) = &authors[&c.id];
            assert_eq!(
                &format!("{} <{}>", c.author_name, c.author_email),
                who,
                "author of {}",
                c.id
            );
            assert_eq!(c.author_time.timestamp(), *time);
            if c.merge {
                assert!(!counts.contains_key(&c.id));
                continue;
            }
            assert_eq!(
                (c.lines_added, c.lines_deleted, c.files_changed),
                counts[&c.id],
                "commit {} with renames {detect_renames}",
                c.id
            );
            compared += 1;
        }
        assert!(compared > 100, "{compared}");
    }
    // The mailmap folded the two Alices into one.
    let read = repo.read(&Cursor::default());
    assert!(read
        .commits
        .iter()
        .all(|c| c.author_email != "Alice.Martin@Laptop.Example"));
}
