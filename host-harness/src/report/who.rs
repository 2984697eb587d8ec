//! Who-is-who input as an admin types it (`people alias A B`, `people team NAME EMAIL…`,
//! and the same forms on the settings page), checked the same way everywhere before
//! anything is stored: an email is trimmed and lower-cased ([`person_key`]) and must look
//! like an address; an alias joins two different emails and must not close a cycle; a team
//! has a one-line name and at least one member. Each refusal is one sentence an admin can
//! act on.

use std::collections::BTreeMap;

use super::alignment::Aliases;
use super::identity::{is_person, person_key};

/// `arg` as the store keeps an email, or why it is not one.
pub fn email(arg: &str) -> Result<String, String> {
    let key = person_key(arg);
    if is_person(&key) && !key.contains(char::is_whitespace) && !key.chars().any(char::is_control) {
        Ok(key)
    } else {
        Err(format!("{arg:?} is not an email address"))
    }
}

/// `alias` → `target` checked against the connection's alias `table` (as stored): both
/// emails, different, and no cycle once added. Returns the two emails as stored.
pub fn alias(
    table: &BTreeMap<String, String>,
    alias: &str,
    target: &str,
) -> Result<(String, String), String> {
    let (alias, target) = (email(alias)?, email(target)?);
    if alias == target {
        return Err(format!(
            "{alias} is already itself; give two different emails"
        ));
    }
    let mut table = table.clone();
    table.insert(alias.clone(), target.clone());
    // Refused before it is stored: a cycle would leave no email to name the person.
    Aliases::new(&table).map_err(|e| format!("{e}; the alias was not added"))?;
    Ok((alias, target))
}

/// Team `name` with `emails`: the name trimmed (not empty, one line), at least one email,
/// each checked. Returns the name and the emails as stored.
pub fn team(name: &str, emails: &[String]) -> Result<(String, Vec<String>), String> {
    let name = name.trim().to_string();
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err("give the team a name (no control characters)".to_string());
    }
    if emails.is_empty() {
        return Err(format!("give the emails of team {name}'s members"));
    }
    let members = emails
        .iter()
        .map(|e| email(e))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((name, members))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_is_checked_before_it_is_stored() {
        assert_eq!(email(" Ada@Example.COM ").unwrap(), "ada@example.com");
        assert!(email("ada")
            .unwrap_err()
            .contains("is not an email address"));
        assert!(email("a b@x").is_err());
        let mut table = BTreeMap::new();
        assert_eq!(
            alias(&table, "P@home", "w@work").unwrap(),
            ("p@home".into(), "w@work".into())
        );
        assert!(alias(&table, "w@work", "W@WORK")
            .unwrap_err()
            .contains("already itself"));
        table.insert("p@home".to_string(), "w@work".to_string());
        assert!(alias(&table, "w@work", "p@home")
            .unwrap_err()
            .contains("the alias was not added"));
        assert_eq!(
            team(" core ", &["A@x".into()]).unwrap(),
            ("core".into(), vec!["a@x".into()])
        );
        assert!(team("", &["a@x".into()]).is_err());
        assert!(team("a\nb", &["a@x".into()]).is_err());
        assert!(team("t", &[]).is_err());
        assert!(team("t", &["nope".into()])
            .unwrap_err()
            .contains("\"nope\""));
    }
}
