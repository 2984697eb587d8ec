//! Codex usage per person for the imported window: joins usage records to people the way
//! the platform does — user id → email; else the API key's owner; else the service
//! account; else "unattributed" — and says how much usage it could attribute.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;

use crate::store::Store;

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Totals {
    pub requests: u64,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
}

impl Totals {
    fn add(&mut self, p: &Value) {
        let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
        self.requests += n("requests");
        self.input_tokens += n("input_tokens");
        self.cached_input_tokens += n("cached_input_tokens");
        self.output_tokens += n("output_tokens");
    }
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

#[derive(Debug, Serialize)]
pub struct UsageReport {
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    /// Codex usage per person (email, or service account / "unattributed").
    pub per_person: BTreeMap<String, Totals>,
    /// Codex usage per model.
    pub per_model: BTreeMap<String, Totals>,
    pub codex_total: Totals,
    pub all_total: Totals,
    /// Share of Codex tokens attributed to a person (by email).
    pub attributed_share: f64,
}

pub const UNATTRIBUTED: &str = "(unattributed)";

pub fn codex_usage(store: &Store) -> anyhow::Result<UsageReport> {
    let emails: HashMap<String, String> = store
        .records("users")?
        .into_iter()
        .filter_map(|r| {
            let p: Value = serde_json::from_str(&r.payload).ok()?;
            Some((
                p["user_id"].as_str()?.to_string(),
                p["email"].as_str()?.to_string(),
            ))
        })
        .collect();
    let owners: HashMap<String, String> = store
        .records("api_keys")?
        .into_iter()
        .filter_map(|r| {
            let p: Value = serde_json::from_str(&r.payload).ok()?;
            let who = p["owner_email"].as_str().map(str::to_string).or_else(|| {
                p["service_account_name"]
                    .as_str()
                    .map(|s| format!("service account: {s}"))
            })?;
            Some((p["api_key_id"].as_str()?.to_string(), who))
        })
        .collect();
    let mut report = UsageReport {
        window_start: None,
        window_end: None,
        per_person: BTreeMap::new(),
        per_model: BTreeMap::new(),
        codex_total: Totals::default(),
        all_total: Totals::default(),
        attributed_share: 0.0,
    };
    let mut attributed = 0u64;
    for r in store.records("usage")? {
        let Ok(p) = serde_json::from_str::<Value>(&r.payload) else {
            continue;
        };
        report.all_total.add(&p);
        let start = p["bucket_start"].as_str().map(str::to_string);
        if start < report.window_start || report.window_start.is_none() {
            report.window_start = start;
        }
        let end = p["bucket_end"].as_str().map(str::to_string);
        if end > report.window_end {
            report.window_end = end;
        }
        if p["is_codex"] != Value::Bool(true) {
            continue;
        }
        report.codex_total.add(&p);
        let person = p["user_id"]
            .as_str()
            .and_then(|u| emails.get(u).cloned())
            .or_else(|| {
                p["api_key_id"]
                    .as_str()
                    .and_then(|k| owners.get(k).cloned())
            })
            .unwrap_or_else(|| UNATTRIBUTED.to_string());
        if person.contains('@') {
            attributed +=
                p["input_tokens"].as_u64().unwrap_or(0) + p["output_tokens"].as_u64().unwrap_or(0);
        }
        report.per_person.entry(person).or_default().add(&p);
        let model = p["model"].as_str().unwrap_or("(unknown model)").to_string();
        report.per_model.entry(model).or_default().add(&p);
    }
    let total = report.codex_total.tokens();
    report.attributed_share = if total == 0 {
        0.0
    } else {
        attributed as f64 / total as f64
    };
    Ok(report)
}

/// `1234567` → `1,234,567`, for tables people read.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
