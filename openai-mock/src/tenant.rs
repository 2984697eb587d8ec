//! Multi-tenancy: the organizations one mock serves, each with its own keys and its own
//! seeded dataset, and the key table that tells, from a request's Bearer key alone, which
//! organization it belongs to and what it may do.
//!
//! Organization 0 is exactly the single-organization mock of the template [`MockConfig`]
//! (same seed, keys and ids), so `organizations: 1` (the default) behaves as the mock always
//! did. Organization `i ≥ 1` has the template's shape (users, projects, days, workspace
//! sizes, clock, error styles) with its own seed ([`org_seed`]), its own admin key (given, or
//! derived from its seed), its own `organization_id`, workspace id and analytics key (when
//! the template has one), and none of the template's extra keys (usage-only, directory-only,
//! project, analytics-without-scope: those belong to organization 0 only).
//!
//! Memory: the Platform side of an organization is generated eagerly; its ChatGPT workspace
//! only when first needed (an analytics request or a workspace truth), so a Platform-only
//! scale run never pays for it. Measured (`tests/scale.rs`, counting allocator): with 5 users
//! × 3 days (6 projects, ~20 usage rows), one organization holds about 9.5 KiB (its config
//! copy, directory, indices, usage rows and key-table entries), so 1,000 organizations take
//! ≈ 9 MiB and start in ≈ 20 ms (release); a generated workspace (default 30 people, 3 days)
//! adds ≈ 21 KiB to its organization.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use crate::data::{self, Org, Usage};
use crate::util::mix64;
use crate::workspace::{self, Workspace};
use crate::MockConfig;

/// What a key may do on the Platform endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PlatformRole {
    Admin {
        usage: bool,
        management: bool,
    },
    /// A `sk-proj-…` key: refused on every admin endpoint.
    Project,
}

/// What a key may do on the Codex Analytics endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AnalyticsRole {
    /// Holds the analytics scope.
    Read,
    /// Known, but without the scope (`403`).
    NoScope,
}

/// Everything one key is (a key may play several roles within its organization, never
/// across organizations).
#[derive(Clone, Copy, Debug)]
pub(crate) struct KeyRoles {
    pub(crate) org: u32,
    pub(crate) platform: Option<PlatformRole>,
    pub(crate) analytics: Option<AnalyticsRole>,
}

/// One organization: its configuration (the template with its own seed, keys and ids), its
/// Platform data and, once needed, its ChatGPT workspace.
pub(crate) struct Tenant {
    pub(crate) config: MockConfig,
    pub(crate) org: Org,
    pub(crate) usage: RwLock<Usage>,
    workspace: OnceLock<RwLock<Workspace>>,
}

impl Tenant {
    pub(crate) fn new(config: MockConfig, now: i64) -> Tenant {
        let (org, usage) = data::generate(&config, now);
        Tenant {
            config,
            org,
            usage: RwLock::new(usage),
            workspace: OnceLock::new(),
        }
    }

    /// The workspace, generated on first use (it depends only on the config and the
    /// Platform directory, never on when it is generated).
    pub(crate) fn workspace(&self) -> &RwLock<Workspace> {
        self.workspace
            .get_or_init(|| RwLock::new(workspace::generate(&self.config, &self.org)))
    }
}

/// The seed of organization `i` (organization 0 keeps the template's).
pub(crate) fn org_seed(seed: u64, i: usize) -> u64 {
    if i == 0 {
        seed
    } else {
        mix64(seed ^ mix64(0x0E6A_0000_0000_0000 ^ i as u64))
    }
}

/// The admin key organization `i` gets when none is given (organization 0: the template's).
pub(crate) fn default_admin_key_of(template: &MockConfig, i: usize) -> String {
    if i == 0 {
        template.admin_key.clone()
    } else {
        data::default_admin_key(org_seed(template.seed, i))
    }
}

/// The configuration of organization `i`, with `admin_key`.
pub(crate) fn org_config(template: &MockConfig, i: usize, admin_key: String) -> MockConfig {
    if i == 0 {
        return MockConfig {
            admin_key,
            ..template.clone()
        };
    }
    let seed = org_seed(template.seed, i);
    MockConfig {
        seed,
        admin_key,
        usage_only_admin_key: None,
        directory_only_admin_key: None,
        project_key: None,
        analytics_key_without_scope: None,
        organization_id: format!("org-mock{:022}", i + 1),
        workspace_id: workspace::default_workspace_id(seed),
        analytics_key: template
            .analytics_key
            .as_ref()
            .map(|_| workspace::default_analytics_key(seed)),
        ..template.clone()
    }
}

/// The key table of all organizations. A key configured in two organizations is an error.
pub(crate) fn key_table(tenants: &[Tenant]) -> anyhow::Result<HashMap<String, KeyRoles>> {
    let mut map: HashMap<String, KeyRoles> = HashMap::with_capacity(tenants.len() * 2);
    for (i, t) in tenants.iter().enumerate() {
        let c = &t.config;
        let org = i as u32;
        let mut add = |key: Option<&String>,
                       platform: Option<PlatformRole>,
                       analytics: Option<AnalyticsRole>|
         -> anyhow::Result<()> {
            let Some(key) = key else { return Ok(()) };
            if key.is_empty() {
                return Ok(());
            }
            let e = map.entry(key.clone()).or_insert(KeyRoles {
                org,
                platform: None,
                analytics: None,
            });
            if e.org != org {
                anyhow::bail!(
                    "openai-mock: organizations {} and {i} share a key; every organization needs its own keys",
                    e.org
                );
            }
            // The first role listed wins (the single-organization priority order).
            e.platform = e.platform.or(platform);
            e.analytics = e.analytics.or(analytics);
            Ok(())
        };
        use AnalyticsRole::*;
        let admin = |usage, management| Some(PlatformRole::Admin { usage, management });
        add(c.analytics_key.as_ref(), None, Some(Read))?;
        add(Some(&c.admin_key), admin(true, true), Some(NoScope))?;
        add(
            c.usage_only_admin_key.as_ref(),
            admin(true, false),
            Some(NoScope),
        )?;
        add(
            c.directory_only_admin_key.as_ref(),
            admin(false, true),
            Some(NoScope),
        )?;
        add(
            c.project_key.as_ref(),
            Some(PlatformRole::Project),
            Some(NoScope),
        )?;
        add(c.analytics_key_without_scope.as_ref(), None, Some(NoScope))?;
    }
    Ok(map)
}
