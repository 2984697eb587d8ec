//! `host-harness serve`: the platform's Integrations pages for the loaded connector — the
//! list of the store's connections (`/`, with a form that adds one) and, per connection,
//! its settings page (`/connections/{id}`: the form, the connection check, the import
//! history, "Sync now", a usage view) — and the scheduler pool behind them, which runs every
//! connection of the store.
//!
//! Nothing here knows which connector it serves: the title, the form (its sections and
//! fields, each by kind), the capability names and labels, every message and every piece of
//! advice come from the connector's `describe()`, its checks and its errors.
//!
//! Server-rendered HTML (axum + minijinja, templates embedded in the binary, autoescaped),
//! one small inline script under the response's CSP nonce that polls the connection's
//! `/status` while a sync runs.
//!
//! Routes:
//! - `GET /` the list, `POST /connections` add one;
//! - `GET /connections/{id}` a connection's page; `POST /connections/{id}/settings` Save,
//!   `…/check` Check connection, `…/sync` Sync now; `GET /connections/{id}/status` the
//!   progress poll; `POST /connections/{id}/repositories`, `…/aliases`, `…/teams` the
//!   Delivery section (register a git repository, join two emails, define a team). The
//!   page takes `?period=week|month` for its report beside delivery. An id the store does
//!   not hold is a 404 page.
//! - `GET /metrics` (Prometheus text), `GET /healthz`.
//!
//! The parts, one concept per file:
//! - [`security`]: the guard every request passes (loopback `Host`, admin password,
//!   same-origin posts, CSRF token, security headers),
//! - [`target`]: the connection a `/connections/{id}/…` request is about, and its harness,
//! - [`per_connection`]: what the page keeps per connection (last check, post results, the
//!   save lock), so nothing of one connection shows on another's page,
//! - [`form`]: a posted form turned into settings and secrets by the kinds `describe`
//!   declared (an empty secret field keeps that secret's saved value),
//! - [`connection`]: the last connection check of the *saved* configuration,
//! - [`flash`]: the result of a form post, shown once by the page it redirects to,
//! - [`list`]: the view model of the list of connections,
//! - [`views`]: the view models of a connection's page,
//! - [`notice`]: the page that says there is no such connection (or it cannot be shown),
//! - [`usage`]: the usage report the page shows (the swap point for `crate::report`),
//! - [`aligned`]: the report beside delivery, its charts and the Delivery section's lists
//!   (the swap point for `crate::report::aligned`),
//! - [`render`]: the embedded templates and the CSP nonce,
//! - [`routes`]: one file per route.

mod aligned;
mod connection;
mod flash;
mod form;
mod list;
mod notice;
mod per_connection;
mod render;
mod routes;
mod security;
mod target;
mod usage;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

use crate::runner::Harness;
use crate::scheduler::{
    format_duration, FirstRun, Harnesses, PoolConfig, ScheduleConfig, Scheduler,
};
use crate::store::{Location, Store, StoreOptions, DEFAULT_CONNECTION};

/// How `serve` runs.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub db: Location,
    /// The secret key and lease settings of the store.
    pub store: StoreOptions,
    pub listen: SocketAddr,
    /// The default connection's interval, and the default of connections without their own.
    pub schedule: ScheduleConfig,
    /// Runs at once (the pool's workers).
    pub workers: usize,
    /// Required (HTTP Basic, any user name) when `listen` is not a loopback address.
    pub admin_password: Option<String>,
}

/// Everything the handlers share.
pub(crate) struct App {
    /// The server's component: the one a connection added on the page runs (a connection's
    /// page uses its own component's harness, see [`target::Target::harness`]).
    pub harness: Arc<Harness>,
    pub store: Arc<Store>,
    pub scheduler: Arc<Scheduler>,
    pub security: security::Security,
    pub templates: render::Templates,
    /// The results of posts to the list (adding a connection).
    pub list_flashes: flash::Flashes,
    /// Each connection's last check, post results and save lock.
    pub pages: per_connection::PerConnection,
}

pub(crate) type Shared = Arc<App>;

/// A running settings server and its scheduler.
pub struct Server {
    addr: SocketAddr,
    scheduler: Arc<Scheduler>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Check the options, bind, start the scheduler and serve (in the background).
    pub async fn start(harness: Harness, opts: ServeOptions) -> anyhow::Result<Server> {
        let loopback = opts.listen.ip().is_loopback();
        let password = opts.admin_password.clone().filter(|p| !p.is_empty());
        if !loopback && password.is_none() {
            anyhow::bail!(
                "refusing to listen on {} (beyond loopback) without an admin password: pass --admin-password-env VAR",
                opts.listen
            );
        }
        if let Some(p) = &password {
            if p.chars().count() < 8 {
                anyhow::bail!("the admin password is too short (at least 8 characters)");
            }
        }
        // The store must open (and runs that stopped without closing are noticed).
        let store = Arc::new(Store::open(&opts.db, opts.store.clone()).await?);
        store.reap().await?;
        // The default connection always exists, so the list is never empty on a first run
        // and the one-line commands keep working on the same data.
        let connection_id = DEFAULT_CONNECTION.to_string();
        let templates = render::Templates::new()?;
        let listener = tokio::net::TcpListener::bind(opts.listen).await?;
        let addr = listener.local_addr()?;
        let security = security::Security::new(password, loopback.then(|| addr.port()))?;
        harness
            .connection(&store, &connection_id)
            .await
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let harness = Arc::new(harness);
        // Every connection of the store runs on the pool (each component loaded once, with
        // this harness's policy); the default connection keeps `--every`, and scheduled runs
        // start one interval after a connection is first seen.
        let pool = PoolConfig {
            first_run: FirstRun::AfterInterval,
            ..PoolConfig::new(opts.workers, opts.schedule.clone())
        };
        let scheduler = Arc::new(Scheduler::start(
            store.clone(),
            Arc::new(Harnesses::with(harness.clone())),
            pool,
        ));
        scheduler
            .keep_interval(&connection_id, &opts.schedule)
            .await?;
        let app = Arc::new(App {
            harness,
            store,
            scheduler: scheduler.clone(),
            security,
            templates,
            list_flashes: flash::Flashes::default(),
            pages: per_connection::PerConnection::default(),
        });
        let router = router(app);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the settings server stopped: {e}");
            }
        });
        Ok(Server {
            addr,
            scheduler,
            stop: Some(tx),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Stop taking requests, stop the scheduler (a run in progress is marked interrupted)
    /// and wait for both.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.scheduler.shutdown().await;
        if let Some(mut task) = self.task.take() {
            // Open keep-alive connections (a browser's) would hold graceful shutdown open.
            if tokio::time::timeout(std::time::Duration::from_secs(3), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The routes, behind the guard.
fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(routes::list::list))
        .route("/connections", post(routes::add::add))
        .route("/connections/{id}", get(routes::page::page))
        .route("/connections/{id}/settings", post(routes::save::save))
        .route("/connections/{id}/check", post(routes::check::check))
        .route("/connections/{id}/sync", post(routes::sync::sync_now))
        .route("/connections/{id}/status", get(routes::status::status))
        .route(
            "/connections/{id}/repositories",
            post(routes::delivery::add_repo),
        )
        .route("/connections/{id}/aliases", post(routes::delivery::alias))
        .route("/connections/{id}/teams", post(routes::delivery::team))
        .route(
            "/metrics",
            get(|State(app): State<Shared>| async move {
                crate::metrics::http::metrics_response(app.scheduler.metrics())
            }),
        )
        .route(
            "/healthz",
            get(|State(app): State<Shared>| async move {
                crate::metrics::http::healthz_response(&app.store).await
            }),
        )
        .fallback(routes::not_found)
        .layer(middleware::from_fn_with_state(app.clone(), security::guard))
        .with_state(app)
}

/// Serve until Ctrl-C or SIGTERM, then shut down cleanly.
pub async fn run(harness: Harness, opts: ServeOptions) -> anyhow::Result<()> {
    let every = opts.schedule.every;
    let protected = opts.admin_password.is_some();
    let server = Server::start(harness, opts).await?;
    println!("Settings page: {}", server.url());
    println!(
        "Scheduled imports every {} (±{:.0}% jitter); Ctrl-C stops the server (a running import is marked interrupted and resumes next time).",
        format_duration(every),
        server.scheduler().config().schedule.jitter * 100.0
    );
    if protected {
        println!("The page asks for the admin password (HTTP Basic, any user name).");
        if !server.addr().ip().is_loopback() {
            println!("Note: this is plain HTTP; put a TLS proxy in front of it before using it across a network.");
        }
    }
    use std::io::Write;
    std::io::stdout().flush().ok();
    wait_for_signal().await;
    eprintln!("stopping…");
    server.shutdown().await;
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
