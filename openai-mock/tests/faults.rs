//! Fault modes seen by a raw HTTP/1.1 client over real loopback sockets.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use openai_mock::{Fault, FaultRule, MockConfig, MockServer, ShapeChange};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 2026-01-01T10:02:03Z
const NOW: i64 = 1_767_225_600 + 10 * 3600 + 123;
const TODAY: i64 = 1_767_225_600;
const DAY: i64 = 86_400;
const BAD_KEY: &str = "sk-admin-thiskeydoesnotexistanywhere0000";

fn usage_path() -> String {
    format!(
        "/v1/organization/usage/completions?start_time={}&bucket_width=1d&limit=7&group_by=model",
        TODAY - 6 * DAY
    )
}
const USERS: &str = "/v1/organization/users?limit=5";
const PROJECTS: &str = "/v1/organization/projects?include_archived=true";

async fn start() -> (MockServer, String) {
    let cfg = MockConfig {
        now: Some(NOW),
        ..MockConfig::default()
    };
    let key = cfg.admin_key.clone();
    (MockServer::start(cfg).await.unwrap(), key)
}

fn rule(path: Option<&str>, skip: usize, times: usize, fault: Fault) -> FaultRule {
    FaultRule {
        path_contains: path.map(str::to_string),
        skip,
        times,
        fault,
    }
}

fn status(code: u16) -> Fault {
    Fault::Status {
        status: code,
        retry_after: None,
    }
}

#[derive(Debug)]
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn content_length(&self) -> Option<usize> {
        self.header("content-length").map(|v| v.parse().unwrap())
    }
}

/// Parse a response head; returns it and the offset of the body.
fn parse_head(buf: &[u8]) -> Option<(Head, usize)> {
    let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line.split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Some((Head { status, headers }, split + 4))
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let size_str = std::str::from_utf8(&b[..nl]).unwrap();
        let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap();
        b = &b[nl + 2..];
        if size == 0 {
            assert_eq!(b, b"\r\n", "chunked trailer");
            return out;
        }
        out.extend_from_slice(&b[..size]);
        assert_eq!(&b[size..size + 2], b"\r\n", "chunk end");
        b = &b[size + 2..];
    }
}

fn request(path: &str, key: Option<&str>, close: bool) -> Vec<u8> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n");
    if close {
        req.push_str("Connection: close\r\n");
    }
    if let Some(k) = key {
        req.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

async fn send(addr: SocketAddr, path: &str, key: Option<&str>) -> TcpStream {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&request(path, key, true)).await.unwrap();
    s
}

/// Read until EOF or an error: the bytes received and how the stream ended.
async fn read_until_closed(s: &mut TcpStream) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) => return (buf, None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return (buf, Some(e.kind())),
        }
    }
}

struct Resp {
    head: Head,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "bad json ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }
}

/// A complete, cleanly closed response (Content-Length or chunked framing checked).
async fn get(addr: SocketAddr, path: &str, key: &str) -> Resp {
    let mut s = send(addr, path, Some(key)).await;
    let (buf, err) = read_until_closed(&mut s).await;
    assert_eq!(err, None, "stream error");
    let (head, at) = parse_head(&buf).expect("response head");
    let raw = &buf[at..];
    let body = if head
        .header("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        dechunk(raw)
    } else {
        let len = head.content_length().expect("content-length");
        assert_eq!(raw.len(), len, "body length matches Content-Length");
        raw.to_vec()
    };
    Resp { head, body }
}

// ---------------------------------------------------------------------------------------
// Fault::Status

#[tokio::test]
async fn status_429_with_retry_after() {
    let (srv, key) = start().await;
    srv.inject(rule(
        Some("usage/completions"),
        0,
        1,
        Fault::Status {
            status: 429,
            retry_after: Some("7".into()),
        },
    ));
    let r = get(srv.addr(), &usage_path(), &key).await;
    assert_eq!(r.head.status, 429);
    assert_eq!(r.head.header("retry-after"), Some("7"));
    assert_eq!(r.head.header("content-type"), Some("application/json"));
    assert_eq!(r.head.header("connection"), Some("close"));
    assert!(r.head.header("x-request-id").unwrap().starts_with("req_"));
    let v = r.json();
    let e = &v["error"];
    assert!(e["message"].as_str().unwrap().contains("Rate limit"));
    assert_eq!(e["type"], "rate_limit_exceeded");
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert!(e.get("param").unwrap().is_null());
    assert_eq!(srv.faults_served(), 1);
    assert_eq!(srv.requests().last().unwrap().status, 429);
    // Budget spent: the next request is normal.
    let r = get(srv.addr(), &usage_path(), &key).await;
    assert_eq!(r.head.status, 200);
    assert_eq!(r.json()["object"], "page");
    assert_eq!(srv.faults_served(), 1);
}

#[tokio::test]
async fn status_5xx_server_error() {
    let (srv, key) = start().await;
    srv.inject(rule(None, 0, 1, status(503)));
    srv.inject(rule(None, 0, 1, status(500)));
    for code in [503, 500] {
        let r = get(srv.addr(), USERS, &key).await;
        assert_eq!(r.head.status, code);
        assert_eq!(r.head.header("retry-after"), None);
        let v = r.json();
        assert_eq!(v["error"]["type"], "server_error");
        assert!(v["error"]["message"].is_string());
        assert!(v["error"]["param"].is_null());
        assert!(v["error"]["code"].is_null());
    }
    let statuses: Vec<u16> = srv.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 500]);
    assert_eq!(get(srv.addr(), USERS, &key).await.head.status, 200);
}

// ---------------------------------------------------------------------------------------
// Resets

#[tokio::test]
async fn reset_before_headers_sends_nothing() {
    let (srv, key) = start().await;
    srv.inject(rule(Some("/users"), 0, 1, Fault::ResetBeforeHeaders));
    let mut s = send(srv.addr(), USERS, Some(&key)).await;
    let t = Instant::now();
    let (buf, err) = read_until_closed(&mut s).await;
    assert!(buf.is_empty(), "no response bytes: {buf:?}");
    assert!(t.elapsed() < Duration::from_secs(5));
    // SO_LINGER 0: the client sees a reset (a plain close would be Ok(0)).
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    let last = srv.requests().last().unwrap().clone();
    assert_eq!(
        (last.path.as_str(), last.status),
        ("/v1/organization/users", 0)
    );
    assert_eq!(srv.faults_served(), 1);
    assert_eq!(get(srv.addr(), USERS, &key).await.head.status, 200);
}

#[tokio::test]
async fn reset_mid_body_sends_half_then_resets() {
    let (srv, key) = start().await;
    let normal = get(srv.addr(), &usage_path(), &key).await.body;
    assert!(normal.len() > 200);
    srv.inject(rule(None, 0, 1, Fault::ResetMidBody));
    let mut s = send(srv.addr(), &usage_path(), Some(&key)).await;
    let (buf, err) = read_until_closed(&mut s).await;
    let (head, at) = parse_head(&buf).expect("headers were sent");
    assert_eq!(head.status, 200);
    assert_eq!(
        head.content_length(),
        Some(normal.len()),
        "real Content-Length"
    );
    let body = &buf[at..];
    assert_eq!(
        body,
        &normal[..normal.len() / 2],
        "first half of the real body"
    );
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
    assert_eq!(srv.requests().last().unwrap().status, 200);
}

// ---------------------------------------------------------------------------------------
// Truncated / stalled

#[tokio::test]
async fn truncated_json_has_valid_framing() {
    let (srv, key) = start().await;
    let normal = get(srv.addr(), &usage_path(), &key).await.body;
    srv.inject(rule(None, 0, 1, Fault::TruncatedJson));
    let r = get(srv.addr(), &usage_path(), &key).await; // checks Content-Length == body
    assert_eq!(r.head.status, 200);
    assert_eq!(r.head.content_length(), Some(normal.len() / 2));
    assert_eq!(r.body, &normal[..normal.len() / 2]);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
}

#[tokio::test]
async fn stall_before_first_byte() {
    let (srv, key) = start().await;
    let normal = get(srv.addr(), USERS, &key).await.body;
    let stall = Duration::from_millis(1500);
    srv.inject(rule(None, 0, 1, Fault::StallBeforeFirstByte(stall)));
    let t = Instant::now();
    let mut s = send(srv.addr(), USERS, Some(&key)).await;
    let mut first = [0u8; 1];
    assert_eq!(s.read(&mut first).await.unwrap(), 1);
    let waited = t.elapsed();
    assert!(waited >= stall, "first byte after {waited:?}");
    assert!(waited < stall + Duration::from_secs(5), "{waited:?}");
    let (rest, err) = read_until_closed(&mut s).await;
    assert_eq!(err, None);
    let buf = [&first[..], &rest].concat();
    let (head, at) = parse_head(&buf).unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(&buf[at..], &normal[..], "then the normal answer");
}

#[tokio::test]
async fn stall_between_bytes() {
    let (srv, key) = start().await;
    let normal = get(srv.addr(), &usage_path(), &key).await.body;
    let stall = Duration::from_secs(2);
    srv.inject(rule(None, 0, 1, Fault::StallBetweenBytes(stall)));
    let t = Instant::now();
    let mut s = send(srv.addr(), &usage_path(), Some(&key)).await;
    // Headers and the first half arrive promptly.
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (head, at) = loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
        if let Some((head, at)) = parse_head(&buf) {
            if buf.len() - at >= normal.len() / 2 {
                break (head, at);
            }
        }
    };
    let first_part = t.elapsed();
    assert!(first_part < Duration::from_millis(1500), "{first_part:?}");
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(normal.len()));
    assert_eq!(buf.len() - at, normal.len() / 2, "exactly the first half");
    // The rest comes after the stall.
    let (rest, err) = read_until_closed(&mut s).await;
    let total = t.elapsed();
    assert_eq!(err, None);
    assert!(total >= stall, "{total:?}");
    assert!(total < stall + Duration::from_secs(5), "{total:?}");
    buf.extend_from_slice(&rest);
    assert_eq!(&buf[at..], &normal[..]);
}

// ---------------------------------------------------------------------------------------
// HugeBody

#[tokio::test]
async fn huge_body_chunked_without_length() {
    let (srv, key) = start().await;
    let bytes = 5_000_003u64;
    srv.inject(rule(
        None,
        0,
        1,
        Fault::HugeBody {
            bytes,
            declared: false,
        },
    ));
    let r = get(srv.addr(), &usage_path(), &key).await; // dechunks and checks framing
    assert_eq!(r.head.status, 200);
    assert_eq!(r.head.header("content-length"), None);
    assert_eq!(r.head.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.body.len() as u64, bytes);
    let v = r.json();
    assert_eq!(v["object"], "page");
    assert!(v["data"].as_array().unwrap().len() > 10_000);
    assert_eq!(v["has_more"], false);
    assert_eq!(srv.requests().last().unwrap().status, 200);
}

#[cfg(target_os = "linux")]
fn peak_rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_body_declared_one_gib_streams() {
    let (srv, key) = start().await;
    let bytes = 1u64 << 30;
    srv.inject(rule(
        None,
        0,
        1,
        Fault::HugeBody {
            bytes,
            declared: true,
        },
    ));
    #[cfg(target_os = "linux")]
    let rss_before = peak_rss_kib();
    let mut s = send(srv.addr(), &usage_path(), Some(&key)).await;
    let mut chunk = vec![0u8; 256 * 1024];
    let mut head_buf = Vec::new();
    let (head, at) = loop {
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0);
        head_buf.extend_from_slice(&chunk[..n]);
        if let Some(h) = parse_head(&head_buf) {
            break h;
        }
    };
    assert_eq!(head.status, 200);
    assert_eq!(head.content_length(), Some(bytes as usize));
    assert_eq!(head.header("transfer-encoding"), None);
    assert!(head_buf[at..].starts_with(br#"{"object":"page","data":[{"#));
    let mut got = (head_buf.len() - at) as u64;
    let mut tail = Vec::new();
    loop {
        let n = s.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > 1024 {
            tail.drain(..tail.len() - 64);
        }
    }
    assert_eq!(got, bytes, "exactly Content-Length bytes");
    assert!(tail.ends_with(br#"],"has_more":false,"next_page":null}"#));
    #[cfg(target_os = "linux")]
    {
        let grown = peak_rss_kib().saturating_sub(rss_before);
        assert!(grown < 200 * 1024, "peak RSS grew by {grown} KiB");
    }
}

// ---------------------------------------------------------------------------------------
// Shapes

/// The normal body of `path`, then the same request with `change` applied.
async fn normal_and_shaped(path: &str, change: ShapeChange) -> (Value, Value) {
    let (srv, key) = start().await;
    let normal = get(srv.addr(), path, &key).await.json();
    srv.inject(rule(None, 0, 1, Fault::Shape(change)));
    let r = get(srv.addr(), path, &key).await;
    assert_eq!(r.head.status, 200);
    assert_eq!(r.head.content_length(), Some(r.body.len()));
    assert_eq!(srv.faults_served(), 1);
    (normal, r.json())
}

fn strip_unknown(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with("x_mock_unknown_"))
                .map(|(k, x)| (k.clone(), strip_unknown(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_unknown).collect()),
        x => x.clone(),
    }
}

fn has_unknown(v: &Value) -> bool {
    v["x_mock_unknown_string"].is_string()
        && v["x_mock_unknown_object"]["nested"].is_object()
        && v.get("x_mock_unknown_null").is_some_and(Value::is_null)
}

#[tokio::test]
async fn shape_unknown_fields_everywhere() {
    let (normal, shaped) = normal_and_shaped(&usage_path(), ShapeChange::UnknownFields).await;
    assert_eq!(strip_unknown(&shaped), normal, "known data unchanged");
    assert!(has_unknown(&shaped), "envelope");
    let buckets = shaped["data"].as_array().unwrap();
    assert_eq!(buckets.len(), 7);
    let mut results = 0;
    for b in buckets {
        assert!(has_unknown(b), "bucket");
        for r in b["results"].as_array().unwrap() {
            assert!(has_unknown(r), "result");
            results += 1;
        }
    }
    assert!(results > 0);

    // Nested objects of a list item (key owner, owner.user / owner.service_account).
    let (srv, key) = start().await;
    let projects = get(srv.addr(), PROJECTS, &key).await.json();
    let pid = projects["data"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/organization/projects/{pid}/api_keys?limit=100");
    let normal = get(srv.addr(), &path, &key).await.json();
    srv.inject(rule(None, 0, 1, Fault::Shape(ShapeChange::UnknownFields)));
    let shaped = get(srv.addr(), &path, &key).await.json();
    assert_eq!(strip_unknown(&shaped), normal);
    assert!(has_unknown(&shaped));
    let items = shaped["data"].as_array().unwrap();
    assert!(!items.is_empty());
    for k in items {
        assert!(has_unknown(k), "item");
        let owner = &k["owner"];
        assert!(has_unknown(owner), "owner");
        let inner = owner.get("user").or(owner.get("service_account")).unwrap();
        assert!(has_unknown(inner), "owner.user / owner.service_account");
    }
}

#[tokio::test]
async fn shape_missing_optional_fields() {
    let (normal, shaped) = normal_and_shaped(&usage_path(), ShapeChange::MissingOptional).await;
    assert!(shaped.get("object").is_none());
    assert!(shaped.get("next_page").is_none(), "null next_page dropped");
    assert_eq!(shaped["has_more"], normal["has_more"]);
    let (nb, sb) = (
        normal["data"].as_array().unwrap(),
        shaped["data"].as_array().unwrap(),
    );
    assert_eq!(nb.len(), sb.len());
    let mut checked = 0;
    for (n, s) in nb.iter().zip(sb) {
        assert!(s.get("object").is_none());
        assert_eq!(s["start_time"], n["start_time"]);
        assert_eq!(s["end_time"], n["end_time"]);
        for (nr, sr) in n["results"]
            .as_array()
            .unwrap()
            .iter()
            .zip(s["results"].as_array().unwrap())
        {
            // (sorted: key order depends on serde_json's `preserve_order`, which another
            // workspace member turns on)
            let mut keys: Vec<&str> = sr.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            keys.sort_unstable();
            assert_eq!(
                keys,
                [
                    "input_tokens",
                    "model",
                    "num_model_requests",
                    "output_tokens"
                ]
            );
            for k in [
                "input_tokens",
                "output_tokens",
                "num_model_requests",
                "model",
            ] {
                assert_eq!(sr[k], nr[k]);
            }
            checked += 1;
        }
    }
    assert!(checked > 0);

    let (normal, shaped) = normal_and_shaped(USERS, ShapeChange::MissingOptional).await;
    let mut keys: Vec<&str> = shaped
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["data", "has_more"]);
    let items = shaped["data"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    for (n, s) in normal["data"].as_array().unwrap().iter().zip(items) {
        assert!(s.get("object").is_none());
        for k in ["id", "name", "email", "role", "added_at"] {
            assert_eq!(s[k], n[k], "{k} kept");
        }
    }
}

#[tokio::test]
async fn shape_result_for_results() {
    let (normal, shaped) = normal_and_shaped(&usage_path(), ShapeChange::ResultForResults).await;
    let (nb, sb) = (
        normal["data"].as_array().unwrap(),
        shaped["data"].as_array().unwrap(),
    );
    assert_eq!(nb.len(), sb.len());
    for (n, s) in nb.iter().zip(sb) {
        assert!(s.get("results").is_none());
        assert_eq!(s["result"], n["results"]);
        assert_eq!(s["start_time"], n["start_time"]);
    }
    assert_eq!(shaped["object"], "page");
    assert_eq!(shaped["has_more"], normal["has_more"]);
}

#[tokio::test]
async fn shape_wrong_type() {
    let (normal, shaped) = normal_and_shaped(&usage_path(), ShapeChange::WrongType).await;
    // The first result (first bucket having one) carries input_tokens as a string.
    let bi = normal["data"]
        .as_array()
        .unwrap()
        .iter()
        .position(|b| !b["results"].as_array().unwrap().is_empty())
        .unwrap();
    let n = normal["data"][bi]["results"][0]["input_tokens"]
        .as_u64()
        .unwrap();
    assert_eq!(
        shaped["data"][bi]["results"][0]["input_tokens"],
        Value::String(n.to_string())
    );
    let mut fixed = shaped.clone();
    fixed["data"][bi]["results"][0]["input_tokens"] = n.into();
    assert_eq!(fixed, normal, "only that field changed");

    let (normal, shaped) = normal_and_shaped(USERS, ShapeChange::WrongType).await;
    let added = normal["data"][0]["added_at"].as_i64().unwrap();
    assert_eq!(
        shaped["data"][0]["added_at"],
        Value::String(added.to_string())
    );
    assert!(shaped["data"][1]["added_at"].is_i64());

    let (normal, shaped) = normal_and_shaped(PROJECTS, ShapeChange::WrongType).await;
    let created = normal["data"][0]["created_at"].as_i64().unwrap();
    assert_eq!(
        shaped["data"][0]["created_at"],
        Value::String(created.to_string())
    );
}

#[tokio::test]
async fn shape_extra_envelope() {
    let (normal, shaped) = normal_and_shaped(&usage_path(), ShapeChange::ExtraEnvelope).await;
    assert_eq!(shaped["object"], "wrapper");
    assert_eq!(shaped["response"], normal);
    assert_eq!(shaped.as_object().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------
// Budgets, order, auth, clearing, keep-alive

#[tokio::test]
async fn skip_and_times_budget() {
    let (srv, key) = start().await;
    srv.inject(rule(Some("usage/completions"), 2, 2, status(503)));
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(get(srv.addr(), &usage_path(), &key).await.head.status);
        // Other paths do not match and do not use the budget.
        assert_eq!(get(srv.addr(), USERS, &key).await.head.status, 200);
    }
    assert_eq!(seen, [200, 200, 503, 503, 200]);
    assert_eq!(srv.faults_served(), 2);
    let recorded: Vec<u16> = srv
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("usage/completions"))
        .map(|r| r.status)
        .collect();
    assert_eq!(recorded, seen);
}

#[tokio::test]
async fn forever_and_rules_in_insertion_order() {
    let (srv, key) = start().await;
    // A skips one then faults once; B (inserted later) only sees what A does not take.
    srv.inject(rule(None, 1, 1, status(500)));
    srv.inject(rule(Some("/users"), 0, 1, status(429)));
    srv.inject(rule(Some("/projects"), 0, usize::MAX, status(502)));
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(get(srv.addr(), USERS, &key).await.head.status);
    }
    assert_eq!(seen, [200, 500, 429, 200]);
    for _ in 0..5 {
        assert_eq!(get(srv.addr(), PROJECTS, &key).await.head.status, 502);
    }
    assert_eq!(srv.faults_served(), 7);
}

#[tokio::test]
async fn auth_refusals_bypass_faults() {
    let (srv, key) = start().await;
    srv.inject(rule(None, 0, 1, status(503)));
    let mut s = send(srv.addr(), USERS, Some(BAD_KEY)).await;
    let (buf, _) = read_until_closed(&mut s).await;
    let (head, _) = parse_head(&buf).unwrap();
    assert_eq!(head.status, 401);
    let mut s = send(srv.addr(), USERS, None).await;
    let (buf, _) = read_until_closed(&mut s).await;
    assert_eq!(parse_head(&buf).unwrap().0.status, 401);
    assert_eq!(srv.faults_served(), 0, "refusals consume no budget");
    assert_eq!(get(srv.addr(), USERS, &key).await.head.status, 503);
    assert_eq!(srv.faults_served(), 1);
}

#[tokio::test]
async fn clear_faults_restores_normal_answers() {
    let (srv, key) = start().await;
    let normal = get(srv.addr(), &usage_path(), &key).await;
    srv.inject(rule(None, 0, usize::MAX, status(500)));
    srv.inject(rule(None, 0, usize::MAX, Fault::TruncatedJson));
    for _ in 0..3 {
        assert_eq!(get(srv.addr(), &usage_path(), &key).await.head.status, 500);
    }
    srv.clear_faults();
    let r = get(srv.addr(), &usage_path(), &key).await;
    assert_eq!(r.head.status, 200);
    assert_eq!(r.body, normal.body);
    assert_eq!(srv.faults_served(), 3);
}

/// Read exactly one Content-Length framed response from a kept-alive connection.
async fn read_one(s: &mut TcpStream) -> Resp {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some((head, at)) = parse_head(&buf) {
            let len = head.content_length().unwrap();
            if buf.len() >= at + len {
                assert_eq!(buf.len(), at + len, "nothing beyond the response");
                return Resp {
                    head,
                    body: buf[at..].to_vec(),
                };
            }
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn faults_apply_per_request_on_keep_alive_connections() {
    let (srv, key) = start().await;
    let mut s = TcpStream::connect(srv.addr()).await.unwrap();
    s.write_all(&request(USERS, Some(&key), false))
        .await
        .unwrap();
    let first = read_one(&mut s).await;
    assert_eq!(first.head.status, 200);
    assert_eq!(first.head.header("connection"), None, "kept alive");
    srv.inject(rule(
        None,
        0,
        1,
        Fault::Status {
            status: 429,
            retry_after: Some("2".into()),
        },
    ));
    s.write_all(&request(USERS, Some(&key), false))
        .await
        .unwrap();
    let second = read_one(&mut s).await;
    assert_eq!(second.head.status, 429);
    assert_eq!(second.head.header("retry-after"), Some("2"));
    assert_eq!(second.head.header("connection"), Some("close"));
    // The faulted connection is closed afterwards.
    let (rest, _) = read_until_closed(&mut s).await;
    assert!(rest.is_empty());
    assert_eq!(get(srv.addr(), USERS, &key).await.body, first.body);
}
