//! The store: one database holding many **connections**. Each connection has an id, a
//! display name, its component, its settings and (sealed) secrets, and its own
//! checkpoints, raw pages, records and import history; everything is keyed by the
//! connection's id, so no query of one connection ever sees another's data.
//!
//! Two backends behind one async API (enum dispatch):
//! - [`sqlite`]: an embedded SQLite file (`--db PATH`, the default), mode 0600;
//! - [`postgres`]: a PostgreSQL database (`--db postgres://…`) that several host processes
//!   share.
//!
//! In both, a raw page, its records (upserted by natural key) and the new checkpoint commit
//! in one transaction ([`Store::commit_page`]), so an interrupted run loses nothing it had
//! committed and duplicates nothing when it resumes; at most one run per connection goes at
//! a time across every process, by leases ([`lease`]); secrets are sealed at rest
//! ([`crypto`]). The tables are in [`schema`].
//!
//! Beside the imported records, each connection keeps its delivery ([`delivery`]: the git
//! repositories registered, where each read stopped, the commits read) and who is who
//! ([`people`]: aliases and teams), for the report of Codex use beside delivery.

pub mod crypto;
pub mod lease;
pub mod postgres;
pub mod schema;
pub mod sqlite;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::bindings::v0_2::types as wit;
use crate::records::CheckedRecord;
use crate::secret::Secret;

pub use crypto::{KeyMismatch, KeySource, NoKey, SealedSecret, SecretKey};
pub use lease::{Busy, LeaseLost, RunLease};

/// The connection the one-line commands use; created the first time a command needs it.
pub const DEFAULT_CONNECTION: &str = "default";

/// Raw pages of this many most recent runs of a connection are kept; older ones are pruned.
pub const RAW_PAGE_RUNS_KEPT: i64 = 5;

/// Whether `id` is a connection id: 1–64 of lowercase letters, digits, `-` and `_`.
pub fn check_connection_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{:?} is not a connection id: use 1 to 64 lowercase letters, digits, '-' or '_'",
            id.chars().take(80).collect::<String>()
        ))
    }
}

/// Where the store is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`postgres://user@host:port/db`).
    Postgres(String),
}

impl Location {
    /// `postgres://…` or `postgresql://…` is a shared store; anything else a file path.
    pub fn parse(text: &str) -> Location {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            Location::Postgres(text.to_string())
        } else {
            Location::Sqlite(PathBuf::from(text))
        }
    }

    /// The location as a message may show it (a password in the URL is left out).
    pub fn display(&self) -> String {
        match self {
            Location::Sqlite(p) => p.display().to_string(),
            Location::Postgres(url) => redact_url(url),
        }
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:…@host/db`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let host = match host.split_once('?') {
        Some((h, _)) => format!("{h}?…"),
        None => host.to_string(),
    };
    match auth {
        Some(a) => match a.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:…@{host}"),
            None => format!("{scheme}://{a}@{host}"),
        },
        None => format!("{scheme}://{host}"),
    }
}

/// How a store is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Where the secret key comes from.
    pub key: KeySource,
    /// How long a run's lease lives without a renewal (renewed every third of it).
    pub lease_ttl: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            key: KeySource::Auto,
            lease_ttl: lease::DEFAULT_TTL,
        }
    }
}

/// Per-stream counters of one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StreamCounts {
    pub pages: u64,
    /// Requests the host sent for this stream (its own count).
    pub requests: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl StreamCounts {
    pub fn add(&mut self, c: &StreamCounts) {
        self.pages += c.pages;
        self.requests += c.requests;
        self.inserted += c.inserted;
        self.updated += c.updated;
        self.unchanged += c.unchanged;
    }
}

/// One row of the import history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Run {
    pub id: i64,
    pub connection: String,
    /// The connector id of the component that ran.
    pub connector: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    /// `running`, `succeeded`, `failed` or `interrupted`.
    pub status: String,
    /// `cli`, `demo`, `schedule`, `ui`, …
    pub trigger: String,
    pub streams: BTreeMap<String, StreamCounts>,
    pub window_start: Option<String>,
    pub window_end: Option<String>,
    pub error_class: Option<String>,
    pub error_message: Option<String>,
}

impl Run {
    pub fn inserted(&self) -> u64 {
        self.streams.values().map(|c| c.inserted).sum()
    }
    pub fn updated(&self) -> u64 {
        self.streams.values().map(|c| c.updated).sum()
    }
    pub fn requests(&self) -> u64 {
        self.streams.values().map(|c| c.requests).sum()
    }
}

/// One stored record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredRecord {
    pub stream: String,
    /// The natural key's parts (`None` = absent).
    pub key: Vec<Option<String>>,
    pub schema_version: u32,
    pub payload: String,
    pub first_run: i64,
    pub changed_run: i64,
    pub seen_run: i64,
}

/// A connection.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    /// What people call it.
    pub name: String,
    /// The connector component (.wasm) it runs.
    pub component: String,
    /// The component's connector id, once the component was loaded for it.
    pub connector: Option<String>,
    pub created_at: String,
}

/// A connection to add.
#[derive(Clone, Debug)]
pub struct NewConnection {
    pub id: String,
    pub name: String,
    pub component: String,
    pub connector: Option<String>,
}

/// A connection's schedule: runs every `every` (± `jitter`), the next one due at `next_due_ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub connection: String,
    pub every: Duration,
    pub jitter: f64,
    /// Unix milliseconds.
    pub next_due_ms: i64,
}

/// Why a store could not be opened, typed so that callers can say what to do.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("there is no store at {0}")]
    Missing(PathBuf),
    #[error("the directory {0} does not exist")]
    NoDirectory(PathBuf),
    #[error("{0} is not a store this host can read: {1}")]
    Unreadable(PathBuf, String),
    #[error("cannot open the store {0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("cannot connect to the store {0}: {1}")]
    Connect(String, String),
    #[error("{0}")]
    Key(String),
}

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

/// Calls the same method on whichever backend the store has.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.backend {
            Backend::Sqlite(b) => b.$method($($arg),*).await,
            Backend::Postgres(b) => b.$method($($arg),*).await,
        }
    };
}

// (declared after `dispatch!`, which they use)
pub mod delivery;
pub mod people;

pub use delivery::{NotRegistered, Repository, RepositoryImport};

/// The store.
pub struct Store {
    backend: Backend,
    location: Location,
    key: RwLock<Option<SecretKey>>,
    key_source: KeySource,
    lease_ttl: Duration,
}

pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// Open the store, creating it when it does not exist (an embedded one with mode 0600,
    /// and its key file beside it unless a key is given).
    pub async fn open(location: &Location, opts: StoreOptions) -> Result<Store, OpenError> {
        Self::open_with(location, opts, true).await
    }

    /// Open a store that must already exist (for commands that only read): an embedded
    /// store that is missing is refused without being created.
    pub async fn open_existing(
        location: &Location,
        opts: StoreOptions,
    ) -> Result<Store, OpenError> {
        Self::open_with(location, opts, false).await
    }

    /// An embedded store at `path` with the default options (tests, tools).
    pub async fn open_path(path: &Path) -> Result<Store, OpenError> {
        Self::open(
            &Location::Sqlite(path.to_path_buf()),
            StoreOptions::default(),
        )
        .await
    }

    async fn open_with(
        location: &Location,
        opts: StoreOptions,
        create: bool,
    ) -> Result<Store, OpenError> {
        let backend = match location {
            Location::Sqlite(path) => Backend::Sqlite(sqlite::Sqlite::open(path, create).await?),
            Location::Postgres(url) => Backend::Postgres(postgres::Postgres::connect(url).await?),
        };
        let v1 = matches!(&backend, Backend::Sqlite(s) if s.is_v1());
        let mut store = Store {
            backend,
            location: location.clone(),
            key: RwLock::new(None),
            key_source: opts.key.clone(),
            lease_ttl: opts.lease_ttl,
        };
        let unreadable = |e: anyhow::Error| {
            OpenError::Unreadable(PathBuf::from(location.display()), format!("{e:#}"))
        };
        let stored = if v1 {
            Vec::new()
        } else {
            store.secret_key_ids().await.map_err(unreadable)?
        };
        let key_error = |e: anyhow::Error| OpenError::Key(format!("{e:#}"));
        let key = match (&opts.key, location) {
            (KeySource::File(p), _) => Some(SecretKey::from_file(p).map_err(key_error)?),
            (KeySource::Env(v), _) => Some(SecretKey::from_env(v).map_err(key_error)?),
            // (a version-1 store is upgraded, with its secrets sealed under a new key file)
            (KeySource::Auto, Location::Sqlite(path)) => {
                crypto::auto_key(path, &stored, create || v1).map_err(key_error)?
            }
            (KeySource::Auto, Location::Postgres(_)) => None,
        };
        *store.key.get_mut().unwrap_or_else(|p| p.into_inner()) = key;
        if let Backend::Sqlite(s) = &store.backend {
            if v1 {
                let key = store.key_read().clone();
                s.migrate_v1(key, crate::default_component_path().display().to_string())
                    .await
                    .map_err(unreadable)?;
            }
        }
        Ok(store)
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The file of an embedded store.
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::Sqlite(p) => Some(p),
            Location::Postgres(_) => None,
        }
    }

    /// Whether several processes on several machines may share it.
    pub fn is_shared(&self) -> bool {
        matches!(self.location, Location::Postgres(_))
    }

    /// The id of the secret key in use, if any.
    pub fn key_id(&self) -> Option<String> {
        self.key_read().as_ref().map(|k| k.id().to_string())
    }

    /// How long a run's lease lives without a renewal.
    pub fn lease_ttl(&self) -> Duration {
        self.lease_ttl
    }

    fn key_read(&self) -> std::sync::RwLockReadGuard<'_, Option<SecretKey>> {
        self.key.read().unwrap_or_else(|p| p.into_inner())
    }

    fn key_source_text(&self) -> String {
        let auto = self.path().map(crypto::auto_key_path);
        self.key_source.describe(auto.as_deref())
    }

    /// The key, or the error that says how to give it.
    fn key_or_error(&self, stored: &[String]) -> anyhow::Result<SecretKey> {
        match self.key_read().as_ref() {
            Some(k) => Ok(k.clone()),
            None => Err(NoKey {
                stored: stored.first().cloned(),
            }
            .into()),
        }
    }

    // ----------------------------------------------------------------- connections

    /// Add a connection; an id in use is refused.
    pub async fn add_connection(&self, new: &NewConnection) -> anyhow::Result<Connection> {
        check_connection_id(&new.id).map_err(anyhow::Error::msg)?;
        let c = Connection {
            id: new.id.clone(),
            name: new.name.clone(),
            component: new.component.clone(),
            connector: new.connector.clone(),
            created_at: now(),
        };
        if !dispatch!(self.insert_connection(&c))? {
            anyhow::bail!("there is already a connection {}", new.id);
        }
        Ok(c)
    }

    /// The connection `new.id`, added as `new` when it does not exist yet.
    pub async fn ensure_connection(&self, new: &NewConnection) -> anyhow::Result<Connection> {
        check_connection_id(&new.id).map_err(anyhow::Error::msg)?;
        if let Some(c) = self.connection(&new.id).await? {
            return Ok(c);
        }
        let c = Connection {
            id: new.id.clone(),
            name: new.name.clone(),
            component: new.component.clone(),
            connector: new.connector.clone(),
            created_at: now(),
        };
        dispatch!(self.insert_connection(&c))?;
        self.connection(&new.id)
            .await?
            .context("the connection vanished as it was added")
    }

    pub async fn connection(&self, id: &str) -> anyhow::Result<Option<Connection>> {
        dispatch!(self.connection(id))
    }

    /// Every connection, by id.
    pub async fn connections(&self) -> anyhow::Result<Vec<Connection>> {
        dispatch!(self.connections())
    }

    /// Record the connector id of a connection's component (the first time it is loaded).
    pub async fn set_connector(&self, id: &str, connector: &str) -> anyhow::Result<()> {
        dispatch!(self.set_connector(id, connector))
    }

    /// Remove a connection and everything it owns, in one transaction. Refused while a
    /// run of it holds its lease (`Ok(Err(Busy))`); `Ok(Ok(false))` when there is none.
    pub async fn remove_connection(&self, id: &str) -> anyhow::Result<Result<bool, Busy>> {
        dispatch!(self.remove_connection(id))
    }

    // ----------------------------------------------------------------- settings

    /// The non-secret settings of `connection`.
    pub async fn settings(&self, connection: &str) -> anyhow::Result<Vec<wit::Setting>> {
        let rows = dispatch!(self.settings(connection))?;
        rows.into_iter()
            .map(|(key, value)| {
                Ok(wit::Setting {
                    key,
                    value: value_from_json(&value).context("a stored setting is unreadable")?,
                })
            })
            .collect()
    }

    /// The secrets of `connection`, by setting key, opened with the store's key.
    pub async fn secrets(&self, connection: &str) -> anyhow::Result<BTreeMap<String, Secret>> {
        let sealed = dispatch!(self.sealed_secrets(Some(connection)))?;
        self.open_sealed(sealed)
    }

    fn open_sealed(&self, sealed: Vec<SealedSecret>) -> anyhow::Result<BTreeMap<String, Secret>> {
        if sealed.is_empty() {
            return Ok(BTreeMap::new());
        }
        let ids: Vec<String> = sealed.iter().map(|s| s.key_id.clone()).collect();
        let key = self.key_or_error(&ids)?;
        let source = self.key_source_text();
        let mut out = BTreeMap::new();
        for s in sealed {
            let value = key.open(&s, &source)?;
            out.insert(s.key, Secret::from_input(&value));
        }
        Ok(out)
    }

    /// The key ids the stored secrets were sealed with.
    pub async fn secret_key_ids(&self) -> anyhow::Result<Vec<String>> {
        dispatch!(self.secret_key_ids())
    }

    /// `connection`'s settings and secrets as one consistent snapshot (one read
    /// transaction), so a run that starts during a save sees the old configuration or the
    /// new one, never a mix. `None` when nothing is saved.
    pub async fn configuration(
        &self,
        connection: &str,
    ) -> anyhow::Result<Option<(Vec<wit::Setting>, BTreeMap<String, Secret>)>> {
        let (settings, sealed) = dispatch!(self.configuration(connection))?;
        if settings.is_empty() && sealed.is_empty() {
            return Ok(None);
        }
        let settings = settings
            .into_iter()
            .map(|(key, value)| {
                Ok(wit::Setting {
                    key,
                    value: value_from_json(&value).context("a stored setting is unreadable")?,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Some((settings, self.open_sealed(sealed)?)))
    }

    /// Whether anything was saved for `connection`.
    pub async fn is_configured(&self, connection: &str) -> anyhow::Result<bool> {
        dispatch!(self.is_configured(connection))
    }

    /// Replace `connection`'s settings and secrets in one transaction (only after the
    /// connector accepted them: a rejected save never reaches this). Secrets are sealed
    /// first; a store whose secrets were sealed with another key is refused untouched.
    pub async fn save_configuration(
        &self,
        connection: &str,
        settings: &[wit::Setting],
        secrets: &BTreeMap<String, Secret>,
    ) -> anyhow::Result<()> {
        let settings = settings
            .iter()
            .map(|s| Ok((s.key.clone(), value_to_json(&s.value)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let key = match self.key_read().clone() {
            Some(k) => Some(k),
            None if secrets.is_empty() => None,
            None => return Err(NoKey { stored: None }.into()),
        };
        let sealed = match &key {
            Some(k) => secrets
                .iter()
                .map(|(name, v)| k.seal(connection, name, v.expose()))
                .collect::<anyhow::Result<Vec<_>>>()?,
            None => Vec::new(),
        };
        let key_id = key.as_ref().map(|k| k.id().to_string());
        let other =
            dispatch!(self.save_configuration(connection, settings, sealed, key_id.clone()))?;
        if let (Some(stored), Some(given)) = (other, key_id) {
            return Err(KeyMismatch {
                stored,
                given,
                source_text: self.key_source_text(),
            }
            .into());
        }
        Ok(())
    }

    /// Re-seal every secret of the store under `new` in one transaction. For an embedded
    /// store on its own key file, the file is swapped so that a crash at any point leaves a
    /// readable store: the next key is written to `<db>.key.new` first, the database is
    /// re-encrypted, then the file is moved over `<db>.key` (a crash between the two is
    /// finished by the next open, which sees which key the secrets carry).
    pub async fn rotate_secrets(&self, new: &SecretKey) -> anyhow::Result<usize> {
        let old = {
            let ids = self.secret_key_ids().await?;
            match self.key_read().clone() {
                Some(k) => k,
                None if ids.is_empty() => new.clone(),
                None => {
                    return Err(NoKey {
                        stored: ids.first().cloned(),
                    }
                    .into())
                }
            }
        };
        let auto = match (&self.key_source, &self.location) {
            (KeySource::Auto, Location::Sqlite(p)) => Some(p.clone()),
            _ => None,
        };
        if let Some(db) = &auto {
            let next = crypto::next_key_path(db);
            let _ = std::fs::remove_file(&next);
            crypto::write_key_file(&next, new)?;
        }
        let source = self.key_source_text();
        let new_key = new.clone();
        let rewritten = dispatch!(self.rewrite_secrets(Box::new(
            move |rows: Vec<SealedSecret>| {
                rows.into_iter()
                    .map(|s| {
                        let value = old.open(&s, &source)?;
                        new_key.seal(&s.connection, &s.key, &value)
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            }
        )));
        let n = match rewritten {
            Ok(n) => n,
            Err(e) => {
                if let Some(db) = &auto {
                    let _ = std::fs::remove_file(crypto::next_key_path(db));
                }
                return Err(e);
            }
        };
        if let Some(db) = &auto {
            let path = crypto::auto_key_path(db);
            std::fs::rename(crypto::next_key_path(db), &path)?;
            crypto::sync_dir(&path);
        }
        *self.key.write().unwrap_or_else(|p| p.into_inner()) = Some(new.clone());
        Ok(n)
    }

    // ----------------------------------------------------------------- runs and leases

    /// Start a run of `connection` now for `owner`: take the connection's lease and insert
    /// the run's history row in one transaction. A lease held by a live owner refuses the
    /// start (`Ok(Err(Busy))`, nothing recorded); an expired one is taken over and the run
    /// it covered is marked `interrupted` with what it had committed.
    pub async fn start_run(
        &self,
        connection: &str,
        owner: &str,
        trigger: &str,
        connector: &str,
    ) -> anyhow::Result<Result<RunLease, Busy>> {
        let ttl = lease::ttl_ms(self.lease_ttl);
        dispatch!(self.start_run(connection, owner, trigger, connector, ttl))
    }

    /// Claim up to `limit` connections whose schedule is due, for `owner`: each claim takes
    /// the connection's lease and inserts its run (trigger `schedule`) in one transaction.
    /// Connections leased by a live owner are skipped; two owners claiming at once never
    /// claim the same connection (`FOR UPDATE SKIP LOCKED` on PostgreSQL, one writer at a
    /// time on SQLite).
    pub async fn claim_due(&self, owner: &str, limit: usize) -> anyhow::Result<Vec<RunLease>> {
        let ttl = lease::ttl_ms(self.lease_ttl);
        dispatch!(self.claim_due(owner, limit, ttl))
    }

    /// Renew a run's lease (the heartbeat). Fails with [`LeaseLost`] when it was taken over.
    pub async fn renew(&self, lease: &mut RunLease) -> anyhow::Result<()> {
        let ttl = lease::ttl_ms(self.lease_ttl);
        lease.expires_at_ms = dispatch!(self.renew(lease, ttl))?;
        Ok(())
    }

    /// Close a run (`succeeded` or `failed`) with its counts and error, release its lease,
    /// and move the connection's schedule (if any) to the end of the run plus a jittered
    /// interval — in one transaction. [`LeaseLost`] when the run was taken over meanwhile.
    pub async fn finish_run(
        &self,
        lease: &RunLease,
        status: &str,
        streams: &BTreeMap<String, StreamCounts>,
        error: Option<(&str, &str)>,
    ) -> anyhow::Result<()> {
        let streams = serde_json::to_string(streams)?;
        let error = error.map(|(c, m)| (c.to_string(), m.to_string()));
        dispatch!(self.finish_run(lease, status, streams, error))
    }

    /// Close a run this process stopped between two committed pages (a server shutting
    /// down) as `interrupted`, keeping the counts it had committed, and release its lease.
    /// Its schedule is left as it was (the run is due again).
    pub async fn interrupt_run(&self, lease: &RunLease, message: &str) -> anyhow::Result<()> {
        dispatch!(self.interrupt_run(lease, message))
    }

    /// Notice the runs that stopped without closing: every expired lease, and every lease
    /// of a process of this machine that no longer exists, is released and its run marked
    /// `interrupted` (with what it had committed). Returns how many.
    pub async fn reap(&self) -> anyhow::Result<usize> {
        dispatch!(self.reap())
    }

    /// The time window a run covered, as the component reported it.
    pub async fn set_window(&self, run_id: i64, start: &str, end: &str) -> anyhow::Result<()> {
        dispatch!(self.set_window(run_id, start, end))
    }

    /// The newest `limit` runs of `connection`, newest first.
    pub async fn runs(&self, connection: &str, limit: usize) -> anyhow::Result<Vec<Run>> {
        dispatch!(self.runs(connection, limit))
    }

    /// One run by id.
    pub async fn run(&self, run_id: i64) -> anyhow::Result<Option<Run>> {
        dispatch!(self.run(run_id))
    }

    // ----------------------------------------------------------------- schedule

    /// Schedule `connection` every `every` (± `jitter`), first due at `first_due_ms`
    /// (Unix milliseconds; now when `None`).
    pub async fn set_schedule(
        &self,
        connection: &str,
        every: Duration,
        jitter: f64,
        first_due_ms: Option<i64>,
    ) -> anyhow::Result<()> {
        let every_ms = lease::ttl_ms(every);
        dispatch!(self.set_schedule(connection, every_ms, jitter.clamp(0.0, 0.5), first_due_ms))
    }

    pub async fn schedule(&self, connection: &str) -> anyhow::Result<Option<Schedule>> {
        dispatch!(self.schedule(connection))
    }

    // ----------------------------------------------------------------- checkpoints + pages

    pub async fn checkpoint(
        &self,
        connection: &str,
        stream: &str,
    ) -> anyhow::Result<Option<String>> {
        dispatch!(self.checkpoint(connection, stream))
    }

    /// Store one raw page, upsert its (checked) records by natural key (counting inserted,
    /// updated and unchanged), move the checkpoint and add the page's counts to the run's
    /// history row — atomically, and only while the run holds its lease ([`LeaseLost`]
    /// otherwise, and nothing is written). `requests` is the host's own count for the page.
    pub async fn commit_page(
        &self,
        lease: &RunLease,
        seq: u64,
        page: wit::Page,
        requests: u64,
        records: Vec<CheckedRecord>,
    ) -> anyhow::Result<StreamCounts> {
        dispatch!(self.commit_page(lease, seq, page, requests, records))
    }

    // ----------------------------------------------------------------- reading records

    pub async fn records(
        &self,
        connection: &str,
        stream: &str,
    ) -> anyhow::Result<Vec<StoredRecord>> {
        dispatch!(self.records(connection, stream))
    }

    pub async fn record_count(&self, connection: &str, stream: &str) -> anyhow::Result<u64> {
        dispatch!(self.record_count(connection, stream))
    }

    pub async fn raw_page_count(&self, connection: &str) -> anyhow::Result<u64> {
        dispatch!(self.raw_page_count(connection))
    }

    /// The streams `connection` has records or checkpoints of.
    pub async fn streams(&self, connection: &str) -> anyhow::Result<Vec<String>> {
        dispatch!(self.streams(connection))
    }

    /// Every row of every table as text, by table (for tests that look for what must not
    /// be there).
    pub async fn dump(&self) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        dispatch!(self.dump())
    }

    /// Direct access to an embedded store's database (tests and tools); `None` for a
    /// shared store.
    pub fn sqlite(&self) -> Option<std::sync::MutexGuard<'_, rusqlite::Connection>> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s.lock()),
            Backend::Postgres(_) => None,
        }
    }
}

/// A setting value as stored. Secrets are never stored this way.
pub fn value_to_json(v: &wit::SettingValue) -> anyhow::Result<String> {
    let j = match v {
        wit::SettingValue::Text(t) => serde_json::json!({ "text": t }),
        wit::SettingValue::Number(n) => serde_json::json!({ "number": n }),
        wit::SettingValue::Boolean(b) => serde_json::json!({ "boolean": b }),
        wit::SettingValue::List(l) => serde_json::json!({ "list": l }),
        wit::SettingValue::Secret(_) => anyhow::bail!("a secret's shape is not a stored setting"),
    };
    Ok(j.to_string())
}

pub fn value_from_json(s: &str) -> anyhow::Result<wit::SettingValue> {
    let v: serde_json::Value = serde_json::from_str(s)?;
    let obj = v.as_object().context("not an object")?;
    let (k, v) = obj.iter().next().context("empty")?;
    Ok(match (k.as_str(), v) {
        ("text", serde_json::Value::String(t)) => wit::SettingValue::Text(t.clone()),
        ("number", n) if n.is_i64() => wit::SettingValue::Number(n.as_i64().unwrap_or_default()),
        ("boolean", serde_json::Value::Bool(b)) => wit::SettingValue::Boolean(*b),
        ("list", serde_json::Value::Array(a)) => wit::SettingValue::List(
            a.iter()
                .map(|x| x.as_str().map(str::to_string).context("list item"))
                .collect::<Result<_, _>>()?,
        ),
        _ => anyhow::bail!("unknown setting value form"),
    })
}

/// The message of a run closed because its lease was lost.
pub(crate) fn lost(lease: &RunLease) -> anyhow::Error {
    LeaseLost {
        connection: lease.connection.clone(),
        run_id: lease.run_id,
    }
    .into()
}

/// Add a page's counts to a run's `streams` JSON.
pub(crate) fn add_counts(streams_json: &str, stream: &str, c: &StreamCounts) -> String {
    let mut all: BTreeMap<String, StreamCounts> =
        serde_json::from_str(streams_json).unwrap_or_default();
    all.entry(stream.to_string()).or_default().add(c);
    serde_json::to_string(&all).unwrap_or_else(|_| "{}".into())
}

/// How a record of a page changes the stored one, per natural key, in page order (a key
/// twice in one page counts as the second upsert it is).
pub(crate) struct Upserts {
    pub counts: StreamCounts,
    /// Keys not stored before: (key, schema_version, payload), the page's last version.
    pub insert: Vec<(String, u32, String)>,
    /// Keys stored before whose payload changed.
    pub update: Vec<(String, u32, String)>,
    /// Keys stored before, unchanged: only seen.
    pub touch: Vec<String>,
}

/// Classify `records` against the payloads stored now (`existing`, by key).
pub(crate) fn classify(records: Vec<CheckedRecord>, existing: BTreeMap<String, String>) -> Upserts {
    let mut counts = StreamCounts::default();
    // key → (stored before the page, changed by it, schema_version, payload)
    let mut state: BTreeMap<String, (bool, bool, u32, String)> = BTreeMap::new();
    for r in records {
        let current = match state.get(&r.key_text) {
            Some(s) => Some((s.0, s.3.as_str())),
            None => existing.get(&r.key_text).map(|p| (true, p.as_str())),
        };
        match current {
            None => {
                counts.inserted += 1;
                state.insert(r.key_text, (false, true, r.schema_version, r.payload));
            }
            Some((before, old)) if old != r.payload => {
                counts.updated += 1;
                state.insert(r.key_text, (before, true, r.schema_version, r.payload));
            }
            Some(_) => {
                counts.unchanged += 1;
                state
                    .entry(r.key_text)
                    .or_insert((true, false, r.schema_version, r.payload));
            }
        }
    }
    let mut up = Upserts {
        counts,
        insert: Vec::new(),
        update: Vec::new(),
        touch: Vec::new(),
    };
    for (key, (stored_before, changed, version, payload)) in state {
        match (stored_before, changed) {
            (false, _) => up.insert.push((key, version, payload)),
            (true, true) => up.update.push((key, version, payload)),
            (true, false) => up.touch.push(key),
        }
    }
    up
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_ids() {
        for ok in ["default", "a", "acme-prod_2", &"x".repeat(64)] {
            assert!(check_connection_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Acme", "a b", "a/b", "é", &"x".repeat(65), "a.b"] {
            assert!(check_connection_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn urls_hide_their_password() {
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:…@h:5432/db"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?password=x"),
            "postgres://u@h/db?…"
        );
        assert_eq!(Location::parse("x.db"), Location::Sqlite("x.db".into()));
        assert!(matches!(
            Location::parse("postgresql://h/db"),
            Location::Postgres(_)
        ));
    }

    fn rec(key: &str, payload: &str) -> CheckedRecord {
        CheckedRecord {
            stream: "s".into(),
            key: vec![Some(key.into())],
            key_text: key.into(),
            schema_version: 1,
            payload: payload.into(),
        }
    }

    #[test]
    fn upserts_count_in_page_order() {
        let existing: BTreeMap<String, String> = [
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), "1".to_string()),
        ]
        .into();
        let up = classify(
            vec![
                rec("a", "1"),
                rec("b", "2"),
                rec("c", "1"),
                rec("c", "2"),
                rec("c", "2"),
            ],
            existing,
        );
        assert_eq!(
            (up.counts.inserted, up.counts.updated, up.counts.unchanged),
            (1, 2, 2)
        );
        assert_eq!(up.touch, vec!["a".to_string()]);
        assert_eq!(up.update, vec![("b".to_string(), 1, "2".to_string())]);
        assert_eq!(up.insert, vec![("c".to_string(), 1, "2".to_string())]);
    }
}
