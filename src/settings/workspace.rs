//! Local checks of the ChatGPT workspace source: the workspace id's shape, and the
//! analytics key's shape (`secret-shape` only: the value stays in the host). Messages say
//! what is wrong and where the right value comes from, and never repeat the input: a key
//! pasted into the workspace id field must not end up in an error message or a log.

use crate::model::SecretShape;

use super::token::{MAX_TOKEN_LEN, SHAPE_PREFIX_CHARS};
use super::{ANALYTICS_KEY_HELP, WORKSPACE_ID_HELP};

/// Shortest and longest workspace id accepted. Workspace ids are UUIDs (36 characters);
/// the bounds only keep out what cannot be an id.
pub const MIN_WORKSPACE_ID_LEN: usize = 8;
pub const MAX_WORKSPACE_ID_LEN: usize = 64;
/// Analytics keys are long random strings; anything shorter is a partial paste.
pub const MIN_ANALYTICS_KEY_LEN: u32 = 20;

/// Check a workspace id (surrounding whitespace is ignored); the trimmed id, or what is
/// wrong. Accepted: UUIDs and similar ids made of ASCII letters, digits, `-` and `_`.
pub fn check_workspace_id(input: &str) -> Result<String, String> {
    let s = input.trim();
    let lower = s.to_ascii_lowercase();
    let problem = if lower.starts_with("sk-") {
        "This looks like an API key (sk-…), not a workspace id. Keys go into the Analytics API key field, which keeps them secret."
    } else if s.contains('@') {
        "This looks like an email address, not a workspace id."
    } else if lower.starts_with("http:")
        || lower.starts_with("https:")
        || lower.contains("://")
        || lower.starts_with("www.")
    {
        "This looks like a web address; paste only the workspace id."
    } else if s.contains('/') || s.contains('\\') {
        "The workspace id contains slashes; paste only the id, not a path or address."
    } else if s.chars().any(char::is_whitespace) {
        "The workspace id contains spaces; paste only the id."
    } else if lower.starts_with("org-") {
        "This is an OpenAI Platform organization id (org-…), not a ChatGPT workspace id."
    } else if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        "The workspace id may only contain letters, digits, - and _ (it usually looks like 123e4567-e89b-12d3-a456-426614174000)."
    } else if !(MIN_WORKSPACE_ID_LEN..=MAX_WORKSPACE_ID_LEN).contains(&s.len()) {
        "The workspace id should be 8 to 64 characters long (it usually looks like 123e4567-e89b-12d3-a456-426614174000)."
    } else {
        return Ok(s.to_string());
    };
    Err(format!("{problem} {WORKSPACE_ID_HELP}"))
}

/// Check the shape of a Codex Analytics key. Its format is not published, so only what
/// cannot be such a key is refused: a Platform Admin API key (`sk-admin…`, which reads
/// API-key usage and is refused by the Analytics API), and pastes that are empty, cut,
/// too long or carry spaces.
pub fn check_analytics_key(shape: &SecretShape) -> Result<(), String> {
    let prefix = shape.prefix.as_str();
    let shown = prefix.chars().count();
    let inconsistent = || {
        format!("The host passed an inconsistent secret-shape for the analytics API key: its prefix must be the first {SHAPE_PREFIX_CHARS} characters of the value.")
    };
    if shown > SHAPE_PREFIX_CHARS {
        return Err(format!(
            "The host passed more than the first {SHAPE_PREFIX_CHARS} characters of the analytics API key; it must pass secrets as secret-shape, with at most {SHAPE_PREFIX_CHARS} characters of prefix."
        ));
    }
    if shown as u64 > u64::from(shape.length) {
        return Err(inconsistent());
    }
    if shape.length == 0 {
        return Err(format!(
            "The analytics API key is empty. {ANALYTICS_KEY_HELP}"
        ));
    }
    if shape.length > MAX_TOKEN_LEN {
        return Err(format!(
            "The analytics API key is longer than {MAX_TOKEN_LEN} characters; paste only the key. {ANALYTICS_KEY_HELP}"
        ));
    }
    if prefix.chars().any(char::is_control) {
        return Err("The analytics API key contains line breaks or control characters; paste the key on its own.".into());
    }
    if prefix.chars().any(char::is_whitespace) {
        return Err("The analytics API key contains spaces; paste the key on its own.".into());
    }
    if !prefix.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("The analytics API key contains characters that never occur in API keys; paste the key on its own.".into());
    }
    if shown < SHAPE_PREFIX_CHARS && u64::from(shape.length) >= SHAPE_PREFIX_CHARS as u64 {
        return Err(inconsistent());
    }
    if prefix.starts_with("sk-admin") {
        return Err(format!(
            "This is an OpenAI Platform Admin API key (sk-admin-…): it reads API-key usage and belongs in API Token under API-key usage; the Codex Analytics API refuses it. {ANALYTICS_KEY_HELP}"
        ));
    }
    if shape.length < MIN_ANALYTICS_KEY_LEN {
        return Err(format!(
            "The analytics API key is too short to be a complete key. {ANALYTICS_KEY_HELP}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(prefix: &str, length: u32) -> SecretShape {
        SecretShape {
            length,
            prefix: prefix.into(),
            same_as: None,
        }
    }

    #[test]
    fn uuids_and_similar_ids_pass_trimmed() {
        for (input, id) in [
            (
                "123e4567-e89b-42d3-a456-426614174000",
                "123e4567-e89b-42d3-a456-426614174000",
            ),
            (
                "  123E4567-E89B-42D3-A456-426614174000\n",
                "123E4567-E89B-42D3-A456-426614174000",
            ),
            ("ws_AbC123def456", "ws_AbC123def456"),
            ("12345678", "12345678"),
        ] {
            assert_eq!(check_workspace_id(input).as_deref(), Ok(id), "{input:?}");
        }
    }

    #[test]
    fn what_is_not_a_workspace_id_is_named_and_never_echoed() {
        let key = "sk-cgpt-SECRETSECRETSECRET0123456789";
        for (input, says) in [
            (key, "looks like an API key"),
            ("sk-admin-AbCdEfGhIjKlMnOpQrSt", "looks like an API key"),
            ("SK-PROJ-abcdefghijklmnop", "looks like an API key"),
            ("ada@example.com", "email address"),
            (
                "https://chatgpt.com/admin/workspace/123e4567-e89b-42d3-a456-426614174000",
                "web address",
            ),
            ("www.chatgpt.com", "web address"),
            ("123e4567/e89b", "slashes"),
            ("123e4567 e89b", "spaces"),
            ("org-AbCdEfGh1234", "organization id"),
            ("123e4567.e89b.42d3", "letters, digits"),
            ("ws;drop table", "spaces"),
            ("wsé1234567", "letters, digits"),
            ("abc", "8 to 64"),
            (&"a".repeat(65), "8 to 64"),
        ] {
            let m = check_workspace_id(input).unwrap_err();
            assert!(m.contains(says), "{input}: {m}");
            assert!(m.contains(WORKSPACE_ID_HELP), "{input}: {m}");
            assert!(!m.contains("SECRET") && !m.contains("AbCdEf"), "{m}");
        }
    }

    #[test]
    fn analytics_keys_pass_and_admin_keys_do_not() {
        assert_eq!(check_analytics_key(&shape("sk-cgpt-", 48)), Ok(()));
        assert_eq!(check_analytics_key(&shape("sk-proj-", 164)), Ok(()));
        assert_eq!(check_analytics_key(&shape("abcdefgh", 20)), Ok(()));
        for (s, says) in [
            (shape("sk-admin", 164), "Platform Admin API key"),
            (shape("sk-cgpt-", 19), "too short"),
            (shape("sk-c", 4), "too short"),
            (shape("", 0), "empty"),
            (shape("sk-cgpt-", 513), "longer than 512"),
            (shape("sk-cgpt-x", 40), "at most 8"),
            (shape("sk-cgpt-", 7), "inconsistent"),
            (shape("sk", 40), "inconsistent"),
            (shape("sk-\r\ncg", 40), "control characters"),
            (shape("sk- cgpt", 40), "spaces"),
            (shape("sk-cgpé", 40), "never occur"),
        ] {
            let m = check_analytics_key(&s).unwrap_err();
            assert!(m.contains(says), "{s:?}: {m}");
        }
        let m = check_analytics_key(&shape("sk-admin", 164)).unwrap_err();
        assert!(
            m.contains(ANALYTICS_KEY_HELP) && m.contains("API Token"),
            "{m}"
        );
    }
}
