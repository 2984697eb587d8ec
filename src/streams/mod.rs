//! The streams: which request to make next, how to read its envelope for paging, and
//! what cursor and checkpoint to hand back. Pure except for `Transport` calls.
//!
//! Four streams read the OpenAI Platform organization (`users`, `projects`, `api_keys`,
//! `usage`), three the ChatGPT workspace's Codex Analytics API (`workspace_usage`,
//! `code_reviews`, `code_review_responses`). A stream whose source is not configured
//! answers every `pull-page` with one empty page (no request, no checkpoint), so a host can
//! pull every stream whatever the settings.

pub mod analytics;
pub mod api_keys;
pub mod cursor;
pub mod directory;
pub mod usage;
pub mod validate;

pub use analytics::analytics_window;
pub use directory::refresh_due;
pub use usage::usage_window;
pub use validate::validate;

use crate::capability::Capability;
use crate::model::{ConnectorError, Page, RawPage};
use crate::normalize::{
    API_KEYS, CODE_REVIEWS, CODE_REVIEW_RESPONSES, PROJECTS, USAGE, USERS, WORKSPACE_USAGE,
};
use crate::origin::OPENAI_API;
use crate::provider_error::{classify, truncate_chars};
use crate::settings::{Settings, API_TOKEN};
use crate::transport::{HttpResponse, Request, Transport};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The streams, in the order a run should pull them.
pub const STREAMS: [&str; 7] = [
    USERS,
    PROJECTS,
    API_KEYS,
    USAGE,
    WORKSPACE_USAGE,
    CODE_REVIEWS,
    CODE_REVIEW_RESPONSES,
];

/// Largest page the directory endpoints allow.
pub const DIRECTORY_PAGE_LIMIT: u32 = 100;

/// The body of a page with no items (a directory stream that is not due, a project with
/// no keys).
pub(crate) const EMPTY_LIST: &str = r#"{"object":"list","data":[],"has_more":false}"#;
/// The body of a usage page with no buckets (the Platform source is not configured).
pub(crate) const EMPTY_USAGE: &str =
    r#"{"object":"page","data":[],"has_more":false,"next_page":null}"#;

/// Pull the next page of `stream`: `checkpoint` is the one the previous run committed,
/// `cursor` the previous page's `next_cursor` in this run.
pub fn pull_page(
    t: &mut dyn Transport,
    settings: &Settings,
    stream: &str,
    checkpoint: Option<&str>,
    cursor: Option<&str>,
) -> Result<Page, ConnectorError> {
    if cursor.is_some_and(|c| c.len() > cursor::MAX_CURSOR_LEN)
        || checkpoint.is_some_and(|c| c.len() > cursor::MAX_CURSOR_LEN)
    {
        return Err(ConnectorError::Internal(
            "cursor or checkpoint is implausibly large".into(),
        ));
    }
    match stream {
        USAGE | USERS | PROJECTS | API_KEYS if !settings.platform => Ok(Page {
            raw: RawPage {
                body: if stream == USAGE {
                    EMPTY_USAGE
                } else {
                    EMPTY_LIST
                }
                .into(),
                ..empty_page(stream, t.now())
            },
            next_cursor: None,
            checkpoint: None,
            window: None,
        }),
        USAGE => usage::page(t, settings, checkpoint, cursor),
        USERS | PROJECTS | API_KEYS => directory::page(t, settings, stream, checkpoint, cursor),
        WORKSPACE_USAGE | CODE_REVIEWS | CODE_REVIEW_RESPONSES => {
            analytics::page(t, settings, stream, checkpoint, cursor)
        }
        other => Err(ConnectorError::Internal(format!(
            "unknown stream \"{}\"; this connector offers {}",
            truncate_chars(other, 40).escape_debug(),
            STREAMS.join(", ")
        ))),
    }
}

/// GET `path_and_query` from the Platform API with the API Token attached; the response
/// may have any status.
pub(crate) fn platform_get(
    t: &mut dyn Transport,
    settings: &Settings,
    path_and_query: &str,
) -> Result<HttpResponse, ConnectorError> {
    let org: [(&str, &str); 1];
    let headers: &[(&str, &str)] = match &settings.organization_id {
        Some(id) => {
            org = [("openai-organization", id.as_str())];
            &org
        }
        None => &[],
    };
    t.get(&Request {
        origin: &OPENAI_API,
        path_and_query,
        secret: API_TOKEN,
        headers,
    })
}

/// GET and classify: a non-2xx response is a typed error saying what `capability` needs.
pub(crate) fn platform_read(
    t: &mut dyn Transport,
    settings: &Settings,
    path_and_query: &str,
    capability: Capability,
) -> Result<HttpResponse, ConnectorError> {
    let resp = platform_get(t, settings, path_and_query)?;
    classify(&resp, capability)?;
    Ok(resp)
}

/// What a query value may hold unencoded: RFC 3986's unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encode a query value (cursors and ids the provider chose).
pub(crate) fn encode(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

/// A page that carries no provider response.
pub(crate) fn empty_page(stream: &str, fetched_at: i64) -> RawPage {
    RawPage {
        stream: stream.into(),
        scope: None,
        fetched_at,
        body: EMPTY_LIST.into(),
    }
}

/// A scripted transport for the streams' tests.
#[cfg(test)]
pub(crate) mod fake {
    use std::collections::VecDeque;

    use crate::model::ConnectorError;
    use crate::transport::{HttpResponse, Request, Transport};

    /// A request as the fake saw it: origin, path and query, secret, headers.
    pub type Seen = (String, String, String, Vec<(String, String)>);

    pub struct Fake {
        pub now: i64,
        pub replies: VecDeque<HttpResponse>,
        pub seen: Vec<Seen>,
    }

    impl Fake {
        pub fn new(now: i64, replies: impl IntoIterator<Item = HttpResponse>) -> Fake {
            Fake {
                now,
                replies: replies.into_iter().collect(),
                seen: Vec::new(),
            }
        }
        pub fn paths(&self) -> Vec<&str> {
            self.seen.iter().map(|s| s.1.as_str()).collect()
        }
    }

    impl Transport for Fake {
        fn get(&mut self, r: &Request<'_>) -> Result<HttpResponse, ConnectorError> {
            self.seen.push((
                r.origin.to_string(),
                r.path_and_query.to_string(),
                r.secret.to_string(),
                r.headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ));
            self.replies
                .pop_front()
                .ok_or_else(|| ConnectorError::Transient("no reply".into()))
        }
        fn now(&self) -> i64 {
            self.now
        }
    }

    pub fn ok(body: &str) -> HttpResponse {
        status(200, body)
    }

    pub fn status(status: u16, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            body: body.into(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{ok, Fake};
    use super::*;

    #[test]
    fn requests_go_to_the_platform_with_the_token_attached_by_name() {
        let mut s = Settings::for_normalize("*codex*", &[], &[]);
        s.organization_id = Some("org-1".into());
        let mut t = Fake::new(1_700_000_000, [ok(r#"{"data":[],"has_more":false}"#)]);
        pull_page(&mut t, &s, USERS, None, None).unwrap();
        let (origin, path, secret, headers) = &t.seen[0];
        assert_eq!(origin, "https://api.openai.com");
        assert_eq!(path, "/v1/organization/users?limit=100");
        assert_eq!(secret, "api_token");
        assert_eq!(
            headers,
            &[("openai-organization".to_string(), "org-1".to_string())]
        );
    }

    /// Every stream of a source that is not configured gives one empty page that
    /// normalizes to nothing, without a request or a checkpoint.
    #[test]
    fn streams_of_an_unconfigured_source_are_empty() {
        use crate::normalize::normalize;
        use crate::settings::Period;
        let platform_only = Settings::for_normalize("*codex*", &[], &[]);
        let mut chatgpt_only = platform_only
            .clone()
            .with_chatgpt("ws-12345678", Period::Day);
        chatgpt_only.platform = false;
        for (s, streams) in [
            (&platform_only, &STREAMS[4..]),
            (&chatgpt_only, &STREAMS[..4]),
        ] {
            for stream in streams {
                let mut t = Fake::new(1_700_000_000, []);
                for cp in [None, Some(r#"{"v":1,"through":5}"#)] {
                    let p = pull_page(&mut t, s, stream, cp, None).unwrap();
                    assert_eq!(p.raw.stream, *stream);
                    assert_eq!(
                        (p.next_cursor.as_deref(), p.checkpoint.as_deref(), p.window),
                        (None, None, None)
                    );
                    assert_eq!(p.raw.fetched_at, 1_700_000_000);
                    assert!(normalize(&p.raw, s).unwrap().is_empty(), "{stream}");
                    // and the other configuration reads it the same way
                    assert!(
                        normalize(&p.raw, &platform_only).unwrap().is_empty(),
                        "{stream}"
                    );
                }
                assert!(t.seen.is_empty(), "{stream}");
            }
        }
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(encode("a b/c+d&e=f"), "a%20b%2Fc%2Bd%26e%3Df");
        assert_eq!(encode("Az09-_.~"), "Az09-_.~");
        assert_eq!(encode("é"), "%C3%A9");
    }

    #[test]
    fn unknown_streams_and_huge_cursors_are_internal() {
        let s = Settings::for_normalize("*codex*", &[], &[]);
        let mut t = Fake::new(0, []);
        let e = pull_page(&mut t, &s, "costs", None, None).unwrap_err();
        assert!(
            matches!(&e, ConnectorError::Internal(m) if m.contains("users, projects, api_keys, usage, workspace_usage, code_reviews, code_review_responses")),
            "{e:?}"
        );
        let huge = "x".repeat(cursor::MAX_CURSOR_LEN + 1);
        for (cp, cur) in [(Some(huge.as_str()), None), (None, Some(huge.as_str()))] {
            assert!(matches!(
                pull_page(&mut t, &s, USAGE, cp, cur),
                Err(ConnectorError::Internal(_))
            ));
        }
        assert!(t.seen.is_empty());
    }
}
