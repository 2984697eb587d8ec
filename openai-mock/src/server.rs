//! The accept loop and the per-connection HTTP/1.1 service (hyper), where faults are applied.
//!
//! Each accepted connection is served by hyper; every request on it (keep-alive included)
//! goes through [`respond`], which computes the real answer, then asks the fault rules. Faults
//! that need the raw socket (a reset) make the service future wait while the connection task
//! takes the socket back from hyper and closes it with SO_LINGER 0.
//!
//! Scale: one task per connection (no limit on their number), HTTP/1.1 keep-alive, a listen
//! backlog of 4096 so a burst of several hundred (or a thousand) simultaneous connects is
//! queued rather than refused, and the provider latency as a per-request async sleep, so
//! waiting requests cost a timer each and hold up nobody.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::http::header::{CONNECTION, CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinSet;

use crate::api;
use crate::fault::{reshape, Fault, Huge, MockBody};
use crate::Shared;

/// Listen on `addr` with a deep backlog (the kernel caps it at `net.core.somaxconn`).
pub(crate) fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Accept connections until `stop` fires, then let open connections finish gracefully.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let (closing_tx, closing_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(connection(stream, shared.clone(), closing_rx.clone()));
                }
                Err(e) => {
                    tracing::warn!("openai-mock accept error: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
            },
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while conns.join_next().await.is_some() {}
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, mut closing: watch::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(Notify::new());
    let svc = {
        let reset = reset.clone();
        service_fn(move |req| {
            let shared = shared.clone();
            let reset = reset.clone();
            async move { Ok::<_, Infallible>(respond(shared, reset, req).await) }
        })
    };
    let mut conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            done = &mut conn => {
                if let Err(e) = done {
                    tracing::debug!("openai-mock connection ended: {e}");
                }
                return;
            }
            _ = reset.notified() => break,
            _ = closing.changed(), if !shutting_down => {
                shutting_down = true;
                std::pin::Pin::new(&mut conn).graceful_shutdown();
            }
        }
    }
    // A fault asked for a reset: take the socket back and close it with SO_LINGER 0 (RST).
    let stream = conn.into_parts().io.into_inner();
    let _ = stream.set_zero_linger();
    drop(stream);
}

fn response(status: StatusCode, mut headers: HeaderMap, body: MockBody) -> Response<MockBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    *resp.headers_mut() = headers;
    resp
}

fn content_length(h: &mut HeaderMap, len: u64) {
    h.insert(CONTENT_LENGTH, HeaderValue::from(len));
}

async fn respond(
    shared: Arc<Shared>,
    reset: Arc<Notify>,
    req: Request<Incoming>,
) -> Response<MockBody> {
    // The provider latency: before anything is computed or sent.
    let latency = shared.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let ans = api::answer(&shared, &method, &path, &query, req.headers());
    drop(req);
    let platform = !crate::analytics::is_analytics(&path);
    let ok = ans.status == StatusCode::OK && platform;
    let org = ans.org;
    let fault = if ans.refused {
        None
    } else {
        shared.faults.lock().expect("faults lock").take(&path)
    };
    let Some(fault) = fault else {
        api::record(&shared, org, &method, &path, &query, ans.status.as_u16());
        let mut resp = Response::new(MockBody::full(ans.body));
        *resp.status_mut() = ans.status;
        *resp.headers_mut() = api::base_headers(&shared, org, &ans.request_id, ok);
        return resp;
    };
    shared.faults_served.fetch_add(1, Ordering::Relaxed);
    let record = |status: u16| api::record(&shared, org, &method, &path, &query, status);
    let mut headers = api::base_headers(&shared, org, &ans.request_id, ok);
    match fault {
        Fault::Status {
            status,
            retry_after,
        } => {
            let status = StatusCode::from_u16(status)
                .ok()
                .filter(|s| s.as_u16() >= 200)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            record(status.as_u16());
            let mut headers = api::base_headers(&shared, org, &ans.request_id, false);
            if let Some(v) = retry_after.and_then(|v| HeaderValue::from_str(&v).ok()) {
                headers.insert(RETRY_AFTER, v);
            }
            let body = api::fault_error_body(status, &path);
            content_length(&mut headers, body.len() as u64);
            response(status, headers, MockBody::full(body))
        }
        Fault::ResetBeforeHeaders => {
            record(0);
            reset.notify_one();
            std::future::pending().await
        }
        Fault::ResetMidBody => {
            record(ans.status.as_u16());
            content_length(&mut headers, ans.body.len() as u64);
            response(ans.status, headers, MockBody::abort(ans.body, reset))
        }
        Fault::TruncatedJson => {
            record(ans.status.as_u16());
            let mut body = ans.body;
            body.truncate(body.len() / 2);
            content_length(&mut headers, body.len() as u64);
            response(ans.status, headers, MockBody::full(body))
        }
        Fault::StallBeforeFirstByte(pause) => {
            record(ans.status.as_u16());
            tokio::time::sleep(pause).await;
            content_length(&mut headers, ans.body.len() as u64);
            response(ans.status, headers, MockBody::full(ans.body))
        }
        Fault::StallBetweenBytes(pause) => {
            record(ans.status.as_u16());
            content_length(&mut headers, ans.body.len() as u64);
            response(ans.status, headers, MockBody::stall(ans.body, pause))
        }
        Fault::HugeBody { bytes, declared } => {
            record(200);
            let mut headers = api::base_headers(&shared, org, &ans.request_id, platform);
            if declared {
                content_length(&mut headers, bytes);
            }
            response(
                StatusCode::OK,
                headers,
                MockBody::Huge(Huge::new(bytes, declared)),
            )
        }
        Fault::Shape(change) => {
            record(ans.status.as_u16());
            let body = reshape(&ans.body, change);
            content_length(&mut headers, body.len() as u64);
            response(ans.status, headers, MockBody::full(body))
        }
    }
}
