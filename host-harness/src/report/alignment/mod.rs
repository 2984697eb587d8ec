//! Codex use **beside delivery**: per person (or team) and period, how much Codex was used
//! on either path next to the commits delivered, the adoption cohorts, and the
//! organization's adoption trend. These are **trend signals for teams, not performance
//! reviews of individuals**: neither Codex's figures nor commit counts measure a person's
//! work, and a person's row exists so an admin can check identities and so teams can be
//! summed, not to rank anyone.
//!
//! Pure computation, no store access: the caller reads the inputs
//! ([`AlignmentInput`]: the people view per UTC day, the commits of the delivery import,
//! an alias table and teams) and calls [`alignment`] with [`Options`].
//!
//! ```
//! use host_harness::report::alignment::{alignment, AlignmentInput, Options};
//! let report = alignment(&AlignmentInput::default(), &Options::default()).unwrap();
//! assert_eq!(report.rows_json(), serde_json::json!({"rows": []}));
//! ```
//!
//! # The rules
//!
//! - **Identity.** People are matched by email, case-insensitively, across Platform users,
//!   ChatGPT-workspace people and git authors (after `.mailmap`). The alias table
//!   (`alias → email`) joins a person's several emails ([`aliases`]). Rows that are no
//!   person (`(unattributed)`, service accounts) are left out.
//! - **Periods**: UTC weeks (Monday first) or UTC calendar months, named by their first
//!   day, `YYYY-MM-DD` ([`period`]). A commit counts on its UTC day: Sunday 23:30 -0500 is
//!   Monday 04:30 UTC, in Monday's week.
//! - **Codex** per person and period ([`activity`]): Codex-active days (UTC days with any
//!   Codex use on either path), per path too; API-key requests and tokens; ChatGPT
//!   threads, turns and credits; the ChatGPT surfaces used (`surfaces` =
//!   `"CODEX_CLI;CODEX_IDE_VSCODE"`, `surfaces_used` = 2, and `surface_active_days`).
//! - **Delivery**: `commits` **excludes merges** (counted in `merges`: a merge carries no
//!   lines, and counting it would reward a merge workflow); lines added and deleted; files
//!   changed; `delivery_active_days`, UTC days with at least one commit that is not a merge.
//!   A commit id is counted once.
//! - **Derived**: `codex_share_of_delivery_days` (delivery days that were Codex-active
//!   days, over delivery days; null with no delivery days) and the adoption `cohort` by
//!   Codex-active days in the period, with the thresholds as data ([`cohort`]: week light 1,
//!   moderate 2–3, heavy 4+; month light 1–3, moderate 4–9, heavy 10+).
//! - **Teams** ([`team`]): sums of the members; active days are **member-days** (summed over
//!   members, not distinct calendar days); head counts per period; teams of fewer than
//!   `min_group` declared people (default 5) are hidden entirely and listed with their size.
//! - **Trend** ([`trend`]): per period, people active, using Codex, per cohort, the share
//!   using Codex and the change from the period before.
//! - **Unmatched** ([`unmatched`]): git authors without Codex use under any alias, and Codex
//!   users without commits, for an admin to fix with aliases.
//!
//! # Output
//!
//! [`AlignmentReport`] serializes as `{"rows": [...], ...}` (or [`AlignmentReport::rows_json`]
//! for the rows alone): one flat object per row with [`columns`] as keys, in order; CSV
//! ([`write_csv`]) has the same columns. [`chart_inputs`] turns rows into the charts'
//! inputs.
//!
//! Files: [`input`], [`options`], [`period`], [`aliases`], [`activity`] (inputs folded per
//! person and period), [`cohort`], [`row`], [`team`], [`trend`], [`unmatched`], [`report`]
//! (assembles it), [`csv`], [`chart_inputs`], [`error`]; `tests/`.

pub mod activity;
pub mod aliases;
pub mod chart_inputs;
pub mod cohort;
pub mod csv;
pub mod error;
pub mod input;
pub mod options;
pub mod period;
pub mod report;
pub mod row;
pub mod team;
pub mod trend;
pub mod unmatched;

#[cfg(test)]
mod tests;

pub use aliases::Aliases;
pub use cohort::{Cohort, CohortThresholds};
pub use csv::write_csv;
pub use error::AlignmentError;
pub use input::AlignmentInput;
pub use options::{By, Options, DEFAULT_MIN_GROUP};
pub use period::AlignPeriod;
pub use report::{alignment, AlignmentReport};
pub use row::{columns, Members, Row};
pub use team::HiddenTeam;
pub use trend::TrendPoint;
pub use unmatched::{UnmatchedCodexUser, UnmatchedGitAuthor};
