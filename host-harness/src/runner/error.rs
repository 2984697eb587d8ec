//! The host's errors: a class a program can act on, a message a person can act on, and an
//! exit code per class. The advice is generic: what to do about a connector's error is in
//! the connector's own message.

use serde::Serialize;

use crate::bindings::v0_2::types as wit;

/// A failure the CLI and the page report with a class, a message and an exit code.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, thiserror::Error)]
#[error("{class}: {message}")]
pub struct HostError {
    pub class: String,
    pub message: String,
    /// What to do, when the host knows better than the class's default advice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl HostError {
    pub fn new(class: &str, message: impl Into<String>) -> Self {
        HostError {
            class: class.to_string(),
            message: message.into(),
            hint: None,
        }
    }

    /// The same error with specific advice.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Exit code per error class, so scripts can tell them apart.
    pub fn exit_code(&self) -> i32 {
        match self.class.as_str() {
            "invalid-settings" | "usage" => 2,
            "unauthorized" => 3,
            "forbidden" => 4,
            "rate-limited" => 5,
            "transient" | "network" => 6,
            "provider-changed" => 7,
            "not-configured" => 8,
            "busy" => 9,
            "sandbox" => 10,
            _ => 1,
        }
    }

    /// What to do about it, or `None` when the message already says it.
    pub fn advice(&self) -> Option<String> {
        if let Some(h) = &self.hint {
            return Some(h.clone());
        }
        let text = match self.class.as_str() {
            "invalid-settings" => "Fix the fields named above and save again; nothing was stored.",
            "unauthorized" | "forbidden" => {
                "Save a credential that has these rights with `configure`; the message above says which."
            }
            "rate-limited" | "transient" => {
                "Try again later; the next run resumes from the last committed page."
            }
            "network" => "Check this machine's network and DNS, or the --redirect target; the next run resumes from the last committed page.",
            "provider-changed" => {
                "The provider's response changed shape; update the connector. Nothing half-written was stored."
            }
            "not-configured" => "Run `host-harness configure` first.",
            "busy" => "Another sync of this connection is running; wait for it to finish.",
            "sandbox" => "The connector component misbehaved; the run was stopped and recorded.",
            _ => return None,
        };
        Some(text.to_string())
    }
}

/// A wrong or missing secret key is a usage error that says how to pass the right one; a
/// run whose lease was taken over was interrupted; anything else is internal.
impl From<anyhow::Error> for HostError {
    fn from(e: anyhow::Error) -> Self {
        if let Some(m) = e.downcast_ref::<crate::store::KeyMismatch>() {
            return HostError::new("usage", m.to_string()).with_hint(
                "Pass the key the store's secrets were encrypted with: --secret-key-file FILE or --secret-key-env VAR (an embedded store keeps its own in <db>.key).",
            );
        }
        if let Some(m) = e.downcast_ref::<crate::store::NoKey>() {
            return HostError::new("usage", m.to_string()).with_hint(
                "Pass the store's key: --secret-key-file FILE or --secret-key-env VAR.",
            );
        }
        if let Some(l) = e.downcast_ref::<crate::store::LeaseLost>() {
            return HostError::new("interrupted", l.to_string());
        }
        HostError::new("internal", format!("{e:#}"))
    }
}

/// A call that failed after the host cut a response body off at its cap. The host's own
/// record decides the class: the component sees only an opaque stream error.
pub fn body_over_cap(cap: u64) -> HostError {
    HostError::new(
        "provider-changed",
        format!(
            "a response body was larger than the cap of {} MiB; the host stopped the read",
            cap >> 20
        ),
    )
}

/// The class name of a contract error class.
pub fn class_name(c: wit::ErrorClass) -> &'static str {
    match c {
        wit::ErrorClass::InvalidSettings => "invalid-settings",
        wit::ErrorClass::Unauthorized => "unauthorized",
        wit::ErrorClass::Forbidden => "forbidden",
        wit::ErrorClass::RateLimited => "rate-limited",
        wit::ErrorClass::Transient => "transient",
        wit::ErrorClass::ProviderChanged => "provider-changed",
        wit::ErrorClass::Internal => "internal",
    }
}

/// Split a connector error into (class, message).
pub fn connector_error(e: &wit::ConnectorError) -> (String, String) {
    use wit::ConnectorError as E;
    match e {
        E::InvalidSettings(fields) => (
            "invalid-settings".into(),
            fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        E::Unauthorized(m) => ("unauthorized".into(), m.clone()),
        E::Forbidden(m) => ("forbidden".into(), m.clone()),
        E::RateLimited(r) => ("rate-limited".into(), r.message.clone()),
        E::Transient(m) => ("transient".into(), m.clone()),
        E::ProviderChanged(p) => (
            "provider-changed".into(),
            format!("stream {}, field {}: {}", p.stream, p.field, p.message),
        ),
        E::Internal(m) => ("internal".into(), m.clone()),
    }
}
