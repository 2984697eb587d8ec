//! Sending one checked request: resolve the name, refuse it if any address it resolves to
//! is not public, connect to the address that was checked (not to the name again, so a
//! second DNS answer cannot point elsewhere), then TLS with the original name and HTTP/1.1.
//!
//! Hand-written because `wasmtime_wasi_http::default_send_request` resolves and connects
//! by name in one step, leaving no point between the two where the host can check the
//! address. The HTTP part follows that function: hyper's client connection, the request
//! options' timeouts, and the connection driven until the response head arrives.

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::net::{IpAddr, SocketAddr};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::address::refused_because;
use super::redirect::Target;

/// How host names are resolved: by the system, or from a fixed table (tests use it to make
/// a declared name resolve to a private address).
#[derive(Clone, Debug, Default)]
pub enum Resolver {
    #[default]
    System,
    Static(Arc<BTreeMap<String, Vec<IpAddr>>>),
}

impl Resolver {
    async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Error> {
        match self {
            Resolver::Static(table) => Ok(table
                .get(host)
                .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
                .unwrap_or_default()),
            Resolver::System => match tokio::net::lookup_host((host, port)).await {
                Ok(addrs) => Ok(addrs.collect()),
                Err(e) => Err(Error::DnsError {
                    rcode: Some(format!("{host} could not be resolved: {}", e.kind())),
                    info_code: None,
                }),
            },
        }
    }
}

/// Where a checked request goes.
pub enum Route {
    /// To the provider, by name: resolved here and checked.
    Direct { host: String, port: u16, tls: bool },
    /// To the host's own redirect target (a loopback test server).
    Redirect(Target),
}

/// A boxed future the `wasi:http` hook hands back for the connection's remaining I/O.
pub type IoFuture = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// Resolve (and check) where `route` goes.
pub async fn address(
    route: &Route,
    resolver: &Resolver,
    timeout: Duration,
) -> Result<SocketAddr, Error> {
    let (host, port) = match route {
        Route::Direct { host, port, .. } => (host.clone(), *port),
        Route::Redirect(t) => {
            let default = if t.scheme == http::uri::Scheme::HTTPS {
                443
            } else {
                80
            };
            let host = t
                .authority
                .host()
                .trim_start_matches('[')
                .trim_end_matches(']');
            (host.to_string(), t.authority.port_u16().unwrap_or(default))
        }
    };
    // The host's own redirect target is resolved by the system, whatever the table says.
    static SYSTEM: Resolver = Resolver::System;
    let resolver = match route {
        Route::Redirect(_) => &SYSTEM,
        Route::Direct { .. } => resolver,
    };
    let addrs = match tokio::time::timeout(timeout, resolver.resolve(&host, port)).await {
        Ok(r) => r?,
        Err(_) => return Err(Error::DnsTimeout),
    };
    let first = addrs.first().copied().ok_or_else(|| Error::DnsError {
        rcode: Some(format!("{host} has no address")),
        info_code: None,
    })?;
    match route {
        // The host's own redirect target is exempt: it is loopback by construction.
        Route::Redirect(_) => Ok(first),
        Route::Direct { .. } => {
            // Every answer must be public: a name that resolves to a mix is refused
            // rather than trusted for its public half.
            if let Some(bad) = addrs.iter().find_map(|a| refused_because(a.ip())) {
                tracing::warn!(host = %host, "outbound request refused: the name resolves to a {bad} address");
                return Err(Error::DestinationIpProhibited);
            }
            Ok(first)
        }
    }
}

/// Send `req` (whose URI still names the component's origin) along `route`.
pub async fn send(
    mut req: Request<WasiBody>,
    route: Route,
    resolver: &Resolver,
    options: RequestOptions,
) -> Result<(Response<WasiBody>, IoFuture), Error> {
    let connect_timeout = options.connect_timeout.unwrap_or(Duration::from_secs(10));
    let first_byte_timeout = options
        .first_byte_timeout
        .unwrap_or(Duration::from_secs(60));
    let between_bytes_timeout = options
        .between_bytes_timeout
        .unwrap_or(Duration::from_secs(30))
        .max(Duration::from_nanos(1));

    let addr = address(&route, resolver, connect_timeout).await?;
    let (tls_name, host_header) = match &route {
        Route::Direct { host, port, tls } => (
            tls.then(|| host.clone()),
            if (*tls && *port == 443) || (!*tls && *port == 80) {
                host.clone()
            } else {
                format!("{host}:{port}")
            },
        ),
        Route::Redirect(t) => (
            (t.scheme == http::uri::Scheme::HTTPS).then(|| {
                t.authority
                    .host()
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string()
            }),
            t.authority.to_string(),
        ),
    };
    if let Ok(v) = http::HeaderValue::from_str(&host_header) {
        req.headers_mut().insert(http::header::HOST, v);
    }

    let tcp = match tokio::time::timeout(connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return Err(Error::ConnectionRefused)
        }
        Ok(Err(e)) => return Err(Error::Connect(e)),
        Err(_) => return Err(Error::ConnectionTimeout),
    };
    let stream: Box<dyn Stream> = match tls_name {
        Some(name) => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.into(),
            };
            let config = rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            let server_name = rustls::pki_types::ServerName::try_from(name)
                .map_err(|_| Error::TlsCertificateError)?;
            let tls = tokio::time::timeout(connect_timeout, connector.connect(server_name, tcp))
                .await
                .map_err(|_| Error::ConnectionTimeout)?
                .map_err(Error::Tls)?;
            Box::new(tls)
        }
        None => Box::new(tcp),
    };
    let (mut sender, conn) = tokio::time::timeout(
        connect_timeout,
        hyper::client::conn::http1::Builder::new().handshake(TokioIo::new(stream)),
    )
    .await
    .map_err(|_| Error::ConnectionTimeout)??;

    // Origin-form request target: scheme and authority travel in the connection and Host.
    *req.uri_mut() = http::Uri::builder()
        .path_and_query(
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/"),
        )
        .build()
        .map_err(|_| Error::HttpRequestUriInvalid)?;

    let send = async move {
        let res = tokio::time::timeout(first_byte_timeout, sender.send_request(req))
            .await
            .map_err(|_| Error::ConnectionReadTimeout)?
            .map_err(Error::from)?;
        let mut timeout = tokio::time::interval(between_bytes_timeout);
        timeout.reset();
        Ok::<_, Error>(res.map(|incoming| IdleTimeout { incoming, timeout }.boxed_unsync()))
    };
    let mut send = pin!(send);
    let mut conn = Some(conn);
    // Drive the connection until the response head arrives.
    let res = poll_fn(|cx| match send.as_mut().poll(cx) {
        Poll::Ready(r) => Poll::Ready(r),
        Poll::Pending => {
            let Some(fut) = conn.as_mut() else {
                return Poll::Pending;
            };
            let r = ready!(Pin::new(fut).poll(cx));
            conn = None;
            match r {
                Ok(()) => send.as_mut().poll(cx),
                Err(e) => Poll::Ready(Err(Error::from(e))),
            }
        }
    })
    .await?;
    let io: IoFuture = Box::new(async move {
        match conn.take() {
            None => Ok(()),
            Some(conn) => conn.await.map_err(|e| {
                if e.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(e)
                }
            }),
        }
    });
    Ok((res, io))
}

trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static> Stream for T {}

/// The response body, failing when no bytes arrive for the between-bytes timeout.
struct IdleTimeout {
    incoming: hyper::body::Incoming,
    timeout: tokio::time::Interval,
}

impl http_body::Body for IdleTimeout {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(if e.is_timeout() {
                Error::HttpResponseTimeout
            } else {
                Error::from(e)
            }))),
            Poll::Ready(Some(Ok(frame))) => {
                self.timeout.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.timeout.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        let mut table = BTreeMap::new();
        table.insert(
            "api.example.test".to_string(),
            vec!["127.0.0.1".parse().unwrap()],
        );
        table.insert(
            "mixed.example.test".to_string(),
            vec!["8.8.8.8".parse().unwrap(), "10.0.0.1".parse().unwrap()],
        );
        table.insert(
            "public.example.test".to_string(),
            vec!["8.8.8.8".parse().unwrap()],
        );
        let r = Resolver::Static(Arc::new(table));
        let t = Duration::from_secs(1);
        let direct = |h: &str| Route::Direct {
            host: h.into(),
            port: 443,
            tls: true,
        };
        for h in ["api.example.test", "mixed.example.test"] {
            assert!(
                matches!(
                    address(&direct(h), &r, t).await,
                    Err(Error::DestinationIpProhibited)
                ),
                "{h}"
            );
        }
        assert!(matches!(
            address(&direct("nowhere.example.test"), &r, t).await,
            Err(Error::DnsError { .. })
        ));
        assert_eq!(
            address(&direct("public.example.test"), &r, t)
                .await
                .unwrap(),
            "8.8.8.8:443".parse().unwrap()
        );
        // the host's own loopback redirect target is exempt
        let target = Target::parse("http://127.0.0.1:9").unwrap();
        assert_eq!(
            address(&Route::Redirect(target), &Resolver::System, t)
                .await
                .unwrap(),
            "127.0.0.1:9".parse().unwrap()
        );
    }
}
