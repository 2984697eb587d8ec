//! The host platform stand-in for connector components: the reference embedding of the
//! `analytics:connector` contract. Nothing in it knows which connector it runs.
//!
//! - [`bindings`]: generated host bindings, one module per accepted contract version,
//! - [`sandbox`]: the wasmtime embedding (engine, precompiled cache, contract check,
//!   instances and guarded calls),
//! - [`policy`]: everything the host decides about what a component may do (allow-list by
//!   origin, private networks refused, secrets attached only for their origins, request
//!   caps, timeouts and memory limits),
//! - [`origin`], [`secret`], [`redact`]: origins, secret values and redaction,
//! - [`records`]: the host's checks of normalized records,
//! - [`store`]: the store of many connections, embedded (SQLite) or shared (PostgreSQL),
//!   with leases for runs and secrets sealed at rest,
//! - [`runner`]: configure, validate and sync, with retries and history,
//! - [`report`]: usage per person, as the platform would show it,
//! - [`scheduler`]: a pool of workers running the store's due connections concurrently
//!   (one run per connection at a time, across hosts), and on-demand runs; stoppable,
//! - [`metrics`]: what the pool did, for Prometheus (`/metrics`, `/healthz`),
//! - [`serve`]: the settings page.

pub mod bindings;
pub mod charts;
pub mod delivery;
pub mod human;
pub mod metrics;
pub mod origin;
pub mod policy;
pub mod random;
pub mod records;
pub mod redact;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scheduler;
pub mod secret;
pub mod serve;
pub mod store;

/// The component built by `cargo build --release --target wasm32-wasip2 -p codex-connector`
/// in this workspace.
pub fn default_component_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target/wasm32-wasip2/release/codex_connector.wasm")
}
