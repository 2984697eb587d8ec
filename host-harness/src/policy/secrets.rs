//! Where a connector's secrets may go, and putting them there.
//!
//! A component never sees a secret. `secrets.attach` puts a placeholder in the request
//! header the secret's `secret-use` names (a random value per session, worthless outside
//! the host); when the request is sent, the placeholder becomes the secret only if the
//! request goes over https to one of the secret's origins. A placeholder anywhere else, or
//! on a request to any other origin, gets the request refused. Copying a placeholder into
//! a body, a path or a host name sends nothing: only these headers are ever filled in.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};

use crate::origin::Origin;
use crate::secret::Secret;

/// Where one secret setting may be sent, from the connector's `describe`.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretRule {
    pub key: String,
    pub header: HeaderName,
    pub value_prefix: String,
    pub origins: Vec<Origin>,
}

/// Why `attach` did not attach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachRefusal {
    UnknownSecret,
    NotSet,
}

struct Entry {
    rule: SecretRule,
    value: Option<Secret>,
    placeholder: String,
}

/// The secrets of one session: their rules, values and placeholders.
pub struct SessionSecrets {
    entries: Vec<Entry>,
}

impl SessionSecrets {
    /// `rules` from `describe`, `values` from the store. A placeholder is 128 random bits
    /// from the OS; without a random source there is no session.
    pub fn new(rules: Vec<SecretRule>, values: &BTreeMap<String, Secret>) -> anyhow::Result<Self> {
        let mut entries = Vec::with_capacity(rules.len());
        for rule in rules {
            let value = values.get(&rule.key).filter(|v| !v.is_empty()).cloned();
            entries.push(Entry {
                placeholder: format!("hh-secret-{}", crate::random::hex(16)?),
                rule,
                value,
            });
        }
        Ok(SessionSecrets { entries })
    }

    /// A session without secrets (describe-only probes, tests).
    pub fn none() -> Self {
        SessionSecrets {
            entries: Vec::new(),
        }
    }

    /// The header and placeholder value `attach` puts on a request for secret `key`.
    pub fn placeholder(&self, key: &str) -> Result<(HeaderName, HeaderValue), AttachRefusal> {
        let e = self
            .entries
            .iter()
            .find(|e| e.rule.key == key)
            .ok_or(AttachRefusal::UnknownSecret)?;
        if e.value.is_none() {
            return Err(AttachRefusal::NotSet);
        }
        let v = HeaderValue::from_str(&format!("{}{}", e.rule.value_prefix, e.placeholder))
            .map_err(|_| AttachRefusal::UnknownSecret)?;
        Ok((e.rule.header.clone(), v))
    }

    /// Whether `name` is a header only the host may set (the component's own attempts to
    /// set it are refused as forbidden).
    pub fn owns_header(&self, name: &HeaderName) -> bool {
        self.entries.iter().any(|e| e.rule.header == *name)
    }

    /// Put the secrets in a request bound for `origin`: every placeholder must sit alone in
    /// its own secret's header, and `origin` must be one of that secret's, over https.
    /// Returns the reason when the request must be refused.
    pub fn fill(&self, origin: &Origin, headers: &mut HeaderMap) -> Result<(), String> {
        if self.entries.is_empty() {
            return Ok(());
        }
        for (name, value) in headers.iter_mut() {
            let bytes = value.as_bytes();
            for e in &self.entries {
                if !contains(bytes, e.placeholder.as_bytes()) {
                    continue;
                }
                let expected = format!("{}{}", e.rule.value_prefix, e.placeholder);
                if *name != e.rule.header || bytes != expected.as_bytes() {
                    return Err(format!(
                        "secret {} was copied into header {name}, where the host does not send it",
                        e.rule.key
                    ));
                }
                if origin.scheme != "https" || !e.rule.origins.contains(origin) {
                    return Err(format!("secret {} may not be sent to {origin}", e.rule.key));
                }
                let secret = e.value.as_ref().map(Secret::expose).unwrap_or("");
                let mut filled = HeaderValue::from_str(&format!("{}{secret}", e.rule.value_prefix))
                    .map_err(|_| format!("secret {} cannot travel in a header", e.rule.key))?;
                filled.set_sensitive(true);
                *value = filled;
                break;
            }
        }
        Ok(())
    }

    /// The secret values, for the redactor.
    pub fn values(&self) -> impl Iterator<Item = &Secret> {
        self.entries.iter().filter_map(|e| e.value.as_ref())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(host: &str, scheme: &str, port: u16) -> Origin {
        Origin {
            scheme: scheme.into(),
            host: host.into(),
            port,
        }
    }

    fn secrets() -> SessionSecrets {
        let rule = SecretRule {
            key: "api_token".into(),
            header: http::header::AUTHORIZATION,
            value_prefix: "Bearer ".into(),
            origins: vec![origin("api.openai.com", "https", 443)],
        };
        let mut values = BTreeMap::new();
        values.insert(
            "api_token".to_string(),
            Secret::from_input("sk-admin-SECRETSECRETSECRET"),
        );
        SessionSecrets::new(vec![rule], &values).unwrap()
    }

    #[test]
    fn a_secret_goes_only_to_its_origins_over_https() {
        let s = secrets();
        let (name, placeholder) = s.placeholder("api_token").unwrap();
        assert!(!placeholder.to_str().unwrap().contains("SECRET"));
        let with = |v: &HeaderValue| {
            let mut h = HeaderMap::new();
            h.insert(name.clone(), v.clone());
            h
        };
        let mut ok = with(&placeholder);
        s.fill(&origin("api.openai.com", "https", 443), &mut ok)
            .unwrap();
        assert_eq!(ok[&name], "Bearer sk-admin-SECRETSECRETSECRET");
        for o in [
            origin("api.openai.com", "http", 80),
            origin("api.openai.com", "https", 8443),
            origin("evil.example", "https", 443),
        ] {
            let mut h = with(&placeholder);
            assert!(s.fill(&o, &mut h).is_err(), "{o}");
            assert!(!format!("{h:?}").contains("SECRET"));
        }
        // copied into another header: refused, even to the right origin
        let mut h = HeaderMap::new();
        h.insert("x-copy", placeholder.clone());
        assert!(s
            .fill(&origin("api.openai.com", "https", 443), &mut h)
            .is_err());
        assert_eq!(s.placeholder("other"), Err(AttachRefusal::UnknownSecret));
        let unset = SessionSecrets::new(
            vec![SecretRule {
                key: "k".into(),
                header: http::header::AUTHORIZATION,
                value_prefix: String::new(),
                origins: vec![],
            }],
            &BTreeMap::new(),
        )
        .unwrap();
        assert_eq!(unset.placeholder("k"), Err(AttachRefusal::NotSet));
    }
}
