//! The host's check of `normalize`'s records before anything is stored: each belongs to
//! the page's stream, has one key part per primary-key field, and carries a payload that
//! parses as a JSON object. The payload is stored re-serialized (one line, no raw control
//! characters), so no record can forge a line of an NDJSON export; every string is redacted.

use crate::bindings::v0_2::types as wit;
use crate::redact::Redactor;

/// A record that passed the host's checks, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckedRecord {
    pub stream: String,
    pub key: Vec<Option<String>>,
    /// The key as stored: a JSON array (`null` for an absent part).
    pub key_text: String,
    pub schema_version: u32,
    /// Compact JSON object.
    pub payload: String,
}

/// Check `records` of a page of `stream`, whose primary key has `key_len` fields.
pub fn check(
    stream: &str,
    key_len: usize,
    records: Vec<wit::NormalizedRecord>,
    redactor: &Redactor,
) -> Result<Vec<CheckedRecord>, String> {
    check_part(stream, key_len, 0, records, redactor)
}

/// Like [`check`], for a part of a page's records that starts at the page's record
/// `first` (so that a message names the record by its place in the page).
pub fn check_part(
    stream: &str,
    key_len: usize,
    first: usize,
    records: Vec<wit::NormalizedRecord>,
    redactor: &Redactor,
) -> Result<Vec<CheckedRecord>, String> {
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in (first..).zip(records) {
        if r.stream != stream {
            return Err(format!(
                "record {i} belongs to stream {:?}, not to the page's {stream:?}",
                clip(&r.stream)
            ));
        }
        if r.key.len() != key_len {
            return Err(format!(
                "record {i} has a key of {} parts; the {stream} stream's primary key has {key_len}",
                r.key.len()
            ));
        }
        let payload = redacted(
            compact_object(&r.payload).map_err(|why| format!("record {i}'s payload {why}"))?,
            redactor,
        );
        let key: Vec<Option<String>> = r
            .key
            .into_iter()
            .map(|k| k.map(|k| redacted(k, redactor)))
            .collect();
        let key_text = serde_json::to_string(&key).map_err(|e| e.to_string())?;
        out.push(CheckedRecord {
            stream: r.stream,
            key,
            key_text,
            schema_version: r.schema_version,
            payload,
        });
    }
    Ok(out)
}

/// `payload` re-serialized as compact JSON, if it is exactly one JSON object. Streamed from
/// the parser to the writer (`serde_transcode`), so no tree of maps is built for it: on a
/// backfill page this is most of the host's checking time.
fn compact_object(payload: &str) -> Result<String, String> {
    let mut de = serde_json::Deserializer::from_str(payload);
    let mut out = Vec::with_capacity(payload.len());
    serde_transcode::transcode(&mut de, &mut serde_json::Serializer::new(&mut out))
        .and_then(|()| de.end())
        .map_err(|e| format!("is not JSON ({e})"))?;
    if out.first() != Some(&b'{') {
        return Err("is not a JSON object".into());
    }
    String::from_utf8(out).map_err(|e| format!("is not UTF-8 ({e})"))
}

/// `s` redacted, without a copy when there is nothing to redact (the common case).
fn redacted(s: String, redactor: &Redactor) -> String {
    let changed = match redactor.redact_cow(&s) {
        std::borrow::Cow::Borrowed(_) => None,
        std::borrow::Cow::Owned(r) => Some(r),
    };
    changed.unwrap_or(s)
}

fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(payload: &str, key: Vec<Option<&str>>) -> wit::NormalizedRecord {
        wit::NormalizedRecord {
            stream: "s".into(),
            key: key.into_iter().map(|k| k.map(str::to_string)).collect(),
            schema_version: 1,
            payload: payload.into(),
        }
    }

    #[test]
    fn payloads_must_be_objects_and_are_reserialized() {
        let r = Redactor::default();
        let ok = check(
            "s",
            2,
            vec![rec("{ \"a\" : \"x\\ny\" }", vec![Some(""), None])],
            &r,
        )
        .unwrap();
        assert_eq!(ok[0].payload, r#"{"a":"x\ny"}"#);
        assert_eq!(ok[0].key_text, r#"["",null]"#);
        assert!(!ok[0].payload.contains('\n'));
        for bad in ["not json", "[1,2]", "\"s\"", "{\"a\":1}\n{\"forged\":true}"] {
            assert!(
                check("s", 2, vec![rec(bad, vec![None, None])], &r).is_err(),
                "{bad}"
            );
        }
        assert!(check("s", 1, vec![rec("{}", vec![None, None])], &r).is_err());
        assert!(check("t", 2, vec![rec("{}", vec![None, None])], &r).is_err());
    }

    #[test]
    fn a_part_names_records_by_their_place_in_the_page() {
        let r = Redactor::default();
        let e = check_part(
            "s",
            1,
            7,
            vec![rec("{}", vec![None]), rec("[]", vec![None])],
            &r,
        )
        .unwrap_err();
        assert!(e.starts_with("record 8's payload"), "{e}");
    }
}
