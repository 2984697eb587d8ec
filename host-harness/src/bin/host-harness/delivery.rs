//! `delivery add-repo|list|remove` (the git repositories of a connection) and `people
//! alias|unalias|team|list` (who is who), each on one connection (`--connection`, the
//! default one created when first needed, as `configure` does).

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::json;

use host_harness::delivery::import::{add_repository, AddError};
use host_harness::delivery::Options;
use host_harness::human::thousands;
use host_harness::report::who;
use host_harness::runner::HostError;
use host_harness::store::{NewConnection, Store, DEFAULT_CONNECTION};

use crate::args::{DeliveryCommand, PeopleCommand, StoreArgs};
use crate::setup;

/// The store and the connection a command that writes works on: the default connection is
/// created when missing (with this workspace's component, its connector recorded when it
/// first runs); another must exist.
async fn writable(store: &StoreArgs, id: &str) -> Result<Store, HostError> {
    let store = setup::store(store).await?;
    if store.connection(id).await?.is_none() {
        if id != DEFAULT_CONNECTION {
            return Err(HostError::new(
                "usage",
                format!("there is no connection {id} in this store"),
            )
            .with_hint(format!("Add it first: host-harness connections add {id}")));
        }
        store
            .ensure_connection(&NewConnection {
                id: id.to_string(),
                name: "OpenAI Codex".to_string(),
                component: host_harness::default_component_path().display().to_string(),
                connector: None,
            })
            .await?;
    }
    Ok(store)
}

pub async fn run(command: DeliveryCommand) -> Result<(), HostError> {
    match command {
        DeliveryCommand::AddRepo {
            path,
            store,
            connection,
            out,
        } => {
            // The repository is checked before the store is opened or created: a refused
            // path leaves everything as it was.
            if let Err(e) = host_harness::delivery::Source::open(&path, Options::default()) {
                return Err(refused(e));
            }
            let store = writable(&store, &connection.id).await?;
            let added = add_repository(&store, &connection.id, &path, Options::default())
                .await
                .map_err(|e| match e {
                    AddError::Refused(e) => refused(e),
                    AddError::Store(e) => HostError::from(e),
                })?;
            if out.json {
                println!("{}", json!({ "ok": true, "repository": added }));
            } else if added.registered_now {
                println!(
                    "Registered {} with the connection {}: {} commits imported from {} refs. Each sync imports its new commits.",
                    added.path,
                    connection.id,
                    thousands(added.new_commits as u64),
                    added.refs
                );
            } else {
                println!(
                    "{} was registered already; {} new commits imported.",
                    added.path,
                    thousands(added.new_commits as u64)
                );
            }
            Ok(())
        }
        DeliveryCommand::List {
            store,
            connection,
            out,
        } => {
            let store = setup::existing_store(&store).await?;
            let repositories =
                match crate::commands::existing_connection(&store, &connection.id).await? {
                    Some(id) => store.repositories(&id).await?,
                    None => Vec::new(),
                };
            if out.json {
                println!("{}", json!({ "repositories": repositories }));
            } else if repositories.is_empty() {
                println!(
                    "No repositories yet: `host-harness delivery add-repo PATH` registers one."
                );
            } else {
                println!(
                    "{:<48} {:>9}  {:<20}  {:<20}  last import",
                    "repository", "commits", "added (UTC)", "last import (UTC)"
                );
                for r in &repositories {
                    let day = |t: &str| t.get(..19).unwrap_or(t).replace('T', " ");
                    println!(
                        "{:<48} {:>9}  {:<20}  {:<20}  {}",
                        r.path,
                        thousands(r.commits),
                        day(&r.added_at),
                        r.last_import_at
                            .as_deref()
                            .map(day)
                            .unwrap_or_else(|| "-".into()),
                        match &r.last_error {
                            Some(e) => format!("FAILED: {e}"),
                            None => format!("ok, {} new commits", thousands(r.last_new_commits)),
                        }
                    );
                }
            }
            Ok(())
        }
        DeliveryCommand::Remove {
            path,
            store,
            connection,
        } => {
            let store = setup::existing_store(&store).await?;
            let id = crate::export::imported(&store, &connection.id).await?;
            let key = registered_key(&store, &id, &path).await?;
            store.remove_repository(&id, &key).await?;
            println!(
                "Unregistered {key} and forgot its commits (the repository itself is untouched)."
            );
            Ok(())
        }
    }
}

/// The key `path` is registered under: as given, or made absolute with links resolved (as
/// `add-repo` registers it).
async fn registered_key(store: &Store, connection: &str, path: &Path) -> Result<String, HostError> {
    let registered = store.repositories(connection).await?;
    let candidates = [
        Some(path.display().to_string()),
        std::fs::canonicalize(path)
            .ok()
            .map(|p| p.display().to_string()),
        std::path::absolute(path)
            .ok()
            .map(|p| p.display().to_string()),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|c| registered.iter().any(|r| &r.path == c))
        .ok_or_else(|| {
            HostError::new(
                "usage",
                format!(
                    "{} is not a registered repository of the connection {connection}",
                    path.display()
                ),
            )
            .with_hint("`host-harness delivery list` shows them.")
        })
}

/// A repository refused: a usage error with the reason (nothing was stored).
fn refused(e: host_harness::delivery::DeliveryError) -> HostError {
    HostError::new("usage", format!("{e}; nothing was stored"))
}

/// An email as given on the command line, checked ([`who::email`], as the page does).
fn email(arg: &str) -> Result<String, HostError> {
    who::email(arg).map_err(|e| HostError::new("usage", e))
}

pub async fn people(command: PeopleCommand) -> Result<(), HostError> {
    match command {
        PeopleCommand::Alias {
            alias,
            email: target,
            store,
            connection,
        } => {
            // Checked as the page checks it ([`who::alias`]): refused before it is stored.
            who::alias(&BTreeMap::new(), &alias, &target)
                .map_err(|e| HostError::new("usage", e))?;
            let store = writable(&store, &connection.id).await?;
            let table = store.aliases(&connection.id).await?;
            let (alias, target) =
                who::alias(&table, &alias, &target).map_err(|e| HostError::new("usage", e))?;
            store.set_alias(&connection.id, &alias, &target).await?;
            println!("{alias} now counts as {target} in the report beside delivery.");
            Ok(())
        }
        PeopleCommand::Unalias {
            alias,
            store,
            connection,
        } => {
            let store = setup::existing_store(&store).await?;
            let id = crate::export::imported(&store, &connection.id).await?;
            let alias = email(&alias)?;
            if store.remove_alias(&id, &alias).await? {
                println!("{alias} is no longer an alias.");
                Ok(())
            } else {
                Err(HostError::new("usage", format!("{alias} is not an alias")))
            }
        }
        PeopleCommand::Team {
            name,
            emails,
            store,
            connection,
        } => {
            let (name, members) =
                who::team(&name, &emails).map_err(|e| HostError::new("usage", e))?;
            let store = writable(&store, &connection.id).await?;
            store.set_team(&connection.id, &name, &members).await?;
            let members = store
                .teams(&connection.id)
                .await?
                .remove(&name)
                .unwrap_or_default();
            println!(
                "Team {name}: {} people ({}).",
                members.len(),
                members.join(", ")
            );
            Ok(())
        }
        PeopleCommand::List {
            store,
            connection,
            out,
        } => {
            let store = setup::existing_store(&store).await?;
            let (aliases, teams) =
                match crate::commands::existing_connection(&store, &connection.id).await? {
                    Some(id) => (store.aliases(&id).await?, store.teams(&id).await?),
                    None => (BTreeMap::new(), BTreeMap::new()),
                };
            if out.json {
                println!("{}", json!({ "aliases": aliases, "teams": teams }));
                return Ok(());
            }
            println!("Aliases ({}):", aliases.len());
            for (a, e) in &aliases {
                println!("  {a} → {e}");
            }
            println!("Teams ({}):", teams.len());
            for (t, members) in &teams {
                println!("  {t} ({}): {}", members.len(), members.join(", "));
            }
            Ok(())
        }
    }
}
