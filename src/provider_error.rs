//! The mapping from a provider's HTTP status and error body to the contract's typed
//! errors, and the redaction of key-like text from anything the provider says.

use serde_json::Value;

use crate::capability::{Capability, Source};
use crate::model::{ConnectorError, FieldError};
use crate::normalize::{CODE_REVIEWS, CODE_REVIEW_RESPONSES, WORKSPACE_USAGE};
use crate::settings::{
    ADMIN_KEY_HELP, ANALYTICS_KEY_HELP, CHATGPT_WORKSPACE_ID, WORKSPACE_ID_HELP,
};
use crate::transport::HttpResponse;

/// Longest provider message quoted in an error, in characters.
const MAX_QUOTED: usize = 300;

/// Map a non-2xx response to a typed error; `Ok(())` for a 2xx.
pub fn classify(resp: &HttpResponse, capability: Capability) -> Result<(), ConnectorError> {
    let status = resp.status;
    if (200..300).contains(&status) {
        return Ok(());
    }
    if capability.source() == Source::Chatgpt {
        return Err(classify_analytics(resp, capability));
    }
    let (message, kind) = provider_error(&resp.body);
    let said = if message.is_empty() {
        String::new()
    } else {
        format!(
            " OpenAI said: \"{}\"",
            truncate_chars(&redact_keys(&message), MAX_QUOTED)
        )
    };
    let request = request_note(resp);
    let insufficient = kind.as_deref() == Some("insufficient_permissions")
        || message
            .to_ascii_lowercase()
            .contains("insufficient permissions")
        || message.contains("Missing scopes");
    match status {
        401 if !insufficient => Err(ConnectorError::Unauthorized(format!(
            "OpenAI rejected the API Token: it is unknown, revoked or mistyped.{said}{request} {ADMIN_KEY_HELP}"
        ))),
        401 | 403 => Err(ConnectorError::Forbidden(format!(
            "The API Token was accepted but cannot read {} (it needs an Admin API key with the {} scope; project keys never have it).{said}{request} {ADMIN_KEY_HELP}",
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

/// ` (request req_…)` when the response names a plain request id, for support.
fn request_note(resp: &HttpResponse) -> String {
    resp.request_id
        .as_deref()
        .filter(|id| {
            id.len() <= 64
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default()
}

/// A non-2xx answer of the Codex Analytics API as a typed error. Its bodies are
/// `{"detail": "…"}`, `{"detail": [{"loc": […], "msg": "…", "type": "…"}]}` (parameters
/// refused) or the Platform's `{"error": …}` shapes; each is read, none is required.
///
/// - 401: the key is unknown, revoked or mistyped → `unauthorized` (unless the body says a
///   scope or permission is missing: then as 403).
/// - 403: the key may not read the analytics → `forbidden`, saying how to get a key with the
///   `codex.enterprise.analytics.read` scope.
/// - 404: the workspace is unknown to the API (or the key's workspace is another one) →
///   `invalid-settings` on `chatgpt_workspace_id`, saying where the id is shown. This class
///   names the field to fix, and like `forbidden` it stops the run without a retry.
/// - 422: the API refused our parameters (e.g. a `start_time` beyond its history) →
///   `provider-changed`, at the parameter the detail names (`query.start_time`), with its
///   `msg`: the connector asks only for what the API documents, so a refusal means its rules
///   changed.
/// - 429 → `rate-limited` with `Retry-After`; 408, 409, 5xx → `transient`; other → `internal`.
pub fn classify_analytics(resp: &HttpResponse, capability: Capability) -> ConnectorError {
    let status = resp.status;
    let detail = analytics_error(&resp.body);
    let said = if detail.message.is_empty() {
        String::new()
    } else {
        format!(
            " The API said: \"{}\"",
            truncate_chars(&redact_keys(&detail.message), MAX_QUOTED)
        )
    };
    let request = request_note(resp);
    let lower = detail.message.to_ascii_lowercase();
    let permission = lower.contains("scope")
        || lower.contains("permission")
        || lower.contains("not allowed")
        || lower.contains("forbidden");
    match status {
        401 if !permission => ConnectorError::Unauthorized(format!(
            "The Codex Analytics API rejected the analytics API key: it is unknown, revoked or mistyped.{said}{request} {ANALYTICS_KEY_HELP}"
        )),
        401 | 403 => ConnectorError::Forbidden(format!(
            "The analytics API key was accepted but cannot read {}: it lacks the {} scope (the workspace Admin key permission \"Codex analytics API: Read\").{said}{request} {ANALYTICS_KEY_HELP}",
            capability.what(),
            capability.scope()
        )),
        404 => ConnectorError::InvalidSettings(vec![FieldError {
            field: CHATGPT_WORKSPACE_ID.into(),
            message: format!(
                "The Codex Analytics API does not know this workspace (HTTP 404).{said}{request} Check the workspace id: {WORKSPACE_ID_HELP} The analytics key must belong to the same workspace (or, for a Platform key scoped by support, to its organization), and the API is offered to Enterprise and Edu workspaces."
            ),
        }]),
        // The stream, not the endpoint: `usage` would name the Platform's stream.
        422 => ConnectorError::provider_changed(
            match capability {
                Capability::CodeReviews => CODE_REVIEWS,
                Capability::CodeReviewResponses => CODE_REVIEW_RESPONSES,
                _ => WORKSPACE_USAGE,
            },
            detail.at.unwrap_or_else(|| "$".into()),
            format!(
                "the Codex Analytics API refused the request's parameters (HTTP 422).{said}{request}"
            ),
        ),
        429 => ConnectorError::RateLimited {
            retry_after_ms: resp.retry_after.as_deref().and_then(parse_retry_after_ms),
            message: format!("The Codex Analytics API rate-limited the request.{said}{request}"),
        },
        408 | 409 | 500..=599 => ConnectorError::Transient(format!(
            "The Codex Analytics API answered HTTP {status}; try again later.{said}{request}"
        )),
        _ => ConnectorError::Internal(format!(
            "The Codex Analytics API refused the request with HTTP {status}.{said}{request}"
        )),
    }
}

/// What an analytics error body says: its message(s), and the parameter a 422 names.
#[derive(Debug, Default, PartialEq, Eq)]
struct AnalyticsError {
    message: String,
    /// `loc` of the first `detail` entry, joined with `.` (`query.start_time`).
    at: Option<String>,
}

/// Most `detail` entries quoted.
const MAX_DETAILS: usize = 5;

fn analytics_error(body: &str) -> AnalyticsError {
    let Ok(Value::Object(mut top)) = serde_json::from_str::<Value>(body) else {
        return AnalyticsError::default();
    };
    match top.remove("detail") {
        Some(Value::String(m)) => AnalyticsError {
            message: m,
            at: None,
        },
        Some(Value::Array(items)) => {
            let mut at = None;
            let mut msgs = Vec::new();
            for item in items.iter().take(MAX_DETAILS) {
                let loc = item.get("loc").and_then(Value::as_array).map(|parts| {
                    parts
                        .iter()
                        .take(8)
                        .map(|p| match p {
                            Value::String(s) => truncate_chars(s, 40),
                            Value::Number(n) => n.to_string(),
                            _ => "?".into(),
                        })
                        .collect::<Vec<_>>()
                        .join(".")
                });
                let msg = item.get("msg").and_then(Value::as_str).unwrap_or("");
                if at.is_none() {
                    at = loc.clone().filter(|l| !l.is_empty());
                }
                match (loc, msg) {
                    (Some(l), m) if !l.is_empty() && !m.is_empty() => {
                        msgs.push(format!("{l}: {m}"))
                    }
                    (_, m) if !m.is_empty() => msgs.push(m.to_string()),
                    _ => {}
                }
            }
            AnalyticsError {
                message: msgs.join("; "),
                at: at.map(|a| redact_keys(&a)),
            }
        }
        _ => {
            // The Platform's shapes, should the API answer with them.
            let (message, _) = provider_error(body);
            AnalyticsError { message, at: None }
        }
    }
}

/// `Retry-After` as integer or fractional seconds → milliseconds, at most a day (an HTTP
/// date is ignored: the host then backs off on its own schedule).
pub fn parse_retry_after_ms(v: &str) -> Option<u64> {
    let secs: f64 = v.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // in range of u64 after `min`; `as` saturates anyway
    Some((secs * 1000.0).min(86_400_000.0) as u64)
}

/// The provider's error message and type, from either body shape:
/// `{"error":{"message":…,"type":…}}` or `{"error":"…"}`. A body that is not JSON gives
/// neither; a repeated key counts with its last value.
fn provider_error(body: &str) -> (String, Option<String>) {
    let Ok(Value::Object(mut top)) = serde_json::from_str::<Value>(body) else {
        return (String::new(), None);
    };
    match top.remove("error") {
        Some(Value::String(m)) => (m, None),
        Some(Value::Object(mut e)) => {
            let text = |v: Option<Value>| match v {
                Some(Value::String(s)) => Some(s),
                _ => None,
            };
            (
                text(e.remove("message")).unwrap_or_default(),
                text(e.remove("type")),
            )
        }
        _ => (String::new(), None),
    }
}

/// Characters that make up an API key after `sk-`; `*` stands for characters the provider
/// masked.
fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*'
}

/// The kinds of keys, as written after `sk-`: naming one documents a kind, it reveals
/// nothing.
const KIND_PREFIXES: [&str; 4] = ["admin-", "proj-", "svcacct-", "None-"];
/// Fewer key characters than this after `sk-` (and its kind) are documentation
/// (`sk-admin-…`), not a key.
const MIN_SECRET_CHARS: usize = 8;

/// Replace whatever looks like a real API key with `[redacted key]`, so a provider
/// message that echoes part of a key never reaches logs or history: `sk-` at the start of
/// a word followed by at least 8 key characters (after the kind, e.g. `admin-`), or by any
/// masked (`*`) ones. Mentions of the kinds of keys (`sk-admin-…`, "those start with
/// sk-proj-") stay readable.
pub fn redact_keys(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("sk-") {
        let starts_word = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '-'));
        let after = &rest[i + 3..];
        let run = after.find(|c: char| !is_key_char(c)).unwrap_or(after.len());
        let key = &after[..run];
        let body = KIND_PREFIXES
            .iter()
            .find_map(|k| key.strip_prefix(k))
            .unwrap_or(key);
        let secret =
            body.contains('*') || body.chars().filter(|c| *c != '-').count() >= MIN_SECRET_CHARS;
        if starts_word && secret {
            out.push_str(&rest[..i]);
            out.push_str("[redacted key]");
        } else {
            out.push_str(&rest[..i + 3 + run]);
        }
        rest = &after[run..];
    }
    out.push_str(rest);
    out
}

/// At most `max` characters of `s`, with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((at, _)) => format!("{}…", &s[..at]),
    }
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
    fn success_is_ok() {
        for s in [200, 204, 299] {
            assert_eq!(
                classify(&resp(s, "garbage"), Capability::PlatformUsage),
                Ok(())
            );
        }
    }

    #[test]
    fn unknown_key_is_unauthorized_and_redacted() {
        let r = resp(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-admin****wxyz. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#,
        );
        match classify(&r, Capability::PlatformUsage).unwrap_err() {
            ConnectorError::Unauthorized(m) => {
                assert!(!m.contains("sk-admin****"), "{m}");
                assert!(!m.contains("wxyz"), "{m}");
                assert!(m.contains("[redacted key]") && m.contains("req_123"), "{m}");
                assert!(m.contains(ADMIN_KEY_HELP), "{m}");
                assert!(!m.contains("ChatGPT"), "{m}");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn both_permission_shapes_are_forbidden() {
        let bare = resp(
            403,
            r#"{"error":"You have insufficient permissions for this operation. Missing scopes: api.usage.read."}"#,
        );
        let obj = resp(
            401,
            r#"{"error":{"message":"You have insufficient permissions for this operation. Missing scopes: api.management.read.","type":"insufficient_permissions","param":null,"code":null}}"#,
        );
        let typed = resp(
            401,
            r#"{"error":{"message":"no","type":"insufficient_permissions"}}"#,
        );
        for (r, cap, scope) in [
            (bare, Capability::PlatformUsage, "api.usage.read"),
            (obj, Capability::PlatformDirectory, "api.management.read"),
            (typed, Capability::PlatformUsage, "api.usage.read"),
        ] {
            match classify(&r, cap).unwrap_err() {
                ConnectorError::Forbidden(m) => {
                    assert!(
                        m.contains(scope) && m.contains("Manage → Admin API Keys"),
                        "{m}"
                    );
                    assert!(!m.contains("ChatGPT"), "{m}");
                }
                e => panic!("{e:?}"),
            }
        }
        // a 403 whatever the body
        assert!(matches!(
            classify(&resp(403, "<html>"), Capability::PlatformUsage),
            Err(ConnectorError::Forbidden(_))
        ));
    }

    #[test]
    fn rate_limit_transient_and_others() {
        let mut r = resp(
            429,
            r#"{"error":{"message":"slow down","type":"rate_limit_exceeded"}}"#,
        );
        r.retry_after = Some("2".into());
        assert_eq!(
            classify(&r, Capability::PlatformUsage).unwrap_err(),
            ConnectorError::RateLimited {
                retry_after_ms: Some(2000),
                message:
                    "OpenAI rate-limited the request. OpenAI said: \"slow down\" (request req_123)"
                        .into()
            }
        );
        for s in [408, 409, 500, 502, 503, 504, 599] {
            assert_eq!(
                classify(&resp(s, "<html>"), Capability::PlatformUsage)
                    .unwrap_err()
                    .class(),
                crate::model::ErrorClass::Transient
            );
        }
        for s in [301, 400, 404, 422] {
            assert_eq!(
                classify(&resp(s, "{}"), Capability::PlatformUsage)
                    .unwrap_err()
                    .class(),
                crate::model::ErrorClass::Internal
            );
        }
        // a request id that is not a plain token is left out
        let mut odd = resp(500, "");
        odd.request_id = Some("req 1\nInjected".into());
        let m = classify(&odd, Capability::PlatformUsage)
            .unwrap_err()
            .message();
        assert!(!m.contains("Injected"), "{m}");
    }

    #[test]
    fn error_bodies() {
        assert_eq!(provider_error(r#"{"error":"x"}"#), ("x".into(), None));
        assert_eq!(
            provider_error(r#"{"error":{"message":"m","type":"t","code":null}}"#),
            ("m".into(), Some("t".into()))
        );
        assert_eq!(
            provider_error(r#"{"error":{"message":1,"type":["t"]}}"#),
            (String::new(), None)
        );
        assert_eq!(
            provider_error(r#"{"error":"first","error":"last"}"#),
            ("last".into(), None)
        );
        for junk in [
            "",
            "null",
            "[]",
            r#"{"error":"x"} trailing"#,
            r#"{"error":null}"#,
            "<html>",
        ] {
            assert_eq!(provider_error(junk), (String::new(), None), "{junk}");
        }
    }

    #[test]
    fn long_messages_are_cut() {
        let body = format!(r#"{{"error":"{}"}}"#, "é".repeat(1000));
        let m = classify(&resp(500, &body), Capability::PlatformUsage)
            .unwrap_err()
            .message();
        assert!(m.contains(&format!("{}…\"", "é".repeat(MAX_QUOTED))), "{m}");
        assert!(!m.contains(&"é".repeat(MAX_QUOTED + 1)), "{m}");
    }

    #[test]
    fn retry_after() {
        for (v, want) in [
            ("2", Some(2000)),
            (" 3 ", Some(3000)),
            ("0.5", Some(500)),
            ("1.25", Some(1250)),
            ("0", Some(0)),
            ("1e2", Some(100_000)),
            ("999999999", Some(86_400_000)),
            ("-1", None),
            ("inf", None),
            ("NaN", None),
            ("", None),
            ("Wed, 21 Oct 2015 07:28:00 GMT", None),
        ] {
            assert_eq!(parse_retry_after_ms(v), want, "{v:?}");
        }
    }

    #[test]
    fn redaction_keeps_documentation_of_key_shapes() {
        for kept in [
            "Admin keys look like sk-admin-… and project keys sk-proj-….",
            "those start with sk-admin-.",
            "a service-account key (sk-svcacct-…)",
            "keys begin with sk-",
            "short sk-abc123 is no key",
            "task-abcdefghijklmnop is a word",
        ] {
            assert_eq!(redact_keys(kept), kept);
        }
        for (text, want) in [
            (
                "key sk-abcdefgh12, and 'sk-proj-AbCdEfGhIjKl'.",
                "key [redacted key], and '[redacted key]'.",
            ),
            (
                "Incorrect API key provided: sk-admin****wxyz.",
                "Incorrect API key provided: [redacted key].",
            ),
            ("(sk-svcacct-abcdefgh1234)", "([redacted key])"),
            ("sk-***", "[redacted key]"),
            ("sk-admin-AbCdEfGh", "[redacted key]"),
            ("sk-sk-abcdefghij", "[redacted key]"),
        ] {
            assert_eq!(redact_keys(text), want, "{text}");
        }
    }

    fn analytics(status: u16, body: &str) -> ConnectorError {
        classify(&resp(status, body), Capability::WorkspaceUsage).unwrap_err()
    }

    #[test]
    fn analytics_401_is_unauthorized_and_says_which_key() {
        match analytics(401, r#"{"detail":"Invalid API key"}"#) {
            ConnectorError::Unauthorized(m) => {
                assert!(
                    m.contains("analytics API key") && m.contains("Invalid API key"),
                    "{m}"
                );
                assert!(
                    m.contains(ANALYTICS_KEY_HELP) && m.contains("req_123"),
                    "{m}"
                );
                assert!(!m.contains("Manage → Admin API Keys"), "{m}");
            }
            e => panic!("{e:?}"),
        }
        // the Platform's object form, echoing a key
        match analytics(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-cgpt-AbCdEfGhIjKl."}}"#,
        ) {
            ConnectorError::Unauthorized(m) => assert!(!m.contains("AbCdEfGh"), "{m}"),
            e => panic!("{e:?}"),
        }
        // a 401 that names a missing scope is a permission problem
        assert_eq!(
            analytics(
                401,
                r#"{"detail":"Missing scope: codex.enterprise.analytics.read"}"#
            )
            .class(),
            crate::model::ErrorClass::Forbidden
        );
    }

    #[test]
    fn analytics_403_says_how_to_get_a_scoped_key() {
        for cap in [
            Capability::WorkspaceUsage,
            Capability::CodeReviews,
            Capability::CodeReviewResponses,
        ] {
            let e = classify(
                &resp(
                    403,
                    r#"{"detail":"Missing scope: codex.enterprise.analytics.read"}"#,
                ),
                cap,
            )
            .unwrap_err();
            match e {
                ConnectorError::Forbidden(m) => {
                    assert!(m.contains("codex.enterprise.analytics.read"), "{m}");
                    assert!(m.contains("Credentials → Admin keys"), "{m}");
                    assert!(m.contains("Codex analytics API: Read"), "{m}");
                    assert!(m.contains(cap.what()), "{m}");
                }
                e => panic!("{e:?}"),
            }
        }
        assert_eq!(
            analytics(403, "<html>").class(),
            crate::model::ErrorClass::Forbidden
        );
    }

    #[test]
    fn analytics_404_is_the_workspace_id_to_fix() {
        match analytics(404, r#"{"detail":"Workspace not found"}"#) {
            ConnectorError::InvalidSettings(fields) => {
                assert_eq!(fields.len(), 1);
                assert_eq!(fields[0].field, "chatgpt_workspace_id");
                let m = &fields[0].message;
                assert!(m.contains("Workspace not found"), "{m}");
                assert!(m.contains("ChatGPT Admin → Workspace details"), "{m}");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn analytics_422_names_the_parameter_and_its_msg() {
        let body = r#"{"detail":[{"loc":["query","start_time"],"msg":"start_time must be within the last 90 days","type":"value_error"},{"loc":["query","limit",0],"msg":"too big","type":"x"}]}"#;
        match classify(&resp(422, body), Capability::CodeReviews).unwrap_err() {
            ConnectorError::ProviderChanged {
                stream,
                field,
                message,
            } => {
                assert_eq!(stream, "code_reviews");
                assert_eq!(field, "query.start_time");
                assert!(
                    message.contains("query.start_time: start_time must be within the last 90 days; query.limit.0: too big"),
                    "{message}"
                );
            }
            e => panic!("{e:?}"),
        }
        // the workspace usage stream by its name (its endpoint is `usage`, like the
        // Platform's stream)
        match analytics(422, r#"{"detail":"Unprocessable Entity"}"#) {
            ConnectorError::ProviderChanged { stream, field, .. } => {
                assert_eq!((stream.as_str(), field.as_str()), ("workspace_usage", "$"))
            }
            e => panic!("{e:?}"),
        }
        for odd in [
            r#"{"detail":"bad"}"#,
            r#"{"detail":[1,{"msg":7}]}"#,
            "[]",
            "",
        ] {
            match analytics(422, odd) {
                ConnectorError::ProviderChanged { field, .. } => assert_eq!(field, "$", "{odd}"),
                e => panic!("{odd}: {e:?}"),
            }
        }
    }

    #[test]
    fn analytics_rate_limits_outages_and_others() {
        let mut r = resp(
            429,
            r#"{"detail":"Rate limit exceeded. Please retry later."}"#,
        );
        r.retry_after = Some("7".into());
        match classify(&r, Capability::WorkspaceUsage).unwrap_err() {
            ConnectorError::RateLimited {
                retry_after_ms,
                message,
            } => {
                assert_eq!(retry_after_ms, Some(7000));
                assert!(message.contains("Rate limit exceeded"), "{message}");
            }
            e => panic!("{e:?}"),
        }
        for s in [408, 409, 500, 503] {
            assert_eq!(
                analytics(s, r#"{"detail":"Internal server error."}"#).class(),
                crate::model::ErrorClass::Transient
            );
        }
        for s in [301, 400, 405] {
            assert_eq!(
                analytics(s, "{}").class(),
                crate::model::ErrorClass::Internal
            );
        }
        // a long list of details is cut
        let many: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"loc":["query","p{i}"],"msg":"m{i}"}}"#))
            .collect();
        let m = analytics(422, &format!(r#"{{"detail":[{}]}}"#, many.join(","))).message();
        assert!(m.contains("p4: m4") && !m.contains("p5: m5"), "{m}");
    }

    #[test]
    fn truncation() {
        assert_eq!(truncate_chars("abc", 3), "abc");
        assert_eq!(truncate_chars("abcd", 3), "abc…");
        assert_eq!(truncate_chars("ééé", 2), "éé…");
    }
}
