//! `describe`: the settings form (two sections, one per source: the OpenAI Platform and the
//! ChatGPT workspace), the streams with their schemas, the capabilities
//! `validate-credentials` checks and the origins the connector calls. Static data.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::capability::Capability;
use crate::model::{
    ConnectorInfo, SecretUse, Section, SettingField, SettingKind, StreamInfo, SyncMode,
};
use crate::normalize::{
    API_KEYS, CODE_REVIEWS, CODE_REVIEW_RESPONSES, PROJECTS, SCHEMA_VERSION, USAGE, USERS,
    WORKSPACE_USAGE,
};
use crate::origin::{CHATGPT_API, OPENAI_API};
use crate::settings::token::MAX_TOKEN_LEN;
use crate::settings::workspace::MAX_WORKSPACE_ID_LEN;
use crate::settings::*;

/// The form's section for the OpenAI Platform organization (API-key usage).
pub const PLATFORM_SECTION: &str = "platform";
/// The form's section for the ChatGPT workspace (ChatGPT sign-in usage).
pub const CHATGPT_SECTION: &str = "chatgpt";

/// The usage stream's natural key, in `normalized-record.key` order.
pub const USAGE_PRIMARY_KEY: [&str; 8] = [
    "bucket_start",
    "bucket_width",
    "user_id",
    "api_key_id",
    "project_id",
    "model",
    "batch",
    "service_tier",
];

/// The `workspace_usage` stream's natural key.
pub const WORKSPACE_USAGE_PRIMARY_KEY: [&str; 7] = [
    "period_start",
    "period",
    "user_id",
    "breakdown",
    "client_id",
    "model",
    "speed",
];

/// The natural key of `code_reviews` and `code_review_responses`.
pub const COUNTS_PRIMARY_KEY: [&str; 3] = ["period_start", "period", "user_id"];

pub fn describe() -> ConnectorInfo {
    ConnectorInfo {
        id: "openai-codex",
        name: "OpenAI Codex",
        version: env!("CARGO_PKG_VERSION"),
        description: "Imports Codex usage from two sources, either or both: Codex used with API keys (tokens and requests per person, key, project and model, and the directory of users, projects and API keys) from an OpenAI Platform organization's Admin API, and Codex used through ChatGPT sign-in (threads, turns, credits and tokens per person, client and model, and Codex code reviews) from a ChatGPT workspace's Codex Analytics API. Reads usage metadata only, never code.",
        settings: settings(),
        sections: vec![
            Section {
                id: PLATFORM_SECTION,
                title: "API-key usage (OpenAI Platform)",
                help: "Codex used with API keys is billed to an OpenAI Platform organization and read here through its Admin API. Fill this in with an Admin API key of that organization; leave it empty if your people use Codex only through ChatGPT sign-in.",
            },
            Section {
                id: CHATGPT_SECTION,
                title: "ChatGPT sign-in usage (Codex Analytics)",
                help: "Codex used through a ChatGPT sign-in (Business, Enterprise and Edu workspaces) is reported per person by the workspace's Codex Analytics API, not by the Platform. Fill this in with the workspace id and an analytics key; leave it empty if you only import API-key usage. Either section alone is enough, and both can be used.",
            },
        ],
        streams: streams(),
        capabilities: Capability::ALL.iter().map(|c| c.info()).collect(),
        origins: vec![OPENAI_API, CHATGPT_API],
        notes: vec![PLATFORM_NOTE.to_string(), CHATGPT_NOTE.to_string()],
    }
}

fn settings() -> Vec<SettingField> {
    vec![
        SettingField {
            secret_use: Some(SecretUse {
                origins: vec![OPENAI_API],
                header: "authorization",
                value_prefix: "Bearer ",
            }),
            ..field(API_TOKEN, SettingKind::Secret, false,
                format!("An OpenAI Admin API key (sk-admin-…). {ADMIN_KEY_HELP} Project keys (sk-proj-…) cannot read organization usage. Leave it empty to import only ChatGPT sign-in usage."),
                None, Some(MAX_TOKEN_LEN))
        },
        SettingField {
            min: Some(1),
            max: Some(MAX_BACKFILL_DAYS),
            ..field(BACKFILL_DAYS, SettingKind::Number, false,
                "How many days of usage the first import reads (ChatGPT sign-in usage: at most the last 90, all the Codex Analytics API keeps).".into(),
                Some(DEFAULT_BACKFILL_DAYS.to_string()), None)
        },
        SettingField {
            choices: vec!["1d", "1h"],
            ..field(BUCKET_WIDTH, SettingKind::Choice, false,
                "Usage granularity: one record per day (1d) or per hour (1h) per person, key, project and model.".into(),
                Some("1d".into()), None)
        },
        SettingField {
            min: Some(1),
            max: Some(MAX_LOOKBACK_BUCKETS),
            ..field(LOOKBACK_BUCKETS, SettingKind::Number, false,
                "How many of the newest buckets every import re-reads, so that usage reported late is picked up.".into(),
                Some(DEFAULT_LOOKBACK_BUCKETS.to_string()), None)
        },
        SettingField {
            min: Some(0),
            max: Some(MAX_DIRECTORY_REFRESH_HOURS),
            ..field(DIRECTORY_REFRESH_HOURS, SettingKind::Number, false,
                "How often users, projects and API keys are re-read in full (their lists cannot be read incrementally); 0 = on every import. Usage is read on every import.".into(),
                Some(DEFAULT_DIRECTORY_REFRESH_HOURS.to_string()), None)
        },
        field(CODEX_MODEL_PATTERN, SettingKind::Text, false,
            "Models whose name matches count as Codex. Comma-separated globs, case-insensitive; * matches anything.".into(),
            Some(DEFAULT_MODEL_PATTERN.into()), Some(MAX_PATTERN_LEN as u32)),
        field(CODEX_PROJECT_IDS, SettingKind::List, false,
            "Project ids (proj_…) used only for Codex: all their usage counts as Codex, whatever the model.".into(),
            None, None),
        field(CODEX_API_KEY_IDS, SettingKind::List, false,
            "API key ids (key_…) used only for Codex: all their usage counts as Codex, whatever the model.".into(),
            None, None),
        field(ORGANIZATION_ID, SettingKind::Text, false,
            "Optional (org-…). An Admin API key belongs to one organization; set this only to assert which.".into(),
            None, Some(MAX_ID_LEN as u32)),
        field(CHATGPT_WORKSPACE_ID, SettingKind::Text, false,
            format!("The id of the ChatGPT workspace whose Codex usage to import, e.g. 123e4567-e89b-12d3-a456-426614174000. {WORKSPACE_ID_HELP}"),
            None, Some(MAX_WORKSPACE_ID_LEN as u32)),
        SettingField {
            secret_use: Some(SecretUse {
                origins: vec![CHATGPT_API],
                header: "authorization",
                value_prefix: "Bearer ",
            }),
            ..field(ANALYTICS_API_KEY, SettingKind::Secret, false,
                format!("A key that can read the workspace's Codex Analytics API. {ANALYTICS_KEY_HELP} A Platform Admin API key (sk-admin-…) cannot."),
                None, Some(MAX_TOKEN_LEN))
        },
        SettingField {
            choices: vec!["day", "week"],
            ..field(WORKSPACE_PERIOD, SettingKind::Choice, false,
                "ChatGPT sign-in usage per person per day, or per week (weeks start on Monday, UTC).".into(),
                Some("day".into()), None)
        },
        SettingField {
            min: Some(1),
            max: Some(MAX_REREAD_DAYS),
            ..field(WORKSPACE_REREAD_DAYS, SettingKind::Number, false,
                "How many recent days every import reads again: the workspace's figures for a day keep changing for up to 5 days.".into(),
                Some(DEFAULT_REREAD_DAYS.to_string()), None)
        },
    ]
}

fn field(
    key: &'static str,
    kind: SettingKind,
    required: bool,
    help: String,
    default_value: Option<String>,
    max_length: Option<u32>,
) -> SettingField {
    SettingField {
        key,
        label: label_of(key),
        kind,
        required,
        help,
        default_value,
        choices: vec![],
        min: None,
        max: None,
        max_length,
        section: if CHATGPT_KEYS.contains(&key) {
            CHATGPT_SECTION
        } else {
            PLATFORM_SECTION
        },
        secret_use: None,
    }
}

fn streams() -> Vec<StreamInfo> {
    let stream = |name,
                  description,
                  primary_key: &[&'static str],
                  fields: &[(&str, &str)],
                  optional: &[(&str, &str)],
                  mode| StreamInfo {
        name,
        description,
        primary_key: primary_key.to_vec(),
        json_schema: schema(fields, optional),
        schema_version: SCHEMA_VERSION,
        mode,
    };
    vec![
        stream(USERS, "People in the organization.", &["user_id"],
            &[("user_id", "string"), ("email", "string|null"), ("name", "string|null"), ("role", "string|null"), ("added_at", "date-time|null")],
            &[], SyncMode::FullRefresh),
        stream(PROJECTS, "Projects, including archived ones.", &["project_id"],
            &[("project_id", "string"), ("name", "string|null"), ("status", "string|null"), ("created_at", "date-time|null"),
              ("archived_at", "date-time|null"), ("is_codex_project", "boolean")],
            &[], SyncMode::FullRefresh),
        stream(API_KEYS, "Project API keys and who owns them (a person or a service account).", &["api_key_id"],
            &[("api_key_id", "string"), ("project_id", "string|null"), ("name", "string|null"), ("redacted_value", "string|null"),
              ("created_at", "date-time|null"), ("last_used_at", "date-time|null"), ("owner_type", "string|null"), ("owner_user_id", "string|null"),
              ("owner_email", "string|null"), ("owner_name", "string|null"), ("owner_role", "string|null"), ("service_account_id", "string|null"),
              ("service_account_name", "string|null"), ("is_codex_key", "boolean")],
            &[], SyncMode::FullRefresh),
        stream(USAGE, "Tokens and requests per bucket × person × API key × project × model, with whether it is Codex and why.",
            &USAGE_PRIMARY_KEY,
            &[("bucket_start", "date-time"), ("bucket_end", "date-time"), ("bucket_width", "string"), ("bucket_complete", "boolean"),
              ("user_id", "string|null"), ("api_key_id", "string|null"), ("project_id", "string|null"), ("model", "string|null"),
              ("batch", "boolean|null"), ("service_tier", "string|null"), ("input_tokens", "integer"), ("cached_input_tokens", "integer"),
              ("output_tokens", "integer"), ("requests", "integer"), ("is_codex", "boolean"), ("codex_rule", "string|null")],
            &[], SyncMode::Incremental),
        stream(WORKSPACE_USAGE, "Codex used through ChatGPT sign-in, per person × day or week, one record per breakdown: the person's totals (total), each client (client) and each model and speed (model); sum one breakdown for exact figures.",
            &WORKSPACE_USAGE_PRIMARY_KEY,
            &[("period_start", "date-time"), ("period_end", "date-time"), ("period", "string"), ("user_id", "string|null"),
              ("email", "string|null"), ("breakdown", "string"), ("client_id", "string|null"), ("model", "string|null"),
              ("speed", "string|null"), ("threads", "integer|null"), ("turns", "integer|null"), ("credits", "number|null"),
              ("extra", "object")],
            &[("text_input_tokens", "integer"), ("uncached_text_input_tokens", "integer"),
              ("cached_text_input_tokens", "integer"), ("text_output_tokens", "integer")],
            SyncMode::Incremental),
        stream(CODE_REVIEWS, "Codex code reviews of pull requests per person × day or week: every count the workspace reports, nested ones flattened with _.",
            &COUNTS_PRIMARY_KEY,
            &[("period_start", "date-time"), ("period_end", "date-time"), ("period", "string"), ("user_id", "string|null"),
              ("email", "string|null"), ("extra", "object")],
            &[("prs_reviewed", "integer"), ("comments_generated", "integer"), ("comments_by_priority_P0", "integer"),
              ("comments_by_priority_P1", "integer"), ("comments_by_priority_P2", "integer")],
            SyncMode::Incremental),
        stream(CODE_REVIEW_RESPONSES, "How people answered Codex review comments, per person × day or week: every count the workspace reports, nested ones flattened with _.",
            &COUNTS_PRIMARY_KEY,
            &[("period_start", "date-time"), ("period_end", "date-time"), ("period", "string"), ("user_id", "string|null"),
              ("email", "string|null"), ("extra", "object")],
            &[("replies", "integer"), ("reactions_positive", "integer"), ("reactions_negative", "integer"),
              ("reactions_other", "integer"), ("comments_with_reply", "integer"), ("comments_with_reaction", "integer")],
            SyncMode::Incremental),
    ]
}

/// A JSON Schema (draft 2020-12) for a flat record; `type|null` marks nullable fields,
/// `date-time` RFC 3339 strings. Every record also carries `schema_version`; `optional`
/// fields are described but not required, and fields beyond these (optional token counts,
/// further counts) are allowed.
fn schema(fields: &[(&str, &str)], optional: &[(&str, &str)]) -> String {
    let required: Vec<&str> = fields
        .iter()
        .map(|(name, _)| *name)
        .chain(["schema_version"])
        .collect();
    let all: Vec<(&str, &str)> = fields
        .iter()
        .copied()
        .chain([("schema_version", "integer")])
        .chain(optional.iter().copied())
        .collect();
    let doc = Schema {
        schema: "https://json-schema.org/draft/2020-12/schema",
        kind: "object",
        properties: Properties(&all),
        required,
        additional_properties: true,
    };
    serde_json::to_string(&doc).unwrap_or_default()
}

#[derive(serde::Serialize)]
struct Schema<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    properties: Properties<'a>,
    required: Vec<&'a str>,
    #[serde(rename = "additionalProperties")]
    additional_properties: bool,
}

/// The `properties` object, in field order.
struct Properties<'a>(&'a [(&'a str, &'a str)]);

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Property {
            #[serde(rename = "type")]
            types: Vec<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            format: Option<&'static str>,
        }
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, ty) in self.0 {
            let types = ty
                .split('|')
                .map(|t| match t {
                    "date-time" | "string" => "string",
                    "integer" => "integer",
                    "number" => "number",
                    "boolean" => "boolean",
                    "object" => "object",
                    _ => "null",
                })
                .collect();
            let format = ty.starts_with("date-time").then_some("date-time");
            map.serialize_entry(name, &Property { types, format })?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn the_form_has_a_section_per_source_and_secrets_with_their_use() {
        let info = describe();
        assert_eq!(info.origins, [OPENAI_API, CHATGPT_API]);
        let sections: Vec<(&str, &str)> = info.sections.iter().map(|s| (s.id, s.title)).collect();
        assert_eq!(
            sections,
            [
                ("platform", "API-key usage (OpenAI Platform)"),
                ("chatgpt", "ChatGPT sign-in usage (Codex Analytics)")
            ]
        );
        assert!(info.sections.iter().all(|s| !s.help.is_empty()));
        let keys: Vec<&str> = info.settings.iter().map(|f| f.key).collect();
        assert_eq!(keys, KNOWN_KEYS);
        for f in &info.settings {
            let section = if CHATGPT_KEYS.contains(&f.key) {
                "chatgpt"
            } else {
                "platform"
            };
            assert_eq!(f.section, section, "{}", f.key);
            assert!(!f.required, "{}: either source may be used alone", f.key);
            assert_eq!(
                f.secret_use.is_some(),
                f.kind == SettingKind::Secret,
                "{}",
                f.key
            );
            assert_eq!(
                f.kind == SettingKind::Secret,
                SECRET_KEYS.contains(&f.key),
                "{}",
                f.key
            );
        }
        let token = &info.settings[0];
        assert_eq!(token.label, "API Token");
        assert_eq!(
            token.secret_use,
            Some(SecretUse {
                origins: vec![OPENAI_API],
                header: "authorization",
                value_prefix: "Bearer "
            })
        );
        assert!(token.help.contains(ADMIN_KEY_HELP));
        let field = |key: &str| info.settings.iter().find(|f| f.key == key).unwrap();
        let ws = field(CHATGPT_WORKSPACE_ID);
        assert_eq!((ws.kind, ws.label), (SettingKind::Text, "Workspace id"));
        assert!(
            ws.help.contains("ChatGPT Admin → Workspace details"),
            "{}",
            ws.help
        );
        let key = field(ANALYTICS_API_KEY);
        assert_eq!(key.kind, SettingKind::Secret);
        assert_eq!(
            key.secret_use,
            Some(SecretUse {
                origins: vec![CHATGPT_API],
                header: "authorization",
                value_prefix: "Bearer "
            })
        );
        assert!(
            key.help.contains("Credentials → Admin keys"),
            "{}",
            key.help
        );
        assert!(
            key.help.contains("Codex analytics API: Read"),
            "{}",
            key.help
        );
        assert!(
            key.help.contains("codex.enterprise.analytics.read"),
            "{}",
            key.help
        );
        let period = field(WORKSPACE_PERIOD);
        assert_eq!(
            (
                period.kind,
                period.choices.clone(),
                period.default_value.as_deref()
            ),
            (SettingKind::Choice, vec!["day", "week"], Some("day"))
        );
        let reread = field(WORKSPACE_REREAD_DAYS);
        assert_eq!(
            (
                reread.kind,
                reread.min,
                reread.max,
                reread.default_value.as_deref()
            ),
            (SettingKind::Number, Some(1), Some(30), Some("5"))
        );
    }

    #[test]
    fn capabilities_and_notes() {
        let info = describe();
        let caps: Vec<(&str, &str)> = info
            .capabilities
            .iter()
            .map(|c| (c.name, c.label))
            .collect();
        assert_eq!(
            caps,
            [
                ("platform-usage", "Platform usage"),
                ("platform-directory", "Directory (users, projects, keys)"),
                ("workspace-usage", "Workspace Codex usage"),
                ("code-reviews", "Codex code reviews"),
                ("code-review-responses", "Responses to code reviews"),
            ]
        );
        assert!(info.capabilities.iter().all(|c| !c.description.is_empty()));
        // each path, said once: what it shows and cannot show, and how to add ChatGPT sign-in
        assert_eq!(info.notes, [PLATFORM_NOTE, CHATGPT_NOTE]);
        assert!(
            !CHATGPT_NOTE.contains("cannot be imported with"),
            "{CHATGPT_NOTE}"
        );
        for says in [
            "To import it, fill in ChatGPT sign-in usage",
            "ChatGPT Admin → Workspace details",
            "Credentials → Admin keys",
            "no lines of code and no acceptance rates",
            "90 days",
        ] {
            assert!(CHATGPT_NOTE.contains(says), "{says}");
        }
        assert!(PLATFORM_NOTE.contains("lines of code or acceptance rates"));
    }

    #[test]
    fn schemas_are_json_and_cover_the_primary_keys() {
        let info = describe();
        let names: Vec<&str> = info.streams.iter().map(|s| s.name).collect();
        assert_eq!(names, crate::streams::STREAMS);
        for s in &info.streams {
            let v: Value = serde_json::from_str(&s.json_schema).unwrap();
            assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
            for k in &s.primary_key {
                assert!(v["properties"].get(*k).is_some(), "{} lacks {k}", s.name);
            }
            assert_eq!(
                v["properties"]["schema_version"]["type"],
                serde_json::json!(["integer"])
            );
        }
        let usage: Value = serde_json::from_str(&info.streams[3].json_schema).unwrap();
        assert_eq!(
            usage["properties"]["bucket_start"],
            serde_json::json!({"type": ["string"], "format": "date-time"})
        );
        assert_eq!(
            usage["properties"]["batch"],
            serde_json::json!({"type": ["boolean", "null"]})
        );
        assert_eq!(info.streams[3].primary_key, USAGE_PRIMARY_KEY);
        assert_eq!(info.streams[3].mode, SyncMode::Incremental);
        // the Codex Analytics streams
        let wu: Value = serde_json::from_str(&info.streams[4].json_schema).unwrap();
        assert_eq!(info.streams[4].primary_key, WORKSPACE_USAGE_PRIMARY_KEY);
        assert_eq!(
            wu["properties"]["credits"],
            serde_json::json!({"type": ["number", "null"]})
        );
        assert_eq!(
            wu["properties"]["extra"],
            serde_json::json!({"type": ["object"]})
        );
        assert_eq!(
            wu["properties"]["text_input_tokens"],
            serde_json::json!({"type": ["integer"]})
        );
        let required: Vec<&str> = wu["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(!required.contains(&"text_input_tokens"));
        assert_eq!(
            &required[..],
            &crate::normalize::analytics::USAGE_FIELDS[..]
        );
        for s in &info.streams[4..] {
            assert_eq!(s.mode, SyncMode::Incremental);
        }
        for s in &info.streams[5..] {
            assert_eq!(s.primary_key, COUNTS_PRIMARY_KEY);
            let v: Value = serde_json::from_str(&s.json_schema).unwrap();
            let required: Vec<&str> = v["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(
                &required[..],
                &crate::normalize::analytics::COUNT_FIELDS[..]
            );
        }
        // the Platform schemas are exactly what they were
        assert_eq!(
            info.streams[1].json_schema,
            r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"project_id":{"type":["string"]},"name":{"type":["string","null"]},"status":{"type":["string","null"]},"created_at":{"type":["string","null"],"format":"date-time"},"archived_at":{"type":["string","null"],"format":"date-time"},"is_codex_project":{"type":["boolean"]},"schema_version":{"type":["integer"]}},"required":["project_id","name","status","created_at","archived_at","is_codex_project","schema_version"],"additionalProperties":true}"#
        );
        // properties in field order, as before
        assert!(info.streams[0].json_schema.starts_with(r#"{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","properties":{"user_id":{"type":["string"]},"email":{"type":["string","null"]}"#));
    }
}
