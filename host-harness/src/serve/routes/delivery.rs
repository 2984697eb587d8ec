//! The Delivery section's posts, each on one connection, each answered with a redirect to
//! the page's result banner (as Save and Sync now are):
//!
//! - `POST /connections/{id}/repositories` (`path`): register a local git repository and
//!   read all of it ([`crate::delivery::import::add_repository`]); a path that is not a
//!   repository's top, a bare, shallow, partial or empty repository is refused with its
//!   reason, and nothing stored changes;
//! - `POST /connections/{id}/aliases` (`alias`, `email`): join two emails of one person;
//! - `POST /connections/{id}/teams` (`name`, `emails`: separated by commas, spaces or
//!   lines): make a team these people.
//!
//! Aliases and teams are checked by [`crate::report::who`], as the command line checks
//! them. The guard has checked the request's origin (and `Host`, and the password beyond
//! loopback); each handler checks the form's CSRF token first, then that the connection
//! exists, and runs under the connection's save lock (an alias is checked against the table
//! it is added to).

use std::path::Path;

use axum::extract::{Path as UrlPath, State};
use axum::response::Response;
use axum::Form;

use super::see_result;
use crate::delivery::import::{add_repository, AddError};
use crate::delivery::Options;
use crate::human::thousands;
use crate::report::who;
use crate::serve::flash::{Flash, Tone};
use crate::serve::security::bad_csrf;
use crate::serve::target::Target;
use crate::serve::Shared;

/// The value of field `key` (the first, if posted twice), or "".
fn field<'a>(form: &'a [(String, String)], key: &str) -> &'a str {
    form.iter()
        .find(|(k, _)| k == key)
        .map_or("", |(_, v)| v.as_str())
}

/// A store failure: logged, and a generic banner (nothing was written).
fn store_failed(target: &Target, what: &str, e: &anyhow::Error) -> Flash {
    tracing::error!(connection = %target.id(), "{what}: {e:#}");
    Flash::new(Tone::Error, "Not saved")
        .line("The store could not be written; see the server's log. Nothing was stored.")
}

/// The connection `id` after the CSRF check, or the response that ends the request.
async fn checked(app: &Shared, id: &str, form: &[(String, String)]) -> Result<Target, Response> {
    if !app.security.csrf_ok(form) {
        return Err(bad_csrf());
    }
    Target::find(app, id).await
}

pub(crate) async fn add_repo(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let target = match checked(&app, &id, &form).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let given = field(&form, "path").trim().to_string();
    let flash = if given.is_empty() || given.chars().any(char::is_control) {
        Flash::new(Tone::Error, "Repository not added")
            .line("Give the path of a local git repository (the top of a working clone).")
    } else if !Path::new(&given).is_absolute() {
        Flash::new(Tone::Error, "Repository not added").line(format!(
            "{given} is not an absolute path; give the full path of the working clone (it is read by the server, not the browser). Nothing was stored."
        ))
    } else {
        let _one = target.state.save_lock.lock().await;
        match add_repository(
            &app.store,
            target.id(),
            Path::new(&given),
            Options::default(),
        )
        .await
        {
            Ok(added) => Flash::new(
                Tone::Ok,
                if added.registered_now {
                    "Repository added"
                } else {
                    "Repository read again"
                },
            )
            .line(format!(
                "{}: {} new commits read from {} refs. Each import reads its new commits.",
                added.path,
                thousands(added.new_commits as u64),
                added.refs
            )),
            Err(AddError::Refused(e)) => Flash::new(Tone::Error, "Repository not added")
                .line(e.to_string())
                .line("Nothing was stored."),
            Err(AddError::Store(e)) => store_failed(&target, "cannot register the repository", &e),
        }
    };
    see_result(&target.state.flashes, &target.base(), flash)
}

pub(crate) async fn alias(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let target = match checked(&app, &id, &form).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let flash = {
        let _one = target.state.save_lock.lock().await;
        match app.store.aliases(target.id()).await {
            Err(e) => store_failed(&target, "cannot read the aliases", &e),
            Ok(table) => match who::alias(&table, field(&form, "alias"), field(&form, "email")) {
                Err(why) => Flash::new(Tone::Error, "Alias not added").line(why),
                Ok((alias, email)) => {
                    match app.store.set_alias(target.id(), &alias, &email).await {
                        Ok(()) => Flash::new(Tone::Ok, "Alias added").line(format!(
                            "{alias} now counts as {email} in the report beside delivery."
                        )),
                        Err(e) => store_failed(&target, "cannot add the alias", &e),
                    }
                }
            },
        }
    };
    see_result(&target.state.flashes, &target.base(), flash)
}

pub(crate) async fn team(
    State(app): State<Shared>,
    UrlPath(id): UrlPath<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let target = match checked(&app, &id, &form).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let emails: Vec<String> = field(&form, "emails")
        .split(|c: char| c == ',' || c == ';' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let flash = match who::team(field(&form, "name"), &emails) {
        Err(why) => Flash::new(Tone::Error, "Team not saved").line(why),
        Ok((name, members)) => {
            let _one = target.state.save_lock.lock().await;
            match app.store.set_team(target.id(), &name, &members).await {
                Ok(()) => {
                    let n = app
                        .store
                        .teams(target.id())
                        .await
                        .ok()
                        .and_then(|mut t| t.remove(&name))
                        .map_or(members.len(), |m| m.len());
                    Flash::new(Tone::Ok, format!("Team {name} saved")).line(format!(
                        "{n} people. Teams of fewer than {} people are hidden in the report.",
                        crate::report::alignment::DEFAULT_MIN_GROUP
                    ))
                }
                Err(e) => store_failed(&target, "cannot save the team", &e),
            }
        }
    };
    see_result(&target.state.flashes, &target.base(), flash)
}
