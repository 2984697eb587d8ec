//! Component glue: WIT bindings, conversions between WIT and plain Rust types, instance
//! state (the settings `configure` accepted) and the wasi:http transport.
//!
//! HTTP uses the raw `wasi:http` calls (`outgoing-handler.handle`, `blocking-read` until
//! `closed`): the toolchain notes measured connection resets with a higher-level client.

use std::cell::RefCell;

wit_bindgen::generate!({
    path: "wit",
    world: "connector-plugin",
    generate_all,
});

use analytics::connector::host_log::{self, Level};
use analytics::connector::types as wit;
use exports::analytics::connector::connector::Guest;
use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, IncomingBody, Method, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::StreamError;

use crate::client::{HttpResponse, Transport, API_HOST};
use crate::model::{self, ConnectorError, SettingKind, SettingValue};
use crate::settings::{self, Settings};

/// Largest response body the connector reads; the host enforces its own cap too.
const MAX_BODY_BYTES: usize = 256 * 1024 * 1024;
const READ_CHUNK: u64 = 1024 * 1024;
const NS_PER_SEC: u64 = 1_000_000_000;

/// See `arena`: `normalize` builds its records in a region instead of one `malloc` each.
#[global_allocator]
// SAFETY: a component instance has one thread.
static ALLOC: crate::arena::CallArena<std::alloc::System> =
    unsafe { crate::arena::CallArena::new(std::alloc::System) };

thread_local! {
    static SETTINGS: RefCell<Option<Settings>> = const { RefCell::new(None) };
}

fn configured() -> Result<Settings, wit::ConnectorError> {
    SETTINGS.with(|s| s.borrow().clone()).ok_or_else(|| {
        to_wit_error(ConnectorError::Internal(
            "call configure before this function".into(),
        ))
    })
}

struct Component;

impl Guest for Component {
    fn describe() -> wit::ConnectorInfo {
        let d = crate::describe::describe();
        wit::ConnectorInfo {
            id: d.id.into(),
            name: d.name.into(),
            version: d.version.into(),
            description: d.description.into(),
            settings: d
                .settings
                .into_iter()
                .map(|f| wit::SettingField {
                    key: f.key.into(),
                    label: f.label.into(),
                    kind: match f.kind {
                        SettingKind::Text => wit::SettingKind::Text,
                        SettingKind::Secret => wit::SettingKind::Secret,
                        SettingKind::Number => wit::SettingKind::Number,
                        SettingKind::Choice => wit::SettingKind::Choice,
                        SettingKind::List => wit::SettingKind::List,
                        SettingKind::Boolean => wit::SettingKind::Boolean,
                    },
                    required: f.required,
                    help: f.help,
                    default_value: f.default_value,
                    choices: f.choices.into_iter().map(String::from).collect(),
                    min: f.min,
                    max: f.max,
                    max_length: f.max_length,
                })
                .collect(),
            streams: d
                .streams
                .into_iter()
                .map(|s| wit::StreamInfo {
                    name: s.name.into(),
                    description: s.description.into(),
                    primary_key: s.primary_key.into_iter().map(String::from).collect(),
                    json_schema: s.json_schema,
                    schema_version: s.schema_version,
                    mode: if s.incremental {
                        wit::SyncMode::Incremental
                    } else {
                        wit::SyncMode::FullRefresh
                    },
                })
                .collect(),
            hosts: d.hosts.into_iter().map(String::from).collect(),
            notes: d.notes,
        }
    }

    fn configure(input: Vec<wit::Setting>) -> Result<wit::Configured, wit::ConnectorError> {
        let input: Vec<(String, SettingValue)> = input
            .into_iter()
            .map(|s| {
                let v = match s.value {
                    wit::SettingValue::Text(t) => SettingValue::Text(t),
                    wit::SettingValue::Number(n) => SettingValue::Number(n),
                    wit::SettingValue::Boolean(b) => SettingValue::Boolean(b),
                    wit::SettingValue::List(l) => SettingValue::List(l),
                };
                (s.key, v)
            })
            .collect();
        match settings::parse(&input) {
            Ok(accepted) => {
                SETTINGS.with(|s| *s.borrow_mut() = Some(accepted.settings));
                Ok(wit::Configured {
                    notes: accepted.notes,
                })
            }
            Err(errors) => Err(to_wit_error(ConnectorError::InvalidSettings(errors))),
        }
    }

    fn validate_credentials() -> Result<wit::CredentialReport, wit::ConnectorError> {
        let s = configured()?;
        let mut t = WasiTransport { settings: &s };
        let r = crate::streams::validate(&mut t).map_err(to_wit_error)?;
        Ok(wit::CredentialReport {
            ok: r.ok,
            capabilities: r
                .capabilities
                .into_iter()
                .map(|c| wit::CapabilityCheck {
                    name: c.name,
                    granted: c.granted,
                    error_class: c.error_class,
                    message: c.message,
                })
                .collect(),
            organization: r.organization,
            notes: r.notes,
        })
    }

    fn pull_page(
        stream: String,
        checkpoint: Option<String>,
        cursor: Option<String>,
    ) -> Result<wit::Page, wit::ConnectorError> {
        // The response body may use the memory of the last `normalize`'s region.
        // SAFETY: that call's records were freed by its post-return.
        unsafe { ALLOC.release() };
        let s = configured()?;
        let mut t = WasiTransport { settings: &s };
        let p = crate::streams::pull_page(
            &mut t,
            &s,
            &stream,
            checkpoint.as_deref(),
            cursor.as_deref(),
        )
        .map_err(to_wit_error)?;
        log(
            Level::Debug,
            &format!(
                "{stream}: page of {} bytes, more: {}",
                p.raw.body.len(),
                p.next_cursor.is_some()
            ),
        );
        Ok(wit::Page {
            raw: wit::RawPage {
                stream: p.raw.stream,
                scope: p.raw.scope,
                fetched_at: p.raw.fetched_at,
                body: p.raw.body,
            },
            next_cursor: p.next_cursor,
            checkpoint: p.checkpoint,
            window: p.window.map(|(start, end)| wit::TimeWindow { start, end }),
            requests: p.requests,
        })
    }

    fn normalize(raw: wit::RawPage) -> Result<Vec<wit::NormalizedRecord>, wit::ConnectorError> {
        let s = configured()?;
        // The records' strings take about 1.6 bytes per byte of the page; the rest of the
        // region is for the call's own short-lived buffers.
        // SAFETY: the last call's records were freed by its post-return, and nothing else
        // outlives a call to `normalize`.
        unsafe { ALLOC.open(raw.body.len().saturating_mul(2).saturating_add(1 << 20)) };
        let _close = Close;
        let raw = model::RawPage {
            stream: raw.stream,
            scope: raw.scope,
            fetched_at: raw.fetched_at,
            body: raw.body,
        };
        crate::normalize::normalize(&raw, &s)
            .map(|recs| {
                recs.into_iter()
                    .map(|r| wit::NormalizedRecord {
                        stream: r.stream,
                        key: r.key,
                        schema_version: r.schema_version,
                        payload: r.payload,
                    })
                    .collect()
            })
            .map_err(to_wit_error)
    }
}

export!(Component);

/// Closes the allocator's region when `normalize` returns.
struct Close;

impl Drop for Close {
    fn drop(&mut self) {
        ALLOC.close();
    }
}

fn to_wit_error(e: ConnectorError) -> wit::ConnectorError {
    match e {
        ConnectorError::InvalidSettings(v) => wit::ConnectorError::InvalidSettings(
            v.into_iter()
                .map(|f| wit::FieldError {
                    field: f.field,
                    message: f.message,
                })
                .collect(),
        ),
        ConnectorError::Unauthorized(m) => wit::ConnectorError::Unauthorized(m),
        ConnectorError::NotAdmin(m) => wit::ConnectorError::NotAdmin(m),
        ConnectorError::RateLimited {
            retry_after_ms,
            message,
        } => wit::ConnectorError::RateLimited(wit::RateLimit {
            retry_after_ms,
            message,
        }),
        ConnectorError::Transient(m) => wit::ConnectorError::Transient(m),
        ConnectorError::ProviderChanged {
            stream,
            field,
            message,
        } => wit::ConnectorError::ProviderChanged(wit::ProviderChange {
            stream,
            field,
            message,
        }),
        ConnectorError::Internal(m) => wit::ConnectorError::Internal(m),
    }
}

fn log(level: Level, message: &str) {
    host_log::log(level, message);
}

/// GET requests over `wasi:http/outgoing-handler`. The token only ever goes into the
/// Authorization header.
struct WasiTransport<'a> {
    settings: &'a Settings,
}

impl Transport for WasiTransport<'_> {
    fn get(&mut self, path_and_query: &str) -> Result<HttpResponse, ConnectorError> {
        send_get(self.settings, path_and_query)
    }

    fn now(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

fn transient(what: &str, detail: &str) -> ConnectorError {
    let detail = crate::client::redact_keys(detail);
    ConnectorError::Transient(format!(
        "{what}: {}",
        crate::normalize::truncate(&detail, 200)
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

/// An HTTP error code as a short name, with its message where it has one. Only the codes
/// a GET can meet are named; the rest share one label (each name costs component bytes).
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

fn send_get(s: &Settings, path_and_query: &str) -> Result<HttpResponse, ConnectorError> {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (
            "authorization".into(),
            format!("Bearer {}", s.api_token).into_bytes(),
        ),
        ("accept".into(), b"application/json".to_vec()),
        (
            "user-agent".into(),
            concat!("codex-connector/", env!("CARGO_PKG_VERSION"))
                .as_bytes()
                .to_vec(),
        ),
    ];
    if let Some(org) = &s.organization_id {
        headers.push(("openai-organization".into(), org.as_bytes().to_vec()));
    }
    // Never format the header error: it could echo the value.
    let fields = Fields::from_list(&headers)
        .map_err(|_| ConnectorError::Internal("a request header was refused".into()))?;
    let req = OutgoingRequest::new(fields);
    let bad = |_| ConnectorError::Internal("could not build the request".into());
    req.set_method(&Method::Get).map_err(bad)?;
    req.set_scheme(Some(&Scheme::Https)).map_err(bad)?;
    req.set_authority(Some(API_HOST)).map_err(bad)?;
    req.set_path_with_query(Some(path_and_query)).map_err(bad)?;
    let body = req.body().map_err(bad)?;
    OutgoingBody::finish(body, None)
        .map_err(|e| transient("could not send the request", &error_code(&e)))?;

    let opts = RequestOptions::new();
    // The host caps these again; asking explicitly keeps a misconfigured host from
    // waiting on its (long) defaults.
    let _ = opts.set_connect_timeout(Some(10 * NS_PER_SEC));
    let _ = opts.set_first_byte_timeout(Some(60 * NS_PER_SEC));
    let _ = opts.set_between_bytes_timeout(Some(30 * NS_PER_SEC));

    let fut = outgoing_handler::handle(req, Some(opts)).map_err(|e| match e {
        ErrorCode::HttpRequestDenied => {
            ConnectorError::Internal(format!("the host denied the request to {API_HOST}"))
        }
        e => transient("could not send the request", &error_code(&e)),
    })?;
    fut.subscribe().block();
    let resp = match fut.get() {
        Some(Ok(Ok(resp))) => resp,
        Some(Ok(Err(ErrorCode::HttpRequestDenied))) => {
            return Err(ConnectorError::Internal(format!(
                "the host denied the request to {API_HOST}"
            )))
        }
        Some(Ok(Err(e @ ErrorCode::HttpResponseBodySize(_)))) => return Err(too_large(&e)),
        Some(Ok(Err(e))) => return Err(transient("the request to OpenAI failed", &error_code(&e))),
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
    drop(h);

    let body = resp
        .consume()
        .map_err(|_| ConnectorError::Internal("response body already taken".into()))?;
    let stream = body
        .stream()
        .map_err(|_| ConnectorError::Internal("response stream already taken".into()))?;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        match stream.blocking_read(READ_CHUNK) {
            Ok(chunk) => {
                if buf.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(too_large(&ErrorCode::HttpResponseBodySize(Some(
                        MAX_BODY_BYTES as u64,
                    ))));
                }
                buf.extend_from_slice(&chunk);
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(match wasi::http::types::http_error_code(&e) {
                    Some(code @ ErrorCode::HttpResponseBodySize(_)) => too_large(&code),
                    Some(code) => transient("the response was cut off", &error_code(&code)),
                    // The host's size cap can arrive as a plain stream error.
                    None if e
                        .to_debug_string()
                        .as_bytes()
                        .windows(9)
                        .any(|w| w == b"body size") =>
                    {
                        too_large(&ErrorCode::HttpResponseBodySize(None))
                    }
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
