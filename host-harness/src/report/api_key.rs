//! Codex used with API keys, per person and model, for the imported window: joins usage
//! records to people the way the platform does (see [`super::identity`]) and says how much
//! usage it could attribute.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::identity::{is_person, Directory};
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
    /// People's names by email, where the directory has them.
    pub names: BTreeMap<String, String>,
}

pub use super::identity::UNATTRIBUTED;

/// The API-key path's report of `connection`'s records.
pub async fn codex_usage(store: &Store, connection: &str) -> anyhow::Result<UsageReport> {
    let directory = Directory::load(store, connection).await?;
    let mut report = UsageReport {
        window_start: None,
        window_end: None,
        per_person: BTreeMap::new(),
        per_model: BTreeMap::new(),
        codex_total: Totals::default(),
        all_total: Totals::default(),
        attributed_share: 0.0,
        names: directory.names.clone(),
    };
    let mut attributed = 0u64;
    for r in store.records(connection, "usage").await? {
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
        let person = directory.api_key_user(&p);
        if is_person(&person) {
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
