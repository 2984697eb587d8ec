//! `describe`: the settings form, the streams with their schemas, and the outbound hosts.
//! Static data; the host renders its settings page and its allow-list from it.

use crate::client::API_HOST;
use crate::model::{ConnectorInfo, SettingField, SettingKind, StreamInfo};
use crate::normalize::{API_KEYS, PROJECTS, SCHEMA_VERSION, USAGE, USERS};
use crate::settings::*;

pub fn describe() -> ConnectorInfo {
    ConnectorInfo {
        id: "openai-codex",
        name: "OpenAI Codex",
        version: env!("CARGO_PKG_VERSION"),
        description: "Imports Codex usage (tokens and requests per person, key, project and model) and the directory of users, projects and API keys from an OpenAI Platform organization's Admin API. Reads usage metadata only, never code.",
        settings: vec![
            field(API_TOKEN, "API Token", SettingKind::Secret, true,
                format!("An OpenAI Admin API key (sk-admin-…). {ADMIN_KEY_HELP} Project keys (sk-proj-…) cannot read organization usage."),
                None, Some(MAX_TOKEN_LEN as u32)),
            SettingField { min: Some(1), max: Some(MAX_BACKFILL_DAYS), ..field(BACKFILL_DAYS, "Backfill days", SettingKind::Number, false,
                "How many days of usage the first import reads.".into(), Some(DEFAULT_BACKFILL_DAYS.to_string()), None) },
            SettingField { choices: vec!["1d", "1h"], ..field(BUCKET_WIDTH, "Bucket width", SettingKind::Choice, false,
                "Usage granularity: one record per day (1d) or per hour (1h) per person, key, project and model.".into(), Some("1d".into()), None) },
            SettingField { min: Some(1), max: Some(MAX_LOOKBACK_BUCKETS), ..field(LOOKBACK_BUCKETS, "Lookback buckets", SettingKind::Number, false,
                "How many of the newest buckets every import re-reads, so that usage reported late is picked up.".into(), Some(DEFAULT_LOOKBACK_BUCKETS.to_string()), None) },
            SettingField { min: Some(0), max: Some(MAX_DIRECTORY_REFRESH_HOURS), ..field(DIRECTORY_REFRESH_HOURS, "Directory refresh (hours)", SettingKind::Number, false,
                "How often users, projects and API keys are re-read in full (their lists cannot be read incrementally); 0 = on every import. Usage is read on every import.".into(), Some(DEFAULT_DIRECTORY_REFRESH_HOURS.to_string()), None) },
            field(CODEX_MODEL_PATTERN, "Codex model pattern", SettingKind::Text, false,
                "Models whose name matches count as Codex. Comma-separated globs, case-insensitive; * matches anything.".into(),
                Some(DEFAULT_MODEL_PATTERN.into()), Some(MAX_PATTERN_LEN as u32)),
            field(CODEX_PROJECT_IDS, "Codex projects", SettingKind::List, false,
                "Project ids (proj_…) used only for Codex: all their usage counts as Codex, whatever the model.".into(), None, None),
            field(CODEX_API_KEY_IDS, "Codex API keys", SettingKind::List, false,
                "API key ids (key_…) used only for Codex: all their usage counts as Codex, whatever the model.".into(), None, None),
            field(ORGANIZATION_ID, "Organization id", SettingKind::Text, false,
                "Optional (org-…). An Admin API key belongs to one organization; set this only to assert which.".into(), None, Some(MAX_ID_LEN as u32)),
        ],
        streams: vec![
            StreamInfo { name: USERS, description: "People in the organization.", primary_key: vec!["user_id"],
                json_schema: schema(&[("user_id", "string"), ("email", "string|null"), ("name", "string|null"), ("role", "string|null"), ("added_at", "date-time|null")]),
                schema_version: SCHEMA_VERSION, incremental: false },
            StreamInfo { name: PROJECTS, description: "Projects, including archived ones.", primary_key: vec!["project_id"],
                json_schema: schema(&[("project_id", "string"), ("name", "string|null"), ("status", "string|null"), ("created_at", "date-time|null"), ("archived_at", "date-time|null"), ("is_codex_project", "boolean")]),
                schema_version: SCHEMA_VERSION, incremental: false },
            StreamInfo { name: API_KEYS, description: "Project API keys and who owns them (a person or a service account).", primary_key: vec!["api_key_id"],
                json_schema: schema(&[("api_key_id", "string"), ("project_id", "string|null"), ("name", "string|null"), ("redacted_value", "string|null"),
                    ("created_at", "date-time|null"), ("last_used_at", "date-time|null"), ("owner_type", "string|null"), ("owner_user_id", "string|null"),
                    ("owner_email", "string|null"), ("owner_name", "string|null"), ("owner_role", "string|null"), ("service_account_id", "string|null"),
                    ("service_account_name", "string|null"), ("is_codex_key", "boolean")]),
                schema_version: SCHEMA_VERSION, incremental: false },
            StreamInfo { name: USAGE, description: "Tokens and requests per bucket × person × API key × project × model, with whether it is Codex and why.",
                primary_key: vec!["bucket_start", "bucket_width", "user_id", "api_key_id", "project_id", "model", "batch", "service_tier"],
                json_schema: schema(&[("bucket_start", "date-time"), ("bucket_end", "date-time"), ("bucket_width", "string"), ("bucket_complete", "boolean"),
                    ("user_id", "string|null"), ("api_key_id", "string|null"), ("project_id", "string|null"), ("model", "string|null"),
                    ("batch", "boolean|null"), ("service_tier", "string|null"), ("input_tokens", "integer"), ("cached_input_tokens", "integer"),
                    ("output_tokens", "integer"), ("requests", "integer"), ("is_codex", "boolean"), ("codex_rule", "string|null")]),
                schema_version: SCHEMA_VERSION, incremental: true },
        ],
        hosts: vec![API_HOST],
        notes: vec![CHATGPT_NOTE.to_string()],
    }
}

fn field(
    key: &'static str,
    label: &'static str,
    kind: SettingKind,
    required: bool,
    help: String,
    default_value: Option<String>,
    max_length: Option<u32>,
) -> SettingField {
    SettingField {
        key,
        label,
        kind,
        required,
        help,
        default_value,
        choices: vec![],
        min: None,
        max: None,
        max_length,
    }
}

/// A JSON Schema for a flat record; `type|null` marks nullable fields, `date-time` RFC 3339
/// strings. Every record also carries `schema_version`.
fn schema(fields: &[(&str, &str)]) -> String {
    let mut props = String::new();
    let mut required = String::new();
    for (name, ty) in fields.iter().chain([("schema_version", "integer")].iter()) {
        let mut types = String::new();
        for t in ty.split('|') {
            if !types.is_empty() {
                types.push(',');
            }
            types.push('"');
            types.push_str(if t == "date-time" { "string" } else { t });
            types.push('"');
        }
        let format = if ty.starts_with("date-time") {
            ",\"format\":\"date-time\""
        } else {
            ""
        };
        if !props.is_empty() {
            props.push(',');
            required.push(',');
        }
        props.push_str(&format!("\"{name}\":{{\"type\":[{types}]{format}}}"));
        required.push_str(&format!("\"{name}\""));
    }
    format!(
        "{{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\",\"type\":\"object\",\"properties\":{{{props}}},\"required\":[{required}],\"additionalProperties\":true}}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemas_are_json_and_cover_the_payload() {
        let info = describe();
        assert_eq!(info.hosts, ["api.openai.com"]);
        assert_eq!(info.settings[0].label, "API Token");
        for s in &info.streams {
            let v: serde_json::Value = serde_json::from_str(&s.json_schema).unwrap();
            for k in &s.primary_key {
                assert!(v["properties"].get(*k).is_some(), "{} lacks {k}", s.name);
            }
        }
    }
}
