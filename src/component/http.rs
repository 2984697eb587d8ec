//! The `Transport` over `wasi:http/outgoing-handler`, and the clock over
//! `wasi:clocks/wall-clock`.
//!
//! The request is built without any credential: the host attaches the secret setting the
//! caller names (`secrets.attach`), and only for that secret's origins. HTTP uses the raw
//! wasi calls (`outgoing-handler.handle`, `blocking-read` until `closed`): the toolchain
//! notes measured connection resets with a higher-level client.

use super::bindings::analytics::connector::secrets::{self, AttachError};
use super::bindings::wasi::clocks::wall_clock;
use super::bindings::wasi::http::outgoing_handler;
use super::bindings::wasi::http::types::{
    http_error_code, ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest,
    RequestOptions, Scheme,
};
use super::bindings::wasi::io::streams::StreamError;

use crate::model::ConnectorError;
use crate::origin::Origin;
use crate::provider_error::{redact_keys, truncate_chars};
use crate::transport::{AttachFailure, HttpResponse, Request, Transport};

/// Largest response body the connector reads; the host enforces its own cap too.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
/// How much one `blocking-read` asks for.
const READ_CHUNK: u64 = 1024 * 1024;
/// At most this much is reserved up front from a response's `content-length`.
const MAX_RESERVED_BYTES: usize = 32 * 1024 * 1024;
const NS_PER_SEC: u64 = 1_000_000_000;

/// GET requests over wasi:http; the time from the wall clock.
pub(super) struct WasiTransport;

impl Transport for WasiTransport {
    fn get(&mut self, request: &Request<'_>) -> Result<HttpResponse, ConnectorError> {
        send_get(request)
    }

    fn now(&self) -> i64 {
        i64::try_from(wall_clock::now().seconds).unwrap_or(i64::MAX)
    }
}

fn transient(what: &str, detail: &str) -> ConnectorError {
    ConnectorError::Transient(format!(
        "{what}: {}",
        truncate_chars(&redact_keys(detail), 200)
    ))
}

/// A response over the size cap will be as large next time: not worth a retry, and not a
/// shape this connector can read.
fn too_large(code: &ErrorCode) -> ConnectorError {
    let cap = match code {
        ErrorCode::HttpResponseBodySize(Some(n)) => format!(" of {} MiB", n >> 20),
        _ => String::new(),
    };
    ConnectorError::provider_changed(
        "http",
        "$",
        format!("the response body is larger than the cap{cap}; the read was stopped"),
    )
}

fn denied(origin: &Origin) -> ConnectorError {
    ConnectorError::Internal(format!("the host denied the request to {origin}"))
}

/// An HTTP error code as a short name, with its message where it has one.
fn error_code(e: &ErrorCode) -> String {
    use ErrorCode as E;
    let (name, detail) = match e {
        E::DnsTimeout => ("DnsTimeout", None),
        E::DnsError(p) => ("DnsError", p.rcode.as_deref()),
        E::DestinationNotFound | E::DestinationUnavailable => ("DestinationUnavailable", None),
        E::ConnectionRefused => ("ConnectionRefused", None),
        E::ConnectionTerminated => ("ConnectionTerminated", None),
        E::ConnectionTimeout => ("ConnectionTimeout", None),
        E::ConnectionReadTimeout => ("ConnectionReadTimeout", None),
        E::TlsProtocolError | E::TlsCertificateError | E::TlsAlertReceived(_) => ("TlsError", None),
        E::HttpRequestDenied => ("HttpRequestDenied", None),
        E::HttpResponseIncomplete => ("HttpResponseIncomplete", None),
        E::HttpResponseBodySize(_) => ("HttpResponseBodySize", None),
        E::HttpResponseTimeout => ("HttpResponseTimeout", None),
        E::HttpProtocolError => ("HttpProtocolError", None),
        E::InternalError(m) => ("InternalError", m.as_deref()),
        _ => ("HttpError", None),
    };
    match detail {
        Some(d) => format!("{name} ({d})"),
        None => name.into(),
    }
}

/// Build the request (no credential in it), have the host attach the secret, send it and
/// read the whole response.
fn send_get(r: &Request<'_>) -> Result<HttpResponse, ConnectorError> {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("accept".into(), b"application/json".to_vec()),
        (
            "user-agent".into(),
            concat!("codex-connector/", env!("CARGO_PKG_VERSION"))
                .as_bytes()
                .to_vec(),
        ),
    ];
    headers.extend(
        r.headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec())),
    );
    // Never format the header error: it could echo a value.
    let fields = Fields::from_list(&headers)
        .map_err(|_| ConnectorError::Internal("a request header was refused".into()))?;
    let req = OutgoingRequest::new(fields);
    let bad = |_| ConnectorError::Internal("could not build the request".into());
    req.set_method(&Method::Get).map_err(bad)?;
    let scheme = match r.origin.scheme {
        "https" => Scheme::Https,
        "http" => Scheme::Http,
        other => Scheme::Other(other.to_string()),
    };
    req.set_scheme(Some(&scheme)).map_err(bad)?;
    req.set_authority(Some(&r.origin.authority()))
        .map_err(bad)?;
    req.set_path_with_query(Some(r.path_and_query))
        .map_err(bad)?;
    secrets::attach(&req, r.secret).map_err(|e| {
        match e {
            AttachError::UnknownSecret => AttachFailure::UnknownSecret,
            AttachError::NotSet => AttachFailure::NotSet,
            AttachError::Refused => AttachFailure::Refused,
        }
        .into_error(r.secret, r.origin)
    })?;
    let body = req.body().map_err(bad)?;
    OutgoingBody::finish(body, None)
        .map_err(|e| transient("could not send the request", &error_code(&e)))?;

    let opts = RequestOptions::new();
    // The host caps these again; asking explicitly keeps a misconfigured host from waiting
    // on its (long) defaults.
    let _ = opts.set_connect_timeout(Some(10 * NS_PER_SEC));
    let _ = opts.set_first_byte_timeout(Some(60 * NS_PER_SEC));
    let _ = opts.set_between_bytes_timeout(Some(30 * NS_PER_SEC));

    let fut = outgoing_handler::handle(req, Some(opts)).map_err(|e| match e {
        ErrorCode::HttpRequestDenied => denied(r.origin),
        e => transient("could not send the request", &error_code(&e)),
    })?;
    fut.subscribe().block();
    let resp = match fut.get() {
        Some(Ok(Ok(resp))) => resp,
        Some(Ok(Err(ErrorCode::HttpRequestDenied))) => return Err(denied(r.origin)),
        Some(Ok(Err(e @ ErrorCode::HttpResponseBodySize(_)))) => return Err(too_large(&e)),
        Some(Ok(Err(e))) => {
            return Err(transient(
                &format!("the request to {} failed", r.origin.host),
                &error_code(&e),
            ))
        }
        Some(Err(())) | None => {
            return Err(ConnectorError::Internal(
                "the response future was read twice".into(),
            ))
        }
    };
    drop(fut);

    let status = resp.status();
    let h = resp.headers();
    let header = |name: &str| {
        h.get(name)
            .into_iter()
            .next()
            .and_then(|v| String::from_utf8(v).ok())
    };
    let mut out = HttpResponse {
        status,
        body: String::new(),
        retry_after: header("retry-after"),
        organization: header("openai-organization"),
        request_id: header("x-request-id"),
    };
    let content_length = header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    drop(h);

    let body = resp
        .consume()
        .map_err(|_| ConnectorError::Internal("response body already taken".into()))?;
    let stream = body
        .stream()
        .map_err(|_| ConnectorError::Internal("response stream already taken".into()))?;
    // Sized from the declared length, so an 11 MB page is one allocation instead of a
    // doubling series that leaves the instance's memory half as large again. Capped: the
    // length is the provider's word, and a lie must not reserve more than a real page.
    let declared = content_length.map_or(0, |n| n.min(MAX_RESERVED_BYTES as u64) as usize);
    let mut buf: Vec<u8> = Vec::with_capacity(declared);
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                if buf.len().saturating_add(chunk.len()) > MAX_BODY_BYTES {
                    return Err(too_large(&ErrorCode::HttpResponseBodySize(Some(
                        MAX_BODY_BYTES as u64,
                    ))));
                }
                buf.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(match http_error_code(&e) {
                    Some(code @ ErrorCode::HttpResponseBodySize(_)) => too_large(&code),
                    Some(code) => transient("the response was cut off", &error_code(&code)),
                    // An opaque stream error. When it is the host's body-size cap, the
                    // host knows that from its own record and classifies the failure; the
                    // debug text is for the message only, never matched.
                    None => transient("the response was cut off", &e.to_debug_string()),
                });
            }
        }
    }
    drop(stream);
    let _trailers = IncomingBody::finish(body);
    drop(resp);
    out.body = String::from_utf8(buf).map_err(|_| {
        ConnectorError::provider_changed("http", "$", "the response body is not UTF-8")
    })?;
    Ok(out)
}
