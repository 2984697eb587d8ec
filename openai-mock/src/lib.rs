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
//! [`MockServer::inject`] switches on fault modes ([`Fault`]): error statuses with
//! `Retry-After`, connection resets, truncated or stalled bodies, endless bodies and changed
//! JSON shapes, each for a budget of matching requests ([`FaultRule`]).

mod analytics;
mod api;
mod data;
mod fault;
mod server;
mod truth;
mod util;
mod workspace;

pub use fault::{Fault, FaultRule, ShapeChange};
pub use truth::{
    ClientUsageTruth, CodeReviewResponseTruth, CodeReviewTruth, Credits, DailyUsageTruth,
    Membership, ModelUsageTruth, PlatformUsageTruth, PriorityCounts, ReactionCounts,
    UsageTotalsTruth, WorkspacePerson, WorkspaceTruth,
};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::data::{Org, Usage};
use crate::workspace::Workspace;

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

impl GroundTruth {
    pub fn write_json(&self, path: &std::path::Path) -> anyhow::Result<()> {
        let f = std::fs::File::create(path)?;
        let mut w = std::io::BufWriter::new(f);
        serde_json::to_writer_pretty(&mut w, self)?;
        std::io::Write::flush(&mut w)?;
        Ok(())
    }
}

pub(crate) struct Shared {
    pub(crate) config: MockConfig,
    pub(crate) org: Org,
    pub(crate) usage: RwLock<Usage>,
    pub(crate) workspace: RwLock<Workspace>,
    pub(crate) requests: Mutex<Vec<RequestRecord>>,
    pub(crate) request_counter: AtomicU64,
    pub(crate) faults: Mutex<fault::Faults>,
    pub(crate) faults_served: AtomicUsize,
}

impl Shared {
    pub(crate) fn now(&self) -> i64 {
        self.config.now.unwrap_or_else(real_now)
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

    pub async fn start_on(config: MockConfig, addr: SocketAddr) -> anyhow::Result<MockServer> {
        let now = config.now.unwrap_or_else(real_now);
        let (org, usage) = data::generate(&config, now);
        let ws = workspace::generate(&config, &org);
        let shared = Arc::new(Shared {
            config,
            org,
            usage: RwLock::new(usage),
            workspace: RwLock::new(ws),
            requests: Mutex::new(Vec::new()),
            request_counter: AtomicU64::new(0),
            faults: Mutex::new(fault::Faults::default()),
            faults_served: AtomicUsize::new(0),
        });
        let listener = tokio::net::TcpListener::bind(addr).await?;
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

    /// Totals of all usage the mock holds right now.
    pub fn ground_truth(&self) -> GroundTruth {
        let usage = self.shared.usage.read().expect("usage lock");
        usage.ground_truth(&self.shared.org)
    }

    /// The ChatGPT workspace's ground truth (all of its data, by lowercased email), who is on
    /// which side, and the Platform usage by email. Changes with
    /// [`MockServer::change_recent_workspace_days`] (and, for its `platform` part, with
    /// [`MockServer::advance_current_bucket`]).
    pub fn workspace_truth(&self) -> WorkspaceTruth {
        let ws = self.shared.workspace.read().expect("workspace lock");
        let usage = self.shared.usage.read().expect("usage lock");
        ws.truth(&self.shared.org, &usage)
    }

    /// The workspace id the Codex Analytics endpoints answer for.
    pub fn workspace_id(&self) -> &str {
        &self.shared.config.workspace_id
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
    pub fn change_recent_workspace_days(&self, days: u32) {
        let mut ws = self.shared.workspace.write().expect("workspace lock");
        ws.change_recent(days);
    }

    /// Add a fault rule (after the ones already installed). See [`FaultRule`] for how rules
    /// take requests and [`Fault`] for what each fault does; faults apply after the
    /// authentication and permission checks.
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

    /// Every request served, in order; a faulted request carries the status sent (0 when no
    /// status line was sent).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    pub fn reset_requests(&self) {
        self.shared.requests.lock().expect("requests lock").clear();
    }

    /// Today's bucket keeps filling: add `extra_rows` new rows and grow some existing rows of
    /// today (only today's bucket changes).
    pub fn advance_current_bucket(&self, extra_rows: usize) {
        let mut usage = self.shared.usage.write().expect("usage lock");
        usage.advance(&self.shared.org, extra_rows);
    }

    /// Counts for logs (never any key material).
    pub fn dataset_summary(&self) -> String {
        let org = &self.shared.org;
        let usage = self.shared.usage.read().expect("usage lock");
        let archived = org
            .projects
            .iter()
            .filter(|p| p.archived_at.is_some())
            .count();
        let ws = self.shared.workspace.read().expect("workspace lock");
        let shared = ws.shared_count();
        format!(
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
        )
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
