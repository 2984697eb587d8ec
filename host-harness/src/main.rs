//! `host-harness`: plays the analytics platform for connector components.

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::{json, Value};

use host_harness::redact::redacted_form;
use host_harness::report::{codex_usage, UsageReport};
use host_harness::runner::{Harness, HarnessConfig, HostError, Progress};
use host_harness::sandbox::{wit, Base};
use host_harness::store::{Run, Store};
use openai_mock::{MockConfig, MockServer};

#[derive(Parser)]
#[command(
    name = "host-harness",
    version,
    about = "Runs connector components the way the analytics platform does: sandboxed, with a store, a history and an OpenAI mock."
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Global {
    /// The store (SQLite file; created with mode 0600).
    #[arg(long, global = true, default_value = "codex-connector.db")]
    db: PathBuf,
    /// The connector component (.wasm). Default: this workspace's release build.
    #[arg(long, global = true)]
    component: Option<PathBuf>,
    /// Send the component's api.openai.com requests here instead (plain http only for loopback).
    #[arg(long, global = true, value_name = "URL")]
    openai_base: Option<String>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    /// Log more (repeat for more detail). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
}

#[derive(Subcommand)]
enum Command {
    /// Print the connector's description and the interface its component imports and exports.
    Describe,
    /// Check and save settings. The token is read from stdin or an environment variable, never argv.
    Configure(ConfigureArgs),
    /// Check the stored credential live, per capability.
    Validate,
    /// Import all streams (or the named ones) into the store.
    Sync {
        /// Only this stream (repeatable).
        #[arg(long = "stream")]
        streams: Vec<String>,
        /// Ignore the stored checkpoints: re-read every stream from scratch (usage over the
        /// whole backfill window, the directory even if it was refreshed recently).
        #[arg(long)]
        full_refresh: bool,
    },
    /// Show the import history, newest first.
    History {
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Write a stream's records.
    Export {
        #[arg(long)]
        stream: String,
        #[arg(long, value_enum, default_value_t = Format::Ndjson)]
        format: Format,
        /// Output file (default: stdout).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Codex usage per person and model for the imported window.
    Report,
    /// Run the OpenAI Admin API mock until interrupted.
    MockOpenai(MockArgs),
    /// Start the mock, configure an admin key, validate, sync, and show the results.
    Demo {
        #[arg(long, default_value_t = 40)]
        users: usize,
        #[arg(long, default_value_t = 90)]
        days: u32,
    },
    /// Measure size, load, instantiate, normalize, a full backfill against the mock, its
    /// requests and the incremental pull; print one table with the targets.
    Bench(host_harness::bench::BenchOpts),
    /// Serve the settings page (Integrations → OpenAI Codex Settings) and run scheduled imports.
    Serve(ServeArgs),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on. Loopback by default; any other address needs --admin-password-env.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Interval between scheduled imports (e.g. 30s, 15m, 1h, 1h30m), with ±10% jitter.
    #[arg(long, default_value = "1h", value_parser = host_harness::scheduler::parse_duration)]
    every: std::time::Duration,
    /// Read the admin password (HTTP Basic, any user name) from this environment variable.
    #[arg(long, value_name = "VAR")]
    admin_password_env: Option<String>,
    /// Also run the OpenAI Admin API mock (demo data) on loopback and send the connector
    /// there; the keys it accepts are written to a file (mode 0600) beside the store.
    #[arg(long)]
    demo: bool,
}

#[derive(Args)]
struct ConfigureArgs {
    /// Read the API token from standard input.
    #[arg(long, conflicts_with = "token_env")]
    token_stdin: bool,
    /// Read the API token from this environment variable.
    #[arg(long, value_name = "VAR")]
    token_env: Option<String>,
    /// Another setting, e.g. --set backfill_days=90 (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    settings: Vec<String>,
}

#[derive(Args)]
struct MockArgs {
    #[arg(long, default_value = "127.0.0.1:8787")]
    listen: std::net::SocketAddr,
    #[arg(long, default_value_t = 40)]
    users: usize,
    #[arg(long, default_value_t = 90)]
    days: u32,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Take the admin key the mock accepts from this environment variable (default: a random one).
    #[arg(long, value_name = "VAR")]
    admin_key_env: Option<String>,
    /// Write the admin key the mock accepts to this file (mode 0600), for `configure --token-stdin`.
    #[arg(long, value_name = "FILE")]
    admin_key_file: Option<PathBuf>,
    /// Write the mock's ground truth (totals per day, user, key, project, model) here.
    #[arg(long, value_name = "FILE")]
    ground_truth: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Ndjson,
    Csv,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match cli.global.verbose {
        0 => "warn",
        1 => "info,host_harness=info",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let json = cli.global.json;
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    json!({ "ok": false, "error": { "class": e.class, "message": e.message, "advice": e.advice() } })
                );
            } else {
                eprintln!("error [{}]: {}", e.class, e.message);
                eprintln!("what to do: {}", e.advice());
            }
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

async fn run(cli: Cli) -> Result<(), HostError> {
    let g = cli.global;
    match cli.command {
        Command::Describe => describe(&g).await,
        Command::Configure(args) => configure(&g, args).await,
        Command::Validate => {
            let harness = harness(&g, None).await?;
            let store = open_store(&g)?;
            let report = harness.validate(&store).await?;
            print_report(&report, g.json);
            if report.ok {
                Ok(())
            } else {
                let worst = report
                    .capabilities
                    .iter()
                    .find(|c| !c.granted)
                    .map(|c| c.error_class.clone())
                    .unwrap_or_default();
                Err(HostError::new(
                    &worst,
                    "the API Token cannot read everything this connector needs (see above)",
                ))
            }
        }
        Command::Sync {
            streams,
            full_refresh,
        } => {
            let harness = harness(&g, None).await?;
            let mut store = open_store(&g)?;
            let run = sync(
                &harness,
                &mut store,
                if streams.is_empty() {
                    None
                } else {
                    Some(&streams)
                },
                full_refresh,
                "cli",
                g.json,
            )
            .await?;
            if g.json {
                println!("{}", json!({ "ok": true, "run": run }));
            } else {
                print_history(&[run]);
            }
            Ok(())
        }
        Command::History { limit } => {
            let store = open_store(&g)?;
            store.mark_interrupted_runs()?;
            let runs = store.runs(limit)?;
            if g.json {
                println!(
                    "{}",
                    serde_json::to_string(&runs).map_err(anyhow::Error::from)?
                );
            } else {
                print_history(&runs);
            }
            Ok(())
        }
        Command::Export {
            stream,
            format,
            out,
        } => export(&g, &stream, format, out),
        Command::Report => {
            let store = open_store(&g)?;
            let report = codex_usage(&store)?;
            print_usage(&report, g.json);
            Ok(())
        }
        Command::MockOpenai(args) => mock(args).await,
        Command::Demo { users, days } => demo(&g, users, days).await,
        Command::Serve(args) => serve(&g, args).await,
        Command::Bench(opts) => {
            let component = g
                .component
                .clone()
                .unwrap_or_else(host_harness::default_component_path);
            Ok(host_harness::bench::run(opts, &component).await?)
        }
    }
}

fn open_store(g: &Global) -> Result<Store, HostError> {
    Ok(Store::open(&g.db)?)
}

async fn harness(g: &Global, base_override: Option<String>) -> Result<Harness, HostError> {
    let component = g
        .component
        .clone()
        .unwrap_or_else(host_harness::default_component_path);
    if !component.exists() {
        return Err(HostError::new(
            "usage",
            format!(
                "no component at {}; build it with `cargo build --release --target wasm32-wasip2 -p codex-connector` or pass --component",
                component.display()
            ),
        ));
    }
    let mut config = HarnessConfig::new(component);
    if let Some(base) = base_override.or_else(|| g.openai_base.clone()) {
        config.openai_base =
            Some(Base::parse(&base).map_err(|e| HostError::new("usage", e.to_string()))?);
    }
    Harness::load(config).await.map_err(|e| {
        HostError::new(
            "sandbox",
            format!("the connector component could not be loaded: {e:#}"),
        )
    })
}

async fn describe(g: &Global) -> Result<(), HostError> {
    let harness = harness(g, None).await?;
    let info = harness.info();
    let (imports, exports) = harness.sandbox().interface();
    if g.json {
        println!(
            "{}",
            json!({
                "id": info.id, "name": info.name, "version": info.version, "description": info.description,
                "hosts": info.hosts, "notes": info.notes,
                "settings": info.settings.iter().map(|f| json!({
                    "key": f.key, "label": f.label, "kind": kind_name(f.kind), "required": f.required,
                    "help": f.help, "default": f.default_value, "choices": f.choices, "min": f.min, "max": f.max, "max_length": f.max_length,
                })).collect::<Vec<_>>(),
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
    println!("{} {} ({})", info.name, info.version, info.id);
    println!("{}\n", info.description);
    println!("Component exports:");
    for e in &exports {
        println!("  {e}");
    }
    println!("Component imports:");
    for i in &imports {
        println!("  {i}");
    }
    println!(
        "\nOutbound hosts (the sandbox allow-list): {}",
        info.hosts.join(", ")
    );
    println!("\nSettings:");
    for f in &info.settings {
        println!(
            "  {:<22} {:<8} {}{}{}",
            f.key,
            kind_name(f.kind),
            f.label,
            if f.required { " (required)" } else { "" },
            f.default_value
                .as_ref()
                .map(|d| format!(" [default {d}]"))
                .unwrap_or_default()
        );
        println!("  {:<31} {}", "", f.help);
    }
    println!("\nStreams:");
    for s in &info.streams {
        println!(
            "  {:<10} {:<13} key ({})  {}",
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

fn read_token(args: &ConfigureArgs) -> Result<String, HostError> {
    if let Some(var) = &args.token_env {
        return std::env::var(var).map_err(|_| {
            HostError::new("usage", format!("environment variable {var} is not set"))
        });
    }
    if args.token_stdin {
        let mut s = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut s)
            .map_err(|e| {
                HostError::new("usage", format!("cannot read the token from stdin: {e}"))
            })?;
        return Ok(s);
    }
    Err(HostError::new(
        "usage",
        "give the token with --token-stdin or --token-env VAR (never as an argument)",
    ))
}

async fn configure(g: &Global, args: ConfigureArgs) -> Result<(), HostError> {
    let token = read_token(&args)?;
    let mut raw = Vec::new();
    for s in &args.settings {
        let (k, v) = s
            .split_once('=')
            .ok_or_else(|| HostError::new("usage", format!("--set takes KEY=VALUE, got {s:?}")))?;
        raw.push((k.trim().to_string(), v.to_string()));
    }
    let harness = harness(g, None).await?;
    let mut store = open_store(g)?;
    let saved = harness.configure(&mut store, &raw, &token).await?;
    if g.json {
        println!("{}", json!({ "ok": true, "saved": saved }));
    } else {
        println!("Saved. API Token: {}", saved.token_redacted);
        for n in &saved.notes {
            println!("note: {n}");
        }
    }
    Ok(())
}

fn print_report(r: &wit::CredentialReport, as_json: bool) {
    if as_json {
        println!(
            "{}",
            json!({
                "ok": r.ok, "organization": r.organization, "notes": r.notes,
                "capabilities": r.capabilities.iter().map(|c| json!({
                    "name": c.name, "granted": c.granted, "error_class": c.error_class, "message": c.message
                })).collect::<Vec<_>>(),
            })
        );
        return;
    }
    println!(
        "Connection: {}{}",
        if r.ok {
            "connected"
        } else {
            "NOT fully connected"
        },
        r.organization
            .as_ref()
            .map(|o| format!(" (organization {o})"))
            .unwrap_or_default()
    );
    for c in &r.capabilities {
        let mark = if c.granted { "ok  " } else { "FAIL" };
        println!("  [{mark}] {:<15} {}", c.name, c.message);
    }
    for n in &r.notes {
        println!("  note: {n}");
    }
}

async fn sync(
    harness: &Harness,
    store: &mut Store,
    streams: Option<&[String]>,
    full_refresh: bool,
    trigger: &str,
    quiet: bool,
) -> Result<Run, HostError> {
    // On a terminal: a bar per stream; otherwise (logs, pipes) plain lines.
    let multi = (!quiet && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
    let mut bars: std::collections::BTreeMap<String, indicatif::ProgressBar> = Default::default();
    let running =
        indicatif::ProgressStyle::with_template("{spinner:.cyan} {prefix:<9} {msg} {elapsed:.dim}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let done = indicatif::ProgressStyle::with_template("{prefix:.green:<11} {msg}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner());
    let mut progress = |p: Progress| {
        if quiet {
            return;
        }
        if let Some(multi) = &multi {
            match p {
                Progress::StreamStarted { stream } => {
                    let bar = multi.add(
                        indicatif::ProgressBar::new_spinner()
                            .with_style(running.clone())
                            .with_prefix(stream.clone())
                            .with_message("starting"),
                    );
                    bar.enable_steady_tick(std::time::Duration::from_millis(100));
                    bars.insert(stream, bar);
                }
                Progress::PageCommitted { .. } | Progress::Waiting { .. } => {
                    if let Some(bar) = bars.get(p.stream()) {
                        bar.set_message(p.message());
                    }
                }
                Progress::StreamDone { ref stream, .. } => {
                    if let Some(bar) = bars.get(stream) {
                        bar.set_style(done.clone());
                        bar.set_prefix(format!("✓ {stream}"));
                        bar.finish_with_message(p.message());
                    }
                }
            }
            return;
        }
        eprintln!("{}: {}", p.stream(), p.message());
    };
    let result = harness
        .sync_with(store, streams, full_refresh, trigger, &mut progress)
        .await;
    for bar in bars.values() {
        if !bar.is_finished() {
            bar.abandon();
        }
    }
    result
}

fn print_history(runs: &[Run]) {
    println!(
        "{:>4}  {:<24} {:>8}  {:<11} {:>9} {:>8}  {:<45} error",
        "run", "started", "duration", "status", "added", "updated", "window"
    );
    for r in runs {
        let duration = match (
            &r.finished_at,
            chrono::DateTime::parse_from_rfc3339(&r.started_at),
        ) {
            (Some(f), Ok(s)) => chrono::DateTime::parse_from_rfc3339(f)
                .map(|f| format!("{:.1}s", (f - s).num_milliseconds() as f64 / 1000.0))
                .unwrap_or_default(),
            _ => "-".into(),
        };
        let window = match (&r.window_start, &r.window_end) {
            (Some(s), Some(e)) => format!("{s} → {e}"),
            _ => "-".into(),
        };
        let error = match (&r.error_class, &r.error_message) {
            (Some(c), Some(m)) => format!("{c}: {}", m.lines().next().unwrap_or("")),
            _ => String::new(),
        };
        println!(
            "{:>4}  {:<24} {:>8}  {:<11} {:>9} {:>8}  {:<45} {}",
            r.id,
            &r.started_at[..r.started_at.len().min(23)],
            duration,
            r.status,
            r.inserted(),
            r.updated(),
            window,
            error
        );
        let streams: Vec<String> = r
            .streams
            .iter()
            .map(|(s, c)| {
                format!(
                    "{s}: {}p/{}req +{} ~{}",
                    c.pages, c.requests, c.inserted, c.updated
                )
            })
            .collect();
        if !streams.is_empty() {
            println!("      {}", streams.join("  "));
        }
    }
}

fn print_usage(r: &UsageReport, as_json: bool) {
    if as_json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    println!(
        "Codex usage {} → {}",
        r.window_start.as_deref().unwrap_or("?"),
        r.window_end.as_deref().unwrap_or("?")
    );
    let mut people: Vec<_> = r.per_person.iter().collect();
    people.sort_by(|a, b| b.1.tokens().cmp(&a.1.tokens()).then(a.0.cmp(b.0)));
    println!(
        "{:<40} {:>9} {:>14} {:>14} {:>12}",
        "person", "requests", "input tok", "cached in", "output tok"
    );
    for (who, t) in &people {
        println!(
            "{:<40} {:>9} {:>14} {:>14} {:>12}",
            who, t.requests, t.input_tokens, t.cached_input_tokens, t.output_tokens
        );
    }
    println!("\nPer model:");
    for (model, t) in &r.per_model {
        println!(
            "{:<40} {:>9} {:>14} {:>14} {:>12}",
            model, t.requests, t.input_tokens, t.cached_input_tokens, t.output_tokens
        );
    }
    let share = if r.all_total.tokens() == 0 {
        0.0
    } else {
        r.codex_total.tokens() as f64 / r.all_total.tokens() as f64
    };
    println!(
        "\nCodex: {} requests, {} tokens ({:.1}% of all API tokens); {:.1}% attributed to a person.",
        r.codex_total.requests,
        r.codex_total.tokens(),
        share * 100.0,
        r.attributed_share * 100.0
    );
}

fn export(g: &Global, stream: &str, format: Format, out: Option<PathBuf>) -> Result<(), HostError> {
    let store = open_store(g)?;
    let records = store.records(stream)?;
    if records.is_empty() && !["usage", "users", "projects", "api_keys"].contains(&stream) {
        return Err(HostError::new(
            "usage",
            format!("no records for stream {stream:?}"),
        ));
    }
    let mut w: Box<dyn Write> = match &out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).map_err(
            |e| HostError::new("usage", format!("cannot write {}: {e}", p.display())),
        )?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let io = |e: std::io::Error| HostError::new("internal", format!("write failed: {e}"));
    match format {
        Format::Ndjson => {
            for r in &records {
                writeln!(w, "{}", r.payload).map_err(io)?;
            }
        }
        Format::Csv => {
            // Columns: the union of payload fields, in first-seen order.
            let mut columns: Vec<String> = Vec::new();
            let parsed: Vec<serde_json::Map<String, Value>> = records
                .iter()
                .filter_map(|r| serde_json::from_str(&r.payload).ok())
                .collect();
            for p in &parsed {
                for k in p.keys() {
                    if !columns.contains(k) {
                        columns.push(k.clone());
                    }
                }
            }
            writeln!(
                w,
                "{}",
                columns
                    .iter()
                    .map(|c| csv_field(c))
                    .collect::<Vec<_>>()
                    .join(",")
            )
            .map_err(io)?;
            for p in &parsed {
                let row: Vec<String> = columns
                    .iter()
                    .map(|c| match p.get(c) {
                        None | Some(Value::Null) => String::new(),
                        Some(Value::String(s)) => csv_field(s),
                        Some(v) => csv_field(&v.to_string()),
                    })
                    .collect();
                writeln!(w, "{}", row.join(",")).map_err(io)?;
            }
        }
    }
    w.flush().map_err(io)?;
    if let Some(p) = out {
        eprintln!(
            "wrote {} {stream} records to {}",
            records.len(),
            p.display()
        );
    }
    Ok(())
}

/// RFC 4180 quoting; cells that a spreadsheet would run as a formula are prefixed with '.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) && s.parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

async fn mock(args: MockArgs) -> Result<(), HostError> {
    let admin_key = match &args.admin_key_env {
        Some(var) => std::env::var(var).map_err(|_| {
            HostError::new("usage", format!("environment variable {var} is not set"))
        })?,
        None => host_harness::random_admin_key(),
    };
    let config = MockConfig {
        seed: args.seed,
        users: args.users,
        days: args.days,
        admin_key: admin_key.clone(),
        ..MockConfig::default()
    };
    if !args.listen.ip().is_loopback() {
        return Err(HostError::new(
            "usage",
            "the mock listens on loopback addresses only",
        ));
    }
    let server = MockServer::start_on(config, args.listen).await?;
    if let Some(path) = &args.admin_key_file {
        write_private(path, &admin_key)?;
    }
    if let Some(path) = &args.ground_truth {
        server.ground_truth().write_json(path)?;
    }
    println!(
        "OpenAI Admin API mock on {} ({})",
        server.base_url(),
        server.dataset_summary()
    );
    println!(
        "Admin key: {}{}",
        redacted_form(&admin_key),
        match &args.admin_key_file {
            Some(p) => format!(" (written to {})", p.display()),
            None => " (pass --admin-key-file to get it)".to_string(),
        }
    );
    println!(
        "Point the harness at it with --openai-base {}. Ctrl-C stops it.",
        server.base_url()
    );
    std::io::stdout().flush().ok();
    tokio::signal::ctrl_c().await.ok();
    server.shutdown().await;
    Ok(())
}

fn write_private(path: &std::path::Path, content: &str) -> Result<(), HostError> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts
        .open(path)
        .map_err(|e| HostError::new("usage", format!("cannot write {}: {e}", path.display())))?;
    f.write_all(content.as_bytes())
        .map_err(|e| HostError::new("usage", format!("cannot write {}: {e}", path.display())))
}

async fn serve(g: &Global, args: ServeArgs) -> Result<(), HostError> {
    let admin_password = match &args.admin_password_env {
        Some(var) => Some(std::env::var(var).map_err(|_| {
            HostError::new("usage", format!("environment variable {var} is not set"))
        })?),
        None => None,
    };
    let mut db = g.db.clone();
    let mut mock = None;
    if args.demo {
        // The mock's default admin key is fixed by its seed, so a demo store saved earlier
        // keeps working when the demo restarts on another port.
        let config = MockConfig::default();
        let project_key = config.admin_key.replacen("sk-admin-", "sk-proj-", 1);
        let config = MockConfig {
            project_key: Some(project_key.clone()),
            ..config
        };
        let admin_key = config.admin_key.clone();
        let server = MockServer::start(config).await?;
        if db == std::path::Path::new("codex-connector.db") {
            db = PathBuf::from("codex-connector-demo.db");
        }
        let keys = db.with_extension("keys.txt");
        write_private(
            &keys,
            &format!(
                "# Keys the demo mock accepts; paste one into API Token on the settings page.\nadmin:   {admin_key}\nproject: {project_key}   (a project key: refused, with what to do)\n"
            ),
        )?;
        println!(
            "Demo: OpenAI Admin API mock on {} ({})",
            server.base_url(),
            server.dataset_summary()
        );
        println!(
            "Demo keys ({} and {}) are in {}",
            redacted_form(&admin_key),
            redacted_form(&project_key),
            keys.display()
        );
        mock = Some(server);
    }
    let harness = harness(g, mock.as_ref().map(|m| m.base_url())).await?;
    let opts = host_harness::serve::ServeOptions {
        db,
        listen: args.listen,
        schedule: host_harness::scheduler::ScheduleConfig {
            every: args.every,
            ..Default::default()
        },
        admin_password,
    };
    let served = host_harness::serve::run(harness, opts)
        .await
        .map_err(|e| HostError::new("usage", format!("{e:#}")));
    if let Some(m) = mock {
        m.shutdown().await;
    }
    served
}

async fn demo(g: &Global, users: usize, days: u32) -> Result<(), HostError> {
    let admin_key = host_harness::random_admin_key();
    let server = MockServer::start(MockConfig {
        users,
        days,
        admin_key: admin_key.clone(),
        ..MockConfig::default()
    })
    .await?;
    let db = if g.db.as_path() == std::path::Path::new("codex-connector.db") {
        std::env::temp_dir().join(format!("codex-connector-demo-{}.db", std::process::id()))
    } else {
        g.db.clone()
    };
    let _ = std::fs::remove_file(&db);
    let interactive = std::io::stdout().is_terminal();
    let step = |s: &str| println!("\n== {s}");
    println!(
        "Demo: OpenAI Admin API mock on {} ({})",
        server.base_url(),
        server.dataset_summary()
    );
    println!("Store: {}", db.display());

    let harness = harness(g, Some(server.base_url())).await?;
    let mut store = Store::open(&db)?;

    step("configure (admin key from memory, never printed)");
    let saved = harness
        .configure(
            &mut store,
            &[("backfill_days".into(), days.to_string())],
            &admin_key,
        )
        .await?;
    println!("Saved. API Token: {}", saved.token_redacted);

    step("validate");
    let report = harness.validate(&store).await?;
    print_report(&report, false);

    step("sync");
    let started = std::time::Instant::now();
    let run = sync(&harness, &mut store, None, false, "demo", false).await?;
    println!("sync took {:.2}s", started.elapsed().as_secs_f64());

    step("import history");
    print_history(&store.runs(10)?);

    step("Codex usage per person");
    let usage = codex_usage(&store)?;
    print_usage(&usage, false);

    let truth = server.ground_truth();
    let truth_tokens: u64 = truth
        .rows
        .iter()
        .map(|r| r.input_tokens + r.output_tokens)
        .sum();
    let truth_requests: u64 = truth.rows.iter().map(|r| r.requests).sum();
    println!(
        "\nReconciliation with the mock's ground truth: {} tokens / {} requests imported, {} / {} expected — {}",
        usage.all_total.tokens(),
        usage.all_total.requests,
        truth_tokens,
        truth_requests,
        if usage.all_total.tokens() == truth_tokens && usage.all_total.requests == truth_requests { "exact match" } else { "MISMATCH" }
    );
    println!(
        "Run {} imported {} records in {} provider requests. Explore with: host-harness --db {} history | report | export --stream usage --format csv",
        run.id,
        run.inserted(),
        run.streams.values().map(|c| c.requests).sum::<u64>(),
        db.display()
    );
    if interactive {
        println!("(the mock has stopped; the store remains)");
    }
    server.shutdown().await;
    Ok(())
}
