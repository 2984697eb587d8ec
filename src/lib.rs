//! The OpenAI Codex usage connector: Codex used with API keys, from an OpenAI Platform
//! organization's Admin API (`api.openai.com`), and Codex used through ChatGPT sign-in,
//! from a ChatGPT workspace's Codex Analytics API (`api.chatgpt.com`); either source or
//! both.
//!
//! Built for `wasm32-wasip2`, this crate is a component implementing the
//! `analytics:connector@0.2.0` contract in `wit/since_v0.2.0/`. Everything except the thin
//! glue in `component/` is plain Rust that compiles and is tested natively:
//!
//! - [`model`]: plain mirrors of the WIT types,
//! - [`origin`]: the endpoints the connector calls,
//! - [`settings`]: the settings of both sources, their local validation and the keys' shape
//!   checks,
//! - [`capability`]: what `validate-credentials` checks and what each request needs,
//! - [`describe`]: the connector's self-description,
//! - [`transport`]: the `Transport` a stream reads through (wasi:http in the component),
//! - [`provider_error`]: HTTP status and error body → typed error, redaction of keys,
//! - [`streams`]: paging, cursors, checkpoints, the lookback window, the credential check,
//! - [`normalize`]: raw pages → standardized records (pure, deterministic),
//! - [`time`]: RFC 3339 rendering and bucket alignment.
//!
//! No `unsafe` outside the generated bindings (`component/bindings.rs`).

#![deny(unsafe_code)]

pub mod capability;
pub mod describe;
pub mod model;
pub mod normalize;
pub mod origin;
pub mod provider_error;
pub mod settings;
pub mod streams;
pub mod time;
pub mod transport;

#[cfg(target_arch = "wasm32")]
mod component;

/// Generated and mutated provider bodies for the robustness tests (never in the component).
#[cfg(not(target_arch = "wasm32"))]
pub mod fuzzing;
