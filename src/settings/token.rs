//! Local checks of the API Token from its shape alone (`secret-shape`: length, the first
//! characters, and whether another secret setting holds the same value). The value itself
//! never enters the component: the host attaches it to requests.

use crate::model::SecretShape;

use super::{label_of, ADMIN_KEY_HELP};

/// The most characters of a secret the host may show the connector.
pub const SHAPE_PREFIX_CHARS: usize = 8;
/// Longest token accepted; real admin keys are far shorter, this only bounds bad input.
pub const MAX_TOKEN_LEN: u32 = 512;
/// `sk-admin-` and at least 16 more characters.
pub const MIN_ADMIN_KEY_LEN: u32 = 25;

/// Check the shape of an OpenAI Admin API key; the message says what is wrong and what to
/// do, and never repeats more of the key than its well-known kind prefix.
pub fn check_admin_key(shape: &SecretShape) -> Result<(), String> {
    let prefix = shape.prefix.as_str();
    let shown = prefix.chars().count();
    if shown > SHAPE_PREFIX_CHARS {
        return Err(format!(
            "The host passed more than the first {SHAPE_PREFIX_CHARS} characters of the API Token; it must pass secrets as secret-shape, with at most {SHAPE_PREFIX_CHARS} characters of prefix."
        ));
    }
    // The contract shows at most 8 characters, and never more than half of the secret.
    let allowed = (shape.length as usize / 2).min(SHAPE_PREFIX_CHARS);
    if shown > allowed {
        return Err(inconsistent());
    }
    if shape.length == 0 {
        return Err(format!("The API Token is empty. {ADMIN_KEY_HELP}"));
    }
    if shape.length > MAX_TOKEN_LEN {
        return Err(format!(
            "The API Token is longer than {MAX_TOKEN_LEN} characters; paste only the key. {ADMIN_KEY_HELP}"
        ));
    }
    if prefix.chars().any(char::is_control) {
        return Err(
            "The API Token contains line breaks or control characters; paste the key on its own."
                .into(),
        );
    }
    if prefix.chars().any(char::is_whitespace) {
        return Err("The API Token contains spaces; paste the key on its own.".into());
    }
    if !prefix.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("The API Token contains characters that never occur in OpenAI keys; paste the key on its own.".into());
    }
    if shown < SHAPE_PREFIX_CHARS {
        // The contract shows at most 8 characters and never more than half of the secret:
        // a prefix shorter than that is a host that hid more than it had to.
        if shown < allowed {
            return Err(inconsistent());
        }
        // Too short to show its whole kind: it cannot be a complete Admin API key.
        if !"sk-admin".starts_with(prefix) {
            return Err(not_admin());
        }
        return Err(too_short());
    }
    if prefix.starts_with("sk-proj-") {
        return Err(format!(
            "This is a project API key (sk-proj-…); it cannot read organization usage. {ADMIN_KEY_HELP}"
        ));
    }
    if prefix.starts_with("sk-svcac") {
        return Err(format!(
            "This is a service-account key (sk-svcacct-…); it cannot read organization usage. {ADMIN_KEY_HELP}"
        ));
    }
    if prefix != "sk-admin" {
        return Err(not_admin());
    }
    if shape.length < MIN_ADMIN_KEY_LEN {
        return Err(too_short());
    }
    Ok(())
}

fn inconsistent() -> String {
    format!(
        "The host passed an inconsistent secret-shape for the API Token: its prefix must be the first {SHAPE_PREFIX_CHARS} characters of the value, or half of it when shorter."
    )
}

fn not_admin() -> String {
    format!("This is not an OpenAI Admin API key (those start with sk-admin-). {ADMIN_KEY_HELP}")
}

fn too_short() -> String {
    format!("The API Token is too short to be a complete Admin API key. {ADMIN_KEY_HELP}")
}

/// A secret setting `field` holding the same value as another secret setting of
/// `secret_keys` is a mistake (each source needs its own credential). A `same-as` that
/// names no other secret setting is the host's business and is ignored.
pub fn same_as_problem(field: &str, shape: &SecretShape, secret_keys: &[&str]) -> Option<String> {
    let other = shape.same_as.as_deref()?;
    if other == field || !secret_keys.contains(&other) {
        return None;
    }
    Some(format!(
        "This is the same key as in {}; each of these fields needs its own key.",
        label_of(other)
    ))
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
    fn admin_keys_pass() {
        assert_eq!(check_admin_key(&shape("sk-admin", 25)), Ok(()));
        assert_eq!(check_admin_key(&shape("sk-admin", 164)), Ok(()));
    }

    #[test]
    fn other_kinds_of_keys_say_what_they_are_and_what_to_do() {
        for (prefix, length, says) in [
            ("sk-proj-", 164, "project API key"),
            ("sk-svcac", 164, "service-account key"),
            ("sk-abcde", 51, "not an OpenAI Admin API key"),
            ("sk-None-", 51, "not an OpenAI Admin API key"),
            ("he", 5, "not an OpenAI Admin API key"),
            ("sk-", 6, "too short"),
            ("sk-a", 9, "too short"),
            ("sk-admin", 24, "too short"),
            ("sk-admin", 16, "too short"),
        ] {
            let m = check_admin_key(&shape(prefix, length)).unwrap_err();
            assert!(m.contains(says), "{prefix}: {m}");
            assert!(m.contains(ADMIN_KEY_HELP), "{prefix}: {m}");
            assert!(!m.contains("ChatGPT"), "{prefix}: {m}");
        }
    }

    #[test]
    fn bad_characters_and_sizes() {
        for (s, says) in [
            (shape("", 0), "empty"),
            (shape("sk-admin", 513), "longer than 512"),
            (shape("sk-a\r\nXY", 40), "control characters"),
            (shape("sk-a dm", 40), "spaces"),
            (shape("sk-admi", 40), "inconsistent"),
            (shape("sk-a dmi", 40), "spaces"),
            (shape("sk-admé", 40), "never occur"),
            (shape("sk-admin", 7), "inconsistent"),
            (shape("sk-adméx", 40), "never occur"),
        ] {
            let m = check_admin_key(&s).unwrap_err();
            assert!(m.contains(says), "{s:?}: {m}");
        }
    }

    #[test]
    fn the_host_may_show_at_most_eight_characters() {
        let m = check_admin_key(&shape("sk-admin-", 40)).unwrap_err();
        assert!(m.contains("at most 8"), "{m}");
        // a prefix shorter than the value allows is a host bug, not a kind of key
        let m = check_admin_key(&shape("sk", 40)).unwrap_err();
        assert!(m.contains("inconsistent"), "{m}");
        let m = check_admin_key(&shape("sk-admin", 6)).unwrap_err();
        assert!(m.contains("inconsistent"), "{m}");
    }

    #[test]
    fn the_same_key_in_two_secret_fields_is_refused() {
        let mut s = shape("sk-admin", 40);
        assert_eq!(
            same_as_problem("api_token", &s, &["api_token", "other"]),
            None
        );
        s.same_as = Some("other".into());
        let m = same_as_problem("api_token", &s, &["api_token", "other"]).unwrap();
        assert!(m.contains("same key"), "{m}");
        // not a secret setting of ours: ignored
        assert_eq!(same_as_problem("api_token", &s, &["api_token"]), None);
        s.same_as = Some("api_token".into());
        assert_eq!(same_as_problem("api_token", &s, &["api_token"]), None);
    }
}
