//! Raw provider pages → standardized records. Pure and deterministic: the output depends
//! only on the raw page (including its `fetched_at`) and the settings. Bad input is a
//! `provider-changed` error naming the stream and field, never a panic.
//!
//! Parsing is lenient where the meaning is clear (unknown fields, missing optional fields,
//! `result` for `results`, `null` for absent) and strict where it is not (a token count
//! that is not a non-negative integer).

#[cfg(test)]
use serde_json::Value;

#[cfg(test)]
use crate::json::escape_into;
use std::borrow::Cow;

use crate::json::{self, Flat, Object, Parser, Shape};
use crate::model::{ConnectorError, NormalizedRecord, RawPage};
use crate::settings::{ModelPattern, Settings};
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
            "unknown stream {}",
            json::quoted(&truncate(other, 40))
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Envelopes

/// The paging fields of an envelope: the usage one,
/// `{"object":"page","data":[bucket…],"has_more":…,"next_page":…}`, or the directory one,
/// `{"object":"list","data":[…],"last_id":…,"has_more":…}`.
pub struct Envelope {
    pub has_more: Option<bool>,
    /// `next_page` or `last_id`.
    pub next: Option<String>,
}

/// Read an envelope whose continuation field is `next_field`, handing each element of
/// `data` (required) to `item`.
pub fn read_envelope<'a>(
    p: &mut Parser<'a>,
    next_field: &str,
    item: &mut dyn FnMut(&mut Parser<'a>, usize) -> Result<(), json::Error>,
) -> Result<Envelope, json::Error> {
    let fields = ["data", "has_more", next_field];
    let mut env = Envelope {
        has_more: None,
        next: None,
    };
    let seen = p.fields(&fields, &mut |p, i| {
        match i {
            0 => p.array(&mut *item)?,
            1 => env.has_more = p.opt_bool()?,
            _ => env.next = p.opt_string()?,
        }
        Ok(())
    })?;
    p.require(seen, &fields, 1)?;
    Ok(env)
}

/// Parse a whole body with `read`; a failure is a `provider-changed` error naming the field.
pub fn parse_body<'a, T>(
    stream: &str,
    body: &'a str,
    read: impl FnOnce(&mut Parser<'a>) -> Result<T, json::Error>,
) -> Result<T, ConnectorError> {
    json::parse(body, read).map_err(|e| {
        if e.is_eof() {
            // Cut off in transit (the framing was intact): asking again may well work.
            ConnectorError::Transient(format!(
                "the {stream} response ended early ({})",
                e.message(body)
            ))
        } else if e.is_syntax() {
            ConnectorError::provider_changed(
                stream,
                "$",
                format!("the response is not complete JSON ({})", e.message(body)),
            )
        } else {
            ConnectorError::provider_changed(
                stream,
                e.path(),
                format!(
                    "unexpected response shape: {}",
                    truncate(&e.message(body), 200)
                ),
            )
        }
    })
}

/// The fields of a usage line (in the order serde's array form takes them), and the index
/// of each: text fields, `batch`, then counts.
const PROJECT_ID: usize = 0;
const USER_ID: usize = 1;
const API_KEY_ID: usize = 2;
const MODEL: usize = 3;
const BATCH: usize = 4;
const SERVICE_TIER: usize = 5;
const COUNTS: usize = 6;
const RESULT_FIELDS: [&str; 21] = [
    "project_id",
    "user_id",
    "api_key_id",
    "model",
    "batch",
    "service_tier",
    // counts always in the payload, under the names in `BASE_COUNTS`
    "num_model_requests",
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    // counts in the payload when the provider sent them, under their own names
    "input_audio_tokens",
    "output_audio_tokens",
    "input_cache_write_tokens",
    "input_uncached_tokens",
    "input_text_tokens",
    "output_text_tokens",
    "input_cached_text_tokens",
    "input_cached_audio_tokens",
    "input_image_tokens",
    "input_cached_image_tokens",
    "output_image_tokens",
];
/// Payload name and index in `UsageResult::counts` of the counts always written.
const BASE_COUNTS: [(&str, usize); 4] = [
    ("input_tokens", 1),
    ("cached_input_tokens", 3),
    ("output_tokens", 2),
    ("requests", 0),
];

/// One usage line. Every field is optional: token meanings have shifted over time, so we
/// carry exactly what the provider sent. Text borrows from the body unless it had escapes.
#[derive(Default)]
struct UsageResult<'a> {
    /// Indexed like `RESULT_FIELDS` (`text[BATCH]` is unused).
    text: [Option<Cow<'a, str>>; COUNTS],
    batch: Option<bool>,
    counts: [Option<u64>; 15],
}

fn read_result<'a>(
    p: &mut Parser<'a>,
    shape: &mut Shape<'a>,
) -> Result<UsageResult<'a>, json::Error> {
    let mut r = UsageResult::default();
    let fast = p.flat_object(&RESULT_FIELDS, shape, &mut |i, v| {
        match (i, v) {
            (BATCH, Flat::Null) => r.batch = None,
            (BATCH, Flat::Bool(b)) => r.batch = Some(b),
            (0..COUNTS, Flat::Null) if i != BATCH => r.text[i] = None,
            (0..COUNTS, Flat::Str(t)) if i != BATCH => r.text[i] = Some(Cow::Borrowed(t)),
            (COUNTS.., Flat::Null) => r.counts[i - COUNTS] = None,
            (COUNTS.., Flat::Uint(n)) => r.counts[i - COUNTS] = Some(n),
            _ => return false,
        }
        true
    });
    if fast {
        return Ok(r);
    }
    r = UsageResult::default();
    p.fields(&RESULT_FIELDS, &mut |p, i| {
        match i {
            BATCH => r.batch = p.opt_bool()?,
            0..COUNTS => r.text[i] = p.opt_text()?,
            _ => r.counts[i - COUNTS] = p.opt_u64()?,
        }
        Ok(())
    })?;
    Ok(r)
}

// ---------------------------------------------------------------------------------------
// Usage
//
// One pass: each line becomes a record as soon as it is read, so a page of 100k lines
// holds no intermediate copy of itself. A bucket whose lines come before its times (JSON
// objects are unordered) has them held until its end.

/// What a bucket's times mean for its records: the start of their keys and payloads.
struct BucketTimes {
    /// `start|width|`
    key_head: String,
    /// `{"bucket_start":…,"bucket_end":…,"bucket_width":…,"bucket_complete":…`
    payload_head: String,
}

/// The state of normalizing one usage page.
struct UsagePage<'s> {
    settings: &'s Settings,
    fetched_at: i64,
    out: Vec<NormalizedRecord>,
    /// The first bucket with bad times. Reported only if the body parses: a body that is
    /// not what we read at all says more.
    bad: Option<ConnectorError>,
    /// Where each record's key and payload are written before being copied out at their
    /// exact size.
    key_buf: String,
    payload_buf: String,
    models: ModelVerdicts,
}

fn usage(raw: &RawPage, settings: &Settings) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let mut page = UsagePage {
        settings,
        fetched_at: raw.fetched_at,
        // a usage line is a few hundred bytes of JSON
        out: Vec::with_capacity(raw.body.len() / 400),
        bad: None,
        key_buf: String::with_capacity(256),
        payload_buf: String::with_capacity(1024),
        models: ModelVerdicts(Vec::new()),
    };
    parse_body(USAGE, &raw.body, |p| {
        read_envelope(p, "next_page", &mut |p, i| page.bucket(p, i))
    })?;
    match page.bad {
        Some(e) => Err(e),
        None => Ok(page.out),
    }
}

impl UsagePage<'_> {
    /// Read bucket `i` and emit its records.
    fn bucket<'a>(&mut self, p: &mut Parser<'a>, i: usize) -> Result<(), json::Error> {
        const FIELDS: [&str; 4] = ["start_time", "end_time", "results", "result"];
        let (mut start, mut end) = (0, 0);
        let mut seen_times = 0u8;
        let mut have_results = false;
        let mut held: Vec<UsageResult<'a>> = Vec::new();
        let mut shape = Shape::default();
        let read = p.record(&FIELDS, 3, &mut |p, f| {
            match f {
                0 => {
                    start = p.i64()?;
                    seen_times |= 1;
                }
                1 => {
                    end = p.i64()?;
                    seen_times |= 2;
                }
                // `result` is an alias of `results`: both at once are a repeated field
                _ => {
                    if have_results {
                        return Err(p.duplicate());
                    }
                    have_results = true;
                    if !p.null()? {
                        let times = match seen_times {
                            3 => self.times(start, end, i),
                            _ => None,
                        };
                        p.array(&mut |p, _| {
                            let r = read_result(p, &mut shape)?;
                            match &times {
                                Some(t) => self.emit(&r, t),
                                None if seen_times != 3 => held.push(r),
                                None => {}
                            }
                            Ok(())
                        })?;
                    }
                }
            }
            Ok(())
        });
        let seen = read.map_err(|e| e.rename_key("result", "results"))?;
        p.require(seen, &FIELDS, 0b11)?;
        if !held.is_empty() {
            if let Some(t) = self.times(start, end, i) {
                for r in &held {
                    self.emit(r, &t);
                }
            }
        }
        Ok(())
    }

    /// Bucket `i`'s times, or `None` after recording why they are bad (or when an earlier
    /// bucket's were: nothing more is emitted then).
    fn times(&mut self, start: i64, end: i64, i: usize) -> Option<BucketTimes> {
        if self.bad.is_some() {
            return None;
        }
        match bucket_times(start, end, i, self.fetched_at) {
            Ok(t) => Some(t),
            Err(e) => {
                self.bad = Some(e);
                None
            }
        }
    }

    fn emit(&mut self, r: &UsageResult, t: &BucketTimes) {
        let rule = codex_rule(r, self.settings, &mut self.models);
        let record = usage_record(r, t, rule, &mut self.key_buf, &mut self.payload_buf);
        self.out.push(record);
    }
}

fn bucket_times(
    start: i64,
    end: i64,
    i: usize,
    fetched_at: i64,
) -> Result<BucketTimes, ConnectorError> {
    let width = match end - start {
        86_400 => "1d",
        3_600 => "1h",
        60 => "1m",
        w => {
            return Err(ConnectorError::provider_changed(
                USAGE,
                format!("data[{i}].end_time"),
                format!("a bucket is {w} s wide; expected 1d, 1h or 1m"),
            ))
        }
    };
    let start_text = bucket_time(start, i, "start_time")?;
    let end_text = bucket_time(end, i, "end_time")?;
    let mut p = Object::with_capacity(128);
    p.str("bucket_start", &start_text);
    p.str("bucket_end", &end_text);
    p.str("bucket_width", width);
    p.bool("bucket_complete", end <= fetched_at);
    let mut key_head = start_text;
    key_head.push('|');
    key_head.push_str(width);
    key_head.push('|');
    Ok(BucketTimes {
        key_head,
        payload_head: p.into_head(),
    })
}

fn bucket_time(t: i64, i: usize, field: &str) -> Result<String, ConnectorError> {
    rfc3339(t).ok_or_else(|| {
        ConnectorError::provider_changed(
            USAGE,
            format!("data[{i}].{field}"),
            "timestamp out of range",
        )
    })
}

fn usage_record(
    r: &UsageResult,
    t: &BucketTimes,
    rule: Option<&'static str>,
    key: &mut String,
    payload: &mut String,
) -> NormalizedRecord {
    let s = |i: usize| r.text[i].as_deref().unwrap_or("");
    key.clear();
    key.push_str(&t.key_head);
    for part in [
        s(USER_ID),
        s(API_KEY_ID),
        s(PROJECT_ID),
        s(MODEL),
        r.batch.map_or("", |b| if b { "batch" } else { "sync" }),
    ] {
        json::push_short(key, part);
        key.push('|');
    }
    json::push_short(key, s(SERVICE_TIER));
    let mut p = Object::in_buffer(std::mem::take(payload), &t.payload_head);
    for i in [USER_ID, API_KEY_ID, PROJECT_ID, MODEL] {
        p.opt_text(RESULT_FIELDS[i], &r.text[i]);
    }
    match r.batch {
        Some(b) => p.bool("batch", b),
        None => p.null("batch"),
    }
    p.opt_text("service_tier", &r.text[SERVICE_TIER]);
    for (name, i) in BASE_COUNTS {
        p.num(name, r.counts[i].unwrap_or(0));
    }
    for (name, v) in RESULT_FIELDS[COUNTS + 4..].iter().zip(&r.counts[4..]) {
        if let Some(v) = v {
            p.num(name, *v);
        }
    }
    p.bool("is_codex", rule.is_some());
    match rule {
        Some(rule) => p.str("codex_rule", rule),
        None => p.null("codex_rule"),
    }
    p.num("schema_version", SCHEMA_VERSION as u64);
    let (exact, buf) = p.finish_exact();
    *payload = buf;
    NormalizedRecord {
        stream: USAGE.to_string(),
        key: key.as_str().to_owned(),
        schema_version: SCHEMA_VERSION,
        payload: exact,
    }
}

/// Decide whether a usage line is Codex traffic, and by which rule (`None`: it is not).
/// Declared keys and projects win over the model name, since they are the admin's
/// explicit statement.
fn codex_rule(
    r: &UsageResult,
    settings: &Settings,
    models: &mut ModelVerdicts,
) -> Option<&'static str> {
    let declared = |ids: &[String], id: &Option<Cow<str>>| {
        id.as_deref()
            .is_some_and(|id| ids.binary_search_by(|x| x.as_str().cmp(id)).is_ok())
    };
    if declared(&settings.codex_api_key_ids, &r.text[API_KEY_ID]) {
        return Some("declared_api_key");
    }
    if declared(&settings.codex_project_ids, &r.text[PROJECT_ID]) {
        return Some("declared_project");
    }
    let model = r.text[MODEL].as_deref()?;
    models
        .matches(&settings.codex_model_pattern, model)
        .then_some("model_pattern")
}

/// The model pattern's verdict on the first models of a page: a page names a handful of
/// models over and over, and matching the pattern cost as much as writing a record's
/// numbers.
struct ModelVerdicts(Vec<(String, bool)>);

/// How many models `ModelVerdicts` remembers (a hostile page naming a million models must
/// not grow it).
const MODEL_VERDICTS: usize = 16;

impl ModelVerdicts {
    fn matches(&mut self, pattern: &ModelPattern, model: &str) -> bool {
        let known = self
            .0
            .iter()
            .find(|(m, _)| json::same_bytes(m.as_bytes(), model.as_bytes()));
        if let Some(&(_, verdict)) = known {
            return verdict;
        }
        let verdict = pattern.matches(model);
        if self.0.len() < MODEL_VERDICTS {
            self.0.push((model.to_owned(), verdict));
        }
        verdict
    }
}

// ---------------------------------------------------------------------------------------
// Directory streams
//
// Each directory item has a required string `id`, optional text fields and optional Unix
// timestamps; an API key also has an optional `owner`.

/// One directory item: `id`, then its optional `text` and `times` in the order of the
/// field list it was read with.
struct Item {
    id: String,
    text: [Option<String>; 3],
    times: [Option<i64>; 2],
    /// API keys: owner type, user id, email, name, role, service account id, name.
    owner: [Option<String>; 7],
}

/// Read the items of a directory page. `fields` lists `id`, the text fields, then the
/// timestamp fields (`n_text` of the former); `owner` is read for API keys.
fn read_items(
    stream: &str,
    body: &str,
    fields: &[&str],
    n_text: usize,
) -> Result<Vec<Item>, ConnectorError> {
    parse_body(stream, body, |p| {
        let mut items = Vec::new();
        read_envelope(p, "last_id", &mut |p, _| {
            let mut it = Item {
                id: String::new(),
                text: Default::default(),
                times: [None; 2],
                owner: Default::default(),
            };
            let seen = p.fields(fields, &mut |p, i| {
                match i {
                    0 => it.id = p.string()?,
                    _ if i <= n_text => it.text[i - 1] = p.opt_string()?,
                    _ if fields[i] == "owner" => read_owner(p, &mut it.owner)?,
                    _ => it.times[i - 1 - n_text] = p.opt_i64()?,
                }
                Ok(())
            })?;
            p.require(seen, fields, 1)?;
            items.push(it);
            Ok(())
        })?;
        Ok(items)
    })
}

/// `owner`: `{"type":…,"user":{"id","email","name","role"},"service_account":{"id","name"}}`,
/// every part optional.
fn read_owner(p: &mut Parser, out: &mut [Option<String>; 7]) -> Result<(), json::Error> {
    if p.null()? {
        return Ok(());
    }
    p.fields(&["type", "user", "service_account"], &mut |p, i| {
        let (names, at): (&[&str], usize) = match i {
            0 => {
                out[0] = p.opt_string()?;
                return Ok(());
            }
            1 => (&["id", "email", "name", "role"], 1),
            _ => (&["id", "name"], 5),
        };
        if !p.null()? {
            p.fields(names, &mut |p, j| {
                out[at + j] = p.opt_string()?;
                Ok(())
            })?;
        }
        Ok(())
    })?;
    Ok(())
}

fn users(raw: &RawPage) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    const FIELDS: [&str; 5] = ["id", "name", "email", "role", "added_at"];
    read_items(USERS, &raw.body, &FIELDS, 3)?
        .into_iter()
        .enumerate()
        .map(|(i, u)| {
            let [name, email, role] = &u.text;
            let mut p = Object::with_capacity(256);
            p.str("user_id", &u.id);
            p.opt_str("email", email);
            p.opt_str("name", name);
            p.opt_str("role", role);
            opt_time(&mut p, "added_at", u.times[0], USERS, i)?;
            p.num("schema_version", SCHEMA_VERSION as u64);
            Ok(record(USERS, u.id, p))
        })
        .collect()
}

fn projects(raw: &RawPage, settings: &Settings) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    const FIELDS: [&str; 5] = ["id", "name", "status", "created_at", "archived_at"];
    read_items(PROJECTS, &raw.body, &FIELDS, 2)?
        .into_iter()
        .enumerate()
        .map(|(i, pr)| {
            let mut p = Object::with_capacity(256);
            p.str("project_id", &pr.id);
            p.opt_str("name", &pr.text[0]);
            p.opt_str("status", &pr.text[1]);
            opt_time(&mut p, "created_at", pr.times[0], PROJECTS, i)?;
            opt_time(&mut p, "archived_at", pr.times[1], PROJECTS, i)?;
            p.bool(
                "is_codex_project",
                settings.codex_project_ids.binary_search(&pr.id).is_ok(),
            );
            p.num("schema_version", SCHEMA_VERSION as u64);
            Ok(record(PROJECTS, pr.id, p))
        })
        .collect()
}

fn api_keys(raw: &RawPage, settings: &Settings) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    const FIELDS: [&str; 6] = [
        "id",
        "name",
        "redacted_value",
        "created_at",
        "last_used_at",
        "owner",
    ];
    const OWNER: [&str; 7] = [
        "owner_type",
        "owner_user_id",
        "owner_email",
        "owner_name",
        "owner_role",
        "service_account_id",
        "service_account_name",
    ];
    read_items(API_KEYS, &raw.body, &FIELDS, 2)?
        .into_iter()
        .enumerate()
        .map(|(i, k)| {
            let mut p = Object::with_capacity(384);
            p.str("api_key_id", &k.id);
            p.opt_str("project_id", &raw.scope);
            p.opt_str("name", &k.text[0]);
            p.opt_str("redacted_value", &k.text[1]);
            opt_time(&mut p, "created_at", k.times[0], API_KEYS, i)?;
            opt_time(&mut p, "last_used_at", k.times[1], API_KEYS, i)?;
            for (name, v) in OWNER.iter().zip(&k.owner) {
                p.opt_str(name, v);
            }
            p.bool(
                "is_codex_key",
                settings.codex_api_key_ids.binary_search(&k.id).is_ok(),
            );
            p.num("schema_version", SCHEMA_VERSION as u64);
            Ok(record(API_KEYS, k.id, p))
        })
        .collect()
}

fn record(stream: &str, key: String, p: Object) -> NormalizedRecord {
    NormalizedRecord {
        stream: stream.to_string(),
        key,
        schema_version: SCHEMA_VERSION,
        payload: p.finish(),
    }
}

/// An optional Unix timestamp as RFC 3339, or `null`; item `i`'s `k` out of range is an error.
fn opt_time(
    p: &mut Object,
    k: &str,
    v: Option<i64>,
    stream: &str,
    i: usize,
) -> Result<(), ConnectorError> {
    match v {
        None => p.null(k),
        Some(t) => match rfc3339(t) {
            Some(s) => p.str(k, &s),
            None => {
                return Err(ConnectorError::provider_changed(
                    stream,
                    format!("data[{i}].{k}"),
                    "timestamp out of range",
                ))
            }
        },
    }
    Ok(())
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

    /// The remembered verdicts are the pattern's, for models seen again and for models
    /// past the bound, which is kept.
    #[test]
    fn model_verdicts_are_the_patterns_and_bounded() {
        let pattern = ModelPattern::parse("*codex*, o?-mini").unwrap();
        let mut verdicts = ModelVerdicts(Vec::new());
        let models: Vec<String> = (0..40)
            .map(|i| match i % 4 {
                0 => format!("gpt-{i}-codex"),
                1 => format!("o{}-mini", i % 10),
                2 => format!("gpt-{i}"),
                _ => format!("CODEX-{i}-LONG-NAME-TO-COMPARE"),
            })
            .collect();
        for round in 0..3 {
            for m in &models {
                assert_eq!(
                    verdicts.matches(&pattern, m),
                    pattern.matches(m),
                    "{m}, round {round}"
                );
            }
        }
        assert_eq!(verdicts.0.len(), MODEL_VERDICTS);
    }

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

    /// Records are emitted while reading; a bucket whose lines come before its times (JSON
    /// members are unordered) gives the same records, and a bad bucket anywhere is still
    /// reported as that bucket, after the body is known to parse.
    #[test]
    fn bucket_member_order_does_not_matter() {
        let reordered = USAGE_BODY.replace(
            r#""start_time":1699920000,"end_time":1700006400,"results":["#,
            r#""results":["#,
        );
        // move the times of the first bucket after its results
        let reordered = reordered.replacen(
            r#""model":"gpt-4.1"}]},"#,
            r#""model":"gpt-4.1"}],"start_time":1699920000,"end_time":1700006400},"#,
            1,
        );
        assert_ne!(reordered, USAGE_BODY);
        let a = normalize(&raw(USAGE, USAGE_BODY), &settings()).unwrap();
        let b = normalize(&raw(USAGE, &reordered), &settings()).unwrap();
        assert_eq!(a, b);

        let bad_width = USAGE_BODY.replace(r#""end_time":1700006400"#, r#""end_time":1700006401"#);
        match normalize(&raw(USAGE, &bad_width), &settings()).unwrap_err() {
            ConnectorError::ProviderChanged { field, .. } => assert_eq!(field, "data[0].end_time"),
            e => panic!("{e:?}"),
        }
        // a body that does not parse says so, even after a bad bucket
        let both = bad_width.replace(r#""input_tokens":1,"#, r#""input_tokens":-1,"#);
        match normalize(&raw(USAGE, &both), &settings()).unwrap_err() {
            ConnectorError::ProviderChanged { field, .. } => {
                assert_eq!(field, "data[1].results[0].input_tokens")
            }
            e => panic!("{e:?}"),
        }
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
        // Cut off in transit: retryable.
        for body in [&USAGE_BODY[..200], ""] {
            let e = normalize(&raw(USAGE, body), &settings()).unwrap_err();
            assert_eq!(e.class(), "transient", "{body}");
        }
        // Complete but not what we read: the provider changed.
        for body in ["[]", "{\"data\":{}}", "null", "{\"data\":[1]}"] {
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
