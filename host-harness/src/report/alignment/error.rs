//! What the report refuses: inputs it cannot read as intended.

/// An input the report cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlignmentError {
    /// The alias table maps an email back to itself through other emails.
    #[error("the alias table has a cycle: {}", .0.join(" → "))]
    AliasCycle(Vec<String>),
    /// A Codex row is not one UTC day: the report needs `PersonRow`s built with
    /// `Period::Day`.
    #[error("Codex row of {email} has period_start {period_start:?}, not a UTC day (YYYY-MM-DD): build the rows with Period::Day")]
    NotDaily {
        email: String,
        period_start: Option<String>,
    },
}
