//! Many organizations on one server (one admin key each), the provider latency and the
//! per-organization request log, over real loopback HTTP.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use openai_mock::{MockConfig, MockServer, UsageTotals};
use support::{
    get, key, sum_buckets, truth_map, usage_to_the_end, user_ids, Conn, DAY, NOW, TODAY,
};

/// The small shape of the scale benchmark's organizations.
fn small(organizations: usize) -> MockConfig {
    MockConfig {
        now: Some(NOW),
        users: 5,
        days: 3,
        organizations,
        ..MockConfig::default()
    }
}

const START: i64 = TODAY - 2 * DAY;

#[tokio::test(flavor = "multi_thread")]
async fn organizations_are_isolated_by_key() {
    let cfg = small(4);
    let srv = MockServer::start(cfg.clone()).await.unwrap();
    let addr = srv.addr();
    assert_eq!(srv.organizations(), 4);
    let keys = srv.admin_keys();
    assert_eq!(keys.len(), 4);
    assert_eq!(
        keys[0], cfg.admin_key,
        "organization 0 keeps the template's key"
    );
    assert_eq!(
        keys.iter().collect::<BTreeSet<_>>().len(),
        4,
        "distinct keys"
    );
    for (i, k) in keys.iter().enumerate() {
        assert!(k.starts_with("sk-admin-"));
        assert_eq!(srv.admin_key_of(i), k);
        assert_eq!(srv.org_of_key(k), Some(i));
    }
    assert_eq!(srv.org_of_key("sk-admin-nobody"), None);
    assert!(srv.ground_truth_for("sk-admin-nobody").is_none());
    let org_ids: BTreeSet<&str> = (0..4).map(|i| srv.organization_id_of(i)).collect();
    assert_eq!(org_ids.len(), 4);
    assert_eq!(srv.organization_id_of(0), cfg.organization_id);

    // Deterministic: the same config gives the same keys and data.
    let again = MockServer::start(cfg.clone()).await.unwrap();
    assert_eq!(again.admin_keys(), keys);
    assert_eq!(again.ground_truths(), srv.ground_truths());
    again.shutdown().await;

    // Organization 0 is the single-organization mock of the template.
    let single = MockServer::start(MockConfig {
        organizations: 1,
        ..cfg.clone()
    })
    .await
    .unwrap();
    assert_eq!(single.organizations(), 1);
    assert_eq!(single.ground_truth(), srv.ground_truth_of(0));
    assert_eq!(srv.ground_truth(), srv.ground_truth_of(0));
    let a = get(
        single.addr(),
        "/v1/organization/users?limit=100",
        Some(&keys[0]),
    )
    .await;
    let b = get(addr, "/v1/organization/users?limit=100", Some(&keys[0])).await;
    assert_eq!((a.status, &a.body), (b.status, &b.body));
    single.shutdown().await;

    // Each key sees its own organization only.
    let mut seen_users: Vec<BTreeSet<String>> = Vec::new();
    let mut sums = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let mut conn = Conn::open(addr).await;
        let users: BTreeSet<String> = user_ids(&mut conn, k).await.into_iter().collect();
        assert_eq!(users.len(), 5);
        let truth = srv.ground_truth_of(i);
        assert!(!truth.rows.is_empty());
        for r in &truth.rows {
            if let Some(u) = &r.user_id {
                assert!(users.contains(u), "org {i}: truth user {u} not listed");
            }
        }
        let r = conn.get("/v1/organization/projects?limit=1", Some(k)).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("openai-organization"),
            Some(srv.organization_id_of(i))
        );
        let buckets = usage_to_the_end(&mut conn, k, START).await;
        let got = sum_buckets(&buckets);
        assert_eq!(got, truth_map(&truth), "org {i}");
        seen_users.push(users);
        sums.push(got);
    }
    for i in 0..4 {
        for j in 0..i {
            assert!(
                seen_users[i].is_disjoint(&seen_users[j]),
                "orgs {i} and {j} share users"
            );
            assert_ne!(sums[i], sums[j]);
        }
    }

    // An unknown key is refused as ever.
    let r = get(
        addr,
        "/v1/organization/users",
        Some("sk-admin-unknownunknownunknown"),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["code"], "invalid_api_key");
    assert!(r.header("openai-organization").is_none());

    // Another organization's project is not found; its cursor is not valid.
    let projects = get(
        addr,
        "/v1/organization/projects?include_archived=true",
        Some(&keys[1]),
    )
    .await
    .json();
    let p1 = projects["data"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/v1/organization/projects/{p1}/api_keys");
    assert_eq!(get(addr, &path, Some(&keys[1])).await.status, 200);
    assert_eq!(get(addr, &path, Some(&keys[0])).await.status, 404);
    let first = get(
        addr,
        &format!("/v1/organization/usage/completions?start_time={START}&limit=1"),
        Some(&keys[0]),
    )
    .await
    .json();
    let cursor = first["next_page"].as_str().unwrap();
    let q = format!("/v1/organization/usage/completions?start_time={START}&limit=1&page={cursor}");
    assert_eq!(get(addr, &q, Some(&keys[0])).await.status, 200);
    assert_eq!(get(addr, &q, Some(&keys[1])).await.status, 400);

    // Workspaces: one per organization, each opened by its own analytics key only.
    let ws_ids: BTreeSet<&str> = (0..4).map(|i| srv.workspace_id_of(i)).collect();
    assert_eq!(ws_ids.len(), 4);
    let akeys: Vec<String> = (0..4)
        .map(|i| srv.analytics_key_of(i).expect("analytics key").to_string())
        .collect();
    assert_eq!(akeys.iter().collect::<BTreeSet<_>>().len(), 4);
    assert_eq!(akeys[0], cfg.analytics_key.clone().unwrap());
    for i in 0..4 {
        assert_eq!(srv.org_of_key(&akeys[i]), Some(i));
        let truth = srv.workspace_truth_of(i);
        assert_eq!(truth.workspace_id, srv.workspace_id_of(i));
        let emails: BTreeSet<String> = truth.people.iter().map(|p| p.email.clone()).collect();
        let usage = |ws: usize| {
            format!(
                "/v1/analytics/codex/workspaces/{}/usage?start_time={START}&limit=100",
                srv.workspace_id_of(ws)
            )
        };
        let r = get(addr, &usage(i), Some(&akeys[i])).await;
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let rows = r.json()["data"].as_array().unwrap().clone();
        assert!(!rows.is_empty());
        for row in &rows {
            let e = row.get("email").or_else(|| row.get("user_email")).unwrap();
            assert!(emails.contains(&e.as_str().unwrap().to_lowercase()));
        }
        let j = (i + 1) % 4;
        let r = get(addr, &usage(j), Some(&akeys[i])).await;
        assert_eq!(r.status, 404, "org {i}'s key on org {j}'s workspace");
        let r = get(addr, &usage(i), Some(&keys[i])).await;
        assert_eq!(r.status, 403, "an admin key lacks the analytics scope");
        let r = get(addr, "/v1/organization/users", Some(&akeys[i])).await;
        assert_eq!(
            r.status, 401,
            "the analytics key is unknown to the Platform"
        );
    }
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn start_many_truth_equals_what_each_key_pages() {
    let template = small(1);
    let keys: Vec<String> = (0..6).map(|i| key("many", i)).collect();
    let srv = MockServer::start_many(template.clone(), keys.clone())
        .await
        .unwrap();
    assert_eq!(srv.organizations(), 6);
    assert_eq!(srv.admin_keys(), keys);
    assert_eq!(srv.ground_truths().len(), 6);
    let addr = srv.addr();

    let mut all = UsageTotals::default();
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(srv.org_of_key(k), Some(i));
        let truth = srv.ground_truth_for(k).unwrap();
        assert_eq!(truth, srv.ground_truth_of(i));
        let mut conn = Conn::open(addr).await;
        let buckets = usage_to_the_end(&mut conn, k, START).await;
        assert_eq!(buckets.len(), 3);
        let got = sum_buckets(&buckets);
        assert_eq!(got, truth_map(&truth), "org {i}");
        let mut paged = UsageTotals::default();
        for v in got.values() {
            paged.input_tokens += v[0];
            paged.cached_input_tokens += v[1];
            paged.output_tokens += v[2];
            paged.requests += v[3];
        }
        assert_eq!(paged, truth.totals());
        assert_eq!(paged, srv.usage_totals_of(i));
        assert!(paged.requests > 0);
        all += paged;
    }
    let sum = srv
        .usage_totals()
        .into_iter()
        .fold(UsageTotals::default(), |mut a, t| {
            a += t;
            a
        });
    assert_eq!(sum, all);

    // Organization 0's data does not depend on its key.
    let single = MockServer::start(template.clone()).await.unwrap();
    assert_eq!(single.ground_truth(), srv.ground_truth_of(0));
    single.shutdown().await;

    // Today's bucket of one organization grows; the others stay as they were.
    let before = srv.ground_truths();
    srv.advance_current_bucket_of(2, 4);
    let after = srv.ground_truths();
    for i in 0..6 {
        assert_eq!(before[i] == after[i], i != 2, "org {i}");
    }
    let mut conn = Conn::open(addr).await;
    let got = sum_buckets(&usage_to_the_end(&mut conn, &keys[2], START).await);
    assert_eq!(got, truth_map(&after[2]));
    srv.shutdown().await;

    // Bad key lists.
    assert!(MockServer::start_many(template.clone(), vec![])
        .await
        .is_err());
    let dup = vec![key("dup", 0), key("dup", 1), key("dup", 0)];
    let e = MockServer::start_many(template.clone(), dup)
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("share a key"), "{e}");
    assert!(
        !e.to_string().contains("sk-admin-"),
        "the error names no key: {e}"
    );
    let usage_only = key("usage", 9);
    let clash = MockConfig {
        usage_only_admin_key: Some(usage_only.clone()),
        ..template
    };
    assert!(
        MockServer::start_many(clash, vec![key("ok", 0), usage_only])
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn latency_is_honoured_per_request_without_blocking() {
    let latency = Duration::from_millis(100);
    let srv = MockServer::start(MockConfig {
        latency,
        ..small(2)
    })
    .await
    .unwrap();
    let addr = srv.addr();
    assert_eq!(srv.latency(), latency);
    assert!(srv.dataset_summary().contains("organizations=2"));
    let keys = srv.admin_keys();

    // One request, and a refusal, each take at least the latency.
    let t = Instant::now();
    assert_eq!(
        get(addr, "/v1/organization/users", Some(&keys[1]))
            .await
            .status,
        200
    );
    assert!(t.elapsed() >= latency, "{:?}", t.elapsed());
    let t = Instant::now();
    assert_eq!(
        get(addr, "/v1/organization/users", Some("sk-admin-nope"))
            .await
            .status,
        401
    );
    assert!(t.elapsed() >= latency, "{:?}", t.elapsed());

    // Per request on a keep-alive connection.
    let mut conn = Conn::open(addr).await;
    let t = Instant::now();
    for _ in 0..3 {
        assert_eq!(
            conn.get("/v1/organization/projects", Some(&keys[0]))
                .await
                .status,
            200
        );
    }
    assert!(t.elapsed() >= 3 * latency, "{:?}", t.elapsed());

    // 50 concurrent requests wait side by side, not in turn (5 s if they queued).
    let t = Instant::now();
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let k = keys[i % 2].clone();
            tokio::spawn(async move {
                let t = Instant::now();
                let r = get(addr, "/v1/organization/users?limit=5", Some(&k)).await;
                (r.status, t.elapsed())
            })
        })
        .collect();
    for task in tasks {
        let (status, took) = task.await.unwrap();
        assert_eq!(status, 200);
        assert!(took >= latency, "{took:?}");
    }
    let total = t.elapsed();
    eprintln!("50 concurrent requests at {latency:?}: {total:?}");
    assert!(total < Duration::from_millis(1_000), "{total:?}");

    // Adjustable while running.
    srv.set_latency(Duration::ZERO);
    assert_eq!(srv.latency(), Duration::ZERO);
    let t = Instant::now();
    assert_eq!(
        conn.get("/v1/organization/projects", Some(&keys[0]))
            .await
            .status,
        200
    );
    assert!(t.elapsed() < latency, "{:?}", t.elapsed());
    srv.set_latency(Duration::from_millis(30));
    let t = Instant::now();
    assert_eq!(
        conn.get("/v1/organization/projects", Some(&keys[0]))
            .await
            .status,
        200
    );
    assert!(
        t.elapsed() >= Duration::from_millis(30),
        "{:?}",
        t.elapsed()
    );
    srv.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_log_names_each_organization() {
    let srv = MockServer::start(small(5)).await.unwrap();
    let addr = srv.addr();
    let keys = srv.admin_keys();
    for (i, k) in keys.iter().enumerate() {
        let mut conn = Conn::open(addr).await;
        for _ in 0..=i {
            assert_eq!(
                conn.get("/v1/organization/users", Some(k)).await.status,
                200
            );
        }
    }
    // Refusals by a known key still name its organization; unknown or missing keys none.
    let ws4 = format!(
        "/v1/analytics/codex/workspaces/{}/usage?start_time={START}",
        srv.workspace_id_of(4)
    );
    assert_eq!(get(addr, &ws4, Some(&keys[4])).await.status, 403);
    let a3 = srv.analytics_key_of(3).unwrap().to_string();
    let ws3 = ws4.replace(srv.workspace_id_of(4), srv.workspace_id_of(3));
    assert_eq!(get(addr, &ws3, Some(&a3)).await.status, 200);
    assert_eq!(
        get(addr, "/v1/organization/users", Some("sk-admin-x"))
            .await
            .status,
        401
    );
    assert_eq!(
        get(addr, "/v1/organization/users", Some("sk-admin-y"))
            .await
            .status,
        401
    );
    assert_eq!(get(addr, "/v1/organization/users", None).await.status, 401);

    assert_eq!(srv.request_count(), 1 + 2 + 3 + 4 + 5 + 2 + 3);
    assert_eq!(srv.requests_by_org(), vec![1, 2, 3, 4 + 1, 5 + 1]);
    let log = srv.requests();
    assert_eq!(log.len(), srv.request_count());
    assert_eq!(log.iter().filter(|r| r.org.is_none()).count(), 3);
    assert_eq!(log[0].org, Some(0));
    assert_eq!(log[0].method, "GET");
    assert_eq!(log[0].path, "/v1/organization/users");
    let text = format!("{log:?}");
    for k in keys.iter().chain([&a3]) {
        assert!(!text.contains(k.as_str()), "a key in the log");
    }
    srv.reset_requests();
    assert_eq!(srv.request_count(), 0);
    assert_eq!(srv.requests_by_org(), vec![0; 5]);
    srv.shutdown().await;
}

/// 10,000 requests from 100 organizations: the log keeps every one, with its organization,
/// and reading it stays cheap.
#[tokio::test(flavor = "multi_thread")]
async fn the_request_log_stays_cheap_at_ten_thousand_requests() {
    let srv = MockServer::start(small(100)).await.unwrap();
    let addr = srv.addr();
    let keys = srv.admin_keys();
    let t = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|c| {
            let keys = keys.clone();
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                for n in 0..500 {
                    let k = &keys[(c * 500 + n) % 100];
                    let r = conn.get("/v1/organization/projects?limit=1", Some(k)).await;
                    assert_eq!(r.status, 200);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let served = t.elapsed();
    let t = Instant::now();
    let by_org = srv.requests_by_org();
    let count_time = t.elapsed();
    let t = Instant::now();
    let log = srv.requests();
    let copy_time = t.elapsed();
    eprintln!(
        "10,000 requests over 20 keep-alive connections: {served:?}; requests_by_org {count_time:?}, requests() copy {copy_time:?}"
    );
    assert_eq!(log.len(), 10_000);
    assert_eq!(srv.request_count(), 10_000);
    assert_eq!(by_org, vec![100; 100]);
    assert!(count_time < Duration::from_millis(100), "{count_time:?}");
    assert!(copy_time < Duration::from_millis(500), "{copy_time:?}");
    srv.shutdown().await;
}

/// A thousand organizations, a thousand clients at once, each on its own keep-alive
/// connection with its own key, at 50 ms latency: each request takes about 50 ms.
#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_concurrent_clients_each_see_the_latency() {
    let latency = Duration::from_millis(50);
    let t = Instant::now();
    let srv = MockServer::start(MockConfig {
        latency,
        ..small(1_000)
    })
    .await
    .unwrap();
    eprintln!("1,000 organizations started in {:?}", t.elapsed());
    let addr = srv.addr();
    let keys = srv.admin_keys();
    let org_ids: Vec<String> = (0..1_000)
        .map(|i| srv.organization_id_of(i).to_string())
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(1_000));
    let t = Instant::now();
    let tasks: Vec<_> = keys
        .iter()
        .cloned()
        .zip(org_ids)
        .map(|(k, org_id)| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await;
                barrier.wait().await;
                let mut took = Vec::new();
                for path in [
                    "/v1/organization/users?limit=100".to_string(),
                    format!("/v1/organization/usage/completions?start_time={START}&limit=3&group_by=user_id"),
                ] {
                    let t = Instant::now();
                    let r = conn.get(&path, Some(&k)).await;
                    took.push(t.elapsed());
                    assert_eq!(r.status, 200);
                    assert_eq!(r.header("openai-organization"), Some(org_id.as_str()));
                }
                took
            })
        })
        .collect();
    let mut took = Vec::new();
    for task in tasks {
        took.extend(task.await.unwrap());
    }
    let total = t.elapsed();
    took.sort();
    let pct = |p: usize| took[(took.len() - 1) * p / 100];
    eprintln!(
        "1,000 clients × 2 requests at {latency:?}: {total:?} in all; per request min {:?} p50 {:?} p99 {:?} max {:?}",
        took[0],
        pct(50),
        pct(99),
        took[took.len() - 1]
    );
    assert!(took[0] >= latency);
    assert!(total < Duration::from_secs(5), "{total:?}");
    assert_eq!(srv.requests_by_org(), vec![2; 1_000]);
    srv.shutdown().await;
}
