//! A posted settings form, read by the kinds `describe` declared.
//!
//! - Non-secret fields become `(key, text)` pairs for [`crate::runner::Harness::check`];
//!   an empty field is left out (the connector's default applies), an unchecked checkbox is
//!   `false`.
//! - Each secret field is read on its own: a new value replaces that secret; an empty field
//!   keeps that secret's saved value ("leave empty to keep the saved value"); a connector
//!   with two secrets keeps both when only one is typed in. An optional secret can be
//!   removed with its "remove" box.
//! - Keys that are not fields of the connector are ignored.

use std::collections::BTreeMap;

use crate::bindings::v0_2::types as wit;
use crate::secret::Secret;

/// The name of the checkboxes that remove a saved optional secret (value: the field key).
pub(crate) const CLEAR: &str = "clear-secret";

/// What a settings post asks to save.
#[derive(Debug, Default)]
pub(crate) struct Posted {
    /// Non-secret settings as typed text.
    pub values: Vec<(String, String)>,
    /// Every secret the new configuration holds: the new ones and the kept ones.
    pub secrets: BTreeMap<String, Secret>,
    /// The non-secret values as submitted, to refill the form when they are not saved.
    pub submitted: BTreeMap<String, String>,
    /// Secret fields given a new value.
    pub new_secrets: Vec<String>,
    /// Secret fields left empty whose saved value is kept.
    pub kept_secrets: Vec<String>,
    /// Secret fields whose saved value is removed.
    pub cleared_secrets: Vec<String>,
}

/// Read `form` by the fields of `info`; `saved` are the secrets saved now.
pub(crate) fn parse(
    info: &wit::ConnectorInfo,
    form: &[(String, String)],
    saved: &BTreeMap<String, Secret>,
) -> Posted {
    let first = |key: &str| form.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let clear: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == CLEAR)
        .map(|(_, v)| v.as_str())
        .collect();
    let mut p = Posted::default();
    for f in &info.settings {
        let value = first(&f.key);
        match f.kind {
            wit::SettingKind::Secret => {
                let typed = Secret::from_input(value.unwrap_or(""));
                if !typed.is_empty() {
                    p.secrets.insert(f.key.clone(), typed);
                    p.new_secrets.push(f.key.clone());
                } else if clear.contains(&f.key.as_str()) && !f.required {
                    if saved.contains_key(&f.key) {
                        p.cleared_secrets.push(f.key.clone());
                    }
                } else if let Some(old) = saved.get(&f.key).filter(|s| !s.is_empty()) {
                    p.secrets.insert(f.key.clone(), old.clone());
                    p.kept_secrets.push(f.key.clone());
                }
            }
            wit::SettingKind::Boolean => {
                let on = value.is_some_and(|v| matches!(v, "true" | "on" | "yes" | "1"));
                p.values.push((f.key.clone(), on.to_string()));
                p.submitted.insert(f.key.clone(), on.to_string());
            }
            _ => {
                let v = value.unwrap_or("").to_string();
                if !v.trim().is_empty() {
                    p.values.push((f.key.clone(), v.clone()));
                }
                p.submitted.insert(f.key.clone(), v);
            }
        }
    }
    p
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn field(
        key: &str,
        kind: wit::SettingKind,
        required: bool,
        section: &str,
    ) -> wit::SettingField {
        wit::SettingField {
            key: key.into(),
            label: format!("Label of {key}"),
            kind,
            required,
            help: format!("Help for {key}"),
            default_value: None,
            choices: vec![],
            min: None,
            max: None,
            max_length: None,
            section: section.into(),
            secret_use: None,
        }
    }

    /// A connector with two secrets (one optional), a number, a flag and a list.
    pub(crate) fn info() -> wit::ConnectorInfo {
        use wit::SettingKind as K;
        wit::ConnectorInfo {
            id: "two-sources".into(),
            name: "Two Sources".into(),
            version: "1.0.0".into(),
            description: "Reads two sources.".into(),
            settings: vec![
                field("first_key", K::Secret, true, "a"),
                field("days", K::Number, false, "a"),
                field("second_key", K::Secret, false, "b"),
                field("hourly", K::Boolean, false, "b"),
                field("ids", K::List, false, "b"),
                field("loose", K::Text, false, ""),
            ],
            sections: vec![
                wit::Section {
                    id: "a".into(),
                    title: "Source A".into(),
                    help: "Fill in for A.".into(),
                },
                wit::Section {
                    id: "b".into(),
                    title: "Source B".into(),
                    help: "Fill in for B.".into(),
                },
            ],
            streams: vec![],
            capabilities: vec![
                wit::CapabilityInfo {
                    name: "a-read".into(),
                    label: "Source A".into(),
                    description: "Reads A.".into(),
                },
                wit::CapabilityInfo {
                    name: "b-read".into(),
                    label: "Source B".into(),
                    description: "Reads B.".into(),
                },
            ],
            origins: vec![],
            notes: vec!["A note.".into()],
        }
    }

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn saved() -> BTreeMap<String, Secret> {
        let mut s = BTreeMap::new();
        s.insert(
            "first_key".to_string(),
            Secret::from_input("first-saved-value-0123456789"),
        );
        s.insert(
            "second_key".to_string(),
            Secret::from_input("second-saved-value-0123456789"),
        );
        s
    }

    #[test]
    fn each_secret_is_kept_or_replaced_on_its_own() {
        let info = info();
        // Only the second secret typed in: the first keeps its saved value.
        let p = parse(
            &info,
            &form(&[
                ("csrf", "x"),
                ("first_key", ""),
                ("second_key", "  second-new-value-abcdefgh \n"),
                ("days", "7"),
            ]),
            &saved(),
        );
        assert_eq!(
            p.secrets["first_key"].expose(),
            "first-saved-value-0123456789"
        );
        assert_eq!(
            p.secrets["second_key"].expose(),
            "second-new-value-abcdefgh"
        );
        assert_eq!(p.new_secrets, ["second_key"]);
        assert_eq!(p.kept_secrets, ["first_key"]);
        // Both left empty: both kept.
        let p = parse(
            &info,
            &form(&[("first_key", ""), ("second_key", "")]),
            &saved(),
        );
        assert_eq!(p.secrets, saved());
        assert_eq!(p.kept_secrets, ["first_key", "second_key"]);
        // Nothing saved and nothing typed: no secrets at all (the connector says what is missing).
        let p = parse(&info, &form(&[]), &BTreeMap::new());
        assert!(p.secrets.is_empty() && p.new_secrets.is_empty() && p.kept_secrets.is_empty());
    }

    #[test]
    fn an_optional_secret_can_be_removed_a_required_one_cannot() {
        let info = info();
        let p = parse(
            &info,
            &form(&[
                (CLEAR, "second_key"),
                (CLEAR, "first_key"),
                ("first_key", ""),
                ("second_key", ""),
            ]),
            &saved(),
        );
        assert_eq!(p.cleared_secrets, ["second_key"]);
        assert!(!p.secrets.contains_key("second_key"));
        assert!(
            p.secrets.contains_key("first_key"),
            "a required secret is kept"
        );
        // A new value wins over the box.
        let p = parse(
            &info,
            &form(&[(CLEAR, "second_key"), ("second_key", "brand-new-value-xyz")]),
            &saved(),
        );
        assert_eq!(p.secrets["second_key"].expose(), "brand-new-value-xyz");
    }

    #[test]
    fn other_fields_by_kind() {
        let info = info();
        let p = parse(
            &info,
            &form(&[
                ("days", "30"),
                ("ids", "a, b\nc"),
                ("loose", "  "),
                ("unknown", "x"),
                ("hourly", "true"),
            ]),
            &BTreeMap::new(),
        );
        assert_eq!(
            p.values,
            [
                ("days".to_string(), "30".to_string()),
                ("hourly".to_string(), "true".to_string()),
                ("ids".to_string(), "a, b\nc".to_string()),
            ]
        );
        assert_eq!(p.submitted["loose"], "  ");
        assert!(!p.submitted.contains_key("unknown"));
        assert!(
            !p.submitted.contains_key("first_key"),
            "secrets are never refilled"
        );
        let p = parse(&info, &form(&[]), &BTreeMap::new());
        assert!(
            p.values
                .contains(&("hourly".to_string(), "false".to_string())),
            "unchecked = false"
        );
    }
}
