//! The commands that are a few lines each; the longer ones have files of their own.

use serde_json::{json, Value};

use host_harness::bindings::v0_2::types as wit;
use host_harness::report::codex_usage;
use host_harness::report::people::people;
use host_harness::runner::{HostError, SyncOptions};

use crate::args::{Command, ConfigureArgs, ServeArgs};
use crate::{output, setup};

pub async fn run(command: Command) -> Result<(), HostError> {
    match command {
        Command::Describe { component, out } => describe(&setup::harness(&component).await?, out.json),
        Command::Configure(args) => configure(args).await,
        Command::Validate {
            store,
            component,
            out,
        } => {
            let harness = setup::harness(&component).await?;
            let store = setup::existing_store(&store)?;
            let report = harness.validate(&store).await?;
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
            component,
            streams,
            full_refresh,
            out,
        } => {
            let harness = setup::harness(&component).await?;
            let mut store = setup::store(&store)?;
            let (progress, shown) = output::progress(out.json);
            let opts = SyncOptions {
                streams: (!streams.is_empty()).then_some(streams),
                full_refresh,
                progress,
                ..SyncOptions::new("cli")
            };
            let result = harness.sync(&mut store, opts).await;
            let _ = shown.await;
            let run = result?;
            if out.json {
                println!("{}", json!({ "ok": true, "run": run }));
            } else {
                output::print_history(&[run]);
            }
            Ok(())
        }
        Command::History { store, limit, out } => {
            let store = setup::existing_store(&store)?;
            store.mark_interrupted_runs()?;
            // The history of every connector in the store, newest first.
            let mut runs = Vec::new();
            for connector in connectors(&store)? {
                runs.extend(store.runs(&connector, limit as usize)?);
            }
            runs.sort_by(|a, b| b.id.cmp(&a.id));
            runs.truncate(limit as usize);
            if out.json {
                println!("{}", serde_json::to_string(&runs).map_err(anyhow::Error::from)?);
            } else {
                output::print_history(&runs);
            }
            Ok(())
        }
        Command::Export {
            store,
            stream,
            people,
            period,
            format,
            out,
        } => match (stream, people) {
            (_, true) => crate::export::people(&store, period.into(), format, out),
            (Some(stream), false) => crate::export::run(&store, &stream, format, out),
            (None, false) => Err(HostError::new("usage", "give --stream STREAM or --people")),
        },
        Command::Report { store, period, out } => {
            let store = setup::existing_store(&store)?;
            let connector = crate::export::only_connector(&store)?;
            let report = people(&store, &connector, period.into())?;
            if out.json {
                println!("{}", output::people_json(&report));
            } else {
                let api = codex_usage(&store, &connector)?;
                output::print_people(&report, &api);
            }
            Ok(())
        }
        Command::MockOpenai(args) => crate::mock::run(args).await,
        Command::Demo {
            users,
            days,
            keep,
            component,
        } => crate::demo::run(users, days, keep, &component).await,
        Command::Serve(args) => serve(args).await,
        Command::Bench(opts) => crate::bench::run(opts).await,
    }
}

/// The connector ids that have anything in the store.
pub fn connectors(store: &host_harness::store::Store) -> Result<Vec<String>, HostError> {
    let mut stmt = store
        .conn()
        .prepare("SELECT connector FROM runs UNION SELECT connector FROM settings UNION SELECT connector FROM secrets UNION SELECT connector FROM records")
        .map_err(anyhow::Error::from)?;
    let ids = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(anyhow::Error::from)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::from)?;
    Ok(ids)
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
    println!("{} {} ({}), contract {}", info.name, info.version, info.id, harness.sandbox().contract_version());
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
        info.origins.iter().map(origin_text).collect::<Vec<_>>().join(", ")
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
                    u.origins.iter().map(origin_text).collect::<Vec<_>>().join(", "),
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
    let secrets = setup::secrets(args.token_stdin, args.token_env.as_deref(), &args.secret_env)?;
    let values = setup::settings(&args.settings)?;
    let harness = setup::harness(&args.component).await?;
    let mut store = setup::store(&args.store)?;
    // Secrets not given keep their saved values.
    let mut merged = store.secrets(harness.id())?;
    merged.extend(secrets);
    if args.no_validate {
        let saved = harness.configure(&mut store, &values, merged).await?;
        if args.out.json {
            println!("{}", json!({ "ok": true, "saved": saved, "validated": false }));
        } else {
            print_saved(&saved);
            println!("Not checked with the provider (--no-validate); run `host-harness validate` when online.");
        }
        return Ok(());
    }
    let (saved, report) = harness.configure_validated(&mut store, &values, merged).await?;
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
    let secrets: Vec<String> = saved.secrets.iter().map(|(k, v)| format!("{k} {v}")).collect();
    println!("Saved. {}", secrets.join(", "));
    for n in &saved.notes {
        println!("note: {n}");
    }
}

async fn serve(args: ServeArgs) -> Result<(), HostError> {
    crate::serve::run(args).await
}
