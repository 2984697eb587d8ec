//! A faithful, seeded mock of the OpenAI Platform Admin API (usage + directory endpoints) and
//! of the Codex Analytics API of a ChatGPT workspace.
//!
//! A test starts it with [`MockServer::start`], points a client at [`MockServer::base_url`],
//! and compares what the client imported with [`MockServer::ground_truth`] (Platform) and
//! [`MockServer::workspace_truth`] (workspace).
//!
//! The mock serves, under `/v1/organization/`: `usage/completions`, `users`, `projects`,
//! `projects/{id}/api_keys` and `admin_api_keys`, with the envelopes, pagination, limits,
//! filters, `group_by` forms and error shapes of the real API. Keys are never logged.
//!
//! On the same address it serves the Codex Analytics API of one ChatGPT workspace
//! ([`MockConfig::workspace_id`]) under `/v1/analytics/codex/workspaces/{id}/`: `usage`,
//! `code_reviews` and `code_review_responses` (see `docs/codex-analytics-api.md`), so a host
//! can point both `api.openai.com` and `api.chatgpt.com` at [`MockServer::base_url`]. It
//! accepts only [`MockConfig::analytics_key`] there (`403 {"detail": "Missing scope: …"}` for
//! the Platform keys and [`MockConfig::analytics_key_without_scope`], `401 {"detail":
//! "Invalid API key"}` for unknown keys), and the analytics key is unknown (401) to the
//! Platform endpoints.
//!
//! The workspace's people are partly the Platform's (matched by email, case-insensitively;
//! their ChatGPT user ids differ), partly ChatGPT-only; the other Platform users are
//! Platform-only. Usage rows (person × day, or × Monday-start UTC week with
//! `group_by=week`) carry threads, turns, credits (multiples of 0.25), `clients[]` and
//! `models[]`, with these quirks: an unknown client id (`CODEX_FUTURE_SURFACE`), rows whose
//! `clients` list is empty while their totals are not (a week row lists the clients of the
//! days that list theirs), rows naming the email `user_email`, and rows with unknown
//! non-numeric fields. Rows are paginated (`limit` 1–100, default 30) with an opaque `page`
//! cursor (`next_page`, or `next_cursor` with [`MockConfig::cursor_field_next_cursor`]; the
//! cursor is also accepted as `cursor=`). Bad parameters, and a `start_time` more than 90 days
//! before now, get `422 {"detail": [{"loc", "msg", "type"}]}`; an unknown workspace `404`.
//! Buckets are aligned down (to the UTC day, or to the Monday of its week) like the
//! Platform's, and a bucket holds all of its days' data.
//! [`MockServer::change_recent_workspace_days`] makes late changes to the last days' rows.
//!
//! **Many organizations.** One server can serve N organizations
//! ([`MockConfig::organizations`], or [`MockServer::start_many`] with one admin key each):
//! the Bearer key alone selects the organization (an unknown key gets `401` as always), and
//! each has its own seeded dataset of the template's shape, its own `openai-organization`
//! id, workspace and analytics key. Organization 0 is the single-organization mock of the
//! template, unchanged. [`MockServer::admin_keys`], [`MockServer::ground_truth_of`],
//! [`MockServer::usage_totals_of`] and friends give each one's keys and truth; every
//! [`RequestRecord`] names the organization (by index, never by key) whose key it carried.
//!
//! **Latency.** [`MockConfig::latency`] (or [`MockServer::set_latency`]) makes every answer
//! wait that long before its first byte, each request on its own timer (an async sleep), so
//! a thousand concurrent requests all take about that long, not a thousand times it.
//!
//! [`MockServer::inject`] switches on fault modes ([`Fault`]): error statuses with
//! `Retry-After`, connection resets, truncated or stalled bodies, endless bodies and changed
//! JSON shapes, each for a budget of matching requests ([`FaultRule`]).

mod analytics;
mod api;
mod data;
mod fault;
mod server;
mod tenant;
mod truth;
mod util;
mod workspace;

pub use fault::{Fault, FaultRule, ShapeChange};
pub use truth::{
    ClientUsageTruth, CodeReviewResponseTruth, CodeReviewTruth, Credits, DailyUsageTruth,
    Membership, ModelUsageTruth, PlatformUsageTruth, PriorityCounts, ReactionCounts,
    UsageTotalsTruth, WorkspacePerson, WorkspaceTruth,
};

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::tenant::{KeyRoles, Tenant};

/// How a key lacking a scope is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PermissionErrorStyle {
    /// 403 with `{"error": "You have insufficient permissions ... Missing scopes: X."}`.
    #[default]
    Bare403,
    /// 401 with the standard object, `type: "insufficient_permissions"`.
    Object401,
}

/// What the mock holds and which keys it accepts.
#[derive(Clone)]
pub struct MockConfig {
    pub seed: u64,
    pub users: usize,
    pub projects: usize,
    /// Days of usage ending with today's (UTC) bucket, inclusive.
    pub days: u32,
    /// Unix seconds the mock treats as "now"; `None` = the real clock, read at each request.
    pub now: Option<i64>,
    /// Admin key with both scopes.
    pub admin_key: String,
    /// Admin key with only `api.usage.read`.
    pub usage_only_admin_key: Option<String>,
    /// Admin key with only `api.management.read`.
    pub directory_only_admin_key: Option<String>,
    /// A `sk-proj-…` key: refused on every admin endpoint.
    pub project_key: Option<String>,
    pub permission_error_style: PermissionErrorStyle,
    /// Sent in the `openai-organization` response header.
    pub organization_id: String,
    /// The ChatGPT workspace id (UUID-shaped) of the Codex Analytics API; another id in the
    /// path gets `404 {"detail": "Workspace not found"}`.
    pub workspace_id: String,
    /// Bearer key with the `codex.enterprise.analytics.read` scope: the only key the Codex
    /// Analytics endpoints accept (unknown to the Platform endpoints). `None` = the analytics
    /// endpoints accept no key.
    pub analytics_key: Option<String>,
    /// A workspace key without the analytics scope: `403` on the analytics endpoints,
    /// unknown (`401`) to the Platform endpoints.
    pub analytics_key_without_scope: Option<String>,
    /// People in the ChatGPT workspace (shared ones included).
    pub chatgpt_users: usize,
    /// How many of them are also Platform users (same email, maybe in another case; at most
    /// `users` and `chatgpt_users`).
    pub shared_users: usize,
    /// Send the analytics cursor as `next_cursor` instead of `next_page`.
    pub cursor_field_next_cursor: bool,
    /// How many organizations the server serves (0 counts as 1). Organization 0 is the one
    /// this config describes; organization `i ≥ 1` has the same shape with its own seed, its
    /// own admin key (derived from its seed: see [`MockServer::admin_keys`]),
    /// `organization_id` (`org-mock000…0{i+1}`), workspace id and analytics key (when
    /// `analytics_key` is set), and none of the extra keys (usage-only, directory-only,
    /// project, analytics-without-scope), which belong to organization 0.
    /// [`MockServer::start_many`] sets the count and the admin keys itself.
    pub organizations: usize,
    /// Provider latency: every answer (refusals and faults included) waits this long before
    /// its first byte, without holding up other requests. Zero (the default) = none.
    /// Adjustable while running with [`MockServer::set_latency`].
    pub latency: Duration,
}

impl Default for MockConfig {
    fn default() -> Self {
        let seed = 7;
        MockConfig {
            seed,
            users: 40,
            projects: 6,
            days: 90,
            now: None,
            admin_key: data::default_admin_key(seed),
            usage_only_admin_key: None,
            directory_only_admin_key: None,
            project_key: None,
            permission_error_style: PermissionErrorStyle::Bare403,
            organization_id: "org-mock0000000000000000000001".to_string(),
            workspace_id: workspace::default_workspace_id(seed),
            analytics_key: Some(workspace::default_analytics_key(seed)),
            analytics_key_without_scope: None,
            chatgpt_users: 30,
            shared_users: 18,
            cursor_field_next_cursor: false,
            organizations: 1,
            latency: Duration::ZERO,
        }
    }
}

/// Debug never prints key material.
impl std::fmt::Debug for MockConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |k: &Option<String>| k.as_ref().map(|_| "<redacted>");
        f.debug_struct("MockConfig")
            .field("seed", &self.seed)
            .field("users", &self.users)
            .field("projects", &self.projects)
            .field("days", &self.days)
            .field("now", &self.now)
            .field("admin_key", &"<redacted>")
            .field("usage_only_admin_key", &hidden(&self.usage_only_admin_key))
            .field(
                "directory_only_admin_key",
                &hidden(&self.directory_only_admin_key),
            )
            .field("project_key", &hidden(&self.project_key))
            .field("permission_error_style", &self.permission_error_style)
            .field("organization_id", &self.organization_id)
            .field("workspace_id", &self.workspace_id)
            .field("analytics_key", &hidden(&self.analytics_key))
            .field(
                "analytics_key_without_scope",
                &hidden(&self.analytics_key_without_scope),
            )
            .field("chatgpt_users", &self.chatgpt_users)
            .field("shared_users", &self.shared_users)
            .field("cursor_field_next_cursor", &self.cursor_field_next_cursor)
            .field("organizations", &self.organizations)
            .field("latency", &self.latency)
            .finish()
    }
}

/// One served request (the Authorization header is never stored).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRecord {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    /// The index of the organization whose key the request carried (whatever the answer:
    /// a key lacking a scope still names its organization); `None` without a key or with an
    /// unknown one. Never the key itself.
    pub org: Option<usize>,
}

/// Totals of all usage the mock holds, one row per (day, user, key, project, model).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct GroundTruth {
    /// Sorted by (day, user_id, model), then api_key_id, project_id.
    pub rows: Vec<TruthRow>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TruthRow {
    /// "YYYY-MM-DD" (UTC).
    pub day: String,
    /// None = service-account key.
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub api_key_id: String,
    pub project_id: String,
    pub model: String,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub requests: u64,
}

/// Usage totals of one organization (every row it holds: users' and service accounts').
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageTotals {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    pub requests: u64,
}

impl std::ops::AddAssign for UsageTotals {
    fn add_assign(&mut self, o: UsageTotals) {
        self.input_tokens += o.input_tokens;
        self.cached_input_tokens += o.cached_input_tokens;
        self.output_tokens += o.output_tokens;
        self.requests += o.requests;
    }
}

impl GroundTruth {
    /// The sum of every row.
    pub fn totals(&self) -> UsageTotals {
        let mut t = UsageTotals::default();
        for r in &self.rows {
            t += UsageTotals {
                input_tokens: r.input_tokens,
                cached_input_tokens: r.cached_input_tokens,
                output_tokens: r.output_tokens,
                requests: r.requests,
            };
        }
        t
    }

    pub fn write_json(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let f = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, self)?;
        std::io::Write::flush(&mut w)?;
        Ok(())
    }
}

pub(crate) struct Shared {
    /// Organization `i` is `tenants[i]`; `tenants[0]` holds the template config.
    pub(crate) tenants: Vec<Tenant>,
    /// Every key of every organization.
    pub(crate) keys: HashMap<String, KeyRoles>,
    pub(crate) requests: Mutex<Vec<RequestRecord>>,
    pub(crate) request_counter: AtomicU64,
    pub(crate) faults: Mutex<fault::Faults>,
    pub(crate) faults_served: AtomicUsize,
    /// Provider latency, nanoseconds.
    latency_ns: AtomicU64,
}

impl Shared {
    /// The template config (organization 0's): clock, seed of request ids.
    pub(crate) fn config(&self) -> &MockConfig {
        &self.tenants[0].config
    }

    pub(crate) fn now(&self) -> i64 {
        self.config().now.unwrap_or_else(real_now)
    }

    pub(crate) fn tenant(&self, org: usize) -> &Tenant {
        &self.tenants[org]
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_ns.load(Ordering::Relaxed))
    }
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A running mock. Stops on [`MockServer::shutdown`] or when dropped.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Start on 127.0.0.1 with an ephemeral port.
    pub async fn start(config: MockConfig) -> anyhow::Result<MockServer> {
        Self::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Start on `addr`. Serves `config.organizations` organizations (see
    /// [`MockConfig::organizations`]).
    pub async fn start_on(config: MockConfig, addr: SocketAddr) -> anyhow::Result<MockServer> {
        let n = config.organizations.max(1);
        let keys = (0..n)
            .map(|i| tenant::default_admin_key_of(&config, i))
            .collect();
        Self::start_many_on(config, keys, addr).await
    }

    /// Start on 127.0.0.1 (ephemeral port) serving one organization per key of `admin_keys`
    /// (in order; at least one), each of `template`'s shape: organization 0 is `template`
    /// with `admin_keys[0]`, organization `i ≥ 1` gets its own seed and ids (see
    /// [`MockConfig::organizations`]) and `admin_keys[i]`. `template.organizations` and
    /// `template.admin_key` are ignored. Keys must be distinct (and distinct from the
    /// template's other keys).
    pub async fn start_many(
        template: MockConfig,
        admin_keys: Vec<String>,
    ) -> anyhow::Result<MockServer> {
        Self::start_many_on(template, admin_keys, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    pub async fn start_many_on(
        template: MockConfig,
        admin_keys: Vec<String>,
        addr: SocketAddr,
    ) -> anyhow::Result<MockServer> {
        anyhow::ensure!(
            !admin_keys.is_empty(),
            "openai-mock: at least one organization (admin key) is needed"
        );
        let now = template.now.unwrap_or_else(real_now);
        let latency = template.latency;
        let n = admin_keys.len();
        let tenants: Vec<Tenant> = admin_keys
            .into_iter()
            .enumerate()
            .map(|(i, key)| {
                let mut c = tenant::org_config(&template, i, key);
                c.organizations = n;
                Tenant::new(c, now)
            })
            .collect();
        let keys = tenant::key_table(&tenants)?;
        let shared = Arc::new(Shared {
            tenants,
            keys,
            requests: Mutex::new(Vec::new()),
            request_counter: AtomicU64::new(0),
            faults: Mutex::new(fault::Faults::default()),
            faults_served: AtomicUsize::new(0),
            latency_ns: AtomicU64::new(latency.as_nanos().min(u64::MAX as u128) as u64),
        });
        let listener = server::listen(addr)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve(listener, shared.clone(), rx));
        let server = MockServer {
            addr,
            shared,
            stop: Some(tx),
            task: Some(task),
        };
        tracing::info!(
            "openai-mock listening on {}: {}",
            server.base_url(),
            server.dataset_summary()
        );
        Ok(server)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash; endpoints live under `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Totals of all usage the mock holds right now (organization 0; see
    /// [`MockServer::ground_truth_of`]).
    pub fn ground_truth(&self) -> GroundTruth {
        self.ground_truth_of(0)
    }

    /// The ground truth of organization `org` (panics when `org >= organizations()`).
    pub fn ground_truth_of(&self, org: usize) -> GroundTruth {
        let t = self.shared.tenant(org);
        let usage = t.usage.read().expect("usage lock");
        usage.ground_truth(&t.org)
    }

    /// The ground truth of the organization whose admin key (or any other key) is `key`;
    /// `None` for a key the mock does not know.
    pub fn ground_truth_for(&self, key: &str) -> Option<GroundTruth> {
        self.org_of_key(key).map(|i| self.ground_truth_of(i))
    }

    /// Every organization's ground truth, by index.
    pub fn ground_truths(&self) -> Vec<GroundTruth> {
        (0..self.organizations())
            .map(|i| self.ground_truth_of(i))
            .collect()
    }

    /// The usage totals of organization `org` (equal to `ground_truth_of(org).totals()`,
    /// without building the rows).
    pub fn usage_totals_of(&self, org: usize) -> UsageTotals {
        let t = self.shared.tenant(org);
        t.usage.read().expect("usage lock").totals()
    }

    /// Every organization's usage totals, by index.
    pub fn usage_totals(&self) -> Vec<UsageTotals> {
        (0..self.organizations())
            .map(|i| self.usage_totals_of(i))
            .collect()
    }

    /// How many organizations the mock serves.
    pub fn organizations(&self) -> usize {
        self.shared.tenants.len()
    }

    /// The admin key (both scopes) of every organization, by index.
    pub fn admin_keys(&self) -> Vec<String> {
        self.shared
            .tenants
            .iter()
            .map(|t| t.config.admin_key.clone())
            .collect()
    }

    /// The admin key of organization `org`.
    pub fn admin_key_of(&self, org: usize) -> &str {
        &self.shared.tenant(org).config.admin_key
    }

    /// The index of the organization a key (of any kind) belongs to.
    pub fn org_of_key(&self, key: &str) -> Option<usize> {
        self.shared.keys.get(key).map(|r| r.org as usize)
    }

    /// The `openai-organization` id of organization `org`.
    pub fn organization_id_of(&self, org: usize) -> &str {
        &self.shared.tenant(org).config.organization_id
    }

    /// The ChatGPT workspace's ground truth (all of its data, by lowercased email), who is on
    /// which side, and the Platform usage by email. Changes with
    /// [`MockServer::change_recent_workspace_days`] (and, for its `platform` part, with
    /// [`MockServer::advance_current_bucket`]). Organization 0's; see
    /// [`MockServer::workspace_truth_of`].
    pub fn workspace_truth(&self) -> WorkspaceTruth {
        self.workspace_truth_of(0)
    }

    /// The workspace truth of organization `org` (its workspace is generated on first use).
    pub fn workspace_truth_of(&self, org: usize) -> WorkspaceTruth {
        let t = self.shared.tenant(org);
        let ws = t.workspace().read().expect("workspace lock");
        let usage = t.usage.read().expect("usage lock");
        ws.truth(&t.org, &usage)
    }

    /// The workspace id the Codex Analytics endpoints answer for (organization 0's).
    pub fn workspace_id(&self) -> &str {
        self.workspace_id_of(0)
    }

    /// The workspace id of organization `org`.
    pub fn workspace_id_of(&self, org: usize) -> &str {
        &self.shared.tenant(org).config.workspace_id
    }

    /// The analytics key (with the analytics scope) of organization `org`, if it has one.
    pub fn analytics_key_of(&self, org: usize) -> Option<&str> {
        self.shared.tenant(org).config.analytics_key.as_deref()
    }

    /// `http://127.0.0.1:PORT/v1/analytics/codex` (the Codex Analytics API's base).
    pub fn analytics_base_url(&self) -> String {
        format!("{}{}", self.base_url(), analytics::PREFIX)
    }

    /// Late changes to the workspace: the rows of the last `days` days (today included) grow
    /// — every usage row gets more turns and credits (and tokens, sometimes threads), every
    /// code-review and response row more counts — one person without usage on each of those
    /// days gets a row, and one person gets a client new to them (`CODEX_WORK_MOBILE`) on the
    /// newest of those days. Older rows never change. The ground truth follows.
    /// (Organization 0's workspace; see [`MockServer::change_recent_workspace_days_of`].)
    pub fn change_recent_workspace_days(&self, days: u32) {
        self.change_recent_workspace_days_of(0, days);
    }

    /// [`MockServer::change_recent_workspace_days`] for organization `org`.
    pub fn change_recent_workspace_days_of(&self, org: usize, days: u32) {
        let mut ws = self
            .shared
            .tenant(org)
            .workspace()
            .write()
            .expect("workspace lock");
        ws.change_recent(days);
    }

    /// Add a fault rule (after the ones already installed). See [`FaultRule`] for how rules
    /// take requests and [`Fault`] for what each fault does; faults apply after the
    /// authentication and permission checks. Rules apply to every organization.
    pub fn inject(&self, rule: FaultRule) {
        self.shared.faults.lock().expect("faults lock").push(rule);
    }

    /// Remove every fault rule: requests are answered normally again. (The
    /// [`MockServer::faults_served`] count is kept.)
    pub fn clear_faults(&self) {
        self.shared.faults.lock().expect("faults lock").clear();
    }

    /// How many requests got a fault so far (since start).
    pub fn faults_served(&self) -> usize {
        self.shared.faults_served.load(Ordering::Relaxed)
    }

    /// The provider latency now in force.
    pub fn latency(&self) -> Duration {
        self.shared.latency()
    }

    /// Change the provider latency (requests already waiting keep their timer).
    pub fn set_latency(&self, latency: Duration) {
        self.shared.latency_ns.store(
            latency.as_nanos().min(u64::MAX as u128) as u64,
            Ordering::Relaxed,
        );
    }

    /// Every request served, in order; a faulted request carries the status sent (0 when no
    /// status line was sent). A copy: for counts prefer [`MockServer::request_count`] and
    /// [`MockServer::requests_by_org`], which copy nothing. (Each record holds about
    /// 100 B plus its path and query; 10,000 of them copy in a couple of milliseconds.)
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// How many requests the log holds.
    pub fn request_count(&self) -> usize {
        self.shared.requests.lock().expect("requests lock").len()
    }

    /// How many logged requests carried each organization's key, by index (requests without
    /// a known key are not counted).
    pub fn requests_by_org(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.organizations()];
        for r in self.shared.requests.lock().expect("requests lock").iter() {
            if let Some(i) = r.org {
                counts[i] += 1;
            }
        }
        counts
    }

    pub fn reset_requests(&self) {
        self.shared.requests.lock().expect("requests lock").clear();
    }

    /// Today's bucket keeps filling: add `extra_rows` new rows and grow some existing rows of
    /// today (only today's bucket changes). Organization 0's; see
    /// [`MockServer::advance_current_bucket_of`].
    pub fn advance_current_bucket(&self, extra_rows: usize) {
        self.advance_current_bucket_of(0, extra_rows);
    }

    /// [`MockServer::advance_current_bucket`] for organization `org`.
    pub fn advance_current_bucket_of(&self, org: usize, extra_rows: usize) {
        let t = self.shared.tenant(org);
        let mut usage = t.usage.write().expect("usage lock");
        usage.advance(&t.org, extra_rows);
    }

    /// Counts for logs (never any key material): organization 0's dataset, preceded by the
    /// number of organizations when there are several.
    pub fn dataset_summary(&self) -> String {
        let t = self.shared.tenant(0);
        let org = &t.org;
        let usage = t.usage.read().expect("usage lock");
        let archived = org
            .projects
            .iter()
            .filter(|p| p.archived_at.is_some())
            .count();
        let ws = t.workspace().read().expect("workspace lock");
        let shared = ws.shared_count();
        let one = format!(
            "seed={} users={} projects={} (archived {}) api_keys={} (service accounts {}) usage_rows={} days={} ({}..={}); \
             chatgpt workspace {}: people={} (shared with the platform {}, chatgpt-only {}, platform-only {}) \
             codex_usage_rows={} code_review_rows={} code_review_response_rows={} days={} ({}..={})",
            org.seed,
            org.users.len(),
            org.projects.len(),
            archived,
            org.keys.len(),
            org.svc_keys.len(),
            usage.row_count(),
            usage.days.len(),
            util::day_string(org.first_day),
            util::day_string(org.today),
            ws.id,
            ws.people.len(),
            shared,
            ws.people.len() - shared,
            org.users.len() - shared,
            ws.usage_row_count(),
            ws.review_row_count(),
            ws.response_row_count(),
            ws.usage.len(),
            util::day_string(ws.first_day),
            util::day_string(ws.today),
        );
        let latency = self.latency();
        let latency = if latency.is_zero() {
            String::new()
        } else {
            format!("latency={latency:?}; ")
        };
        match self.organizations() {
            1 => format!("{latency}{one}"),
            n => format!(
                "{latency}organizations={n}, each of this shape with its own seed and keys; organization 0: {one}"
            ),
        }
    }

    /// Graceful stop (in-flight requests finish; gives up after 5 s and drops every
    /// connection).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
