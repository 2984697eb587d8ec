//! The host platform stand-in for connector components.
//!
//! - [`sandbox`]: wasmtime embedding and the policy the host owns (allow-list, redirect,
//!   timeouts, body and memory caps),
//! - [`records`]: `normalize`'s records, lifted from the component into one buffer,
//! - [`store`]: the embedded SQLite store (settings + secret slot, checkpoints, raw pages,
//!   records, import history),
//! - [`runner`]: configure, validate and sync, with retries and history,
//! - [`report`]: Codex usage per person, as the platform would show it,
//! - [`redact`]: keeps the token out of everything the host writes,
//! - [`scheduler`]: scheduled and on-demand syncs, one at a time, stoppable,
//! - [`serve`]: the settings page (Integrations → OpenAI Codex Settings).

pub mod bench;
pub mod records;
pub mod redact;
pub mod report;
pub mod runner;
pub mod sandbox;
pub mod scheduler;
pub mod serve;
pub mod store;

/// The component built by `cargo build --release --target wasm32-wasip2 -p codex-connector`
/// in this workspace.
pub fn default_component_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("target/wasm32-wasip2/release/codex_connector.wasm")
}

/// A random admin-shaped key for demos and tests (never printed).
pub fn random_admin_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut s = String::from("sk-admin-");
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    while s.len() < 9 + 48 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(s.len());
        let mut v = h.finish();
        for _ in 0..8 {
            s.push(ALPHABET[(v % ALPHABET.len() as u64) as usize] as char);
            v /= ALPHABET.len() as u64;
        }
    }
    s
}
