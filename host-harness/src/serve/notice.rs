//! A page that says one thing — there is no such connection, or a connection's component
//! cannot be loaded — with the way back to the list. An HTML page under the same CSP and
//! headers as the others (not a bare text line), so an admin who followed a stale link is
//! not stranded.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::render::{self, no_randomness};
use super::security::plain;
use super::App;

#[derive(Serialize)]
struct NoticeView<'a> {
    nonce: String,
    store: String,
    title: &'a str,
    lines: &'a [String],
}

/// A notice page with `status`.
pub(crate) fn notice(app: &App, status: StatusCode, title: &str, lines: &[String]) -> Response {
    let nonce = match render::nonce() {
        Ok(n) => n,
        Err(e) => return no_randomness(&e),
    };
    let view = NoticeView {
        nonce: nonce.clone(),
        store: app.store.location().display(),
        title,
        lines,
    };
    match app.templates.render("notice.html", &view) {
        Ok(html) => {
            let mut r = render::html(html, &nonce);
            *r.status_mut() = status;
            r
        }
        Err(e) => {
            tracing::error!("template error: {e:#}");
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
        }
    }
}

/// The answer for a connection id the store does not hold (or that is no id at all).
pub(crate) fn no_such_connection(app: &App, id: &str) -> Response {
    // The id is shown escaped by the template; a long made-up one is cut short.
    let shown: String = id.chars().take(64).collect();
    notice(
        app,
        StatusCode::NOT_FOUND,
        "No such connection",
        &[format!(
            "There is no connection \u{201c}{shown}\u{201d}. The list of connections is under Integrations; a connection can be added there."
        )],
    )
}
