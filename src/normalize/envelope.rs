//! The provider's page envelopes and the one way a body is parsed: serde_json into borrowed
//! structs, with a failure mapped to a typed error that names the JSON path.
//!
//! Parsing is lenient where the meaning is clear (unknown fields are ignored, `null` is
//! the same as absent for optional fields) and strict where it is not (a count that is not
//! a non-negative integer, a required field missing).

use std::borrow::Cow;
use std::ops::Deref;

use std::marker::PhantomData;

use serde::de::{Deserialize, DeserializeSeed};
use serde_path_to_error::Segment;

use crate::model::ConnectorError;
use crate::provider_error::{redact_keys, truncate_chars};

/// A JSON string, borrowed from the body unless it had escapes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct Text<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The usage envelope: `{"object":"page","data":[…],"has_more":…,"next_page":…}`.
#[derive(Debug, serde::Deserialize)]
pub struct PageEnvelope<'a, T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: Option<bool>,
    #[serde(default, borrow)]
    pub next_page: Option<Text<'a>>,
}

/// The directory envelope: `{"object":"list","data":[…],"last_id":…,"has_more":…}`.
#[derive(Debug, serde::Deserialize)]
pub struct ListEnvelope<'a, T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: Option<bool>,
    #[serde(default, borrow)]
    pub last_id: Option<Text<'a>>,
}

/// Parse a whole body of `stream` (trailing characters other than whitespace are an
/// error). A body cut off in transit is `transient` (asking again may well work); any
/// other syntax or shape error is `provider-changed`, naming the JSON path, e.g.
/// `data[3].results[0].input_tokens`.
pub fn parse_body<'a, T: Deserialize<'a>>(
    stream: &str,
    body: &'a str,
) -> Result<T, ConnectorError> {
    parse_seeded(stream, body, PhantomData::<T>, || PhantomData)
}

/// Parse a whole body with `seed`; on failure, `again` makes a seed that reads it once
/// more to find where (the fast path tracks no path).
pub fn parse_seeded<'a, S: DeserializeSeed<'a>>(
    stream: &str,
    body: &'a str,
    seed: S,
    again: impl FnOnce() -> S,
) -> Result<S::Value, ConnectorError> {
    let err = match read(body, seed) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    let (path, err) = locate(body, again()).unwrap_or_else(|| ("$".to_string(), err));
    Err(to_error(stream, path, &err))
}

fn read<'a, S: DeserializeSeed<'a>>(body: &'a str, seed: S) -> Result<S::Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(body);
    let value = seed.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// Read `body` again with `seed`, tracking the path, and return where it failed and why.
fn locate<'a, S: DeserializeSeed<'a>>(
    body: &'a str,
    seed: S,
) -> Option<(String, serde_json::Error)> {
    let mut de = serde_json::Deserializer::from_str(body);
    let mut track = serde_path_to_error::Track::new();
    let result = seed.deserialize(serde_path_to_error::Deserializer::new(&mut de, &mut track));
    match result {
        Err(e) => {
            let mut path = json_path(&track.path());
            // serde reports a missing or repeated member at its object: name the member
            if let Some(member) = member_named_by(&e.to_string()) {
                if path == "$" {
                    path.clear();
                } else {
                    path.push('.');
                }
                path.push_str(if member == "result" {
                    "results"
                } else {
                    member
                });
            }
            Some((path, e))
        }
        Ok(_) => de.end().err().map(|e| ("$".to_string(), e)),
    }
}

/// The member a "missing field `x`" or "duplicate field `x`" error names.
fn member_named_by(message: &str) -> Option<&str> {
    let rest = message
        .strip_prefix("missing field `")
        .or_else(|| message.strip_prefix("duplicate field `"))?;
    rest.split('`').next()
}

/// `data[3].results[0].input_tokens`; `$` for the whole body. The `result` alias of a
/// usage bucket's `results` is shown as `results`.
fn json_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if key == "result" { "results" } else { key });
            }
            // a key that could not be read (the syntax broke inside it): the path so far
            Segment::Unknown => {}
        }
    }
    if out.is_empty() {
        out.push('$');
    }
    out
}

fn to_error(stream: &str, path: String, e: &serde_json::Error) -> ConnectorError {
    let detail = truncate_chars(&redact_keys(&e.to_string()), 200);
    match e.classify() {
        serde_json::error::Category::Eof => {
            ConnectorError::Transient(format!("the {stream} response ended early ({detail})"))
        }
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => {
            ConnectorError::provider_changed(
                stream,
                path,
                format!("the response is not valid JSON ({detail})"),
            )
        }
        serde_json::error::Category::Data => ConnectorError::provider_changed(
            stream,
            path,
            format!("unexpected response shape: {detail}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Row<'a> {
        #[serde(borrow)]
        name: Option<Text<'a>>,
        #[allow(dead_code)]
        n: Option<u64>,
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let body = r#"{"data":[{"name":"plain"},{"name":"esc\"aped","n":null}],"has_more":false}"#;
        let env: ListEnvelope<Row> = parse_body("users", body).unwrap();
        assert!(matches!(
            env.data[0].name.as_ref().unwrap().0,
            Cow::Borrowed("plain")
        ));
        assert!(matches!(&env.data[1].name.as_ref().unwrap().0, Cow::Owned(s) if s == "esc\"aped"));
        assert_eq!(env.has_more, Some(false));
        assert!(env.last_id.is_none());
    }

    #[test]
    fn errors_name_the_path_and_class() {
        let bad = r#"{"data":[{"n":1},{"n":-2}]}"#;
        match parse_body::<ListEnvelope<Row>>("users", bad).unwrap_err() {
            ConnectorError::ProviderChanged {
                stream,
                field,
                message,
            } => {
                assert_eq!((stream.as_str(), field.as_str()), ("users", "data[1].n"));
                assert!(message.contains("unexpected response shape"), "{message}");
            }
            e => panic!("{e:?}"),
        }
        // cut off: transient
        let e = parse_body::<ListEnvelope<Row>>("users", r#"{"data":[{"n":1},"#).unwrap_err();
        assert!(matches!(e, ConnectorError::Transient(_)), "{e:?}");
        // complete but not JSON: provider-changed, where it broke
        for (body, at) in [
            (r#"{"data":[{"n":1}]} x"#, "$"),
            (r#"{"data":[{"n":1]}"#, "data[0]"),
            ("<html>", "$"),
        ] {
            match parse_body::<ListEnvelope<Row>>("users", body).unwrap_err() {
                ConnectorError::ProviderChanged { field, .. } => assert_eq!(field, at, "{body}"),
                e => panic!("{body}: {e:?}"),
            }
        }
        // a required member missing, or one given twice, is named
        match parse_body::<ListEnvelope<Row>>("users", r#"{"has_more":true}"#).unwrap_err() {
            ConnectorError::ProviderChanged { field, message, .. } => {
                assert_eq!(field, "data");
                assert!(message.contains("missing field `data`"), "{message}");
            }
            e => panic!("{e:?}"),
        }
        match parse_body::<ListEnvelope<Row>>("users", r#"{"data":[{"n":1,"n":2}]}"#).unwrap_err() {
            ConnectorError::ProviderChanged { field, .. } => assert_eq!(field, "data[0].n"),
            e => panic!("{e:?}"),
        }
    }

    /// Deep nesting never exhausts the stack: an ignored member is skipped without
    /// recursion, and a value parsed in full stops at serde_json's recursion limit.
    #[test]
    fn deep_nesting_is_skipped_or_refused_never_a_crash() {
        let open = "[".repeat(100_000);
        let close = "]".repeat(100_000);
        let ignored = format!(r#"{{"data":[{{"x":{open}{close}}}]}}"#);
        assert_eq!(
            parse_body::<ListEnvelope<Row>>("users", &ignored)
                .unwrap()
                .data
                .len(),
            1
        );
        let typed = format!(r#"{{"data":{open}{close}}}"#);
        let e = parse_body::<ListEnvelope<Row>>("users", &typed).unwrap_err();
        assert!(matches!(e, ConnectorError::ProviderChanged { .. }), "{e:?}");
        let e = parse_body::<serde_json::Value>("users", &ignored).unwrap_err();
        assert!(e.message().contains("recursion limit"), "{e:?}");
    }

    #[test]
    fn key_like_text_in_parser_messages_is_redacted() {
        let body = r#"{"data":[{"n":"sk-admin-AbCdEfGhIjKlMnOp"}]}"#;
        let m = parse_body::<ListEnvelope<Row>>("users", body)
            .unwrap_err()
            .message();
        assert!(!m.contains("AbCdEfGh"), "{m}");
    }
}
