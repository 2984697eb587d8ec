//! The demo's delivery: a small sample repository written with gitoxide (no `git` binary)
//! whose authors are some of the mock's people, registered with the demo's connection, so
//! the demo ends with Codex use beside delivery.
//!
//! Its authors, chosen so that every way of matching shows:
//! - three people who use Codex, committing under the email Codex knows (one written in
//!   capitals: emails match case-insensitively);
//! - two who commit under a personal email, joined to their work email with an alias
//!   (`people alias`); one of them also committed early on from a laptop's address, which
//!   the repository's `.mailmap` maps to the personal one;
//! - two contractors Codex does not know: listed as unmatched git authors.
//!
//! Commits fall on the mock's last six weeks, a few per author and week (one merge of a
//! feature branch, one commit late on a Sunday in UTC−5, which is Monday in UTC). The
//! five matched people are the team `platform`; the two contractors the team `contractors`,
//! hidden for being smaller than the smallest team shown (5).
//!
//! Half the commits are written before the repository is registered (`delivery add-repo`
//! imports them); the rest after, for the demo's sync to import.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, TimeZone};

use host_harness::delivery::import::add_repository;
use host_harness::delivery::synthetic::{Synthetic, MAIN};
use host_harness::delivery::Options;
use host_harness::runner::HostError;
use host_harness::store::Store;
use openai_mock::WorkspaceTruth;

/// Weeks of commits, ending on the mock's last day.
const WEEKS: i64 = 6;

/// An author of the sample repository: name, the email the commits carry, and the email
/// Codex knows them by (if any).
struct Author {
    name: String,
    git_email: String,
    codex_email: Option<String>,
}

/// The sample repository, half written.
pub struct Sample {
    repo: Synthetic,
    authors: Vec<Author>,
    last_day: NaiveDate,
    /// A small deterministic generator (the demo shows the same repository each time).
    state: u64,
}

fn internal(e: impl std::fmt::Display) -> HostError {
    HostError::new("internal", format!("the demo's sample repository: {e}"))
}

impl Sample {
    fn next(&mut self, below: u64) -> u64 {
        // (xorshift64*)
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        (self.state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) % below.max(1)
    }

    /// The emails of the people in each team, by Codex's emails (aliases resolve the rest).
    fn teams(&self) -> [(&'static str, Vec<String>); 2] {
        let matched = self
            .authors
            .iter()
            .filter_map(|a| a.codex_email.clone())
            .collect();
        let contractors = self
            .authors
            .iter()
            .filter(|a| a.codex_email.is_none())
            .map(|a| a.git_email.to_lowercase())
            .collect();
        [("platform", matched), ("contractors", contractors)]
    }

    /// Commits of week `week` (0 = the first of the six) for every author.
    fn write_week(&mut self, week: i64) -> Result<usize, HostError> {
        let first = self.last_day - Duration::days(7 * WEEKS - 1);
        let mut n = 0;
        for i in 0..self.authors.len() {
            let commits = 1 + self.next(3);
            for c in 0..commits {
                let day =
                    (first + Duration::days(week * 7 + self.next(5) as i64)).min(self.last_day);
                let at = utc(day, 9 + self.next(8) as u32, self.next(60) as u32);
                let lines = 5 + self.next(60) as usize;
                let file = format!(
                    "src/{}/part{}.rs",
                    self.authors[i]
                        .name
                        .split(' ')
                        .next()
                        .unwrap_or("x")
                        .to_lowercase(),
                    week * 10 + c as i64
                );
                let content: String = (0..lines).map(|l| format!("// line {l}\n")).collect();
                let who = (
                    self.authors[i].name.as_str(),
                    self.authors[i].git_email.as_str(),
                );
                self.repo
                    .commit(
                        MAIN,
                        who,
                        at,
                        &format!("Work of week {week}"),
                        &[(&file, Some(&content))],
                    )
                    .map_err(internal)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

/// `hour:minute` on `day` in UTC, as an author time.
fn utc(day: NaiveDate, hour: u32, minute: u32) -> DateTime<FixedOffset> {
    let offset = FixedOffset::east_opt(0).expect("UTC is an offset");
    offset.from_utc_datetime(
        &day.and_hms_opt(hour.min(23), minute.min(59), 0)
            .expect("a time of day"),
    )
}

/// Write the first half of the sample repository at `dir`, register it with `connection`
/// (importing it), add the aliases and teams; returns it, to write the rest.
pub async fn prepare(
    store: &Store,
    connection: &str,
    dir: &Path,
    truth: &WorkspaceTruth,
) -> Result<(Sample, PathBuf), HostError> {
    let last_day = NaiveDate::parse_from_str(&truth.last_day, "%Y-%m-%d").map_err(internal)?;
    // People with Codex use, in the mock's order.
    let users: Vec<(String, String)> = truth
        .usage_totals
        .iter()
        .filter_map(|u| {
            truth
                .person(&u.email)
                .map(|p| (p.email.clone(), p.name.clone()))
        })
        .take(5)
        .collect();
    if users.is_empty() {
        return Err(internal("no one uses Codex in the mock"));
    }
    let mut authors = Vec::new();
    for (i, (email, name)) in users.iter().enumerate() {
        let git_email = match i {
            0 => email.to_uppercase(),
            1 | 2 => email.clone(),
            _ => format!(
                "{}@home.example",
                email.split('@').next().unwrap_or("someone")
            ),
        };
        authors.push(Author {
            name: name.clone(),
            git_email,
            codex_email: Some(email.clone()),
        });
    }
    for (name, email) in [
        ("Casey Contractor", "casey@contractor.example"),
        ("Robin Vendor", "robin@vendor.example"),
    ] {
        authors.push(Author {
            name: name.into(),
            git_email: email.into(),
            codex_email: None,
        });
    }
    let repo = Synthetic::init(dir).map_err(internal)?;
    let mut sample = Sample {
        repo,
        authors,
        last_day,
        state: 0x9E37_79B9_7F4A_7C15,
    };

    // The .mailmap: the fourth author's early commits came from a laptop's address.
    let laptop = "dev@laptop.local";
    let mapped = sample.authors.get(3).unwrap_or(&sample.authors[0]);
    let mailmap = format!("{} <{}> <{laptop}>\n", mapped.name, mapped.git_email);
    sample
        .repo
        .write_file(".mailmap", &mailmap)
        .map_err(internal)?;
    let first = last_day - Duration::days(7 * WEEKS - 1);
    let who = ("Laptop", laptop);
    sample
        .repo
        .commit(
            MAIN,
            who,
            utc(first, 8, 0),
            "Initial import",
            &[
                (".mailmap", Some(&mailmap)),
                ("README.md", Some("# Sample\n")),
            ],
        )
        .map_err(internal)?;
    for week in 0..WEEKS / 2 {
        sample.write_week(week)?;
    }
    // A feature branch merged, and a commit on a Sunday evening in UTC−5 (Monday in UTC).
    let b = &sample.authors[1 % users.len()];
    let (name, email) = (b.name.clone(), b.git_email.clone());
    let feature_day = first + Duration::days(7 * (WEEKS / 2) - 3);
    sample.repo.branch("feature", MAIN).map_err(internal)?;
    sample
        .repo
        .commit(
            "feature",
            (&name, &email),
            utc(feature_day, 10, 0),
            "Feature",
            &[("src/feature.rs", Some("fn feature() {}\n"))],
        )
        .map_err(internal)?;
    sample
        .repo
        .merge(MAIN, "feature", (&name, &email), utc(feature_day, 16, 0))
        .map_err(internal)?;
    let mid = first + Duration::days(7 * (WEEKS / 2));
    let sunday = mid - Duration::days(i64::from(mid.weekday().num_days_from_sunday()));
    let evening = FixedOffset::west_opt(5 * 3600)
        .expect("UTC-5")
        .from_local_datetime(&sunday.and_hms_opt(23, 30, 0).expect("a time"))
        .single()
        .expect("a fixed offset has one local time");
    let c = &sample.authors[2 % users.len()];
    let (name, email) = (c.name.clone(), c.git_email.clone());
    sample
        .repo
        .commit(
            MAIN,
            (&name, &email),
            evening,
            "Late fix",
            &[("src/late.rs", Some("fn late() {}\n"))],
        )
        .map_err(internal)?;

    let added = add_repository(store, connection, dir, Options::default())
        .await
        .map_err(|e| internal(e.to_string()))?;
    println!(
        "Sample repository {} (written with gitoxide): {} commits by {} authors imported.",
        added.path,
        added.new_commits,
        sample.authors.len()
    );
    for a in sample
        .authors
        .iter()
        .filter(|a| a.git_email.ends_with("@home.example"))
    {
        let codex = a.codex_email.clone().unwrap_or_default();
        store.set_alias(connection, &a.git_email, &codex).await?;
        println!("  alias: {} counts as {codex}", a.git_email.to_lowercase());
    }
    for (team, members) in sample.teams() {
        store.set_team(connection, team, &members).await?;
        println!("  team {team}: {}", members.join(", "));
    }
    let path = added.path.into();
    Ok((sample, path))
}

/// Write the second half of the sample repository (the sync imports it); returns how many
/// commits.
pub fn write_rest(sample: &mut Sample) -> Result<usize, HostError> {
    let mut n = 0;
    for week in WEEKS / 2..WEEKS {
        n += sample.write_week(week)?;
    }
    Ok(n)
}

/// The emails of the sample repository's authors as the report names them (Codex's email
/// when they have one).
pub fn author_emails(sample: &Sample) -> Vec<String> {
    sample
        .authors
        .iter()
        .map(|a| {
            a.codex_email
                .clone()
                .unwrap_or_else(|| a.git_email.to_lowercase())
        })
        .collect()
}
