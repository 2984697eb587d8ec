//! The OpenAI Admin API as the connector sees it: a `Transport` that performs one GET
//! (over wasi:http in the component, a fake in native tests), and the pure mapping from
//! HTTP status + body to the contract's typed errors.

use crate::json::Parser;
use crate::model::ConnectorError;
use crate::settings::{ADMIN_KEY_HELP, CHATGPT_NOTE};

/// The host name every request goes to; `describe` declares it as the only outbound host.
pub const API_HOST: &str = "api.openai.com";

/// One HTTP response, reduced to what the connector needs.
#[derive(Clone, Debug, Default)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
    /// `Retry-After` header, if any.
    pub retry_after: Option<String>,
    /// `openai-organization` header: the organization the key belongs to.
    pub organization: Option<String>,
    /// `x-request-id` header, quoted in errors so support can find the call.
    pub request_id: Option<String>,
}

/// Performs GET requests against `https://api.openai.com` with the configured token.
pub trait Transport {
    /// GET `path_and_query` (starting with `/v1/`). Transport failures (connect, timeout,
    /// reset, body too large) come back as `transient` errors.
    fn get(&mut self, path_and_query: &str) -> Result<HttpResponse, ConnectorError>;
    /// Current time, Unix seconds.
    fn now(&self) -> i64;
}

/// What a call was for, so errors can say what the key could not do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    UsageRead,
    DirectoryRead,
}

impl Capability {
    pub fn name(self) -> &'static str {
        match self {
            Capability::UsageRead => "usage-read",
            Capability::DirectoryRead => "directory-read",
        }
    }
    fn scope(self) -> &'static str {
        match self {
            Capability::UsageRead => "api.usage.read",
            Capability::DirectoryRead => "api.management.read",
        }
    }
    fn what(self) -> &'static str {
        match self {
            Capability::UsageRead => "organization usage",
            Capability::DirectoryRead => "the organization's users, projects and keys",
        }
    }
}

/// Map a non-2xx response to a typed error; `Ok(())` for success.
pub fn classify(resp: &HttpResponse, capability: Capability) -> Result<(), ConnectorError> {
    let status = resp.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    let (message, kind) = provider_error(&resp.body);
    let said = if message.is_empty() {
        String::new()
    } else {
        format!(
            " OpenAI said: \"{}\"",
            truncate_chars(&redact_keys(&message), 300)
        )
    };
    let request = resp
        .request_id
        .as_deref()
        .filter(|id| {
            id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default();
    let insufficient = kind.as_deref() == Some("insufficient_permissions")
        || find(&message.to_ascii_lowercase(), "insufficient permissions").is_some()
        || find(&message, "Missing scopes").is_some();
    match status {
        401 if !insufficient => Err(ConnectorError::Unauthorized(format!(
            "OpenAI rejected the API Token: it is unknown, revoked or mistyped.{said}{request} {ADMIN_KEY_HELP}"
        ))),
        401 | 403 => Err(ConnectorError::NotAdmin(format!(
            "The API Token was accepted but cannot read {} (it needs an Admin API key with the {} scope; project keys never have it).{said}{request} {ADMIN_KEY_HELP} {CHATGPT_NOTE}",
            capability.what(),
            capability.scope()
        ))),
        429 => Err(ConnectorError::RateLimited {
            retry_after_ms: resp.retry_after.as_deref().and_then(parse_retry_after_ms),
            message: format!("OpenAI rate-limited the request.{said}{request}"),
        }),
        408 | 409 | 500..=599 => Err(ConnectorError::Transient(format!(
            "OpenAI answered HTTP {status}; try again later.{said}{request}"
        ))),
        _ => Err(ConnectorError::Internal(format!(
            "OpenAI refused the request with HTTP {status}.{said}{request}"
        ))),
    }
}

/// `Retry-After` as integer or fractional seconds → milliseconds (HTTP dates are ignored:
/// the caller then backs off on its own schedule).
pub fn parse_retry_after_ms(v: &str) -> Option<u64> {
    let secs = crate::json::parse_f64(v.trim())?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some((secs * 1000.0).min(86_400_000.0) as u64)
}

/// Byte offset of the first `needle` in `hay` (a plain loop: the standard library's
/// two-way searcher is kilobytes of component for these short needles).
fn find(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w == needle.as_bytes())
}

/// The provider's error message and type, from either body shape:
/// `{"error":{"message":…,"type":…}}` or `{"error":"…"}`.
/// The body must be valid JSON throughout; a repeated key counts with its last value.
fn provider_error(body: &str) -> (String, Option<String>) {
    // the last `error` member's message and type, if they are strings
    let mut found: (Option<String>, Option<String>) = (None, None);
    let mut p = Parser::strict(body);
    let read = p.object(&mut |p, k| {
        if k != "error" {
            return p.skip();
        }
        found = (None, None);
        match p.peek() {
            Some(b'"') => found.0 = Some(p.string()?),
            Some(b'{') => p.object(&mut |p, k| {
                let slot = match k {
                    "message" => &mut found.0,
                    "type" => &mut found.1,
                    _ => return p.skip(),
                };
                *slot = if p.peek() == Some(b'"') {
                    Some(p.string()?)
                } else {
                    p.skip()?;
                    None
                };
                Ok(())
            })?,
            _ => p.skip()?,
        }
        Ok(())
    });
    match read.and_then(|()| p.end()) {
        Ok(()) => (found.0.unwrap_or_default(), found.1),
        Err(_) => (String::new(), None),
    }
}

/// Replace anything that looks like an API key (`sk-…`) with a fixed marker, so provider
/// messages that echo part of a key never reach logs or history.
pub fn redact_keys(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = find(rest, "sk-") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',' || c == ')')
            .unwrap_or(tail.len());
        let end = tail[..end].trim_end_matches('.').len();
        out.push_str("[redacted key]");
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().nth(max).is_none() {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

/// Percent-encode a query value (RFC 3986 unreserved characters pass through).
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            body: body.into(),
            request_id: Some("req_123".into()),
            ..Default::default()
        }
    }

    #[test]
    fn unknown_key_is_unauthorized_and_redacted() {
        let r = resp(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-admin****wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        match classify(&r, Capability::UsageRead).unwrap_err() {
            ConnectorError::Unauthorized(m) => {
                assert!(!m.contains("sk-admin****"), "{m}");
                assert!(m.contains("[redacted key]") && m.contains("req_123"), "{m}");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn both_permission_shapes_are_not_admin() {
        let bare = resp(
            403,
            r#"{"error":"You have insufficient permissions for this operation. Missing scopes: api.usage.read."}"#,
        );
        let obj = resp(
            401,
            r#"{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: api.management.read.","type":"insufficient_permissions","param":null,"code":null}}"#,
        );
        for (r, cap, scope) in [
            (bare, Capability::UsageRead, "api.usage.read"),
            (obj, Capability::DirectoryRead, "api.management.read"),
        ] {
            match classify(&r, cap).unwrap_err() {
                ConnectorError::NotAdmin(m) => {
                    assert!(
                        m.contains(scope) && m.contains("Manage → Admin API Keys"),
                        "{m}"
                    );
                }
                e => panic!("{e:?}"),
            }
        }
    }

    #[test]
    fn rate_limit_and_transient() {
        let mut r = resp(
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#,
        );
        r.retry_after = Some("2".into());
        assert_eq!(
            classify(&r, Capability::UsageRead).unwrap_err(),
            ConnectorError::RateLimited {
                retry_after_ms: Some(2000),
                message:
                    "OpenAI rate-limited the request. OpenAI said: \"slow down\" (request req_123)"
                        .into()
            }
        );
        for s in [500, 502, 503, 504] {
            assert_eq!(
                classify(&resp(s, "<html>"), Capability::UsageRead)
                    .unwrap_err()
                    .class(),
                "transient"
            );
        }
        assert_eq!(parse_retry_after_ms("0.5"), Some(500));
        assert_eq!(parse_retry_after_ms("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn redaction_and_encoding() {
        assert_eq!(
            redact_keys("key sk-abc123, and 'sk-proj-x'."),
            "key [redacted key], and '[redacted key]'."
        );
        assert_eq!(encode("a b/c+d"), "a%20b%2Fc%2Bd");
    }
}

#[cfg(test)]
mod float_tests {
    use super::*;

    /// The replaced implementation, as the oracle.
    fn with_std(v: &str) -> Option<u64> {
        let secs: f64 = v.trim().parse().ok()?;
        if !secs.is_finite() || secs < 0.0 {
            return None;
        }
        Some((secs * 1000.0).min(86_400_000.0) as u64)
    }

    #[test]
    fn retry_after_matches_std_parse() {
        let mut cases: Vec<String> = [
            "0",
            "-0",
            "+2",
            "2",
            "0.5",
            ".5",
            "5.",
            ".",
            "",
            "-",
            "+",
            "e5",
            "1e",
            "1e+",
            "1e-3",
            "1E3",
            "1.5e2",
            "-1",
            "-0.0",
            "inf",
            "-inf",
            "NaN",
            "infinity",
            "1e308",
            "1e309",
            "1.7976931348623157e308",
            "1e-400",
            "0e999",
            "86400",
            "86400.0001",
            "86399.9999",
            "1_000",
            "0x10",
            " 3 ",
            "3 s",
            "1..2",
            "1.2.3",
            "00012.50",
            "1.005",
            "0.001",
            "0.0015",
            "123456789012345",
            "0.000000000000000000000000001e30",
            "Wed, 21 Oct 2015 07:28:00 GMT",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut x: u64 = 0x243F_6A88_85A3_08D3;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let int = x % 100_000;
            let frac_digits = (x >> 20) % 8;
            let frac = (x >> 32) % 10u64.pow(frac_digits as u32);
            cases.push(if frac_digits == 0 {
                format!("{int}")
            } else {
                format!("{int}.{frac:0w$}", w = frac_digits as usize)
            });
            cases.push(format!(
                "{}e{}",
                (x >> 8) % 1_000_000,
                ((x >> 40) % 45) as i64 - 22
            ));
        }
        for c in &cases {
            assert_eq!(parse_retry_after_ms(c), with_std(c), "{c:?}");
        }
    }
}
