//! Switchable fault modes: rules, their budgets, shape changes and the response bodies that
//! stall, abort or stream without end.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Bytes, Frame, SizeHint};
use serde_json::{json, Map, Value};
use tokio::sync::Notify;
use tokio::time::Sleep;

/// A way to misbehave, applied to one request by a [`FaultRule`].
///
/// Faults apply **after** authentication and permission checks: a request the mock refuses
/// with 401 / 403 (missing, unknown or project key, missing scope) gets that refusal, does
/// not match any rule and consumes no budget. Every other request (including a 400 or 404
/// answer) can be faulted. A faulted answer always closes the connection afterwards
/// (`connection: close`, or an abrupt close / reset).
///
/// Faults that serve "the real" answer use the status and body the mock would have sent (for
/// a valid request: 200 and its JSON).
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status and the standard error object body
    /// (`{"error":{"message","type","param":null,"code"}}`), plus `Retry-After: <value>`
    /// when given. 429 uses type and code `"rate_limit_exceeded"`; 5xx type `"server_error"`
    /// (code null); other statuses type `"invalid_request_error"`. On Codex Analytics paths
    /// (`/v1/analytics/codex/…`) the body is `{"detail": "<message>"}` instead. A status
    /// outside 200..=999 is sent as 500.
    Status {
        status: u16,
        retry_after: Option<String>,
    },
    /// Accept the connection, read the request, then close it with a TCP reset (SO_LINGER 0)
    /// without sending any response bytes. Recorded with status 0.
    ResetBeforeHeaders,
    /// Send the real response's status line + headers (with the real Content-Length) and the
    /// first half of the body, wait about 50 ms so those bytes are on the wire, then reset the
    /// connection (SO_LINGER 0).
    ResetMidBody,
    /// The real status with the real body cut to half its length; Content-Length matches the
    /// truncated length (framing is valid, the JSON is not).
    TruncatedJson,
    /// Wait this long before sending anything, then answer normally.
    StallBeforeFirstByte(Duration),
    /// Send headers (real Content-Length) and the first half of the body, wait this long,
    /// then send the rest.
    StallBetweenBytes(Duration),
    /// 200 with a syntactically valid JSON usage page of exactly `bytes` bytes (the Platform
    /// shape, on every path)
    /// (`{"object":"page","data":[` + empty buckets + `],"has_more":false,"next_page":null}`;
    /// below 61 bytes it is `{ … }` padded with spaces), streamed in 64 KiB chunks and never
    /// held in memory whole. Chunked (no Content-Length) when `declared` is false; a correct
    /// Content-Length when true.
    HugeBody { bytes: u64, declared: bool },
    /// Serve the real data with a changed shape (the body is re-serialised, so key order may
    /// change; a body that is not JSON is sent unchanged).
    Shape(ShapeChange),
}

/// How [`Fault::Shape`] changes the real body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeChange {
    /// Add unknown fields (`x_mock_unknown_*`: string, number, bool, null, array, nested
    /// object) to every object: envelope, bucket / list item, result, nested objects.
    UnknownFields,
    /// Drop optional fields everywhere: `object`, `input_cached_tokens`,
    /// `input_audio_tokens`, `output_audio_tokens`, `first_id`, `last_id` and every field
    /// whose value is null (grouping fields, `next_page`, `archived_at`, …). Required fields
    /// stay.
    MissingOptional,
    /// Usage buckets use the key `result` instead of `results`.
    ResultForResults,
    /// The first result's `input_tokens` becomes a string (`"123"`); when no bucket has a
    /// result, the first bucket's `start_time`. For list endpoints the first item's
    /// `created_at` (or `added_at`) becomes a string; for the Codex Analytics endpoints the
    /// first row's `credits` (usage), `prs_reviewed` (code reviews) or `replies` (responses).
    /// An empty page is unchanged.
    WrongType,
    /// Wrap the whole body: `{"object":"wrapper","response": <original body>}`.
    ExtraEnvelope,
}

/// When to apply a [`Fault`].
///
/// Rules are checked in insertion order; the first rule that matches the request's path and
/// still has budget (`skip + times` not used up) takes the request: while its `skip` lasts it
/// lets the request through normally, then it applies its fault `times` times. Later rules
/// only see requests that no earlier live rule took. Requests refused by authentication never
/// reach the rules.
#[derive(Clone, Debug)]
pub struct FaultRule {
    /// Applies to requests whose path (without the query) contains this (None = every
    /// request).
    pub path_contains: Option<String>,
    /// Let this many matching requests through normally first.
    pub skip: usize,
    /// Then apply the fault to this many matching requests (usize::MAX = forever).
    pub times: usize,
    pub fault: Fault,
}

struct RuleState {
    rule: FaultRule,
    skipped: usize,
    applied: usize,
}

/// The installed rules.
#[derive(Default)]
pub(crate) struct Faults {
    rules: Vec<RuleState>,
}

impl Faults {
    pub(crate) fn push(&mut self, rule: FaultRule) {
        self.rules.push(RuleState {
            rule,
            skipped: 0,
            applied: 0,
        });
    }

    pub(crate) fn clear(&mut self) {
        self.rules.clear();
    }

    /// Decide for one request: the fault to apply, if any (budgets are consumed).
    pub(crate) fn take(&mut self, path: &str) -> Option<Fault> {
        let st = self.rules.iter_mut().find(|st| {
            st.applied < st.rule.times
                && st
                    .rule
                    .path_contains
                    .as_deref()
                    .is_none_or(|p| path.contains(p))
        })?;
        if st.skipped < st.rule.skip {
            st.skipped += 1;
            None
        } else {
            st.applied += 1;
            Some(st.rule.fault.clone())
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shape changes

/// Apply a shape change to a JSON body; a body that is not JSON is returned unchanged.
pub(crate) fn reshape(body: &[u8], change: ShapeChange) -> Vec<u8> {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    match change {
        ShapeChange::UnknownFields => add_unknown(&mut v),
        ShapeChange::MissingOptional => drop_optional(&mut v),
        ShapeChange::ResultForResults => {
            if let Some(data) = v.get_mut("data").and_then(Value::as_array_mut) {
                for b in data.iter_mut().filter_map(Value::as_object_mut) {
                    if let Some(r) = b.remove("results") {
                        b.insert("result".to_string(), r);
                    }
                }
            }
        }
        ShapeChange::WrongType => wrong_type(&mut v),
        ShapeChange::ExtraEnvelope => v = json!({"object": "wrapper", "response": v}),
    }
    serde_json::to_vec(&v).expect("serialize reshaped body")
}

fn add_unknown(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(add_unknown),
        Value::Object(m) => {
            m.values_mut().for_each(add_unknown);
            let extra: [(&str, Value); 6] = [
                ("x_mock_unknown_string", json!("surprise")),
                ("x_mock_unknown_number", json!(42.5)),
                ("x_mock_unknown_bool", json!(true)),
                ("x_mock_unknown_null", Value::Null),
                ("x_mock_unknown_array", json!([1, "two", {"three": 3}])),
                (
                    "x_mock_unknown_object",
                    json!({"nested": {"deep": [true, null], "n": -1}}),
                ),
            ];
            for (k, x) in extra {
                m.insert(k.to_string(), x);
            }
        }
        _ => {}
    }
}

const OPTIONAL_KEYS: [&str; 6] = [
    "object",
    "input_cached_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "first_id",
    "last_id",
];

fn drop_optional(v: &mut Value) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(drop_optional),
        Value::Object(m) => {
            m.retain(|k, x| !x.is_null() && !OPTIONAL_KEYS.contains(&k.as_str()));
            m.values_mut().for_each(drop_optional);
        }
        _ => {}
    }
}

fn stringify(m: &mut Map<String, Value>, key: &str) -> bool {
    match m.get_mut(key) {
        Some(x) if x.is_number() => {
            *x = Value::String(x.to_string());
            true
        }
        _ => false,
    }
}

fn wrong_type(v: &mut Value) {
    let Some(data) = v.get_mut("data").and_then(Value::as_array_mut) else {
        return;
    };
    let is_usage = data
        .first()
        .is_some_and(|b| b.get("results").is_some_and(Value::is_array));
    if is_usage {
        for b in data.iter_mut() {
            if let Some(r) = b
                .get_mut("results")
                .and_then(Value::as_array_mut)
                .and_then(|r| r.first_mut())
                .and_then(Value::as_object_mut)
            {
                if stringify(r, "input_tokens") {
                    return;
                }
            }
        }
        if let Some(b) = data.first_mut().and_then(Value::as_object_mut) {
            stringify(b, "start_time");
        }
    } else if let Some(item) = data.first_mut().and_then(Value::as_object_mut) {
        let _ = [
            "created_at",
            "added_at",
            "credits",
            "prs_reviewed",
            "replies",
        ]
        .iter()
        .any(|k| stringify(item, k));
    }
}

// ---------------------------------------------------------------------------------------
// Response bodies

/// A response body: whole, stalled, aborted midway or generated on the fly.
pub(crate) enum MockBody {
    Full(Option<Bytes>),
    /// `first`, then a pause, then `rest`.
    Stall {
        first: Option<Bytes>,
        sleep: Pin<Box<Sleep>>,
        rest: Option<Bytes>,
    },
    /// `first`, a short pause, then the connection task is told to reset the connection; the
    /// body never ends. `len` is the length the headers announced.
    Abort {
        first: Option<Bytes>,
        sleep: Option<Pin<Box<Sleep>>>,
        reset: Arc<Notify>,
        len: u64,
    },
    Huge(Huge),
}

impl MockBody {
    pub(crate) fn full(b: Vec<u8>) -> MockBody {
        MockBody::Full(Some(Bytes::from(b)))
    }
}

fn some_nonempty(b: Bytes) -> Option<Bytes> {
    (!b.is_empty()).then_some(b)
}

impl MockBody {
    pub(crate) fn stall(body: Vec<u8>, pause: Duration) -> MockBody {
        let mut first = Bytes::from(body);
        let rest = first.split_off(first.len() / 2);
        MockBody::Stall {
            first: some_nonempty(first),
            sleep: Box::pin(tokio::time::sleep(pause)),
            rest: some_nonempty(rest),
        }
    }

    pub(crate) fn abort(body: Vec<u8>, reset: Arc<Notify>) -> MockBody {
        let len = body.len() as u64;
        let mut first = Bytes::from(body);
        first.truncate(first.len() / 2);
        MockBody::Abort {
            first: some_nonempty(first),
            sleep: None,
            reset,
            len,
        }
    }
}

impl hyper::body::Body for MockBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            MockBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Stall { first, sleep, rest } => {
                if let Some(b) = first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                if rest.is_none() {
                    return Poll::Ready(None);
                }
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                Poll::Ready(rest.take().map(|b| Ok(Frame::data(b))))
            }
            MockBody::Abort {
                first,
                sleep,
                reset,
                ..
            } => {
                if let Some(b) = first.take() {
                    return Poll::Ready(Some(Ok(Frame::data(b))));
                }
                // The pause lets hyper flush what it has before the reset.
                let s = sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
                if s.as_mut().poll(cx).is_ready() {
                    reset.notify_one();
                }
                Poll::Pending
            }
            MockBody::Huge(h) => Poll::Ready(h.next_chunk().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            MockBody::Full(b) => b.is_none(),
            MockBody::Stall { first, rest, .. } => first.is_none() && rest.is_none(),
            MockBody::Abort { .. } => false,
            MockBody::Huge(h) => h.remaining() == 0,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            MockBody::Stall { first, rest, .. } => SizeHint::with_exact(
                first.as_ref().map_or(0, |b| b.len() as u64)
                    + rest.as_ref().map_or(0, |b| b.len() as u64),
            ),
            MockBody::Abort { len, .. } => SizeHint::with_exact(*len),
            MockBody::Huge(h) if h.declared => SizeHint::with_exact(h.remaining()),
            MockBody::Huge(_) => SizeHint::default(),
        }
    }
}

/// Roughly how many bytes one generated frame holds.
const CHUNK: usize = 64 * 1024;
const HUGE_PREFIX: &str = r#"{"object":"page","data":["#;
const HUGE_ITEM: &str =
    r#"{"object":"bucket","start_time":1767225600,"end_time":1767312000,"results":[]}"#;
const HUGE_SUFFIX: &str = r#"],"has_more":false,"next_page":null}"#;

/// A unit repeated `count` times; `block` holds as many units as one frame carries.
struct Seg {
    block: Bytes,
    unit: usize,
    count: u64,
}

impl Seg {
    fn new(unit: &str, count: u64) -> Seg {
        let per = (CHUNK / unit.len()).max(1) as u64;
        Seg {
            block: Bytes::from(unit.repeat(per.min(count) as usize)),
            unit: unit.len(),
            count,
        }
    }
}

/// A JSON page of an exact size, generated frame by frame.
pub(crate) struct Huge {
    segs: std::collections::VecDeque<Seg>,
    left: u64,
    declared: bool,
}

impl Huge {
    pub(crate) fn new(bytes: u64, declared: bool) -> Huge {
        let (p, i, s) = (
            HUGE_PREFIX.len() as u64,
            HUGE_ITEM.len() as u64,
            HUGE_SUFFIX.len() as u64,
        );
        let mut segs = Vec::new();
        if bytes >= p + s {
            let middle = bytes - p - s;
            let items = if middle >= i {
                1 + (middle - i) / (i + 1)
            } else {
                0
            };
            let used = if items > 0 {
                i + (items - 1) * (i + 1)
            } else {
                0
            };
            segs.push(Seg::new(HUGE_PREFIX, 1));
            if items > 0 {
                segs.push(Seg::new(HUGE_ITEM, 1));
                segs.push(Seg::new(&format!(",{HUGE_ITEM}"), items - 1));
            }
            segs.push(Seg::new(" ", middle - used));
            segs.push(Seg::new(HUGE_SUFFIX, 1));
        } else if bytes >= 2 {
            segs.push(Seg::new("{", 1));
            segs.push(Seg::new(" ", bytes - 2));
            segs.push(Seg::new("}", 1));
        } else {
            segs.push(Seg::new(" ", bytes));
        }
        segs.retain(|s| s.count > 0);
        Huge {
            segs: segs.into(),
            left: bytes,
            declared,
        }
    }

    fn remaining(&self) -> u64 {
        self.left
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        let seg = self.segs.front_mut()?;
        let per = (seg.block.len() / seg.unit) as u64;
        let n = per.min(seg.count);
        let out = seg.block.slice(..n as usize * seg.unit);
        seg.count -= n;
        if seg.count == 0 {
            self.segs.pop_front();
        }
        self.left -= out.len() as u64;
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: u64) -> Vec<u8> {
        let mut h = Huge::new(bytes, true);
        let mut out = Vec::new();
        while let Some(c) = h.next_chunk() {
            assert!(c.len() <= CHUNK);
            out.extend_from_slice(&c);
        }
        assert_eq!(h.remaining(), 0);
        out
    }

    #[test]
    fn huge_sizes_are_exact_and_valid() {
        for n in [
            0u64, 1, 2, 3, 59, 60, 61, 100, 140, 141, 142, 143, 1000, 70_000, 300_001,
        ] {
            let b = collect(n);
            assert_eq!(b.len() as u64, n, "size {n}");
            if n >= 2 {
                let v: Value = serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{n}: {e}"));
                assert!(v.is_object());
            }
        }
    }

    #[test]
    fn rule_budgets() {
        let mut f = Faults::default();
        f.push(FaultRule {
            path_contains: Some("users".into()),
            skip: 1,
            times: 2,
            fault: Fault::TruncatedJson,
        });
        let got: Vec<bool> = ["/users", "/projects", "/users", "/users", "/users"]
            .iter()
            .map(|p| f.take(p).is_some())
            .collect();
        assert_eq!(got, [false, false, true, true, false]);
    }
}
