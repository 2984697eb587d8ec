//! The connection status of the *saved* configuration: the last live check of exactly what
//! is stored. A check of settings that were then not saved (a rejected new key) never lands
//! here — it is shown as that attempt's result — so the page does not call a working saved
//! configuration "not connected".
//!
//! The check is tied to a fingerprint of the stored settings and secrets; when the store
//! holds something else (saved from the CLI meanwhile), the page says "not checked" rather
//! than show a check of other settings.

use std::collections::BTreeMap;
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::views::CheckView;
use crate::bindings::v0_2::types as wit;
use crate::secret::Secret;
use crate::store::value_to_json;

/// A digest of a stored configuration (held in memory only, never shown).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 32]);

pub(crate) fn fingerprint(
    settings: &[wit::Setting],
    secrets: &BTreeMap<String, Secret>,
) -> Fingerprint {
    let mut h = Sha256::new();
    let mut sorted: Vec<(&str, String)> = settings
        .iter()
        .map(|s| (s.key.as_str(), value_to_json(&s.value).unwrap_or_default()))
        .collect();
    sorted.sort();
    for (k, v) in sorted {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.as_bytes());
        h.update([0]);
    }
    h.update([1]);
    for (k, v) in secrets {
        h.update(k.as_bytes());
        h.update([0]);
        h.update(v.expose().as_bytes());
        h.update([0]);
    }
    Fingerprint(h.finalize().into())
}

/// The last check of the saved configuration.
#[derive(Default)]
pub(crate) struct Connection {
    last: Mutex<Option<(Fingerprint, CheckView)>>,
}

impl Connection {
    /// Remember `check` as the status of the configuration with `fp`.
    pub fn record(&self, fp: Fingerprint, check: CheckView) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((fp, check));
    }

    /// The last check, when it was of the configuration stored now (`fp`).
    pub fn of(&self, fp: Fingerprint) -> Option<CheckView> {
        self.last
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .filter(|(f, _)| *f == fp)
            .map(|(_, c)| c.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(key: &str, v: &str) -> wit::Setting {
        wit::Setting {
            key: key.into(),
            value: wit::SettingValue::Text(v.into()),
        }
    }

    #[test]
    fn a_check_belongs_to_the_configuration_it_checked() {
        let mut secrets = BTreeMap::new();
        secrets.insert("k".to_string(), Secret::from_input("value-one-0123456789"));
        let a = fingerprint(&[text("x", "1"), text("y", "2")], &secrets);
        assert_eq!(
            a,
            fingerprint(&[text("y", "2"), text("x", "1")], &secrets),
            "order does not matter"
        );
        assert_ne!(a, fingerprint(&[text("x", "1"), text("y", "3")], &secrets));
        let mut other = secrets.clone();
        other.insert("k".to_string(), Secret::from_input("value-two-0123456789"));
        let b = fingerprint(&[text("x", "1"), text("y", "2")], &other);
        assert_ne!(a, b);

        let c = Connection::default();
        assert!(c.of(a).is_none());
        let check = CheckView {
            at: "now".into(),
            ok: true,
            organization: None,
            credentials: vec![],
            caps: vec![],
            notes: vec![],
        };
        c.record(a, check);
        assert!(c.of(a).is_some_and(|v| v.ok));
        assert!(c.of(b).is_none(), "another configuration is not checked");
    }
}
