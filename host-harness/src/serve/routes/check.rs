//! `POST /connections/{id}/check`: check the connection's saved configuration live, and
//! show the result as its status (on its page only).

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;

use super::{advice, see_result};
use crate::bindings::v0_2::types as wit;
use crate::runner::Harness;
use crate::serve::connection::fingerprint;
use crate::serve::flash::{Flash, Tone};
use crate::serve::security::bad_csrf;
use crate::serve::target::Target;
use crate::serve::views::{check_view, credentials};
use crate::serve::{App, Shared};

pub(crate) async fn check(
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
    let harness = match target.harness(&app).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let flash = {
        let _one = target.state.save_lock.lock().await;
        check_saved(&app, &target, &harness).await
    };
    see_result(&target.state.flashes, &target.base(), flash)
}

async fn check_saved(app: &App, target: &Target, harness: &Harness) -> Flash {
    let (store, id) = (&app.store, target.id());
    let (settings, secrets) = match (store.settings(id).await, store.secrets(id).await) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            return Flash::new(Tone::Error, "The store cannot be read").line(format!("{e:#}"))
        }
    };
    let fp = fingerprint(&settings, &secrets);
    match harness.validate(store, id).await {
        Ok(report) => {
            let view = check_view(harness, &report, credentials(harness.info(), &secrets));
            target.state.connection.record(fp, view);
            if report.ok {
                Flash::new(
                    Tone::Ok,
                    "Connected: the saved settings passed the live check",
                )
            } else {
                let denied: Vec<String> = report
                    .capabilities
                    .iter()
                    .filter(|c| c.status == wit::CheckStatus::Denied)
                    .map(|c| harness.capability_label(&c.name))
                    .collect();
                Flash::new(
                    Tone::Error,
                    "The saved settings no longer pass the live check",
                )
                .line(format!(
                    "Denied: {}. The connection status below says why, in the connector's words.",
                    denied.join(", ")
                ))
            }
        }
        Err(e) => {
            let mut f = Flash::new(
                Tone::Error,
                format!("The check could not finish: {}", e.class),
            )
            .line(e.message.clone());
            f.advice = advice(&e);
            f
        }
    }
}
