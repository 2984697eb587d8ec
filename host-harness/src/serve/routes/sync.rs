//! `POST /connections/{id}/sync`: Sync now, through the scheduler (one run at a time).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;

use super::see_result;
use crate::scheduler::TriggerError;
use crate::serve::flash::{Flash, Tone};
use crate::serve::security::bad_csrf;
use crate::serve::target::Target;
use crate::serve::views::when;
use crate::serve::Shared;

pub(crate) async fn sync_now(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !app.security.csrf_ok(&form) {
        return bad_csrf();
    }
    let target = match Target::find(&app, &id).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let flash = match app.scheduler.trigger(target.id(), "ui").await {
        Ok(_) => Flash::new(Tone::Ok, "Import started")
            .line("Its progress shows under Import history; the page refreshes when it ends."),
        Err(TriggerError::Busy(since)) => Flash::new(Tone::Warn, "An import is already running")
            .line(format!(
            "It started {}; its progress shows under Import history. One import of a connection runs at a time.",
            when(&since)
        )),
        Err(TriggerError::NotConfigured) => Flash::new(Tone::Error, "Nothing is saved yet").line(
            "Fill in the settings and press Save; imports run once the settings pass the check.",
        ),
        Err(TriggerError::Stopping) => Flash::new(Tone::Error, "The server is stopping"),
        Err(TriggerError::Failed(why)) => Flash::new(Tone::Error, "The import could not start").line(why),
    };
    see_result(&target.state.flashes, &target.base(), flash)
}
