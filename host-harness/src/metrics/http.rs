//! `GET /metrics` and `GET /healthz`: the two responses (which `serve` mounts on its own
//! router, behind its guard), and a small listener of their own for headless workers
//! (`worker --metrics-listen ADDR`), on loopback only and answering only to a loopback
//! `Host` with its port (as the settings page does: a page under a foreign name that
//! resolves to 127.0.0.1 cannot read it).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{Metrics, CONTENT_TYPE};
use crate::store::{Store, DEFAULT_CONNECTION};

/// How long `/healthz` waits for the store.
const STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// The metrics, as Prometheus reads them.
pub fn metrics_response(metrics: &Metrics) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()).into_response()
}

/// Whether the store answers a read within a few seconds.
pub async fn store_answers(store: &Store) -> Result<(), String> {
    match tokio::time::timeout(STORE_TIMEOUT, store.connection(DEFAULT_CONNECTION)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("{e:#}")),
        Err(_) => Err(format!("no answer within {} s", STORE_TIMEOUT.as_secs())),
    }
}

/// 200 `ok` while the store answers, 503 otherwise (the reason is logged, not shown: it
/// may name the database).
pub async fn healthz_response(store: &Store) -> Response {
    match store_answers(store).await {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "ok\n",
        )
            .into_response(),
        Err(why) => {
            tracing::warn!("healthz: the store does not answer: {why}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "the store does not answer\n",
            )
                .into_response()
        }
    }
}

struct Served {
    metrics: Arc<Metrics>,
    store: Arc<Store>,
    hosts: Vec<String>,
}

/// `/metrics` and `/healthz` on a loopback address of their own.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MetricsServer {
    /// Bind `addr` (a loopback address; port 0 picks a free one) and serve in the
    /// background.
    pub async fn start(
        addr: SocketAddr,
        metrics: Arc<Metrics>,
        store: Arc<Store>,
    ) -> anyhow::Result<MetricsServer> {
        if !addr.ip().is_loopback() {
            anyhow::bail!(
                "the metrics listen only on loopback (127.0.0.1 or ::1), not {addr}; put a proxy in front to expose them"
            );
        }
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let port = addr.port();
        let hosts = ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .flat_map(|h| {
                let mut v = vec![format!("{h}:{port}")];
                if port == 80 {
                    v.push(h.to_string());
                }
                v
            })
            .collect();
        let served = Arc::new(Served {
            metrics,
            store,
            hosts,
        });
        let router = Router::new()
            .route(
                "/metrics",
                get(|State(s): State<Arc<Served>>| async move { metrics_response(&s.metrics) }),
            )
            .route(
                "/healthz",
                get(|State(s): State<Arc<Served>>| async move { healthz_response(&s.store).await }),
            )
            .fallback(|| async {
                (
                    StatusCode::NOT_FOUND,
                    "Not found: /metrics and /healthz are served here.\n",
                )
            })
            .layer(middleware::from_fn_with_state(served.clone(), guard))
            .with_state(served);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("the metrics listener stopped: {e}");
            }
        });
        Ok(MetricsServer {
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop listening (a scrape in progress gets a second to finish).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(1), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Only `GET`, only to a loopback `Host` with this listener's port.
async fn guard(State(s): State<Arc<Served>>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut resp = if !s.hosts.iter().any(|h| h == &host) {
        (
            StatusCode::MISDIRECTED_REQUEST,
            "This listener answers only on its loopback address.\n",
        )
            .into_response()
    } else if req.method() != axum::http::Method::GET && req.method() != axum::http::Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, "Only GET.\n").into_response()
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
