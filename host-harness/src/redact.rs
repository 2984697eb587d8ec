//! Keeps secrets out of everything the host shows or stores: every string a component
//! hands the host (errors, notes, log lines, records, the organization name) and every
//! message the host writes passes through [`Redactor::redact`].
//!
//! It redacts secrets, not the documentation of their shape: a secret's first 8 characters
//! are its public prefix (shown after saving, handed to the connector to tell kinds of keys
//! apart), so help texts such as "those start with sk-admin-" stay readable. What is
//! redacted: the whole value; any run of key characters holding 8 consecutive characters
//! of its private part (a trimmed or partial echo), in any ASCII letter case (a host name
//! made of a key is lower-cased on its way into a message); and a masked echo (a run
//! starting with its public prefix that contains `*`, as providers print keys).

use std::borrow::Cow;
use std::sync::Arc;

use aho_corasick::AhoCorasick;

use crate::secret::Secret;

pub const MARKER: &str = "[redacted]";

/// Replaces the secrets it knows with [`MARKER`].
#[derive(Clone, Default)]
pub struct Redactor {
    inner: Option<Arc<Inner>>,
}

struct Inner {
    /// Every 8-character window of every secret's private part.
    windows: AhoCorasick,
    /// Public prefixes, for masked echoes.
    prefixes: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redactor")
    }
}

/// Characters that make up a key in text (a run of these around a match is redacted whole).
fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '.' | '+' | '/' | '=')
}

const WINDOW: usize = 8;
const PUBLIC_PREFIX: usize = 8;

impl Redactor {
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a Secret>) -> Redactor {
        let mut windows: Vec<String> = Vec::new();
        let mut prefixes = Vec::new();
        for s in secrets {
            let chars: Vec<char> = s.expose().chars().collect();
            if chars.len() >= PUBLIC_PREFIX {
                prefixes.push(chars[..PUBLIC_PREFIX].iter().collect());
            }
            let private = if chars.len() > PUBLIC_PREFIX + WINDOW {
                &chars[PUBLIC_PREFIX..]
            } else {
                &chars[..]
            };
            if private.len() < WINDOW {
                // Too short to window: redact it whole wherever it appears.
                if !private.is_empty() {
                    windows.push(private.iter().collect());
                }
                continue;
            }
            for w in private.windows(WINDOW) {
                windows.push(w.iter().collect());
            }
        }
        if windows.is_empty() && prefixes.is_empty() {
            return Redactor::default();
        }
        windows.sort();
        windows.dedup();
        // ASCII case ignored: the host lower-cases host names (a key used as a host name
        // comes back lower case in a denial), and a key's letters are its own in any case.
        let Ok(windows) = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(&windows)
        else {
            return Redactor::default();
        };
        Redactor {
            inner: Some(Arc::new(Inner { windows, prefixes })),
        }
    }

    /// Whether `text` holds anything this redactor would replace.
    pub fn finds(&self, text: &str) -> bool {
        matches!(self.redact_cow(text), Cow::Owned(_))
    }

    pub fn redact(&self, text: &str) -> String {
        self.redact_cow(text).into_owned()
    }

    /// `text` redacted, borrowed when there was nothing to redact (the common case, and
    /// the cheap one: one pass of the automaton).
    pub fn redact_cow<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let Some(inner) = &self.inner else {
            return Cow::Borrowed(text);
        };
        let mut spans: Vec<(usize, usize)> = inner
            .windows
            .find_overlapping_iter(text)
            .map(|m| widen(text, m.start(), m.end()))
            .collect();
        for p in &inner.prefixes {
            for (i, _) in text.match_indices(p.as_str()) {
                let (s, e) = widen(text, i, i + p.len());
                if text[s..e].contains('*') {
                    spans.push((s, e));
                }
            }
        }
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        spans.sort();
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (s, e) in spans {
            if e <= at {
                continue;
            }
            out.push_str(&text[at..s.max(at)]);
            out.push_str(MARKER);
            at = e;
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }
}

/// Extend `start..end` to the whole run of key characters around it.
fn widen(text: &str, start: usize, end: usize) -> (usize, usize) {
    let s = text[..start]
        .char_indices()
        .rev()
        .take_while(|(_, c)| key_char(*c))
        .last()
        .map_or(start, |(i, _)| i);
    let e = text[end..]
        .char_indices()
        .find(|(_, c)| !key_char(*c))
        .map_or(text.len(), |(i, _)| end + i);
    (s, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-admin-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789wxyz";

    #[test]
    fn removes_secrets_partial_and_masked_echoes() {
        let s = Secret::from_input(KEY);
        let r = Redactor::new([&s]);
        assert_eq!(r.redact(&format!("bad {KEY} x")), "bad [redacted] x");
        assert_eq!(
            r.redact("Incorrect API key provided: sk-admin****wxyz."),
            "Incorrect API key provided: [redacted]"
        );
        // a trimmed or partial echo
        assert_eq!(r.redact("got 'GhIjKlMnOpQr'"), "got '[redacted]'");
        // lower-cased, as in a host name
        assert_eq!(
            r.redact(&format!("a host {}.evil.test", KEY.to_lowercase())),
            "a host [redacted]"
        );
        assert_eq!(r.redact(&format!("{}\n", &KEY[..30])), "[redacted]\n");
        // the documentation of the shape stays
        for doc in [
            "Admin API keys start with sk-admin-; those start with sk-admin-.",
            "This is a project API key (sk-proj-…).",
            "Saved: sk-admin…wxyz",
        ] {
            assert_eq!(r.redact(doc), doc);
        }
        assert!(!r.finds("nothing here"));
        assert!(Redactor::default().redact(KEY).contains("AbCdEf"));
    }
}
