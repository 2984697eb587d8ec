//! One view per person across both ways Codex reaches an organization: the API-key path
//! (Codex usage rows of the Platform's `usage` stream: requests and tokens) and the ChatGPT
//! path (`workspace_usage`: threads, turns, credits and tokens, by surface and by model),
//! plus Codex code reviews and the responses to them. Each person (email, case-insensitive)
//! appears once, with both paths side by side; usage tied to no one is kept as unattributed;
//! the share attributed to a person is given per path.
//!
//! Credits are summed as decimals, so the sums are exact.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};

use super::identity::{is_person, workspace_user, Directory, UNATTRIBUTED};
use crate::store::Store;

/// How the view is cut in time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// The whole imported window.
    All,
    Day,
    /// UTC weeks starting on Monday.
    Week,
}

impl Period {
    /// The period a UTC day falls in, as its first day (`YYYY-MM-DD`); `None` for `All`.
    pub fn start_of(self, day: NaiveDate) -> Option<String> {
        match self {
            Period::All => None,
            Period::Day => Some(day.format("%Y-%m-%d").to_string()),
            Period::Week => {
                let monday =
                    day - chrono::Duration::days(day.weekday().num_days_from_monday() as i64);
                Some(monday.format("%Y-%m-%d").to_string())
            }
        }
    }
}

/// Codex used with API keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ApiKeyUse {
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    /// Input plus output tokens.
    pub tokens: u64,
}

/// Threads, turns and credits of one surface.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Activity {
    pub threads: u64,
    pub turns: u64,
    #[serde(with = "rust_decimal::serde::float")]
    pub credits: Decimal,
}

/// Credits and tokens of one model (and speed).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ModelUse {
    #[serde(with = "rust_decimal::serde::float")]
    pub credits: Decimal,
    /// Token counts under the provider's names.
    pub tokens: BTreeMap<String, u64>,
}

/// Codex used through a ChatGPT sign-in.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ChatgptUse {
    pub threads: u64,
    pub turns: u64,
    #[serde(with = "rust_decimal::serde::float")]
    pub credits: Decimal,
    /// Token counts, under the provider's names: a row's own totals where it reports them,
    /// else (as the Codex Analytics API does: tokens only per model) the sum of its models'.
    pub tokens: BTreeMap<String, u64>,
    /// By surface (`client_id`: CLI, IDE, web, desktop app, GitHub, and any new surface
    /// under its own id).
    pub by_client: BTreeMap<String, Activity>,
    /// By model, as `model` or `model/speed`.
    pub by_model: BTreeMap<String, ModelUse>,
}

/// One person (or the unattributed rest) in one period.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PersonRow {
    /// The email, lower-cased (or `service account: NAME`, or `(unattributed)`).
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The period's first day, `YYYY-MM-DD` (absent for the whole window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub period_start: Option<String>,
    pub api_key: ApiKeyUse,
    pub chatgpt: ChatgptUse,
    /// Codex code reviews on this person's pull requests: every count the provider sent.
    pub code_reviews: BTreeMap<String, u64>,
    /// How this person answered Codex review comments.
    pub code_review_responses: BTreeMap<String, u64>,
}

/// The streams whose records make the usage part of the view.
pub const USAGE_STREAMS: [&str; 2] = ["usage", "workspace_usage"];

impl PersonRow {
    /// Credits of the sign-in path.
    pub fn credits(&self) -> Decimal {
        self.chatgpt.credits
    }

    /// Threads and turns of the sign-in path.
    pub fn threads_turns(&self) -> (u64, u64) {
        (self.chatgpt.threads, self.chatgpt.turns)
    }

    /// Pull requests reviewed.
    pub fn reviews(&self) -> u64 {
        self.code_reviews.get("prs_reviewed").copied().unwrap_or(0)
    }

    /// Whether anything is recorded for this row.
    pub fn is_empty(&self) -> bool {
        self.api_key == ApiKeyUse::default()
            && self.chatgpt == ChatgptUse::default()
            && self.code_reviews.is_empty()
            && self.code_review_responses.is_empty()
    }
}

/// The share of each path's usage tied to a person.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Shares {
    /// Of API-key Codex tokens.
    pub api_key: f64,
    /// Of ChatGPT credits.
    pub chatgpt: f64,
}

impl Shares {
    /// The share of the sign-in (seat) path.
    pub fn sign_in(&self) -> f64 {
        self.chatgpt
    }
}

/// The whole view.
#[derive(Clone, Debug, Serialize)]
pub struct PeopleReport {
    pub period: Period,
    /// First and last day of the data, inclusive (`YYYY-MM-DD`).
    pub first_day: Option<String>,
    pub last_day: Option<String>,
    /// One row per person (and period), sorted by period then email.
    pub people: Vec<PersonRow>,
    /// Usage tied to no one, per period.
    pub unattributed: Vec<PersonRow>,
    pub attributed_share: Shares,
}

fn day_of(p: &Value, field: &str) -> Option<NaiveDate> {
    let text = p[field].as_str()?;
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn decimal(v: &Value) -> Decimal {
    match v {
        Value::Number(n) => Decimal::from_str(&n.to_string())
            .or_else(|_| Decimal::from_scientific(&n.to_string()))
            .unwrap_or_default(),
        _ => Decimal::ZERO,
    }
}

/// The `*_tokens` counts of a payload.
fn tokens(p: &Map<String, Value>) -> impl Iterator<Item = (&String, u64)> {
    p.iter()
        .filter(|(k, v)| k.ends_with("_tokens") && v.is_u64())
        .map(|(k, v)| (k, count(v)))
}

/// Token counts by the provider's names.
type TokenCounts = BTreeMap<String, u64>;

/// Fields of a code-review record that are not counts of the person.
const NOT_COUNTS: [&str; 7] = [
    "period_start",
    "period_end",
    "period",
    "user_id",
    "email",
    "extra",
    "schema_version",
];

struct Builder {
    period: Period,
    rows: BTreeMap<(Option<String>, String), PersonRow>,
    first: Option<NaiveDate>,
    last: Option<NaiveDate>,
}

impl Builder {
    fn row(&mut self, who: &str, day: NaiveDate) -> &mut PersonRow {
        self.first = Some(self.first.map_or(day, |f| f.min(day)));
        self.last = Some(self.last.map_or(day, |l| l.max(day)));
        let period_start = self.period.start_of(day);
        self.rows
            .entry((period_start.clone(), who.to_string()))
            .or_insert_with(|| PersonRow {
                email: who.to_string(),
                period_start,
                ..Default::default()
            })
    }
}

/// Threads, turns and credits per surface over `rows`.
pub fn surfaces<'a>(rows: impl IntoIterator<Item = &'a PersonRow>) -> BTreeMap<String, Activity> {
    let mut out: BTreeMap<String, Activity> = BTreeMap::new();
    for row in rows {
        for (id, a) in &row.chatgpt.by_client {
            let e = out.entry(id.clone()).or_default();
            e.threads += a.threads;
            e.turns += a.turns;
            e.credits += a.credits;
        }
    }
    out
}

/// Build the view from `connection`'s records.
pub async fn people(
    store: &Store,
    connection: &str,
    period: Period,
) -> anyhow::Result<PeopleReport> {
    let directory = Directory::load(store, connection).await?;
    let mut b = Builder {
        period,
        rows: BTreeMap::new(),
        first: None,
        last: None,
    };
    let (mut api_total, mut api_attributed) = (0u64, 0u64);
    for r in store.records(connection, "usage").await? {
        let Ok(p) = serde_json::from_str::<Value>(&r.payload) else {
            continue;
        };
        if p["is_codex"] != Value::Bool(true) {
            continue;
        }
        let Some(day) = day_of(&p, "bucket_start") else {
            continue;
        };
        let who = directory.api_key_user(&p);
        let (input, output) = (count(&p["input_tokens"]), count(&p["output_tokens"]));
        api_total += input + output;
        if is_person(&who) {
            api_attributed += input + output;
        }
        let u = &mut b.row(&who, day).api_key;
        u.requests += count(&p["requests"]);
        u.input_tokens += input;
        u.cached_input_tokens += count(&p["cached_input_tokens"]);
        u.output_tokens += output;
        u.tokens += input + output;
    }
    let (mut chat_total, mut chat_attributed) = (Decimal::ZERO, Decimal::ZERO);
    // Per source row (period, person): the day, who, its total record's tokens and its
    // model records' tokens; a person's tokens are the first where the row has any.
    let mut row_tokens: BTreeMap<[String; 4], (NaiveDate, String, TokenCounts, TokenCounts)> =
        BTreeMap::new();
    for r in store.records(connection, "workspace_usage").await? {
        let Ok(Value::Object(p)) = serde_json::from_str::<Value>(&r.payload) else {
            continue;
        };
        let v = Value::Object(p);
        let Some(day) = day_of(&v, "period_start") else {
            continue;
        };
        let who = workspace_user(&v);
        let Value::Object(p) = &v else { continue };
        let credits = decimal(&v["credits"]);
        let source_row = ["period_start", "period", "user_id", "email"].map(|f| v[f].to_string());
        let t = row_tokens
            .entry(source_row)
            .or_insert_with(|| (day, who.clone(), TokenCounts::new(), TokenCounts::new()));
        let c = &mut b.row(&who, day).chatgpt;
        match v["breakdown"].as_str() {
            Some("total") => {
                chat_total += credits;
                if is_person(&who) {
                    chat_attributed += credits;
                }
                c.threads += count(&v["threads"]);
                c.turns += count(&v["turns"]);
                c.credits += credits;
                for (k, n) in tokens(p) {
                    *t.2.entry(k.clone()).or_default() += n;
                }
            }
            Some("client") => {
                let id = v["client_id"]
                    .as_str()
                    .unwrap_or("(unknown surface)")
                    .to_string();
                let a = c.by_client.entry(id).or_default();
                a.threads += count(&v["threads"]);
                a.turns += count(&v["turns"]);
                a.credits += credits;
            }
            Some("model") => {
                let model = v["model"].as_str().unwrap_or("(unknown model)");
                let name = match v["speed"].as_str() {
                    Some(speed) => format!("{model}/{speed}"),
                    None => model.to_string(),
                };
                let m = c.by_model.entry(name).or_default();
                m.credits += credits;
                for (k, n) in tokens(p) {
                    *m.tokens.entry(k.clone()).or_default() += n;
                    *t.3.entry(k.clone()).or_default() += n;
                }
            }
            _ => {}
        }
    }
    for (_, (day, who, total, models)) in row_tokens {
        let own = if total.is_empty() { models } else { total };
        let c = &mut b.row(&who, day).chatgpt;
        for (k, n) in own {
            *c.tokens.entry(k).or_default() += n;
        }
    }
    for (stream, reviews) in [("code_reviews", true), ("code_review_responses", false)] {
        for r in store.records(connection, stream).await? {
            let Ok(v) = serde_json::from_str::<Value>(&r.payload) else {
                continue;
            };
            let Some(day) = day_of(&v, "period_start") else {
                continue;
            };
            let who = workspace_user(&v);
            let row = b.row(&who, day);
            let counts = if reviews {
                &mut row.code_reviews
            } else {
                &mut row.code_review_responses
            };
            if let Value::Object(p) = &v {
                for (k, n) in p
                    .iter()
                    .filter(|(k, n)| n.is_u64() && !NOT_COUNTS.contains(&k.as_str()))
                {
                    *counts.entry(k.clone()).or_default() += count(n);
                }
            }
        }
    }
    let (mut people, mut unattributed) = (Vec::new(), Vec::new());
    for (_, mut row) in b.rows {
        row.name = directory.names.get(&row.email).cloned();
        if row.email == UNATTRIBUTED {
            unattributed.push(row);
        } else {
            people.push(row);
        }
    }
    let share = |part: f64, whole: f64| if whole == 0.0 { 0.0 } else { part / whole };
    Ok(PeopleReport {
        period,
        first_day: b.first.map(|d| d.format("%Y-%m-%d").to_string()),
        last_day: b.last.map(|d| d.format("%Y-%m-%d").to_string()),
        people,
        unattributed,
        attributed_share: Shares {
            api_key: share(api_attributed as f64, api_total as f64),
            chatgpt: share(
                chat_attributed.try_into().unwrap_or(0.0),
                chat_total.try_into().unwrap_or(0.0),
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_and_days_are_days() {
        let d = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap(); // a Thursday
        assert_eq!(Period::Week.start_of(d).as_deref(), Some("2026-11-30"));
        assert_eq!(Period::Day.start_of(d).as_deref(), Some("2026-12-03"));
        assert_eq!(Period::All.start_of(d), None);
    }

    /// The Codex Analytics API reports tokens per model only: a person's tokens are then
    /// the sum of their rows' models; a row that reports its own totals counts those, once.
    #[tokio::test]
    async fn a_persons_chatgpt_tokens_are_their_rows_own_or_else_their_models() {
        use crate::bindings::v0_2::types as wit;
        use serde_json::json;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_path(&dir.path().join("s.db")).await.unwrap();
        store
            .add_connection(&crate::store::NewConnection {
                id: "c".into(),
                name: "c".into(),
                component: "c.wasm".into(),
                connector: Some("c".into()),
            })
            .await
            .unwrap();
        let run = store
            .start_run("c", "test-owner", "test", "c")
            .await
            .unwrap()
            .unwrap();
        let record = |day: &str, breakdown: &str, model: Option<&str>, tokens: Value| {
            let mut p = json!({"period_start": format!("{day}T00:00:00Z"), "period": "day",
                "user_id": "u1", "email": "Ada@X.io", "breakdown": breakdown, "model": model,
                "speed": model.map(|_| "standard"), "credits": 1.5, "threads": 1, "turns": 2});
            p.as_object_mut()
                .unwrap()
                .extend(tokens.as_object().unwrap().clone());
            let key = vec![
                Some(day.to_string()),
                Some(breakdown.to_string()),
                model.map(str::to_string),
            ];
            crate::records::CheckedRecord {
                stream: "workspace_usage".into(),
                key_text: serde_json::to_string(&key).unwrap(),
                key,
                schema_version: 1,
                payload: p.to_string(),
            }
        };
        let records = [
            // tokens per model only
            record("2026-01-05", "total", None, json!({})),
            record(
                "2026-01-05",
                "model",
                Some("m1"),
                json!({"text_input_tokens": 100, "text_output_tokens": 10}),
            ),
            record(
                "2026-01-05",
                "model",
                Some("m2"),
                json!({"text_input_tokens": 50}),
            ),
            // a row with its own totals: those, not its models' as well
            record(
                "2026-01-06",
                "total",
                None,
                json!({"text_input_tokens": 7, "text_output_tokens": 3}),
            ),
            record(
                "2026-01-06",
                "model",
                Some("m1"),
                json!({"text_input_tokens": 7, "text_output_tokens": 3}),
            ),
        ];
        let page = wit::Page {
            raw: wit::RawPage {
                stream: "workspace_usage".into(),
                scope: None,
                fetched_at: 0,
                body: "{}".into(),
            },
            next_cursor: None,
            checkpoint: None,
            window: None,
        };
        store
            .commit_page(&run, 0, page, 1, records.to_vec())
            .await
            .unwrap();
        let all = people(&store, "c", Period::All).await.unwrap();
        assert_eq!(all.people.len(), 1);
        let c = &all.people[0].chatgpt;
        assert_eq!(all.people[0].email, "ada@x.io");
        let want: TokenCounts = [
            ("text_input_tokens".to_string(), 157),
            ("text_output_tokens".to_string(), 13),
        ]
        .into();
        assert_eq!(c.tokens, want);
        assert_eq!(c.by_model["m1/standard"].tokens["text_input_tokens"], 107);
        assert_eq!((c.threads, c.turns, c.credits), (2, 4, Decimal::new(3, 0)));
        let days = people(&store, "c", Period::Day).await.unwrap();
        assert_eq!(days.people[0].chatgpt.tokens["text_input_tokens"], 150);
        assert_eq!(days.people[1].chatgpt.tokens["text_input_tokens"], 7);
    }

    #[test]
    fn credits_sum_exactly() {
        let mut total = Decimal::ZERO;
        for _ in 0..10 {
            total += decimal(&serde_json::json!(0.1));
        }
        assert_eq!(total, Decimal::ONE);
        assert_eq!(decimal(&serde_json::json!(12.25)), Decimal::new(1225, 2));
    }
}
