//! The `wasi:http` hook every outgoing request of a component passes through. In order:
//! request caps (per call, and at once), the origin (scheme, host, port, normalized) against
//! the allow-list `configure` produced, the secrets (filled in only for their own origins
//! over https), then the route: the host's own redirect, or the provider by name with its
//! resolved address checked ([`super::connect`]). The response body is capped.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::BodyExt;
use wasmtime_wasi_http::{
    ForbiddenHeaderFilter, RequestOptions, WasiBody, WasiHttpHooks, DEFAULT_FORBIDDEN_HEADERS,
};

use super::connect::{self, IoFuture, Route};
use super::secrets::SessionSecrets;
use super::Policy;
use crate::origin::Origin;
use crate::redact::Redactor;

/// What the hook knows and counts for one instance.
pub struct Outbound {
    policy: Arc<Policy>,
    secrets: Arc<SessionSecrets>,
    /// The origins `configure` returned (checked against `describe`); empty until then,
    /// so `describe` and `configure` can reach nothing.
    allowed: Mutex<Vec<Origin>>,
    /// Requests sent (admitted by the policy) during the instance's life.
    sent: AtomicU64,
    /// Requests attempted during the current export call.
    this_call: AtomicU32,
    in_flight: Arc<AtomicU32>,
    denied: Mutex<Vec<String>>,
    /// A cap the component broke during the current call; the call then fails.
    violation: Mutex<Option<String>>,
    /// The last request of the current call that could not reach its origin (name not
    /// resolved, connection refused or timed out, TLS failed): the host knows this better
    /// than the component, which sees only an error code.
    unreachable: Mutex<Option<Unreachable>>,
    /// The cap (bytes) at which the host stopped a response body during the current
    /// call. wasmtime-wasi-http hands a body stream's error to the component as an opaque
    /// `error`, so the host, which cut the body, is the one that can say so in types.
    oversize: Mutex<Option<u64>>,
    /// Denials quote what the component asked for (a host name may be a secret).
    redactor: Redactor,
}

/// A request that never reached its origin, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unreachable {
    /// The origin the component asked for.
    pub origin: String,
    /// Where it really went, when the host redirected it.
    pub via: Option<String>,
    /// What failed, in words.
    pub what: String,
}

/// Why a send failed, when the failure means "could not reach", not "the provider said".
fn unreachable_because(e: &wasmtime_wasi_http::Error) -> Option<String> {
    use wasmtime_wasi_http::Error as E;
    Some(match e {
        E::DnsError { rcode, .. } => format!(
            "the name could not be resolved{}",
            rcode
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        ),
        E::DnsTimeout => "the name lookup timed out".into(),
        E::ConnectionRefused => "the connection was refused".into(),
        E::ConnectionTimeout => "the connection timed out".into(),
        E::Connect(io) => format!("the connection failed ({})", io.kind()),
        E::DestinationIpProhibited => {
            "the name resolves to a private address, which the host refuses".into()
        }
        E::Tls(_) | E::TlsCertificateError | E::TlsProtocolError => {
            "the TLS handshake failed".into()
        }
        _ => return None,
    })
}

/// The most denials one instance remembers (for the run's error message).
const DENIALS_KEPT: usize = 20;

impl Outbound {
    pub fn new(policy: Arc<Policy>, secrets: Arc<SessionSecrets>) -> Arc<Outbound> {
        let redactor = Redactor::new(secrets.values());
        Arc::new(Outbound {
            policy,
            secrets,
            allowed: Mutex::new(Vec::new()),
            sent: AtomicU64::new(0),
            this_call: AtomicU32::new(0),
            in_flight: Arc::new(AtomicU32::new(0)),
            denied: Mutex::new(Vec::new()),
            violation: Mutex::new(None),
            unreachable: Mutex::new(None),
            oversize: Mutex::new(None),
            redactor,
        })
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn secrets(&self) -> &SessionSecrets {
        &self.secrets
    }

    /// Set the allow-list (after `configure`).
    pub fn allow(&self, origins: Vec<Origin>) {
        *lock(&self.allowed) = origins;
    }

    pub fn allowed(&self) -> Vec<Origin> {
        lock(&self.allowed).clone()
    }

    /// Requests the host sent for this instance so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// What was denied so far (host names as the component gave them, bounded).
    pub fn denied(&self) -> Vec<String> {
        lock(&self.denied).clone()
    }

    /// Start counting a new export call.
    pub fn begin_call(&self) {
        self.this_call.store(0, Ordering::Relaxed);
        *lock(&self.violation) = None;
        *lock(&self.unreachable) = None;
        *lock(&self.oversize) = None;
    }

    /// The cap broken during the call that just ended, if any.
    pub fn take_violation(&self) -> Option<String> {
        lock(&self.violation).take()
    }

    /// The last request of the current call that could not reach its origin.
    pub fn take_unreachable(&self) -> Option<Unreachable> {
        lock(&self.unreachable).take()
    }

    /// The cap at which the host stopped a response body during the current call.
    pub fn take_oversize(&self) -> Option<u64> {
        lock(&self.oversize).take()
    }

    fn cut_off(&self, cap: u64) -> wasmtime_wasi_http::Error {
        *lock(&self.oversize) = Some(cap);
        wasmtime_wasi_http::Error::HttpResponseBodySize(Some(cap))
    }

    fn deny(&self, why: String) -> wasmtime_wasi_http::Error {
        let why = self.redactor.redact(&why);
        tracing::warn!("outbound request denied: {why}");
        let mut d = lock(&self.denied);
        if d.len() < DENIALS_KEPT {
            d.push(why);
        }
        wasmtime_wasi_http::Error::HttpRequestDenied
    }

    fn violate(&self, why: String) -> wasmtime_wasi_http::Error {
        let mut v = lock(&self.violation);
        if v.is_none() {
            *v = Some(why.clone());
        }
        drop(v);
        self.deny(why)
    }

    /// Check one request and decide where it goes; `Err` refuses it.
    fn admit(
        &self,
        request: &mut http::Request<WasiBody>,
    ) -> Result<(Route, InFlight), wasmtime_wasi_http::Error> {
        let p = &self.policy;
        let n = self.this_call.fetch_add(1, Ordering::Relaxed) + 1;
        if n > p.max_requests_per_call {
            return Err(self.violate(format!(
                "the component made more than {} requests in one call",
                p.max_requests_per_call
            )));
        }
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        let guard = InFlight(self.in_flight.clone());
        if now > p.max_requests_in_flight {
            return Err(self.violate(format!(
                "the component had more than {} requests in flight at once",
                p.max_requests_in_flight
            )));
        }
        let origin = Origin::of_uri(request.uri())
            .map_err(|e| self.deny(format!("a request to {}: {e}", shown(request.uri()))))?;
        if !lock(&self.allowed).contains(&origin) {
            return Err(self.deny(format!("{origin} is not in the connector's allow-list")));
        }
        self.secrets
            .fill(&origin, request.headers_mut())
            .map_err(|why| self.deny(why))?;
        let route = match p.redirect_for(&origin.host) {
            Some(t) => Route::Redirect(t.clone()),
            None => Route::Direct {
                host: origin.host.clone(),
                port: origin.port,
                tls: true,
            },
        };
        Ok((route, guard))
    }
}

/// Counts one admitted request until its response head arrives (or it fails).
struct InFlight(Arc<AtomicU32>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A URI for a message: scheme and authority only, bounded.
fn shown(uri: &http::Uri) -> String {
    let s = format!(
        "{}://{}",
        uri.scheme_str().unwrap_or("?"),
        uri.authority().map(|a| a.as_str()).unwrap_or("?")
    );
    s.chars().take(100).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The hook object wasmtime-wasi-http calls.
pub struct PolicyHooks(pub Arc<Outbound>);

impl WasiHttpHooks for PolicyHooks {
    /// The component may not set the headers its secrets travel in: only `attach` does.
    fn forbidden_header_filter(&mut self) -> ForbiddenHeaderFilter {
        let out = self.0.clone();
        Arc::new(move |name| {
            DEFAULT_FORBIDDEN_HEADERS.contains(name) || out.secrets.owns_header(name)
        })
    }

    fn p2_outgoing_body_buffer_chunks(&mut self) -> usize {
        1
    }

    fn p2_outgoing_body_chunk_size(&mut self) -> usize {
        self.0.policy.max_body_chunk_bytes
    }

    fn send_request(
        &mut self,
        mut request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), wasmtime_wasi_http::Error>>
            + Send,
    > {
        let out = self.0.clone();
        let origin = Origin::of_uri(request.uri()).map(|o| o.to_string()).ok();
        let admitted = out.admit(&mut request);
        Box::new(async move {
            let (route, in_flight) = admitted?;
            let via = match &route {
                Route::Redirect(t) => Some(t.url()),
                Route::Direct { .. } => None,
            };
            out.sent.fetch_add(1, Ordering::Relaxed);
            let p = &out.policy;
            // The guest may ask for shorter timeouts, never longer ones.
            let cap =
                |asked: Option<Duration>, max: Duration| Some(asked.map_or(max, |a| a.min(max)));
            let options = RequestOptions {
                connect_timeout: cap(options.and_then(|o| o.connect_timeout), p.connect_timeout),
                first_byte_timeout: cap(
                    options.and_then(|o| o.first_byte_timeout),
                    p.first_byte_timeout,
                ),
                between_bytes_timeout: cap(
                    options.and_then(|o| o.between_bytes_timeout),
                    p.between_bytes_timeout,
                ),
            };
            let (resp, io) = match connect::send(request, route, &p.resolver, options).await {
                Ok(r) => r,
                Err(e) => {
                    if let Some(what) = unreachable_because(&e) {
                        *lock(&out.unreachable) = Some(Unreachable {
                            origin: origin.unwrap_or_default(),
                            via,
                            what,
                        });
                    }
                    return Err(e);
                }
            };
            drop(in_flight);
            let max = p.max_body_bytes;
            let declared = resp
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > max) {
                return Err(out.cut_off(max));
            }
            let out = out.clone();
            let resp = resp.map(move |body| {
                http_body_util::Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX))
                    .map_err(move |e| match e.downcast::<wasmtime_wasi_http::Error>() {
                        Ok(e) => *e,
                        Err(e) if e.is::<http_body_util::LengthLimitError>() => out.cut_off(max),
                        Err(e) => wasmtime_wasi_http::Error::InternalError(Some(e.to_string())),
                    })
                    .boxed_unsync()
            });
            Ok((resp, io))
        })
    }
}
