//! Repositories made for a test: `git` run with no system or user configuration, fixed
//! author and committer times, in a temporary directory removed at the end.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::delivery::{Cursor, Import, Options, Source};

/// Someone committing: name, email.
pub type Who = (&'static str, &'static str);

pub const ALICE: Who = ("Alice Martin", "alice@example.com");
pub const BOB: Who = ("Bob Stone", "bob@example.com");

/// A working clone in a temporary directory.
pub struct Repo {
    _dir: Option<tempfile::TempDir>,
    path: PathBuf,
    /// The next commit's time (seconds since the epoch), advanced by each commit.
    clock: i64,
}

/// `git` with nothing from this machine's configuration or environment.
pub fn git_command(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("LC_ALL", "C")
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgSign=false",
            "-c",
            "core.autocrlf=false",
        ])
        .args([
            "-c",
            "gc.auto=0",
            "-c",
            "maintenance.auto=false",
            "-c",
            "advice.detachedHead=false",
        ]);
    cmd
}

/// Run `git args` in `dir`, panicking with its output when it fails; returns stdout.
pub fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = git_command(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed in {}: {}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

impl Repo {
    /// An empty repository with a working tree, on branch `main`.
    pub fn new() -> Repo {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("repo");
        std::fs::create_dir(&path).unwrap();
        git_in(&path, &["init", "-q"]);
        Repo {
            _dir: Some(dir),
            path,
            clock: 1_700_000_000,
        }
    }

    /// Another clone of this repository at `path` (kept by the caller's temporary directory).
    pub fn at(path: PathBuf) -> Repo {
        Repo {
            _dir: None,
            path,
            clock: 1_800_000_000,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `git args` here.
    pub fn git(&self, args: &[&str]) -> String {
        git_in(&self.path, args)
    }

    /// Write a file (creating its directories).
    pub fn write(&self, rel: &str, content: impl AsRef<[u8]>) {
        let p = self.path.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    pub fn make_executable(&self, rel: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.path.join(rel);
        let mut permissions = std::fs::metadata(&p).unwrap().permissions();
        permissions.set_mode(0o755);
        std::fs::set_permissions(p, permissions).unwrap();
    }

    /// `git mv`, creating the destination's directory.
    pub fn mv(&self, from: &str, to: &str) {
        std::fs::create_dir_all(self.path.join(to).parent().unwrap()).unwrap();
        self.git(&["mv", from, to]);
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path.join(rel)).unwrap();
    }

    /// Stage everything and commit as `who`, one minute after the previous commit; returns
    /// the commit id.
    pub fn commit(&mut self, who: Who, message: &str) -> String {
        self.clock += 60;
        let date = format!("@{} +0000", self.clock);
        self.commit_at(who, message, &date)
    }

    /// Stage everything and commit as `who` at `date` (git's date format, e.g.
    /// `2024-03-10T23:30:00-05:00`); the committer is the author.
    pub fn commit_at(&mut self, who: Who, message: &str, date: &str) -> String {
        self.git(&["add", "-A"]);
        let out = git_command(&self.path)
            .args(["commit", "-q", "--allow-empty", "-m", message])
            .env("GIT_AUTHOR_NAME", who.0)
            .env("GIT_AUTHOR_EMAIL", who.1)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_NAME", who.0)
            .env("GIT_COMMITTER_EMAIL", who.1)
            .env("GIT_COMMITTER_DATE", date)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "commit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.head()
    }

    /// Merge `branch` into the current branch with a merge commit, as `who`.
    pub fn merge(&mut self, who: Who, branch: &str) -> String {
        self.clock += 60;
        let date = format!("@{} +0000", self.clock);
        let out = git_command(&self.path)
            .args(["merge", "-q", "--no-ff", "--no-edit", branch])
            .env("GIT_AUTHOR_NAME", who.0)
            .env("GIT_AUTHOR_EMAIL", who.1)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_NAME", who.0)
            .env("GIT_COMMITTER_EMAIL", who.1)
            .env("GIT_COMMITTER_DATE", &date)
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "merge failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.head()
    }

    pub fn head(&self) -> String {
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }

    pub fn checkout(&self, args: &[&str]) {
        let mut all = vec!["checkout", "-q"];
        all.extend_from_slice(args);
        self.git(&all);
    }

    /// Read with the default options.
    pub fn read(&self, since: &Cursor) -> Import {
        self.read_with(since, Options::default())
    }

    pub fn read_with(&self, since: &Cursor, options: Options) -> Import {
        Source::open(&self.path, options)
            .and_then(|s| s.read(since))
            .unwrap_or_else(|e| panic!("read {}: {e}", self.path.display()))
    }
}

/// The commit ids of an import, in order.
pub fn ids(import: &Import) -> Vec<String> {
    import.commits.iter().map(|c| c.id.clone()).collect()
}
