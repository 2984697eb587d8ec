//! Settings on their way to a connector: form text typed by the kinds `describe` declared,
//! secrets turned into the shape a connector may see, and the rules of where each secret
//! may go, taken from `describe` and checked.

use std::collections::BTreeMap;

use http::HeaderName;

use super::error::HostError;
use crate::bindings::v0_2::types as wit;
use crate::origin::Origin;
use crate::policy::secrets::SecretRule;
use crate::secret::Secret;

/// Type raw form values by the kinds `describe` declared (unknown keys stay text, so the
/// connector can name them). A secret given as a plain setting is refused: secrets are
/// read from standard input, an environment variable or a password field.
pub fn typed(
    info: &wit::ConnectorInfo,
    raw: &[(String, String)],
) -> Result<Vec<wit::Setting>, HostError> {
    raw.iter()
        .map(|(key, value)| {
            let kind = info.settings.iter().find(|f| &f.key == key).map(|f| f.kind);
            let value = match kind {
                Some(wit::SettingKind::Secret) => {
                    return Err(HostError::new(
                        "usage",
                        format!("{key} is a secret: give it on standard input or through an environment variable, never as a setting"),
                    ))
                }
                Some(wit::SettingKind::Number) => match value.trim().parse::<i64>() {
                    Ok(n) => wit::SettingValue::Number(n),
                    Err(_) => wit::SettingValue::Text(value.clone()),
                },
                Some(wit::SettingKind::Boolean) => match value.trim() {
                    "true" | "yes" | "on" | "1" => wit::SettingValue::Boolean(true),
                    "false" | "no" | "off" | "0" => wit::SettingValue::Boolean(false),
                    _ => wit::SettingValue::Text(value.clone()),
                },
                Some(wit::SettingKind::List) => wit::SettingValue::List(
                    value
                        .split([',', '\n'])
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect(),
                ),
                _ => wit::SettingValue::Text(value.clone()),
            };
            Ok(wit::Setting {
                key: key.clone(),
                value,
            })
        })
        .collect()
}

/// The secrets as the connector sees them: one `secret-shape` per secret that has a value.
/// A secret for a key that is not a secret field is refused.
pub fn shapes(
    info: &wit::ConnectorInfo,
    secrets: &BTreeMap<String, Secret>,
) -> Result<Vec<wit::Setting>, HostError> {
    let mut out = Vec::new();
    for (key, value) in secrets {
        let is_secret = info
            .settings
            .iter()
            .any(|f| &f.key == key && f.kind == wit::SettingKind::Secret);
        if !is_secret {
            let names: Vec<&str> = info
                .settings
                .iter()
                .filter(|f| f.kind == wit::SettingKind::Secret)
                .map(|f| f.key.as_str())
                .collect();
            return Err(HostError::new(
                "usage",
                format!(
                    "{key} is not a secret setting of this connector; its secrets are: {}",
                    names.join(", ")
                ),
            ));
        }
        if value.is_empty() {
            continue;
        }
        let same_as = secrets
            .iter()
            .find(|(k, v)| *k != key && *v == value)
            .map(|(k, _)| k.clone());
        out.push(wit::Setting {
            key: key.clone(),
            value: wit::SettingValue::Secret(wit::SecretShape {
                length: u32::try_from(value.chars()).unwrap_or(u32::MAX),
                prefix: value.shape_prefix(),
                same_as,
            }),
        });
    }
    Ok(out)
}

/// Problems with secret values that only the host can see. The connector judges a secret
/// from its shape (length, first characters); the host holds the value and puts it in a
/// request header, so it refuses at save what a header cannot carry: line breaks and control
/// characters anywhere in the value (a header refuses them), and non-ASCII characters (a
/// header carries only visible ASCII reliably; in a pasted key they are paste damage, such
/// as typographic quotes). Without this, such a value past the characters the connector sees
/// was saved and failed every later request.
pub fn secret_problems(
    info: &wit::ConnectorInfo,
    rules: &[SecretRule],
    secrets: &BTreeMap<String, Secret>,
) -> Vec<wit::FieldError> {
    let mut out = Vec::new();
    for (key, value) in secrets {
        // A key that is no secret field is refused by `shapes`.
        let Some(rule) = rules.iter().find(|r| &r.key == key) else {
            continue;
        };
        let label = info
            .settings
            .iter()
            .find(|f| &f.key == key)
            .map_or(key.as_str(), |f| f.label.as_str());
        let v = value.expose();
        let message = if v.chars().any(char::is_control) {
            format!(
                "The {label} contains line breaks or control characters, which cannot be sent in the {} header; paste the value on its own.",
                rule.header
            )
        } else if !v.is_ascii() {
            format!(
                "The {label} contains non-ASCII characters (such as typographic quotes or accented letters), which the {} header cannot carry; paste the value on its own.",
                rule.header
            )
        } else {
            continue;
        };
        out.push(wit::FieldError {
            field: key.clone(),
            message,
        });
    }
    out
}

/// The connector's answer to `configure` with the host's own `problems` added: all of a
/// save's problems are reported at once, and a field the connector already named keeps the
/// connector's message.
pub fn with_host_problems(
    answer: Result<wit::Configured, wit::ConnectorError>,
    problems: Vec<wit::FieldError>,
) -> Result<wit::Configured, wit::ConnectorError> {
    if problems.is_empty() {
        return answer;
    }
    match answer {
        Ok(_) => Err(wit::ConnectorError::InvalidSettings(problems)),
        Err(wit::ConnectorError::InvalidSettings(mut fields)) => {
            for p in problems {
                if !fields.iter().any(|f| f.field == p.field) {
                    fields.push(p);
                }
            }
            Err(wit::ConnectorError::InvalidSettings(fields))
        }
        Err(other) => Err(other),
    }
}

/// Where each secret field may be sent, from `describe`. A secret field without a
/// `secret-use`, with an origin that is not valid, or with an origin the connector does not
/// declare, makes the connector unusable: the host would not know where the secret may go.
pub fn secret_rules(
    info: &wit::ConnectorInfo,
    declared: &[Origin],
) -> Result<Vec<SecretRule>, String> {
    let mut rules = Vec::new();
    for f in info
        .settings
        .iter()
        .filter(|f| f.kind == wit::SettingKind::Secret)
    {
        let Some(u) = &f.secret_use else {
            return Err(format!(
                "secret setting {} does not say where it may be sent (secret-use)",
                f.key
            ));
        };
        let header = HeaderName::try_from(u.header.to_ascii_lowercase()).map_err(|_| {
            format!(
                "secret setting {}: {:?} is not a header name",
                f.key, u.header
            )
        })?;
        if http::HeaderValue::from_str(&u.value_prefix).is_err() {
            return Err(format!(
                "secret setting {}: its value prefix cannot be sent in a header",
                f.key
            ));
        }
        let mut origins = Vec::new();
        for o in &u.origins {
            let o = Origin::declared(o).map_err(|e| format!("secret setting {}: {e}", f.key))?;
            if !declared.contains(&o) {
                return Err(format!(
                    "secret setting {} names {o}, which the connector does not declare among its origins",
                    f.key
                ));
            }
            origins.push(o);
        }
        if origins.is_empty() {
            return Err(format!(
                "secret setting {} names no origin it may be sent to",
                f.key
            ));
        }
        rules.push(SecretRule {
            key: f.key.clone(),
            header,
            value_prefix: u.value_prefix.clone(),
            origins,
        });
    }
    Ok(rules)
}

/// The declared origins of `describe`, checked (https, DNS names, real ports).
pub fn declared_origins(info: &wit::ConnectorInfo) -> Result<Vec<Origin>, String> {
    info.origins
        .iter()
        .map(|o| {
            Origin::declared(o)
                .map_err(|e| format!("the connector declares an origin the host refuses: {e}"))
        })
        .collect()
}

/// The origins a `configure` returned, checked: valid, and each one declared.
pub fn configured_origins(
    configured: &[wit::Origin],
    declared: &[Origin],
) -> Result<Vec<Origin>, String> {
    let mut out = Vec::new();
    for o in configured {
        let o = Origin::declared(o)
            .map_err(|e| format!("the connector asked to call an origin the host refuses: {e}"))?;
        if !declared.contains(&o) {
            return Err(format!(
                "the connector asked to call {o}, which it does not declare"
            ));
        }
        if !out.contains(&o) {
            out.push(o);
        }
    }
    Ok(out)
}
