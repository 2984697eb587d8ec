//! Raw provider pages → standardized records. Pure and deterministic: the output depends
//! only on the raw page (including its `fetched_at`) and the settings. Bad input is a
//! typed error naming the stream and the JSON path, never a panic.

pub mod analytics;
pub mod directory;
pub mod envelope;
pub mod usage;

use serde::Serialize;

use crate::model::{ConnectorError, NormalizedRecord, RawPage};
use crate::provider_error::truncate_chars;
use crate::settings::Settings;

/// Schema version of every payload this connector emits.
pub const SCHEMA_VERSION: u32 = 1;

pub const USAGE: &str = "usage";
pub const USERS: &str = "users";
pub const PROJECTS: &str = "projects";
pub const API_KEYS: &str = "api_keys";
pub const WORKSPACE_USAGE: &str = "workspace_usage";
pub const CODE_REVIEWS: &str = "code_reviews";
pub const CODE_REVIEW_RESPONSES: &str = "code_review_responses";

/// Normalize one raw page of any stream.
pub fn normalize(
    raw: &RawPage,
    settings: &Settings,
) -> Result<Vec<NormalizedRecord>, ConnectorError> {
    match raw.stream.as_str() {
        USAGE => usage::normalize(raw, settings),
        USERS => directory::users(raw),
        PROJECTS => directory::projects(raw, settings),
        API_KEYS => directory::api_keys(raw, settings),
        WORKSPACE_USAGE => analytics::workspace_usage(raw, settings),
        CODE_REVIEWS => analytics::code_reviews(raw, settings),
        CODE_REVIEW_RESPONSES => analytics::code_review_responses(raw, settings),
        other => Err(ConnectorError::Internal(format!(
            "unknown stream \"{}\"",
            truncate_chars(other, 40).escape_debug()
        ))),
    }
}

/// Writes payloads, each into a buffer sized from the previous one, so that a page's
/// payloads (which differ little in length) are written without growing or copying.
pub(crate) struct PayloadWriter {
    /// Length of the last payload written.
    last: usize,
}

impl PayloadWriter {
    /// Slack over the last payload's length before a buffer is trimmed.
    const SLACK: usize = 64;

    pub(crate) fn new() -> Self {
        PayloadWriter { last: 256 }
    }

    /// `value` as a JSON object.
    pub(crate) fn write<T: Serialize>(&mut self, value: &T) -> Result<String, ConnectorError> {
        let mut buf = Vec::with_capacity(self.last + Self::SLACK / 2);
        serde_json::to_writer(&mut buf, value)
            .map_err(|e| ConnectorError::Internal(format!("could not write a payload: {e}")))?;
        if buf.capacity() > buf.len() + Self::SLACK {
            buf.shrink_to_fit();
        }
        self.last = buf.len();
        String::from_utf8(buf)
            .map_err(|_| ConnectorError::Internal("a payload is not UTF-8".into()))
    }
}

/// A record of a directory stream: its key is its one id.
pub(crate) fn record(stream: &str, id: &str, payload: String) -> NormalizedRecord {
    NormalizedRecord {
        stream: stream.to_string(),
        key: vec![Some(id.to_string())],
        schema_version: SCHEMA_VERSION,
        payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_streams_are_internal_errors() {
        let raw = RawPage {
            stream: "costs\n".into(),
            scope: None,
            fetched_at: 0,
            body: "{}".into(),
        };
        let e = normalize(&raw, &Settings::for_normalize("*codex*", &[], &[])).unwrap_err();
        assert_eq!(
            e,
            ConnectorError::Internal("unknown stream \"costs\\n\"".into())
        );
    }

    #[test]
    fn payloads_are_exact_json() {
        #[derive(Serialize)]
        struct P<'a> {
            a: &'a str,
            b: Option<u64>,
        }
        let mut w = PayloadWriter::new();
        let one = w.write(&P { a: "x\"y", b: None }).unwrap();
        let two = w
            .write(&P {
                a: "é", b: Some(3)
            })
            .unwrap();
        assert_eq!(one, r#"{"a":"x\"y","b":null}"#);
        assert_eq!(two, r#"{"a":"é","b":3}"#);
        assert!(two.capacity() <= two.len() + PayloadWriter::SLACK);
        let long = w
            .write(&P {
                a: &"x".repeat(5000),
                b: None,
            })
            .unwrap();
        assert!(long.capacity() <= long.len() + PayloadWriter::SLACK);
    }
}
