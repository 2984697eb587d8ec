//! `mock-openai`: the OpenAI API mock on loopback, until interrupted.

use std::io::Write;
use std::path::Path;

use host_harness::runner::HostError;
use host_harness::secret::Secret;
use openai_mock::{MockConfig, MockServer};

use crate::args::MockArgs;

/// A listener that could not bind: say which address, and what to do.
pub fn bind_error(e: anyhow::Error, addr: std::net::SocketAddr, option: &str) -> HostError {
    if addr_in_use(&e) {
        HostError::new("usage", format!("the address {addr} is already in use"))
            .with_hint(format!("Stop what listens there, or pass another {option} (e.g. {option} 127.0.0.1:0 for a free port)."))
    } else {
        HostError::new("usage", format!("cannot listen on {addr}: {e:#}"))
            .with_hint(format!("Pass another {option}."))
    }
}

/// Whether `e` is, somewhere in its chain, "address already in use".
pub fn addr_in_use(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::AddrInUse)
}

/// Write `content` to a new file readable only by this user.
pub fn write_private(path: &Path, content: &str) -> Result<(), HostError> {
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let fail = |e: std::io::Error| {
        HostError::new("usage", format!("cannot write {}: {e}", path.display()))
            .with_hint("Check that the directory exists and is writable.")
    };
    let mut f = opts.open(path).map_err(fail)?;
    f.write_all(content.as_bytes()).map_err(fail)
}

pub async fn run(args: MockArgs) -> Result<(), HostError> {
    let admin_key = match &args.admin_key_env {
        Some(var) => crate::setup::secret_from_env("--admin-key-env", var)?
            .expose()
            .to_string(),
        None => host_harness::random::key("sk-admin-"),
    };
    if !args.listen.ip().is_loopback() {
        return Err(
            HostError::new("usage", "the mock listens on loopback addresses only")
                .with_hint("Pass --listen 127.0.0.1:PORT."),
        );
    }
    let config = MockConfig {
        seed: args.seed,
        users: args.users as usize,
        days: args.days,
        admin_key: admin_key.clone(),
        ..MockConfig::default()
    };
    let server = MockServer::start_on(config, args.listen)
        .await
        .map_err(|e| bind_error(e, args.listen, "--listen"))?;
    if let Some(path) = &args.admin_key_file {
        write_private(path, &admin_key)?;
    }
    if let Some(path) = &args.ground_truth {
        server.ground_truth().write_json(path)?;
    }
    println!(
        "OpenAI API mock on {} ({})",
        server.base_url(),
        server.dataset_summary()
    );
    println!(
        "Admin key: {}{}",
        Secret::from_input(&admin_key).redacted(),
        match &args.admin_key_file {
            Some(p) => format!(" (written to {})", p.display()),
            None => " (pass --admin-key-file to get it)".to_string(),
        }
    );
    println!(
        "Point the harness at it with --redirect api.openai.com={}. Ctrl-C stops it.",
        server.base_url()
    );
    std::io::stdout().flush().ok();
    tokio::signal::ctrl_c().await.ok();
    server.shutdown().await;
    Ok(())
}
