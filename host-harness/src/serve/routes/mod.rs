//! The routes, one file each: the list of connections (`GET /`), Add (`POST /connections`),
//! a connection's page (`GET /connections/{id}`), its Save (`POST …/settings`), Check
//! connection (`POST …/check`), Sync now (`POST …/sync`) and the progress poll
//! (`GET …/status`); the Delivery section's posts (`POST …/repositories`, `…/aliases`,
//! `…/teams`, see [`delivery`]).
//!
//! A post answers with a redirect to the page at its result banner (`PAGE?r=ID#result`), so
//! the browser lands on the result, not past it, and a reload does not post again.

pub(crate) mod add;
pub(crate) mod check;
pub(crate) mod delivery;
pub(crate) mod list;
pub(crate) mod page;
pub(crate) mod save;
pub(crate) mod status;
pub(crate) mod sync;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::flash::{Flash, Flashes};
use super::render::no_randomness;
use super::security::plain;
use crate::runner::HostError;

pub(crate) async fn not_found() -> Response {
    plain(StatusCode::NOT_FOUND, "Not found.")
}

/// Keep `flash` among `flashes` (the list's, or one connection's) and send the browser to
/// it on `page` (`/` or `/connections/{id}`).
pub(crate) fn see_result(flashes: &Flashes, page: &str, flash: Flash) -> Response {
    match flashes.put(flash) {
        Ok(id) => Redirect::to(&format!("{page}?r={id}#result")).into_response(),
        Err(e) => no_randomness(&e),
    }
}

/// What to do about an error of a save or a check, when the message does not say it. The
/// connector's own errors say what to do in their message; the host adds only generic
/// advice for the failures that are its own or a network's.
pub(crate) fn advice(e: &HostError) -> Option<String> {
    if let Some(h) = &e.hint {
        return Some(h.clone());
    }
    let text = match e.class.as_str() {
        "rate-limited" | "transient" | "network" => "Try again in a moment.",
        "sandbox" => {
            "The connector component misbehaved and was stopped; the server's log has the details."
        }
        "not-configured" => "Fill in the settings and press Save first.",
        _ => return None,
    };
    Some(text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connector_errors_speak_for_themselves() {
        for class in [
            "invalid-settings",
            "unauthorized",
            "forbidden",
            "provider-changed",
            "internal",
        ] {
            assert_eq!(
                advice(&HostError::new(class, "the connector says what to do")),
                None,
                "{class}"
            );
        }
        assert!(advice(&HostError::new("transient", "x")).is_some());
        assert_eq!(
            advice(&HostError::new("forbidden", "x").with_hint("do this")).as_deref(),
            Some("do this")
        );
    }
}
