//! `worker`: the pool without a page. Runs the store's due connections, each with its own
//! component (loaded once per process) and schedule, `--workers` at a time, until Ctrl-C or
//! SIGTERM (running imports are marked interrupted and resume next time), or with `--once`
//! until no connection is due any more. Optionally `/metrics` and `/healthz` on loopback.

use std::sync::Arc;

use host_harness::metrics::http::MetricsServer;
use host_harness::runner::{HarnessConfig, HostError};
use host_harness::scheduler::{format_duration, Harnesses, PoolConfig, ScheduleConfig, Scheduler};

use crate::args::{ComponentArgs, WorkerArgs};

pub async fn run(args: WorkerArgs) -> Result<(), HostError> {
    if let Some(addr) = args.metrics_listen {
        if !addr.ip().is_loopback() {
            return Err(HostError::new(
                "usage",
                format!("--metrics-listen takes a loopback address (127.0.0.1:PORT or [::1]:PORT), not {addr}"),
            )
            .with_hint("Scrape it on this machine, or put a proxy in front of it."));
        }
    }
    let redirects = crate::setup::redirects(&ComponentArgs {
        component: None,
        redirects: args.redirects.clone(),
        openai_base: args.openai_base.clone(),
    })?;
    let store = Arc::new(crate::setup::store(&args.store).await?);
    // Every connection names its own component; each gets this host's policy.
    let mut template = HarnessConfig::new(host_harness::default_component_path());
    template.policy.redirects = redirects;
    let harnesses = Arc::new(Harnesses::new(template));
    let schedule = ScheduleConfig {
        every: args.every,
        ..ScheduleConfig::default()
    };
    let config = PoolConfig::new(args.workers, schedule.clone());
    let pool = if args.once {
        Scheduler::start_once(store.clone(), harnesses, config)
    } else {
        Scheduler::start(store.clone(), harnesses, config)
    };
    let metrics = match args.metrics_listen {
        Some(addr) => match MetricsServer::start(addr, pool.metrics().clone(), store.clone()).await
        {
            Ok(m) => Some(m),
            Err(e) => {
                pool.shutdown().await;
                return Err(crate::mock::bind_error(e, addr, "--metrics-listen"));
            }
        },
        None => None,
    };
    println!(
        "Worker {} on {}: {} at a time; connections without their own schedule every {} (±{:.0}%){}.",
        pool.owner(),
        store.location().display(),
        args.workers,
        format_duration(schedule.every),
        schedule.jitter * 100.0,
        if args.once { "; once: until no connection is due" } else { "; Ctrl-C stops (running imports resume next time)" }
    );
    if let Some(m) = &metrics {
        println!(
            "Metrics: http://{0}/metrics  health: http://{0}/healthz",
            m.addr()
        );
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    let signalled = tokio::select! {
        _ = pool.wait_done() => false,
        _ = wait_for_signal() => true,
    };
    if signalled {
        eprintln!("stopping…");
    }
    pool.shutdown().await;
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    let status = pool.statuses();
    let count = |s: &str| status.ended.get(s).copied().unwrap_or(0);
    let total: u64 = status.ended.values().sum();
    println!(
        "Ran {total} import(s): {} succeeded, {} failed, {} interrupted. Each connection's history has the details (host-harness history --connection ID).",
        count("succeeded"),
        count("failed"),
        count("interrupted")
    );
    if let (true, Some(e)) = (args.once, status.error) {
        return Err(HostError::new(
            "network",
            format!("the store stopped answering: {e}"),
        ));
    }
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
