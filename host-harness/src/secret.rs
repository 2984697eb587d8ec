//! A secret setting's value, as the host holds it. Its `Debug` and `Display` print only the
//! redacted form, so a secret cannot reach a log line or an error by formatting; the value
//! itself comes out only through [`Secret::expose`], at the few places that need it
//! (the store's secret slot and the outgoing request the host attaches it to).

use std::fmt;

/// A secret value, trimmed once at input.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value an admin pasted, with surrounding whitespace (a trailing newline from a
    /// file or a terminal) removed. This is the only place a secret is trimmed.
    pub fn from_input(raw: &str) -> Secret {
        Secret(raw.trim().to_string())
    }

    /// The value. Call only to store it or to put it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Its length in characters.
    pub fn chars(&self) -> usize {
        self.0.chars().count()
    }

    /// Its first characters, at most 8 and never more than half of it: what a connector
    /// may see of it to tell kinds of keys apart (`sk-admin` from `sk-proj-`).
    pub fn shape_prefix(&self) -> String {
        self.0.chars().take((self.chars() / 2).min(8)).collect()
    }

    /// The form an admin may see after saving: the first 8 and last 4 characters, or only
    /// an ellipsis when the value is too short for that to hide most of it.
    pub fn redacted(&self) -> String {
        redacted_form(&self.0)
    }
}

/// See [`Secret::redacted`].
pub fn redacted_form(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() < 20 {
        return "…".to_string();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.redacted())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_never_shows_the_value() {
        let s = Secret::from_input("  sk-admin-abcdefghijklmnopqrstuvwxyz1234\n");
        assert_eq!(s.expose(), "sk-admin-abcdefghijklmnopqrstuvwxyz1234");
        for shown in [format!("{s}"), format!("{s:?}"), format!("{s:#?}")] {
            assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
            assert!(shown.contains("sk-admin…1234"), "{shown}");
        }
        assert_eq!(s.shape_prefix(), "sk-admin");
        assert_eq!(Secret::from_input("short").redacted(), "…");
        // a short secret never shows more than half of itself
        assert_eq!(Secret::from_input("abcdefgh").shape_prefix(), "abcd");
        assert_eq!(Secret::from_input("abcde").shape_prefix(), "ab");
    }
}
