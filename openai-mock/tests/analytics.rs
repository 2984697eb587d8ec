//! The Codex Analytics API of the ChatGPT workspace, black-box over loopback HTTP.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;

use openai_mock::{
    Credits, Fault, FaultRule, Membership, MockConfig, MockServer, ShapeChange, WorkspaceTruth,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 2026-01-01T10:02:03Z (a Thursday).
const NOW: i64 = 1_767_225_600 + 10 * 3600 + 123;
const TODAY: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

const KEY: &str = "sk-cgpt-analyticsanalyticsanalytics000001";
const NO_SCOPE_KEY: &str = "sk-cgpt-noscopenoscopenoscopenoscope00002";
const USAGE_KEY: &str = "sk-admin-usageonlyusageonlyusageonly0001";
const PROJ_KEY: &str = "sk-proj-projectkeyprojectkeyprojectk0003";

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "bad json ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(500)])
            )
        })
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

async fn get(addr: SocketAddr, path_and_query: &str, key: Option<&str>) -> Resp {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: api.chatgpt.com\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if let Some(k) = key {
        req.push_str(&format!("Authorization: Bearer {k}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = std::str::from_utf8(&buf[..split]).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let body = buf[split + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
    {
        assert_eq!(body.len(), len.1.parse::<usize>().unwrap());
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn config() -> MockConfig {
    MockConfig {
        now: Some(NOW),
        analytics_key: Some(KEY.into()),
        analytics_key_without_scope: Some(NO_SCOPE_KEY.into()),
        usage_only_admin_key: Some(USAGE_KEY.into()),
        project_key: Some(PROJ_KEY.into()),
        ..MockConfig::default()
    }
}

fn path(srv: &MockServer, endpoint: &str, query: &str) -> String {
    format!(
        "/v1/analytics/codex/workspaces/{}/{endpoint}?{query}",
        srv.workspace_id()
    )
}

/// The earliest start the API accepts.
const HORIZON: i64 = NOW - 90 * DAY;

/// Every page of one query; returns the pages' JSON.
async fn fetch_pages(
    srv: &MockServer,
    endpoint: &str,
    query: &str,
    cursor_param: &str,
) -> Vec<Value> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = query.to_string();
        if let Some(c) = &cursor {
            q.push_str(&format!("&{cursor_param}={c}"));
        }
        let r = get(srv.addr(), &path(srv, endpoint, &q), Some(KEY)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        assert!(r.header("openai-organization").is_none());
        assert!(r.header("x-request-id").unwrap().starts_with("req_"));
        let v = r.json();
        let more = v["has_more"].as_bool().unwrap();
        let next = v
            .get("next_page")
            .or_else(|| v.get("next_cursor"))
            .expect("a cursor field");
        assert_eq!(more, next.is_string(), "has_more agrees with the cursor");
        cursor = next.as_str().map(str::to_string);
        pages.push(v);
        if !more {
            break;
        }
        assert!(pages.len() < 1000, "runaway pagination");
    }
    pages
}

fn rows(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["data"].as_array().unwrap().clone())
        .collect()
}

/// Exact credits of a served JSON number.
fn cr(v: &Value) -> Credits {
    let x = v
        .as_f64()
        .unwrap_or_else(|| panic!("credits {v} not a number"));
    Credits::from_f64(x).unwrap_or_else(|| panic!("credits {x} not a multiple of 0.25"))
}

fn row_email(r: &Value) -> String {
    let e = r.get("email").or_else(|| r.get("user_email")).unwrap();
    e.as_str().unwrap().to_lowercase()
}

fn monday(day: i64) -> i64 {
    day - (day + 3).rem_euclid(7)
}

#[derive(Default, Debug, PartialEq, Eq, Clone)]
struct Agg {
    threads: u64,
    turns: u64,
    credits: Credits,
    clients: BTreeMap<String, (u64, u64, Credits)>,
    models: BTreeMap<(String, String), (Credits, u64, u64, u64)>,
}

impl Agg {
    fn add_row(&mut self, r: &Value) {
        self.threads += r["threads"].as_u64().unwrap();
        self.turns += r["turns"].as_u64().unwrap();
        self.credits += cr(&r["credits"]);
        for c in r["clients"].as_array().unwrap() {
            let e = self
                .clients
                .entry(c["client_id"].as_str().unwrap().into())
                .or_default();
            e.0 += c["threads"].as_u64().unwrap();
            e.1 += c["turns"].as_u64().unwrap();
            e.2 += cr(&c["credits"]);
        }
        for m in r["models"].as_array().unwrap() {
            let e = self
                .models
                .entry((
                    m["model"].as_str().unwrap().into(),
                    m["speed"].as_str().unwrap().into(),
                ))
                .or_default();
            e.0 += cr(&m["credits"]);
            e.1 += m["text_input_tokens"].as_u64().unwrap();
            e.2 += m["cached_text_input_tokens"].as_u64().unwrap();
            e.3 += m["text_output_tokens"].as_u64().unwrap();
        }
    }
}

/// Per lowercased email, everything the served usage rows add up to.
fn by_email(rows: &[Value]) -> BTreeMap<String, Agg> {
    let mut m: BTreeMap<String, Agg> = BTreeMap::new();
    for r in rows {
        m.entry(row_email(r)).or_default().add_row(r);
    }
    m
}

/// The same, built from the ground truth.
fn truth_by_email(t: &WorkspaceTruth) -> BTreeMap<String, Agg> {
    let mut m: BTreeMap<String, Agg> = BTreeMap::new();
    for u in &t.usage_totals {
        let a = m.entry(u.email.clone()).or_default();
        a.threads = u.threads;
        a.turns = u.turns;
        a.credits = u.credits;
    }
    for c in &t.by_client {
        m.get_mut(&c.email)
            .unwrap()
            .clients
            .insert(c.client_id.clone(), (c.threads, c.turns, c.credits));
    }
    for x in &t.by_model {
        m.get_mut(&x.email).unwrap().models.insert(
            (x.model.clone(), x.speed.clone()),
            (
                x.credits,
                x.text_input_tokens,
                x.cached_text_input_tokens,
                x.text_output_tokens,
            ),
        );
    }
    m
}

fn check_usage_row_shape(r: &Value, width_days: i64) {
    let st = r["start_time"].as_i64().unwrap();
    assert_eq!(st.rem_euclid(DAY), 0);
    assert_eq!(r["end_time"].as_i64().unwrap(), st + width_days * DAY);
    assert!(r["user_id"].as_str().unwrap().starts_with("cgpt-user-"));
    assert!(
        r.get("email").is_some() != r.get("user_email").is_some(),
        "exactly one of email / user_email: {r}"
    );
    assert!(row_email(r).contains('@'));
    let (threads, turns, credits) = (
        r["threads"].as_u64().unwrap(),
        r["turns"].as_u64().unwrap(),
        cr(&r["credits"]),
    );
    assert!(
        threads >= 1 && turns >= threads && credits > Credits::ZERO,
        "{r}"
    );
    let models = r["models"].as_array().unwrap();
    assert!(!models.is_empty());
    let mut model_credits = Credits::ZERO;
    for m in models {
        assert!(["standard", "fast"].contains(&m["speed"].as_str().unwrap()));
        let input = m["text_input_tokens"].as_u64().unwrap();
        assert!(m["cached_text_input_tokens"].as_u64().unwrap() <= input);
        assert!(m["text_output_tokens"].is_u64());
        // Every numeric field of a model entry is credits or a token count.
        for (k, v) in m.as_object().unwrap() {
            if v.is_number() {
                assert!(k == "credits" || k.ends_with("_tokens"), "{k}");
            }
        }
        model_credits += cr(&m["credits"]);
    }
    assert_eq!(model_credits, credits, "models add up to the credits");
    let clients = r["clients"].as_array().unwrap();
    let s = |f: &str| -> u64 { clients.iter().map(|c| c[f].as_u64().unwrap()).sum() };
    let sc: Credits = clients.iter().map(|c| cr(&c["credits"])).sum();
    if width_days == 1 && !clients.is_empty() {
        assert_eq!(
            (s("threads"), s("turns"), sc),
            (threads, turns, credits),
            "{r}"
        );
    } else {
        assert!(s("threads") <= threads && s("turns") <= turns && sc <= credits);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn people_on_both_sides_match_by_email_only() {
    let srv = MockServer::start(config()).await.unwrap();
    let t = srv.workspace_truth();
    assert_eq!(t.workspace_id, srv.workspace_id());
    let id = srv.workspace_id();
    let parts: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12], "{id}");
    assert!(id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()));

    let both = t.emails(Membership::Both);
    let cg = t.emails(Membership::ChatgptOnly);
    let pf = t.emails(Membership::PlatformOnly);
    assert_eq!((both.len(), cg.len(), pf.len()), (18, 12, 22));
    let all: BTreeSet<&String> = t.people.iter().map(|p| &p.email).collect();
    assert_eq!(all.len(), t.people.len(), "emails unique");

    // The Platform's users endpoint agrees with the truth's Platform side.
    let users = get(
        srv.addr(),
        "/v1/organization/users?limit=100",
        Some(&config().admin_key),
    )
    .await
    .json();
    let platform: HashMap<String, String> = users["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["id"].as_str().unwrap().into(),
                u["email"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(platform.len(), 40);
    let mut case_differs = 0;
    for p in &t.people {
        assert_eq!(p.email, p.email.to_lowercase());
        match p.membership {
            Membership::Both => {
                let (cid, ce) = (
                    p.chatgpt_user_id.as_ref().unwrap(),
                    p.chatgpt_email.as_ref().unwrap(),
                );
                let (pid, pe) = (
                    p.platform_user_id.as_ref().unwrap(),
                    p.platform_email.as_ref().unwrap(),
                );
                assert!(cid.starts_with("cgpt-user-") && pid.starts_with("user-"));
                assert_ne!(cid, pid);
                assert_eq!(&platform[pid], pe);
                assert!(ce.eq_ignore_ascii_case(pe));
                if ce != pe {
                    case_differs += 1;
                }
            }
            Membership::ChatgptOnly => {
                assert!(p.platform_user_id.is_none() && p.platform_email.is_none());
                assert!(p.chatgpt_user_id.is_some());
                assert!(!platform
                    .values()
                    .any(|e| e.eq_ignore_ascii_case(p.chatgpt_email.as_ref().unwrap())));
            }
            Membership::PlatformOnly => {
                assert!(p.chatgpt_user_id.is_none() && p.chatgpt_email.is_none());
                assert_eq!(&platform[p.platform_user_id.as_ref().unwrap()], &p.email);
            }
        }
    }
    assert!(
        case_differs >= 5,
        "only {case_differs} emails differ in case"
    );
    assert!(t
        .people
        .iter()
        .filter_map(|p| p.chatgpt_email.as_deref())
        .any(|e| e.contains("@Example.com") && e.chars().next().unwrap().is_uppercase()));
    assert!(t.person("ADA.x@nowhere").is_none());
    let someone = &both[0];
    assert_eq!(t.person(&someone.to_uppercase()).unwrap().email, *someone);

    // The Platform side of the truth is the Platform ground truth by owner email.
    let gt = srv.ground_truth();
    let mut want: BTreeMap<String, [u64; 4]> = BTreeMap::new();
    for r in gt.rows.iter().filter(|r| r.user_id.is_some()) {
        let e = want.entry(r.user_email.clone().unwrap()).or_default();
        e[0] += r.input_tokens;
        e[1] += r.cached_input_tokens;
        e[2] += r.output_tokens;
        e[3] += r.requests;
    }
    let got: BTreeMap<String, [u64; 4]> = t
        .platform
        .iter()
        .map(|p| {
            assert_eq!(platform[&p.platform_user_id], p.email);
            (
                p.email.clone(),
                [
                    p.input_tokens,
                    p.cached_input_tokens,
                    p.output_tokens,
                    p.requests,
                ],
            )
        })
        .collect();
    assert_eq!(got, want);

    // Every workspace person with usage is a Both or ChatGPT-only person.
    for u in &t.usage_totals {
        let p = t.person(&u.email).unwrap();
        assert_ne!(p.membership, Membership::PlatformOnly);
        assert_eq!(p.chatgpt_user_id.as_ref(), Some(&u.chatgpt_user_id));
    }
    assert!(srv.dataset_summary().contains("chatgpt workspace"));
    assert!(srv.dataset_summary().contains(srv.workspace_id()));
    assert!(srv
        .dataset_summary()
        .contains("shared with the platform 18"));
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_paged_to_the_end_equals_the_ground_truth() {
    let srv = MockServer::start(config()).await.unwrap();
    let t = srv.workspace_truth();
    assert_eq!(t.first_day, "2025-10-04");
    assert_eq!(t.last_day, "2026-01-01");
    let q = format!("start_time={HORIZON}&end_time={NOW}&group_by=day&limit=100");
    let pages = fetch_pages(&srv, "usage", &q, "page").await;
    let all = rows(&pages);
    assert_eq!(all.len(), t.daily.len());
    assert!(all.len() > 1000, "{}", all.len());
    assert_eq!(pages.len(), all.len().div_ceil(100));
    for p in &pages[..pages.len() - 1] {
        assert_eq!(p["data"].as_array().unwrap().len(), 100);
        assert_eq!(p["has_more"], true);
        assert!(p["next_page"].as_str().unwrap().len() >= 16);
        assert!(p.get("next_cursor").is_none());
    }
    let last = pages.last().unwrap();
    assert_eq!(last["has_more"], false);
    assert!(last["next_page"].is_null());

    // Shapes and quirks.
    let mut keys = BTreeSet::new();
    let mut seen_days = BTreeSet::new();
    let (mut user_email, mut unknown_fields, mut empty_clients, mut future) = (0, 0, 0, 0);
    let mut prev: Option<(i64, String)> = None;
    for r in &all {
        check_usage_row_shape(r, 1);
        let st = r["start_time"].as_i64().unwrap();
        assert!((HORIZON - DAY..=TODAY).contains(&st));
        seen_days.insert(st);
        assert!(
            keys.insert((st, r["user_id"].as_str().unwrap().to_string())),
            "a row served twice"
        );
        if let Some((ps, _)) = &prev {
            assert!(*ps <= st, "rows in period order");
        }
        prev = Some((st, r["user_id"].as_str().unwrap().into()));
        user_email += usize::from(r.get("user_email").is_some());
        if r.get("seat_type").is_some() {
            unknown_fields += 1;
            assert!(r["x_rollup"].is_object());
        }
        let clients = r["clients"].as_array().unwrap();
        if clients.is_empty() {
            empty_clients += 1;
            assert!(r["threads"].as_u64().unwrap() > 0);
            assert!(cr(&r["credits"]) > Credits::ZERO);
        }
        future += clients
            .iter()
            .filter(|c| c["client_id"] == "CODEX_FUTURE_SURFACE")
            .count();
    }
    eprintln!(
        "{} rows: user_email {user_email}, unknown fields {unknown_fields}, empty clients {empty_clients}, CODEX_FUTURE_SURFACE {future}",
        all.len()
    );
    assert!(user_email > 20 && user_email < all.len() / 2);
    assert!(unknown_fields > 20);
    assert!(empty_clients > 10);
    assert!(future > 0);
    assert_eq!(seen_days.len(), 90);

    // Ground truth: per email totals, per client, per model+speed.
    let got = by_email(&all);
    let want = truth_by_email(&t);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);
    // Per day too.
    let mut daily: BTreeMap<(String, String), (u64, u64, Credits, bool)> = BTreeMap::new();
    for r in &all {
        daily.insert(
            (day_string(r["start_time"].as_i64().unwrap()), row_email(r)),
            (
                r["threads"].as_u64().unwrap(),
                r["turns"].as_u64().unwrap(),
                cr(&r["credits"]),
                !r["clients"].as_array().unwrap().is_empty(),
            ),
        );
    }
    let want_daily: BTreeMap<(String, String), (u64, u64, Credits, bool)> = t
        .daily
        .iter()
        .map(|d| {
            (
                (d.day.clone(), d.email.clone()),
                (d.threads, d.turns, d.credits, d.clients_listed),
            )
        })
        .collect();
    assert_eq!(daily, want_daily);
    // Unlisted parts: the client rows add up to the totals minus the unlisted part.
    for u in &t.usage_totals {
        let (th, tu, c) = t
            .by_client
            .iter()
            .filter(|c| c.email == u.email)
            .fold((0, 0, Credits::ZERO), |a, c| {
                (a.0 + c.threads, a.1 + c.turns, a.2 + c.credits)
            });
        assert_eq!(th + u.unlisted_threads, u.threads);
        assert_eq!(tu + u.unlisted_turns, u.turns);
        assert_eq!(c + u.unlisted_credits, u.credits);
        let tok: u64 = t
            .by_model
            .iter()
            .filter(|m| m.email == u.email)
            .map(|m| m.text_input_tokens)
            .sum();
        assert_eq!(tok, u.text_input_tokens);
    }
    // Credits are exact multiples of a quarter and some are fractional.
    assert!(t.usage_totals.iter().any(|u| u.credits.quarters() % 4 != 0));
    let f64_sum: f64 = all.iter().map(|r| r["credits"].as_f64().unwrap()).sum();
    assert_eq!(f64_sum, t.total_credits().as_f64(), "f64 sums are exact");

    // Default limit 30; other page sizes give the same rows.
    let p30 = fetch_pages(&srv, "usage", &format!("start_time={HORIZON}"), "page").await;
    assert_eq!(p30[0]["data"].as_array().unwrap().len(), 30);
    assert_eq!(rows(&p30), all);
    let p7 = fetch_pages(
        &srv,
        "usage",
        &format!("start_time={}&limit=7", TODAY - 5 * DAY),
        "page",
    )
    .await;
    let tail: Vec<Value> = all
        .iter()
        .filter(|r| r["start_time"].as_i64().unwrap() >= TODAY - 5 * DAY)
        .cloned()
        .collect();
    assert_eq!(rows(&p7), tail);
    let p1 = fetch_pages(
        &srv,
        "usage",
        &format!("start_time={}&limit=1", TODAY - DAY),
        "page",
    )
    .await;
    assert!(p1.len() > 2);
    assert_eq!(
        rows(&p1),
        all.iter()
            .filter(|r| r["start_time"].as_i64().unwrap() >= TODAY - DAY)
            .cloned()
            .collect::<Vec<_>>()
    );
    // A range in the middle: end_time is exclusive.
    let mid = rows(
        &fetch_pages(
            &srv,
            "usage",
            &format!(
                "start_time={}&end_time={}&limit=100",
                TODAY - 10 * DAY,
                TODAY - 8 * DAY
            ),
            "page",
        )
        .await,
    );
    assert!(!mid.is_empty());
    assert!(mid.iter().all(|r| {
        let s = r["start_time"].as_i64().unwrap();
        s == TODAY - 10 * DAY || s == TODAY - 9 * DAY
    }));
    srv.shutdown().await;
}

fn day_string(ts: i64) -> String {
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

#[tokio::test(flavor = "multi_thread")]
async fn next_cursor_switch_pages_the_same_rows() {
    let srv = MockServer::start(config()).await.unwrap();
    let alt = MockServer::start(MockConfig {
        cursor_field_next_cursor: true,
        ..config()
    })
    .await
    .unwrap();
    let q = format!("start_time={}&limit=50", TODAY - 20 * DAY);
    let a = fetch_pages(&srv, "usage", &q, "page").await;
    let b = fetch_pages(&alt, "usage", &q, "page").await;
    let c = fetch_pages(&alt, "usage", &q, "cursor").await;
    assert!(a.len() >= 3);
    for p in &b {
        assert!(p.get("next_page").is_none(), "next_page absent");
        assert!(p.get("next_cursor").is_some());
    }
    assert!(b[0]["next_cursor"].is_string());
    assert!(b.last().unwrap()["next_cursor"].is_null());
    assert_eq!(rows(&a), rows(&b));
    assert_eq!(rows(&a), rows(&c));
    for ep in ["code_reviews", "code_review_responses"] {
        let x = fetch_pages(&srv, ep, &format!("{q}&limit=5"), "page").await;
        let y = fetch_pages(&alt, ep, &format!("{q}&limit=5"), "page").await;
        assert!(x.len() > 1);
        assert_eq!(rows(&x), rows(&y));
        assert!(y[0]["next_cursor"].is_string());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn week_grouping_equals_the_sum_of_days() {
    let srv = MockServer::start(config()).await.unwrap();
    let q = |g: &str| format!("start_time={HORIZON}&group_by={g}&limit=100");
    let days = rows(&fetch_pages(&srv, "usage", &q("day"), "page").await);
    let weeks = rows(&fetch_pages(&srv, "usage", &q("week"), "page").await);
    assert!(weeks.len() < days.len());
    let mut want: BTreeMap<(i64, String), Agg> = BTreeMap::new();
    for r in &days {
        let d = r["start_time"].as_i64().unwrap() / DAY;
        want.entry((monday(d), r["user_id"].as_str().unwrap().into()))
            .or_default()
            .add_row(r);
    }
    let mut got: BTreeMap<(i64, String), Agg> = BTreeMap::new();
    for r in &weeks {
        check_usage_row_shape(r, 7);
        let d = r["start_time"].as_i64().unwrap() / DAY;
        assert_eq!(monday(d), d, "weeks start on Monday");
        let prev = got.insert((d, r["user_id"].as_str().unwrap().into()), {
            let mut a = Agg::default();
            a.add_row(r);
            a
        });
        assert!(prev.is_none());
    }
    assert_eq!(got, want);
    // 2025-09-29 (Monday holding the first data day) .. the week of today: 14 weeks.
    let starts: BTreeSet<i64> = weeks
        .iter()
        .map(|r| r["start_time"].as_i64().unwrap())
        .collect();
    assert_eq!(starts.len(), 14);
    assert_eq!(*starts.last().unwrap(), TODAY - 3 * DAY);
    assert_eq!(day_string(*starts.first().unwrap()), "2025-09-29");

    // Code reviews and responses too, on a Monday-aligned range.
    let (from, to) = (TODAY - 3 * DAY - 28 * DAY, TODAY - 3 * DAY);
    for ep in ["code_reviews", "code_review_responses"] {
        let q = |g: &str| format!("start_time={from}&end_time={to}&group_by={g}&limit=100");
        let d = rows(&fetch_pages(&srv, ep, &q("day"), "page").await);
        let w = rows(&fetch_pages(&srv, ep, &q("week"), "page").await);
        let mut want: BTreeMap<(i64, String), BTreeMap<String, u64>> = BTreeMap::new();
        for r in &d {
            let k = (
                monday(r["start_time"].as_i64().unwrap() / DAY),
                r["user_id"].as_str().unwrap().to_string(),
            );
            let e = want.entry(k).or_default();
            for (n, v) in counts(r) {
                *e.entry(n).or_default() += v;
            }
        }
        let got: BTreeMap<(i64, String), BTreeMap<String, u64>> = w
            .iter()
            .map(|r| {
                assert_eq!(
                    r["end_time"].as_i64().unwrap() - r["start_time"].as_i64().unwrap(),
                    7 * DAY
                );
                (
                    (
                        r["start_time"].as_i64().unwrap() / DAY,
                        r["user_id"].as_str().unwrap().to_string(),
                    ),
                    counts(r),
                )
            })
            .collect();
        assert_eq!(got.len(), w.len());
        assert!(!got.is_empty());
        assert_eq!(got, want, "{ep}");
    }
}

/// Every count of a code-review / response row, nested counts flattened with `_`.
fn counts(r: &Value) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for (k, v) in r.as_object().unwrap() {
        if ["start_time", "end_time"].contains(&k.as_str()) {
            continue;
        }
        if let Some(n) = v.as_u64() {
            out.insert(k.clone(), n);
        } else if let Some(o) = v.as_object() {
            for (k2, v2) in o {
                if let Some(n) = v2.as_u64() {
                    out.insert(format!("{k}_{k2}"), n);
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn code_reviews_and_responses_equal_the_ground_truth() {
    let srv = MockServer::start(config()).await.unwrap();
    let t = srv.workspace_truth();
    let q = format!("start_time={HORIZON}&limit=100");
    let reviews = rows(&fetch_pages(&srv, "code_reviews", &q, "page").await);
    let responses = rows(&fetch_pages(&srv, "code_review_responses", &q, "page").await);
    assert!(reviews.len() > 100 && responses.len() > 100);
    let mut extra = 0;
    for r in &reviews {
        assert_eq!(
            r["end_time"].as_i64().unwrap() - r["start_time"].as_i64().unwrap(),
            DAY
        );
        assert!(r["user_id"].as_str().unwrap().starts_with("cgpt-user-"));
        assert!(r["email"].is_string());
        let p = &r["comments_by_priority"];
        let sum = p["P0"].as_u64().unwrap() + p["P1"].as_u64().unwrap() + p["P2"].as_u64().unwrap();
        assert_eq!(sum, r["comments_generated"].as_u64().unwrap());
        assert!(r["prs_reviewed"].as_u64().unwrap() >= 1);
        extra += usize::from(r.get("review_surface").is_some());
    }
    assert!(extra > 0, "some rows carry an unknown field");
    for r in &responses {
        for k in ["replies", "comments_with_reply", "comments_with_reaction"] {
            assert!(r[k].is_u64(), "{k}");
        }
        for k in ["positive", "negative", "other"] {
            assert!(r["reactions"][k].is_u64(), "{k}");
        }
        assert!(r["email"].is_string());
    }
    let sum = |rows: &[Value]| {
        let mut m: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for r in rows {
            let e = m.entry(row_email(r)).or_default();
            for (k, v) in counts(r) {
                *e.entry(k).or_default() += v;
            }
        }
        m
    };
    let want_reviews: BTreeMap<String, BTreeMap<String, u64>> = t
        .code_reviews
        .iter()
        .map(|c| (c.email.clone(), c.counts()))
        .collect();
    let want_responses: BTreeMap<String, BTreeMap<String, u64>> = t
        .code_review_responses
        .iter()
        .map(|c| (c.email.clone(), c.counts()))
        .collect();
    assert_eq!(sum(&reviews), want_reviews);
    assert_eq!(sum(&responses), want_responses);
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_errors_and_parameter_errors() {
    let cfg = config();
    let admin = cfg.admin_key.clone();
    assert!(!format!("{cfg:?}").contains(KEY));
    assert!(!format!("{cfg:?}").contains(NO_SCOPE_KEY));
    let srv = MockServer::start(cfg).await.unwrap();
    let a = srv.addr();
    let ok = path(&srv, "usage", &format!("start_time={}", TODAY - DAY));
    assert_eq!(get(a, &ok, Some(KEY)).await.status, 200);

    let r = get(a, &ok, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"detail": "Not authenticated"}));
    let r = get(a, &ok, Some("sk-cgpt-wrongwrongwrong")).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json(), json!({"detail": "Invalid API key"}));
    assert!(r.header("x-request-id").is_some());
    let missing = json!({"detail": "Missing scope: codex.enterprise.analytics.read"});
    for k in [admin.as_str(), USAGE_KEY, PROJ_KEY, NO_SCOPE_KEY] {
        for ep in ["usage", "code_reviews", "code_review_responses"] {
            let r = get(
                a,
                &path(&srv, ep, &format!("start_time={}", TODAY - DAY)),
                Some(k),
            )
            .await;
            assert_eq!(r.status, 403, "{ep}");
            assert_eq!(r.json(), missing);
        }
    }
    // The analytics keys are unknown to the Platform endpoints.
    for k in [KEY, NO_SCOPE_KEY] {
        for p in [
            "/v1/organization/users".to_string(),
            format!(
                "/v1/organization/usage/completions?start_time={}",
                TODAY - DAY
            ),
        ] {
            let r = get(a, &p, Some(k)).await;
            assert_eq!(r.status, 401, "{p}");
            assert_eq!(r.json()["error"]["code"], "invalid_api_key");
        }
    }
    assert_eq!(
        get(a, "/v1/organization/users", Some(&admin)).await.status,
        200
    );

    // Unknown workspace and unknown endpoints.
    let r = get(
        a,
        &format!(
            "/v1/analytics/codex/workspaces/00000000-0000-4000-8000-000000000000/usage?start_time={}",
            TODAY - DAY
        ),
        Some(KEY),
    )
    .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"detail": "Workspace not found"}));
    let r = get(a, &path(&srv, "sessions", "start_time=1"), Some(KEY)).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.json(), json!({"detail": "Not Found"}));
    // The same workspace id in upper case is the same workspace.
    let upper = format!(
        "/v1/analytics/codex/workspaces/{}/usage?start_time={}",
        srv.workspace_id().to_uppercase(),
        TODAY - DAY
    );
    assert_eq!(get(a, &upper, Some(KEY)).await.status, 200);

    // 422s.
    let u = |q: String| path(&srv, "usage", &q);
    let cases: Vec<(String, &str, &str)> = vec![
        (
            u(format!("start_time={}", HORIZON - 1)),
            "start_time",
            "value_error",
        ),
        (
            u(format!("start_time={}", NOW - 400 * DAY)),
            "start_time",
            "value_error",
        ),
        (
            u(format!("start_time={}&end_time={}", TODAY, TODAY)),
            "end_time",
            "value_error",
        ),
        (
            u(format!("start_time={}&end_time={}", TODAY, TODAY - DAY)),
            "end_time",
            "value_error",
        ),
        (
            u(format!("start_time={TODAY}&group_by=month")),
            "group_by",
            "enum",
        ),
        (
            u(format!("start_time={TODAY}&limit=0")),
            "limit",
            "greater_than_equal",
        ),
        (
            u(format!("start_time={TODAY}&limit=101")),
            "limit",
            "less_than_equal",
        ),
        (
            u(format!("start_time={TODAY}&limit=ten")),
            "limit",
            "int_parsing",
        ),
        (u("limit=10".to_string()), "start_time", "missing"),
        (
            u("start_time=yesterday".to_string()),
            "start_time",
            "int_parsing",
        ),
        (
            u(format!("start_time={TODAY}&page=garbage")),
            "page",
            "value_error",
        ),
        (
            u(format!("start_time={TODAY}&page=0123456789abcdef01234567")),
            "page",
            "value_error",
        ),
    ];
    for (p, loc, ty) in &cases {
        let r = get(a, p, Some(KEY)).await;
        assert_eq!(r.status, 422, "{p}");
        let v = r.json();
        let d = v["detail"].as_array().unwrap_or_else(|| panic!("{p}: {v}"));
        assert_eq!(d.len(), 1, "{p}: {v}");
        let mut keys: Vec<&String> = d[0].as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["loc", "msg", "type"]);
        assert_eq!(d[0]["loc"], json!(["query", loc]), "{p}");
        assert_eq!(d[0]["type"], *ty, "{p}");
        assert!(d[0]["msg"].as_str().unwrap().len() > 5);
    }
    // Several problems at once are all reported.
    let r = get(
        a,
        &u("start_time=x&group_by=year&limit=1000".into()),
        Some(KEY),
    )
    .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"].as_array().unwrap().len(), 3);
    // The horizon itself is fine; so is the 90-day message naming the rule.
    assert_eq!(
        get(a, &u(format!("start_time={HORIZON}")), Some(KEY))
            .await
            .status,
        200
    );
    let r = get(a, &u(format!("start_time={}", HORIZON - 1)), Some(KEY))
        .await
        .json();
    assert!(r["detail"][0]["msg"].as_str().unwrap().contains("90 days"));
    // A cursor belongs to its endpoint and grouping.
    let p = get(a, &u(format!("start_time={HORIZON}&limit=5")), Some(KEY))
        .await
        .json();
    let c = p["next_page"].as_str().unwrap().to_string();
    let r = get(
        a,
        &path(
            &srv,
            "code_reviews",
            &format!("start_time={HORIZON}&page={c}"),
        ),
        Some(KEY),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = get(
        a,
        &u(format!("start_time={HORIZON}&group_by=week&page={c}")),
        Some(KEY),
    )
    .await;
    assert_eq!(r.status, 422);
    let r = get(
        a,
        &u(format!("start_time={HORIZON}&limit=5&page={c}")),
        Some(KEY),
    )
    .await;
    assert_eq!(r.status, 200);

    // Without an analytics key configured, no key is accepted there.
    let none = MockServer::start(MockConfig {
        analytics_key: None,
        ..config()
    })
    .await
    .unwrap();
    let r = get(
        none.addr(),
        &path(&none, "usage", &format!("start_time={TODAY}")),
        Some(KEY),
    )
    .await;
    assert_eq!(r.status, 401);
    let dump = format!("{:?}", srv.requests());
    assert!(!dump.contains("sk-"));
}

#[tokio::test(flavor = "multi_thread")]
async fn faults_apply_to_analytics_paths() {
    let srv = MockServer::start(config()).await.unwrap();
    let a = srv.addr();
    let p = path(
        &srv,
        "usage",
        &format!("start_time={}&limit=5", TODAY - 3 * DAY),
    );
    let normal = get(a, &p, Some(KEY)).await;
    srv.inject(FaultRule {
        path_contains: Some("/v1/analytics/codex/".into()),
        skip: 0,
        times: 2,
        fault: Fault::Status {
            status: 429,
            retry_after: Some("3".into()),
        },
    });
    // Refusals are not faulted and use no budget; Platform paths do not match.
    assert_eq!(get(a, &p, Some("nope")).await.status, 401);
    assert_eq!(get(a, &p, Some(PROJ_KEY)).await.status, 403);
    assert_eq!(
        get(a, "/v1/organization/users", Some(&config().admin_key))
            .await
            .status,
        200
    );
    for _ in 0..2 {
        let r = get(a, &p, Some(KEY)).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("3"));
        assert!(r.json()["detail"].is_string());
    }
    let r = get(a, &p, Some(KEY)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, normal.body);
    assert_eq!(srv.faults_served(), 2);

    // 5xx, a truncated body and unknown fields everywhere.
    srv.inject(FaultRule {
        path_contains: Some("/code_reviews".into()),
        skip: 0,
        times: 1,
        fault: Fault::Status {
            status: 503,
            retry_after: None,
        },
    });
    let cr = path(
        &srv,
        "code_reviews",
        &format!("start_time={}", TODAY - 3 * DAY),
    );
    assert_eq!(get(a, &cr, Some(KEY)).await.status, 503);
    assert_eq!(get(a, &cr, Some(KEY)).await.status, 200);
    srv.inject(FaultRule {
        path_contains: None,
        skip: 0,
        times: 1,
        fault: Fault::TruncatedJson,
    });
    let r = get(a, &p, Some(KEY)).await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    srv.inject(FaultRule {
        path_contains: Some("usage".into()),
        skip: 0,
        times: 1,
        fault: Fault::Shape(ShapeChange::UnknownFields),
    });
    let v = get(a, &p, Some(KEY)).await.json();
    assert!(v["x_mock_unknown_string"].is_string());
    assert!(v["data"][0]["models"][0]["x_mock_unknown_bool"].is_boolean());
    srv.inject(FaultRule {
        path_contains: Some("usage".into()),
        skip: 0,
        times: 1,
        fault: Fault::Shape(ShapeChange::WrongType),
    });
    let v = get(a, &p, Some(KEY)).await.json();
    assert!(v["data"][0]["credits"].is_string());
    // Faults apply to the 404 / 422 answers too.
    srv.inject(FaultRule {
        path_contains: Some("analytics".into()),
        skip: 0,
        times: 1,
        fault: Fault::Status {
            status: 500,
            retry_after: None,
        },
    });
    let bad = path(&srv, "usage", "start_time=1");
    assert_eq!(get(a, &bad, Some(KEY)).await.status, 500);
    assert_eq!(get(a, &bad, Some(KEY)).await.status, 422);
}

#[tokio::test(flavor = "multi_thread")]
async fn late_changes_alter_recent_rows_and_the_truth() {
    let srv = MockServer::start(config()).await.unwrap();
    let before = srv.workspace_truth();
    let platform_before = srv.ground_truth();
    let q = format!("start_time={HORIZON}&limit=100");
    let rows_before = rows(&fetch_pages(&srv, "usage", &q, "page").await);
    assert!(!before
        .by_client
        .iter()
        .any(|c| c.client_id == "CODEX_WORK_MOBILE"));

    srv.change_recent_workspace_days(3);

    let after = srv.workspace_truth();
    let rows_after = rows(&fetch_pages(&srv, "usage", &q, "page").await);
    assert_eq!(
        srv.ground_truth(),
        platform_before,
        "Platform side untouched"
    );
    assert_eq!(after.platform, before.platform);
    assert_eq!(after.people, before.people);
    let cut = day_string(TODAY - 2 * DAY);
    let old = |t: &WorkspaceTruth| -> Vec<_> {
        t.daily.iter().filter(|d| d.day < cut).cloned().collect()
    };
    assert_eq!(old(&before), old(&after), "older days unchanged");
    let recent = |t: &WorkspaceTruth| -> BTreeMap<(String, String), (u64, Credits)> {
        t.daily
            .iter()
            .filter(|d| d.day >= cut)
            .map(|d| ((d.day.clone(), d.email.clone()), (d.turns, d.credits)))
            .collect()
    };
    let (rb, ra) = (recent(&before), recent(&after));
    assert!(ra.len() >= rb.len() + 3, "a new row on each changed day");
    for (k, (turns, credits)) in &rb {
        let (t2, c2) = ra[k];
        assert!(t2 > *turns && c2 > *credits, "{k:?} grew");
    }
    assert!(after.total_credits() > before.total_credits());
    let tok =
        |t: &WorkspaceTruth| -> u64 { t.usage_totals.iter().map(|u| u.text_input_tokens).sum() };
    assert!(tok(&after) > tok(&before));
    let mobile: Vec<_> = after
        .by_client
        .iter()
        .filter(|c| c.client_id == "CODEX_WORK_MOBILE")
        .collect();
    assert_eq!(mobile.len(), 1, "a new client for someone");
    let rv = |t: &WorkspaceTruth| -> u64 { t.code_reviews.iter().map(|c| c.prs_reviewed).sum() };
    assert!(rv(&after) > rv(&before));
    let rp =
        |t: &WorkspaceTruth| -> u64 { t.code_review_responses.iter().map(|c| c.replies).sum() };
    assert!(rp(&after) > rp(&before));

    // The served rows: old ones identical, recent ones changed, and they equal the truth.
    let old_rows = |rs: &[Value]| -> Vec<Value> {
        rs.iter()
            .filter(|r| r["start_time"].as_i64().unwrap() < TODAY - 2 * DAY)
            .cloned()
            .collect()
    };
    assert_eq!(old_rows(&rows_before), old_rows(&rows_after));
    assert_ne!(rows_before, rows_after);
    assert_eq!(by_email(&rows_after), truth_by_email(&after));
    let reviews = rows(&fetch_pages(&srv, "code_reviews", &q, "page").await);
    let s: u64 = reviews
        .iter()
        .map(|r| r["prs_reviewed"].as_u64().unwrap())
        .sum();
    assert_eq!(s, rv(&after));

    // A second change moves things again; zero days changes nothing.
    srv.change_recent_workspace_days(1);
    let again = srv.workspace_truth();
    assert!(again.total_credits() > after.total_credits());
    srv.change_recent_workspace_days(0);
    assert_eq!(srv.workspace_truth(), again);
}

#[tokio::test(flavor = "multi_thread")]
async fn deterministic_and_the_platform_side_is_unchanged() {
    let a = MockServer::start(config()).await.unwrap();
    let b = MockServer::start(config()).await.unwrap();
    assert_eq!(a.workspace_truth(), b.workspace_truth());
    let c = MockServer::start(MockConfig {
        seed: 9,
        ..config()
    })
    .await
    .unwrap();
    assert_ne!(a.workspace_truth().daily, c.workspace_truth().daily);

    // The workspace's size does not touch the Platform data.
    let small = MockServer::start(MockConfig {
        chatgpt_users: 0,
        shared_users: 0,
        ..config()
    })
    .await
    .unwrap();
    let big = MockServer::start(MockConfig {
        chatgpt_users: 200,
        shared_users: 1000,
        ..config()
    })
    .await
    .unwrap();
    assert_eq!(small.ground_truth(), a.ground_truth());
    assert_eq!(big.ground_truth(), a.ground_truth());
    let st = small.workspace_truth();
    assert!(st.usage_totals.is_empty() && st.daily.is_empty());
    assert_eq!(st.emails(Membership::PlatformOnly).len(), 40);
    let r = get(
        small.addr(),
        &path(&small, "usage", &format!("start_time={HORIZON}")),
        Some(KEY),
    )
    .await
    .json();
    assert_eq!(r, json!({"data": [], "has_more": false, "next_page": null}));
    let bt = big.workspace_truth();
    assert_eq!(
        bt.emails(Membership::Both).len(),
        40,
        "shared clamps to users"
    );
    assert_eq!(bt.emails(Membership::ChatgptOnly).len(), 160);
    assert!(bt.emails(Membership::PlatformOnly).is_empty());
    let emails: BTreeSet<&String> = bt.people.iter().map(|p| &p.email).collect();
    assert_eq!(emails.len(), 200);

    // Defaults: a seeded analytics key and workspace id; the base URLs.
    let d = MockConfig::default();
    assert!(d.analytics_key.as_deref().unwrap().starts_with("sk-cgpt-"));
    assert_ne!(d.analytics_key.as_deref(), Some(d.admin_key.as_str()));
    assert!(d.analytics_key_without_scope.is_none());
    assert!(!d.cursor_field_next_cursor);
    assert_eq!(d.workspace_id, MockConfig::default().workspace_id);
    assert_eq!(
        a.analytics_base_url(),
        format!("{}/v1/analytics/codex", a.base_url())
    );

    // The truth round-trips through JSON (credits as numbers).
    let t = a.workspace_truth();
    let p = std::env::temp_dir().join(format!("openai-mock-ws-{}.json", std::process::id()));
    t.write_json(&p).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::remove_file(&p).ok();
    assert!(text.contains("\"membership\": \"chatgpt_only\""));
    let back: WorkspaceTruth = serde_json::from_str(&text).unwrap();
    assert_eq!(back, t);
}

#[test]
fn credits_are_exact() {
    let c = Credits::from_quarters(49);
    assert_eq!(c.as_f64(), 12.25);
    assert_eq!(c.to_string(), "12.25");
    assert_eq!(Credits::from_quarters(32).to_string(), "8");
    assert_eq!(Credits::from_f64(0.75), Some(Credits::from_quarters(3)));
    assert_eq!(Credits::from_f64(0.1), None);
    assert_eq!(Credits::from_f64(-1.0), None);
    assert_eq!(serde_json::to_string(&c).unwrap(), "12.25");
    assert_eq!(
        serde_json::from_str::<Credits>("8").unwrap(),
        Credits::from_quarters(32)
    );
    assert!(serde_json::from_str::<Credits>("0.3").is_err());
    let s: Credits = (1..=10).map(Credits::from_quarters).sum();
    assert_eq!(s.quarters(), 55);
}
