//! Reports over a connection's records, as the platform shows them: Codex use per person,
//! across both ways Codex reaches an organization.
//!
//! - [`api_key`]: the API-key path alone, per person and model;
//! - [`people`]: one view per person (email) across the API-key path, the ChatGPT path and
//!   Codex code reviews, for the whole window or per day or week;
//! - [`identity`]: who a record belongs to;
//! - [`alignment`]: Codex use beside delivery (per person or team, per week or month), a
//!   pure computation; [`aligned`] reads its inputs from the store and renders its charts;
//! - [`who`]: aliases and teams as an admin types them, checked (the CLI and the page).

pub mod aligned;
pub mod alignment;
pub mod api_key;
pub mod identity;
pub mod people;
pub mod who;

pub use crate::human::thousands;
pub use api_key::{codex_usage, Totals, UsageReport, UNATTRIBUTED};
