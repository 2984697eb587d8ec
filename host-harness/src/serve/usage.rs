//! The usage view: what the platform's reports ([`crate::report`]) make of the imported
//! records — one row per person across both ways usage reaches an organization (requests
//! and tokens with API keys; threads, turns and credits through a seat's sign-in; code
//! reviews), the share attributed to a person per path, models and surfaces.
//!
//! The per-person table is sorted on the server (`/?sort=tokens|requests|credits|person`,
//! the column headers are links), so it works without script, and lists every person (the
//! table scrolls).

use serde::Serialize;

use super::views::{window, WindowView};
use crate::human::thousands;
use crate::report::people::{people, surfaces, Period, PersonRow, USAGE_STREAMS};
use crate::report::{Totals, UsageReport};
use crate::store::{Run, Store};

/// The platform's usage report of `connection`'s records.
async fn report(store: &Store, connection: &str) -> anyhow::Result<UsageReport> {
    crate::report::codex_usage(store, connection).await
}

/// The order of the per-person table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Sort {
    /// Most tokens first (the default).
    #[default]
    Tokens,
    /// Most requests first.
    Requests,
    /// Most credits first.
    Credits,
    /// By name.
    Person,
}

impl Sort {
    pub fn parse(s: Option<&str>) -> Sort {
        match s {
            Some("requests") => Sort::Requests,
            Some("credits") => Sort::Credits,
            Some("person") => Sort::Person,
            _ => Sort::Tokens,
        }
    }
}

#[derive(Serialize)]
pub(crate) struct UsageRow {
    pub name: String,
    pub requests: String,
    pub tokens: String,
    /// The plain numbers, for tests and scripts.
    pub requests_n: u64,
    pub tokens_n: u64,
}

/// One person across both paths.
#[derive(Serialize)]
pub(crate) struct PersonView {
    pub name: String,
    pub requests: String,
    pub tokens: String,
    pub threads: String,
    pub turns: String,
    pub credits: String,
    pub reviews: String,
    pub requests_n: u64,
    pub tokens_n: u64,
    pub credits_n: f64,
}

/// One surface of the sign-in path.
#[derive(Serialize)]
pub(crate) struct SurfaceView {
    pub id: String,
    pub threads: String,
    pub turns: String,
    pub credits: String,
}

#[derive(Serialize)]
pub(crate) struct UsageView {
    pub window: Option<WindowView>,
    pub requests: String,
    pub tokens: String,
    /// Share of all imported tokens.
    pub share: String,
    pub attributed: String,
    /// Credits of the sign-in path, and the share attributed to a person.
    pub credits: String,
    pub attributed_seats: String,
    /// Whether the sign-in path has any usage.
    pub seats: bool,
    pub people: Vec<PersonView>,
    pub surfaces: Vec<SurfaceView>,
    pub people_count: String,
    pub models: Vec<UsageRow>,
    pub sort: Sort,
    /// Nothing of the connector's kind was found in the window.
    pub none: bool,
    /// Other usage was.
    pub other_usage: bool,
}

fn row(name: &str, t: &Totals) -> UsageRow {
    UsageRow {
        name: name.to_string(),
        requests: thousands(t.requests),
        tokens: thousands(t.tokens()),
        requests_n: t.requests,
        tokens_n: t.tokens(),
    }
}

fn person_view(p: &PersonRow) -> PersonView {
    let credits_n: f64 = p.credits().try_into().unwrap_or(0.0);
    let (threads, turns) = p.threads_turns();
    PersonView {
        name: match &p.name {
            Some(n) => format!("{n} <{}>", p.email),
            None => p.email.clone(),
        },
        requests: thousands(p.api_key.requests),
        tokens: thousands(p.api_key.tokens),
        threads: thousands(threads),
        turns: thousands(turns),
        credits: p.credits().normalize().to_string(),
        reviews: thousands(p.reviews()),
        requests_n: p.api_key.requests,
        tokens_n: p.api_key.tokens,
        credits_n,
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

/// The view, once a usage import succeeded (`None` before).
pub(crate) async fn view(
    store: &Store,
    connection: &str,
    runs: &[Run],
    sort: Sort,
) -> anyhow::Result<Option<UsageView>> {
    let mut records = 0;
    for stream in USAGE_STREAMS {
        records += store.record_count(connection, stream).await?;
    }
    let imported = records > 0
        || runs
            .iter()
            .any(|r| r.status == "succeeded" && !r.streams.is_empty());
    if !imported {
        return Ok(None);
    }
    let r = report(store, connection).await?;
    let view = people(store, connection, Period::All).await?;
    let mut rows: Vec<&PersonRow> = view.people.iter().chain(&view.unattributed).collect();
    let name = |p: &PersonRow| p.email.to_lowercase();
    match sort {
        Sort::Tokens => rows.sort_by(|a, b| {
            b.api_key
                .tokens
                .cmp(&a.api_key.tokens)
                .then(b.credits().cmp(&a.credits()))
                .then(name(a).cmp(&name(b)))
        }),
        Sort::Requests => rows.sort_by(|a, b| {
            b.api_key
                .requests
                .cmp(&a.api_key.requests)
                .then(name(a).cmp(&name(b)))
        }),
        Sort::Credits => {
            rows.sort_by(|a, b| b.credits().cmp(&a.credits()).then(name(a).cmp(&name(b))))
        }
        Sort::Person => rows.sort_by_key(|p| {
            p.name
                .as_deref()
                .map(str::to_lowercase)
                .unwrap_or_else(|| name(p))
        }),
    }
    let credits: rust_decimal::Decimal = rows.iter().map(|p| p.credits()).sum();
    let by_surface = surfaces(rows.iter().copied());
    let mut models: Vec<(&String, &Totals)> = r.per_model.iter().collect();
    models.sort_by(|a, b| b.1.tokens().cmp(&a.1.tokens()).then(a.0.cmp(b.0)));
    // The records' own window, else the newest run's.
    let window = match (&r.window_start, &r.window_end) {
        (Some(s), Some(e)) => window(s, e),
        _ => runs
            .iter()
            .find_map(|run| window(run.window_start.as_ref()?, run.window_end.as_ref()?)),
    };
    let share = if r.all_total.tokens() == 0 {
        0.0
    } else {
        r.codex_total.tokens() as f64 / r.all_total.tokens() as f64
    };
    Ok(Some(UsageView {
        window,
        requests: thousands(r.codex_total.requests),
        tokens: thousands(r.codex_total.tokens()),
        share: pct(share),
        attributed: pct(view.attributed_share.api_key),
        credits: credits.normalize().to_string(),
        attributed_seats: pct(view.attributed_share.sign_in()),
        seats: !credits.is_zero() || !by_surface.is_empty(),
        people_count: thousands(rows.len() as u64),
        people: rows.iter().map(|p| person_view(p)).collect(),
        surfaces: by_surface
            .into_iter()
            .map(|(id, a)| SurfaceView {
                id,
                threads: thousands(a.threads),
                turns: thousands(a.turns),
                credits: a.credits.normalize().to_string(),
            })
            .collect(),
        models: models.iter().map(|(n, t)| row(n, t)).collect(),
        sort,
        none: r.codex_total.requests == 0 && r.codex_total.tokens() == 0 && credits.is_zero(),
        other_usage: r.all_total.requests > 0 || r.all_total.tokens() > 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_orders_parse_with_a_default() {
        assert_eq!(Sort::parse(None), Sort::Tokens);
        assert_eq!(Sort::parse(Some("requests")), Sort::Requests);
        assert_eq!(Sort::parse(Some("person")), Sort::Person);
        assert_eq!(Sort::parse(Some("credits")), Sort::Credits);
        assert_eq!(Sort::parse(Some("<script>")), Sort::Tokens);
        assert_eq!(pct(0.123456), "12.3%");
    }
}
