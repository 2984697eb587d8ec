//! A minimal HTTP/1.1 client for the multi-organization tests: one request per connection,
//! or many over one keep-alive connection.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;

use openai_mock::GroundTruth;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 2026-01-01T10:02:03Z
pub const NOW: i64 = 1_767_225_600 + 10 * 3600 + 123;
pub const TODAY: i64 = 1_767_225_600;
pub const DAY: i64 = 86_400;

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "bad json ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request(addr: SocketAddr, path: &str, key: Option<&str>, close: bool) -> Vec<u8> {
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n");
    if close {
        req.push_str("Connection: close\r\n");
    }
    if let Some(k) = key {
        req.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    req.push_str("\r\n");
    req.into_bytes()
}

type Headers = Vec<(String, String)>;

/// (status, headers, header length) once `buf` holds a whole head.
fn parse_head(buf: &[u8]) -> Option<(u16, Headers, usize)> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    Some((status, headers, end + 4))
}

/// One keep-alive connection.
pub struct Conn {
    addr: SocketAddr,
    s: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).await.expect("connect");
        s.set_nodelay(true).ok();
        Conn {
            addr,
            s,
            buf: Vec::new(),
        }
    }

    /// One request on this connection (the answers carry a Content-Length).
    pub async fn get(&mut self, path: &str, key: Option<&str>) -> Resp {
        self.s
            .write_all(&request(self.addr, path, key, false))
            .await
            .expect("write");
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some((status, headers, hl)) = parse_head(&self.buf) {
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map(|(_, v)| v.parse().unwrap())
                    .expect("content-length");
                if self.buf.len() >= hl + len {
                    let body = self.buf[hl..hl + len].to_vec();
                    self.buf.drain(..hl + len);
                    return Resp {
                        status,
                        headers,
                        body,
                    };
                }
            }
            let n = self.s.read(&mut chunk).await.expect("read");
            assert!(n > 0, "connection closed mid-answer");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One request on its own connection (`Connection: close`).
pub async fn get(addr: SocketAddr, path: &str, key: Option<&str>) -> Resp {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&request(addr, path, key, true)).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let (status, headers, hl) = parse_head(&buf).expect("head");
    Resp {
        status,
        headers,
        body: buf[hl..].to_vec(),
    }
}

pub fn day_of(ts: i64) -> String {
    let z = ts.div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02}")
}

/// (day, user, key, project, model).
pub type Key = (String, Option<String>, String, String, String);

/// Every bucket of a 1d usage report from `start`, grouped by everything, paged to the end
/// over `conn`.
pub async fn usage_to_the_end(conn: &mut Conn, key: &str, start: i64) -> Vec<Value> {
    let mut buckets = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..50 {
        let mut q = format!(
            "/v1/organization/usage/completions?start_time={start}&bucket_width=1d&limit=2\
             &group_by=user_id&group_by=api_key_id&group_by=project_id&group_by=model"
        );
        if let Some(c) = &cursor {
            q.push_str(&format!("&page={c}"));
        }
        let r = conn.get(&q, Some(key)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        buckets.extend(v["data"].as_array().unwrap().iter().cloned());
        cursor = v["next_page"].as_str().map(str::to_string);
        if !v["has_more"].as_bool().unwrap() {
            return buckets;
        }
    }
    panic!("runaway pagination");
}

pub fn sum_buckets(buckets: &[Value]) -> BTreeMap<Key, [u64; 4]> {
    let mut m: BTreeMap<Key, [u64; 4]> = BTreeMap::new();
    for b in buckets {
        let day = day_of(b["start_time"].as_i64().unwrap());
        for r in b["results"].as_array().unwrap() {
            let k = (
                day.clone(),
                r["user_id"].as_str().map(str::to_string),
                r["api_key_id"].as_str().unwrap().to_string(),
                r["project_id"].as_str().unwrap().to_string(),
                r["model"].as_str().unwrap().to_string(),
            );
            let e = m.entry(k).or_default();
            e[0] += r["input_tokens"].as_u64().unwrap();
            e[1] += r["input_cached_tokens"].as_u64().unwrap();
            e[2] += r["output_tokens"].as_u64().unwrap();
            e[3] += r["num_model_requests"].as_u64().unwrap();
        }
    }
    m
}

pub fn truth_map(gt: &GroundTruth) -> BTreeMap<Key, [u64; 4]> {
    gt.rows
        .iter()
        .map(|t| {
            (
                (
                    t.day.clone(),
                    t.user_id.clone(),
                    t.api_key_id.clone(),
                    t.project_id.clone(),
                    t.model.clone(),
                ),
                [
                    t.input_tokens,
                    t.cached_input_tokens,
                    t.output_tokens,
                    t.requests,
                ],
            )
        })
        .collect()
}

/// Ids of every user a key lists (paged with `after`).
pub async fn user_ids(conn: &mut Conn, key: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut q = "/v1/organization/users?limit=2".to_string();
        if let Some(a) = &after {
            q.push_str(&format!("&after={a}"));
        }
        let r = conn.get(&q, Some(key)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        for u in v["data"].as_array().unwrap() {
            ids.push(u["id"].as_str().unwrap().to_string());
        }
        after = v["last_id"].as_str().map(str::to_string);
        if !v["has_more"].as_bool().unwrap() {
            return ids;
        }
    }
}

/// A random-looking key, distinct per (tag, i) and per process.
pub fn key(tag: &str, i: usize) -> String {
    format!(
        "sk-admin-{tag}{i:05}x{:08x}{:016x}",
        std::process::id(),
        (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}
