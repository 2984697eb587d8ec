//! Black-box tests of the mock over real loopback HTTP (hand-written HTTP/1.1 client).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use openai_mock::{GroundTruth, MockConfig, MockServer, PermissionErrorStyle};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// 2026-01-01T10:02:03Z
const NOW: i64 = 1_767_225_600 + 10 * 3600 + 123;
const TODAY: i64 = 1_767_225_600;
const DAY: i64 = 86_400;

const USAGE_KEY: &str = "sk-admin-usageonlyusageonlyusageonly0001";
const DIR_KEY: &str = "sk-admin-directoryonlydirectoryonly00002";
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

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let size_str = std::str::from_utf8(&b[..nl]).unwrap();
        let size = usize::from_str_radix(size_str.split(';').next().unwrap().trim(), 16).unwrap();
        b = &b[nl + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

async fn get(addr: SocketAddr, path_and_query: &str, key: Option<&str>) -> Resp {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req = format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: application/json\r\n"
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
    let raw = &buf[split + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(raw) } else { raw.to_vec() };
    Resp {
        status,
        headers,
        body,
    }
}

fn config() -> MockConfig {
    MockConfig {
        now: Some(NOW),
        usage_only_admin_key: Some(USAGE_KEY.into()),
        directory_only_admin_key: Some(DIR_KEY.into()),
        project_key: Some(PROJ_KEY.into()),
        ..MockConfig::default()
    }
}

fn day_of(ts: i64) -> String {
    // Days since epoch -> YYYY-MM-DD (Howard Hinnant's civil_from_days).
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

type Key = (String, Option<String>, String, String, String);

/// Fetch every page of a 1d usage report grouped like the connector does.
async fn fetch_all(
    addr: SocketAddr,
    key: &str,
    start: i64,
    extra: &str,
) -> (Vec<Value>, Vec<Value>) {
    let mut pages = Vec::new();
    let mut buckets = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = format!(
            "/v1/organization/usage/completions?start_time={start}&bucket_width=1d&limit=31\
             &group_by=user_id&group_by=api_key_id&group_by=project_id&group_by=model{extra}"
        );
        if let Some(c) = &cursor {
            q.push_str(&format!("&page={c}"));
        }
        let r = get(addr, &q, Some(key)).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        buckets.extend(v["data"].as_array().unwrap().iter().cloned());
        let more = v["has_more"].as_bool().unwrap();
        cursor = v["next_page"].as_str().map(str::to_string);
        pages.push(v);
        if !more {
            break;
        }
        assert!(pages.len() < 20, "runaway pagination");
    }
    (pages, buckets)
}

fn sum_buckets(buckets: &[Value]) -> BTreeMap<Key, [u64; 4]> {
    let mut m: BTreeMap<Key, [u64; 4]> = BTreeMap::new();
    for b in buckets {
        let day = day_of(b["start_time"].as_i64().unwrap());
        for r in b["results"].as_array().unwrap() {
            assert_eq!(r["object"], "organization.usage.completions.result");
            for f in ["batch", "service_tier"] {
                assert!(r.get(f).unwrap().is_null(), "{f} should be null");
            }
            assert_eq!(r["input_audio_tokens"], 0);
            assert_eq!(r["output_audio_tokens"], 0);
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

fn truth_map(gt: &GroundTruth) -> BTreeMap<Key, [u64; 4]> {
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

#[tokio::test(flavor = "multi_thread")]
async fn usage_pages_sum_to_ground_truth() {
    let cfg = config();
    let admin = cfg.admin_key.clone();
    let srv = MockServer::start(cfg).await.unwrap();
    let start = TODAY - 89 * DAY;
    let (pages, buckets) = fetch_all(srv.addr(), &admin, start, "").await;

    assert_eq!(pages.len(), 3);
    let counts: Vec<usize> = pages
        .iter()
        .map(|p| p["data"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, vec![31, 31, 28]);
    assert_eq!(pages[0]["object"], "page");
    assert_eq!(pages[0]["has_more"], true);
    assert_eq!(pages[1]["has_more"], true);
    assert_eq!(pages[2]["has_more"], false);
    assert!(pages[0]["next_page"].is_string());
    assert_ne!(pages[0]["next_page"], pages[1]["next_page"]);
    assert!(pages[2]["next_page"].is_null());
    for (i, b) in buckets.iter().enumerate() {
        assert_eq!(b["object"], "bucket");
        assert_eq!(b["start_time"].as_i64().unwrap(), start + i as i64 * DAY);
        assert_eq!(
            b["end_time"].as_i64().unwrap(),
            start + (i as i64 + 1) * DAY
        );
    }
    assert_eq!(
        buckets.last().unwrap()["start_time"].as_i64().unwrap(),
        TODAY
    );

    let gt = srv.ground_truth();
    assert!(gt.rows.len() > 1000, "only {} truth rows", gt.rows.len());
    assert_eq!(gt.rows.first().unwrap().day, day_of(start));
    assert_eq!(gt.rows.last().unwrap().day, "2026-01-01");
    assert!(
        gt.rows.iter().any(|r| r.user_id.is_none()),
        "no service-account rows"
    );
    assert!(gt.rows.iter().any(|r| r.model.contains("codex")));
    assert!(gt
        .rows
        .iter()
        .all(|r| r.cached_input_tokens <= r.input_tokens && r.requests >= 1));
    let got = sum_buckets(&buckets);
    let want = truth_map(&gt);
    assert_eq!(got.len(), want.len());
    assert_eq!(got, want);

    // Sorted as documented.
    let mut sorted = gt.rows.clone();
    sorted.sort_by(|a, b| (&a.day, &a.user_id, &a.model).cmp(&(&b.day, &b.user_id, &b.model)));
    assert_eq!(sorted, gt.rows);

    // Emails are consistent with the users endpoint.
    let users = get(srv.addr(), "/v1/organization/users?limit=100", Some(&admin))
        .await
        .json();
    let emails: HashMap<String, String> = users["data"]
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
    for r in &gt.rows {
        if let Some(u) = &r.user_id {
            assert_eq!(Some(&emails[u]), r.user_email.as_ref());
        }
    }

    // write_json round-trips.
    let path = std::env::temp_dir().join(format!("openai-mock-gt-{}.json", std::process::id()));
    gt.write_json(&path).unwrap();
    let back: GroundTruth = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(back, gt);
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_param_validation() {
    let cfg = config();
    let admin = cfg.admin_key.clone();
    let srv = MockServer::start(cfg).await.unwrap();
    let a = srv.addr();
    let base = "/v1/organization/usage/completions";
    let start = TODAY - 10 * DAY;
    let cases = [
        (
            format!("{base}?start_time={start}&bucket_width=1d&limit=32"),
            "limit",
        ),
        (format!("{base}?start_time={start}&limit=0"), "limit"),
        (
            format!("{base}?start_time={start}&bucket_width=1h&limit=169"),
            "limit",
        ),
        (
            format!("{base}?start_time={start}&bucket_width=1m&limit=1441"),
            "limit",
        ),
        (format!("{base}?start_time={start}&limit=abc"), "limit"),
        (format!("{base}?bucket_width=1d"), "start_time"),
        (
            format!("{base}?start_time={start}&bucket_width=1w"),
            "bucket_width",
        ),
        (
            format!("{base}?start_time={start}&group_by=team"),
            "group_by",
        ),
        (format!("{base}?start_time={start}&page=garbage"), "page"),
        (
            format!("{base}?start_time={start}&page=page_0000000000000000deadbeef"),
            "page",
        ),
        (format!("{base}?start_time={start}&batch=maybe"), "batch"),
        (format!("{base}?start_time=-5"), "start_time"),
        (
            format!("{base}?start_time={start}&end_time={start}"),
            "end_time",
        ),
    ];
    for (q, param) in cases {
        let r = get(a, &q, Some(&admin)).await;
        assert_eq!(r.status, 400, "{q}");
        let v = r.json();
        assert_eq!(v["error"]["type"], "invalid_request_error", "{q}");
        assert_eq!(v["error"]["param"], param, "{q}");
        assert!(v["error"]["message"].as_str().unwrap().len() > 10);
        assert!(v["error"].get("code").is_some());
        assert!(r.header("x-request-id").unwrap().starts_with("req_"));
        assert!(r.header("openai-organization").is_none());
    }
    // The limits at their maximum are fine, and 1h/1m defaults are 24/60 buckets.
    for (q, n) in [
        (
            format!("{base}?start_time={start}&bucket_width=1d&limit=31"),
            11,
        ),
        (format!("{base}?start_time={start}"), 7),
        (format!("{base}?start_time={start}&bucket_width=1h"), 24),
        (format!("{base}?start_time={start}&bucket_width=1m"), 60),
        (
            format!("{base}?start_time={start}&bucket_width=1h&limit=168"),
            168,
        ),
    ] {
        let r = get(a, &q, Some(&admin)).await;
        assert_eq!(r.status, 200, "{q}");
        assert_eq!(r.json()["data"].as_array().unwrap().len(), n, "{q}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn group_by_bracket_form_equals_repeated_form() {
    let cfg = config();
    let admin = cfg.admin_key.clone();
    let srv = MockServer::start(cfg).await.unwrap();
    let start = TODAY - 20 * DAY;
    let base = format!("/v1/organization/usage/completions?start_time={start}&limit=14");
    let a = get(
        srv.addr(),
        &format!("{base}&group_by=model&group_by=user_id"),
        Some(&admin),
    )
    .await;
    let b = get(
        srv.addr(),
        &format!("{base}&group_by[]=model&group_by[]=user_id"),
        Some(&admin),
    )
    .await;
    let c = get(
        srv.addr(),
        &format!("{base}&group_by%5B%5D=model&group_by%5B%5D=user_id"),
        Some(&admin),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body, b.body);
    assert_eq!(a.body, c.body);
    let v = a.json();
    let first = &v["data"][0]["results"][0];
    assert!(first["model"].is_string());
    assert!(first["api_key_id"].is_null());
    assert!(first["project_id"].is_null());
    for k in [
        "project_id",
        "user_id",
        "api_key_id",
        "model",
        "batch",
        "service_tier",
    ] {
        assert!(first.get(k).is_some(), "missing key {k}");
    }

    // Ungrouped: one result per non-empty bucket, equal to the grouped sum.
    let u = get(srv.addr(), &base, Some(&admin)).await.json();
    for (bu, bg) in u["data"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v["data"].as_array().unwrap())
    {
        let res = bu["results"].as_array().unwrap();
        assert_eq!(res.len(), 1);
        assert!(res[0]["model"].is_null() && res[0]["user_id"].is_null());
        let s: u64 = bg["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["input_tokens"].as_u64().unwrap())
            .sum();
        assert_eq!(res[0]["input_tokens"].as_u64().unwrap(), s);
    }
    // Array filters accept both forms too.
    let m = "gpt-5-codex";
    let f1 = get(
        srv.addr(),
        &format!("{base}&group_by=model&models={m}&models=gpt-5.4"),
        Some(&admin),
    )
    .await;
    let f2 = get(
        srv.addr(),
        &format!("{base}&group_by=model&models[]={m}&models[]=gpt-5.4"),
        Some(&admin),
    )
    .await;
    assert_eq!(f1.body, f2.body);
    let models: BTreeSet<String> = f1.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["results"].as_array().unwrap().clone())
        .map(|r| r["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        models,
        BTreeSet::from([m.to_string(), "gpt-5.4".to_string()])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_hourly_buckets_and_empty_buckets() {
    let cfg = config();
    let admin = cfg.admin_key.clone();
    let srv = MockServer::start(cfg).await.unwrap();
    let a = srv.addr();
    let gt = srv.ground_truth();

    // user_ids filter: only that user's rows.
    let user = gt.rows.iter().find_map(|r| r.user_id.clone()).unwrap();
    let start = TODAY - 89 * DAY;
    let (_, buckets) = fetch_all(a, &admin, start, &format!("&user_ids[]={user}")).await;
    let got = sum_buckets(&buckets);
    let want: BTreeMap<Key, [u64; 4]> = truth_map(&gt)
        .into_iter()
        .filter(|(k, _)| k.1.as_deref() == Some(user.as_str()))
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want);

    // 24 hourly buckets of one day add up to that day's daily bucket.
    let day = TODAY - 3 * DAY;
    let d = get(
        a,
        &format!(
            "/v1/organization/usage/completions?start_time={day}&end_time={}&limit=1",
            day + DAY
        ),
        Some(&admin),
    )
    .await
    .json();
    assert_eq!(d["data"].as_array().unwrap().len(), 1);
    assert_eq!(d["has_more"], false);
    let h = get(
        a,
        &format!(
            "/v1/organization/usage/completions?start_time={day}&end_time={}&bucket_width=1h",
            day + DAY
        ),
        Some(&admin),
    )
    .await
    .json();
    let hb = h["data"].as_array().unwrap();
    assert_eq!(hb.len(), 24);
    assert_eq!(h["has_more"], false);
    let total = |bs: &[Value], f: &str| -> u64 {
        bs.iter()
            .flat_map(|b| b["results"].as_array().unwrap().clone())
            .map(|r| r[f].as_u64().unwrap())
            .sum()
    };
    let db = d["data"].as_array().unwrap();
    for f in [
        "input_tokens",
        "output_tokens",
        "input_cached_tokens",
        "num_model_requests",
    ] {
        assert_eq!(total(hb, f), total(db, f), "{f}");
        assert!(total(db, f) > 0);
    }
    let day_str = day_of(day);
    let truth_input: u64 = gt
        .rows
        .iter()
        .filter(|r| r.day == day_str)
        .map(|r| r.input_tokens)
        .sum();
    assert_eq!(total(db, "input_tokens"), truth_input);

    // Unaligned start: aligned down; buckets before the data window are present but empty.
    let early = TODAY - 200 * DAY + 5000;
    let e = get(
        a,
        &format!("/v1/organization/usage/completions?start_time={early}&limit=3"),
        Some(&admin),
    )
    .await
    .json();
    let eb = e["data"].as_array().unwrap();
    assert_eq!(eb.len(), 3);
    assert_eq!(eb[0]["start_time"].as_i64().unwrap(), TODAY - 200 * DAY);
    assert!(eb
        .iter()
        .all(|b| b["results"].as_array().unwrap().is_empty()));
    assert_eq!(e["has_more"], true);

    // batch=true: nothing (all mock traffic is non-batch); batch=false: everything.
    let bt = get(
        a,
        &format!("/v1/organization/usage/completions?start_time={day}&limit=1&batch=true"),
        Some(&admin),
    )
    .await
    .json();
    assert!(bt["data"][0]["results"].as_array().unwrap().is_empty());
    let bf = get(
        a,
        &format!("/v1/organization/usage/completions?start_time={day}&limit=1&batch=false"),
        Some(&admin),
    )
    .await
    .json();
    assert_eq!(
        bf["data"][0]["results"][0]["input_tokens"]
            .as_u64()
            .unwrap(),
        truth_input
    );

    // Today's rows all lie before `now`, so end_time defaults to now and 1h buckets stop there.
    let t = get(
        a,
        &format!("/v1/organization/usage/completions?start_time={TODAY}&bucket_width=1h"),
        Some(&admin),
    )
    .await
    .json();
    assert_eq!(t["data"].as_array().unwrap().len(), 11); // 00:00 .. 10:00 (now = 10:02)
    let today_input: u64 = gt
        .rows
        .iter()
        .filter(|r| r.day == "2026-01-01")
        .map(|r| r.input_tokens)
        .sum();
    assert!(today_input > 0);
    assert_eq!(
        total(t["data"].as_array().unwrap(), "input_tokens"),
        today_input
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_projects_and_keys() {
    let cfg = config();
    let admin = cfg.admin_key.clone();
    let srv = MockServer::start(cfg).await.unwrap();
    let a = srv.addr();

    // Users: 40 in pages of 15 via `after`.
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = match &after {
            Some(id) => format!("/v1/organization/users?limit=15&after={id}"),
            None => "/v1/organization/users?limit=15".to_string(),
        };
        let r = get(a, &q, Some(&admin)).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("openai-organization"),
            Some("org-mock0000000000000000000001")
        );
        assert!(r
            .header("content-type")
            .unwrap()
            .starts_with("application/json"));
        let v = r.json();
        assert_eq!(v["object"], "list");
        let data = v["data"].as_array().unwrap();
        assert_eq!(v["first_id"], data[0]["id"]);
        assert_eq!(v["last_id"], data[data.len() - 1]["id"]);
        for u in data {
            assert_eq!(u["object"], "organization.user");
            let id = u["id"].as_str().unwrap();
            assert!(id.starts_with("user-") && id.len() == 21, "{id}");
            assert!(u["email"].as_str().unwrap().ends_with("@example.com"));
            assert!(["owner", "reader"].contains(&u["role"].as_str().unwrap()));
            assert!(u["added_at"].as_i64().unwrap() < TODAY);
            ids.push(id.to_string());
        }
        pages += 1;
        after = v["last_id"].as_str().map(str::to_string);
        if !v["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(ids.len(), 40);
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 40);
    let d = get(a, "/v1/organization/users", Some(&admin)).await.json();
    assert_eq!(d["data"].as_array().unwrap().len(), 20);
    assert_eq!(d["has_more"], true);
    for bad in ["limit=0", "limit=101", "after=user-nope"] {
        let r = get(a, &format!("/v1/organization/users?{bad}"), Some(&admin)).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    }
    // emails filter
    let one = &d["data"][3];
    let email = one["email"].as_str().unwrap();
    let f = get(
        a,
        &format!("/v1/organization/users?emails[]={email}"),
        Some(&admin),
    )
    .await
    .json();
    assert_eq!(f["data"].as_array().unwrap().len(), 1);
    assert_eq!(f["data"][0]["id"], one["id"]);

    // Projects: archived hidden by default.
    let p = get(a, "/v1/organization/projects", Some(&admin))
        .await
        .json();
    let pa = get(
        a,
        "/v1/organization/projects?include_archived=true",
        Some(&admin),
    )
    .await
    .json();
    let active = p["data"].as_array().unwrap();
    let all = pa["data"].as_array().unwrap();
    assert_eq!(active.len(), 5);
    assert_eq!(all.len(), 6);
    assert!(active
        .iter()
        .all(|p| p["status"] == "active" && p["archived_at"].is_null()));
    let archived: Vec<&Value> = all.iter().filter(|p| p["status"] == "archived").collect();
    assert_eq!(archived.len(), 1);
    assert!(archived[0]["archived_at"].as_i64().unwrap() > TODAY - 90 * DAY);
    assert!(all
        .iter()
        .any(|p| p["name"].as_str().unwrap().contains("Codex")));
    assert!(all
        .iter()
        .all(|p| p["object"] == "organization.project"
            && p["id"].as_str().unwrap().starts_with("proj_")));

    // API keys of every project; every key in the usage is listed with the right owner.
    let gt = srv.ground_truth();
    let mut key_owner: HashMap<String, (String, Option<String>)> = HashMap::new();
    for proj in all {
        let pid = proj["id"].as_str().unwrap();
        let mut after: Option<String> = None;
        loop {
            let q = match &after {
                Some(k) => format!("/v1/organization/projects/{pid}/api_keys?limit=7&after={k}"),
                None => format!("/v1/organization/projects/{pid}/api_keys?limit=7"),
            };
            let r = get(a, &q, Some(&admin)).await;
            assert_eq!(r.status, 200);
            let v = r.json();
            for k in v["data"].as_array().unwrap() {
                assert_eq!(k["object"], "organization.project.api_key");
                assert!(k["id"].as_str().unwrap().starts_with("key_"));
                assert!(k["redacted_value"].as_str().unwrap().starts_with("sk-"));
                assert!(k["created_at"].is_i64());
                let owner = match k["owner"]["type"].as_str().unwrap() {
                    "user" => {
                        assert_eq!(k["owner"]["user"]["object"], "organization.user");
                        assert!(k["owner"]["user"]["email"].is_string());
                        Some(k["owner"]["user"]["id"].as_str().unwrap().to_string())
                    }
                    "service_account" => {
                        let sa = &k["owner"]["service_account"];
                        assert_eq!(sa["object"], "organization.project.service_account");
                        assert!(sa["id"].as_str().unwrap().starts_with("svc_acct_"));
                        assert_eq!(sa["role"], "member");
                        None
                    }
                    other => panic!("owner type {other}"),
                };
                let prev = key_owner.insert(k["id"].as_str().unwrap().into(), (pid.into(), owner));
                assert!(prev.is_none(), "key listed twice");
            }
            after = v["last_id"].as_str().map(str::to_string);
            if !v["has_more"].as_bool().unwrap() {
                break;
            }
        }
    }
    assert!(key_owner.values().filter(|(_, o)| o.is_none()).count() >= 2);
    for r in &gt.rows {
        let (pid, owner) = &key_owner[&r.api_key_id];
        assert_eq!(pid, &r.project_id);
        assert_eq!(owner, &r.user_id);
    }
    // The archived project's keys have usage only before it was archived.
    let arch_id = archived[0]["id"].as_str().unwrap();
    let arch_day = day_of(archived[0]["archived_at"].as_i64().unwrap());
    assert!(gt
        .rows
        .iter()
        .filter(|r| r.project_id == arch_id)
        .all(|r| r.day < arch_day));

    let nf = get(
        a,
        "/v1/organization/projects/proj_nope/api_keys",
        Some(&admin),
    )
    .await;
    assert_eq!(nf.status, 404);
    assert_eq!(nf.json()["error"]["type"], "invalid_request_error");

    let ak = get(a, "/v1/organization/admin_api_keys", Some(&admin)).await;
    assert_eq!(ak.status, 200);
    let akv = ak.json();
    assert!(!akv["data"].as_array().unwrap().is_empty());
    assert_eq!(akv["data"][0]["object"], "organization.admin_api_key");
    assert!(!String::from_utf8_lossy(&ak.body).contains(&admin));

    let unknown = get(a, "/v1/organization/teams", Some(&admin)).await;
    assert_eq!(unknown.status, 404);
    let u = unknown.json();
    assert_eq!(u["error"]["type"], "invalid_request_error");
    assert!(u["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/v1/organization/teams"));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_errors_bare403_style() {
    let cfg = config();
    let admin = cfg.admin_key.clone();
    assert!(admin.starts_with("sk-admin-") && admin.len() == 49);
    let srv = MockServer::start(cfg).await.unwrap();
    let a = srv.addr();
    let usage = format!(
        "/v1/organization/usage/completions?start_time={}",
        TODAY - DAY
    );
    let users = "/v1/organization/users";

    let r = get(a, &usage, Some("sk-admin-wrongwrongwrongwrong1234")).await;
    assert_eq!(r.status, 401);
    assert!(r.header("x-request-id").unwrap().starts_with("req_"));
    assert!(r.header("openai-organization").is_none());
    let v = r.json();
    assert_eq!(
        v,
        serde_json::json!({"error": {
            "message": "Incorrect API key provided: sk-admin****1234. You can find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}})
    );
    let r = get(a, users, None).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");

    let denied = |scope: &str| {
        serde_json::json!({"error": format!(
            "You have insufficient permissions for this operation. Missing scopes: {scope}.")})
    };
    for (key, path, scope) in [
        (PROJ_KEY, usage.as_str(), "api.usage.read"),
        (PROJ_KEY, users, "api.management.read"),
        (PROJ_KEY, "/v1/organization/projects", "api.management.read"),
        (USAGE_KEY, users, "api.management.read"),
        (DIR_KEY, usage.as_str(), "api.usage.read"),
    ] {
        let r = get(a, path, Some(key)).await;
        assert_eq!(r.status, 403, "{path}");
        assert_eq!(r.json(), denied(scope), "{path}");
    }
    assert_eq!(get(a, &usage, Some(USAGE_KEY)).await.status, 200);
    assert_eq!(get(a, users, Some(DIR_KEY)).await.status, 200);
    assert_eq!(get(a, users, Some(&admin)).await.status, 200);

    // Requests are recorded in order, without the Authorization header.
    let recs = srv.requests();
    assert_eq!(recs.len(), 10);
    assert_eq!(recs[0].status, 401);
    assert_eq!(recs[0].path, "/v1/organization/usage/completions");
    assert_eq!(recs[0].query, format!("start_time={}", TODAY - DAY));
    assert_eq!(recs[2].status, 403);
    assert_eq!(recs[9].status, 200);
    assert!(recs.iter().all(|r| r.method == "GET"));
    let dump = format!("{recs:?}");
    assert!(!dump.contains("sk-"));
    srv.reset_requests();
    assert!(srv.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_errors_object401_style() {
    let cfg = MockConfig {
        permission_error_style: PermissionErrorStyle::Object401,
        ..config()
    };
    assert!(!format!("{cfg:?}").contains(PROJ_KEY));
    assert!(!format!("{cfg:?}").contains(&cfg.admin_key));
    let srv = MockServer::start(cfg).await.unwrap();
    let r = get(
        srv.addr(),
        &format!(
            "/v1/organization/usage/completions?start_time={}",
            TODAY - DAY
        ),
        Some(PROJ_KEY),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(
        r.json(),
        serde_json::json!({"error": {
            "message": "You have insufficient permissions for this operation. Missing scopes: api.usage.read.",
            "type": "insufficient_permissions", "param": null, "code": null}})
    );
    let r = get(srv.addr(), "/v1/organization/users", Some(USAGE_KEY)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "insufficient_permissions");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .ends_with("api.management.read."));
}

#[tokio::test(flavor = "multi_thread")]
async fn advancing_changes_only_todays_bucket() {
    let cfg = config();
    let admin = cfg.admin_key.clone();
    let srv = MockServer::start(cfg).await.unwrap();
    let start = TODAY - 89 * DAY;
    let before_gt = srv.ground_truth();
    let (_, before) = fetch_all(srv.addr(), &admin, start, "").await;

    srv.advance_current_bucket(25);

    let after_gt = srv.ground_truth();
    let (_, after) = fetch_all(srv.addr(), &admin, start, "").await;
    assert_eq!(before.len(), after.len());
    let n = before.len();
    assert_eq!(
        before[..n - 1],
        after[..n - 1],
        "older buckets must not change"
    );
    assert_ne!(before[n - 1], after[n - 1]);

    let split = |gt: &GroundTruth| {
        let (t, o): (Vec<_>, Vec<_>) = gt.rows.iter().cloned().partition(|r| r.day == "2026-01-01");
        (t, o)
    };
    let (bt, bo) = split(&before_gt);
    let (at, ao) = split(&after_gt);
    assert_eq!(bo, ao);
    let sum = |rows: &[openai_mock::TruthRow]| -> (u64, u64) {
        (
            rows.iter().map(|r| r.input_tokens).sum(),
            rows.iter().map(|r| r.requests).sum(),
        )
    };
    assert!(sum(&at).0 > sum(&bt).0);
    assert!(sum(&at).1 > sum(&bt).1);
    assert_eq!(sum_buckets(&after), truth_map(&after_gt));
}

#[tokio::test(flavor = "multi_thread")]
async fn deterministic_and_shutdown() {
    let s1 = MockServer::start(config()).await.unwrap();
    let s2 = MockServer::start(config()).await.unwrap();
    let s3 = MockServer::start(MockConfig {
        seed: 8,
        ..config()
    })
    .await
    .unwrap();
    assert_eq!(s1.ground_truth(), s2.ground_truth());
    assert_ne!(s1.ground_truth(), s3.ground_truth());
    assert_eq!(s1.dataset_summary(), s2.dataset_summary());
    assert!(s1.dataset_summary().contains("users=40"));
    assert!(s1.base_url().starts_with("http://127.0.0.1:"));
    let addr = s1.addr();
    s1.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
    drop(s2);
    drop(s3);
}

#[tokio::test(flavor = "multi_thread")]
async fn large_org_page_is_fast() {
    let cfg = MockConfig {
        users: 1000,
        ..config()
    };
    let admin = cfg.admin_key.clone();
    let t0 = Instant::now();
    let srv = MockServer::start(cfg).await.unwrap();
    eprintln!("start: {:?} {}", t0.elapsed(), srv.dataset_summary());
    let start = TODAY - 89 * DAY;
    let q = format!(
        "/v1/organization/usage/completions?start_time={start}&bucket_width=1d&limit=31\
         &group_by=user_id&group_by=api_key_id&group_by=project_id&group_by=model"
    );
    get(srv.addr(), &q, Some(&admin)).await; // warm-up
    let t = Instant::now();
    let r = get(srv.addr(), &q, Some(&admin)).await;
    let took = t.elapsed();
    assert_eq!(r.status, 200);
    let v = r.json();
    let results: usize = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["results"].as_array().unwrap().len())
        .sum();
    eprintln!(
        "31-bucket page: {results} results, {} bytes, {took:?}",
        r.body.len()
    );
    assert!(results > 20_000, "{results}");
    assert!(took.as_millis() < 1000, "page took {took:?}");
    let (_, buckets) = fetch_all(srv.addr(), &admin, start, "").await;
    assert_eq!(sum_buckets(&buckets), truth_map(&srv.ground_truth()));
}
