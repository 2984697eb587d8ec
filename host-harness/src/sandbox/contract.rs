//! Which contract versions this host accepts, and the check a component must pass before
//! it is linked: it exports `analytics:connector/connector` at an accepted version.

use wasmtime::component::Component;
use wasmtime::Engine;

/// The interface every connector exports, without its version.
pub const CONNECTOR_INTERFACE: &str = "analytics:connector/connector";

/// The contract versions this host accepts, as semver-compatible `major.minor` lines (any
/// patch release of a line is accepted, as the generated bindings do).
pub const ACCEPTED: &[&str] = &["0.2"];

/// Human form of [`ACCEPTED`]: `0.2.x`.
pub fn accepted_text() -> String {
    ACCEPTED
        .iter()
        .map(|v| format!("{v}.x"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a component cannot be used with this host's contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error("the component does not export {CONNECTOR_INTERFACE} (exports: {0})")]
    NotAConnector(String),
    #[error(
        "the component was built for connector contract {found}; this host accepts {accepted}"
    )]
    Version { found: String, accepted: String },
}

/// The contract version `component` was built for, if this host accepts it.
pub fn check(component: &Component, engine: &Engine) -> Result<String, ContractError> {
    let ty = component.component_type();
    let exports: Vec<String> = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    let prefix = format!("{CONNECTOR_INTERFACE}@");
    let Some(version) = exports.iter().find_map(|e| e.strip_prefix(&prefix)) else {
        return Err(ContractError::NotAConnector(exports.join(", ")));
    };
    let line: Vec<&str> = version.splitn(3, '.').take(2).collect();
    if ACCEPTED.contains(&line.join(".").as_str()) {
        Ok(version.to_string())
    } else {
        Err(ContractError::Version {
            found: version.chars().take(40).collect(),
            accepted: accepted_text(),
        })
    }
}
