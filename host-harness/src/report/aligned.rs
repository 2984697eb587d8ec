//! Codex use beside delivery for one connection, read from the store: the inputs of the
//! pure computation ([`super::alignment`]) gathered in one place, so the CLI (`report
//! --by …`), the demo and the settings page show the same rows and the same charts.
//!
//! - [`alignment_input`]: the people view per UTC day (both Codex paths), the commits of
//!   every registered repository, the alias table and the teams of the connection;
//! - [`aligned_report`]: the report ([`AlignmentReport`]: rows, trend, unmatched lists,
//!   hidden teams);
//! - [`aligned_view`]: the report and its three charts as SVG strings, for a page to inline
//!   (they pass the page's strict CSP, see [`crate::charts`]).
//!
//! The charts always show the **whole organization** (every person's rows summed), whatever
//! the report is by: summing team rows would count a person in two teams twice, and teams
//! below `min_group` would be missing. With `--by person` the charts' numbers are the sums
//! of the report's rows per period.

use serde::Serialize;

use super::alignment::{alignment, AlignmentInput, AlignmentReport, By, Options};
use super::people::{people, Period};
use crate::charts::{self, ChartError};
use crate::store::Store;

/// The sentence every rendering of the report carries.
pub const FRAMING: &str =
    "These are trend signals for teams, not performance reviews of individuals: neither Codex figures nor commit counts measure a person's work.";

/// The report's three charts, each one self-contained SVG document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlignedCharts {
    /// Codex-active person-days per period, by path and by ChatGPT surface.
    pub use_over_time: String,
    /// People per adoption cohort per period (the organization's trend).
    pub cohorts: String,
    /// Codex-active days beside commits and lines changed per period.
    pub beside_delivery: String,
}

impl AlignedCharts {
    /// The charts in page order, each with its `data-chart` name.
    pub fn all(&self) -> [(&'static str, &str); 3] {
        [
            ("use-over-time", self.use_over_time.as_str()),
            ("cohorts", self.cohorts.as_str()),
            ("use-beside-delivery", self.beside_delivery.as_str()),
        ]
    }

    /// The three charts stacked in one SVG document (`report --chart FILE.svg`).
    pub fn document(&self, title: &str) -> Result<String, ChartError> {
        charts::stack(
            title,
            &[
                self.use_over_time.clone(),
                self.cohorts.clone(),
                self.beside_delivery.clone(),
            ],
        )
    }
}

/// The report and its charts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlignedView {
    pub report: AlignmentReport,
    pub charts: AlignedCharts,
}

/// The report's inputs for `connection`, from the store.
pub async fn alignment_input(store: &Store, connection: &str) -> anyhow::Result<AlignmentInput> {
    Ok(AlignmentInput {
        codex_days: people(store, connection, Period::Day).await?.people,
        commits: store.commits(connection).await?,
        aliases: store.aliases(connection).await?,
        teams: store.teams(connection).await?,
    })
}

/// The report of `connection` with `options`. Fails on a store error, or an alias table
/// with a cycle ([`super::alignment::AlignmentError`]).
pub async fn aligned_report(
    store: &Store,
    connection: &str,
    options: &Options,
) -> anyhow::Result<AlignmentReport> {
    let input = alignment_input(store, connection).await?;
    Ok(alignment(&input, options)?)
}

/// The report of `connection` with `options`, and the organization's charts over the same
/// periods: one call for a page.
pub async fn aligned_view(
    store: &Store,
    connection: &str,
    options: &Options,
) -> anyhow::Result<AlignedView> {
    let input = alignment_input(store, connection).await?;
    let report = alignment(&input, options)?;
    let by_person = match options.by {
        By::Person => report.clone(),
        By::Team => alignment(
            &input,
            &Options {
                by: By::Person,
                ..options.clone()
            },
        )?,
    };
    Ok(AlignedView {
        charts: render_charts(&by_person)?,
        report,
    })
}

/// The charts of a report by person.
pub fn render_charts(by_person: &AlignmentReport) -> Result<AlignedCharts, ChartError> {
    Ok(AlignedCharts {
        use_over_time: charts::use_over_time::render(&by_person.use_over_time_chart())?,
        cohorts: charts::cohorts::render(&by_person.cohorts_chart())?,
        beside_delivery: charts::beside_delivery::render(&by_person.beside_delivery_chart())?,
    })
}
