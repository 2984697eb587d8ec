//! Plain Rust mirrors of the WIT types, so that every pure module (settings, streams,
//! normalize) compiles and is tested natively; `lib.rs` converts at the component boundary.

/// A setting value as typed by the host (`setting-value` in WIT).
#[derive(Clone, Debug, PartialEq)]
pub enum SettingValue {
    Text(String),
    Number(i64),
    Boolean(bool),
    List(Vec<String>),
}

/// One problem with one setting (`field-error`).
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Errors a host can act on without parsing text (`connector-error`).
#[derive(Clone, Debug, PartialEq)]
pub enum ConnectorError {
    InvalidSettings(Vec<FieldError>),
    Unauthorized(String),
    NotAdmin(String),
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
    /// Stable class name, as the host records it in the import history.
    pub fn class(&self) -> &'static str {
        match self {
            ConnectorError::InvalidSettings(_) => "invalid-settings",
            ConnectorError::Unauthorized(_) => "unauthorized",
            ConnectorError::NotAdmin(_) => "not-admin",
            ConnectorError::RateLimited { .. } => "rate-limited",
            ConnectorError::Transient(_) => "transient",
            ConnectorError::ProviderChanged { .. } => "provider-changed",
            ConnectorError::Internal(_) => "internal",
        }
    }

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
}

/// One provider response, as received (`raw-page`).
#[derive(Clone, Debug, PartialEq)]
pub struct RawPage {
    pub stream: String,
    pub scope: Option<String>,
    pub fetched_at: i64,
    pub body: String,
}

/// The result of one `pull-page` call (`page`).
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub raw: RawPage,
    pub next_cursor: Option<String>,
    pub checkpoint: Option<String>,
    pub window: Option<(i64, i64)>,
    pub requests: u32,
}

/// One standardized record (`normalized-record`).
#[derive(Clone, Debug, PartialEq)]
pub struct NormalizedRecord {
    pub stream: String,
    pub key: String,
    pub schema_version: u32,
    pub payload: String,
}

/// One capability of a credential check (`capability-check`).
#[derive(Clone, Debug, PartialEq)]
pub struct CapabilityCheck {
    pub name: String,
    pub granted: bool,
    pub error_class: String,
    pub message: String,
}

/// Result of a live credential check (`credential-report`).
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialReport {
    pub ok: bool,
    pub capabilities: Vec<CapabilityCheck>,
    pub organization: Option<String>,
    pub notes: Vec<String>,
}

/// How a setting is rendered (`setting-kind`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SettingKind {
    Text,
    Secret,
    Number,
    Choice,
    List,
    Boolean,
}

/// One field of the settings form (`setting-field`).
#[derive(Clone, Debug, PartialEq)]
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
}

/// One stream (`stream-info`).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamInfo {
    pub name: &'static str,
    pub description: &'static str,
    pub primary_key: Vec<&'static str>,
    pub json_schema: String,
    pub schema_version: u32,
    pub incremental: bool,
}

/// The connector's self-description (`connector-info`).
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectorInfo {
    pub id: &'static str,
    pub name: &'static str,
    pub version: &'static str,
    pub description: &'static str,
    pub settings: Vec<SettingField>,
    pub streams: Vec<StreamInfo>,
    pub hosts: Vec<&'static str>,
    pub notes: Vec<String>,
}
