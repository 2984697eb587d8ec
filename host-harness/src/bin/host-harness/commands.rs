//! The commands that are a few lines each; the longer ones have files of their own.

use serde_json::{json, Value};

use host_harness::bindings::v0_2::types as wit;
use host_harness::report::codex_usage;
use host_harness::report::people::{people, Period};
use host_harness::runner::{HostError, SyncOptions};
use host_harness::store::{NewConnection, SecretKey, Store, DEFAULT_CONNECTION};

use crate::args::ComponentArgs;

use crate::args::{Command, ConfigureArgs, ConnectionsCommand, SecretsCommand, ServeArgs};
use crate::{output, setup};

pub async fn run(command: Command) -> Result<(), HostError> {
    match command {
        Command::Describe { component, out } => {
            describe(&setup::harness(&component).await?, out.json)
        }
        Command::Configure(args) => configure(args).await,
        Command::Validate {
            store,
            connection,
            component,
            out,
        } => {
            let store = setup::existing_store(&store).await?;
            let harness = setup::harness_for(&component, &store, &connection.id).await?;
            let report = harness.validate(&store, &connection.id).await?;
            if out.json {
                println!("{}", output::report_json(&harness, &report));
            } else {
                output::print_credential_report(&harness, &report);
            }
            if report.ok {
                return Ok(());
            }
            let worst = report
                .capabilities
                .iter()
                .find_map(|c| c.problem)
                .map(host_harness::runner::class_name)
                .unwrap_or("internal");
            Err(HostError::new(
                worst,
                "the saved credentials cannot read everything this connector needs (see above)",
            ))
        }
        Command::Sync {
            store,
            connection,
            component,
            streams,
            full_refresh,
            out,
        } => {
            let store = setup::store(&store).await?;
            let harness = setup::harness_for(&component, &store, &connection.id).await?;
            let (progress, shown) = output::progress(out.json);
            let opts = SyncOptions {
                streams: (!streams.is_empty()).then_some(streams),
                full_refresh,
                progress,
                ..SyncOptions::new("cli")
            };
            let result = harness.sync(&store, &connection.id, opts).await;
            let _ = shown.await;
            let run = result?;
            if out.json {
                println!("{}", json!({ "ok": true, "run": run }));
            } else {
                output::print_history(&[run]);
            }
            Ok(())
        }
        Command::History {
            store,
            connection,
            limit,
            out,
        } => {
            let store = setup::existing_store(&store).await?;
            // Runs whose host stopped without closing them show as interrupted.
            store.reap().await?;
            let runs = match existing_connection(&store, &connection.id).await? {
                Some(id) => store.runs(&id, limit as usize).await?,
                None => Vec::new(),
            };
            if out.json {
                println!(
                    "{}",
                    serde_json::to_string(&runs).map_err(anyhow::Error::from)?
                );
            } else {
                output::print_history(&runs);
            }
            Ok(())
        }
        Command::Export {
            store,
            connection,
            stream,
            people,
            period,
            format,
            out,
        } => match (stream, people) {
            (_, true) => {
                crate::export::people(&store, &connection.id, period.into(), format, out).await
            }
            (Some(stream), false) => {
                crate::export::run(&store, &connection.id, &stream, format, out).await
            }
            (None, false) => Err(HostError::new("usage", "give --stream STREAM or --people")),
        },
        Command::Report {
            store,
            connection,
            by,
            period,
            out,
            csv,
            min_group,
            chart,
            since,
            until,
        } => {
            let aligned = crate::aligned::Request::check(
                by, period, out.json, csv, min_group, chart, since, until,
            )?;
            let store = setup::existing_store(&store).await?;
            let id = crate::export::imported(&store, &connection.id).await?;
            if let Some(request) = aligned {
                return crate::aligned::run(&store, &id, request).await;
            }
            let period = match period {
                Some(crate::args::ReportCut::Day) => Period::Day,
                Some(crate::args::ReportCut::Week) => Period::Week,
                _ => Period::All,
            };
            let report = people(&store, &id, period).await?;
            if out.json {
                println!("{}", output::people_json(&report));
            } else {
                let api = codex_usage(&store, &id).await?;
                output::print_people(&report, &api);
            }
            Ok(())
        }
        Command::Delivery(c) => crate::delivery::run(c).await,
        Command::People(c) => crate::delivery::people(c).await,
        Command::Connections(c) => connections(c).await,
        Command::Secrets(SecretsCommand::Rotate {
            store,
            new_key_file,
            new_key_env,
        }) => rotate(&store, new_key_file, new_key_env).await,
        Command::MockOpenai(args) => crate::mock::run(args).await,
        Command::Demo {
            users,
            days,
            keep,
            component,
        } => crate::demo::run(users, days, keep, &component).await,
        Command::Serve(args) => serve(args).await,
        Command::Worker(args) => crate::worker::run(args).await,
        Command::Bench(opts) => crate::bench::run(opts).await,
    }
}

/// `id` when the store has that connection; `None` for the default connection not created
/// yet (nothing happened in this store); an error for another id.
pub async fn existing_connection(store: &Store, id: &str) -> Result<Option<String>, HostError> {
    if store.connection(id).await?.is_some() {
        return Ok(Some(id.to_string()));
    }
    if id == DEFAULT_CONNECTION {
        return Ok(None);
    }
    Err(HostError::new(
        "usage",
        format!("there is no connection {id} in this store"),
    )
    .with_hint("`host-harness connections list` shows them."))
}

async fn connections(c: ConnectionsCommand) -> Result<(), HostError> {
    match c {
        ConnectionsCommand::Add {
            id,
            name,
            component,
            every,
            store,
        } => {
            let store = setup::store(&store).await?;
            if store.connection(&id).await?.is_some() {
                return Err(
                    HostError::new("usage", format!("there is already a connection {id}"))
                        .with_hint("Pick another id, or `connections remove` it first."),
                );
            }
            // Loaded once, so that a component that does not load is refused now.
            let harness = setup::harness(&ComponentArgs {
                component: component.clone(),
                ..ComponentArgs::default()
            })
            .await?;
            let path = component.unwrap_or_else(host_harness::default_component_path);
            let path = std::path::absolute(&path).unwrap_or(path);
            let c = store
                .add_connection(&NewConnection {
                    id: id.clone(),
                    name: name.unwrap_or_else(|| harness.info().name.clone()),
                    component: path.display().to_string(),
                    connector: Some(harness.id().to_string()),
                })
                .await?;
            if let Some(every) = every {
                let jitter = host_harness::scheduler::ScheduleConfig::default().jitter;
                store.set_schedule(&c.id, every, jitter, None).await?;
            }
            println!(
                "Added the connection {} ({}, the {} connector). Next: host-harness configure --connection {}",
                c.id,
                c.name,
                harness.id(),
                c.id
            );
            if let Some(every) = every {
                println!(
                    "It imports every {} (±10%), the first time as soon as it is configured and a worker runs it.",
                    host_harness::scheduler::format_duration(every)
                );
            }
            Ok(())
        }
        ConnectionsCommand::List { store, out } => {
            let store = setup::existing_store(&store).await?;
            store.reap().await?;
            let mut rows = Vec::new();
            for c in store.connections().await? {
                let last = store.runs(&c.id, 1).await?.into_iter().next();
                let configured = store.is_configured(&c.id).await?;
                let schedule = store.schedule(&c.id).await?;
                rows.push((c, configured, last, schedule));
            }
            if out.json {
                let list: Vec<Value> = rows
                    .iter()
                    .map(|(c, configured, last, schedule)| {
                        json!({
                            "id": c.id, "name": c.name, "component": c.component, "connector": c.connector,
                            "created_at": c.created_at, "configured": configured,
                            "last_run": last.as_ref().map(|r| json!({"id": r.id, "status": r.status, "started_at": r.started_at})),
                            "schedule": schedule.as_ref().map(|s| json!({
                                "every": host_harness::scheduler::format_duration(s.every), "jitter": s.jitter,
                                "next_due": chrono::DateTime::from_timestamp_millis(s.next_due_ms)
                                    .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                            })),
                        })
                    })
                    .collect();
                println!("{}", json!({ "connections": list }));
            } else if rows.is_empty() {
                println!("No connections yet. `host-harness connections add ID` adds one; `configure` creates the default one.");
            } else {
                println!(
                    "{:<24} {:<28} {:<14} {:<12} last run",
                    "id", "name", "connector", "configured"
                );
                for (c, configured, last, _) in &rows {
                    println!(
                        "{:<24} {:<28} {:<14} {:<12} {}",
                        c.id,
                        c.name,
                        c.connector.as_deref().unwrap_or("?"),
                        if *configured { "yes" } else { "no" },
                        last.as_ref()
                            .map(|r| format!("{} {} ({})", r.id, r.status, r.started_at))
                            .unwrap_or_else(|| "none".into())
                    );
                }
            }
            Ok(())
        }
        ConnectionsCommand::Remove { id, store } => {
            let store = setup::existing_store(&store).await?;
            store.reap().await?;
            match store.remove_connection(&id).await? {
                Ok(true) => {
                    println!("Removed the connection {id} and all its data.");
                    Ok(())
                }
                Ok(false) => Err(HostError::new("usage", format!("there is no connection {id} in this store"))
                    .with_hint("`host-harness connections list` shows them.")),
                Err(busy) => Err(HostError::new(
                    "busy",
                    format!("run {} of the connection {id} is in progress; nothing was removed", busy.run_id),
                )
                .with_hint("Wait for the run to finish (or stop the host running it), then remove the connection.")),
            }
        }
    }
}

async fn rotate(
    store: &crate::args::StoreArgs,
    new_key_file: Option<std::path::PathBuf>,
    new_key_env: Option<String>,
) -> Result<(), HostError> {
    let s = setup::existing_store(store).await?;
    let auto = store.secret_key_file.is_none() && store.secret_key_env.is_none() && !s.is_shared();
    let new = match (&new_key_file, &new_key_env) {
        (Some(f), _) => SecretKey::from_file(f),
        (None, Some(v)) => SecretKey::from_env(v),
        (None, None) if auto => SecretKey::generate(),
        (None, None) => {
            return Err(HostError::new(
                "usage",
                "give the new key: --new-key-file FILE or --new-key-env VAR",
            )
            .with_hint(
                "A key is 64 hex characters: head -c 32 /dev/urandom | xxd -p -c 64 > new.key",
            ))
        }
    }
    .map_err(|e| HostError::new("usage", format!("{e:#}")))?;
    let old = s.key_id();
    let n = s.rotate_secrets(&new).await?;
    println!(
        "Re-encrypted {n} secret(s) under the key {} (was {}).",
        new.id(),
        old.as_deref().unwrap_or("none")
    );
    if auto {
        if let Some(p) = s.path() {
            println!(
                "The store's key file {} now holds the new key.",
                host_harness::store::crypto::auto_key_path(p).display()
            );
        }
    } else {
        println!("From now on pass the new key (--secret-key-file / --secret-key-env); the old one no longer opens these secrets.");
    }
    Ok(())
}

fn kind_name(k: wit::SettingKind) -> &'static str {
    match k {
        wit::SettingKind::Text => "text",
        wit::SettingKind::Secret => "secret",
        wit::SettingKind::Number => "number",
        wit::SettingKind::Choice => "choice",
        wit::SettingKind::List => "list",
        wit::SettingKind::Boolean => "boolean",
    }
}

fn mode_name(m: wit::SyncMode) -> &'static str {
    match m {
        wit::SyncMode::FullRefresh => "full-refresh",
        wit::SyncMode::Incremental => "incremental",
    }
}

fn origin_text(o: &wit::Origin) -> String {
    if o.port == 443 && o.scheme == "https" {
        format!("{}://{}", o.scheme, o.host)
    } else {
        format!("{}://{}:{}", o.scheme, o.host, o.port)
    }
}

fn describe(harness: &host_harness::runner::Harness, as_json: bool) -> Result<(), HostError> {
    let info = harness.info();
    let (imports, exports) = harness.sandbox().interface();
    if as_json {
        println!(
            "{}",
            json!({
                "id": info.id, "name": info.name, "version": info.version, "description": info.description,
                "contract": harness.sandbox().contract_version(),
                "origins": info.origins.iter().map(origin_text).collect::<Vec<_>>(),
                "notes": info.notes,
                "sections": info.sections.iter().map(|s| json!({"id": s.id, "title": s.title, "help": s.help})).collect::<Vec<_>>(),
                "settings": info.settings.iter().map(|f| json!({
                    "key": f.key, "label": f.label, "kind": kind_name(f.kind), "required": f.required,
                    "help": f.help, "default": f.default_value, "choices": f.choices, "min": f.min, "max": f.max,
                    "max_length": f.max_length, "section": f.section,
                    "secret_use": f.secret_use.as_ref().map(|u| json!({
                        "origins": u.origins.iter().map(origin_text).collect::<Vec<_>>(), "header": u.header,
                    })),
                })).collect::<Vec<_>>(),
                "capabilities": info.capabilities.iter().map(|c| json!({"name": c.name, "label": c.label, "description": c.description})).collect::<Vec<_>>(),
                "streams": info.streams.iter().map(|s| json!({
                    "name": s.name, "description": s.description, "primary_key": s.primary_key,
                    "mode": mode_name(s.mode), "schema_version": s.schema_version,
                    "json_schema": serde_json::from_str::<Value>(&s.json_schema).unwrap_or(Value::Null),
                })).collect::<Vec<_>>(),
                "component": { "imports": imports, "exports": exports },
            })
        );
        return Ok(());
    }
    println!(
        "{} {} ({}), contract {}",
        info.name,
        info.version,
        info.id,
        harness.sandbox().contract_version()
    );
    println!("{}\n", info.description);
    println!("Component exports:");
    for e in &exports {
        println!("  {e}");
    }
    println!("Component imports ({}):", imports.len());
    for i in &imports {
        println!("  {i}");
    }
    println!(
        "\nOrigins the connector may call (the sandbox's allow-list): {}",
        info.origins
            .iter()
            .map(origin_text)
            .collect::<Vec<_>>()
            .join(", ")
    );
    let sections: Vec<Option<&wit::Section>> = if info.sections.is_empty() {
        vec![None]
    } else {
        info.sections.iter().map(Some).collect()
    };
    println!("\nSettings:");
    for section in sections {
        if let Some(s) = section {
            println!("  [{}] {}", s.title, s.help);
        }
        for f in info
            .settings
            .iter()
            .filter(|f| section.is_none_or(|s| s.id == f.section))
        {
            println!(
                "  {:<24} {:<8} {}{}{}",
                f.key,
                kind_name(f.kind),
                f.label,
                if f.required { " (required)" } else { "" },
                f.default_value
                    .as_ref()
                    .map(|d| format!(" [default {d}]"))
                    .unwrap_or_default()
            );
            println!("  {:<33} {}", "", f.help);
            if let Some(u) = &f.secret_use {
                println!(
                    "  {:<33} sent only to {} (header {})",
                    "",
                    u.origins
                        .iter()
                        .map(origin_text)
                        .collect::<Vec<_>>()
                        .join(", "),
                    u.header
                );
            }
        }
    }
    println!("\nCapabilities checked by `validate`:");
    for c in &info.capabilities {
        println!("  {:<34} {}", c.label, c.description);
    }
    println!("\nStreams:");
    for s in &info.streams {
        println!(
            "  {:<22} {:<13} key ({})  {}",
            s.name,
            mode_name(s.mode),
            s.primary_key.join(", "),
            s.description
        );
    }
    for n in &info.notes {
        println!("\nNote: {n}");
    }
    Ok(())
}

async fn configure(args: ConfigureArgs) -> Result<(), HostError> {
    let secrets = setup::secrets(
        args.token_stdin,
        args.token_env.as_deref(),
        &args.secret_env,
    )?;
    let values = setup::settings(&args.settings)?;
    let store = setup::store(&args.store).await?;
    let id = &args.connection.id;
    let harness = setup::harness_for(&args.component, &store, id).await?;
    harness.connection(&store, id).await?;
    // Secrets not given keep their saved values.
    let mut merged = store.secrets(id).await?;
    merged.extend(secrets);
    if args.no_validate {
        let saved = harness.configure(&store, id, &values, merged).await?;
        if args.out.json {
            println!(
                "{}",
                json!({ "ok": true, "saved": saved, "validated": false })
            );
        } else {
            print_saved(&saved);
            println!("Not checked with the provider (--no-validate); run `host-harness validate` when online.");
        }
        return Ok(());
    }
    let (saved, report) = harness
        .configure_validated(&store, id, &values, merged)
        .await?;
    if args.out.json {
        println!(
            "{}",
            json!({ "ok": saved.is_some(), "saved": saved, "validated": true, "report": output::report_json(&harness, &report) })
        );
    } else {
        output::print_credential_report(&harness, &report);
        if let Some(saved) = &saved {
            print_saved(saved);
        }
    }
    match saved {
        Some(_) => Ok(()),
        None => {
            let worst = report
                .capabilities
                .iter()
                .find_map(|c| c.problem)
                .map(host_harness::runner::class_name)
                .unwrap_or("internal");
            Err(HostError::new(
                worst,
                "the provider did not accept these settings (see above); nothing was saved and the previous settings stay",
            ))
        }
    }
}

fn print_saved(saved: &host_harness::runner::Saved) {
    let secrets: Vec<String> = saved
        .secrets
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("Saved. {}", secrets.join(", "));
    for n in &saved.notes {
        println!("note: {n}");
    }
}

async fn serve(args: ServeArgs) -> Result<(), HostError> {
    crate::serve::run(args).await
}
