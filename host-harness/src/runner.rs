//! Runs the connector the way the platform does: configure, validate, and sync — each
//! stream page by page, committing every raw page with its records and checkpoint,
//! retrying rate limits and transient failures within bounds, and recording the run in
//! the import history.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::redact::Redactor;
use crate::sandbox::{wit, Base, CallError, Policy, Sandbox, Session};
use crate::store::{Run, Store, StreamCounts, TOKEN_SLOT};

/// A failure the CLI reports with a class, a message and an exit code.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{class}: {message}")]
pub struct HostError {
    pub class: String,
    pub message: String,
}

impl HostError {
    pub fn new(class: &str, message: impl Into<String>) -> Self {
        HostError {
            class: class.to_string(),
            message: message.into(),
        }
    }

    /// Exit code per error class, so scripts can tell them apart.
    pub fn exit_code(&self) -> i32 {
        match self.class.as_str() {
            "invalid-settings" | "usage" => 2,
            "unauthorized" => 3,
            "not-admin" => 4,
            "rate-limited" => 5,
            "transient" => 6,
            "provider-changed" => 7,
            "not-configured" => 8,
            "busy" => 9,
            "sandbox" => 10,
            _ => 1,
        }
    }

    /// What the admin should do about it.
    pub fn advice(&self) -> &'static str {
        match self.class.as_str() {
            "invalid-settings" => "Fix the fields named above and save again; nothing was stored.",
            "unauthorized" => "Paste a current Admin API key (Platform → Manage → Admin API Keys) with `configure`.",
            "not-admin" => "Create an Admin API key in the OpenAI Platform under Manage → Admin API Keys, with usage and management read scopes.",
            "rate-limited" | "transient" => "Try again later; the next run resumes from the last committed page.",
            "provider-changed" => "OpenAI's response changed shape; update the connector. Nothing half-written was stored.",
            "not-configured" => "Run `host-harness configure` first.",
            "busy" => "Another sync is running on this store; wait for it to finish.",
            "sandbox" => "The connector component misbehaved; the run was stopped and recorded.",
            _ => "See the message above.",
        }
    }
}

impl From<anyhow::Error> for HostError {
    fn from(e: anyhow::Error) -> Self {
        HostError::new("internal", format!("{e:#}"))
    }
}

/// Split a connector error into (class, message).
pub fn connector_error(e: &wit::ConnectorError) -> (String, String) {
    use wit::ConnectorError as E;
    match e {
        E::InvalidSettings(fields) => (
            "invalid-settings".into(),
            fields
                .iter()
                .map(|f| format!("{}: {}", f.field, f.message))
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        E::Unauthorized(m) => ("unauthorized".into(), m.clone()),
        E::NotAdmin(m) => ("not-admin".into(), m.clone()),
        E::RateLimited(r) => ("rate-limited".into(), r.message.clone()),
        E::Transient(m) => ("transient".into(), m.clone()),
        E::ProviderChanged(p) => (
            "provider-changed".into(),
            format!("stream {}, field {}: {}", p.stream, p.field, p.message),
        ),
        E::Internal(m) => ("internal".into(), m.clone()),
    }
}

/// Bounds on retrying one cursor.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts per page, including the first.
    pub max_attempts: u32,
    /// First back-off; doubles per attempt, with up to 50% jitter.
    pub base_delay: Duration,
    /// Longest wait, whatever `Retry-After` asks for.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` (attempt counts from 1).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(ra) = retry_after {
            return ra.min(self.max_delay);
        }
        let exp = self
            .base_delay
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let jitter = exp.mul_f64(random_unit() * 0.5);
        (exp + jitter).min(self.max_delay)
    }
}

/// A uniform number in [0, 1) from the process's randomly keyed SipHash; enough for jitter.
pub fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// How the harness is set up: which component, where `api.openai.com` goes, what limits.
#[derive(Clone, Debug)]
pub struct HarnessConfig {
    pub component: PathBuf,
    pub openai_base: Option<Base>,
    pub policy: Policy,
    pub retry: RetryPolicy,
    /// Pages one stream may return in one run before the run is stopped.
    pub max_pages_per_stream: u64,
}

impl HarnessConfig {
    pub fn new(component: PathBuf) -> Self {
        HarnessConfig {
            component,
            openai_base: None,
            policy: Policy::default(),
            retry: RetryPolicy::default(),
            max_pages_per_stream: 10_000,
        }
    }
}

/// Progress of a sync, for bars and log lines.
#[derive(Clone, Debug)]
pub enum Progress {
    StreamStarted {
        stream: String,
    },
    PageCommitted {
        stream: String,
        pages: u64,
        counts: StreamCounts,
    },
    Waiting {
        stream: String,
        class: String,
        delay: Duration,
        attempt: u32,
    },
    StreamDone {
        stream: String,
        counts: StreamCounts,
    },
}

impl Progress {
    /// The stream the event is about.
    pub fn stream(&self) -> &str {
        match self {
            Progress::StreamStarted { stream }
            | Progress::PageCommitted { stream, .. }
            | Progress::Waiting { stream, .. }
            | Progress::StreamDone { stream, .. } => stream,
        }
    }

    /// What happened, in words, without the stream name (log lines, bars, the web page).
    pub fn message(&self) -> String {
        match self {
            Progress::StreamStarted { .. } => "starting".into(),
            Progress::PageCommitted { pages, counts, .. } => format!(
                "page {pages} committed ({} inserted, {} updated, {} unchanged so far)",
                counts.inserted, counts.updated, counts.unchanged
            ),
            Progress::Waiting {
                class,
                delay,
                attempt,
                ..
            } => format!(
                "{class}; retrying in {:.1}s (attempt {attempt})",
                delay.as_secs_f64()
            ),
            Progress::StreamDone { counts, .. } => format!(
                "done — {} pages, {} requests, {} inserted, {} updated",
                counts.pages, counts.requests, counts.inserted, counts.updated
            ),
        }
    }
}

/// The loaded connector plus the host's policy: what a platform keeps per connector.
pub struct Harness {
    sandbox: Sandbox,
    info: wit::ConnectorInfo,
    config: HarnessConfig,
}

/// Outcome of a successful `configure`.
#[derive(Debug, Serialize)]
pub struct Saved {
    pub notes: Vec<String>,
    pub token_redacted: String,
}

impl Harness {
    pub async fn load(config: HarnessConfig) -> anyhow::Result<Harness> {
        let sandbox = Sandbox::load_default(&config.component)?;
        // describe() is static: ask a throw-away instance that may call nowhere.
        let mut probe = sandbox
            .session(config.policy.clone(), Redactor::default())
            .await?;
        let info = probe
            .describe()
            .await
            .map_err(|e| anyhow::anyhow!("describe failed: {e}"))?;
        Ok(Harness {
            sandbox,
            info,
            config,
        })
    }

    pub fn info(&self) -> &wit::ConnectorInfo {
        &self.info
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The policy for a session: the allow-list is exactly the hosts `describe` declared.
    pub fn policy(&self) -> Policy {
        let mut p = self.config.policy.clone();
        p.allowed_hosts = self
            .info
            .hosts
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        p.openai_base = self.config.openai_base.clone();
        p
    }

    pub async fn session(&self, token: Option<&str>) -> Result<Session, HostError> {
        self.sandbox
            .session(self.policy(), Redactor::new(token))
            .await
            .map_err(|e| HostError::new("sandbox", format!("{e:#}")))
    }

    /// Type raw form values by the kinds `describe` declared (unknown keys stay text, so
    /// the connector can name them).
    pub fn typed_settings(&self, raw: &[(String, String)]) -> Vec<wit::Setting> {
        raw.iter()
            .map(|(key, value)| {
                let kind = self
                    .info
                    .settings
                    .iter()
                    .find(|f| &f.key == key)
                    .map(|f| f.kind);
                let value = match kind {
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
                wit::Setting {
                    key: key.clone(),
                    value,
                }
            })
            .collect()
    }

    /// Check the settings with the connector (no network) and save them only if accepted.
    pub async fn configure(
        &self,
        store: &mut Store,
        raw: &[(String, String)],
        token: &str,
    ) -> Result<Saved, HostError> {
        if raw.iter().any(|(k, _)| k == TOKEN_SLOT) {
            return Err(HostError::new(
                "usage",
                "pass the API token on standard input or through an environment variable, never as a setting",
            ));
        }
        let settings = self.typed_settings(raw);
        let mut all = settings.clone();
        all.push(wit::Setting {
            key: TOKEN_SLOT.into(),
            value: wit::SettingValue::Text(token.to_string()),
        });
        let redactor = Redactor::new(Some(token.trim()));
        let mut session = self.session(Some(token)).await?;
        let configured = session
            .configure(&all)
            .await
            .map_err(|e| HostError::new("sandbox", redactor.redact(&e.to_string())))?;
        match configured {
            Ok(c) => {
                let token = token.trim();
                store.save_settings(&settings, token)?;
                Ok(Saved {
                    notes: c.notes.iter().map(|n| redactor.redact(n)).collect(),
                    token_redacted: crate::redact::redacted_form(token),
                })
            }
            Err(e) => {
                let (class, message) = connector_error(&e);
                Err(HostError::new(&class, redactor.redact(&message)))
            }
        }
    }

    /// A fresh instance configured with the stored settings.
    async fn configured_session(&self, store: &Store) -> Result<(Session, Redactor), HostError> {
        let Some((settings, token)) = store.settings_with_token()? else {
            return Err(HostError::new(
                "not-configured",
                "no API token is stored yet",
            ));
        };
        let redactor = Redactor::new(Some(&token));
        let mut session = self.session(Some(&token)).await?;
        match session.configure(&settings).await {
            Err(e) => Err(HostError::new("sandbox", redactor.redact(&e.to_string()))),
            Ok(Err(e)) => {
                let (class, message) = connector_error(&e);
                Err(HostError::new(&class, redactor.redact(&message)))
            }
            Ok(Ok(_)) => Ok((session, redactor)),
        }
    }

    pub async fn validate(&self, store: &Store) -> Result<wit::CredentialReport, HostError> {
        let (mut session, redactor) = self.configured_session(store).await?;
        match session.validate_credentials().await {
            Err(e) => Err(HostError::new("sandbox", redactor.redact(&e.to_string()))),
            Ok(Err(e)) => {
                let (class, message) = connector_error(&e);
                Err(HostError::new(&class, redactor.redact(&message)))
            }
            Ok(Ok(mut report)) => {
                for c in &mut report.capabilities {
                    c.message = redactor.redact(&c.message);
                }
                Ok(report)
            }
        }
    }

    /// One sync run over `streams` (all, in `describe` order, when `None`), resuming every
    /// stream from its checkpoint.
    pub async fn sync(
        &self,
        store: &mut Store,
        streams: Option<&[String]>,
        trigger: &str,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Run, HostError> {
        self.sync_with(store, streams, false, trigger, progress)
            .await
    }

    /// `sync`, optionally ignoring the stored checkpoints (`full_refresh`): every stream is
    /// read from scratch (usage over the whole backfill window), and upserts replace.
    pub async fn sync_with(
        &self,
        store: &mut Store,
        streams: Option<&[String]>,
        full_refresh: bool,
        trigger: &str,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Run, HostError> {
        store.mark_interrupted_runs()?;
        if let Some(id) = store.running_elsewhere()? {
            return Err(HostError::new(
                "busy",
                format!("run {id} is still in progress"),
            ));
        }
        let names: Vec<String> = self.info.streams.iter().map(|s| s.name.clone()).collect();
        let selected: Vec<String> = match streams {
            None => names.clone(),
            Some(list) => {
                if let Some(bad) = list.iter().find(|s| !names.contains(s)) {
                    return Err(HostError::new(
                        "usage",
                        format!("unknown stream {bad:?}; streams: {}", names.join(", ")),
                    ));
                }
                names.iter().filter(|n| list.contains(n)).cloned().collect()
            }
        };
        let run_id = store.start_run(trigger)?;
        let mut counts: BTreeMap<String, StreamCounts> = BTreeMap::new();
        let result = self
            .run_streams(
                store,
                run_id,
                &selected,
                full_refresh,
                &mut counts,
                progress,
            )
            .await;
        match result {
            Ok(()) => store.finish_run(run_id, "succeeded", &counts, None)?,
            Err(ref e) => {
                store.finish_run(run_id, "failed", &counts, Some((&e.class, &e.message)))?
            }
        }
        let run = store
            .runs(50)?
            .into_iter()
            .find(|r| r.id == run_id)
            .ok_or_else(|| HostError::new("internal", "the run vanished from the history"))?;
        match result {
            Ok(()) => Ok(run),
            Err(e) => Err(e),
        }
    }

    async fn run_streams(
        &self,
        store: &mut Store,
        run_id: i64,
        streams: &[String],
        full_refresh: bool,
        counts: &mut BTreeMap<String, StreamCounts>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), HostError> {
        let (mut session, redactor) = self.configured_session(store).await?;
        let result = self
            .pull_streams(
                &mut session,
                &redactor,
                store,
                run_id,
                streams,
                full_refresh,
                counts,
                progress,
            )
            .await;
        let denied = session.denied();
        match result {
            Err(mut e) if !denied.is_empty() => {
                e.message.push_str(&format!(
                    " (the sandbox denied requests to hosts outside the allow-list: {})",
                    denied.join(", ")
                ));
                Err(e)
            }
            other => other,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn pull_streams(
        &self,
        session: &mut Session,
        redactor: &Redactor,
        store: &mut Store,
        run_id: i64,
        streams: &[String],
        full_refresh: bool,
        counts: &mut BTreeMap<String, StreamCounts>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<(), HostError> {
        for stream in streams {
            progress(Progress::StreamStarted {
                stream: stream.clone(),
            });
            let checkpoint = if full_refresh {
                None
            } else {
                store.checkpoint(stream)?
            };
            let mut cursor: Option<String> = None;
            let total = counts.entry(stream.clone()).or_default();
            let mut window_set = false;
            loop {
                if total.pages >= self.config.max_pages_per_stream {
                    return Err(HostError::new(
                        "sandbox",
                        format!(
                            "stream {stream} returned more than {} pages in one run; stopped",
                            self.config.max_pages_per_stream
                        ),
                    ));
                }
                let mut attempt = 0;
                let page = loop {
                    attempt += 1;
                    let outcome = session
                        .pull_page(stream, checkpoint.as_deref(), cursor.as_deref())
                        .await;
                    let err = match outcome {
                        Ok(Ok(page)) => break page,
                        Ok(Err(e)) => e,
                        Err(e) => return Err(call_error(&e, redactor)),
                    };
                    let (class, message) = connector_error(&err);
                    let retry_after = match &err {
                        wit::ConnectorError::RateLimited(r) => {
                            Some(r.retry_after_ms.map(Duration::from_millis))
                        }
                        wit::ConnectorError::Transient(_) => Some(None),
                        _ => None,
                    };
                    match retry_after {
                        Some(ra) if attempt < self.config.retry.max_attempts => {
                            let delay = self.config.retry.delay(attempt, ra);
                            tracing::info!(stream = %stream, class = %class, attempt, ?delay, "retrying the same cursor");
                            progress(Progress::Waiting {
                                stream: stream.clone(),
                                class: class.clone(),
                                delay,
                                attempt,
                            });
                            tokio::time::sleep(delay).await;
                        }
                        Some(_) => {
                            return Err(HostError::new(
                                &class,
                                format!(
                                    "{} (gave up after {attempt} attempts)",
                                    redactor.redact(&message)
                                ),
                            ))
                        }
                        None => return Err(HostError::new(&class, redactor.redact(&message))),
                    }
                };
                if page.raw.stream != *stream {
                    return Err(HostError::new(
                        "sandbox",
                        "the component returned a page of another stream",
                    ));
                }
                let records = match session.normalize(&page.raw).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        let (class, message) = connector_error(&e);
                        return Err(HostError::new(&class, redactor.redact(&message)));
                    }
                    Err(e) => return Err(call_error(&e, redactor)),
                };
                if !window_set {
                    if let Some(w) = &page.window {
                        store.set_window(run_id, &rfc3339(w.start), &rfc3339(w.end))?;
                        window_set = true;
                    }
                }
                let seq = total.pages;
                let c = store
                    .commit_page(run_id, seq, &page, &records)
                    .map_err(|e| HostError::new("store", redactor.redact(&format!("{e:#}"))))?;
                total.pages += c.pages;
                total.requests += c.requests;
                total.inserted += c.inserted;
                total.updated += c.updated;
                total.unchanged += c.unchanged;
                progress(Progress::PageCommitted {
                    stream: stream.clone(),
                    pages: total.pages,
                    counts: total.clone(),
                });
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
            progress(Progress::StreamDone {
                stream: stream.clone(),
                counts: total.clone(),
            });
        }
        Ok(())
    }
}

fn call_error(e: &CallError, redactor: &Redactor) -> HostError {
    HostError::new("sandbox", redactor.redact(&e.to_string()))
}

pub fn rfc3339(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| unix.to_string())
}
