//! The view models a connection's page renders, and how they are built from the connector's
//! description, the store, the scheduler and a post's result. Every text about the
//! connector comes from the connector; the host adds only generic words.
//!
//! Dates: the import history's window and the usage view's window are rendered by the same
//! function ([`window`]) as UTC *days, both ends included* (`2026-09-03 – 2026-12-01, 90
//! days`): a half-open `[start, end)` range covers the days from `start`'s to the day of
//! the last second before `end`. The exact range is in the cell's tooltip.

use std::collections::BTreeMap;

use serde::Serialize;

use super::aligned::{self, AlignedPage, DeliveryView};
use super::connection::fingerprint;
use super::flash::Flash;
use super::target::Target;
use super::usage::{self, Sort, UsageView};
use super::App;
use crate::bindings::v0_2::types as wit;
use crate::human::{seconds, thousands};
use crate::report::alignment::AlignPeriod;
use crate::runner::Harness;
use crate::scheduler::LiveRun;
use crate::store::Run;

/// Runs shown in the history.
const HISTORY: usize = 25;

#[derive(Serialize)]
pub(crate) struct PageView {
    /// The connection the page is about: its id (in every form's and link's path) and
    /// display name.
    pub connection_id: String,
    pub connection_name: String,
    pub name: String,
    pub version: String,
    pub description: String,
    pub csrf: String,
    pub nonce: String,
    pub sections: Vec<SectionView>,
    pub origins: Vec<String>,
    pub capabilities: Vec<CapabilityView>,
    /// The connector's notes, shown once.
    pub notes: Vec<String>,
    pub flash: Option<Flash>,
    pub connection: ConnectionView,
    pub history: Vec<RunView>,
    /// Whether any run shown has an error (the column is left out otherwise).
    pub history_errors: bool,
    pub live: Option<LiveView>,
    pub every: String,
    pub jitter_pct: String,
    pub next_at: Option<String>,
    pub usage: Option<UsageView>,
    /// The Delivery section: repositories, aliases, teams.
    pub delivery: DeliveryView,
    /// The report beside delivery, or why it cannot be shown.
    pub aligned: Option<AlignedPage>,
    pub aligned_error: Option<String>,
    pub store: String,
}

/// What the page's query asks of the report beside delivery.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wanted {
    pub period: AlignPeriod,
    /// Every row of the per-person table.
    pub all: bool,
}

/// A titled group of fields (one per `describe()` section; fields of no known section
/// form a last, untitled group).
#[derive(Serialize)]
pub(crate) struct SectionView {
    pub id: String,
    pub title: String,
    pub help: String,
    pub fields: Vec<FieldView>,
}

#[derive(Serialize)]
pub(crate) struct FieldView {
    pub key: String,
    pub label: String,
    /// `text`, `password`, `number`, `select`, `textarea` or `checkbox`.
    pub input: &'static str,
    pub required: bool,
    pub help: String,
    /// Never set for a secret.
    pub value: String,
    pub checked: bool,
    pub choices: Vec<String>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub max_length: Option<u32>,
    pub placeholder: String,
    pub error: Option<String>,
    /// A secret's saved value, redacted.
    pub saved: Option<String>,
    /// An optional secret with a saved value can be removed.
    pub removable: bool,
}

#[derive(Serialize)]
pub(crate) struct CapabilityView {
    pub name: String,
    pub label: String,
    pub description: String,
}

/// A live check's result, per capability, in the connector's words.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct CheckView {
    pub at: String,
    pub ok: bool,
    pub organization: Option<String>,
    /// The credentials checked, redacted: `{label} {first 8}…{last 4}`.
    pub credentials: Vec<String>,
    pub caps: Vec<CapView>,
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub(crate) struct CapView {
    pub name: String,
    pub label: String,
    /// `granted`, `denied` or `not-configured`.
    pub status: &'static str,
    /// The status in plain words.
    pub status_text: &'static str,
    /// The class of a denial, e.g. `forbidden`.
    pub problem: Option<&'static str>,
    /// The connector's message.
    pub message: String,
}

/// The status of the saved configuration.
#[derive(Serialize)]
pub(crate) struct ConnectionView {
    /// `connected`, `not-connected`, `unchecked` or `not-configured`.
    pub state: &'static str,
    pub state_text: &'static str,
    pub check: Option<CheckView>,
    /// The saved secrets, redacted: `{label} {first 8}…{last 4}`.
    pub saved: Vec<String>,
}

#[derive(Serialize)]
pub(crate) struct StreamCell {
    pub name: String,
    /// The name as it can appear in an attribute name (`api_keys` → `api-keys`).
    pub attr: String,
    pub pages: u64,
    pub inserted: u64,
    pub updated: u64,
    pub text: String,
}

#[derive(Serialize)]
pub(crate) struct RunView {
    pub id: i64,
    pub when: String,
    pub duration: String,
    pub status: String,
    pub trigger: String,
    pub streams: Vec<StreamCell>,
    pub added: u64,
    pub updated: u64,
    pub added_text: String,
    pub updated_text: String,
    pub window: Option<WindowView>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct WindowView {
    /// `2026-09-03 – 2026-12-01 (90 days)`: UTC days, both included.
    pub text: String,
    /// The exact half-open range.
    pub title: String,
}

#[derive(Serialize)]
pub(crate) struct LiveView {
    pub trigger: String,
    pub started_at: String,
    pub text: String,
}

/// `2025-06-01T14:03:22.123Z` → `2025-06-01 14:03:22 UTC`.
pub(crate) fn when(ts: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(ts)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| ts.to_string())
}

/// A half-open `[start, end)` range (RFC 3339) as UTC days, both ends included.
pub(crate) fn window(start: &str, end: &str) -> Option<WindowView> {
    let s = chrono::DateTime::parse_from_rfc3339(start)
        .ok()?
        .with_timezone(&chrono::Utc);
    let e = chrono::DateTime::parse_from_rfc3339(end)
        .ok()?
        .with_timezone(&chrono::Utc);
    if e <= s {
        return None;
    }
    let first = s.date_naive();
    let last = (e - chrono::Duration::seconds(1)).date_naive().max(first);
    let days = (last - first).num_days() + 1;
    let text = if first == last {
        format!("{first} (1 day)")
    } else {
        format!("{first} – {last} ({} days)", thousands(days as u64))
    };
    let exact = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    Some(WindowView {
        text,
        title: format!("from {} up to, not including, {}", exact(s), exact(e)),
    })
}

/// How long a run took (`0.42 s`, `12.3 s`, `4 min 05 s`); `running` while it runs.
fn duration(r: &Run) -> String {
    let parse = |t: &str| chrono::DateTime::parse_from_rfc3339(t).ok();
    match (
        r.finished_at.as_deref().and_then(parse),
        parse(&r.started_at),
    ) {
        (Some(f), Some(s)) => seconds((f - s).num_milliseconds().max(0) as f64 / 1000.0),
        (None, _) if r.status == "running" => "running".into(),
        _ => "–".into(),
    }
}

pub(crate) fn trigger_text(t: &str) -> String {
    match t {
        "ui" => "Sync now".into(),
        "schedule" => "scheduled".into(),
        other => other.to_string(),
    }
}

/// A stream name as part of an attribute name: lower-case letters, digits and `-`.
fn attr_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .collect()
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

pub(crate) fn run_view(r: &Run) -> RunView {
    RunView {
        id: r.id,
        when: when(&r.started_at),
        duration: duration(r),
        status: r.status.clone(),
        trigger: trigger_text(&r.trigger),
        streams: r
            .streams
            .iter()
            .map(|(name, c)| {
                let mut text = format!(
                    "{name} · {} · +{}",
                    plural(c.pages, "page", "pages"),
                    thousands(c.inserted)
                );
                if c.updated > 0 {
                    text.push_str(&format!(" · ~{}", thousands(c.updated)));
                }
                StreamCell {
                    name: name.clone(),
                    attr: attr_name(name),
                    pages: c.pages,
                    inserted: c.inserted,
                    updated: c.updated,
                    text,
                }
            })
            .collect(),
        added: r.inserted(),
        updated: r.updated(),
        added_text: thousands(r.inserted()),
        updated_text: thousands(r.updated()),
        window: match (&r.window_start, &r.window_end) {
            (Some(s), Some(e)) => window(s, e),
            _ => None,
        },
        error: match (&r.error_class, &r.error_message) {
            (Some(c), Some(m)) => Some(format!("{c}: {m}")),
            (Some(c), None) => Some(c.clone()),
            _ => None,
        },
    }
}

/// What a running import has done so far, in one line.
pub(crate) fn live_text(live: &LiveRun) -> String {
    let mut parts: Vec<String> = live
        .streams
        .iter()
        .map(|(s, c)| {
            format!(
                "{s}: {}, {} added",
                plural(c.pages, "page", "pages"),
                thousands(c.inserted)
            )
        })
        .collect();
    if parts.is_empty() {
        parts.push("starting".into());
    }
    let mut text = format!(
        "Importing — {} ({})",
        parts.join("; "),
        seconds(live.started.elapsed().as_secs_f64())
    );
    if let Some(w) = &live.waiting {
        text.push_str(&format!(" — {w}"));
    }
    text
}

/// The plain words for a check status.
fn status_words(s: wit::CheckStatus) -> (&'static str, &'static str) {
    match s {
        wit::CheckStatus::Granted => ("granted", "Granted"),
        wit::CheckStatus::Denied => ("denied", "Denied"),
        wit::CheckStatus::NotConfigured => ("not-configured", "Not configured"),
    }
}

/// The labels and redacted values of `secrets`: `{label} {first 8}…{last 4}`.
pub(crate) fn credentials(
    info: &wit::ConnectorInfo,
    secrets: &BTreeMap<String, crate::secret::Secret>,
) -> Vec<String> {
    info.settings
        .iter()
        .filter_map(|f| {
            secrets
                .get(&f.key)
                .map(|s| format!("{} {}", f.label, s.redacted()))
        })
        .collect()
}

/// A credential report as the page shows it: each capability's label (from `describe`),
/// its status in plain words and the connector's message.
pub(crate) fn check_view(
    harness: &Harness,
    report: &wit::CredentialReport,
    credentials: Vec<String>,
) -> CheckView {
    let described: Vec<&str> = harness.info().notes.iter().map(String::as_str).collect();
    CheckView {
        at: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        ok: report.ok,
        organization: report.organization.clone(),
        credentials,
        caps: report
            .capabilities
            .iter()
            .map(|c| {
                let (status, status_text) = status_words(c.status);
                CapView {
                    name: c.name.clone(),
                    label: harness.capability_label(&c.name),
                    status,
                    status_text,
                    problem: c.problem.map(crate::runner::class_name),
                    message: c.message.clone(),
                }
            })
            .collect(),
        // The connector's description notes are on the page once already.
        notes: report
            .notes
            .iter()
            .filter(|n| !described.contains(&n.as_str()))
            .cloned()
            .collect(),
    }
}

fn kind_input(kind: wit::SettingKind) -> &'static str {
    match kind {
        wit::SettingKind::Text => "text",
        wit::SettingKind::Secret => "password",
        wit::SettingKind::Number => "number",
        wit::SettingKind::Choice => "select",
        wit::SettingKind::List => "textarea",
        wit::SettingKind::Boolean => "checkbox",
    }
}

fn value_text(v: &wit::SettingValue) -> String {
    match v {
        wit::SettingValue::Text(t) => t.clone(),
        wit::SettingValue::Number(n) => n.to_string(),
        wit::SettingValue::Boolean(b) => b.to_string(),
        wit::SettingValue::List(l) => l.join(", "),
        wit::SettingValue::Secret(_) => String::new(),
    }
}

/// The form: every field of `describe()` by its kind, grouped by its section.
pub(crate) fn sections(
    info: &wit::ConnectorInfo,
    stored: &BTreeMap<String, String>,
    saved_secrets: &BTreeMap<String, String>,
    flash: Option<&Flash>,
) -> Vec<SectionView> {
    let submitted = flash.and_then(|f| f.submitted.as_ref());
    let field = |f: &wit::SettingField| {
        let input = kind_input(f.kind);
        let secret = f.kind == wit::SettingKind::Secret;
        let saved = if secret {
            saved_secrets.get(&f.key).cloned()
        } else {
            None
        };
        let value = if secret {
            String::new() // never filled back in
        } else if let Some(sub) = submitted {
            sub.get(&f.key).cloned().unwrap_or_default()
        } else {
            stored
                .get(&f.key)
                .cloned()
                .or_else(|| f.default_value.clone())
                .unwrap_or_default()
        };
        FieldView {
            key: f.key.clone(),
            label: f.label.clone(),
            input,
            required: f.required,
            help: f.help.clone(),
            checked: value == "true",
            value,
            choices: f.choices.clone(),
            min: f.min,
            max: f.max,
            max_length: f.max_length,
            placeholder: match input {
                "password" if saved.is_some() => "Leave empty to keep the saved value".into(),
                "password" => String::new(),
                "textarea" => "Comma- or newline-separated".into(),
                _ => f.default_value.clone().unwrap_or_default(),
            },
            error: flash.and_then(|fl| fl.field_errors.get(&f.key).cloned()),
            removable: secret && !f.required && saved.is_some(),
            saved,
        }
    };
    let mut out: Vec<SectionView> = info
        .sections
        .iter()
        .map(|s| SectionView {
            id: s.id.clone(),
            title: s.title.clone(),
            help: s.help.clone(),
            fields: Vec::new(),
        })
        .collect();
    let mut loose = SectionView {
        id: String::new(),
        title: String::new(),
        help: String::new(),
        fields: Vec::new(),
    };
    for f in &info.settings {
        match out
            .iter_mut()
            .find(|s| !f.section.is_empty() && s.id == f.section)
        {
            Some(s) => s.fields.push(field(f)),
            None => loose.fields.push(field(f)),
        }
    }
    out.retain(|s| !s.fields.is_empty());
    if !loose.fields.is_empty() {
        out.push(loose);
    }
    out
}

/// Everything the page shows.
pub(crate) async fn build_page(
    app: &App,
    target: &Target,
    harness: &Harness,
    flash: Option<Flash>,
    sort: Sort,
    wanted: Wanted,
    nonce: String,
) -> anyhow::Result<PageView> {
    let store = &app.store;
    let info = harness.info();
    let id = target.id();
    let settings = store.settings(id).await?;
    let secrets = store.secrets(id).await?;
    let configured = store.is_configured(id).await?;
    let stored: BTreeMap<String, String> = settings
        .iter()
        .map(|s| (s.key.clone(), value_text(&s.value)))
        .collect();
    let saved_secrets: BTreeMap<String, String> = secrets
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.clone(), v.redacted()))
        .collect();
    let check = target.state.connection.of(fingerprint(&settings, &secrets));
    let (state, state_text) = match (&check, configured) {
        (_, false) => ("not-configured", "Not configured"),
        (Some(c), true) if c.ok => ("connected", "Connected"),
        (Some(_), true) => ("not-connected", "Not connected"),
        (None, true) => ("unchecked", "Saved, not checked yet"),
    };
    let connection = ConnectionView {
        state,
        state_text,
        check: if configured { check } else { None },
        saved: credentials(info, &secrets),
    };
    let runs = store.runs(id, HISTORY).await?;
    let history: Vec<RunView> = runs.iter().map(run_view).collect();
    let usage = usage::view(store, id, &runs, sort).await?;
    let delivery = aligned::delivery(store, id).await?;
    // The report is shown apart from the rest: when it cannot be computed, the page still
    // serves its forms (the reason is logged; the page says where to look).
    let (aligned, aligned_error) = match aligned::view(store, id, wanted.period, wanted.all).await {
        Ok(v) => (Some(v), None),
        Err(e) => {
            tracing::error!(connection = %id, "cannot compute the report beside delivery: {e:#}");
            (None, Some(format!("{e}")))
        }
    };
    let status = app.scheduler.status(id);
    Ok(PageView {
        connection_id: id.to_string(),
        connection_name: target.conn.name.clone(),
        name: info.name.clone(),
        version: info.version.clone(),
        description: info.description.clone(),
        csrf: app.security.csrf().to_string(),
        nonce,
        sections: sections(info, &stored, &saved_secrets, flash.as_ref()),
        origins: harness
            .declared_origins()
            .iter()
            .map(|o| o.to_string())
            .collect(),
        capabilities: info
            .capabilities
            .iter()
            .map(|c| CapabilityView {
                name: c.name.clone(),
                label: c.label.clone(),
                description: c.description.clone(),
            })
            .collect(),
        notes: info.notes.clone(),
        flash,
        connection,
        history_errors: history.iter().any(|r| r.error.is_some()),
        history,
        live: status.running.as_ref().map(|l| LiveView {
            trigger: trigger_text(&l.trigger),
            started_at: when(&l.started_at),
            text: live_text(l),
        }),
        every: status.every.clone(),
        jitter_pct: format!("{:.0}%", status.jitter * 100.0),
        next_at: status.next_at.as_deref().map(when),
        usage,
        delivery,
        aligned,
        aligned_error,
        store: store.location().display(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::form::tests::info;
    use crate::store::StreamCounts;

    #[test]
    fn windows_are_utc_days_both_included() {
        // A run's window ends at the time it ran; the usage buckets end at the next midnight.
        let run = window("2026-09-03T00:00:00Z", "2026-12-01T14:21:46Z").unwrap();
        let buckets = window("2026-09-03T00:00:00Z", "2026-12-02T00:00:00Z").unwrap();
        assert_eq!(run.text, "2026-09-03 – 2026-12-01 (90 days)");
        assert_eq!(run.text, buckets.text, "the same days");
        assert_eq!(
            buckets.title,
            "from 2026-09-03 00:00 UTC up to, not including, 2026-12-02 00:00 UTC"
        );
        assert_eq!(
            window("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z")
                .unwrap()
                .text,
            "2026-12-01 (1 day)"
        );
        assert_eq!(
            window("2026-12-01T10:00:00+02:00", "2026-12-01T11:00:00Z")
                .unwrap()
                .text,
            "2026-12-01 (1 day)"
        );
        assert!(window("2026-12-02T00:00:00Z", "2026-12-01T00:00:00Z").is_none());
        assert!(window("yesterday", "today").is_none());
    }

    fn run(started: &str, finished: Option<&str>, status: &str) -> Run {
        let mut streams = BTreeMap::new();
        streams.insert(
            "api_keys".to_string(),
            StreamCounts {
                pages: 1,
                requests: 3,
                inserted: 1234,
                updated: 0,
                unchanged: 0,
            },
        );
        streams.insert(
            "usage".to_string(),
            StreamCounts {
                pages: 12,
                requests: 12,
                inserted: 1_234_567,
                updated: 5,
                unchanged: 0,
            },
        );
        Run {
            id: 7,
            connection: "default".into(),
            connector: "c".into(),
            started_at: started.into(),
            finished_at: finished.map(str::to_string),
            status: status.into(),
            trigger: "ui".into(),
            streams,
            window_start: Some("2026-09-03T00:00:00Z".into()),
            window_end: Some("2026-12-01T14:21:46Z".into()),
            error_class: None,
            error_message: None,
        }
    }

    #[test]
    fn history_rows_read_well() {
        let fast = run_view(&run(
            "2026-12-01T10:00:00.000Z",
            Some("2026-12-01T10:00:00.040Z"),
            "succeeded",
        ));
        assert_eq!(fast.duration, "0.04 s", "never 0.0 s");
        assert_eq!(fast.trigger, "Sync now");
        assert_eq!(fast.added_text, "1,235,801");
        assert_eq!(fast.streams[0].attr, "api-keys");
        assert_eq!(fast.streams[1].text, "usage · 12 pages · +1,234,567 · ~5");
        assert_eq!(fast.streams[0].text, "api_keys · 1 page · +1,234");
        assert_eq!(
            fast.window.unwrap().text,
            "2026-09-03 – 2026-12-01 (90 days)"
        );
        let slow = run_view(&run(
            "2026-12-01T10:00:00Z",
            Some("2026-12-01T10:04:05Z"),
            "succeeded",
        ));
        assert_eq!(slow.duration, "4 min 05 s");
        assert_eq!(
            run_view(&run("2026-12-01T10:00:00Z", None, "running")).duration,
            "running"
        );
        assert_eq!(attr_name("Odd Name\"x"), "odd-name-x");
    }

    /// The whole page from a connector of two sections and two secrets, one saved check, a
    /// rejected attempt and one run: names, sections, statuses and notes come from the
    /// connector; markup is escaped; the notes are there once.
    #[test]
    fn the_page_renders_the_connector_and_escapes_it() {
        let mut info = info();
        info.name = "Two <Sources>".into();
        let mut saved = BTreeMap::new();
        saved.insert("first_key".to_string(), "first-sa…6789".to_string());
        saved.insert("second_key".to_string(), "second-s…6789".to_string());
        let cap =
            |name: &str, label: &str, status: &'static str, text: &'static str, message: &str| {
                CapView {
                    name: name.into(),
                    label: label.into(),
                    status,
                    status_text: text,
                    problem: None,
                    message: message.into(),
                }
            };
        let saved_check = CheckView {
            at: "2026-12-01 10:00:00 UTC".into(),
            ok: true,
            organization: Some("org-1".into()),
            credentials: vec!["Label of first_key first-sa…6789".into()],
            caps: vec![
                cap("a-read", "Source A", "granted", "Granted", "A can be read."),
                cap(
                    "b-read",
                    "Source B",
                    "not-configured",
                    "Not configured",
                    "Fill in B to read it.",
                ),
            ],
            notes: vec![],
        };
        let mut flash = Flash::new(
            super::super::flash::Tone::Error,
            "The new Label of first_key was not saved: the live check denied Source A",
        );
        flash.attempt = Some(CheckView {
            ok: false,
            caps: vec![cap(
                "a-read",
                "Source A",
                "denied",
                "Denied",
                "The provider rejected <this> key.",
            )],
            ..saved_check.clone()
        });
        let mut r = run(
            "2026-12-01T10:00:00Z",
            Some("2026-12-01T10:00:01.5Z"),
            "succeeded",
        );
        r.error_message = Some("<img src=x>".into());
        r.error_class = Some("transient".into());
        let view = PageView {
            connection_id: "acme-eu".into(),
            connection_name: "Acme <EU>".into(),
            name: info.name.clone(),
            version: info.version.clone(),
            description: info.description.clone(),
            csrf: "c".repeat(64),
            nonce: "n".repeat(32),
            sections: sections(&info, &BTreeMap::new(), &saved, Some(&flash)),
            origins: vec!["https://a.example".into()],
            capabilities: info
                .capabilities
                .iter()
                .map(|c| CapabilityView {
                    name: c.name.clone(),
                    label: c.label.clone(),
                    description: c.description.clone(),
                })
                .collect(),
            notes: info.notes.clone(),
            flash: Some(flash),
            connection: ConnectionView {
                state: "connected",
                state_text: "Connected",
                check: Some(saved_check),
                saved: vec![],
            },
            history: vec![run_view(&r)],
            history_errors: true,
            live: None,
            every: "1h".into(),
            jitter_pct: "10%".into(),
            next_at: None,
            usage: None,
            delivery: DeliveryView {
                repositories: vec![aligned::RepositoryView {
                    path: "/srv/<img src=x>".into(),
                    added_at: "now".into(),
                    last_read: None,
                    last_new: "0".into(),
                    commits: "3".into(),
                    problem: Some("moved <this>".into()),
                }],
                aliases: vec![("p@home".into(), "w@work".into())],
                teams: vec![aligned::TeamDefView {
                    name: "<Sources> team".into(),
                    members: "a@x".into(),
                    size: 1,
                }],
            },
            aligned: None,
            aligned_error: None,
            store: "/tmp/x.db".into(),
        };
        let html = super::super::render::Templates::new()
            .unwrap()
            .render("page.html", &view)
            .unwrap();
        assert!(
            html.contains(
                "<title>Acme &lt;EU&gt; · Two &lt;Sources&gt; Settings · Integrations</title>"
            ),
            "{html}"
        );
        assert!(html.contains(
            "<a href=\"/\" id=\"crumb-integrations\">Integrations</a> → <b>Acme &lt;EU&gt;</b>"
        ));
        assert!(html.contains("<h1>Two &lt;Sources&gt; Settings</h1>"));
        // Every form and link of the page is the connection's own.
        for path in [
            "settings",
            "check",
            "sync",
            "status",
            "repositories",
            "aliases",
            "teams",
        ] {
            assert!(
                html.contains(&format!("\"/connections/acme-eu/{path}\"")),
                "{path}"
            );
        }
        assert!(!html.contains("action=\"/settings\"") && !html.contains("action=\"/sync\""));
        assert!(
            html.contains("<a href=\"/\" class=\"nav\" id=\"nav-integrations\">Integrations</a>")
        );
        assert!(
            !html.contains("<Sources>")
                && !html.contains("<img src=x>")
                && !html.contains("<this>")
        );
        assert!(
            html.contains("<legend>Source A</legend>")
                && html.contains("<legend>Source B</legend>")
        );
        assert!(html.contains("Fill in for A.") && html.contains("Fill in for B."));
        assert_eq!(
            html.matches("Saved: <code>").count(),
            2,
            "each secret shows its own saved form"
        );
        assert_eq!(
            html.matches("Leave empty to keep the saved value").count(),
            4,
            "hint and placeholder per secret"
        );
        assert_eq!(html.matches("type=\"password\"").count(), 2);
        assert_eq!(
            html.matches("value=\"\" placeholder=\"Leave empty").count(),
            2,
            "secrets never filled in"
        );
        // The saved configuration stays connected; the attempt is shown as such.
        assert!(html.contains("id=\"conn-state\" data-state=\"connected\">Connected<"));
        assert!(html.contains(
            "class=\"cap connection-cap\" data-capability=\"a-read\" data-status=\"granted\""
        ));
        assert!(html.contains("class=\"cap connection-cap\" data-capability=\"b-read\" data-status=\"not-configured\""));
        assert!(html.contains(
            "class=\"cap attempt-cap\" data-capability=\"a-read\" data-status=\"denied\""
        ));
        assert!(html.contains("Result of this attempt (not saved)"));
        assert!(html.contains("Not configured") && html.contains("Fill in B to read it."));
        assert_eq!(
            html.matches("A note.").count(),
            1,
            "the connector's notes, once"
        );
        assert!(html.contains("1.50 s"), "durations in human form");
        assert!(html.contains("<style nonce=\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\">"));
        assert!(html.contains("<script nonce=\"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn\">"));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "one script, under the nonce"
        );
        assert!(html.contains("data-api-keys-added=\"1234\""));
        assert!(
            html.contains("transient: &lt;img"),
            "the error column, escaped"
        );
    }

    #[test]
    fn the_form_follows_the_sections_and_never_refills_secrets() {
        let info = info();
        let mut stored = BTreeMap::new();
        stored.insert("days".to_string(), "7".to_string());
        let mut saved = BTreeMap::new();
        saved.insert("first_key".to_string(), "first-sa…6789".to_string());
        saved.insert("second_key".to_string(), "second-s…6789".to_string());
        let s = sections(&info, &stored, &saved, None);
        let titles: Vec<&str> = s.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["Source A", "Source B", ""]);
        assert_eq!(s[0].help, "Fill in for A.");
        let keys: Vec<Vec<&str>> = s
            .iter()
            .map(|s| s.fields.iter().map(|f| f.key.as_str()).collect())
            .collect();
        assert_eq!(
            keys,
            [
                vec!["first_key", "days"],
                vec!["second_key", "hourly", "ids"],
                vec!["loose"]
            ]
        );
        let first = &s[0].fields[0];
        assert_eq!((first.input, first.value.as_str()), ("password", ""));
        assert_eq!(first.saved.as_deref(), Some("first-sa…6789"));
        assert_eq!(first.placeholder, "Leave empty to keep the saved value");
        assert!(!first.removable, "a required secret cannot be removed");
        let second = &s[1].fields[0];
        assert_eq!(
            second.saved.as_deref(),
            Some("second-s…6789"),
            "each secret shows its own"
        );
        assert!(second.removable);
        assert_eq!(s[0].fields[1].value, "7");
        assert_eq!(s[1].fields[1].input, "checkbox");
        assert_eq!(s[1].fields[2].input, "textarea");

        // A post that was not saved: its values come back, with the connector's messages.
        let mut flash = Flash::new(super::super::flash::Tone::Error, "Not saved");
        flash.submitted = Some([("days".to_string(), "0".to_string())].into());
        flash
            .field_errors
            .insert("days".into(), "At least 1.".into());
        let s = sections(&info, &stored, &saved, Some(&flash));
        assert_eq!(s[0].fields[1].value, "0");
        assert_eq!(s[0].fields[1].error.as_deref(), Some("At least 1."));
        assert_eq!(s[0].fields[0].value, "");

        // No sections at all: one untitled group.
        let mut plain = info.clone();
        plain.sections.clear();
        let s = sections(&plain, &stored, &BTreeMap::new(), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].fields.len(), 6);
        assert_eq!(s[0].fields[0].placeholder, "", "no saved value, no hint");
    }
}
