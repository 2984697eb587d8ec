//! `GET /connections/{id}/status`: the scheduler's state of one connection, for its page's
//! progress poll.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::serve::target::Target;
use crate::serve::views::{live_text, trigger_text, when};
use crate::serve::Shared;

pub(crate) async fn status(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    let target = match Target::find(&app, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let s = app.scheduler.status(target.id());
    let body = serde_json::json!({
        "running": s.running.as_ref().map(|l| serde_json::json!({
            "trigger": l.trigger,
            "trigger_text": trigger_text(&l.trigger),
            "started_at": l.started_at,
            "text": live_text(l),
        })),
        "finished": s.finished,
        "next_at": s.next_at.as_deref().map(when),
        "last": s.last.as_ref().map(|l| serde_json::json!({
            "status": l.status, "run_id": l.run_id, "trigger": l.trigger,
        })),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}
