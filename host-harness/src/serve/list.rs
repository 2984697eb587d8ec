//! The Integrations list (`GET /`): every connection of the store — its name, id, whether
//! anything is saved for it, its last run and when the next one is due — each linking to
//! its own page, and the form that adds one.
//!
//! Read from the store, not from this process's scheduler alone, so that runs of other
//! host processes sharing the store show too; the scheduler adds only what the store cannot
//! know (a run of this process going right now).

use std::collections::BTreeMap;

use serde::Serialize;

use super::flash::Flash;
use super::views::{trigger_text, when};
use super::App;

#[derive(Serialize)]
pub(crate) struct ListView {
    pub csrf: String,
    pub nonce: String,
    pub store: String,
    /// The connector a connection added here runs (the server's component).
    pub connector_name: String,
    pub connector_version: String,
    pub flash: Option<Flash>,
    pub rows: Vec<RowView>,
    /// The add form's values, refilled after a refused add.
    pub add_id: String,
    pub add_name: String,
    /// Field (`id`, `name`) → why the add was refused.
    pub add_errors: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub(crate) struct RowView {
    pub id: String,
    pub name: String,
    /// The connector id its data belongs to, once known.
    pub connector: Option<String>,
    pub configured: bool,
    /// `running`, `configured` or `not-configured`.
    pub state: &'static str,
    pub state_text: &'static str,
    pub last: Option<LastRunView>,
    pub next_at: Option<String>,
}

#[derive(Serialize)]
pub(crate) struct LastRunView {
    pub status: String,
    pub when: String,
    pub trigger: String,
}

/// `ms` (Unix milliseconds) as the page writes times.
fn at_ms(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// Every connection, by id.
pub(crate) async fn build_list(
    app: &App,
    flash: Option<Flash>,
    nonce: String,
) -> anyhow::Result<ListView> {
    let store = &app.store;
    let mut rows = Vec::new();
    for c in store.connections().await? {
        let configured = store.is_configured(&c.id).await?;
        let last = store.runs(&c.id, 1).await?.into_iter().next();
        let running = app.scheduler.status(&c.id).running.is_some()
            || last.as_ref().is_some_and(|r| r.status == "running");
        let (state, state_text) = match (running, configured) {
            (true, _) => ("running", "Importing now"),
            (false, true) => ("configured", "Configured"),
            (false, false) => ("not-configured", "Not configured"),
        };
        // Unconfigured connections are never claimed: their schedule waits for a Save.
        let next_at = if configured {
            store
                .schedule(&c.id)
                .await?
                .and_then(|s| at_ms(s.next_due_ms))
        } else {
            None
        };
        rows.push(RowView {
            connector: c.connector.clone(),
            configured,
            state,
            state_text,
            last: last.map(|r| LastRunView {
                when: when(r.finished_at.as_deref().unwrap_or(&r.started_at)),
                trigger: trigger_text(&r.trigger),
                status: r.status,
            }),
            next_at,
            id: c.id,
            name: c.name,
        });
    }
    let submitted = flash
        .as_ref()
        .and_then(|f| f.submitted.clone())
        .unwrap_or_default();
    let info = app.harness.info();
    Ok(ListView {
        csrf: app.security.csrf().to_string(),
        nonce,
        store: store.location().display(),
        connector_name: info.name.clone(),
        connector_version: info.version.clone(),
        add_id: submitted.get("id").cloned().unwrap_or_default(),
        add_name: submitted.get("name").cloned().unwrap_or_default(),
        add_errors: flash
            .as_ref()
            .map(|f| f.field_errors.clone())
            .unwrap_or_default(),
        flash,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_renders_every_connection_escaped_and_the_add_form() {
        let row = |id: &str, name: &str, configured: bool| RowView {
            id: id.into(),
            name: name.into(),
            connector: Some("some-connector".into()),
            configured,
            state: if configured {
                "configured"
            } else {
                "not-configured"
            },
            state_text: if configured {
                "Configured"
            } else {
                "Not configured"
            },
            last: configured.then(|| LastRunView {
                status: "succeeded".into(),
                when: "2026-12-01 10:00:00 UTC".into(),
                trigger: "Sync now".into(),
            }),
            next_at: configured.then(|| "2026-12-01 11:00:00 UTC".into()),
        };
        let mut flash = Flash::new(super::super::flash::Tone::Error, "Not added");
        flash
            .field_errors
            .insert("id".into(), "\"Bad Id\" is not a connection id".into());
        let view = ListView {
            csrf: "c".repeat(64),
            nonce: "n".repeat(32),
            store: "/tmp/x.db".into(),
            connector_name: "Some <Source>".into(),
            connector_version: "1.0.0".into(),
            flash: Some(flash),
            rows: vec![
                row("default", "Some <Source>", true),
                row("acme", "Acme <b>Corp</b>", false),
            ],
            add_id: "Bad Id".into(),
            add_name: "<i>x</i>".into(),
            add_errors: [(
                "id".to_string(),
                "\"Bad Id\" is not a connection id".to_string(),
            )]
            .into(),
        };
        let html = super::super::render::Templates::new()
            .unwrap()
            .render("list.html", &view)
            .unwrap();
        assert!(html.contains("<title>Integrations</title>"), "{html}");
        assert!(html.contains("href=\"/connections/default\""));
        assert!(html.contains("href=\"/connections/acme\""));
        assert!(html.contains("Acme &lt;b&gt;Corp&lt;&#x2f;b&gt;") && !html.contains("<b>Corp"));
        assert!(html.contains("data-connection=\"acme\" data-state=\"not-configured\""));
        assert!(html.contains("data-connection=\"default\" data-state=\"configured\""));
        assert!(
            html.contains("2026-12-01 11:00:00 UTC"),
            "the next due time"
        );
        assert!(html.contains("action=\"/connections\""));
        assert!(
            html.contains("value=\"Bad Id\""),
            "the refused id comes back to be corrected"
        );
        assert!(html.contains("is not a connection id"));
        assert!(!html.contains("<i>x</i>"));
        assert_eq!(html.matches("name=\"csrf\" value=\"cccc").count(), 1);
        assert_eq!(
            html.matches("<script").count(),
            0,
            "the list needs no script"
        );
    }
}
