//! Conversions between the generated WIT types and the plain Rust mirrors in `model`.

use super::bindings::analytics::connector::types as wit;
use crate::model::{self, ConnectorError, ErrorClass, SettingKind, SettingValue, SyncMode};
use crate::origin::Origin;

pub(super) fn origin(o: &Origin) -> wit::Origin {
    wit::Origin {
        scheme: o.scheme.into(),
        host: o.host.into(),
        port: o.port,
    }
}

pub(super) fn origins(list: &[Origin]) -> Vec<wit::Origin> {
    list.iter().map(origin).collect()
}

pub(super) fn connector_info(d: model::ConnectorInfo) -> wit::ConnectorInfo {
    wit::ConnectorInfo {
        id: d.id.into(),
        name: d.name.into(),
        version: d.version.into(),
        description: d.description.into(),
        settings: d.settings.into_iter().map(setting_field).collect(),
        sections: d
            .sections
            .into_iter()
            .map(|s| wit::Section {
                id: s.id.into(),
                title: s.title.into(),
                help: s.help.into(),
            })
            .collect(),
        streams: d
            .streams
            .into_iter()
            .map(|s| wit::StreamInfo {
                name: s.name.into(),
                description: s.description.into(),
                primary_key: s.primary_key.into_iter().map(String::from).collect(),
                json_schema: s.json_schema,
                schema_version: s.schema_version,
                mode: match s.mode {
                    SyncMode::FullRefresh => wit::SyncMode::FullRefresh,
                    SyncMode::Incremental => wit::SyncMode::Incremental,
                },
            })
            .collect(),
        capabilities: d
            .capabilities
            .into_iter()
            .map(|c| wit::CapabilityInfo {
                name: c.name.into(),
                label: c.label.into(),
                description: c.description.into(),
            })
            .collect(),
        origins: origins(&d.origins),
        notes: d.notes,
    }
}

fn setting_field(f: model::SettingField) -> wit::SettingField {
    wit::SettingField {
        key: f.key.into(),
        label: f.label.into(),
        kind: match f.kind {
            SettingKind::Text => wit::SettingKind::Text,
            SettingKind::Secret => wit::SettingKind::Secret,
            SettingKind::Number => wit::SettingKind::Number,
            SettingKind::Choice => wit::SettingKind::Choice,
            SettingKind::List => wit::SettingKind::List,
            SettingKind::Boolean => wit::SettingKind::Boolean,
        },
        required: f.required,
        help: f.help,
        default_value: f.default_value,
        choices: f.choices.into_iter().map(String::from).collect(),
        min: f.min,
        max: f.max,
        max_length: f.max_length,
        section: f.section.into(),
        secret_use: f.secret_use.map(|u| wit::SecretUse {
            origins: origins(&u.origins),
            header: u.header.into(),
            value_prefix: u.value_prefix.into(),
        }),
    }
}

pub(super) fn settings(input: Vec<wit::Setting>) -> Vec<(String, SettingValue)> {
    input
        .into_iter()
        .map(|s| {
            let v = match s.value {
                wit::SettingValue::Text(t) => SettingValue::Text(t),
                wit::SettingValue::Number(n) => SettingValue::Number(n),
                wit::SettingValue::Boolean(b) => SettingValue::Boolean(b),
                wit::SettingValue::List(l) => SettingValue::List(l),
                wit::SettingValue::Secret(shape) => SettingValue::Secret(model::SecretShape {
                    length: shape.length,
                    prefix: shape.prefix,
                    same_as: shape.same_as,
                }),
            };
            (s.key, v)
        })
        .collect()
}

pub(super) fn error_class(c: ErrorClass) -> wit::ErrorClass {
    match c {
        ErrorClass::InvalidSettings => wit::ErrorClass::InvalidSettings,
        ErrorClass::Unauthorized => wit::ErrorClass::Unauthorized,
        ErrorClass::Forbidden => wit::ErrorClass::Forbidden,
        ErrorClass::RateLimited => wit::ErrorClass::RateLimited,
        ErrorClass::Transient => wit::ErrorClass::Transient,
        ErrorClass::ProviderChanged => wit::ErrorClass::ProviderChanged,
        ErrorClass::Internal => wit::ErrorClass::Internal,
    }
}

pub(super) fn error(e: ConnectorError) -> wit::ConnectorError {
    match e {
        ConnectorError::InvalidSettings(v) => wit::ConnectorError::InvalidSettings(
            v.into_iter()
                .map(|f| wit::FieldError {
                    field: f.field,
                    message: f.message,
                })
                .collect(),
        ),
        ConnectorError::Unauthorized(m) => wit::ConnectorError::Unauthorized(m),
        ConnectorError::Forbidden(m) => wit::ConnectorError::Forbidden(m),
        ConnectorError::RateLimited {
            retry_after_ms,
            message,
        } => wit::ConnectorError::RateLimited(wit::RateLimit {
            retry_after_ms,
            message,
        }),
        ConnectorError::Transient(m) => wit::ConnectorError::Transient(m),
        ConnectorError::ProviderChanged {
            stream,
            field,
            message,
        } => wit::ConnectorError::ProviderChanged(wit::ProviderChange {
            stream,
            field,
            message,
        }),
        ConnectorError::Internal(m) => wit::ConnectorError::Internal(m),
    }
}

pub(super) fn credential_report(r: model::CredentialReport) -> wit::CredentialReport {
    wit::CredentialReport {
        ok: r.ok,
        capabilities: r
            .capabilities
            .into_iter()
            .map(|c| wit::CapabilityCheck {
                name: c.name,
                status: match c.status {
                    model::CheckStatus::Granted => wit::CheckStatus::Granted,
                    model::CheckStatus::Denied => wit::CheckStatus::Denied,
                    model::CheckStatus::NotConfigured => wit::CheckStatus::NotConfigured,
                },
                problem: c.problem.map(error_class),
                message: c.message,
            })
            .collect(),
        organization: r.organization,
        notes: r.notes,
    }
}

pub(super) fn page(p: model::Page) -> wit::Page {
    wit::Page {
        raw: wit::RawPage {
            stream: p.raw.stream,
            scope: p.raw.scope,
            fetched_at: p.raw.fetched_at,
            body: p.raw.body,
        },
        next_cursor: p.next_cursor,
        checkpoint: p.checkpoint,
        window: p.window.map(|w| wit::TimeWindow {
            start: w.start,
            end: w.end,
        }),
    }
}

pub(super) fn raw_page(raw: wit::RawPage) -> model::RawPage {
    model::RawPage {
        stream: raw.stream,
        scope: raw.scope,
        fetched_at: raw.fetched_at,
        body: raw.body,
    }
}

pub(super) fn record(r: model::NormalizedRecord) -> wit::NormalizedRecord {
    wit::NormalizedRecord {
        stream: r.stream,
        key: r.key,
        schema_version: r.schema_version,
        payload: r.payload,
    }
}
