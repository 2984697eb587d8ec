//! Raw provider pages → standardized records. Pure and deterministic: the output depends
//! only on the raw page (including its `fetched_at`) and the settings. Bad input is a
//! `provider-changed` error naming the stream and field, never a panic.
//!
//! Parsing is lenient where the meaning is clear (unknown fields, missing optional fields,
//! `result` for `results`, `null` for absent) and strict where it is not (a token count
//! that is not a non-negative integer).

use serde::Deserialize;
use serde_json::Value;

use crate::model::{ConnectorError, NormalizedRecord, RawPage};
use crate::settings::Settings;
use crate::time::rfc3339;

/// Schema version of every payload this connector emits.
pub const SCHEMA_VERSION: u32 = 1;

pub const USAGE: &str = "usage";
pub const USERS: &str = "users";
pub const PROJECTS: &str = "projects";
pub const API_KEYS: &str = "api_keys";

/// Normalize one raw page of any stream.
pub fn normalize(
    raw: &RawPage,
    settings: &Settings,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    match raw.stream.as_str() {
        USAGE => usage(raw, settings),
        USERS => users(raw),
        PROJECTS => projects(raw, settings),
        API_KEYS => api_keys(raw, settings),
        other => Err(ConnectorError::Internal(format!(
            "unknown stream {:?}",
            truncate(other, 40)
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Envelopes

/// `{"object":"page","data":[bucket…],"has_more":…,"next_page":…}` — the usage envelope.
#[derive(Deserialize)]
pub struct UsagePage<B> {
    pub data: Vec<B>,
    #[serde(default)]
    pub has_more: Option<bool>,
    #[serde(default)]
    pub next_page: Option<String>,
}

/// `{"object":"list","data":[…],"last_id":…,"has_more":…}` — the directory envelope.
#[derive(Deserialize)]
pub struct ListPage<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: Option<bool>,
    #[serde(default)]
    pub last_id: Option<String>,
}

#[derive(Deserialize)]
struct Bucket {
    start_time: i64,
    end_time: i64,
    #[serde(default, alias = "result")]
    results: Option<Vec<UsageResult>>,
}

/// One usage line. Every token field is optional: their meanings have shifted over time,
/// so we carry exactly what the provider sent.
#[derive(Deserialize, Default)]
#[serde(default)]
struct UsageResult {
    project_id: Option<String>,
    user_id: Option<String>,
    api_key_id: Option<String>,
    model: Option<String>,
    batch: Option<bool>,
    service_tier: Option<String>,
    num_model_requests: Option<u64>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    input_cached_tokens: Option<u64>,
    input_audio_tokens: Option<u64>,
    output_audio_tokens: Option<u64>,
    input_cache_write_tokens: Option<u64>,
    input_uncached_tokens: Option<u64>,
    input_text_tokens: Option<u64>,
    output_text_tokens: Option<u64>,
    input_cached_text_tokens: Option<u64>,
    input_cached_audio_tokens: Option<u64>,
    input_image_tokens: Option<u64>,
    input_cached_image_tokens: Option<u64>,
    output_image_tokens: Option<u64>,
}

/// Parse a body as `T`; on failure re-parse generically to name the failing field, so the
/// fast path pays nothing for good error messages.
pub fn parse_body<'a, T: Deserialize<'a>>(
    stream: &str,
    body: &'a str,
) -> Result<T, ConnectorError> {
    serde_json::from_str::<T>(body).map_err(|e| describe_parse_error(stream, body, &e))
}

fn describe_parse_error(stream: &str, body: &str, err: &serde_json::Error) -> ConnectorError {
    if err.is_syntax() || err.is_eof() {
        return ConnectorError::provider_changed(
            stream,
            "$",
            format!(
                "the response is not complete JSON ({} at line {} column {})",
                kind(err),
                err.line(),
                err.column()
            ),
        );
    }
    // Locate the offending field by walking the generic tree with the expected shape.
    let field = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| find_bad_field(stream, &v))
        .unwrap_or_else(|| "$".to_string());
    let detail = err.to_string();
    let detail = detail.split(" at line").next().unwrap_or("").to_string();
    ConnectorError::provider_changed(
        stream,
        field,
        format!("unexpected response shape: {}", truncate(&detail, 200)),
    )
}

fn kind(err: &serde_json::Error) -> &'static str {
    if err.is_eof() {
        "truncated"
    } else {
        "syntax error"
    }
}

/// Find the first field whose JSON type does not match what we parse.
fn find_bad_field(stream: &str, v: &Value) -> Option<String> {
    let obj = match v.as_object() {
        Some(o) => o,
        None => return Some("$".into()),
    };
    let data = match obj.get("data") {
        Some(Value::Array(a)) => a,
        Some(_) => return Some("data".into()),
        None => return Some("data".into()),
    };
    if let Some(b) = obj.get("has_more") {
        if !b.is_boolean() && !b.is_null() {
            return Some("has_more".into());
        }
    }
    for (i, item) in data.iter().enumerate() {
        let item = match item.as_object() {
            Some(o) => o,
            None => return Some(format!("data[{i}]")),
        };
        if stream == USAGE {
            for f in ["start_time", "end_time"] {
                if !item.get(f).map(|x| x.is_i64()).unwrap_or(false) {
                    return Some(format!("data[{i}].{f}"));
                }
            }
            let results = item.get("results").or_else(|| item.get("result"));
            match results {
                None | Some(Value::Null) => {}
                Some(Value::Array(rs)) => {
                    for (j, r) in rs.iter().enumerate() {
                        let r = match r.as_object() {
                            Some(o) => o,
                            None => return Some(format!("data[{i}].results[{j}]")),
                        };
                        for (k, val) in r {
                            let ok = match k.as_str() {
                                "project_id" | "user_id" | "api_key_id" | "model"
                                | "service_tier" | "object" => val.is_string() || val.is_null(),
                                "batch" => val.is_boolean() || val.is_null(),
                                k if k.ends_with("_tokens") || k == "num_model_requests" => {
                                    val.is_u64() || val.is_null()
                                }
                                _ => true,
                            };
                            if !ok {
                                return Some(format!("data[{i}].results[{j}].{k}"));
                            }
                        }
                    }
                }
                Some(_) => return Some(format!("data[{i}].results")),
            }
        } else {
            for (k, val) in item {
                let ok = match k.as_str() {
                    "id" => val.is_string(),
                    "added_at" | "created_at" | "archived_at" | "last_used_at" => {
                        val.is_i64() || val.is_null()
                    }
                    "owner" => val.is_object() || val.is_null(),
                    _ => true,
                };
                if !ok {
                    return Some(format!("data[{i}].{k}"));
                }
            }
            if !item.contains_key("id") {
                return Some(format!("data[{i}].id"));
            }
        }
    }
    None
}

// ---------------------------------------------------------------------------------------
// Usage

fn usage(raw: &RawPage, settings: &Settings) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let page: UsagePage<Bucket> = parse_body(USAGE, &raw.body)?;
    let mut out = Vec::with_capacity(
        page.data
            .iter()
            .map(|b| b.results.as_ref().map_or(0, |r| r.len()))
            .sum(),
    );
    for (i, bucket) in page.data.iter().enumerate() {
        let width = bucket.end_time - bucket.start_time;
        let width_name = match width {
            86_400 => "1d",
            3_600 => "1h",
            60 => "1m",
            _ => {
                return Err(ConnectorError::provider_changed(
                    USAGE,
                    format!("data[{i}].end_time"),
                    format!("a bucket is {width} s wide; expected 1d, 1h or 1m"),
                ))
            }
        };
        let start = rfc3339(bucket.start_time).ok_or_else(|| {
            ConnectorError::provider_changed(
                USAGE,
                format!("data[{i}].start_time"),
                "timestamp out of range",
            )
        })?;
        let end = rfc3339(bucket.end_time).ok_or_else(|| {
            ConnectorError::provider_changed(
                USAGE,
                format!("data[{i}].end_time"),
                "timestamp out of range",
            )
        })?;
        let complete = bucket.end_time <= raw.fetched_at;
        for r in bucket.results.iter().flatten() {
            out.push(usage_record(
                r, &start, &end, width_name, complete, settings,
            ));
        }
    }
    Ok(out)
}

fn usage_record(
    r: &UsageResult,
    start: &str,
    end: &str,
    width: &str,
    complete: bool,
    settings: &Settings,
) -> NormalizedRecord {
    let (is_codex, rule) = codex_rule(r, settings);
    fn s(v: &Option<String>) -> &str {
        v.as_deref().unwrap_or("")
    }
    let key = format!(
        "{start}|{width}|{}|{}|{}|{}|{}|{}",
        s(&r.user_id),
        s(&r.api_key_id),
        s(&r.project_id),
        s(&r.model),
        r.batch.map_or("", |b| if b { "batch" } else { "sync" }),
        s(&r.service_tier),
    );
    let mut p = JsonObject::with_capacity(768);
    p.str("bucket_start", start);
    p.str("bucket_end", end);
    p.str("bucket_width", width);
    p.bool("bucket_complete", complete);
    p.opt_str("user_id", &r.user_id);
    p.opt_str("api_key_id", &r.api_key_id);
    p.opt_str("project_id", &r.project_id);
    p.opt_str("model", &r.model);
    match r.batch {
        Some(b) => p.bool("batch", b),
        None => p.null("batch"),
    }
    p.opt_str("service_tier", &r.service_tier);
    p.num("input_tokens", r.input_tokens.unwrap_or(0));
    p.num("cached_input_tokens", r.input_cached_tokens.unwrap_or(0));
    p.num("output_tokens", r.output_tokens.unwrap_or(0));
    p.num("requests", r.num_model_requests.unwrap_or(0));
    for (name, v) in [
        ("input_audio_tokens", r.input_audio_tokens),
        ("output_audio_tokens", r.output_audio_tokens),
        ("input_cache_write_tokens", r.input_cache_write_tokens),
        ("input_uncached_tokens", r.input_uncached_tokens),
        ("input_text_tokens", r.input_text_tokens),
        ("output_text_tokens", r.output_text_tokens),
        ("input_cached_text_tokens", r.input_cached_text_tokens),
        ("input_cached_audio_tokens", r.input_cached_audio_tokens),
        ("input_image_tokens", r.input_image_tokens),
        ("input_cached_image_tokens", r.input_cached_image_tokens),
        ("output_image_tokens", r.output_image_tokens),
    ] {
        if let Some(v) = v {
            p.num(name, v);
        }
    }
    p.bool("is_codex", is_codex);
    match rule {
        Some(rule) => p.str("codex_rule", rule),
        None => p.null("codex_rule"),
    }
    p.num("schema_version", SCHEMA_VERSION as u64);
    NormalizedRecord {
        stream: USAGE.to_string(),
        key,
        schema_version: SCHEMA_VERSION,
        payload: p.finish(),
    }
}

/// Decide whether a usage line is Codex traffic, and by which rule. Declared keys and
/// projects win over the model name, since they are the admin's explicit statement.
fn codex_rule(r: &UsageResult, settings: &Settings) -> (bool, Option<&'static str>) {
    if let Some(k) = &r.api_key_id {
        if settings.codex_api_key_ids.binary_search(k).is_ok() {
            return (true, Some("declared_api_key"));
        }
    }
    if let Some(p) = &r.project_id {
        if settings.codex_project_ids.binary_search(p).is_ok() {
            return (true, Some("declared_project"));
        }
    }
    if let Some(m) = &r.model {
        if settings.codex_model_pattern.matches(m) {
            return (true, Some("model_pattern"));
        }
    }
    (false, None)
}

// ---------------------------------------------------------------------------------------
// Directory streams

#[derive(Deserialize)]
struct User {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    added_at: Option<i64>,
}

fn users(raw: &RawPage) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let page: ListPage<User> = parse_body(USERS, &raw.body)?;
    page.data
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let mut p = JsonObject::with_capacity(256);
            p.str("user_id", &u.id);
            p.opt_str("email", &u.email);
            p.opt_str("name", &u.name);
            p.opt_str("role", &u.role);
            p.opt_time("added_at", u.added_at, USERS, || {
                format!("data[{i}].added_at")
            })?;
            p.num("schema_version", SCHEMA_VERSION as u64);
            Ok(record(USERS, u.id.clone(), p))
        })
        .collect()
}

#[derive(Deserialize)]
struct Project {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    archived_at: Option<i64>,
}

fn projects(raw: &RawPage, settings: &Settings) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let page: ListPage<Project> = parse_body(PROJECTS, &raw.body)?;
    page.data
        .iter()
        .enumerate()
        .map(|(i, pr)| {
            let mut p = JsonObject::with_capacity(256);
            p.str("project_id", &pr.id);
            p.opt_str("name", &pr.name);
            p.opt_str("status", &pr.status);
            p.opt_time("created_at", pr.created_at, PROJECTS, || {
                format!("data[{i}].created_at")
            })?;
            p.opt_time("archived_at", pr.archived_at, PROJECTS, || {
                format!("data[{i}].archived_at")
            })?;
            p.bool(
                "is_codex_project",
                settings.codex_project_ids.binary_search(&pr.id).is_ok(),
            );
            p.num("schema_version", SCHEMA_VERSION as u64);
            Ok(record(PROJECTS, pr.id.clone(), p))
        })
        .collect()
}

#[derive(Deserialize)]
struct ApiKey {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    redacted_value: Option<String>,
    #[serde(default)]
    created_at: Option<i64>,
    #[serde(default)]
    last_used_at: Option<i64>,
    #[serde(default)]
    owner: Option<Owner>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Owner {
    #[serde(rename = "type")]
    kind: Option<String>,
    user: Option<OwnerUser>,
    service_account: Option<OwnerServiceAccount>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OwnerUser {
    id: Option<String>,
    email: Option<String>,
    name: Option<String>,
    role: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OwnerServiceAccount {
    id: Option<String>,
    name: Option<String>,
}

fn api_keys(raw: &RawPage, settings: &Settings) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let page: ListPage<ApiKey> = parse_body(API_KEYS, &raw.body)?;
    let project_id = raw.scope.clone();
    page.data
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let owner = k.owner.as_ref();
            let user = owner.and_then(|o| o.user.as_ref());
            let svc = owner.and_then(|o| o.service_account.as_ref());
            let mut p = JsonObject::with_capacity(384);
            p.str("api_key_id", &k.id);
            p.opt_str("project_id", &project_id);
            p.opt_str("name", &k.name);
            p.opt_str("redacted_value", &k.redacted_value);
            p.opt_time("created_at", k.created_at, API_KEYS, || {
                format!("data[{i}].created_at")
            })?;
            p.opt_time("last_used_at", k.last_used_at, API_KEYS, || {
                format!("data[{i}].last_used_at")
            })?;
            p.opt_str("owner_type", &owner.and_then(|o| o.kind.clone()));
            p.opt_str("owner_user_id", &user.and_then(|u| u.id.clone()));
            p.opt_str("owner_email", &user.and_then(|u| u.email.clone()));
            p.opt_str("owner_name", &user.and_then(|u| u.name.clone()));
            p.opt_str("owner_role", &user.and_then(|u| u.role.clone()));
            p.opt_str("service_account_id", &svc.and_then(|s| s.id.clone()));
            p.opt_str("service_account_name", &svc.and_then(|s| s.name.clone()));
            p.bool(
                "is_codex_key",
                settings.codex_api_key_ids.binary_search(&k.id).is_ok(),
            );
            p.num("schema_version", SCHEMA_VERSION as u64);
            Ok(record(API_KEYS, k.id.clone(), p))
        })
        .collect()
}

fn record(stream: &str, key: String, p: JsonObject) -> NormalizedRecord {
    NormalizedRecord {
        stream: stream.to_string(),
        key,
        schema_version: SCHEMA_VERSION,
        payload: p.finish(),
    }
}

// ---------------------------------------------------------------------------------------
// A tiny JSON object writer: payloads have a fixed, flat shape, and writing them directly
// is several times faster than building a serde_json::Value per record.

struct JsonObject {
    buf: String,
}

impl JsonObject {
    fn with_capacity(n: usize) -> Self {
        let mut buf = String::with_capacity(n);
        buf.push('{');
        JsonObject { buf }
    }
    fn key(&mut self, k: &str) {
        if self.buf.len() > 1 {
            self.buf.push(',');
        }
        self.buf.push('"');
        self.buf.push_str(k);
        self.buf.push_str("\":");
    }
    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        escape_into(&mut self.buf, v);
    }
    fn opt_str(&mut self, k: &str, v: &Option<String>) {
        match v {
            Some(v) => self.str(k, v),
            None => self.null(k),
        }
    }
    fn num(&mut self, k: &str, v: u64) {
        use core::fmt::Write;
        self.key(k);
        let _ = write!(self.buf, "{v}");
    }
    fn bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.buf.push_str(if v { "true" } else { "false" });
    }
    fn null(&mut self, k: &str) {
        self.key(k);
        self.buf.push_str("null");
    }
    fn opt_time(
        &mut self,
        k: &str,
        v: Option<i64>,
        stream: &str,
        field: impl FnOnce() -> String,
    ) -> Result<(), ConnectorError> {
        match v {
            None => self.null(k),
            Some(t) => match rfc3339(t) {
                Some(s) => self.str(k, &s),
                None => {
                    return Err(ConnectorError::provider_changed(
                        stream,
                        field(),
                        "timestamp out of range",
                    ))
                }
            },
        }
        Ok(())
    }
    fn finish(mut self) -> String {
        self.buf.push('}');
        self.buf
    }
}

/// JSON string escaping (RFC 8259): quotes, backslash and control characters.
fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                use core::fmt::Write;
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::for_normalize("*codex*", &["proj_codex"], &["key_cli"])
    }

    fn raw(stream: &str, body: &str) -> RawPage {
        RawPage {
            stream: stream.into(),
            scope: Some("proj_1".into()),
            fetched_at: 1_700_050_000,
            body: body.into(),
        }
    }

    const USAGE_BODY: &str = r#"{"object":"page","data":[
      {"object":"bucket","start_time":1699920000,"end_time":1700006400,"results":[
        {"object":"organization.usage.completions.result","input_tokens":100,"output_tokens":20,"num_model_requests":3,
         "input_cached_tokens":40,"project_id":"proj_a","user_id":"user_1","api_key_id":"key_x","model":"gpt-5-codex","batch":null,"service_tier":null,"brand_new_field":{"x":1}},
        {"input_tokens":5,"output_tokens":1,"num_model_requests":1,"project_id":"proj_codex","user_id":null,"api_key_id":"key_y","model":"gpt-5.4"},
        {"input_tokens":7,"output_tokens":2,"num_model_requests":1,"project_id":"proj_b","user_id":"user_2","api_key_id":"key_cli","model":"gpt-5.4"},
        {"input_tokens":9,"output_tokens":2,"num_model_requests":1,"project_id":"proj_b","user_id":"user_2","api_key_id":"key_z","model":"gpt-4.1"}]},
      {"object":"bucket","start_time":1700006400,"end_time":1700092800,"result":[
        {"input_tokens":1,"output_tokens":1,"num_model_requests":1,"model":"codex-mini-latest","user_id":"user_1","api_key_id":"key_x","project_id":"proj_a"}]}
    ],"has_more":false,"next_page":null}"#;

    #[test]
    fn usage_lines_become_records() {
        let recs = normalize(&raw(USAGE, USAGE_BODY), &settings()).unwrap();
        assert_eq!(recs.len(), 5);
        let first: Value = serde_json::from_str(&recs[0].payload).unwrap();
        assert_eq!(first["bucket_start"], "2023-11-14T00:00:00Z");
        assert_eq!(first["bucket_end"], "2023-11-15T00:00:00Z");
        assert_eq!(first["bucket_width"], "1d");
        assert_eq!(first["bucket_complete"], true);
        assert_eq!(first["input_tokens"], 100);
        assert_eq!(first["cached_input_tokens"], 40);
        assert_eq!(first["output_tokens"], 20);
        assert_eq!(first["requests"], 3);
        assert_eq!(first["is_codex"], true);
        assert_eq!(first["codex_rule"], "model_pattern");
        assert_eq!(first["schema_version"], 1);
        assert_eq!(
            recs[0].key,
            "2023-11-14T00:00:00Z|1d|user_1|key_x|proj_a|gpt-5-codex||"
        );
        let rules: Vec<Value> = recs
            .iter()
            .map(|r| serde_json::from_str::<Value>(&r.payload).unwrap()["codex_rule"].clone())
            .collect();
        assert_eq!(rules[1], "declared_project");
        assert_eq!(rules[2], "declared_api_key");
        assert_eq!(rules[3], Value::Null);
        // the second bucket ends after fetched_at: still filling up
        let last: Value = serde_json::from_str(&recs[4].payload).unwrap();
        assert_eq!(last["bucket_complete"], false);
        assert_eq!(last["user_id"], "user_1");
    }

    #[test]
    fn deterministic() {
        let a = normalize(&raw(USAGE, USAGE_BODY), &settings()).unwrap();
        let b = normalize(&raw(USAGE, USAGE_BODY), &settings()).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn wrong_type_names_the_field() {
        let body = USAGE_BODY.replace("\"input_tokens\":5,", "\"input_tokens\":\"5\",");
        match normalize(&raw(USAGE, &body), &settings()).unwrap_err() {
            ConnectorError::ProviderChanged { stream, field, .. } => {
                assert_eq!(stream, "usage");
                assert_eq!(field, "data[0].results[1].input_tokens");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn truncated_and_garbage_bodies_are_errors() {
        for body in [
            &USAGE_BODY[..200],
            "",
            "[]",
            "{\"data\":{}}",
            "null",
            "{\"data\":[1]}",
        ] {
            let e = normalize(&raw(USAGE, body), &settings()).unwrap_err();
            assert_eq!(e.class(), "provider-changed", "{body}");
        }
    }

    #[test]
    fn directory_records() {
        let users = r#"{"object":"list","data":[{"object":"organization.user","id":"user_1","name":"Ada \"L\"","email":"ada@example.com","role":"owner","added_at":1700000000,"extra":true}],"has_more":false}"#;
        let r = normalize(&raw(USERS, users), &settings()).unwrap();
        let p: Value = serde_json::from_str(&r[0].payload).unwrap();
        assert_eq!(p["email"], "ada@example.com");
        assert_eq!(p["name"], "Ada \"L\"");
        assert_eq!(p["added_at"], "2023-11-14T22:13:20Z");
        let keys = r#"{"object":"list","data":[{"id":"key_cli","name":"ci","redacted_value":"sk-...abcd","created_at":1700000000,"last_used_at":null,
          "owner":{"type":"service_account","service_account":{"id":"svc_1","name":"bot"}}}],"has_more":false}"#;
        let r = normalize(&raw(API_KEYS, keys), &settings()).unwrap();
        let p: Value = serde_json::from_str(&r[0].payload).unwrap();
        assert_eq!(p["project_id"], "proj_1");
        assert_eq!(p["owner_type"], "service_account");
        assert_eq!(p["service_account_name"], "bot");
        assert_eq!(p["owner_email"], Value::Null);
        assert_eq!(p["is_codex_key"], true);
    }

    #[test]
    fn escaping_is_valid_json() {
        let mut s = String::new();
        escape_into(&mut s, "a\"b\\c\n\u{1}é");
        let back: String = serde_json::from_str(&s).unwrap();
        assert_eq!(back, "a\"b\\c\n\u{1}é");
    }
}
