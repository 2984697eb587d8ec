//! `validate-credentials`: one live call per capability, so that a rejected key, a key
//! without admin rights and a restricted key missing one scope are told apart. The
//! capabilities of a source that is not configured are `not-configured`, without a call.

use super::analytics::{analytics_get, probe_path};
use super::platform_get;
use crate::capability::{Capability, Source};
use crate::model::{CapabilityCheck, CheckStatus, ConnectorError, CredentialReport};
use crate::provider_error::classify;
use crate::settings::Settings;
use crate::time::align_down;
use crate::transport::Transport;

/// The cheapest read of each capability: today's usage bucket, the first user.
fn probe(capability: Capability, now: i64) -> Result<String, ConnectorError> {
    Ok(match capability {
        Capability::PlatformUsage => {
            let today = align_down(now, 86_400).ok_or_else(|| {
                ConnectorError::Internal(format!("the clock reads an impossible time ({now})"))
            })?;
            format!("/v1/organization/usage/completions?start_time={today}&bucket_width=1d&limit=1")
        }
        _ => "/v1/organization/users?limit=1".to_string(),
    })
}

/// Check every capability. A rate limit or a transient failure stops the check (the host
/// retries it); any other failure is that capability's denial.
pub fn validate(
    t: &mut dyn Transport,
    settings: &Settings,
) -> Result<CredentialReport, ConnectorError> {
    let now = t.now();
    let mut capabilities = Vec::new();
    let mut organization = None;
    for cap in Capability::ALL {
        let outcome = match (cap.source(), &settings.chatgpt) {
            (Source::Platform, _) if !settings.platform => None,
            (Source::Platform, _) => {
                let path = probe(cap, now)?;
                Some(platform_get(t, settings, &path).and_then(|resp| {
                    if organization.is_none() {
                        organization = resp.organization.clone().filter(|o| {
                            !o.is_empty() && o.len() <= 128 && !o.chars().any(char::is_control)
                        });
                    }
                    classify(&resp, cap)
                }))
            }
            (Source::Chatgpt, None) => None,
            (Source::Chatgpt, Some(chatgpt)) => {
                let path = probe_path(chatgpt, cap, now)?;
                Some(analytics_get(t, &path).and_then(|resp| classify(&resp, cap)))
            }
        };
        let Some(outcome) = outcome else {
            capabilities.push(CapabilityCheck {
                name: cap.name().into(),
                status: CheckStatus::NotConfigured,
                problem: None,
                message: cap.not_configured_message().into(),
            });
            continue;
        };
        capabilities.push(match outcome {
            Ok(()) => CapabilityCheck {
                name: cap.name().into(),
                status: CheckStatus::Granted,
                problem: None,
                message: cap.granted_message().into(),
            },
            Err(e @ (ConnectorError::RateLimited { .. } | ConnectorError::Transient(_))) => {
                return Err(e)
            }
            Err(e) => CapabilityCheck {
                name: cap.name().into(),
                status: CheckStatus::Denied,
                problem: Some(e.class()),
                message: e.message(),
            },
        });
    }
    Ok(CredentialReport {
        // every configured capability granted
        ok: capabilities.iter().all(|c| c.status != CheckStatus::Denied),
        capabilities,
        organization,
        notes: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fake::{ok, status, Fake};
    use super::*;
    use crate::model::ErrorClass;
    use crate::transport::HttpResponse;

    const NOW: i64 = 1_700_043_200;

    fn settings() -> Settings {
        Settings::for_normalize("*codex*", &[], &[])
    }

    #[test]
    fn each_capability_is_reported() {
        let mut granted = ok(r#"{"object":"page","data":[],"has_more":false}"#);
        granted.organization = Some("org-abc".into());
        let mut t = Fake::new(
            NOW,
            [
                granted,
                status(
                    403,
                    r#"{"error":"You have insufficient permissions for this operation. Missing scopes: api.management.read."}"#,
                ),
            ],
        );
        let r = validate(&mut t, &settings()).unwrap();
        assert!(!r.ok);
        assert_eq!(r.organization.as_deref(), Some("org-abc"));
        assert_eq!(r.capabilities.len(), 5);
        assert_eq!(r.capabilities[0].name, "platform-usage");
        assert_eq!(r.capabilities[0].status, CheckStatus::Granted);
        assert_eq!(r.capabilities[0].problem, None);
        assert_eq!(r.capabilities[1].name, "platform-directory");
        assert_eq!(r.capabilities[1].status, CheckStatus::Denied);
        assert_eq!(r.capabilities[1].problem, Some(ErrorClass::Forbidden));
        assert!(
            r.capabilities[1].message.contains("api.management.read"),
            "{}",
            r.capabilities[1].message
        );
        assert!(r.notes.is_empty());
        // the ChatGPT source is not configured: not an error, and no call
        for c in &r.capabilities[2..] {
            assert_eq!((c.status, c.problem), (CheckStatus::NotConfigured, None));
            assert!(c.message.contains("ChatGPT sign-in"), "{}", c.message);
        }
        assert_eq!(
            t.paths(),
            [
                "/v1/organization/usage/completions?start_time=1700006400&bucket_width=1d&limit=1",
                "/v1/organization/users?limit=1"
            ]
        );
    }

    #[test]
    fn all_granted_is_ok_and_a_rejected_key_is_unauthorized() {
        let mut t = Fake::new(NOW, [ok("{}"), ok("{}")]);
        assert!(validate(&mut t, &settings()).unwrap().ok);
        let bad = r#"{"error":{"message":"Incorrect API key provided: sk-admin****wxyz.","code":"invalid_api_key"}}"#;
        let mut t = Fake::new(NOW, [status(401, bad), status(401, bad)]);
        let r = validate(&mut t, &settings()).unwrap();
        assert!(!r.ok);
        for c in &r.capabilities[..2] {
            assert_eq!(
                (c.status, c.problem),
                (CheckStatus::Denied, Some(ErrorClass::Unauthorized))
            );
            assert!(!c.message.contains("wxyz"), "{}", c.message);
        }
    }

    #[test]
    fn rate_limits_and_outages_stop_the_check() {
        let mut t = Fake::new(
            NOW,
            [
                ok("{}"),
                HttpResponse {
                    status: 429,
                    retry_after: Some("1.5".into()),
                    ..Default::default()
                },
            ],
        );
        assert_eq!(
            validate(&mut t, &settings()).unwrap_err(),
            ConnectorError::RateLimited {
                retry_after_ms: Some(1500),
                message: "OpenAI rate-limited the request.".into()
            }
        );
        // the fake has no more replies: a transport failure
        let mut t = Fake::new(NOW, []);
        assert!(matches!(
            validate(&mut t, &settings()),
            Err(ConnectorError::Transient(_))
        ));
    }

    /// `align_down(now)` overflowed here at the start of time.
    #[test]
    fn a_clock_at_the_start_of_i64_is_an_internal_error() {
        let mut t = Fake::new(i64::MIN, []);
        assert!(matches!(
            validate(&mut t, &settings()),
            Err(ConnectorError::Internal(_))
        ));
        assert!(t.seen.is_empty());
    }

    #[test]
    fn a_transport_refusal_is_a_denial() {
        struct NoToken;
        impl Transport for NoToken {
            fn get(
                &mut self,
                r: &crate::transport::Request<'_>,
            ) -> Result<HttpResponse, ConnectorError> {
                Err(ConnectorError::Unauthorized(
                    crate::settings::missing_secret_message(r.secret),
                ))
            }
            fn now(&self) -> i64 {
                NOW
            }
        }
        let r = validate(&mut NoToken, &settings()).unwrap();
        assert!(!r.ok);
        assert!(r.capabilities[..2]
            .iter()
            .all(|c| c.problem == Some(ErrorClass::Unauthorized)));
        assert!(
            r.capabilities[0].message.contains("No API token is saved"),
            "{}",
            r.capabilities[0].message
        );
    }

    const WS: &str = "123e4567-e89b-42d3-a456-426614174000";

    fn chatgpt_only(period: crate::settings::Period) -> Settings {
        let mut s = settings().with_chatgpt(WS, period);
        s.platform = false;
        s
    }

    #[test]
    fn the_chatgpt_source_alone_is_probed_per_endpoint() {
        let empty = r#"{"data":[],"has_more":false,"next_page":null}"#;
        let mut t = Fake::new(NOW, [ok(empty), ok(empty), ok(empty)]);
        let r = validate(&mut t, &chatgpt_only(crate::settings::Period::Week)).unwrap();
        assert!(r.ok);
        assert_eq!(r.organization, None);
        let got: Vec<(&str, CheckStatus)> = r
            .capabilities
            .iter()
            .map(|c| (c.name.as_str(), c.status))
            .collect();
        assert_eq!(
            got,
            [
                ("platform-usage", CheckStatus::NotConfigured),
                ("platform-directory", CheckStatus::NotConfigured),
                ("workspace-usage", CheckStatus::Granted),
                ("code-reviews", CheckStatus::Granted),
                ("code-review-responses", CheckStatus::Granted),
            ]
        );
        assert!(
            r.capabilities[0].message.contains("API Token"),
            "{}",
            r.capabilities[0].message
        );
        let yesterday = 1_699_920_000;
        for (seen, endpoint) in
            t.seen
                .iter()
                .zip(["usage", "code_reviews", "code_review_responses"])
        {
            assert_eq!(seen.0, "https://api.chatgpt.com");
            assert_eq!(seen.2, "analytics_api_key");
            assert_eq!(
                seen.1,
                format!("/v1/analytics/codex/workspaces/{WS}/{endpoint}?start_time={yesterday}&end_time={NOW}&group_by=week&limit=1")
            );
        }
    }

    #[test]
    fn analytics_denials_say_what_to_do() {
        let both = settings().with_chatgpt(WS, crate::settings::Period::Day);
        let mut t = Fake::new(
            NOW,
            [
                ok("{}"),
                ok("{}"),
                status(
                    403,
                    r#"{"detail":"Missing scope: codex.enterprise.analytics.read"}"#,
                ),
                status(404, r#"{"detail":"Workspace not found"}"#),
                status(401, r#"{"detail":"Invalid API key"}"#),
            ],
        );
        let r = validate(&mut t, &both).unwrap();
        assert!(!r.ok);
        assert_eq!(t.seen.len(), 5);
        let c = &r.capabilities;
        assert_eq!(
            (c[0].status, c[1].status),
            (CheckStatus::Granted, CheckStatus::Granted)
        );
        assert_eq!(
            (c[2].status, c[2].problem),
            (CheckStatus::Denied, Some(ErrorClass::Forbidden))
        );
        assert!(
            c[2].message.contains("Credentials → Admin keys"),
            "{}",
            c[2].message
        );
        assert!(
            c[2].message.contains("codex.enterprise.analytics.read"),
            "{}",
            c[2].message
        );
        assert_eq!(c[3].problem, Some(ErrorClass::InvalidSettings));
        assert!(
            c[3].message.contains("chatgpt_workspace_id: "),
            "{}",
            c[3].message
        );
        assert!(
            c[3].message.contains("ChatGPT Admin → Workspace details"),
            "{}",
            c[3].message
        );
        assert_eq!(c[4].problem, Some(ErrorClass::Unauthorized));
        assert!(
            c[4].message.contains("rejected the analytics API key"),
            "{}",
            c[4].message
        );
        // a rate limit on the analytics side stops the check like on the Platform side
        let mut limited = status(
            429,
            r#"{"detail":"Rate limit exceeded. Please retry later."}"#,
        );
        limited.retry_after = Some("2".into());
        let mut t = Fake::new(NOW, [limited]);
        assert!(matches!(
            validate(&mut t, &chatgpt_only(crate::settings::Period::Day)),
            Err(ConnectorError::RateLimited {
                retry_after_ms: Some(2000),
                ..
            })
        ));
    }
}
