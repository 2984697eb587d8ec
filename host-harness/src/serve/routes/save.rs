//! `POST /connections/{id}/settings`: Save. The settings are checked by the connector, then checked live,
//! and stored only when every check passes — in one transaction
//! ([`crate::runner::Harness::configure_validated`]). Nothing is saved first and put back
//! later: a rejected attempt never touches the store, so a scheduled run sees either the
//! old settings or the new ones.
//!
//! A rejected attempt is shown as that attempt's result ("the new API Token was not saved:
//! …"); the connection status on the page stays the saved configuration's.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Form;

use super::{advice, see_result};
use crate::bindings::v0_2::types as wit;
use crate::runner::{Harness, HostError};
use crate::serve::connection::fingerprint;
use crate::serve::flash::{Flash, Tone};
use crate::serve::form::{self, Posted};
use crate::serve::security::bad_csrf;
use crate::serve::target::Target;
use crate::serve::views::{check_view, credentials};
use crate::serve::{App, Shared};

pub(crate) async fn save(
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
        save_and_check(&app, &target, &harness, &form).await
    };
    see_result(&target.state.flashes, &target.base(), flash)
}

/// The label of field `key`, from `describe`.
fn label(info: &wit::ConnectorInfo, key: &str) -> String {
    info.settings
        .iter()
        .find(|f| f.key == key)
        .map_or_else(|| key.to_string(), |f| f.label.clone())
}

/// `A`, `A and B`, `A, B and C`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

async fn save_and_check(
    app: &App,
    target: &Target,
    harness: &Harness,
    form: &[(String, String)],
) -> Flash {
    let info = harness.info();
    let (store, id) = (&app.store, target.id());
    let (saved_secrets, configured) = match (store.secrets(id).await, store.is_configured(id).await)
    {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) | (_, Err(e)) => {
            return Flash::new(Tone::Error, "Not saved: the store cannot be read")
                .line(format!("{e:#}"))
        }
    };
    let posted = form::parse(info, form, &saved_secrets);
    let unchanged = if configured {
        "The saved settings are unchanged and still in use; the connection status above is theirs."
    } else {
        "Nothing was saved."
    };
    let result = harness
        .configure_validated(store, id, &posted.values, posted.secrets.clone())
        .await;
    match result {
        Ok((Some(saved), report)) => {
            // What is stored now is what was just checked: its status is the connection's.
            let check = check_view(harness, &report, credentials(info, &posted.secrets));
            match (store.settings(id).await, store.secrets(id).await) {
                (Ok(settings), Ok(secrets)) => target
                    .state
                    .connection
                    .record(fingerprint(&settings, &secrets), check),
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!("cannot read back the saved settings: {e:#}")
                }
            }
            saved_flash(info, &posted, &saved)
        }
        Ok((None, report)) => {
            let what = if posted.new_secrets.is_empty() {
                "These settings were".to_string()
            } else {
                let labels: Vec<String> =
                    posted.new_secrets.iter().map(|k| label(info, k)).collect();
                format!(
                    "The new {} {}",
                    and_list(&labels),
                    if labels.len() == 1 { "was" } else { "were" }
                )
            };
            let denied: Vec<String> = report
                .capabilities
                .iter()
                .filter(|c| c.status == wit::CheckStatus::Denied)
                .map(|c| harness.capability_label(&c.name))
                .collect();
            let why = if denied.is_empty() {
                "the live check failed".to_string()
            } else {
                format!("the live check denied {}", and_list(&denied))
            };
            let mut f = Flash::new(Tone::Error, format!("{what} not saved: {why}")).line(unchanged);
            f.attempt = Some(check_view(
                harness,
                &report,
                credentials(info, &posted.secrets),
            ));
            f.submitted = Some(posted.submitted);
            f
        }
        Err(e) => error_flash(info, e, unchanged, posted.submitted),
    }
}

fn saved_flash(info: &wit::ConnectorInfo, posted: &Posted, saved: &crate::runner::Saved) -> Flash {
    let mut f = Flash::new(Tone::Ok, "Saved and connected")
        .line("Every capability passed the live check before anything was stored.");
    for key in &posted.new_secrets {
        if let Some(r) = saved.secrets.get(key) {
            f.lines.push(format!("{}: saved as {r}.", label(info, key)));
        }
    }
    for key in &posted.kept_secrets {
        if let Some(r) = saved.secrets.get(key) {
            f.lines
                .push(format!("{}: kept the saved value {r}.", label(info, key)));
        }
    }
    for key in &posted.cleared_secrets {
        f.lines.push(format!(
            "{}: the saved value was removed.",
            label(info, key)
        ));
    }
    // The connector's notes on this configuration (its description's notes are on the page).
    f.notes = saved
        .notes
        .iter()
        .filter(|n| !info.notes.contains(n))
        .cloned()
        .collect();
    f
}

/// A save that failed before or during the live check: nothing was stored.
fn error_flash(
    info: &wit::ConnectorInfo,
    e: HostError,
    unchanged: &str,
    submitted: BTreeMap<String, String>,
) -> Flash {
    let mut f = if e.class == "invalid-settings" {
        // One "key: message" line per problem (see `runner::connector_error`).
        let mut f = Flash::new(Tone::Error, "Not saved: correct the fields marked below");
        for line in e.message.lines() {
            match line.split_once(": ") {
                Some((key, msg)) if info.settings.iter().any(|s| s.key == key) => {
                    f.field_errors
                        .entry(key.to_string())
                        .and_modify(|m| {
                            m.push(' ');
                            m.push_str(msg);
                        })
                        .or_insert_with(|| msg.to_string());
                }
                _ => f.lines.push(line.to_string()),
            }
        }
        if !f.field_errors.is_empty() {
            let named: Vec<String> = info
                .settings
                .iter()
                .filter(|s| f.field_errors.contains_key(&s.key))
                .map(|s| s.label.clone())
                .collect();
            f.lines
                .push(format!("See the message under {}.", and_list(&named)));
        }
        f
    } else {
        Flash::new(Tone::Error, format!("Not saved: {}", e.class)).line(e.message.clone())
    };
    f.lines.push(unchanged.to_string());
    f.advice = advice(&e);
    f.submitted = Some(submitted);
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serve::form::tests::info;

    #[test]
    fn field_problems_land_on_their_fields() {
        let info = info();
        let e = HostError::new(
            "invalid-settings",
            "first_key: This is the wrong kind of key. Create the right one under Keys.\ndays: At least 1.\nsomething else is off",
        );
        let f = error_flash(&info, e, "Nothing was saved.", BTreeMap::new());
        assert_eq!(
            f.field_errors["first_key"],
            "This is the wrong kind of key. Create the right one under Keys."
        );
        assert_eq!(f.field_errors["days"], "At least 1.");
        assert_eq!(
            f.lines,
            [
                "something else is off",
                "See the message under Label of first_key and Label of days.",
                "Nothing was saved."
            ]
        );
        assert_eq!(f.advice, None, "the connector's message says what to do");

        let f = error_flash(
            &info,
            HostError::new("transient", "The provider answered 503."),
            "x",
            BTreeMap::new(),
        );
        assert_eq!(f.title, "Not saved: transient");
        assert_eq!(f.lines[0], "The provider answered 503.");
        assert!(f.advice.is_some());
    }

    #[test]
    fn lists_read_as_words() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(and_list(&s(&[])), "");
        assert_eq!(and_list(&s(&["A"])), "A");
        assert_eq!(and_list(&s(&["A", "B"])), "A and B");
        assert_eq!(and_list(&s(&["A", "B", "C"])), "A, B and C");
    }
}
