//! `GET /connections/{id}`: a connection's settings page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use crate::serve::aligned::parse_period;
use crate::serve::render::{self, no_randomness};
use crate::serve::security::plain;
use crate::serve::target::Target;
use crate::serve::usage::Sort;
use crate::serve::views::{build_page, Wanted};
use crate::serve::Shared;

#[derive(Deserialize)]
pub(crate) struct PageQuery {
    /// The result of a post to show (see `routes::see_result`).
    r: Option<String>,
    /// The order of the per-person table.
    sort: Option<String>,
    /// The period of the report beside delivery: `week` (default) or `month`.
    period: Option<String>,
    /// `1`: every row of the per-person × period table.
    all: Option<String>,
}

pub(crate) async fn page(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let target = match Target::find(&app, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let harness = match target.harness(&app).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    // Only this connection's results: another connection's result id finds nothing here.
    let flash = q.r.as_deref().and_then(|r| target.state.flashes.get(r));
    let nonce = match render::nonce() {
        Ok(n) => n,
        Err(e) => return no_randomness(&e),
    };
    let sort = Sort::parse(q.sort.as_deref());
    let report = Wanted {
        period: parse_period(q.period.as_deref()),
        all: q.all.as_deref() == Some("1"),
    };
    let view = match build_page(&app, &target, &harness, flash, sort, report, nonce.clone()).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(connection = %target.id(), "cannot build the page: {e:#}");
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be built (the store is unreadable); see the server's log.",
            );
        }
    };
    render::page(&app.templates, "page.html", &view, &nonce)
}
