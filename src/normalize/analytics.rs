//! Codex Analytics pages (the ChatGPT workspace) → records. One pass: each row is turned
//! into its records as soon as it is read.
//!
//! `workspace_usage`: each row (one person × period) becomes one record per breakdown, so
//! that summing the records of one breakdown gives exact figures and joins need no JSON:
//! - `total`: the row's own totals (`threads`, `turns`, `credits`, and any `*_tokens`);
//! - `client`: one per `clients[]` entry, with its `client_id` (an open set: an unknown
//!   surface is kept under its own id);
//! - `model`: one per `models[]` entry, with `model`, `speed` and its token counts.
//!
//! A row whose `clients` list is empty still has its `total` record, so nothing is lost.
//! Every record carries `period_start`, `period_end` (RFC 3339 UTC), `period` (`day` or
//! `week`, from the row's own times), `user_id` and `email` (`email`, or `user_email`, as
//! sent). `credits` is the JSON number the API sent. Token counts keep the API's names: a
//! `*_tokens` field of a row or client entry, and every other non-negative integer of a
//! model entry (the API's token names vary). Any other field the connector does not know is
//! kept, verbatim, under `extra` (an object; fields of a row on its `total` record, fields of
//! an entry on that entry's record). Natural key: `period_start`, `period`, `user_id`,
//! `breakdown`, `client_id`, `model`, `speed`.
//!
//! `code_reviews`, `code_review_responses`: one record per row, with the same period and
//! person fields and every count the API sent: no public source names these fields, so the
//! rule is "a non-negative integer is a count". Nested counts are flattened with `_`
//! (`comments_by_priority.P0` → `comments_by_priority_P0`, `reactions.positive` →
//! `reactions_positive`); the documented counts must be counts (a string there is
//! `provider-changed`); anything else goes under `extra`. Natural key: `period_start`,
//! `period`, `user_id`.
//!
//! A name that would clash with a fixed field, or repeat one already written, goes under
//! `extra` instead (first one wins there). A row must have `start_time` (or a `date`); a
//! period other than a day or a week, a count that is not a non-negative integer, credits
//! that are not a number, or a client / model entry without its id is `provider-changed`,
//! naming the JSON path.

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde::ser::{Error as _, Serialize, SerializeMap, Serializer};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Number;

use super::envelope::{parse_seeded, Text};
use super::{PayloadWriter, CODE_REVIEWS, CODE_REVIEW_RESPONSES, SCHEMA_VERSION, WORKSPACE_USAGE};
use crate::model::{ConnectorError, NormalizedRecord, RawPage};
use crate::settings::{Period, Settings};
use crate::time::rfc3339;

/// The fixed fields of a `workspace_usage` record, in payload order.
pub const USAGE_FIELDS: [&str; 14] = [
    "period_start",
    "period_end",
    "period",
    "user_id",
    "email",
    "breakdown",
    "client_id",
    "model",
    "speed",
    "threads",
    "turns",
    "credits",
    "extra",
    "schema_version",
];
/// The fixed fields of a `code_reviews` / `code_review_responses` record.
pub const COUNT_FIELDS: [&str; 7] = [
    "period_start",
    "period_end",
    "period",
    "user_id",
    "email",
    "extra",
    "schema_version",
];

/// Normalize a page of `/usage`.
pub fn workspace_usage(
    raw: &RawPage,
    settings: &Settings,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let fallback = fallback_period(settings);
    run(&raw.body, WORKSPACE_USAGE, |emit| {
        UsageRows(Out::new(WORKSPACE_USAGE, fallback, emit))
    })
    .map(|h| h.0)
    .and_then(Out::finish)
}

/// Normalize a page of `/code_reviews`.
pub fn code_reviews(
    raw: &RawPage,
    settings: &Settings,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    counts(raw, settings, &REVIEWS)
}

/// Normalize a page of `/code_review_responses`.
pub fn code_review_responses(
    raw: &RawPage,
    settings: &Settings,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    counts(raw, settings, &RESPONSES)
}

fn counts(
    raw: &RawPage,
    settings: &Settings,
    kind: &'static CountKind,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    let fallback = fallback_period(settings);
    run(&raw.body, kind.stream, |emit| CountRows {
        out: Out::new(kind.stream, fallback, emit),
        kind,
    })
    .map(|h| h.out)
    .and_then(Out::finish)
}

/// The period of a row that has no `end_time`: the configured one (day without it).
fn fallback_period(settings: &Settings) -> Period {
    settings.chatgpt.as_ref().map_or(Period::Day, |c| c.period)
}

/// Read a whole page with the row handler `make(true)`; on failure, again with
/// `make(false)` (emitting nothing) to find where.
fn run<H>(body: &str, stream: &str, make: impl Fn(bool) -> H) -> Result<H, ConnectorError>
where
    H: for<'de> Rows<'de>,
{
    parse_seeded(stream, body, PageSeed(make(true)), || PageSeed(make(false)))
}

// ---------------------------------------------------------------------------------------
// the page

/// Reads the rows of `data` one at a time.
trait Rows<'de> {
    /// Read row `i` from `seq` and turn it into records; false when the list has ended.
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A, i: usize) -> Result<bool, A::Error>;
}

/// Where the records of a page go.
struct Out {
    stream: &'static str,
    fallback: Period,
    /// False when the body is read again only to locate an error.
    emit: bool,
    records: Vec<NormalizedRecord>,
    writer: PayloadWriter,
    /// The first row that could not be turned into records. Reported only if the whole
    /// body reads (a body that does not says more); nothing is emitted after it.
    failed: Option<ConnectorError>,
}

impl Out {
    fn new(stream: &'static str, fallback: Period, emit: bool) -> Out {
        Out {
            stream,
            fallback,
            emit,
            records: Vec::new(),
            writer: PayloadWriter::new(),
            failed: None,
        }
    }

    fn take(&mut self, f: impl FnOnce(&mut Out) -> Result<(), ConnectorError>) {
        if self.emit && self.failed.is_none() {
            if let Err(e) = f(self) {
                self.failed = Some(e);
            }
        }
    }

    fn finish(self) -> Result<Vec<NormalizedRecord>, ConnectorError> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(self.records),
        }
    }
}

/// `{"data":[row…],"has_more":…,"next_page":…}` (or `next_cursor`); other members are
/// ignored, `data` is required.
struct PageSeed<H>(H);

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum PageField {
    Data,
    HasMore,
    NextPage,
    NextCursor,
    #[serde(other)]
    Other,
}

const PAGE_FIELDS: &[&str] = &["data", "has_more", "next_page", "next_cursor"];

impl<'de, H: Rows<'de>> DeserializeSeed<'de> for PageSeed<H> {
    type Value = H;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<H, D::Error> {
        d.deserialize_struct("AnalyticsPage", PAGE_FIELDS, self)
    }
}

impl<'de, H: Rows<'de>> Visitor<'de> for PageSeed<H> {
    type Value = H;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Codex Analytics page")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<H, A::Error> {
        let mut seen = [false; 4];
        while let Some(field) = map.next_key::<PageField>()? {
            let n = match field {
                PageField::Data => 0,
                PageField::HasMore => 1,
                PageField::NextPage => 2,
                PageField::NextCursor => 3,
                PageField::Other => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if std::mem::replace(&mut seen[n], true) {
                return Err(A::Error::duplicate_field(PAGE_FIELDS[n]));
            }
            match n {
                0 => map.next_value_seed(DataSeed(&mut self.0))?,
                1 => drop(map.next_value::<Option<bool>>()?),
                _ => drop(map.next_value::<Option<Text<'de>>>()?),
            }
        }
        if !seen[0] {
            return Err(A::Error::missing_field("data"));
        }
        Ok(self.0)
    }
}

/// `data`: the rows.
struct DataSeed<'h, H>(&'h mut H);

impl<'de, H: Rows<'de>> DeserializeSeed<'de> for DataSeed<'_, H> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de, H: Rows<'de>> Visitor<'de> for DataSeed<'_, H> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while self.0.next(&mut seq, i)? {
            i += 1;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// the period and the person, common to every row

const WHO: [&str; 6] = [
    "start_time",
    "end_time",
    "date",
    "user_id",
    "email",
    "user_email",
];

#[derive(Default)]
struct Who<'a> {
    start_time: Option<i64>,
    end_time: Option<i64>,
    date: Option<Text<'a>>,
    user_id: Option<Text<'a>>,
    email: Option<Text<'a>>,
    user_email: Option<Text<'a>>,
    seen: [bool; 6],
}

impl<'de> Who<'de> {
    /// Read member `key` if it is one of these; whether it was.
    fn read<A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error> {
        let Some(n) = WHO.iter().position(|w| *w == key) else {
            return Ok(false);
        };
        if std::mem::replace(&mut self.seen[n], true) {
            return Err(A::Error::duplicate_field(WHO[n]));
        }
        match n {
            0 => self.start_time = map.next_value()?,
            1 => self.end_time = map.next_value()?,
            2 => self.date = map.next_value()?,
            3 => self.user_id = map.next_value()?,
            4 => self.email = map.next_value()?,
            _ => self.user_email = map.next_value()?,
        }
        Ok(true)
    }

    fn user_id(&self) -> Option<&str> {
        self.user_id.as_ref().map(|t| t.as_str())
    }

    /// The email (`email`, else `user_email`), and `user_email` when both came (it then
    /// goes under `extra`).
    fn email(&self) -> (Option<&str>, Option<&str>) {
        match (&self.email, &self.user_email) {
            (Some(e), Some(u)) => (Some(e.as_str()), Some(u.as_str())),
            (Some(e), None) => (Some(e.as_str()), None),
            (None, u) => (u.as_ref().map(|t| t.as_str()), None),
        }
    }
}

/// A row's period, rendered.
struct Span {
    start: String,
    end: String,
    period: &'static str,
}

fn span(who: &Who, i: usize, stream: &str, fallback: Period) -> Result<Span, ConnectorError> {
    let bad = |field: &str, message: String| {
        ConnectorError::provider_changed(stream, format!("data[{i}].{field}"), message)
    };
    let (start, start_field) = match (who.start_time, &who.date) {
        (Some(s), _) => (s, "start_time"),
        (None, Some(d)) => (
            day_start(d).ok_or_else(|| bad("date", "expected a UTC day like 2025-01-31".into()))?,
            "date",
        ),
        (None, None) => {
            return Err(bad(
                "start_time",
                "a row has neither start_time nor date".into(),
            ))
        }
    };
    let (end, period) = match who.end_time {
        Some(end) => match end.checked_sub(start) {
            Some(86_400) => (end, Period::Day),
            Some(604_800) => (end, Period::Week),
            Some(w) => {
                return Err(bad(
                    "end_time",
                    format!("a period of {w} s; expected a day (86400) or a week (604800)"),
                ))
            }
            None => {
                return Err(bad(
                    "end_time",
                    format!("a period from {start} to {end} is longer than any time span"),
                ))
            }
        },
        None => (
            start
                .checked_add(fallback.seconds())
                .ok_or_else(|| bad(start_field, "timestamp out of range".into()))?,
            fallback,
        ),
    };
    let time =
        |t: i64, field: &str| rfc3339(t).ok_or_else(|| bad(field, "timestamp out of range".into()));
    Ok(Span {
        start: time(start, start_field)?,
        end: time(
            end,
            if who.end_time.is_some() {
                "end_time"
            } else {
                start_field
            },
        )?,
        period: period.as_str(),
    })
}

/// `2025-01-31` → its 00:00:00 UTC.
fn day_start(d: &str) -> Option<i64> {
    let b = d.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return None;
    }
    let n = |r: std::ops::Range<usize>| d[r].parse::<u32>().ok();
    let date = chrono::NaiveDate::from_ymd_opt(i32::try_from(n(0..4)?).ok()?, n(5..7)?, n(8..10)?)?;
    Some(date.and_hms_opt(0, 0, 0)?.and_utc().timestamp())
}

/// A raw value that is a count: a non-negative integer that fits in a u64.
fn count(raw: &RawValue) -> Option<u64> {
    serde_json::from_str(raw.get()).ok()
}

/// The members of an object, in order, values kept raw.
struct Members<'a>(Vec<(Text<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members<'de>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<Text<'de>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// An object whose members are all counts, as (name, count); `None` otherwise (or empty).
fn count_object(raw: &RawValue) -> Option<Vec<(Text<'_>, u64)>> {
    if !raw.get().starts_with('{') {
        return None;
    }
    let Members(members) = serde_json::from_str(raw.get()).ok()?;
    if members.is_empty() {
        return None;
    }
    members
        .into_iter()
        .map(|(k, v)| count(v).map(|n| (k, n)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// what a record carries besides its fixed fields

/// A value under `extra`.
enum Loose<'r> {
    Raw(&'r RawValue),
    Count(u64),
    Text(&'r str),
}

impl Serialize for Loose<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Loose::Raw(raw) => match compact(raw.get()) {
                None => raw.serialize(s),
                Some(c) => RawValue::from_string(c)
                    .map_err(S::Error::custom)?
                    .serialize(s),
            },
            Loose::Count(n) => s.serialize_u64(*n),
            Loose::Text(t) => s.serialize_str(t),
        }
    }
}

/// `json` without the whitespace between its tokens (a payload is one line), or `None` when
/// it has none.
fn compact(json: &str) -> Option<String> {
    let outside = |keep: &mut dyn FnMut(char, bool)| {
        let (mut in_string, mut escaped) = (false, false);
        for c in json.chars() {
            let blank = !in_string && matches!(c, ' ' | '\t' | '\n' | '\r');
            if in_string {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_string = false;
                }
            } else if c == '"' {
                in_string = true;
            }
            keep(c, blank);
        }
    };
    let mut any = false;
    outside(&mut |_, blank| any |= blank);
    if !any {
        return None;
    }
    let mut out = String::with_capacity(json.len());
    outside(&mut |c, blank| {
        if !blank {
            out.push(c)
        }
    });
    Some(out)
}

/// For each item, whether its name is the first of that name.
fn firsts<T>(items: &[(&str, T)]) -> Vec<bool> {
    let n = items.len();
    if n <= 8 {
        return (0..n)
            .map(|i| !items[..i].iter().any(|(k, _)| *k == items[i].0))
            .collect();
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| items[a].0.cmp(items[b].0).then(a.cmp(&b)));
    let mut out = vec![false; n];
    for (k, &i) in order.iter().enumerate() {
        out[i] = k == 0 || items[order[k - 1]].0 != items[i].0;
    }
    out
}

/// A record's counts (token counts, or code-review counts) and its `extra`, each name once:
/// a count named like a fixed field, or like a count already kept, moves to `extra`; in
/// `extra` the first of a name is kept.
struct Dynamic<'r> {
    counts: Vec<(&'r str, u64)>,
    extra: Vec<(&'r str, Loose<'r>)>,
}

impl<'r> Dynamic<'r> {
    fn new(
        fixed: &[&str],
        counts: Vec<(&'r str, u64)>,
        extra: impl Iterator<Item = (&'r str, Loose<'r>)>,
    ) -> Dynamic<'r> {
        let first = firsts(&counts);
        let mut kept = Vec::with_capacity(counts.len());
        let mut loose = Vec::new();
        for ((name, n), first) in counts.into_iter().zip(first) {
            if first && !fixed.contains(&name) {
                kept.push((name, n));
            } else {
                loose.push((name, Loose::Count(n)));
            }
        }
        loose.extend(extra);
        let first = firsts(&loose);
        Dynamic {
            counts: kept,
            extra: loose
                .into_iter()
                .zip(first)
                .filter_map(|(e, first)| first.then_some(e))
                .collect(),
        }
    }
}

struct ExtraMap<'a, 'r>(&'a [(&'r str, Loose<'r>)]);

impl Serialize for ExtraMap<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

// ---------------------------------------------------------------------------------------
// workspace_usage

const MEASURES: [&str; 3] = ["threads", "turns", "credits"];

/// `threads`, `turns`, `credits`, token counts and unknown fields of a row or an entry.
#[derive(Default)]
struct Measures<'a> {
    threads: Option<u64>,
    turns: Option<u64>,
    credits: Option<Number>,
    tokens: Vec<(Text<'a>, u64)>,
    extra: Vec<(Text<'a>, &'a RawValue)>,
    seen: [bool; 3],
}

impl<'de> Measures<'de> {
    /// Read member `key`: `threads`, `turns` (counts), `credits` (a number) strictly, any
    /// other member as a token count (named `*_tokens`, or any count when `any_count`) or
    /// an unknown field.
    fn read<A: MapAccess<'de>>(
        &mut self,
        key: Text<'de>,
        map: &mut A,
        any_count: bool,
    ) -> Result<(), A::Error> {
        if let Some(n) = MEASURES.iter().position(|m| *m == key.as_str()) {
            if std::mem::replace(&mut self.seen[n], true) {
                return Err(A::Error::duplicate_field(MEASURES[n]));
            }
            match n {
                0 => self.threads = map.next_value()?,
                1 => self.turns = map.next_value()?,
                _ => self.credits = map.next_value()?,
            }
            return Ok(());
        }
        let raw: &'de RawValue = map.next_value()?;
        let name = key.as_str();
        if (any_count || name.ends_with("_tokens")) && !USAGE_FIELDS.contains(&name) {
            if let Some(n) = count(raw) {
                self.tokens.push((key, n));
                return Ok(());
            }
        }
        self.extra.push((key, raw));
        Ok(())
    }
}

#[derive(Default)]
struct UsageRow<'a> {
    who: Who<'a>,
    m: Measures<'a>,
    clients: Vec<Entry<'a>>,
    models: Vec<Entry<'a>>,
}

/// A `clients[]` entry (`id` = `client_id`) or a `models[]` entry (`id` = `model`).
struct Entry<'a> {
    id: Text<'a>,
    speed: Option<Text<'a>>,
    m: Measures<'a>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Client,
    Model,
}

impl<'de> Deserialize<'de> for UsageRow<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = UsageRow<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a usage row")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UsageRow<'de>, A::Error> {
                let mut row = UsageRow::default();
                let mut lists = [false; 2];
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    if row.who.read(&key, &mut map)? {
                        continue;
                    }
                    let (n, kind) = match key.as_str() {
                        "clients" => (0, EntryKind::Client),
                        "models" => (1, EntryKind::Model),
                        _ => {
                            row.m.read(key, &mut map, false)?;
                            continue;
                        }
                    };
                    if std::mem::replace(&mut lists[n], true) {
                        return Err(A::Error::duplicate_field(["clients", "models"][n]));
                    }
                    let list = map.next_value_seed(EntryList(kind))?;
                    if n == 0 {
                        row.clients = list;
                    } else {
                        row.models = list;
                    }
                }
                Ok(row)
            }
        }
        d.deserialize_map(V)
    }
}

/// `clients` or `models`: a list of entries, or `null`.
struct EntryList(EntryKind);

impl<'de> DeserializeSeed<'de> for EntryList {
    type Value = Vec<Entry<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for EntryList {
    type Value = Vec<Entry<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of entries or null")
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Vec::new())
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(e) = seq.next_element_seed(EntrySeed(self.0))? {
            out.push(e);
        }
        Ok(out)
    }
}

struct EntrySeed(EntryKind);

impl<'de> DeserializeSeed<'de> for EntrySeed {
    type Value = Entry<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Entry<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for EntrySeed {
    type Value = Entry<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self.0 {
            EntryKind::Client => "a client entry",
            EntryKind::Model => "a model entry",
        })
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entry<'de>, A::Error> {
        let id_field = match self.0 {
            EntryKind::Client => "client_id",
            EntryKind::Model => "model",
        };
        let (mut id, mut speed): (Option<Text<'de>>, Option<Text<'de>>) = (None, None);
        let mut seen = [false; 2];
        let mut m = Measures::default();
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let n = if key.as_str() == id_field {
                0
            } else if self.0 == EntryKind::Model && key.as_str() == "speed" {
                1
            } else {
                m.read(key, &mut map, self.0 == EntryKind::Model)?;
                continue;
            };
            if std::mem::replace(&mut seen[n], true) {
                return Err(A::Error::duplicate_field([id_field, "speed"][n]));
            }
            if n == 0 {
                id = map.next_value()?;
            } else {
                speed = map.next_value()?;
            }
        }
        Ok(Entry {
            id: id.ok_or_else(|| A::Error::missing_field(id_field))?,
            speed,
            m,
        })
    }
}

struct UsageRows(Out);

impl<'de> Rows<'de> for UsageRows {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A, i: usize) -> Result<bool, A::Error> {
        let Some(row) = seq.next_element::<UsageRow<'de>>()? else {
            return Ok(false);
        };
        self.0.take(|out| usage_records(out, i, &row));
        Ok(true)
    }
}

/// The fixed part of a row's records.
struct Base<'r> {
    span: &'r Span,
    user_id: Option<&'r str>,
    email: Option<&'r str>,
}

/// One breakdown of a row.
struct Breakdown<'r, 'a> {
    kind: &'static str,
    client_id: Option<&'r str>,
    model: Option<&'r str>,
    speed: Option<&'r str>,
    m: &'r Measures<'a>,
    /// `user_email` when `email` came too (on the total record).
    user_email: Option<&'r str>,
}

fn usage_records(out: &mut Out, i: usize, row: &UsageRow) -> Result<(), ConnectorError> {
    let span = span(&row.who, i, WORKSPACE_USAGE, out.fallback)?;
    let (email, user_email) = row.who.email();
    let base = Base {
        span: &span,
        user_id: row.who.user_id(),
        email,
    };
    usage_record(
        out,
        &base,
        Breakdown {
            kind: "total",
            client_id: None,
            model: None,
            speed: None,
            m: &row.m,
            user_email,
        },
    )?;
    for c in &row.clients {
        usage_record(
            out,
            &base,
            Breakdown {
                kind: "client",
                client_id: Some(c.id.as_str()),
                model: None,
                speed: None,
                m: &c.m,
                user_email: None,
            },
        )?;
    }
    for m in &row.models {
        usage_record(
            out,
            &base,
            Breakdown {
                kind: "model",
                client_id: None,
                model: Some(m.id.as_str()),
                speed: m.speed.as_ref().map(|s| s.as_str()),
                m: &m.m,
                user_email: None,
            },
        )?;
    }
    Ok(())
}

struct UsagePayload<'a, 'r, 'm> {
    base: &'a Base<'r>,
    b: &'a Breakdown<'r, 'm>,
    dynamic: &'a Dynamic<'r>,
}

impl Serialize for UsagePayload<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (base, b, m) = (self.base, self.b, self.b.m);
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("period_start", &base.span.start)?;
        map.serialize_entry("period_end", &base.span.end)?;
        map.serialize_entry("period", base.span.period)?;
        map.serialize_entry("user_id", &base.user_id)?;
        map.serialize_entry("email", &base.email)?;
        map.serialize_entry("breakdown", b.kind)?;
        map.serialize_entry("client_id", &b.client_id)?;
        map.serialize_entry("model", &b.model)?;
        map.serialize_entry("speed", &b.speed)?;
        map.serialize_entry("threads", &m.threads)?;
        map.serialize_entry("turns", &m.turns)?;
        map.serialize_entry("credits", &m.credits)?;
        for (k, v) in &self.dynamic.counts {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("extra", &ExtraMap(&self.dynamic.extra))?;
        map.serialize_entry("schema_version", &SCHEMA_VERSION)?;
        map.end()
    }
}

fn usage_record<'r>(
    out: &mut Out,
    base: &Base<'r>,
    b: Breakdown<'r, '_>,
) -> Result<(), ConnectorError> {
    let m = b.m;
    let dynamic = Dynamic::new(
        &USAGE_FIELDS,
        m.tokens.iter().map(|(k, n)| (k.as_str(), *n)).collect(),
        b.user_email
            .map(|u| ("user_email", Loose::Text(u)))
            .into_iter()
            .chain(m.extra.iter().map(|(k, v)| (k.as_str(), Loose::Raw(v)))),
    );
    let payload = out.writer.write(&UsagePayload {
        base,
        b: &b,
        dynamic: &dynamic,
    })?;
    let owned = |v: Option<&str>| v.map(str::to_string);
    out.records.push(NormalizedRecord {
        stream: WORKSPACE_USAGE.to_string(),
        // in the order of the stream's primary key
        key: vec![
            Some(base.span.start.clone()),
            Some(base.span.period.to_string()),
            owned(base.user_id),
            Some(b.kind.to_string()),
            owned(b.client_id),
            owned(b.model),
            owned(b.speed),
        ],
        schema_version: SCHEMA_VERSION,
        payload,
    });
    Ok(())
}

// ---------------------------------------------------------------------------------------
// code_reviews, code_review_responses

/// What a counts stream's rows hold: the documented counts, and the documented objects of
/// counts (flattened with `_`).
struct CountKind {
    stream: &'static str,
    counts: &'static [&'static str],
    nested: &'static [&'static str],
}

const REVIEWS: CountKind = CountKind {
    stream: CODE_REVIEWS,
    counts: &["prs_reviewed", "comments_generated"],
    nested: &["comments_by_priority"],
};

const RESPONSES: CountKind = CountKind {
    stream: CODE_REVIEW_RESPONSES,
    counts: &["replies", "comments_with_reply", "comments_with_reaction"],
    nested: &["reactions"],
};

#[derive(Default)]
struct CountRow<'a> {
    who: Who<'a>,
    counts: Vec<(Cow<'a, str>, u64)>,
    extra: Vec<(Cow<'a, str>, &'a RawValue)>,
}

struct CountRowSeed(&'static CountKind);

impl<'de> DeserializeSeed<'de> for CountRowSeed {
    type Value = CountRow<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<CountRow<'de>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for CountRowSeed {
    type Value = CountRow<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row of counts")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CountRow<'de>, A::Error> {
        let kind = self.0;
        let mut row = CountRow::default();
        // the documented members seen, counts then nested
        let mut seen = [false; 8];
        let mut once = |n: usize, name: &'static str| {
            if std::mem::replace(&mut seen[n], true) {
                Err(A::Error::duplicate_field(name))
            } else {
                Ok(())
            }
        };
        while let Some(key) = map.next_key::<Text<'de>>()? {
            if row.who.read(&key, &mut map)? {
                continue;
            }
            if let Some(n) = kind.counts.iter().position(|c| *c == key.as_str()) {
                once(n, kind.counts[n])?;
                if let Some(v) = map.next_value::<Option<u64>>()? {
                    row.counts.push((key.0, v));
                }
                continue;
            }
            if let Some(n) = kind.nested.iter().position(|c| *c == key.as_str()) {
                once(kind.counts.len() + n, kind.nested[n])?;
                if let Some(Members(members)) = map.next_value::<Option<Members<'de>>>()? {
                    for (k, raw) in members {
                        let flat = Cow::Owned(format!("{}_{}", key.as_str(), k.as_str()));
                        match count(raw) {
                            Some(v) => row.counts.push((flat, v)),
                            None => row.extra.push((flat, raw)),
                        }
                    }
                }
                continue;
            }
            let raw: &'de RawValue = map.next_value()?;
            if let Some(v) = count(raw) {
                row.counts.push((key.0, v));
            } else if let Some(flat) = count_object(raw) {
                for (k, v) in flat {
                    row.counts
                        .push((Cow::Owned(format!("{}_{}", key.as_str(), k.as_str())), v));
                }
            } else {
                row.extra.push((key.0, raw));
            }
        }
        Ok(row)
    }
}

struct CountRows {
    out: Out,
    kind: &'static CountKind,
}

impl<'de> Rows<'de> for CountRows {
    fn next<A: SeqAccess<'de>>(&mut self, seq: &mut A, i: usize) -> Result<bool, A::Error> {
        let Some(row) = seq.next_element_seed(CountRowSeed(self.kind))? else {
            return Ok(false);
        };
        self.out.take(|out| count_record(out, i, &row));
        Ok(true)
    }
}

struct CountPayload<'a, 'r> {
    base: &'a Base<'r>,
    dynamic: &'a Dynamic<'r>,
}

impl Serialize for CountPayload<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let base = self.base;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("period_start", &base.span.start)?;
        map.serialize_entry("period_end", &base.span.end)?;
        map.serialize_entry("period", base.span.period)?;
        map.serialize_entry("user_id", &base.user_id)?;
        map.serialize_entry("email", &base.email)?;
        for (k, v) in &self.dynamic.counts {
            map.serialize_entry(k, v)?;
        }
        map.serialize_entry("extra", &ExtraMap(&self.dynamic.extra))?;
        map.serialize_entry("schema_version", &SCHEMA_VERSION)?;
        map.end()
    }
}

fn count_record(out: &mut Out, i: usize, row: &CountRow) -> Result<(), ConnectorError> {
    let span = span(&row.who, i, out.stream, out.fallback)?;
    let (email, user_email) = row.who.email();
    let base = Base {
        span: &span,
        user_id: row.who.user_id(),
        email,
    };
    let dynamic = Dynamic::new(
        &COUNT_FIELDS,
        row.counts.iter().map(|(k, n)| (k.as_ref(), *n)).collect(),
        user_email
            .map(|u| ("user_email", Loose::Text(u)))
            .into_iter()
            .chain(row.extra.iter().map(|(k, v)| (k.as_ref(), Loose::Raw(v)))),
    );
    let payload = out.writer.write(&CountPayload {
        base: &base,
        dynamic: &dynamic,
    })?;
    out.records.push(NormalizedRecord {
        stream: out.stream.to_string(),
        key: vec![
            Some(span.start.clone()),
            Some(span.period.to_string()),
            base.user_id.map(str::to_string),
        ],
        schema_version: SCHEMA_VERSION,
        payload,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ErrorClass;
    use crate::normalize::normalize;
    use serde_json::{json, Value};

    fn settings() -> Settings {
        Settings::for_normalize("*codex*", &[], &[])
    }

    fn raw(stream: &str, body: &str) -> RawPage {
        RawPage {
            stream: stream.into(),
            scope: None,
            fetched_at: 1_764_700_000,
            body: body.into(),
        }
    }

    fn run_ok(stream: &str, body: &str) -> Vec<NormalizedRecord> {
        normalize(&raw(stream, body), &settings()).unwrap_or_else(|e| panic!("{e:?}"))
    }

    fn payload(r: &NormalizedRecord) -> Value {
        serde_json::from_str(&r.payload).unwrap()
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    /// Two rows as the mock serves them: the second names its email `user_email`, has an
    /// empty `clients` list and carries fields the connector does not know.
    const USAGE_PAGE: &str = r#"{"data":[
        {"user_id":"cgpt-user-1","email":"Ada.Lovelace@Example.com","threads":3,"turns":17,"credits":12.5,
         "clients":[{"client_id":"CODEX_CLI","threads":2,"turns":10,"credits":8.0},
                    {"client_id":"CODEX_FUTURE_SURFACE","threads":1,"turns":7,"credits":4.5,"display_name":"Something new"}],
         "models":[{"model":"gpt-5.3-codex","speed":"standard","credits":12.25,"text_input_tokens":1200,"cached_text_input_tokens":300,"text_output_tokens":450},
                   {"model":"gpt-5.4","speed":"fast","credits":0.25,"text_input_tokens":10,"cached_text_input_tokens":0,"text_output_tokens":4,"reasoning_effort":"low"}],
         "start_time":1764547200,"end_time":1764633600},
        {"user_id":"cgpt-user-2","user_email":"GRACE.HOPPER@example.com","threads":2,"turns":5,"credits":3,
         "clients":[],
         "models":[{"model":"gpt-5-codex","speed":"standard","credits":3,"text_input_tokens":900,"cached_text_input_tokens":100,"text_output_tokens":90}],
         "seat_type":"enterprise","x_rollup":{"source":"codex-analytics","partial":false,"tags":["beta"]},
         "start_time":1764547200,"end_time":1764633600}
    ],"has_more":true,"next_page":"00ff"}"#;

    #[test]
    fn usage_rows_become_one_record_per_breakdown() {
        let recs = run_ok(WORKSPACE_USAGE, USAGE_PAGE);
        let kinds: Vec<(&str, Option<&str>, Option<&str>)> = recs
            .iter()
            .map(|r| {
                (
                    r.key[3].as_deref().unwrap(),
                    r.key[4].as_deref().or(r.key[5].as_deref()),
                    r.key[2].as_deref(),
                )
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("total", None, Some("cgpt-user-1")),
                ("client", Some("CODEX_CLI"), Some("cgpt-user-1")),
                ("client", Some("CODEX_FUTURE_SURFACE"), Some("cgpt-user-1")),
                ("model", Some("gpt-5.3-codex"), Some("cgpt-user-1")),
                ("model", Some("gpt-5.4"), Some("cgpt-user-1")),
                ("total", None, Some("cgpt-user-2")),
                ("model", Some("gpt-5-codex"), Some("cgpt-user-2")),
            ]
        );
        assert!(recs
            .iter()
            .all(|r| r.stream == "workspace_usage" && r.schema_version == 1));
        assert_eq!(
            recs[0].payload,
            r#"{"period_start":"2025-12-01T00:00:00Z","period_end":"2025-12-02T00:00:00Z","period":"day","user_id":"cgpt-user-1","email":"Ada.Lovelace@Example.com","breakdown":"total","client_id":null,"model":null,"speed":null,"threads":3,"turns":17,"credits":12.5,"extra":{},"schema_version":1}"#
        );
        assert_eq!(
            recs[0].key,
            [
                s("2025-12-01T00:00:00Z"),
                s("day"),
                s("cgpt-user-1"),
                s("total"),
                None,
                None,
                None
            ]
        );
        // an unknown surface keeps its own id, and its unknown field is kept under extra
        assert_eq!(
            recs[2].payload,
            r#"{"period_start":"2025-12-01T00:00:00Z","period_end":"2025-12-02T00:00:00Z","period":"day","user_id":"cgpt-user-1","email":"Ada.Lovelace@Example.com","breakdown":"client","client_id":"CODEX_FUTURE_SURFACE","model":null,"speed":null,"threads":1,"turns":7,"credits":4.5,"extra":{"display_name":"Something new"},"schema_version":1}"#
        );
        assert_eq!(
            recs[3].payload,
            r#"{"period_start":"2025-12-01T00:00:00Z","period_end":"2025-12-02T00:00:00Z","period":"day","user_id":"cgpt-user-1","email":"Ada.Lovelace@Example.com","breakdown":"model","client_id":null,"model":"gpt-5.3-codex","speed":"standard","threads":null,"turns":null,"credits":12.25,"text_input_tokens":1200,"cached_text_input_tokens":300,"text_output_tokens":450,"extra":{},"schema_version":1}"#
        );
        assert_eq!(
            recs[3].key,
            [
                s("2025-12-01T00:00:00Z"),
                s("day"),
                s("cgpt-user-1"),
                s("model"),
                None,
                s("gpt-5.3-codex"),
                s("standard")
            ]
        );
        assert_eq!(
            payload(&recs[4])["extra"],
            json!({"reasoning_effort": "low"})
        );
        // `user_email`, as sent; the row's unknown fields on its total record
        let total2 = payload(&recs[5]);
        assert_eq!(total2["email"], "GRACE.HOPPER@example.com");
        assert_eq!(
            total2["extra"],
            json!({"seat_type": "enterprise", "x_rollup": {"source": "codex-analytics", "partial": false, "tags": ["beta"]}})
        );
        assert_eq!(payload(&recs[6])["email"], "GRACE.HOPPER@example.com");
        assert_eq!(payload(&recs[6])["extra"], json!({}));
    }

    /// Credits are the API's numbers as sent; each breakdown sums to the totals exactly,
    /// and a row with an empty `clients` list loses nothing: its total record has it.
    #[test]
    fn credit_sums_are_exact() {
        let recs = run_ok(WORKSPACE_USAGE, USAGE_PAGE);
        let sum = |breakdown: &str| -> f64 {
            recs.iter()
                .filter(|r| r.key[3].as_deref() == Some(breakdown))
                .map(|r| payload(r)["credits"].as_f64().unwrap())
                .sum()
        };
        assert_eq!(sum("total"), 15.5);
        assert_eq!(sum("model"), 15.5);
        // clients cover only the first row: the second row's 3 credits are in its total
        assert_eq!(sum("client"), 12.5);
        let texts: Vec<&str> = recs
            .iter()
            .map(|r| {
                let at = r.payload.find("\"credits\":").unwrap() + 10;
                let end = r.payload[at..].find(',').unwrap();
                &r.payload[at..at + end]
            })
            .collect();
        assert_eq!(texts, ["12.5", "8.0", "4.5", "12.25", "0.25", "3", "3"]);
        // many quarter credits add up exactly
        let rows: Vec<String> = (0..400)
            .map(|i| format!(r#"{{"start_time":0,"end_time":86400,"user_id":"u{i}","credits":{}.25,"clients":[{{"client_id":"CODEX_WEB","credits":{}.25}}]}}"#, i % 7, i % 7))
            .collect();
        let recs = run_ok(
            WORKSPACE_USAGE,
            &format!(r#"{{"data":[{}]}}"#, rows.join(",")),
        );
        let total: f64 = recs
            .iter()
            .filter(|r| r.key[3].as_deref() == Some("total"))
            .map(|r| payload(r)["credits"].as_f64().unwrap())
            .sum();
        let expected: f64 = (0..400).map(|i| (i % 7) as f64 + 0.25).sum();
        assert_eq!(total, expected);
        assert_eq!(total, 1297.0);
    }

    #[test]
    fn token_fields_keep_the_apis_names() {
        let body = r#"{"data":[{"start_time":0,"end_time":86400,"user_id":"u","email":"e@x.io",
            "text_input_tokens":5,"lines_of_code":3,"ratio":0.5,
            "clients":[{"client_id":"CODEX_EXEC","cached_tokens":7,"sessions":2,"speed":"fast"}],
            "models":[{"model":"m","uncached_text_input_tokens":11,"reasoning_tokens":2,"image_units":4,"x":42.5,"neg":-1,
                       "client_id":"c","threads":1,"period":3,"credits":null,"speed":null}]}]}"#;
        let recs = run_ok(WORKSPACE_USAGE, body);
        let total = payload(&recs[0]);
        assert_eq!(total["text_input_tokens"], 5);
        assert_eq!(total["extra"], json!({"lines_of_code": 3, "ratio": 0.5}));
        let client = payload(&recs[1]);
        assert_eq!(client["cached_tokens"], 7);
        assert_eq!(client["threads"], Value::Null);
        assert_eq!(client["extra"], json!({"sessions": 2, "speed": "fast"}));
        assert_eq!(client["speed"], Value::Null);
        let model = payload(&recs[2]);
        assert_eq!(model["uncached_text_input_tokens"], 11);
        assert_eq!(model["reasoning_tokens"], 2);
        // in a model entry every count is a token count
        assert_eq!(model["image_units"], 4);
        assert_eq!(model["threads"], 1);
        assert_eq!(model["credits"], Value::Null);
        assert_eq!(
            (model["model"].clone(), model["speed"].clone()),
            ("m".into(), Value::Null)
        );
        assert_eq!(model["period"], "day");
        assert_eq!(
            model["extra"],
            json!({"x": 42.5, "neg": -1, "client_id": "c", "period": 3})
        );
        assert_eq!(recs[2].key[6], None);
        // a repeated unknown name is kept once
        let body = r#"{"data":[{"start_time":0,"end_time":86400,"models":[{"model":"m","a_tokens":1,"a_tokens":2,"z":"x","z":"y"}]}]}"#;
        let model = payload(&run_ok(WORKSPACE_USAGE, body)[1]);
        assert_eq!(model["a_tokens"], 1);
        assert_eq!(model["extra"], json!({"a_tokens": 2, "z": "x"}));
        assert_eq!(
            run_ok(WORKSPACE_USAGE, body)[1]
                .payload
                .matches("\"z\"")
                .count(),
            1
        );
    }

    #[test]
    fn both_email_fields_keep_both() {
        let body = r#"{"data":[{"start_time":0,"end_time":86400,"user_id":"u","email":"a@x.io","user_email":"A@X.IO"}]}"#;
        let p = payload(&run_ok(WORKSPACE_USAGE, body)[0]);
        assert_eq!(p["email"], "a@x.io");
        assert_eq!(p["extra"], json!({"user_email": "A@X.IO"}));
        // no email at all (hidden by the workspace), no user (a workspace-wide row)
        let body = r#"{"data":[{"start_time":0,"end_time":86400,"threads":1}]}"#;
        let r = &run_ok(WORKSPACE_USAGE, body)[0];
        let p = payload(r);
        assert_eq!(
            (p["email"].clone(), p["user_id"].clone()),
            (Value::Null, Value::Null)
        );
        assert_eq!(r.key[2], None);
    }

    #[test]
    fn unknown_values_are_kept_verbatim_on_one_line() {
        let body = "{\"data\":[{\"start_time\":0,\"end_time\":86400,\"odd\": [1, 2.50, {\"a b\" : \"c  d\\n\\\"e\\\"\"}],\n\"n\":1e2}]}";
        let r = &run_ok(WORKSPACE_USAGE, body)[0];
        assert!(
            r.payload
                .contains(r#""extra":{"odd":[1,2.50,{"a b":"c  d\n\"e\""}],"n":1e2}"#),
            "{}",
            r.payload
        );
        assert!(!r.payload.contains('\n'));
        assert_eq!(compact("[1, \"a b\"]").as_deref(), Some("[1,\"a b\"]"));
        assert_eq!(compact("\"a b\""), None);
        assert_eq!(compact("{\"\\\\\": 1}").as_deref(), Some("{\"\\\\\":1}"));
    }

    #[test]
    fn weekly_rows_and_rows_with_a_date() {
        let week = r#"{"data":[{"start_time":1764547200,"end_time":1765152000,"user_id":"u","threads":9}]}"#;
        let r = &run_ok(WORKSPACE_USAGE, week)[0];
        assert_eq!(r.key[..2], [s("2025-12-01T00:00:00Z"), s("week")]);
        assert_eq!(payload(r)["period_end"], "2025-12-08T00:00:00Z");
        // a `date` instead of times: the configured period
        let dated = r#"{"data":[{"date":"2025-12-03","user_id":"u","prs_reviewed":1}]}"#;
        let r = &run_ok(CODE_REVIEWS, dated)[0];
        assert_eq!(payload(r)["period_end"], "2025-12-04T00:00:00Z");
        let weekly = settings().with_chatgpt("ws-12345678", Period::Week);
        let r = &normalize(&raw(CODE_REVIEWS, dated), &weekly).unwrap()[0];
        assert_eq!(r.key[..2], [s("2025-12-03T00:00:00Z"), s("week")]);
        assert_eq!(payload(r)["period_end"], "2025-12-10T00:00:00Z");
        assert_eq!(day_start("1970-01-01"), Some(0));
        for bad in [
            "2025-13-01",
            "2025-02-30",
            "25-12-03",
            "2025/12/03",
            "+025-12-03",
            "2025-1-003",
        ] {
            assert_eq!(day_start(bad), None, "{bad}");
        }
    }

    fn provider_changed(stream: &str, body: &str) -> (String, String) {
        match normalize(&raw(stream, body), &settings()).unwrap_err() {
            ConnectorError::ProviderChanged {
                stream: st,
                field,
                message,
            } => {
                assert_eq!(st, stream);
                (field, message)
            }
            e => panic!("{body}: {e:?}"),
        }
    }

    #[test]
    fn shape_errors_name_the_path() {
        for (body, at) in [
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"credits":"12.5"}]}"#,
                "data[0].credits",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400},{"start_time":0,"end_time":86400,"threads":-1}]}"#,
                "data[1].threads",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"turns":1.5}]}"#,
                "data[0].turns",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"clients":[{"client_id":"A"},{"threads":1}]}]}"#,
                "data[0].clients[1].client_id",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"clients":[{"client_id":null}]}]}"#,
                "data[0].clients[0].client_id",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"models":[{"model":"m","speed":1}]}]}"#,
                "data[0].models[0].speed",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"models":[{"model":"m","credits":"1"}]}]}"#,
                "data[0].models[0].credits",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"models":{}}]}"#,
                "data[0].models",
            ),
            (
                r#"{"data":[{"start_time":"0","end_time":86400}]}"#,
                "data[0].start_time",
            ),
            (
                r#"{"data":[{"start_time":0,"start_time":0,"end_time":86400}]}"#,
                "data[0].start_time",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"clients":[],"clients":[]}]}"#,
                "data[0].clients",
            ),
            (r#"{"data":[{"user_id":7}]}"#, "data[0].user_id"),
            (r#"{"data":[],"data":[]}"#, "data"),
            (r#"{"rows":[]}"#, "data"),
            (r#"{"data":[],"next_cursor":5}"#, "next_cursor"),
            (r#"[]"#, "$"),
        ] {
            assert_eq!(provider_changed(WORKSPACE_USAGE, body).0, at, "{body}");
        }
        // the period: its times and its width
        for (body, at, says) in [
            (
                r#"{"data":[{"user_id":"u"}]}"#,
                "data[0].start_time",
                "neither start_time nor date",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":3600}]}"#,
                "data[0].end_time",
                "3600 s",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":-86400}]}"#,
                "data[0].end_time",
                "-86400 s",
            ),
            (
                r#"{"data":[{"start_time":-9223372036854775808,"end_time":9223372036854775807}]}"#,
                "data[0].end_time",
                "longer than any",
            ),
            (
                r#"{"data":[{"start_time":9223372036854000000,"end_time":9223372036854086400}]}"#,
                "data[0].start_time",
                "out of range",
            ),
            (
                r#"{"data":[{"start_time":9223372036854000000,"end_time":9223372036854786400}]}"#,
                "data[0].end_time",
                "expected i64",
            ),
            (
                r#"{"data":[{"date":"yesterday"}]}"#,
                "data[0].date",
                "2025-01-31",
            ),
            (
                r#"{"data":[{"start_time":9223372036854775000}]}"#,
                "data[0].start_time",
                "out of range",
            ),
        ] {
            let (field, message) = provider_changed(WORKSPACE_USAGE, body);
            assert_eq!(field, at, "{body}");
            assert!(message.contains(says), "{body}: {message}");
        }
        // a body that does not read says so first, even after a row with a bad period
        let body = r#"{"data":[{"start_time":0,"end_time":1},{"start_time":0,"end_time":86400,"credits":"x"}]}"#;
        assert_eq!(provider_changed(WORKSPACE_USAGE, body).0, "data[1].credits");
        // cut off in transit: retryable
        let e = normalize(&raw(WORKSPACE_USAGE, &USAGE_PAGE[..300]), &settings()).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Transient);
    }

    #[test]
    fn lenient_where_the_meaning_is_clear() {
        for stream in [WORKSPACE_USAGE, CODE_REVIEWS, CODE_REVIEW_RESPONSES] {
            for body in [
                r#"{"data":[]}"#,
                r#"{"data":[],"has_more":false,"next_page":null}"#,
                r#"{"data":[],"has_more":null,"next_cursor":"c","x_unknown":{"deep":[[[]]]}}"#,
                crate::streams::analytics::EMPTY_ANALYTICS_PAGE,
            ] {
                assert!(run_ok(stream, body).is_empty(), "{stream}: {body}");
            }
        }
        let body = r#"{"data":[{"start_time":0,"end_time":86400,"clients":null,"models":null,"email":null,"credits":null}]}"#;
        let recs = run_ok(WORKSPACE_USAGE, body);
        assert_eq!(recs.len(), 1);
        // deep nesting in an unknown field is kept without recursion
        let deep = format!(
            r#"{{"data":[{{"start_time":0,"end_time":86400,"x":{}{}}}]}}"#,
            "[".repeat(50_000),
            "]".repeat(50_000)
        );
        let recs = run_ok(WORKSPACE_USAGE, &deep);
        assert!(recs[0].payload.len() > 100_000);
        let recs = run_ok(CODE_REVIEWS, &deep);
        assert!(recs[0].payload.len() > 100_000);
    }

    const REVIEWS_PAGE: &str = r#"{"data":[
        {"user_id":"cgpt-user-1","email":"Ada.Lovelace@Example.com","prs_reviewed":3,"comments_generated":5,
         "comments_by_priority":{"P0":1,"P1":1,"P2":3},"start_time":1764547200,"end_time":1764633600},
        {"user_id":"cgpt-user-2","email":"b@x.io","prs_reviewed":1,"comments_generated":0,
         "comments_by_priority":{"P0":0,"P1":0,"P2":0,"P3":2,"note":"new"},"review_surface":"github",
         "by_repo":{"a":1,"b":2},"x_mock_unknown_object":{"nested":{"deep":[true,null],"n":-1}},"empty":{},
         "start_time":1764547200,"end_time":1764633600}
    ],"has_more":false,"next_cursor":null}"#;

    #[test]
    fn code_reviews_keep_every_count_flattened() {
        let recs = run_ok(CODE_REVIEWS, REVIEWS_PAGE);
        assert_eq!(recs.len(), 2);
        assert_eq!(
            recs[0].key,
            [s("2025-12-01T00:00:00Z"), s("day"), s("cgpt-user-1")]
        );
        assert_eq!(
            recs[0].payload,
            r#"{"period_start":"2025-12-01T00:00:00Z","period_end":"2025-12-02T00:00:00Z","period":"day","user_id":"cgpt-user-1","email":"Ada.Lovelace@Example.com","prs_reviewed":3,"comments_generated":5,"comments_by_priority_P0":1,"comments_by_priority_P1":1,"comments_by_priority_P2":3,"extra":{},"schema_version":1}"#
        );
        let p = payload(&recs[1]);
        assert_eq!(p["comments_by_priority_P3"], 2);
        assert_eq!(p["by_repo_a"], 1);
        assert_eq!(p["by_repo_b"], 2);
        assert_eq!(
            p["extra"],
            json!({
                "comments_by_priority_note": "new",
                "review_surface": "github",
                "x_mock_unknown_object": {"nested": {"deep": [true, null], "n": -1}},
                "empty": {}
            })
        );
    }

    #[test]
    fn code_review_responses_flatten_reactions() {
        let body = r#"{"data":[{"start_time":1764547200,"end_time":1764633600,"user_id":"u","user_email":"u@x.io",
            "replies":2,"reactions":{"positive":3,"negative":1,"other":0},"comments_with_reply":2,"comments_with_reaction":3,
            "channel":"github","period_start":5,"replies_total":null}]}"#;
        let recs = run_ok(CODE_REVIEW_RESPONSES, body);
        assert_eq!(recs[0].stream, "code_review_responses");
        assert_eq!(
            recs[0].payload,
            r#"{"period_start":"2025-12-01T00:00:00Z","period_end":"2025-12-02T00:00:00Z","period":"day","user_id":"u","email":"u@x.io","replies":2,"reactions_positive":3,"reactions_negative":1,"reactions_other":0,"comments_with_reply":2,"comments_with_reaction":3,"extra":{"period_start":5,"channel":"github","replies_total":null},"schema_version":1}"#
        );
        // the documented counts are counts; null is absent
        let body =
            r#"{"data":[{"start_time":0,"end_time":86400,"replies":null,"reactions":null}]}"#;
        let p = payload(&run_ok(CODE_REVIEW_RESPONSES, body)[0]);
        assert!(p.get("replies").is_none() && p.get("reactions_positive").is_none());
        for (body, at) in [
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"replies":"2"}]}"#,
                "data[0].replies",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"reactions":[1]}]}"#,
                "data[0].reactions",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"replies":1,"replies":1}]}"#,
                "data[0].replies",
            ),
        ] {
            assert_eq!(
                provider_changed(CODE_REVIEW_RESPONSES, body).0,
                at,
                "{body}"
            );
        }
        for (body, at) in [
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"prs_reviewed":"3"}]}"#,
                "data[0].prs_reviewed",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"comments_generated":-1}]}"#,
                "data[0].comments_generated",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":86400,"comments_by_priority":"P0"}]}"#,
                "data[0].comments_by_priority",
            ),
            (
                r#"{"data":[{"start_time":0,"end_time":604801}]}"#,
                "data[0].end_time",
            ),
        ] {
            assert_eq!(provider_changed(CODE_REVIEWS, body).0, at, "{body}");
        }
    }

    /// The same page read twice gives the same records, and member order does not matter
    /// to the values.
    #[test]
    fn deterministic_and_order_free() {
        let a = run_ok(WORKSPACE_USAGE, USAGE_PAGE);
        assert_eq!(a, run_ok(WORKSPACE_USAGE, USAGE_PAGE));
        let moved = USAGE_PAGE
            .replacen(r#""user_id":"cgpt-user-1","#, "", 1)
            .replacen(
                r#""start_time":1764547200,"end_time":1764633600},"#,
                r#""start_time":1764547200,"end_time":1764633600,"user_id":"cgpt-user-1"},"#,
                1,
            );
        assert_ne!(moved, USAGE_PAGE);
        let b = run_ok(WORKSPACE_USAGE, &moved);
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.key, y.key);
            assert_eq!(payload(x), payload(y));
        }
    }

    #[test]
    fn firsts_marks_the_first_of_each_name() {
        let few = [("a", 0), ("b", 0), ("a", 0)];
        assert_eq!(firsts(&few), [true, true, false]);
        let many: Vec<(&str, u8)> = ["x", "y", "x", "z", "y", "w", "v", "u", "t", "x", "s"]
            .iter()
            .map(|n| (*n, 0))
            .collect();
        assert_eq!(
            firsts(&many),
            [true, true, false, true, false, true, true, true, true, false, true]
        );
    }

    /// Native throughput of `workspace_usage` normalize on mock-shaped rows; run with
    /// `cargo test --release -p codex-connector -- --ignored --nocapture workspace_rows_per_second`.
    #[test]
    #[ignore]
    fn workspace_rows_per_second() {
        let row = |i: usize| {
            format!(
                r#"{{"user_id":"cgpt-user-{i:020}","email":"person{i}@example.com","threads":3,"turns":17,"credits":12.5,"clients":[{{"client_id":"CODEX_CLI","threads":2,"turns":10,"credits":8.0}},{{"client_id":"CODEX_IDE_VSCODE","threads":1,"turns":7,"credits":4.5}}],"models":[{{"model":"gpt-5.3-codex","speed":"standard","credits":12.5,"text_input_tokens":1200,"cached_text_input_tokens":300,"text_output_tokens":450}}],"start_time":1764547200,"end_time":1764633600}}"#
            )
        };
        let rows: Vec<String> = (0..100).map(row).collect();
        let body = format!(
            r#"{{"data":[{}],"has_more":true,"next_page":"00ff"}}"#,
            rows.join(",")
        );
        let page = raw(WORKSPACE_USAGE, &body);
        let s = settings();
        let records = normalize(&page, &s).unwrap().len();
        assert_eq!(records, 400);
        let reps = 2_000;
        let started = std::time::Instant::now();
        for _ in 0..reps {
            assert_eq!(normalize(&page, &s).unwrap().len(), records);
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "workspace_usage normalize: {:.0} k rows/s, {:.0} k records/s ({:.0} MB/s of JSON)",
            (100 * reps) as f64 / secs / 1e3,
            (records * reps) as f64 / secs / 1e3,
            (body.len() * reps) as f64 / secs / 1e6
        );
    }
}
