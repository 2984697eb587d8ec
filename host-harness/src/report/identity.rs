//! Who a record belongs to. Identity is the email, compared case-insensitively: a Platform
//! `user_id` maps to an email through the `users` stream; an API key's owner through
//! `api_keys` (a service account is named as such); a ChatGPT workspace row carries the
//! email itself. What cannot be tied to anyone is unattributed, never dropped.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use crate::store::Store;

/// The label of usage tied to no one.
pub const UNATTRIBUTED: &str = "(unattributed)";

/// An email as the identity of a person: trimmed and lower-cased.
pub fn person_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Whether a person key is a person (an email) rather than a service account or
/// [`UNATTRIBUTED`].
pub fn is_person(key: &str) -> bool {
    key.contains('@')
}

/// The directory of the API-key path: user ids and key owners to person keys, and names.
#[derive(Debug, Default)]
pub struct Directory {
    emails: HashMap<String, String>,
    owners: HashMap<String, String>,
    /// Names by person key, where the directory has them.
    pub names: BTreeMap<String, String>,
}

impl Directory {
    /// Read the `users` and `api_keys` records of `connection`.
    pub async fn load(store: &Store, connection: &str) -> anyhow::Result<Directory> {
        let mut d = Directory::default();
        for r in store.records(connection, "users").await? {
            let Ok(p) = serde_json::from_str::<Value>(&r.payload) else {
                continue;
            };
            if let (Some(id), Some(email)) = (p["user_id"].as_str(), p["email"].as_str()) {
                let key = person_key(email);
                if let Some(name) = p["name"].as_str().filter(|n| !n.is_empty()) {
                    d.names.insert(key.clone(), name.to_string());
                }
                d.emails.insert(id.to_string(), key);
            }
        }
        for r in store.records(connection, "api_keys").await? {
            let Ok(p) = serde_json::from_str::<Value>(&r.payload) else {
                continue;
            };
            let who = p["owner_email"].as_str().map(person_key).or_else(|| {
                p["service_account_name"]
                    .as_str()
                    .map(|s| format!("service account: {s}"))
            });
            if let (Some(id), Some(who)) = (p["api_key_id"].as_str(), who) {
                d.owners.insert(id.to_string(), who);
            }
        }
        Ok(d)
    }

    /// Who an API-key usage payload belongs to: its user's email, else its key's owner,
    /// else unattributed.
    pub fn api_key_user(&self, p: &Value) -> String {
        p["user_id"]
            .as_str()
            .and_then(|u| self.emails.get(u).cloned())
            .or_else(|| {
                p["api_key_id"]
                    .as_str()
                    .and_then(|k| self.owners.get(k).cloned())
            })
            .unwrap_or_else(|| UNATTRIBUTED.to_string())
    }
}

/// Who a ChatGPT workspace payload belongs to: its email, else unattributed.
pub fn workspace_user(p: &Value) -> String {
    p["email"]
        .as_str()
        .filter(|e| e.contains('@'))
        .map(person_key)
        .unwrap_or_else(|| UNATTRIBUTED.to_string())
}
