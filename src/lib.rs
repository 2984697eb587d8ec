//! The OpenAI Codex usage connector.
//!
//! Built for `wasm32-wasip2`, this crate is a component implementing the
//! `analytics:connector` contract in `wit/`. Everything except the thin glue in
//! [`component`] is plain Rust that compiles and is tested natively:
//!
//! - [`settings`]: the settings form and its local validation,
//! - [`client`]: the Admin API as a `Transport`, and status/body → typed error mapping,
//! - [`streams`]: paging, cursors, checkpoints and the lookback window,
//! - [`normalize`]: raw pages → standardized records (pure, deterministic),
//! - [`describe`]: the connector's self-description.

pub mod arena;
pub mod client;
pub mod describe;
pub mod json;
pub mod model;
pub mod normalize;
pub mod settings;
pub mod streams;
pub mod time;

#[cfg(target_arch = "wasm32")]
mod component;

/// Generated and mutated provider bodies for the robustness tests (never in the component).
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzzing;
