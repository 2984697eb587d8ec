//! `GET /`: the settings page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::serve::render::{self, no_randomness};
use crate::serve::security::plain;
use crate::serve::usage::Sort;
use crate::serve::views::build_page;
use crate::serve::Shared;

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    /// The result of a post to show (see `routes::see_result`).
    r: Option<String>,
    /// The order of the per-person table.
    sort: Option<String>,
}

pub(crate) async fn page(State(app): State<Shared>, Query(q): Query<PageQuery>) -> Response {
    let flash = q.r.as_deref().and_then(|id| app.flashes.get(id));
    let nonce = match render::nonce() {
        Ok(n) => n,
        Err(e) => return no_randomness(&e),
    };
    let sort = Sort::parse(q.sort.as_deref());
    let view = match build_page(&app, flash, sort, nonce.clone()).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("cannot build the page: {e:#}");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be built (the store is unreadable); see the server's log.",
            );
        }
    };
    match app.templates.render("page.html", &view) {
        Ok(html) => render::html(html, &nonce),
        Err(e) => {
            tracing::error!("template error: {e:#}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
        }
    }
}
