//! End to end, ChatGPT sign-in usage: the real `codex-connector` component in the wasmtime
//! host, against the mock's Codex Analytics API of a ChatGPT workspace (and its Platform
//! Admin API), both origins redirected to the mock on loopback.
//!
//! Every figure is compared exactly with the mock's ground truth
//! ([`MockServer::workspace_truth`]): per email × client and email × model (one breakdown
//! summed at a time), code reviews and the responses to them, and the merged per-person
//! view of both paths (`report::people` and `host-harness report --json`). Then: a second
//! sync after late changes, each source configured alone, every error an admin can meet
//! (with what it tells them to do, and the stored state left as it was), rate limits, the
//! `next_cursor` envelope, and the analytics key never leaking.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::str::FromStr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::*;
use host_harness::bindings::v0_2::types as wit;
use host_harness::report::people as pv;
use host_harness::report::people::{people, PeopleReport, Period};
use host_harness::runner::{HostError, Progress, SyncOptions};
use host_harness::store::Store;
use openai_mock::{
    Credits, Fault, FaultRule, GroundTruth, Membership, MockConfig, MockServer, WorkspaceTruth,
};
use rust_decimal::Decimal;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_host-harness");
/// Days the mock holds (and the import reads): well inside the API's 90-day history, so
/// the connector's horizon never cuts the first day.
const DAYS: u32 = 30;
const PLATFORM_CAPS: [&str; 2] = ["platform-usage", "platform-directory"];
const WORKSPACE_CAPS: [&str; 3] = ["workspace-usage", "code-reviews", "code-review-responses"];
const PLATFORM_STREAMS: [&str; 4] = ["users", "projects", "api_keys", "usage"];
const WORKSPACE_STREAMS: [&str; 3] = ["workspace_usage", "code_reviews", "code_review_responses"];
const WORKSPACE_ID_HELP: &str = "ChatGPT Admin → Workspace details";
const DAY: i64 = 86_400;

// ---------------------------------------------------------------------------------------
// set-up

/// The keys of one test, all random: the Platform's, a workspace analytics key with the
/// scope, and one without it.
struct Env {
    keys: Keys,
    analytics: String,
    unscoped: String,
}

fn env() -> Env {
    Env {
        keys: keys(),
        analytics: host_harness::random::key("sk-cgpt-"),
        unscoped: host_harness::random::key("sk-cgpt-"),
    }
}

fn ws_mock_config(e: &Env, users: usize, days: u32) -> MockConfig {
    MockConfig {
        analytics_key: Some(e.analytics.clone()),
        analytics_key_without_scope: Some(e.unscoped.clone()),
        ..mock_config(&e.keys, users, days)
    }
}

/// The workspace settings for `mock` (its id, the backfill covering all its days), with
/// `extra` added or replacing them.
fn ws_settings(mock: &MockServer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let days = DAYS.to_string();
    let mut v = set(&[
        ("chatgpt_workspace_id", mock.workspace_id()),
        ("backfill_days", &days),
    ]);
    for (k, x) in set(extra) {
        match v.iter_mut().find(|(key, _)| *key == k) {
            Some(slot) => slot.1 = x,
            None => v.push((k, x)),
        }
    }
    v
}

/// Both sources, every Platform model counted as Codex (the Platform truth per email is
/// over every model).
fn both_settings(mock: &MockServer) -> Vec<(String, String)> {
    ws_settings(mock, &[("codex_model_pattern", "*")])
}

fn both_secrets(e: &Env) -> BTreeMap<String, host_harness::secret::Secret> {
    secrets(&[
        ("api_token", &e.keys.admin),
        ("analytics_api_key", &e.analytics),
    ])
}

/// Check live and save; the report must grant everything configured.
async fn save(
    h: &host_harness::runner::Harness,
    store: &Store,
    values: &[(String, String)],
    s: BTreeMap<String, host_harness::secret::Secret>,
) -> (host_harness::runner::Saved, wit::CredentialReport) {
    let (saved, report) = h.configure_validated(store, CONN, values, s).await.unwrap();
    assert!(report.ok, "{report:?}");
    (saved.expect("a granted configuration is saved"), report)
}

/// (name, status, problem) of every capability, in report order.
fn caps(r: &wit::CredentialReport) -> Vec<(String, wit::CheckStatus, Option<wit::ErrorClass>)> {
    r.capabilities
        .iter()
        .map(|c| (c.name.clone(), c.status, c.problem))
        .collect()
}

fn expect_caps(
    r: &wit::CredentialReport,
    platform: (wit::CheckStatus, Option<wit::ErrorClass>),
    workspace: (wit::CheckStatus, Option<wit::ErrorClass>),
) {
    let want: Vec<(String, wit::CheckStatus, Option<wit::ErrorClass>)> = PLATFORM_CAPS
        .iter()
        .map(|n| (n.to_string(), platform.0, platform.1))
        .chain(
            WORKSPACE_CAPS
                .iter()
                .map(|n| (n.to_string(), workspace.0, workspace.1)),
        )
        .collect();
    assert_eq!(caps(r), want, "{r:#?}");
}

fn cap<'r>(r: &'r wit::CredentialReport, name: &str) -> &'r wit::CapabilityCheck {
    r.capabilities
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no {name} in {r:?}"))
}

fn is_analytics(path: &str) -> bool {
    path.starts_with("/v1/analytics/codex/")
}

fn is_platform(path: &str) -> bool {
    path.starts_with("/v1/organization/")
}

/// The `start_time` of a request's query.
fn start_time(query: &str) -> i64 {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("start_time="))
        .unwrap_or_else(|| panic!("no start_time in {query}"))
        .parse()
        .unwrap()
}

fn day_number(day: &str) -> i64 {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp() / DAY
}

/// What an admin's stored state holds of the ChatGPT source: its settings, its secrets,
/// its records (payload and runs) and its checkpoints.
async fn ws_state(store: &Store) -> String {
    let mut out = format!(
        "{:?}\n{:?}\n",
        store.settings(CONN).await.unwrap(),
        store
            .secrets(CONN)
            .await
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.expose().to_string()))
            .collect::<Vec<_>>()
    );
    for s in WORKSPACE_STREAMS {
        for r in store.records(CONN, s).await.unwrap() {
            out.push_str(&format!(
                "{:?} {} {} {} {}\n",
                r.key, r.payload, r.first_run, r.changed_run, r.seen_run
            ));
        }
        out.push_str(&format!(
            "{s} checkpoint {:?}\n",
            store.checkpoint(CONN, s).await.unwrap()
        ));
    }
    out
}

/// Everything stored outside the secret slot and the import history (whose failed runs
/// are expected): settings, secrets, records and checkpoints of every stream.
async fn whole_state(store: &Store) -> String {
    let mut out = ws_state(store).await;
    for s in PLATFORM_STREAMS {
        for r in store.records(CONN, s).await.unwrap() {
            out.push_str(&format!(
                "{:?} {} {} {}\n",
                r.key, r.payload, r.changed_run, r.seen_run
            ));
        }
        out.push_str(&format!(
            "{s} checkpoint {:?}\n",
            store.checkpoint(CONN, s).await.unwrap()
        ));
    }
    out
}

// ---------------------------------------------------------------------------------------
// the workspace's figures, stored and true

fn dec(c: Credits) -> Decimal {
    Decimal::new(c.quarters() as i64 * 25, 2)
}

/// A JSON number as a decimal, from its text (exact: what the API sent).
fn dec_of(v: &Value) -> Decimal {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string()).unwrap(),
        Value::Null => Decimal::ZERO,
        other => panic!("credits {other} are not a number"),
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Act {
    threads: u64,
    turns: u64,
    credits: Decimal,
}

impl Act {
    fn add(&mut self, p: &Value) {
        self.threads += p["threads"].as_u64().unwrap_or(0);
        self.turns += p["turns"].as_u64().unwrap_or(0);
        self.credits += dec_of(&p["credits"]);
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
struct ModelAct {
    credits: Decimal,
    text_input_tokens: u64,
    cached_text_input_tokens: u64,
    text_output_tokens: u64,
}

/// The workspace's figures keyed by lower-cased email.
#[derive(Debug, Default, PartialEq)]
struct WsView {
    /// email → (day rows, totals)
    totals: BTreeMap<String, (u64, Act)>,
    /// (email, client_id)
    clients: BTreeMap<(String, String), Act>,
    /// (email, model, speed)
    models: BTreeMap<(String, String, String), ModelAct>,
    /// (day, email)
    daily: BTreeMap<(String, String), Act>,
    reviews: BTreeMap<String, BTreeMap<String, u64>>,
    responses: BTreeMap<String, BTreeMap<String, u64>>,
}

/// Fields of a code-review record that are not counts.
const NOT_COUNTS: [&str; 7] = [
    "period_start",
    "period_end",
    "period",
    "user_id",
    "email",
    "extra",
    "schema_version",
];

/// The stored workspace records, summed one breakdown at a time, with the checks every
/// record must pass: its natural key is the stored key, read from its own payload, and
/// unique; it names its person (email, whatever the field the API used); its period is a
/// day.
async fn stored_ws(store: &Store, h: &host_harness::runner::Harness) -> WsView {
    let mut v = WsView::default();
    for stream in WORKSPACE_STREAMS {
        let pk = &h
            .info()
            .streams
            .iter()
            .find(|s| s.name == stream)
            .unwrap()
            .primary_key;
        let mut seen = HashSet::new();
        for r in store.records(CONN, stream).await.unwrap() {
            let p: Value = serde_json::from_str(&r.payload).unwrap();
            let natural: Vec<Option<String>> = pk
                .iter()
                .map(|f| match &p[f] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                })
                .collect();
            assert_eq!(
                r.key, natural,
                "{stream}: the stored key is the payload's natural key"
            );
            assert!(
                seen.insert(natural.clone()),
                "{stream}: duplicate natural key {natural:?}"
            );
            assert_eq!(p["period"], "day", "{stream}");
            assert_eq!(p["schema_version"], 1);
            let email = p["email"]
                .as_str()
                .unwrap_or_else(|| panic!("{stream}: a record without its email: {p}"))
                .to_lowercase();
            let day = p["period_start"].as_str().unwrap()[..10].to_string();
            match stream {
                "workspace_usage" => match p["breakdown"].as_str().unwrap() {
                    "total" => {
                        let t = v.totals.entry(email.clone()).or_default();
                        t.0 += 1;
                        t.1.add(&p);
                        v.daily.entry((day, email)).or_default().add(&p);
                    }
                    "client" => {
                        let id = p["client_id"].as_str().unwrap().to_string();
                        v.clients.entry((email, id)).or_default().add(&p);
                    }
                    "model" => {
                        let key = (
                            email,
                            p["model"].as_str().unwrap().to_string(),
                            p["speed"].as_str().unwrap().to_string(),
                        );
                        let m = v.models.entry(key).or_default();
                        m.credits += dec_of(&p["credits"]);
                        m.text_input_tokens += p["text_input_tokens"].as_u64().unwrap();
                        m.cached_text_input_tokens +=
                            p["cached_text_input_tokens"].as_u64().unwrap();
                        m.text_output_tokens += p["text_output_tokens"].as_u64().unwrap();
                    }
                    other => panic!("breakdown {other}"),
                },
                _ => {
                    let counts = if stream == "code_reviews" {
                        v.reviews.entry(email).or_default()
                    } else {
                        v.responses.entry(email).or_default()
                    };
                    for (k, n) in p.as_object().unwrap() {
                        if NOT_COUNTS.contains(&k.as_str()) {
                            continue;
                        }
                        let n = n
                            .as_u64()
                            .unwrap_or_else(|| panic!("{stream}: {k} is not a count: {p}"));
                        *counts.entry(k.clone()).or_default() += n;
                    }
                    // what is not a count is kept aside, never as a count
                    for (k, x) in p["extra"].as_object().unwrap() {
                        assert!(!x.is_u64(), "{stream}: count {k} went to extra: {p}");
                    }
                }
            }
        }
    }
    v
}

fn truth_ws(t: &WorkspaceTruth) -> WsView {
    let act = |threads, turns, credits| Act {
        threads,
        turns,
        credits: dec(credits),
    };
    WsView {
        totals: t
            .usage_totals
            .iter()
            .map(|u| {
                (
                    u.email.clone(),
                    (u.rows, act(u.threads, u.turns, u.credits)),
                )
            })
            .collect(),
        clients: t
            .by_client
            .iter()
            .map(|c| {
                (
                    (c.email.clone(), c.client_id.clone()),
                    act(c.threads, c.turns, c.credits),
                )
            })
            .collect(),
        models: t
            .by_model
            .iter()
            .map(|m| {
                (
                    (m.email.clone(), m.model.clone(), m.speed.clone()),
                    ModelAct {
                        credits: dec(m.credits),
                        text_input_tokens: m.text_input_tokens,
                        cached_text_input_tokens: m.cached_text_input_tokens,
                        text_output_tokens: m.text_output_tokens,
                    },
                )
            })
            .collect(),
        daily: t
            .daily
            .iter()
            .map(|d| {
                (
                    (d.day.clone(), d.email.clone()),
                    act(d.threads, d.turns, d.credits),
                )
            })
            .collect(),
        reviews: t
            .code_reviews
            .iter()
            .map(|r| (r.email.clone(), r.counts()))
            .collect(),
        responses: t
            .code_review_responses
            .iter()
            .map(|r| (r.email.clone(), r.counts()))
            .collect(),
    }
}

/// The stored workspace data equals the mock's ground truth, exactly, breakdown by
/// breakdown; a client breakdown sums to the totals minus what was served without one.
async fn assert_ws_equals_truth(
    store: &Store,
    h: &host_harness::runner::Harness,
    t: &WorkspaceTruth,
) {
    let stored = stored_ws(store, h).await;
    let truth = truth_ws(t);
    assert_eq!(stored.totals, truth.totals, "totals per email");
    assert_eq!(stored.clients, truth.clients, "per email × client");
    assert_eq!(stored.models, truth.models, "per email × model and speed");
    assert_eq!(stored.daily, truth.daily, "per day × email");
    assert_eq!(
        stored.reviews, truth.reviews,
        "code reviews per email, every count"
    );
    assert_eq!(
        stored.responses, truth.responses,
        "responses per email, every count"
    );
    for u in &t.usage_totals {
        let mut listed = Act::default();
        for ((e, _), a) in &stored.clients {
            if *e == u.email {
                listed.threads += a.threads;
                listed.turns += a.turns;
                listed.credits += a.credits;
            }
        }
        assert_eq!(
            listed,
            Act {
                threads: u.threads - u.unlisted_threads,
                turns: u.turns - u.unlisted_turns,
                credits: dec(u.credits) - dec(u.unlisted_credits),
            },
            "{}: the client breakdown is the totals minus the rows served without clients",
            u.email
        );
        // and the model breakdown holds all of the credits
        let models: Decimal = stored
            .models
            .iter()
            .filter(|((e, _, _), _)| *e == u.email)
            .map(|(_, m)| m.credits)
            .sum();
        assert_eq!(models, dec(u.credits), "{}", u.email);
    }
}

/// Platform usage (every model) per lower-cased owner email, from the Platform truth.
fn platform_by_email(t: &WorkspaceTruth) -> BTreeMap<String, pv::ApiKeyUse> {
    t.platform
        .iter()
        .map(|p| {
            (
                p.email.clone(),
                pv::ApiKeyUse {
                    requests: p.requests,
                    input_tokens: p.input_tokens,
                    cached_input_tokens: p.cached_input_tokens,
                    output_tokens: p.output_tokens,
                    tokens: p.input_tokens + p.output_tokens,
                },
            )
        })
        .collect()
}

/// The ChatGPT column a person should have, from the workspace truth.
fn chatgpt_of(t: &WorkspaceTruth, email: &str) -> pv::ChatgptUse {
    let mut c = pv::ChatgptUse::default();
    if let Some(u) = t.totals(email) {
        c.threads = u.threads;
        c.turns = u.turns;
        c.credits = dec(u.credits);
        for (k, n) in [
            ("text_input_tokens", u.text_input_tokens),
            ("cached_text_input_tokens", u.cached_text_input_tokens),
            ("text_output_tokens", u.text_output_tokens),
        ] {
            c.tokens.insert(k.to_string(), n);
        }
    }
    for b in t.by_client.iter().filter(|b| b.email == email) {
        c.by_client.insert(
            b.client_id.clone(),
            pv::Activity {
                threads: b.threads,
                turns: b.turns,
                credits: dec(b.credits),
            },
        );
    }
    for m in t.by_model.iter().filter(|m| m.email == email) {
        let tokens = [
            ("text_input_tokens", m.text_input_tokens),
            ("cached_text_input_tokens", m.cached_text_input_tokens),
            ("text_output_tokens", m.text_output_tokens),
        ]
        .into_iter()
        .map(|(k, n)| (k.to_string(), n))
        .collect();
        c.by_model.insert(
            format!("{}/{}", m.model, m.speed),
            pv::ModelUse {
                credits: dec(m.credits),
                tokens,
            },
        );
    }
    c
}

/// The merged view equals both truths: each person once, the API-key column against the
/// Platform truth, the ChatGPT column (totals, surfaces, models, tokens), code reviews and
/// responses against the workspace truth; service accounts kept; nothing dropped; the
/// attributed shares what they say.
fn assert_people_equal_truth(r: &PeopleReport, t: &WorkspaceTruth, gt: &GroundTruth) {
    assert_eq!(r.period, Period::All);
    let platform = platform_by_email(t);
    let mut emails = BTreeSet::new();
    let (mut api_people, mut api_service) = (0u64, 0u64);
    let mut seen_membership = BTreeSet::new();
    for row in &r.people {
        assert!(
            emails.insert(row.email.clone()),
            "{} appears twice",
            row.email
        );
        assert_eq!(row.period_start, None);
        if let Some(svc) = row.email.strip_prefix("service account: ") {
            assert!(!svc.is_empty());
            assert_eq!(row.chatgpt, pv::ChatgptUse::default(), "{}", row.email);
            api_service += row.api_key.tokens;
            continue;
        }
        assert_eq!(
            row.email,
            row.email.to_lowercase(),
            "one lower-cased email per person"
        );
        let person = t
            .person(&row.email)
            .unwrap_or_else(|| panic!("{} is nobody the mock knows", row.email));
        let want_api = platform.get(&row.email).cloned().unwrap_or_default();
        assert_eq!(row.api_key, want_api, "{}: the API-key column", row.email);
        assert_eq!(
            row.chatgpt,
            chatgpt_of(t, &row.email),
            "{}: the ChatGPT column",
            row.email
        );
        let reviews = t
            .code_reviews
            .iter()
            .find(|x| x.email == row.email)
            .map(|x| x.counts())
            .unwrap_or_default();
        assert_eq!(row.code_reviews, reviews, "{}: code reviews", row.email);
        let responses = t
            .code_review_responses
            .iter()
            .find(|x| x.email == row.email)
            .map(|x| x.counts())
            .unwrap_or_default();
        assert_eq!(
            row.code_review_responses, responses,
            "{}: responses",
            row.email
        );
        // names come from the Platform directory
        let want_name = person
            .platform_user_id
            .as_ref()
            .map(|_| person.name.clone());
        assert_eq!(row.name, want_name, "{}", row.email);
        match person.membership {
            Membership::ChatgptOnly => {
                assert_eq!(row.api_key, pv::ApiKeyUse::default(), "{}", row.email)
            }
            Membership::PlatformOnly => {
                assert_eq!(row.chatgpt, pv::ChatgptUse::default(), "{}", row.email);
                assert!(row.code_reviews.is_empty() && row.code_review_responses.is_empty());
            }
            Membership::Both => {}
        }
        let both_columns = row.api_key.tokens > 0 && row.chatgpt.credits > Decimal::ZERO;
        seen_membership.insert((format!("{:?}", person.membership), both_columns));
        api_people += row.api_key.tokens;
    }
    // Everyone with any figure appears, and nobody else.
    let mut want: BTreeSet<String> = platform.keys().cloned().collect();
    want.extend(t.usage_totals.iter().map(|u| u.email.clone()));
    want.extend(t.code_reviews.iter().map(|u| u.email.clone()));
    want.extend(t.code_review_responses.iter().map(|u| u.email.clone()));
    let got: BTreeSet<String> = emails
        .iter()
        .filter(|e| !e.starts_with("service account: "))
        .cloned()
        .collect();
    assert_eq!(got, want, "the people of the view");
    // The three kinds of people are all there: in both paths with both columns, and on
    // one side only.
    for m in [
        ("Both", true),
        ("ChatgptOnly", false),
        ("PlatformOnly", false),
    ] {
        assert!(
            seen_membership.contains(&(m.0.to_string(), m.1)),
            "no {m:?} person in the view: {seen_membership:?}"
        );
    }
    // Nothing dropped: every API-key token (service accounts and anything unattributed
    // included) and every credit is in the view.
    let unattributed_api: u64 = r.unattributed.iter().map(|u| u.api_key.tokens).sum();
    let truth_api: u64 = gt
        .rows
        .iter()
        .map(|x| x.input_tokens + x.output_tokens)
        .sum();
    let truth_service: u64 = gt
        .rows
        .iter()
        .filter(|x| x.user_id.is_none())
        .map(|x| x.input_tokens + x.output_tokens)
        .sum();
    assert!(truth_service > 0, "the mock has service-account usage");
    assert_eq!(
        api_service, truth_service,
        "service-account usage is kept, under its account"
    );
    assert_eq!(
        api_people + api_service + unattributed_api,
        truth_api,
        "no API-key token dropped"
    );
    let credits: Decimal = r
        .people
        .iter()
        .chain(&r.unattributed)
        .map(|p| p.chatgpt.credits)
        .sum();
    assert_eq!(credits, dec(t.total_credits()), "no credit dropped");
    // The shares: person-attributed API-key tokens over all of them; every credit has an
    // email.
    let share = api_people as f64 / truth_api as f64;
    assert!(
        (r.attributed_share.api_key - share).abs() < 1e-12,
        "{:?} vs {share}",
        r.attributed_share
    );
    assert!(
        r.attributed_share.api_key < 1.0,
        "service accounts are not people"
    );
    assert_eq!(r.attributed_share.chatgpt, 1.0);
}

/// Per day: the ChatGPT totals per (day, email) equal the truth's day rows, and the
/// API-key column per (day, email) the Platform truth's rows of that day.
fn assert_daily_people_equal_truth(r: &PeopleReport, t: &WorkspaceTruth, gt: &GroundTruth) {
    assert_eq!(r.period, Period::Day);
    let mut chat: BTreeMap<(String, String), Act> = BTreeMap::new();
    let mut api: BTreeMap<(String, String), [u64; 4]> = BTreeMap::new();
    let mut keys = HashSet::new();
    for row in r
        .people
        .iter()
        .filter(|p| !p.email.starts_with("service account: "))
    {
        let day = row.period_start.clone().expect("a day");
        assert!(
            keys.insert((day.clone(), row.email.clone())),
            "{day} {} twice",
            row.email
        );
        if row.chatgpt.credits > Decimal::ZERO || row.chatgpt.turns > 0 {
            chat.insert(
                (day.clone(), row.email.clone()),
                Act {
                    threads: row.chatgpt.threads,
                    turns: row.chatgpt.turns,
                    credits: row.chatgpt.credits,
                },
            );
        }
        if row.api_key.requests > 0 || row.api_key.tokens > 0 {
            let a = &row.api_key;
            api.insert(
                (day, row.email.clone()),
                [
                    a.requests,
                    a.input_tokens,
                    a.cached_input_tokens,
                    a.output_tokens,
                ],
            );
        }
    }
    assert_eq!(chat, truth_ws(t).daily, "ChatGPT totals per day and person");
    let mut want: BTreeMap<(String, String), [u64; 4]> = BTreeMap::new();
    for x in gt.rows.iter().filter(|x| x.user_id.is_some()) {
        let e = want
            .entry((x.day.clone(), x.user_email.clone().unwrap().to_lowercase()))
            .or_default();
        e[0] += x.requests;
        e[1] += x.input_tokens;
        e[2] += x.cached_input_tokens;
        e[3] += x.output_tokens;
    }
    assert_eq!(api, want, "API-key use per day and person");
}

// ---------------------------------------------------------------------------------------
// the CLI

/// `host-harness COMMAND --db DB [component and redirects] ARGS`, its output appended to
/// `transcript`.
fn cli(
    db: &Path,
    mock: Option<&MockServer>,
    command: &str,
    args: &[&str],
    env: &[(&str, &str)],
    transcript: &mut String,
) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg(command).arg("--db").arg(db);
    if matches!(command, "configure" | "validate" | "sync") {
        cmd.arg("--component").arg(connector_wasm());
        if let Some(m) = mock {
            for host in ["api.openai.com", "api.chatgpt.com"] {
                cmd.args(["--redirect", &format!("{host}={}", m.base_url())]);
            }
        }
    }
    cmd.args(args)
        .envs(env.iter().copied())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = cmd.output().unwrap();
    // (not the arguments: a test puts a key there on purpose)
    transcript.push_str(&format!(
        "$ {command} …\n{}{}\n",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ));
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Everything the host logs through `tracing` in this test binary (the component's
/// `host-log` lines included).
fn captured_logs() -> String {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    let buf = LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "host_harness=trace,connector=trace,openai_mock=trace",
            ))
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .try_init()
            .expect("install the log capture");
        buf
    });
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

struct Sink(Arc<Mutex<Vec<u8>>>);
impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// the tests

/// Both sources: `validate` grants all five capabilities; one sync imports the workspace
/// exactly (every breakdown, every count), the Platform exactly, and the merged view has
/// each person once with both columns right, in the library and in `report --json`.
#[tokio::test(flavor = "multi_thread")]
async fn both_sources_import_the_ground_truth_and_merge_each_person_once() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 40, DAYS))
        .await
        .unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("both.db");
    let store = open(&db).await;

    let (saved, report) = save(&harness, &store, &both_settings(&mock), both_secrets(&e)).await;
    expect_caps(
        &report,
        (wit::CheckStatus::Granted, None),
        (wit::CheckStatus::Granted, None),
    );
    assert_eq!(
        saved.origins,
        ["https://api.openai.com", "https://api.chatgpt.com"]
    );
    let tail = &e.analytics[e.analytics.len() - 4..];
    assert_eq!(
        saved.secrets["analytics_api_key"],
        format!("sk-cgpt-…{tail}")
    );
    for c in WORKSPACE_CAPS {
        assert!(
            cap(&report, c).message.starts_with("Can read"),
            "{report:?}"
        );
    }
    // one probe per capability, each on its own endpoint
    mock.reset_requests();
    let report = harness.validate(&store, CONN).await.unwrap();
    assert!(report.ok);
    expect_caps(
        &report,
        (wit::CheckStatus::Granted, None),
        (wit::CheckStatus::Granted, None),
    );
    let probed: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(probed.len(), 5, "{probed:?}");
    for ep in ["usage", "code_reviews", "code_review_responses"] {
        let want = format!(
            "/v1/analytics/codex/workspaces/{}/{ep}",
            mock.workspace_id()
        );
        assert_eq!(
            probed.iter().filter(|p| **p == want).count(),
            1,
            "{probed:?}"
        );
    }

    mock.reset_requests();
    let run = sync(&harness, &store).await.unwrap();
    assert_eq!(run.status, "succeeded");
    let truth = mock.workspace_truth();
    let gt = mock.ground_truth();
    assert_eq!(
        (truth.first_day.as_str(), truth.last_day.as_str()),
        (
            gt.rows[0].day.as_str(),
            gt.rows.last().unwrap().day.as_str()
        )
    );
    assert_ws_equals_truth(&store, &harness, &truth).await;
    assert_eq!(
        stored_usage(&store).await,
        truth_usage(&mock),
        "the Platform path, as before"
    );
    // The serving quirks were exercised: mixed-case emails, rows naming `user_email`,
    // rows without clients, an unknown surface, several pages.
    let raw: Vec<Value> = store
        .records(CONN, "workspace_usage")
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(&r.payload).unwrap())
        .collect();
    assert!(raw.iter().any(|p| p["email"]
        .as_str()
        .unwrap()
        .chars()
        .any(|c| c.is_uppercase())));
    // Rows naming the email `user_email` were served (the raw pages show it), and every
    // record carries its person's email (`stored_ws` checks each one).
    let bodies: Vec<String> = store
        .sqlite()
        .unwrap()
        .prepare("SELECT body FROM raw_pages WHERE stream = 'workspace_usage'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        bodies.iter().any(|b| b.contains("\"user_email\":")),
        "no row named its email user_email"
    );
    assert!(
        bodies.iter().any(|b| b.contains("\"clients\":[]")),
        "no row without clients"
    );
    assert!(
        raw.iter().all(|p| p["extra"].get("user_email").is_none()),
        "user_email alone is the email"
    );
    assert!(
        truth.usage_totals.iter().any(|u| u.unlisted_rows > 0),
        "rows served without clients"
    );
    assert!(truth
        .by_client
        .iter()
        .any(|c| c.client_id == "CODEX_FUTURE_SURFACE"));
    assert!(
        run.streams["workspace_usage"].pages > 1,
        "{:?}",
        run.streams
    );
    let ws_requests = mock
        .requests()
        .iter()
        .filter(|r| is_analytics(&r.path))
        .count() as u64;
    let counted: u64 = WORKSPACE_STREAMS
        .iter()
        .map(|s| run.streams[*s].requests)
        .sum();
    assert_eq!(
        counted, ws_requests,
        "the history counts what the provider saw"
    );
    assert_eq!(run.requests(), mock.requests().len() as u64);
    for s in WORKSPACE_STREAMS {
        assert_eq!(
            run.streams[s].inserted,
            store.record_count(CONN, s).await.unwrap(),
            "{s}"
        );
    }

    // The merged view.
    let view = people(&store, CONN, Period::All).await.unwrap();
    assert_people_equal_truth(&view, &truth, &gt);
    assert!(
        view.unattributed.is_empty(),
        "everything has an owner here: {:?}",
        view.unattributed
    );
    let daily = people(&store, CONN, Period::Day).await.unwrap();
    assert_daily_people_equal_truth(&daily, &truth, &gt);
    // Weeks add up to the whole window.
    let weekly = people(&store, CONN, Period::Week).await.unwrap();
    for row in &view.people {
        let weeks: Vec<_> = weekly
            .people
            .iter()
            .filter(|w| w.email == row.email)
            .collect();
        assert!(weeks.iter().all(|w| {
            let d =
                chrono::NaiveDate::parse_from_str(w.period_start.as_deref().unwrap(), "%Y-%m-%d")
                    .unwrap();
            chrono::Datelike::weekday(&d) == chrono::Weekday::Mon
        }));
        let credits: Decimal = weeks.iter().map(|w| w.chatgpt.credits).sum();
        let tokens: u64 = weeks.iter().map(|w| w.api_key.tokens).sum();
        assert_eq!(
            (credits, tokens),
            (row.chatgpt.credits, row.api_key.tokens),
            "{}",
            row.email
        );
    }

    // The CLI shows the same view.
    let mut transcript = String::new();
    let o = cli(&db, None, "report", &["--json"], &[], &mut transcript);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["period"], "all");
    assert_eq!(v["people"], serde_json::to_value(&view.people).unwrap());
    // (serde_json's default float parsing may differ in the last bit)
    let close = |x: &Value, y: f64| (x.as_f64().unwrap() - y).abs() < 1e-12;
    assert!(
        close(
            &v["attributed_share"]["api_key"],
            view.attributed_share.api_key
        ),
        "{v}"
    );
    assert!(
        close(
            &v["attributed_share"]["chatgpt"],
            view.attributed_share.chatgpt
        ),
        "{v}"
    );
    assert_eq!(v["unattributed"]["email"], "(unattributed)");
    assert_eq!(v["unattributed"]["api_key"]["tokens"], 0);
    assert_eq!(
        (v["first_day"].as_str(), v["last_day"].as_str()),
        (
            Some(truth.first_day.as_str()),
            Some(truth.last_day.as_str())
        )
    );
    let o = cli(
        &db,
        None,
        "report",
        &["--json", "--period", "day"],
        &[],
        &mut transcript,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["people"], serde_json::to_value(&daily.people).unwrap());
    let o = cli(&db, None, "report", &[], &[], &mut transcript);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for row in &view.people {
        let shown = match &row.name {
            Some(n) => format!("{n} <{}>", row.email),
            None => row.email.clone(),
        };
        let lines = text
            .lines()
            .filter(|l| l.starts_with(&format!("{shown} ")))
            .count();
        assert_eq!(lines, 1, "{shown} once in:\n{text}");
    }
    assert!(
        text.contains(&format!(
            "Attributed to a person: {:.1}% of API-key Codex tokens, 100.0% of ChatGPT credits.",
            view.attributed_share.api_key * 100.0
        )),
        "{text}"
    );
    assert!(
        text.contains("CODEX_FUTURE_SURFACE"),
        "every surface is shown: {text}"
    );
    assert_no_secret("report", &transcript, &e.analytics);
}

/// Usage nobody can be named for is kept as unattributed, with the shares saying so:
/// here the key may read usage but not the directory, so no API-key usage has a person.
#[tokio::test(flavor = "multi_thread")]
async fn usage_without_a_person_is_kept_unattributed_and_the_shares_say_so() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 30, 10)).await.unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    let s = secrets(&[
        ("api_token", &e.keys.usage_only),
        ("analytics_api_key", &e.analytics),
    ]);
    let values = set(&[
        ("chatgpt_workspace_id", mock.workspace_id()),
        ("backfill_days", "10"),
        ("codex_model_pattern", "*"),
    ]);
    // the live check says what is missing, and saves nothing
    let (saved, report) = harness
        .configure_validated(&store, CONN, &values, s.clone())
        .await
        .unwrap();
    assert!(saved.is_none() && !report.ok);
    assert_eq!(
        cap(&report, "platform-directory").problem,
        Some(wit::ErrorClass::Forbidden)
    );
    assert_eq!(
        cap(&report, "workspace-usage").status,
        wit::CheckStatus::Granted
    );
    harness.configure(&store, CONN, &values, s).await.unwrap();
    let mut streams: Vec<String> = WORKSPACE_STREAMS.iter().map(|s| s.to_string()).collect();
    streams.push("usage".into());
    harness
        .sync(
            &store,
            CONN,
            SyncOptions {
                streams: Some(streams),
                ..SyncOptions::new("test")
            },
        )
        .await
        .unwrap();
    let truth = mock.workspace_truth();
    let gt = mock.ground_truth();
    assert_ws_equals_truth(&store, &harness, &truth).await;
    let view = people(&store, CONN, Period::All).await.unwrap();
    assert_eq!(view.unattributed.len(), 1, "{view:?}");
    let u = &view.unattributed[0];
    assert_eq!(u.email, "(unattributed)");
    let want = [
        gt.rows.iter().map(|r| r.requests).sum::<u64>(),
        gt.rows.iter().map(|r| r.input_tokens).sum(),
        gt.rows.iter().map(|r| r.cached_input_tokens).sum(),
        gt.rows.iter().map(|r| r.output_tokens).sum(),
    ];
    assert_eq!(
        [
            u.api_key.requests,
            u.api_key.input_tokens,
            u.api_key.cached_input_tokens,
            u.api_key.output_tokens
        ],
        want,
        "every API-key token is kept, none dropped"
    );
    assert!(view
        .people
        .iter()
        .all(|p| p.api_key == pv::ApiKeyUse::default()));
    assert_eq!(view.attributed_share.api_key, 0.0);
    assert_eq!(view.attributed_share.chatgpt, 1.0);
    for row in &view.people {
        assert_eq!(row.chatgpt, chatgpt_of(&truth, &row.email), "{}", row.email);
    }
    // and the CLI prints it, with the shares
    let mut transcript = String::new();
    let o = cli(
        store.path().unwrap(),
        None,
        "report",
        &[],
        &[],
        &mut transcript,
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("(unattributed) "))
            .count(),
        1,
        "{text}"
    );
    assert!(
        text.contains(
            "Attributed to a person: 0.0% of API-key Codex tokens, 100.0% of ChatGPT credits."
        ),
        "{text}"
    );
    let o = cli(
        store.path().unwrap(),
        None,
        "report",
        &["--json"],
        &[],
        &mut transcript,
    );
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["unattributed"]["api_key"]["tokens"], want[1] + want[3]);
}

/// Rows keep changing for days: a second sync re-reads the trailing window and equals the
/// new truth, updating what changed and inserting only what is new.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_sync_after_late_changes_equals_the_new_truth_without_duplicates() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 25, DAYS))
        .await
        .unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    save(&harness, &store, &both_settings(&mock), both_secrets(&e)).await;
    let run1 = sync(&harness, &store).await.unwrap();
    let before = mock.workspace_truth();
    assert_ws_equals_truth(&store, &harness, &before).await;
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for s in WORKSPACE_STREAMS {
        counts.insert(s, store.record_count(CONN, s).await.unwrap());
    }

    mock.change_recent_workspace_days(3);
    let after = mock.workspace_truth();
    assert_ne!(before, after);
    mock.reset_requests();
    let run2 = sync(&harness, &store).await.unwrap();
    assert_ws_equals_truth(&store, &harness, &after).await;
    assert_eq!(stored_usage(&store).await, truth_usage(&mock));
    let view = people(&store, CONN, Period::All).await.unwrap();
    assert_people_equal_truth(&view, &after, &mock.ground_truth());

    // The re-read window: from the day the first run read through, minus the default 5
    // re-read days; older days were neither read nor touched.
    let today = day_number(&after.last_day);
    let reread_from = (today - 5) * DAY;
    let analytics: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| is_analytics(&r.path))
        .collect();
    assert!(!analytics.is_empty());
    for r in &analytics {
        assert_eq!(start_time(&r.query), reread_from, "{r:?}");
    }
    for s in WORKSPACE_STREAMS {
        let c = &run2.streams[s];
        let now = store.record_count(CONN, s).await.unwrap();
        assert_eq!(
            c.inserted,
            now - counts[s],
            "{s}: inserted only the new rows: {c:?}"
        );
        assert!(c.updated > 0, "{s}: the changed rows were updated: {c:?}");
        assert!(
            c.pages < run1.streams[s].pages || run1.streams[s].pages == 1,
            "{s}"
        );
        for r in store.records(CONN, s).await.unwrap() {
            let p: Value = serde_json::from_str(&r.payload).unwrap();
            let day = day_number(&p["period_start"].as_str().unwrap()[..10]);
            if day < today - 5 {
                assert_eq!(
                    (r.seen_run, r.changed_run),
                    (r.first_run, run1.id),
                    "{s}: {day} was re-read"
                );
            }
            if r.changed_run == run2.id {
                assert!(
                    day > today - 3,
                    "{s}: only the last 3 days changed, not {}",
                    p["period_start"]
                );
            }
        }
    }
    // Usage: a person new on each changed day, and a new client for someone.
    assert!(run2.streams["workspace_usage"].inserted > 0);
    // Reviews and responses only grew.
    assert_eq!(run2.streams["code_reviews"].inserted, 0);
    assert_eq!(run2.streams["code_review_responses"].inserted, 0);
    assert!(after
        .by_client
        .iter()
        .any(|c| c.client_id == "CODEX_WORK_MOBILE"));

    // A third sync with nothing new changes nothing.
    let run3 = sync(&harness, &store).await.unwrap();
    for s in WORKSPACE_STREAMS {
        assert_eq!(
            (run3.streams[s].inserted, run3.streams[s].updated),
            (0, 0),
            "{s}"
        );
    }
    assert_ws_equals_truth(&store, &harness, &mock.workspace_truth()).await;
}

/// Only the ChatGPT workspace configured: no Platform request at all, the Platform
/// capabilities not configured and its streams empty; the workspace imported exactly.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_workspace_source_works_end_to_end_without_a_platform_request() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 20, DAYS))
        .await
        .unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    let (saved, report) = save(
        &harness,
        &store,
        &ws_settings(&mock, &[]),
        secrets(&[("analytics_api_key", &e.analytics)]),
    )
    .await;
    expect_caps(
        &report,
        (wit::CheckStatus::NotConfigured, None),
        (wit::CheckStatus::Granted, None),
    );
    assert!(
        cap(&report, "platform-usage")
            .message
            .contains("Not configured"),
        "{report:?}"
    );
    assert_eq!(report.organization, None);
    assert_eq!(saved.origins, ["https://api.chatgpt.com"]);
    assert_eq!(
        saved.secrets.keys().collect::<Vec<_>>(),
        ["analytics_api_key"]
    );
    let report = harness.validate(&store, CONN).await.unwrap();
    expect_caps(
        &report,
        (wit::CheckStatus::NotConfigured, None),
        (wit::CheckStatus::Granted, None),
    );
    let probes = mock.requests();
    assert_eq!(
        probes.len(),
        6,
        "one probe per ChatGPT capability, twice: {probes:?}"
    );
    assert!(probes.iter().all(|r| is_analytics(&r.path)), "{probes:?}");

    mock.reset_requests();
    let run = sync(&harness, &store).await.unwrap();
    assert_eq!(run.status, "succeeded");
    let log = mock.requests();
    assert!(!log.is_empty());
    assert!(
        log.iter().all(|r| is_analytics(&r.path) && r.status == 200),
        "{log:?}"
    );
    assert!(
        !log.iter().any(|r| is_platform(&r.path)),
        "no Platform request at all"
    );
    assert_eq!(run.requests(), log.len() as u64);
    for s in PLATFORM_STREAMS {
        assert_eq!(store.record_count(CONN, s).await.unwrap(), 0, "{s}");
        assert_eq!(
            (run.streams[s].requests, run.streams[s].inserted),
            (0, 0),
            "{s}"
        );
        assert_eq!(store.checkpoint(CONN, s).await.unwrap(), None, "{s}");
    }
    assert_ws_equals_truth(&store, &harness, &mock.workspace_truth()).await;
    let view = people(&store, CONN, Period::All).await.unwrap();
    assert!(view
        .people
        .iter()
        .all(|p| p.api_key == pv::ApiKeyUse::default() && p.name.is_none()));
    assert_eq!(view.attributed_share.api_key, 0.0);
    assert_eq!(view.attributed_share.chatgpt, 1.0);
    let truth = mock.workspace_truth();
    for row in &view.people {
        assert_eq!(row.chatgpt, chatgpt_of(&truth, &row.email), "{}", row.email);
    }
    assert_eq!(
        view.people.len(),
        truth
            .people
            .iter()
            .filter(|p| truth.totals(&p.email).is_some()
                || truth.code_reviews.iter().any(|r| r.email == p.email)
                || truth
                    .code_review_responses
                    .iter()
                    .any(|r| r.email == p.email))
            .count()
    );
}

/// Only the Platform configured: as before the workspace existed, the ChatGPT
/// capabilities not configured, no analytics request, its streams empty.
#[tokio::test(flavor = "multi_thread")]
async fn only_the_platform_source_keeps_todays_behaviour() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 20, DAYS))
        .await
        .unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    let (saved, report) = save(&harness, &store, &[], token(&e.keys.admin)).await;
    expect_caps(
        &report,
        (wit::CheckStatus::Granted, None),
        (wit::CheckStatus::NotConfigured, None),
    );
    assert!(
        cap(&report, "workspace-usage")
            .message
            .contains("ChatGPT sign-in"),
        "{report:?}"
    );
    assert_eq!(saved.origins, ["https://api.openai.com"]);
    assert!(
        !mock.requests().iter().any(|r| is_analytics(&r.path)),
        "{:?}",
        mock.requests()
    );
    mock.reset_requests();
    let run = sync(&harness, &store).await.unwrap();
    let log = mock.requests();
    assert!(
        !log.iter().any(|r| is_analytics(&r.path)),
        "no analytics request: {log:?}"
    );
    assert_eq!(run.requests(), log.len() as u64);
    for s in WORKSPACE_STREAMS {
        assert_eq!(store.record_count(CONN, s).await.unwrap(), 0, "{s}");
        assert_eq!(
            (run.streams[s].requests, run.streams[s].pages),
            (0, 1),
            "{s}: one empty page"
        );
        assert_eq!(store.checkpoint(CONN, s).await.unwrap(), None, "{s}");
    }
    assert_eq!(stored_usage(&store).await, truth_usage(&mock));
    let view = people(&store, CONN, Period::All).await.unwrap();
    assert!(view
        .people
        .iter()
        .all(|p| p.chatgpt == pv::ChatgptUse::default()
            && p.code_reviews.is_empty()
            && p.code_review_responses.is_empty()));
    assert_eq!(view.attributed_share.chatgpt, 0.0);
}

/// `configure`, with the live check or without.
async fn attempt(
    h: &host_harness::runner::Harness,
    store: &Store,
    validated: bool,
    values: Vec<(String, String)>,
    s: BTreeMap<String, host_harness::secret::Secret>,
) -> Result<(), HostError> {
    if validated {
        h.configure_validated(store, CONN, &values, s)
            .await
            .map(|_| ())
    } else {
        h.configure(store, CONN, &values, s).await.map(|_| ())
    }
}

/// What `configure` refuses from the settings alone, before any request, storing
/// nothing: a Platform Admin key in the analytics field, the same key in both fields, a
/// workspace id of the wrong shape (a key pasted there is never echoed).
#[tokio::test(flavor = "multi_thread")]
async fn configure_refuses_wrong_keys_and_ids_before_any_request_and_stores_nothing() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 20, 5)).await.unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    save(&harness, &store, &both_settings(&mock), both_secrets(&e)).await;
    let state = whole_state(&store).await;
    mock.reset_requests();

    let refused = |r: Result<(), HostError>| -> HostError {
        let e = r.unwrap_err();
        assert_eq!(
            (e.class.as_str(), e.exit_code()),
            ("invalid-settings", 2),
            "{e:?}"
        );
        e
    };
    let lines = |e: &HostError, field: &str| -> Vec<String> {
        e.message
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{field}: ")).map(str::to_string))
            .collect()
    };
    for validated in [false, true] {
        // a Platform Admin key pasted as the analytics key, with and without the Platform
        for s in [
            secrets(&[
                ("api_token", &e.keys.admin),
                ("analytics_api_key", &e.keys.usage_only),
            ]),
            secrets(&[("analytics_api_key", &e.keys.usage_only)]),
        ] {
            let err =
                refused(attempt(&harness, &store, validated, ws_settings(&mock, &[]), s).await);
            let m = lines(&err, "analytics_api_key");
            assert_eq!(m.len(), 1, "{err:?}");
            assert!(
                m[0].starts_with("This is an OpenAI Platform Admin API key (sk-admin-…)"),
                "{}",
                m[0]
            );
            assert!(m[0].contains("belongs in API Token"), "{}", m[0]);
            assert!(
                m[0].contains("Credentials → Admin keys")
                    && m[0].contains("Codex analytics API: Read"),
                "{}",
                m[0]
            );
            assert_no_secret("error", &err.message, &e.keys.usage_only);
        }
        // the same key in both fields: each field says so
        let s = secrets(&[
            ("api_token", &e.keys.admin),
            ("analytics_api_key", &e.keys.admin),
        ]);
        let err = refused(attempt(&harness, &store, validated, ws_settings(&mock, &[]), s).await);
        assert_eq!(
            lines(&err, "api_token"),
            ["This is the same key as in Analytics API key; each of these fields needs its own key."]
        );
        assert_eq!(
            lines(&err, "analytics_api_key"),
            ["This is the same key as in API Token; each of these fields needs its own key."]
        );
        assert_no_secret("error", &err.message, &e.keys.admin);
        let s = secrets(&[
            ("api_token", &e.analytics),
            ("analytics_api_key", &e.analytics),
        ]);
        let err = refused(attempt(&harness, &store, validated, ws_settings(&mock, &[]), s).await);
        assert!(
            lines(&err, "analytics_api_key")[0].contains("same key as in API Token"),
            "{err:?}"
        );
        assert_no_secret("error", &err.message, &e.analytics);
        // workspace ids of the wrong shape, each said what it is, with where the id is
        let uuid = mock.workspace_id().to_string();
        for (id, says) in [
            ("ada@example.com".to_string(), "email address"),
            (
                format!("https://chatgpt.com/admin/workspace/{uuid}"),
                "web address",
            ),
            ("org-AbCdEfGh12345678".into(), "organization id"),
            ("abc".into(), "8 to 64"),
            (format!("{uuid} {uuid}"), "spaces"),
            (e.analytics.clone(), "looks like an API key"),
        ] {
            let s = secrets(&[("analytics_api_key", &e.analytics)]);
            let err = refused(
                attempt(
                    &harness,
                    &store,
                    validated,
                    ws_settings(&mock, &[])
                        .into_iter()
                        .map(|(k, v)| {
                            if k == "chatgpt_workspace_id" {
                                (k, id.clone())
                            } else {
                                (k, v)
                            }
                        })
                        .collect(),
                    s,
                )
                .await,
            );
            let m = lines(&err, "chatgpt_workspace_id");
            assert_eq!(m.len(), 1, "{id}: {err:?}");
            assert!(
                m[0].contains(says) && m[0].contains(WORKSPACE_ID_HELP),
                "{id}: {}",
                m[0]
            );
            assert_no_secret("error", &err.message, &e.analytics);
        }
        // half a source: says what is missing
        let err = refused(
            attempt(
                &harness,
                &store,
                validated,
                ws_settings(&mock, &[]),
                token(&e.keys.admin),
            )
            .await,
        );
        assert!(
            lines(&err, "analytics_api_key")[0].contains("Credentials → Admin keys"),
            "{err:?}"
        );
    }
    assert!(
        mock.requests().is_empty(),
        "refused before any request: {:?}",
        mock.requests()
    );
    assert_eq!(whole_state(&store).await, state, "nothing stored");
}

/// Errors the provider answers, at the live check and during a sync: what the admin is
/// told to do, and the stored ChatGPT data and checkpoints left as they were.
#[tokio::test(flavor = "multi_thread")]
async fn provider_refusals_say_what_to_do_and_leave_the_stored_state_untouched() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 20, 10)).await.unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    let good = ws_settings(&mock, &[("backfill_days", "10")]);
    save(&harness, &store, &good, both_secrets(&e)).await;
    sync(&harness, &store).await.unwrap();
    let imported = ws_state(&store).await;
    assert!(store.record_count(CONN, "workspace_usage").await.unwrap() > 0);

    let unknown_ws = "123e4567-e89b-42d3-a456-426614174000";
    assert_ne!(unknown_ws, mock.workspace_id());
    let stranger = host_harness::random::key("sk-cgpt-");
    let with_ws = |id: &str| -> Vec<(String, String)> {
        good.iter()
            .map(|(k, v)| {
                if k == "chatgpt_workspace_id" {
                    (k.clone(), id.to_string())
                } else {
                    (k.clone(), v.clone())
                }
            })
            .collect()
    };
    struct Case<'a> {
        what: &'a str,
        values: Vec<(String, String)>,
        key: &'a str,
        status: u16,
        class: wit::ErrorClass,
        class_name: &'a str,
        exit: i32,
        says: &'a [&'a str],
    }
    let cases = [
        Case {
            what: "unknown workspace",
            values: with_ws(unknown_ws),
            key: &e.analytics,
            status: 404,
            class: wit::ErrorClass::InvalidSettings,
            class_name: "invalid-settings",
            exit: 2,
            says: &[
                "does not know this workspace (HTTP 404)",
                "Workspace not found",
                "Check the workspace id: The workspace id is shown in ChatGPT Admin → Workspace details.",
            ],
        },
        Case {
            what: "key without the scope",
            values: good.clone(),
            key: &e.unscoped,
            status: 403,
            class: wit::ErrorClass::Forbidden,
            class_name: "forbidden",
            exit: 4,
            says: &[
                "was accepted but cannot read",
                "lacks the codex.enterprise.analytics.read scope",
                "Missing scope: codex.enterprise.analytics.read",
                "created in the ChatGPT Admin Console under Credentials → Admin keys with the permission \"Codex analytics API: Read\"",
                "scoped to codex.enterprise.analytics.read",
            ],
        },
        Case {
            what: "rejected key",
            values: good.clone(),
            key: &stranger,
            status: 401,
            class: wit::ErrorClass::Unauthorized,
            class_name: "unauthorized",
            exit: 3,
            says: &[
                "rejected the analytics API key: it is unknown, revoked or mistyped",
                "Invalid API key",
                "Credentials → Admin keys",
            ],
        },
    ];
    for c in &cases {
        // (the previous case saved its settings without a check: back to the good ones)
        save(&harness, &store, &good, both_secrets(&e)).await;
        assert_eq!(ws_state(&store).await, imported, "{}", c.what);
        let whole = whole_state(&store).await;
        let s = secrets(&[("api_token", &e.keys.admin), ("analytics_api_key", c.key)]);
        // The live check: the Platform still granted, each ChatGPT capability denied with
        // the class and the advice; nothing saved.
        mock.reset_requests();
        let (saved, report) = harness
            .configure_validated(&store, CONN, &c.values, s.clone())
            .await
            .unwrap();
        assert!(saved.is_none() && !report.ok, "{}", c.what);
        expect_caps(
            &report,
            (wit::CheckStatus::Granted, None),
            (wit::CheckStatus::Denied, Some(c.class)),
        );
        for name in WORKSPACE_CAPS {
            let m = &cap(&report, name).message;
            for says in c.says {
                assert!(
                    m.contains(says),
                    "{}: {name} should say {says:?}: {m}",
                    c.what
                );
            }
            assert_no_secret("capability message", m, c.key);
        }
        let statuses: Vec<u16> = mock
            .requests()
            .iter()
            .filter(|r| is_analytics(&r.path))
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, [c.status; 3], "{}", c.what);
        assert_eq!(
            whole_state(&store).await,
            whole,
            "{}: a refused check saves nothing",
            c.what
        );

        // The same through the CLI's configure: the report, the refusal, nothing saved.
        let mut transcript = String::new();
        let ws = c
            .values
            .iter()
            .find(|(k, _)| k == "chatgpt_workspace_id")
            .unwrap()
            .1
            .clone();
        let o = cli(
            store.path().unwrap(),
            Some(&mock),
            "configure",
            &[
                "--secret-env",
                "analytics_api_key=CGPT_KEY",
                "--set",
                &format!("chatgpt_workspace_id={ws}"),
                "--set",
                "backfill_days=10",
            ],
            &[("CGPT_KEY", c.key)],
            &mut transcript,
        );
        assert_eq!(o.status.code(), Some(c.exit), "{}: {transcript}", c.what);
        assert!(
            stderr(&o).contains(&format!("error [{}]: ", c.class_name)),
            "{transcript}"
        );
        assert!(
            stdout(&o).contains("[FAIL] Workspace Codex usage"),
            "{transcript}"
        );
        assert!(stdout(&o).contains(c.says[0]), "{transcript}");
        assert_no_secret("CLI output", &transcript, c.key);
        assert_eq!(
            whole_state(&store).await,
            whole,
            "{}: the CLI saved nothing",
            c.what
        );

        // Saved without the check (offline set-up), the sync fails with that class at the
        // first ChatGPT request, recorded in the history; the imported ChatGPT data and its
        // checkpoints stay as they were.
        let (_d, other) = common::store().await;
        harness
            .configure(&other, CONN, &c.values, s.clone())
            .await
            .unwrap();
        harness.configure(&store, CONN, &c.values, s).await.unwrap();
        let before = ws_state(&store).await;
        let err = sync(&harness, &store).await.unwrap_err();
        assert_eq!(
            (err.class.as_str(), err.exit_code()),
            (c.class_name, c.exit),
            "{}: {err:?}",
            c.what
        );
        for says in c.says {
            assert!(
                err.message.contains(says),
                "{}: {says:?} in {}",
                c.what,
                err.message
            );
        }
        if c.status == 404 {
            assert!(
                err.message.starts_with("chatgpt_workspace_id: "),
                "{}",
                err.message
            );
        }
        assert_eq!(
            ws_state(&store).await,
            before,
            "{}: the stored ChatGPT data is untouched",
            c.what
        );
        let run = last_run(&store).await;
        assert_eq!(
            (run.status.as_str(), run.error_class.as_deref()),
            ("failed", Some(c.class_name))
        );
        assert_eq!(
            run.streams["workspace_usage"].requests, 1,
            "no retry of a {}",
            c.status
        );
        assert_no_secret("error", &format!("{err:?}{run:?}"), c.key);
        assert_no_secret("store", &dump_store_outside_secrets(&store).await, c.key);
        // a store that never imported anything keeps nothing of the ChatGPT source
        let err = sync(&harness, &other).await.unwrap_err();
        assert_eq!(err.class, c.class_name);
        for s in WORKSPACE_STREAMS {
            assert_eq!(
                store_count_and_checkpoint(&other, s).await,
                (0, None),
                "{s}"
            );
        }
    }
    // Back to the good settings: the data was never harmed and reads on.
    save(&harness, &store, &good, both_secrets(&e)).await;
    assert_eq!(ws_state(&store).await, imported);
    sync(&harness, &store).await.unwrap();
    assert_ws_equals_truth(&store, &harness, &mock.workspace_truth()).await;
}

async fn store_count_and_checkpoint(store: &Store, stream: &str) -> (u64, Option<String>) {
    (
        store.record_count(CONN, stream).await.unwrap(),
        store.checkpoint(CONN, stream).await.unwrap(),
    )
}

/// A `422` names the parameter the API refused and its message, as `provider-changed`:
/// once through a fault (a bare `detail` string), once for real (the mock's clock is two
/// days ahead, so the connector's oldest day is beyond its 90 days: the detail list).
#[tokio::test(flavor = "multi_thread")]
async fn a_422_is_provider_changed_with_the_apis_detail() {
    let e = env();
    // A fault: every analytics request answered 422 {"detail": "Unprocessable Entity"}.
    let mock = MockServer::start(ws_mock_config(&e, 10, 5)).await.unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    save(
        &harness,
        &store,
        &ws_settings(&mock, &[]),
        secrets(&[("analytics_api_key", &e.analytics)]),
    )
    .await;
    mock.inject(FaultRule {
        path_contains: Some("/v1/analytics/codex/".into()),
        skip: 0,
        times: usize::MAX,
        fault: Fault::Status {
            status: 422,
            retry_after: None,
        },
    });
    let before = ws_state(&store).await;
    let err = sync(&harness, &store).await.unwrap_err();
    assert_eq!(
        (err.class.as_str(), err.exit_code()),
        ("provider-changed", 7),
        "{err:?}"
    );
    assert!(
        err.message.starts_with(
            "stream workspace_usage, field $: the Codex Analytics API refused the request's parameters (HTTP 422). The API said: \"Unprocessable Entity\""
        ),
        "{}",
        err.message
    );
    assert!(err.advice().unwrap().contains("update the connector"));
    assert_eq!(ws_state(&store).await, before);
    assert_eq!(
        mock.requests().iter().filter(|r| r.status == 422).count(),
        1,
        "not retried"
    );
    let run = last_run(&store).await;
    assert_eq!(run.error_class.as_deref(), Some("provider-changed"));
    drop(harness);
    mock.shutdown().await;

    // For real: the mock's clock two days ahead, the connector asking for 90 days.
    let now = chrono::Utc::now().timestamp() + 2 * DAY;
    let mock = MockServer::start(MockConfig {
        now: Some(now),
        ..ws_mock_config(&e, 10, 60)
    })
    .await
    .unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = common::store().await;
    save(
        &harness,
        &store,
        &set(&[
            ("chatgpt_workspace_id", mock.workspace_id()),
            ("backfill_days", "90"),
        ]),
        secrets(&[("analytics_api_key", &e.analytics)]),
    )
    .await;
    let err = sync(&harness, &store).await.unwrap_err();
    assert_eq!(err.class, "provider-changed", "{err:?}");
    assert!(
        err.message.starts_with(
            "stream workspace_usage, field query.start_time: the Codex Analytics API refused the request's parameters (HTTP 422). The API said: \"query.start_time: start_time must be within the last 90 days\""
        ),
        "{}",
        err.message
    );
    for s in WORKSPACE_STREAMS {
        assert_eq!(
            store_count_and_checkpoint(&store, s).await,
            (0, None),
            "{s}"
        );
    }
    assert_eq!(
        mock.requests().iter().filter(|r| r.status == 422).count(),
        1
    );
}

/// A `429` with `Retry-After` is waited out as asked and the same page asked again; the
/// import then completes exactly.
#[tokio::test(flavor = "multi_thread")]
async fn rate_limits_are_waited_out_as_asked_and_the_import_completes() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 20, DAYS))
        .await
        .unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    save(
        &harness,
        &store,
        &ws_settings(&mock, &[]),
        secrets(&[("analytics_api_key", &e.analytics)]),
    )
    .await;
    mock.reset_requests();
    // The second page of usage, and the first of code reviews, are refused twice each.
    let usage_path = format!(
        "/v1/analytics/codex/workspaces/{}/usage",
        mock.workspace_id()
    );
    let reviews_path = format!(
        "/v1/analytics/codex/workspaces/{}/code_reviews",
        mock.workspace_id()
    );
    for (path, skip) in [(&usage_path, 1), (&reviews_path, 0)] {
        mock.inject(FaultRule {
            path_contains: Some(path.clone()),
            skip,
            times: 2,
            fault: Fault::Status {
                status: 429,
                retry_after: Some("1".into()),
            },
        });
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let started = std::time::Instant::now();
    let run = harness
        .sync(
            &store,
            CONN,
            SyncOptions {
                progress: Some(tx),
                ..SyncOptions::new("test")
            },
        )
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "Retry-After: 1 s, four times"
    );
    assert_eq!(mock.faults_served(), 4);
    let mut waits = Vec::new();
    while let Ok(p) = rx.try_recv() {
        if let Progress::Waiting {
            stream,
            class,
            delay,
            attempt,
        } = p
        {
            waits.push((stream, class, delay, attempt));
        }
    }
    let w = |s: &str, attempt| {
        (
            s.to_string(),
            "rate-limited".to_string(),
            Duration::from_secs(1),
            attempt,
        )
    };
    assert_eq!(
        waits,
        [
            w("workspace_usage", 1),
            w("workspace_usage", 2),
            w("code_reviews", 1),
            w("code_reviews", 2)
        ]
    );
    // the same request, asked again: 200 after two 429s
    let log: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == usage_path)
        .collect();
    assert_eq!(
        log.iter().map(|r| r.status).take(4).collect::<Vec<_>>(),
        [200, 429, 429, 200]
    );
    assert_eq!(log[1].query, log[3].query);
    assert!(log[1].query.contains("page="));
    assert_eq!(
        run.streams["workspace_usage"].requests,
        run.streams["workspace_usage"].pages + 2
    );
    assert_eq!(
        run.streams["code_reviews"].requests,
        run.streams["code_reviews"].pages + 2
    );
    assert_eq!(run.requests(), mock.requests().len() as u64);
    assert_ws_equals_truth(&store, &harness, &mock.workspace_truth()).await;

    // One that does not go away: the run gives up after the policy's attempts, recorded.
    mock.inject(FaultRule {
        path_contains: Some(usage_path.clone()),
        skip: 0,
        times: usize::MAX,
        fault: Fault::Status {
            status: 429,
            retry_after: Some("0".into()),
        },
    });
    let err = sync(&harness, &store).await.unwrap_err();
    assert_eq!((err.class.as_str(), err.exit_code()), ("rate-limited", 5));
    assert!(
        err.message
            .contains("Rate limit exceeded. Please retry later."),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("gave up after 6 attempts"),
        "{}",
        err.message
    );
    assert_ws_equals_truth(&store, &harness, &mock.workspace_truth()).await;
}

/// Clients that see `next_cursor` instead of `next_page`: the same pages, the same data.
#[tokio::test(flavor = "multi_thread")]
async fn the_next_cursor_envelope_is_imported_exactly() {
    let e = env();
    let mock = MockServer::start(MockConfig {
        cursor_field_next_cursor: true,
        ..ws_mock_config(&e, 20, DAYS)
    })
    .await
    .unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    save(
        &harness,
        &store,
        &ws_settings(&mock, &[]),
        secrets(&[("analytics_api_key", &e.analytics)]),
    )
    .await;
    mock.reset_requests();
    let run = sync(&harness, &store).await.unwrap();
    let usage_path = format!(
        "/v1/analytics/codex/workspaces/{}/usage",
        mock.workspace_id()
    );
    let pages: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == usage_path)
        .collect();
    assert!(pages.len() > 1, "several pages: {pages:?}");
    assert_eq!(pages.len() as u64, run.streams["workspace_usage"].pages);
    assert!(!pages[0].query.contains("page="));
    assert!(
        pages[1..]
            .iter()
            .all(|r| r.query.contains("&page=") && r.status == 200),
        "{pages:?}"
    );
    assert_ws_equals_truth(&store, &harness, &mock.workspace_truth()).await;
    // the run read through the end: the checkpoint is set
    for s in WORKSPACE_STREAMS {
        assert!(store.checkpoint(CONN, s).await.unwrap().is_some(), "{s}");
    }
}

/// The analytics key (and any 8 characters of it) appears in no output, report, progress,
/// log line (the host's and the component's), history row, export, nor anywhere in the
/// store but the secret slot; neither do the other keys a test uses.
#[tokio::test(flavor = "multi_thread")]
async fn the_analytics_key_appears_in_no_output_log_history_export_or_store_table() {
    let _ = captured_logs();
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 20, 10)).await.unwrap();
    let harness = harness_both(&connector_wasm(), &mock).await;
    let (_dir, store) = store().await;
    let s = secrets(&[
        ("api_token", &e.keys.admin),
        ("analytics_api_key", &format!(" {}\n", e.analytics)),
    ]);
    let (saved, report) = save(
        &harness,
        &store,
        &ws_settings(&mock, &[("backfill_days", "10")]),
        s,
    )
    .await;
    assert_eq!(
        store.secrets(CONN).await.unwrap()["analytics_api_key"].expose(),
        e.analytics
    );
    let mut text = format!(
        "{saved:?}{report:?}{}",
        serde_json::to_string(&saved).unwrap()
    );
    text.push_str(&format!(
        "{:?}",
        harness.validate(&store, CONN).await.unwrap()
    ));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Progress>();
    let run = harness
        .sync(
            &store,
            CONN,
            SyncOptions {
                progress: Some(tx),
                ..SyncOptions::new("test")
            },
        )
        .await
        .unwrap();
    while let Ok(p) = rx.try_recv() {
        text.push_str(&format!("{p:?} {}\n", p.message()));
    }
    text.push_str(&format!("{run:?}"));

    // The component's own log lines, from an instance holding the stored keys.
    let (mut session, _redactor) = harness
        .configured_session(harness.stored(&store, CONN).await.unwrap(), "leak-check")
        .await
        .unwrap();
    text.push_str(&format!(
        "{:?}",
        session.validate_credentials().await.unwrap().unwrap()
    ));
    for stream in WORKSPACE_STREAMS {
        let page = session
            .pull_page(stream, None, None)
            .await
            .unwrap()
            .unwrap();
        text.push_str(&format!("{page:?}"));
        text.push_str(&format!(
            "{:?}",
            session.normalize(&page.raw).await.unwrap().unwrap()
        ));
    }
    let logs = session.logs();
    assert!(!logs.is_empty(), "the component logs through host-log");
    text.push_str(&format!("{logs:?}"));

    // History, every stream, the per-person view.
    text.push_str(&serde_json::to_string(&store.runs(CONN, 50).await.unwrap()).unwrap());
    for stream in PLATFORM_STREAMS.iter().chain(&WORKSPACE_STREAMS) {
        for r in store.records(CONN, stream).await.unwrap() {
            text.push_str(&r.payload);
            text.push_str(&format!("{:?}", r.key));
        }
    }
    for period in [Period::All, Period::Day, Period::Week] {
        text.push_str(
            &serde_json::to_string(&people(&store, CONN, period).await.unwrap()).unwrap(),
        );
    }

    // Refusals: a rejected key, a key without the scope, a wrong workspace.
    let stranger = host_harness::random::key("sk-cgpt-");
    for (key, ws) in [
        (stranger.as_str(), mock.workspace_id().to_string()),
        (e.unscoped.as_str(), mock.workspace_id().to_string()),
        (
            e.analytics.as_str(),
            "123e4567-e89b-42d3-a456-426614174000".to_string(),
        ),
    ] {
        let (_d, other) = common::store().await;
        let values = set(&[("chatgpt_workspace_id", &ws)]);
        let s = secrets(&[("analytics_api_key", key)]);
        let (none, refused) = harness
            .configure_validated(&other, CONN, &values, s.clone())
            .await
            .unwrap();
        assert!(none.is_none());
        harness.configure(&other, CONN, &values, s).await.unwrap();
        let err = sync(&harness, &other).await.unwrap_err();
        for (what, hay) in [
            ("refused report", format!("{refused:?}")),
            ("error", format!("{err:?}")),
            ("store", dump_store_outside_secrets(&other).await),
        ] {
            assert_no_secret(what, &hay, key);
            assert_no_secret(what, &hay, &e.analytics);
        }
    }

    let logs = captured_logs();
    assert!(logs.contains("workspace_usage"), "the host logged the run");
    for key in [&e.analytics, &e.unscoped, &stranger, &e.keys.admin] {
        assert_no_secret("host and component logs", &logs, key);
        assert_no_secret(
            "outputs, reports, progress, history and exports",
            &text,
            key,
        );
        assert_no_secret(
            "store outside the secret slot",
            &dump_store_outside_secrets(&store).await,
            key,
        );
        assert_no_secret("mock request log", &format!("{:?}", mock.requests()), key);
    }
}

/// The CLI flow with the analytics key from an environment variable (by name): configure,
/// validate, sync, history, report and every export print neither key; the same key in
/// both fields, and a Platform Admin key in the analytics field, are refused and nothing
/// changes.
#[tokio::test(flavor = "multi_thread")]
async fn the_cli_flow_with_secret_env_never_prints_the_analytics_key() {
    let e = env();
    let mock = MockServer::start(ws_mock_config(&e, 20, 10)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let mut t = String::new();
    let ws = format!("chatgpt_workspace_id={}", mock.workspace_id());
    let env_vars = [
        ("ADMIN_KEY", e.keys.admin.as_str()),
        ("CGPT_KEY", e.analytics.as_str()),
    ];
    let o = cli(
        &db,
        Some(&mock),
        "configure",
        &[
            "--token-env",
            "ADMIN_KEY",
            "--secret-env",
            "analytics_api_key=CGPT_KEY",
            "--set",
            &ws,
            "--set",
            "backfill_days=10",
            "--set",
            "codex_model_pattern=*",
        ],
        &env_vars,
        &mut t,
    );
    assert!(o.status.success(), "{t}");
    let out = stdout(&o);
    for label in [
        "Platform usage",
        "Workspace Codex usage",
        "Codex code reviews",
        "Responses to code reviews",
    ] {
        assert!(out.contains(&format!("[ok  ] {label}")), "{out}");
    }
    let tail = &e.analytics[e.analytics.len() - 4..];
    assert!(
        out.contains(&format!("analytics_api_key sk-cgpt-…{tail}")),
        "{out}"
    );

    let o = cli(&db, Some(&mock), "validate", &["--json"], &[], &mut t);
    assert!(o.status.success(), "{t}");
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let statuses: Vec<(&str, &str)> = v["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        PLATFORM_CAPS
            .iter()
            .chain(&WORKSPACE_CAPS)
            .map(|n| (*n, "granted"))
            .collect::<Vec<_>>()
    );

    let o = cli(&db, Some(&mock), "sync", &["-vv"], &[], &mut t);
    assert!(o.status.success(), "{t}");
    assert!(
        stderr(&o).contains("workspace_usage: done"),
        "{}",
        stderr(&o)
    );
    let o = cli(&db, None, "history", &["--json"], &[], &mut t);
    let runs: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(runs[0]["status"], "succeeded");
    let inserted = runs[0]["streams"]["workspace_usage"]["inserted"]
        .as_u64()
        .unwrap();
    assert!(inserted > 0);
    cli(&db, None, "history", &[], &[], &mut t);
    cli(&db, None, "report", &[], &[], &mut t);
    cli(
        &db,
        None,
        "report",
        &["--json", "--period", "week"],
        &[],
        &mut t,
    );
    for stream in WORKSPACE_STREAMS {
        for format in ["ndjson", "csv"] {
            let o = cli(
                &db,
                None,
                "export",
                &["--stream", stream, "--format", format],
                &[],
                &mut t,
            );
            assert!(o.status.success(), "{t}");
        }
    }
    let o = cli(
        &db,
        None,
        "export",
        &["--stream", "workspace_usage"],
        &[],
        &mut t,
    );
    assert_eq!(stdout(&o).lines().count() as u64, inserted);
    let o = cli(&db, None, "export", &["--people"], &[], &mut t);
    assert!(o.status.success(), "{t}");
    let store = open_existing(&db).await;
    let view = people(&store, CONN, Period::All).await.unwrap();
    let rows: Vec<Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), view.people.len() + view.unattributed.len());
    assert_eq!(rows[0], serde_json::to_value(&view.people[0]).unwrap());
    for period in ["day", "week"] {
        let o = cli(
            &db,
            None,
            "export",
            &["--people", "--period", period, "--format", "csv"],
            &[],
            &mut t,
        );
        assert!(o.status.success(), "{t}");
        assert!(
            stdout(&o).lines().next().unwrap().starts_with("email,"),
            "{}",
            stdout(&o)
        );
    }
    let file = dir.path().join("people.csv");
    let o = cli(
        &db,
        None,
        "export",
        &[
            "--people",
            "--format",
            "csv",
            "--out",
            file.to_str().unwrap(),
        ],
        &[],
        &mut t,
    );
    assert!(o.status.success(), "{t}");
    t.push_str(&std::fs::read_to_string(&file).unwrap());

    // Refused by configure: nothing changes, no request, and the refusal says why.
    let state = whole_state(&store).await;
    mock.reset_requests();
    let o = cli(
        &db,
        Some(&mock),
        "configure",
        &[
            "--token-env",
            "ADMIN_KEY",
            "--secret-env",
            "analytics_api_key=ADMIN_KEY",
            "--set",
            &ws,
        ],
        &env_vars,
        &mut t,
    );
    assert_eq!(o.status.code(), Some(2), "{t}");
    let err = stderr(&o);
    assert!(
        err.contains(
            "error [invalid-settings]: api_token: This is the same key as in Analytics API key"
        ),
        "{err}"
    );
    assert!(
        err.contains("analytics_api_key: This is the same key as in API Token"),
        "{err}"
    );
    let o = cli(
        &db,
        Some(&mock),
        "configure",
        &[
            "--secret-env",
            "analytics_api_key=OTHER_ADMIN",
            "--set",
            &ws,
        ],
        &[("OTHER_ADMIN", e.keys.usage_only.as_str())],
        &mut t,
    );
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        stderr(&o).contains("analytics_api_key: This is an OpenAI Platform Admin API key"),
        "{}",
        stderr(&o)
    );
    // a key given where the variable's name belongs is refused without being echoed
    let o = cli(
        &db,
        Some(&mock),
        "configure",
        &[
            "--secret-env",
            &format!("analytics_api_key={}", e.analytics),
            "--set",
            &ws,
        ],
        &[],
        &mut t,
    );
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(
        stderr(&o).contains("takes the name of an environment variable"),
        "{}",
        stderr(&o)
    );
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
    assert_eq!(whole_state(&store).await, state);
    drop(store);

    for key in [&e.analytics, &e.keys.admin, &e.keys.usage_only] {
        assert_no_secret("CLI output", &t, key);
        assert_no_secret(
            "store outside the secret slot",
            &dump_store_outside_secrets(&open_existing(&db).await).await,
            key,
        );
    }
}
