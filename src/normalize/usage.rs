//! Usage pages → one record per bucket × user × API key × project × model × batch ×
//! service tier, with whether it is Codex traffic and by which rule.
//!
//! Every token field is optional: their meanings have shifted over time, so the record
//! carries exactly what the provider sent (the four base counts default to 0; the others
//! appear under their own names when sent).
//!
//! One pass: the page is read with serde seeds that turn each line into a record as soon
//! as it is read, so a page of 100k lines holds no parsed copy of itself. A bucket whose
//! lines come before its times (JSON members are unordered) has them held until its end.

use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::{Deserialize, Serialize};

use super::envelope::{parse_seeded, Text};
use super::{PayloadWriter, SCHEMA_VERSION, USAGE};
use crate::model::{ConnectorError, NormalizedRecord, RawPage};
use crate::settings::{ModelPattern, Settings};
use crate::time::rfc3339;

/// One usage line (`organization.usage.completions.result`); unknown fields are ignored.
#[derive(Deserialize)]
struct UsageResult<'a> {
    #[serde(default, borrow)]
    project_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    user_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    api_key_id: Option<Text<'a>>,
    #[serde(default, borrow)]
    model: Option<Text<'a>>,
    #[serde(default)]
    batch: Option<bool>,
    #[serde(default, borrow)]
    service_tier: Option<Text<'a>>,
    #[serde(default)]
    num_model_requests: Option<u64>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    input_cached_tokens: Option<u64>,
    #[serde(default)]
    input_audio_tokens: Option<u64>,
    #[serde(default)]
    output_audio_tokens: Option<u64>,
    #[serde(default)]
    input_cache_write_tokens: Option<u64>,
    #[serde(default)]
    input_uncached_tokens: Option<u64>,
    #[serde(default)]
    input_text_tokens: Option<u64>,
    #[serde(default)]
    output_text_tokens: Option<u64>,
    #[serde(default)]
    input_cached_text_tokens: Option<u64>,
    #[serde(default)]
    input_cached_audio_tokens: Option<u64>,
    #[serde(default)]
    input_image_tokens: Option<u64>,
    #[serde(default)]
    input_cached_image_tokens: Option<u64>,
    #[serde(default)]
    output_image_tokens: Option<u64>,
}

/// The payload of a usage record (schema version 1), fields in this order.
#[derive(Serialize)]
struct UsagePayload<'r> {
    bucket_start: &'r str,
    bucket_end: &'r str,
    bucket_width: &'static str,
    bucket_complete: bool,
    user_id: Option<&'r str>,
    api_key_id: Option<&'r str>,
    project_id: Option<&'r str>,
    model: Option<&'r str>,
    batch: Option<bool>,
    service_tier: Option<&'r str>,
    input_tokens: u64,
    cached_input_tokens: u64,
    output_tokens: u64,
    requests: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_audio_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_audio_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_cache_write_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_uncached_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_text_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_text_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_cached_text_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_cached_audio_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_image_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    input_cached_image_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_image_tokens: Option<u64>,
    is_codex: bool,
    codex_rule: Option<&'static str>,
    schema_version: u32,
}

/// What a bucket's times mean for its records.
struct BucketTimes {
    start: String,
    end: String,
    width: &'static str,
    complete: bool,
}

/// Normalize a usage page.
pub fn normalize(
    raw: &RawPage,
    settings: &Settings,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    // a usage line is a few hundred bytes of JSON
    let sink = Sink::new(settings, raw.fetched_at, raw.body.len() / 400);
    let sink = parse_seeded(USAGE, &raw.body, PageSeed(sink), || {
        PageSeed(Sink::new(settings, raw.fetched_at, 0).scratch())
    })?;
    match (sink.bad, sink.failed) {
        (Some(e), _) | (None, Some(e)) => Err(e),
        (None, None) => Ok(sink.out),
    }
}

/// Where the records of a page go as its lines are read.
struct Sink<'s> {
    settings: &'s Settings,
    fetched_at: i64,
    out: Vec<NormalizedRecord>,
    writer: PayloadWriter,
    verdicts: ModelVerdicts,
    /// The first bucket with bad times. Reported only if the whole body reads: a body that
    /// is not what we read at all says more. Nothing is emitted after it.
    bad: Option<ConnectorError>,
    /// The first record that could not be written.
    failed: Option<ConnectorError>,
    /// False when the body is read again only to locate an error.
    emit: bool,
}

impl<'s> Sink<'s> {
    fn new(settings: &'s Settings, fetched_at: i64, capacity: usize) -> Self {
        Sink {
            settings,
            fetched_at,
            out: Vec::with_capacity(capacity),
            writer: PayloadWriter::new(),
            verdicts: ModelVerdicts::default(),
            bad: None,
            failed: None,
            emit: true,
        }
    }

    fn scratch(mut self) -> Self {
        self.emit = false;
        self
    }

    /// Bucket `i`'s times, or `None` after recording why they are bad (or when an earlier
    /// bucket's were).
    fn times(&mut self, start: i64, end: i64, i: usize) -> Option<BucketTimes> {
        if self.bad.is_some() || !self.emit {
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
        if self.failed.is_some() {
            return;
        }
        let rule = codex_rule(r, self.settings, &mut self.verdicts);
        match usage_record(r, t, rule, &mut self.writer) {
            Ok(record) => self.out.push(record),
            Err(e) => self.failed = Some(e),
        }
    }
}

/// The page: `{"object":"page","data":[bucket…],"has_more":…,"next_page":…}`.
struct PageSeed<'s>(Sink<'s>);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum PageField {
    Data,
    HasMore,
    NextPage,
    #[serde(other)]
    Other,
}

const PAGE_FIELDS: &[&str] = &["data", "has_more", "next_page"];

impl<'de, 's> DeserializeSeed<'de> for PageSeed<'s> {
    type Value = Sink<'s>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Sink<'s>, D::Error> {
        d.deserialize_struct("UsagePage", PAGE_FIELDS, self)
    }
}

impl<'de, 's> Visitor<'de> for PageSeed<'s> {
    type Value = Sink<'s>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a usage page")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Sink<'s>, A::Error> {
        let mut seen = [false; 3];
        while let Some(field) = map.next_key::<PageField>()? {
            let n = match field {
                PageField::Data => 0,
                PageField::HasMore => 1,
                PageField::NextPage => 2,
                PageField::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[n], true) {
                return Err(A::Error::duplicate_field(PAGE_FIELDS[n]));
            }
            match field {
                PageField::Data => map.next_value_seed(DataSeed(&mut self.0))?,
                PageField::HasMore => drop(map.next_value::<Option<bool>>()?),
                _ => drop(map.next_value::<Option<Text<'de>>>()?),
            }
        }
        if !seen[0] {
            return Err(A::Error::missing_field("data"));
        }
        Ok(self.0)
    }
}

/// `data`: the buckets.
struct DataSeed<'a, 's>(&'a mut Sink<'s>);

impl<'de> DeserializeSeed<'de> for DataSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for DataSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of usage buckets")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while seq
            .next_element_seed(BucketSeed {
                sink: &mut *self.0,
                i,
            })?
            .is_some()
        {
            i += 1;
        }
        Ok(())
    }
}

/// Bucket `i`: `{"object":"bucket","start_time":…,"end_time":…,"results":[…]}`. `result`
/// is accepted for `results` (one rendering of the reference shows it); both at once are
/// a repeated field. A bucket without lines (`results` absent or null) has no records, and
/// its times are not checked.
struct BucketSeed<'a, 's> {
    sink: &'a mut Sink<'s>,
    i: usize,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum BucketField {
    StartTime,
    EndTime,
    #[serde(alias = "result")]
    Results,
    #[serde(other)]
    Other,
}

const BUCKET_FIELDS: &[&str] = &["start_time", "end_time", "results"];

impl<'de> DeserializeSeed<'de> for BucketSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_struct("Bucket", BUCKET_FIELDS, self)
    }
}

impl<'de> Visitor<'de> for BucketSeed<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a usage bucket")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (mut start, mut end): (Option<i64>, Option<i64>) = (None, None);
        let mut results_seen = false;
        // lines read before the bucket's times, to be emitted once they are known
        let mut held: Vec<UsageResult<'de>> = Vec::new();
        let mut deferred = false;
        while let Some(field) = map.next_key::<BucketField>()? {
            match field {
                BucketField::StartTime | BucketField::EndTime => {
                    let (slot, name) = match field {
                        BucketField::StartTime => (&mut start, BUCKET_FIELDS[0]),
                        _ => (&mut end, BUCKET_FIELDS[1]),
                    };
                    if slot.is_some() {
                        return Err(A::Error::duplicate_field(name));
                    }
                    *slot = Some(map.next_value()?);
                }
                BucketField::Results => {
                    if std::mem::replace(&mut results_seen, true) {
                        return Err(A::Error::duplicate_field(BUCKET_FIELDS[2]));
                    }
                    let known = start.zip(end);
                    let times = known.and_then(|(s, e)| self.sink.times(s, e, self.i));
                    let lines = map.next_value_seed(Lines {
                        sink: &mut *self.sink,
                        times: times.as_ref(),
                        held: known.is_none().then_some(&mut held),
                    })?;
                    deferred = lines && known.is_none();
                }
                BucketField::Other => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        let start = start.ok_or_else(|| A::Error::missing_field(BUCKET_FIELDS[0]))?;
        let end = end.ok_or_else(|| A::Error::missing_field(BUCKET_FIELDS[1]))?;
        if deferred {
            if let Some(t) = self.sink.times(start, end, self.i) {
                for r in &held {
                    self.sink.emit(r, &t);
                }
            }
        }
        Ok(())
    }
}

/// `results`: the lines of a bucket, or `null`. Each line is emitted as it is read when
/// the bucket's times are known (and good), held when they are still to come, and only
/// checked otherwise. The value is whether there were lines (`results` not null).
struct Lines<'a, 't, 's, 'de> {
    sink: &'a mut Sink<'s>,
    times: Option<&'t BucketTimes>,
    held: Option<&'a mut Vec<UsageResult<'de>>>,
}

impl<'de> DeserializeSeed<'de> for Lines<'_, '_, '_, 'de> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for Lines<'_, '_, '_, 'de> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of usage lines or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<bool, A::Error> {
        while let Some(line) = seq.next_element::<UsageResult<'de>>()? {
            match (self.times, self.held.as_deref_mut()) {
                (Some(t), _) => self.sink.emit(&line, t),
                (None, Some(held)) => held.push(line),
                (None, None) => {}
            }
        }
        Ok(true)
    }
}

/// Bucket `i`'s width and times. A width other than a minute, an hour or a day (including
/// one that does not fit in an i64) or a time outside the calendar is `provider-changed`.
fn bucket_times(
    start: i64,
    end: i64,
    i: usize,
    fetched_at: i64,
) -> Result<BucketTimes, ConnectorError> {
    let width = match end.checked_sub(start) {
        Some(86_400) => "1d",
        Some(3_600) => "1h",
        Some(60) => "1m",
        Some(w) => {
            return Err(ConnectorError::provider_changed(
                USAGE,
                format!("data[{i}].end_time"),
                format!("a bucket is {w} s wide; expected 1d, 1h or 1m"),
            ))
        }
        None => {
            return Err(ConnectorError::provider_changed(
                USAGE,
                format!("data[{i}].end_time"),
                format!(
                    "a bucket from {} to {} is wider than any time span; expected 1d, 1h or 1m",
                    start, end
                ),
            ))
        }
    };
    let time = |t: i64, field: &str| {
        rfc3339(t).ok_or_else(|| {
            ConnectorError::provider_changed(
                USAGE,
                format!("data[{i}].{field}"),
                "timestamp out of range",
            )
        })
    };
    Ok(BucketTimes {
        start: time(start, "start_time")?,
        end: time(end, "end_time")?,
        width,
        complete: end <= fetched_at,
    })
}

fn usage_record(
    r: &UsageResult,
    t: &BucketTimes,
    rule: Option<&'static str>,
    writer: &mut PayloadWriter,
) -> Result<NormalizedRecord, ConnectorError> {
    let payload = writer.write(&UsagePayload {
        bucket_start: &t.start,
        bucket_end: &t.end,
        bucket_width: t.width,
        bucket_complete: t.complete,
        user_id: text(&r.user_id),
        api_key_id: text(&r.api_key_id),
        project_id: text(&r.project_id),
        model: text(&r.model),
        batch: r.batch,
        service_tier: text(&r.service_tier),
        input_tokens: r.input_tokens.unwrap_or(0),
        cached_input_tokens: r.input_cached_tokens.unwrap_or(0),
        output_tokens: r.output_tokens.unwrap_or(0),
        requests: r.num_model_requests.unwrap_or(0),
        input_audio_tokens: r.input_audio_tokens,
        output_audio_tokens: r.output_audio_tokens,
        input_cache_write_tokens: r.input_cache_write_tokens,
        input_uncached_tokens: r.input_uncached_tokens,
        input_text_tokens: r.input_text_tokens,
        output_text_tokens: r.output_text_tokens,
        input_cached_text_tokens: r.input_cached_text_tokens,
        input_cached_audio_tokens: r.input_cached_audio_tokens,
        input_image_tokens: r.input_image_tokens,
        input_cached_image_tokens: r.input_cached_image_tokens,
        output_image_tokens: r.output_image_tokens,
        is_codex: rule.is_some(),
        codex_rule: rule,
        schema_version: SCHEMA_VERSION,
    })?;
    let owned = |v: &Option<Text>| v.as_ref().map(|s| s.to_string());
    Ok(NormalizedRecord {
        stream: USAGE.to_string(),
        // in the order of the usage stream's primary key
        key: vec![
            Some(t.start.clone()),
            Some(t.width.to_owned()),
            owned(&r.user_id),
            owned(&r.api_key_id),
            owned(&r.project_id),
            owned(&r.model),
            r.batch.map(|b| if b { "true" } else { "false" }.to_owned()),
            owned(&r.service_tier),
        ],
        schema_version: SCHEMA_VERSION,
        payload,
    })
}

fn text<'r>(v: &'r Option<Text>) -> Option<&'r str> {
    v.as_ref().map(|s| s.as_str())
}

/// Whether a usage line is Codex traffic, and by which rule (`None`: it is not). Declared
/// keys and projects win over the model name: they are the admin's explicit statement.
fn codex_rule(
    r: &UsageResult,
    settings: &Settings,
    verdicts: &mut ModelVerdicts,
) -> Option<&'static str> {
    let declared = |ids: &[String], id: &Option<Text>| {
        id.as_ref().is_some_and(|id| {
            ids.binary_search_by(|x| x.as_str().cmp(id.as_str()))
                .is_ok()
        })
    };
    if declared(&settings.codex_api_key_ids, &r.api_key_id) {
        return Some("declared_api_key");
    }
    if declared(&settings.codex_project_ids, &r.project_id) {
        return Some("declared_project");
    }
    let model = r.model.as_ref()?;
    verdicts
        .matches(&settings.codex_model_pattern, model)
        .then_some("model_pattern")
}

/// How many models `ModelVerdicts` remembers: a page names a handful of models over and
/// over, and a hostile page naming a million models must not grow it.
const MODEL_VERDICTS: usize = 16;

/// The model pattern's verdict on the first models of a page, so that each line costs a
/// comparison instead of a case-insensitive glob match.
#[derive(Default)]
struct ModelVerdicts(Vec<(String, bool)>);

impl ModelVerdicts {
    fn matches(&mut self, pattern: &ModelPattern, model: &str) -> bool {
        if let Some((_, verdict)) = self.0.iter().find(|(m, _)| m == model) {
            return *verdict;
        }
        let verdict = pattern.matches(model);
        if self.0.len() < MODEL_VERDICTS {
            self.0.push((model.to_owned(), verdict));
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorClass;
    use serde_json::Value;

    fn settings() -> Settings {
        Settings::for_normalize("*codex*", &["proj_codex"], &["key_cli"])
    }

    fn raw(body: &str) -> RawPage {
        RawPage {
            stream: USAGE.into(),
            scope: None,
            fetched_at: 1_700_050_000,
            body: body.into(),
        }
    }

    fn payload(r: &NormalizedRecord) -> Value {
        serde_json::from_str(&r.payload).unwrap()
    }

    pub(crate) const USAGE_BODY: &str = r#"{"object":"page","data":[
      {"object":"bucket","start_time":1699920000,"end_time":1700006400,"results":[
        {"object":"organization.usage.completions.result","input_tokens":100,"output_tokens":20,"num_model_requests":3,
         "input_cached_tokens":40,"project_id":"proj_a","user_id":"user_1","api_key_id":"key_x","model":"gpt-5-codex","batch":null,"service_tier":null,"brand_new_field":{"x":[1,{"y":null}]}},
        {"input_tokens":5,"output_tokens":1,"num_model_requests":1,"project_id":"proj_codex","user_id":null,"api_key_id":"key_y","model":"gpt-5.4","batch":true,"service_tier":"flex"},
        {"input_tokens":7,"output_tokens":2,"num_model_requests":1,"project_id":"proj_b","user_id":"user_2","api_key_id":"key_cli","model":"gpt-5.4","batch":false},
        {"input_tokens":9,"output_tokens":2,"num_model_requests":1,"project_id":"proj_b","user_id":"user_2","api_key_id":"key_z","model":"gpt-4.1","input_audio_tokens":4,"output_image_tokens":null}]},
      {"object":"bucket","start_time":1700006400,"end_time":1700092800,"result":[
        {"input_tokens":1,"output_tokens":1,"num_model_requests":1,"model":"codex-mini-latest","user_id":"user_1","api_key_id":"key_x","project_id":"proj_a"}]}
    ],"has_more":false,"next_page":null}"#;

    #[test]
    fn usage_lines_become_records() {
        let recs = normalize(&raw(USAGE_BODY), &settings()).unwrap();
        assert_eq!(recs.len(), 5);
        assert_eq!(
            recs[0].payload,
            r#"{"bucket_start":"2023-11-14T00:00:00Z","bucket_end":"2023-11-15T00:00:00Z","bucket_width":"1d","bucket_complete":true,"user_id":"user_1","api_key_id":"key_x","project_id":"proj_a","model":"gpt-5-codex","batch":null,"service_tier":null,"input_tokens":100,"cached_input_tokens":40,"output_tokens":20,"requests":3,"is_codex":true,"codex_rule":"model_pattern","schema_version":1}"#
        );
        assert_eq!(recs[0].stream, "usage");
        assert_eq!(recs[0].schema_version, 1);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            recs[0].key,
            [
                s("2023-11-14T00:00:00Z"),
                s("1d"),
                s("user_1"),
                s("key_x"),
                s("proj_a"),
                s("gpt-5-codex"),
                None,
                None
            ]
        );
        assert_eq!(
            recs[1].key,
            [
                s("2023-11-14T00:00:00Z"),
                s("1d"),
                None,
                s("key_y"),
                s("proj_codex"),
                s("gpt-5.4"),
                s("true"),
                s("flex")
            ]
        );
        assert_eq!(recs[2].key[6], s("false"));
        let rules: Vec<Value> = recs
            .iter()
            .map(|r| payload(r)["codex_rule"].clone())
            .collect();
        assert_eq!(
            rules,
            [
                Value::from("model_pattern"),
                "declared_project".into(),
                "declared_api_key".into(),
                Value::Null,
                "model_pattern".into()
            ]
        );
        let fourth = payload(&recs[3]);
        assert_eq!(fourth["is_codex"], false);
        assert_eq!(fourth["input_audio_tokens"], 4);
        assert_eq!(fourth["cached_input_tokens"], 0);
        assert!(fourth.get("output_image_tokens").is_none());
        assert!(fourth.get("output_audio_tokens").is_none());
        // the second bucket ends after fetched_at: still filling up; `result` read as `results`
        let last = payload(&recs[4]);
        assert_eq!(last["bucket_complete"], false);
        assert_eq!(last["user_id"], "user_1");
        assert_eq!(last["batch"], Value::Null);
    }

    #[test]
    fn every_optional_count_is_carried_under_its_name() {
        let names = [
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
        let fields: Vec<String> = names
            .iter()
            .enumerate()
            .map(|(i, n)| format!("\"{n}\":{}", i + 1))
            .collect();
        let body = format!(
            r#"{{"data":[{{"start_time":0,"end_time":3600,"results":[{{{}}}]}}]}}"#,
            fields.join(",")
        );
        let recs = normalize(&raw(&body), &settings()).unwrap();
        let p = payload(&recs[0]);
        for (i, n) in names.iter().enumerate() {
            assert_eq!(p[n], i as u64 + 1, "{n}");
        }
        assert_eq!(p["bucket_width"], "1h");
        assert_eq!(
            (p["input_tokens"].clone(), p["requests"].clone()),
            (0.into(), 0.into())
        );
        assert_eq!(p["model"], Value::Null);
        assert_eq!(p["is_codex"], false);
    }

    #[test]
    fn escaped_text_is_unescaped_and_written_back_as_json() {
        let body = r#"{"data":[{"start_time":0,"end_time":60,"results":[{"model":"gpt-\u0035-codex","user_id":"a\"b\\c\n\u00e9"}]}]}"#;
        let recs = normalize(&raw(body), &settings()).unwrap();
        let p = payload(&recs[0]);
        assert_eq!(p["model"], "gpt-5-codex");
        assert_eq!(p["user_id"], "a\"b\\c\né");
        assert_eq!(p["codex_rule"], "model_pattern");
        assert_eq!(p["bucket_width"], "1m");
        assert_eq!(recs[0].key[2].as_deref(), Some("a\"b\\c\né"));
    }

    /// JSON members are unordered: times after the results give the same records.
    #[test]
    fn bucket_member_order_does_not_matter() {
        let reordered = USAGE_BODY
            .replace(r#""start_time":1699920000,"end_time":1700006400,"results":["#, r#""results":["#)
            .replacen(
                r#""model":"gpt-4.1","input_audio_tokens":4,"output_image_tokens":null}]},"#,
                r#""model":"gpt-4.1","input_audio_tokens":4,"output_image_tokens":null}],"start_time":1699920000,"end_time":1700006400},"#,
                1,
            );
        assert_ne!(reordered, USAGE_BODY);
        let a = normalize(&raw(USAGE_BODY), &settings()).unwrap();
        let b = normalize(&raw(&reordered), &settings()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, normalize(&raw(USAGE_BODY), &settings()).unwrap());
    }

    #[test]
    fn bad_bucket_times_name_the_bucket() {
        let bad_width = USAGE_BODY.replace(r#""end_time":1700006400"#, r#""end_time":1700006401"#);
        match normalize(&raw(&bad_width), &settings()).unwrap_err() {
            ConnectorError::ProviderChanged { field, message, .. } => {
                assert_eq!(field, "data[0].end_time");
                assert!(message.contains("86401 s wide"), "{message}");
            }
            e => panic!("{e:?}"),
        }
        // a body that does not parse says so first, even after a bad bucket
        let both = bad_width.replace(r#""input_tokens":1,"#, r#""input_tokens":-1,"#);
        match normalize(&raw(&both), &settings()).unwrap_err() {
            ConnectorError::ProviderChanged { field, .. } => {
                assert_eq!(field, "data[1].results[0].input_tokens")
            }
            e => panic!("{e:?}"),
        }
        let far = r#"{"data":[{"start_time":9000000000000000000,"end_time":9000000000000086400,"results":[]}]}"#;
        match normalize(&raw(far), &settings()).unwrap_err() {
            ConnectorError::ProviderChanged { field, message, .. } => {
                assert_eq!(
                    (field.as_str(), message.as_str()),
                    ("data[0].start_time", "timestamp out of range")
                )
            }
            e => panic!("{e:?}"),
        }
    }

    /// Lines held until their bucket's times are read are checked like any others.
    #[test]
    fn lines_before_times() {
        let late =
            r#"{"data":[{"results":[{"model":"gpt-5-codex"}],"end_time":3600,"start_time":0}]}"#;
        let recs = normalize(&raw(late), &settings()).unwrap();
        assert_eq!(recs.len(), 1);
        assert_eq!(
            recs[0].key[..2],
            [
                Some("1970-01-01T00:00:00Z".to_string()),
                Some("1h".to_string())
            ]
        );
        for (body, at) in [
            (
                r#"{"data":[{"results":[{}],"end_time":3601,"start_time":0}]}"#,
                "data[0].end_time",
            ),
            (
                r#"{"data":[{"results":[{}],"end_time":3600}]}"#,
                "data[0].start_time",
            ),
            (
                r#"{"data":[{"results":[],"end_time":3600,"start_time":0,"end_time":3600}]}"#,
                "data[0].end_time",
            ),
            (r#"{"data":[],"data":[]}"#, "data"),
        ] {
            match normalize(&raw(body), &settings()).unwrap_err() {
                ConnectorError::ProviderChanged { field, .. } => assert_eq!(field, at, "{body}"),
                e => panic!("{body}: {e:?}"),
            }
        }
        // an empty list before bad times still has its times checked
        let empty_late = r#"{"data":[{"results":[],"end_time":1,"start_time":0}]}"#;
        assert!(normalize(&raw(empty_late), &settings()).is_err());
    }

    /// `end_time - start_time` overflowed here (a panic in a debug build, a wrapped width
    /// in release).
    #[test]
    fn a_bucket_wider_than_i64_is_provider_changed() {
        for (start, end) in [
            (-1, i64::MAX),
            (i64::MIN, 1),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
        ] {
            let body =
                format!(r#"{{"data":[{{"start_time":{start},"end_time":{end},"results":[]}}]}}"#);
            match normalize(&raw(&body), &settings()).unwrap_err() {
                ConnectorError::ProviderChanged { stream, field, .. } => {
                    assert_eq!(
                        (stream.as_str(), field.as_str()),
                        ("usage", "data[0].end_time")
                    )
                }
                e => panic!("{start}..{end}: {e:?}"),
            }
        }
    }

    #[test]
    fn wrong_types_name_the_field() {
        for (from, to, at) in [
            (
                "\"input_tokens\":5,",
                "\"input_tokens\":\"5\",",
                "data[0].results[1].input_tokens",
            ),
            (
                "\"input_tokens\":5,",
                "\"input_tokens\":5.5,",
                "data[0].results[1].input_tokens",
            ),
            (
                "\"input_tokens\":5,",
                "\"input_tokens\":18446744073709551616,",
                "data[0].results[1].input_tokens",
            ),
            (
                "\"batch\":true",
                "\"batch\":\"yes\"",
                "data[0].results[1].batch",
            ),
            (
                "\"model\":\"codex-mini-latest\"",
                "\"model\":7",
                "data[1].results[0].model",
            ),
            (
                "\"start_time\":1700006400",
                "\"start_time\":null",
                "data[1].start_time",
            ),
            ("\"has_more\":false", "\"has_more\":1", "has_more"),
        ] {
            let body = USAGE_BODY.replacen(from, to, 1);
            assert_ne!(body, USAGE_BODY);
            match normalize(&raw(&body), &settings()).unwrap_err() {
                ConnectorError::ProviderChanged { stream, field, .. } => {
                    assert_eq!(stream, "usage");
                    assert_eq!(field, at, "{to}");
                }
                e => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn lenient_where_the_meaning_is_clear() {
        for body in [
            r#"{"data":[]}"#,
            // no lines: the times are not read for records
            r#"{"data":[{"start_time":0,"end_time":1}]}"#,
            r#"{"data":[{"start_time":0,"end_time":86400}]}"#,
            r#"{"data":[{"start_time":0,"end_time":86400,"results":null}]}"#,
            r#"{"data":[{"start_time":0,"end_time":86400,"results":[]}],"has_more":null,"next_page":null,"extra":[{}]}"#,
        ] {
            assert_eq!(normalize(&raw(body), &settings()).unwrap(), [], "{body}");
        }
        let nulls = r#"{"data":[{"start_time":0,"end_time":86400,"results":[{"input_tokens":null,"model":null,"user_id":null}]}]}"#;
        let recs = normalize(&raw(nulls), &settings()).unwrap();
        assert_eq!(payload(&recs[0])["input_tokens"], 0);
        assert_eq!(recs[0].key[2..], [None, None, None, None, None, None]);
    }

    #[test]
    fn result_and_results_at_once_is_an_error() {
        let body = r#"{"data":[{"start_time":0,"end_time":86400,"results":[],"result":[]}]}"#;
        let e = normalize(&raw(body), &settings()).unwrap_err();
        assert_eq!(e.class(), ErrorClass::ProviderChanged, "{e:?}");
        assert!(e.message().contains("duplicate field `results`"), "{e:?}");
        assert!(
            matches!(e, ConnectorError::ProviderChanged { ref field, .. } if field == "data[0].results"),
            "{e:?}"
        );
    }

    #[test]
    fn truncated_and_garbage_bodies_are_errors() {
        // Cut off in transit: retryable.
        for body in [&USAGE_BODY[..200], "", "  "] {
            let e = normalize(&raw(body), &settings()).unwrap_err();
            assert_eq!(e.class(), ErrorClass::Transient, "{body}");
        }
        // Complete but not what we read: the provider changed.
        for body in [
            "[]",
            "{\"data\":{}}",
            "null",
            "{\"data\":[1]}",
            "{}",
            "{\"data\":[]}x",
        ] {
            let e = normalize(&raw(body), &settings()).unwrap_err();
            assert_eq!(e.class(), ErrorClass::ProviderChanged, "{body}");
        }
    }

    /// The remembered verdicts are the pattern's, for models seen again and for models
    /// past the bound, which is kept.
    #[test]
    fn model_verdicts_are_the_patterns_and_bounded() {
        let pattern = ModelPattern::parse("*codex*, o?-mini").unwrap();
        let mut verdicts = ModelVerdicts::default();
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

    /// A realistic page: 31 daily buckets of `rows_per_bucket` lines as the Admin API sends
    /// them (every grouping field, the usual token fields, unknown `object` members).
    pub(crate) fn big_page(rows_per_bucket: usize) -> String {
        let mut data = Vec::new();
        for b in 0..31i64 {
            let start = 1_730_419_200 + b * 86_400;
            let rows: Vec<String> = (0..rows_per_bucket)
                .map(|r| {
                    format!(
                        r#"{{"object":"organization.usage.completions.result","input_tokens":{},"output_tokens":{},"num_model_requests":{},"project_id":"proj_{:04}","user_id":"user-{:06}","api_key_id":"key_{:08}","model":"{}","batch":false,"service_tier":null,"input_cached_tokens":{},"input_audio_tokens":0,"output_audio_tokens":0}}"#,
                        1000 + r * 7, 100 + r, 1 + r % 9, r % 17, r, r * 3,
                        ["gpt-5-codex", "gpt-5.4", "codex-mini-latest", "gpt-5.1-codex-max"][r % 4],
                        r * 11
                    )
                })
                .collect();
            data.push(format!(
                r#"{{"object":"bucket","start_time":{start},"end_time":{},"results":[{}]}}"#,
                start + 86_400,
                rows.join(",")
            ));
        }
        format!(
            r#"{{"object":"page","data":[{}],"has_more":false,"next_page":null}}"#,
            data.join(",")
        )
    }

    /// Native throughput of usage normalize; run with
    /// `cargo test --release -p codex-connector -- --ignored --nocapture usage_rows_per_second`.
    #[test]
    #[ignore]
    fn usage_rows_per_second() {
        let body = big_page(1_000);
        let page = raw(&body);
        let s = settings();
        let rows = normalize(&page, &s).unwrap().len();
        assert_eq!(rows, 31_000);
        let reps = 20;
        let started = std::time::Instant::now();
        for _ in 0..reps {
            assert_eq!(normalize(&page, &s).unwrap().len(), rows);
        }
        let secs = started.elapsed().as_secs_f64();
        let per_second = (rows * reps) as f64 / secs;
        println!(
            "usage normalize: {:.2} M rows/s ({:.0} MB/s of JSON, {} bytes per row)",
            per_second / 1e6,
            (body.len() * reps) as f64 / secs / 1e6,
            body.len() / rows
        );
        assert!(per_second > 300_000.0, "{per_second} rows/s");
    }
}
