//! The provider stand-in: the OpenAI mock on loopback with a random admin key, and the
//! harness pointed at it the way a user would (`--redirect api.openai.com=URL`), the key a
//! secret it holds, never an argument.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use host_harness::policy::Redirect;
use host_harness::runner::HarnessConfig;
use host_harness::secret::Secret;
use openai_mock::{MockConfig, MockServer};

use super::sizes::Sizes;

/// The key of the connector's one secret setting.
pub const TOKEN: &str = "api_token";

pub struct Mock {
    pub server: MockServer,
    /// The admin key it accepts (random per run).
    pub key: Secret,
}

impl Mock {
    pub async fn start(sizes: &Sizes) -> anyhow::Result<Mock> {
        Self::start_with(sizes.users, sizes.days, Duration::ZERO).await
    }

    /// A mock of `users` × `days` whose every answer waits `latency` first.
    pub async fn start_with(users: u32, days: u32, latency: Duration) -> anyhow::Result<Mock> {
        let key = host_harness::random::key("sk-admin-");
        let server = MockServer::start(MockConfig {
            users: users as usize,
            days,
            admin_key: key.clone(),
            latency,
            ..MockConfig::default()
        })
        .await?;
        Ok(Mock {
            server,
            key: Secret::from_input(&key),
        })
    }
}

/// The harness for `component`, its requests for api.openai.com sent to `base`.
pub fn config(component: &Path, base: &str) -> anyhow::Result<HarnessConfig> {
    let mut config = HarnessConfig::new(component.to_path_buf());
    config.policy.redirects = vec![Redirect::to("api.openai.com", base)?];
    Ok(config)
}

pub fn secrets(key: &Secret) -> BTreeMap<String, Secret> {
    BTreeMap::from([(TOKEN.to_string(), key.clone())])
}

/// The non-secret settings of a backfill of `days`.
pub fn settings(days: u32) -> Vec<(String, String)> {
    vec![("backfill_days".to_string(), days.to_string())]
}
