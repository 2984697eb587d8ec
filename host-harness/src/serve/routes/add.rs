//! `POST /connections`: add a connection — an id and a display name — that runs the
//! server's component. An add that is refused (not an id, an id in use, a name that cannot
//! be shown) stores nothing and says why on the list, next to the field, with what was
//! typed filled back in. An add that succeeds lands on the new connection's page, whose
//! form is the next step.

use axum::extract::State;
use axum::response::Response;
use axum::Form;

use super::see_result;
use crate::scheduler::format_duration;
use crate::serve::flash::{Flash, Tone};
use crate::serve::security::bad_csrf;
use crate::serve::target::base;
use crate::serve::{App, Shared};
use crate::store::{check_connection_id, NewConnection};

/// The longest display name, in characters.
const NAME_MAX: usize = 200;

pub(crate) async fn add(
    State(app): State<Shared>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    if !app.security.csrf_ok(&form) {
        return bad_csrf();
    }
    let field = |key: &str| {
        form.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let (id, name) = (field("id"), field("name"));
    match add_connection(&app, &id, &name).await {
        Ok(flash) => see_result(&app.pages.of(&id).flashes, &base(&id), flash),
        Err(flash) => see_result(&app.list_flashes, "/", flash),
    }
}

/// Why `name` cannot be a display name.
fn check_name(name: &str) -> Result<(), String> {
    if name.chars().count() > NAME_MAX {
        return Err(format!("At most {NAME_MAX} characters."));
    }
    if name.chars().any(char::is_control) {
        return Err("Line breaks and control characters cannot be shown in a name.".into());
    }
    Ok(())
}

/// Add `id` named `name` (the id when empty): the banner for its page, or the refusal for
/// the list.
async fn add_connection(app: &App, id: &str, name: &str) -> Result<Flash, Flash> {
    let refused = |field: &str, why: String| {
        let mut f = Flash::new(Tone::Error, "Not added: correct the field marked below")
            .line("Nothing was stored.");
        f.field_errors.insert(field.to_string(), why);
        f.submitted = Some(
            [
                ("id".to_string(), id.to_string()),
                ("name".to_string(), name.to_string()),
            ]
            .into(),
        );
        f
    };
    if let Err(why) = check_connection_id(id) {
        return Err(refused("id", format!("{why}.")));
    }
    if let Err(why) = check_name(name) {
        return Err(refused("name", why));
    }
    match app.store.connection(id).await {
        Ok(Some(c)) => {
            return Err(refused(
                "id",
                format!(
                    "There is already a connection {id} ({}): open it from the list, or choose another id.",
                    c.name
                ),
            ))
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!("cannot read the connections: {e:#}");
            return Err(refused("id", "The store could not be read; nothing was added. See the server's log.".into()));
        }
    }
    let name = if name.is_empty() { id } else { name };
    let harness = &app.harness;
    let new = NewConnection {
        id: id.to_string(),
        name: name.to_string(),
        component: harness.config().component.display().to_string(),
        connector: Some(harness.id().to_string()),
    };
    if let Err(e) = app.store.add_connection(&new).await {
        // An add of the same id that won the race, or a store that failed.
        tracing::warn!(connection = %id, "not added: {e:#}");
        return Err(refused("id", format!("Not added: {e}.")));
    }
    tracing::info!(connection = %id, "connection added from the page");
    // Its schedule now, so the list shows when it runs once saved (the pool would give it
    // the same one when it next looks at the store's connections).
    let schedule = app.scheduler.config().schedule.clone();
    if let Err(e) = app.scheduler.keep_interval(id, &schedule).await {
        tracing::warn!(connection = %id, "no schedule yet (the pool gives it one later): {e:#}");
    }
    Ok(Flash::new(Tone::Ok, format!("Added {name}"))
        .line("Fill in its settings and press Save: they are checked live, and stored only when every check passes.")
        .line(format!(
            "Once saved, it imports every {} on its own schedule; Sync now imports at once.",
            format_duration(schedule.every)
        )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_single_lines() {
        assert!(check_name("Acme Corp — EU").is_ok());
        assert!(check_name("").is_ok(), "empty: the id is used");
        assert!(check_name(&"x".repeat(NAME_MAX)).is_ok());
        assert!(check_name(&"x".repeat(NAME_MAX + 1)).is_err());
        assert!(check_name("two\nlines").is_err());
        assert!(check_name("bell\u{7}").is_err());
    }
}
