//! `host-harness`: plays the analytics platform for connector components.

mod aligned;
mod args;
mod bench;
mod commands;
mod delivery;
mod demo;
mod demo_delivery;
mod export;
mod mock;
mod output;
mod serve;
mod setup;
mod worker;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Parser;
use serde_json::json;

use args::{Cli, Command};
use host_harness::runner::HostError;

fn main() -> ExitCode {
    quiet_on_closed_stdout();
    let cli = Cli::parse();
    // Library warnings (wasmtime, hyper, …) stay out of the default output; -v shows the
    // host's decisions and the component's own log lines (each run's inside its
    // `run{connection=…, run=…}` span), -vv everything.
    let filter = match cli.verbose {
        0 => "host_harness=warn",
        1 => "host_harness=info,connector=debug",
        _ => "debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| filter.into()),
        )
        .with_writer(std::io::stderr)
        // (colours for a terminal; a log file or a pipe gets plain text)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let json = wants_json(&cli.command);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error [internal]: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(commands::run(cli.command))
    }));
    let result = match result {
        Ok(r) => r,
        Err(_) if STDOUT_CLOSED.load(Ordering::SeqCst) => return ExitCode::SUCCESS,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                println!(
                    "{}",
                    json!({ "ok": false, "error": { "class": e.class, "message": e.message, "advice": e.advice() } })
                );
            } else {
                eprintln!("error [{}]: {}", e.class, e.message);
                if let Some(advice) = e.advice() {
                    eprintln!("what to do: {advice}");
                }
            }
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

/// Whether the command was asked for JSON (its errors are JSON too).
fn wants_json(c: &Command) -> bool {
    match c {
        Command::Describe { out, .. }
        | Command::Validate { out, .. }
        | Command::Sync { out, .. }
        | Command::History { out, .. }
        | Command::Report { out, .. } => out.json,
        Command::Configure(a) => a.out.json,
        Command::Connections(args::ConnectionsCommand::List { out, .. }) => out.json,
        Command::Delivery(
            args::DeliveryCommand::AddRepo { out, .. } | args::DeliveryCommand::List { out, .. },
        ) => out.json,
        Command::People(args::PeopleCommand::List { out, .. }) => out.json,
        Command::Bench(b) => b.json,
        _ => false,
    }
}

/// Set when `println!` found that the reader of stdout went away.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// `println!` panics when the reader of stdout went away (`host-harness report | head`):
/// that is a normal end. The panic is not printed; it unwinds (so that what the command
/// holds is dropped: the demo's temporary directory is removed) and `main` ends with 0.
fn quiet_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload_as_str().is_some_and(|m| {
            m.starts_with("failed printing to stdout") && m.contains("Broken pipe")
        }) {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
            return;
        }
        default(info);
    }));
}

/// A write to stdout that stopped because the reader went away (`| head`) is a normal end.
pub fn stdout_error(e: std::io::Error) -> HostError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    HostError::new("internal", format!("cannot write the output: {e}"))
}
