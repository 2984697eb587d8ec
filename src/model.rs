//! Plain Rust mirrors of the WIT types (`analytics:connector@0.2.0`, `types` interface), so
//! that every module except the component glue compiles and is tested natively. The glue in
//! `component/` converts at the boundary.

use crate::origin::Origin;

/// How the host renders and parses one setting (`setting-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SettingKind {
    Text,
    Secret,
    Number,
    Choice,
    List,
    Boolean,
}

/// Where and how the host may send a secret setting (`secret-use`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretUse {
    pub origins: Vec<Origin>,
    /// The request header the secret travels in, e.g. `authorization`.
    pub header: &'static str,
    /// Text the host puts before the secret in that header, e.g. `Bearer `.
    pub value_prefix: &'static str,
}

/// A titled group of fields on the settings form (`section`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub id: &'static str,
    pub title: &'static str,
    pub help: &'static str,
}

/// One field of the settings form (`setting-field`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingField {
    pub key: &'static str,
    pub label: &'static str,
    pub kind: SettingKind,
    pub required: bool,
    pub help: String,
    pub default_value: Option<String>,
    pub choices: Vec<&'static str>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub max_length: Option<u32>,
    /// The `Section::id` this field belongs to.
    pub section: &'static str,
    /// For `secret` fields, where the host may send the value; `None` for other kinds.
    pub secret_use: Option<SecretUse>,
}

/// How a stream is synchronised (`sync-mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    FullRefresh,
    Incremental,
}

/// One stream (`stream-info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: &'static str,
    pub description: &'static str,
    /// Payload fields that together identify a record, in the order of
    /// `NormalizedRecord::key`.
    pub primary_key: Vec<&'static str>,
    pub json_schema: String,
    pub schema_version: u32,
    pub mode: SyncMode,
}

/// A capability `validate-credentials` checks (`capability-info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityInfo {
    pub name: &'static str,
    pub label: &'static str,
    pub description: &'static str,
}

/// The connector's self-description (`connector-info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectorInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub settings: Vec<SettingField>,
    pub sections: Vec<Section>,
    pub streams: Vec<StreamInfo>,
    pub capabilities: Vec<CapabilityInfo>,
    pub origins: Vec<Origin>,
    pub notes: Vec<String>,
}

/// What `configure` learns of a secret setting: its shape, never its value
/// (`secret-shape`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretShape {
    /// Length in characters (the host trimmed surrounding whitespace).
    pub length: u32,
    /// The first characters, at most 8.
    pub prefix: String,
    /// Another secret setting holding the very same value, if any.
    pub same_as: Option<String>,
}

/// A setting value as typed by the host (`setting-value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingValue {
    Text(String),
    Number(i64),
    Boolean(bool),
    List(Vec<String>),
    Secret(SecretShape),
}

/// What `configure` accepted (`configured`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Configured {
    pub notes: Vec<String>,
    /// The origins this configuration calls.
    pub origins: Vec<Origin>,
}

/// One problem with one setting (`field-error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// The class of a `ConnectorError`, without its details (`error-class`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    InvalidSettings,
    Unauthorized,
    Forbidden,
    RateLimited,
    Transient,
    ProviderChanged,
    Internal,
}

impl ErrorClass {
    /// The WIT name, e.g. `provider-changed`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::InvalidSettings => "invalid-settings",
            ErrorClass::Unauthorized => "unauthorized",
            ErrorClass::Forbidden => "forbidden",
            ErrorClass::RateLimited => "rate-limited",
            ErrorClass::Transient => "transient",
            ErrorClass::ProviderChanged => "provider-changed",
            ErrorClass::Internal => "internal",
        }
    }
}

/// Errors a host can act on without parsing text (`connector-error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectorError {
    InvalidSettings(Vec<FieldError>),
    Unauthorized(String),
    Forbidden(String),
    RateLimited {
        retry_after_ms: Option<u64>,
        message: String,
    },
    Transient(String),
    ProviderChanged {
        stream: String,
        field: String,
        message: String,
    },
    Internal(String),
}

impl ConnectorError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ConnectorError::InvalidSettings(_) => ErrorClass::InvalidSettings,
            ConnectorError::Unauthorized(_) => ErrorClass::Unauthorized,
            ConnectorError::Forbidden(_) => ErrorClass::Forbidden,
            ConnectorError::RateLimited { .. } => ErrorClass::RateLimited,
            ConnectorError::Transient(_) => ErrorClass::Transient,
            ConnectorError::ProviderChanged { .. } => ErrorClass::ProviderChanged,
            ConnectorError::Internal(_) => ErrorClass::Internal,
        }
    }

    /// A `provider-changed` error for `stream`, at JSON path `field`.
    pub fn provider_changed(
        stream: &str,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConnectorError::ProviderChanged {
            stream: stream.into(),
            field: field.into(),
            message: message.into(),
        }
    }

    /// The message, whatever the class (the field errors joined for `invalid-settings`).
    pub fn message(&self) -> String {
        match self {
            ConnectorError::InvalidSettings(errors) => errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            ConnectorError::Unauthorized(m)
            | ConnectorError::Forbidden(m)
            | ConnectorError::Transient(m)
            | ConnectorError::Internal(m) => m.clone(),
            ConnectorError::RateLimited { message, .. } => message.clone(),
            ConnectorError::ProviderChanged { field, message, .. } => {
                format!("{message} (at {field})")
            }
        }
    }
}

/// The outcome of checking one capability (`check-status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    Granted,
    Denied,
    NotConfigured,
}

/// One capability the credentials were checked for (`capability-check`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapabilityCheck {
    pub name: String,
    pub status: CheckStatus,
    /// Why it was denied; `None` otherwise.
    pub problem: Option<ErrorClass>,
    pub message: String,
}

/// Result of a live credential check (`credential-report`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialReport {
    pub ok: bool,
    pub capabilities: Vec<CapabilityCheck>,
    pub organization: Option<String>,
    pub notes: Vec<String>,
}

/// A half-open time range `[start, end)` in Unix seconds (`time-window`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeWindow {
    pub start: i64,
    pub end: i64,
}

/// One provider response, as received (`raw-page`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawPage {
    pub stream: String,
    pub scope: Option<String>,
    pub fetched_at: i64,
    pub body: String,
}

/// The result of one `pull-page` call (`page`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub raw: RawPage,
    pub next_cursor: Option<String>,
    pub checkpoint: Option<String>,
    pub window: Option<TimeWindow>,
}

/// One standardized record (`normalized-record`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NormalizedRecord {
    pub stream: String,
    /// One entry per primary-key field, in `StreamInfo::primary_key` order: the payload
    /// field's value as text, `None` where it is null or absent.
    pub key: Vec<Option<String>>,
    pub schema_version: u32,
    pub payload: String,
}
