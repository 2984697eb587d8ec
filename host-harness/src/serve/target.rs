//! The connection a `/connections/{id}/…` request is about: found in the store (else the
//! "no such connection" page, 404), with its own page state, and — for the requests that
//! run the connector — the harness of its own component.
//!
//! The harness comes from the scheduler's [`crate::scheduler::Harnesses`], the same one
//! its runs use: a connection added with another component (`connections add …
//! --component`) is shown and checked with that component's form and checks, never with
//! the server's.

use std::path::Path;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;

use super::notice::{no_such_connection, notice};
use super::per_connection::PageState;
use super::security::plain;
use super::App;
use crate::runner::Harness;
use crate::store::{check_connection_id, Connection};

/// A connection of the store and its page state.
pub(crate) struct Target {
    pub conn: Connection,
    pub state: Arc<PageState>,
}

impl Target {
    /// The connection `id`, or the response that says why there is none.
    pub async fn find(app: &App, id: &str) -> Result<Target, Response> {
        // Not an id at all: nothing to look up (and nothing kept for it).
        if check_connection_id(id).is_err() {
            return Err(no_such_connection(app, id));
        }
        match app.store.connection(id).await {
            Ok(Some(conn)) => Ok(Target {
                state: app.pages.of(&conn.id),
                conn,
            }),
            Ok(None) => Err(no_such_connection(app, id)),
            Err(e) => {
                tracing::error!(connection = %id, "cannot read the connection: {e:#}");
                Err(plain(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "The store could not be read; see the server's log.",
                ))
            }
        }
    }

    pub fn id(&self) -> &str {
        &self.conn.id
    }

    /// Where this connection's page is: `/connections/{id}` (an id is only lowercase
    /// letters, digits, `-` and `_`, so it needs no escaping in a path).
    pub fn base(&self) -> String {
        base(self.id())
    }

    /// The harness of this connection's component, loaded on first use, and agreeing with
    /// the connector the connection's data belongs to.
    pub async fn harness(&self, app: &App) -> Result<Arc<Harness>, Response> {
        let loaded = app
            .scheduler
            .harnesses()
            .get(Path::new(&self.conn.component))
            .await;
        let harness = match loaded {
            Ok(h) => h,
            Err(e) => return Err(self.unusable(app, &e)),
        };
        match harness.connection(&app.store, self.id()).await {
            Ok(_) => Ok(harness),
            Err(e) => Err(self.unusable(app, &e)),
        }
    }

    fn unusable(&self, app: &App, e: &crate::runner::HostError) -> Response {
        tracing::error!(connection = %self.id(), "the connection's component cannot be used: {}", e.message);
        let mut lines = vec![e.message.clone()];
        lines.extend(e.hint.clone());
        notice(
            app,
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{} cannot be shown", self.conn.name),
            &lines,
        )
    }
}

/// `/connections/{id}`.
pub(crate) fn base(id: &str) -> String {
    format!("/connections/{id}")
}
