//! Keeps the API token out of everything the host writes: logs, errors, history, exports.

/// Replaces the configured token, and anything shaped like an OpenAI key, with a marker.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secret: Option<String>,
}

pub const MARKER: &str = "[redacted key]";

impl Redactor {
    pub fn new(secret: Option<&str>) -> Redactor {
        Redactor {
            secret: secret.filter(|s| !s.is_empty()).map(str::to_string),
        }
    }

    pub fn redact(&self, text: &str) -> String {
        let mut s = match &self.secret {
            Some(secret) => text.replace(secret.as_str(), MARKER),
            None => text.to_string(),
        };
        if s.contains("sk-") {
            s = redact_key_like(&s);
        }
        s
    }
}

/// `sk-…` runs (as OpenAI echoes fragments of keys in its errors) become the marker.
fn redact_key_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("sk-") {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| {
                !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '*' || c == '…')
            })
            .unwrap_or(tail.len());
        out.push_str(MARKER);
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The form an admin may see after saving: the first 8 and last 4 characters.
pub fn redacted_form(token: &str) -> String {
    let chars: Vec<char> = token.chars().collect();
    if chars.len() < 20 {
        return "…".to_string();
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_token_and_key_fragments() {
        let r = Redactor::new(Some("sk-admin-abcdefghijklmnop1234"));
        assert_eq!(
            r.redact("bad sk-admin-abcdefghijklmnop1234 x"),
            "bad [redacted key] x"
        );
        assert_eq!(
            r.redact("Incorrect API key provided: sk-admin****1234."),
            "Incorrect API key provided: [redacted key]."
        );
        assert_eq!(
            redacted_form("sk-admin-abcdefghijklmnop1234"),
            "sk-admin…1234"
        );
    }
}
