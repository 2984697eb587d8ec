//! `GET /`: Integrations, the list of connections and the form that adds one.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::serve::list::build_list;
use crate::serve::render::{self, no_randomness};
use crate::serve::security::plain;
use crate::serve::Shared;

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    /// The result of an add to show (see `routes::see_result`).
    r: Option<String>,
}

pub(crate) async fn list(State(app): State<Shared>, Query(q): Query<ListQuery>) -> Response {
    let flash = q.r.as_deref().and_then(|r| app.list_flashes.get(r));
    let nonce = match render::nonce() {
        Ok(n) => n,
        Err(e) => return no_randomness(&e),
    };
    let view = match build_list(&app, flash, nonce.clone()).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("cannot build the list of connections: {e:#}");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The list could not be built (the store is unreadable); see the server's log.",
            );
        }
    };
    render::page(&app.templates, "list.html", &view, &nonce)
}
