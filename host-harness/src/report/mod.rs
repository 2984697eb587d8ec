//! Reports over a connection's records, as the platform shows them: Codex use per person,
//! across both ways Codex reaches an organization.
//!
//! - [`api_key`]: the API-key path alone, per person and model;
//! - [`people`]: one view per person (email) across the API-key path, the ChatGPT path and
//!   Codex code reviews, for the whole window or per day or week;
//! - [`identity`]: who a record belongs to.

pub mod alignment;
pub mod api_key;
pub mod identity;
pub mod people;

pub use api_key::{codex_usage, Totals, UsageReport, UNATTRIBUTED};
pub use crate::human::thousands;
