//! The embedded store: one SQLite file holding, per connector id, its settings, its
//! secrets (in their own table), per-stream checkpoints, raw pages, normalized records
//! upserted by natural key, and the import history. A raw page, its records and the new
//! checkpoint commit in one transaction, so an interrupted run loses nothing it had
//! committed and duplicates nothing when it resumes. Keying everything by connector id
//! keeps two connectors in one store from ever touching each other's data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::bindings::v0_2::types as wit;
use crate::records::CheckedRecord;
use crate::secret::Secret;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS settings (
    connector TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,       -- JSON: {"text":…} | {"number":…} | {"boolean":…} | {"list":[…]}
    PRIMARY KEY (connector, key)
);
CREATE TABLE IF NOT EXISTS secrets (
    connector TEXT NOT NULL,
    key       TEXT NOT NULL,
    value     TEXT NOT NULL,
    PRIMARY KEY (connector, key)
);
CREATE TABLE IF NOT EXISTS checkpoints (
    connector  TEXT NOT NULL,
    stream     TEXT NOT NULL,
    state      TEXT NOT NULL,
    run_id     INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (connector, stream)
);
CREATE TABLE IF NOT EXISTS raw_pages (
    id         INTEGER PRIMARY KEY,
    connector  TEXT NOT NULL,
    run_id     INTEGER NOT NULL,
    stream     TEXT NOT NULL,
    scope      TEXT,
    seq        INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_pages_run ON raw_pages(run_id);
CREATE TABLE IF NOT EXISTS records (
    connector      TEXT NOT NULL,
    stream         TEXT NOT NULL,
    key            TEXT NOT NULL,     -- JSON array of the natural key's parts (null = absent)
    schema_version INTEGER NOT NULL,
    payload        TEXT NOT NULL,     -- a JSON object, re-serialized by the host
    first_run      INTEGER NOT NULL,  -- run that inserted it
    changed_run    INTEGER NOT NULL,  -- last run that changed its payload
    seen_run       INTEGER NOT NULL,  -- last run that read it
    PRIMARY KEY (connector, stream, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id            INTEGER PRIMARY KEY,
    connector     TEXT NOT NULL,
    started_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,      -- running | succeeded | failed | interrupted
    trigger       TEXT NOT NULL,      -- cli | demo | schedule | ui
    pid           INTEGER NOT NULL,
    streams       TEXT NOT NULL,      -- JSON: per-stream counters
    window_start  TEXT,
    window_end    TEXT,
    error_class   TEXT,
    error_message TEXT                -- redacted
);
CREATE INDEX IF NOT EXISTS runs_connector ON runs(connector, id);
"#;

/// Raw pages of this many most recent runs are kept; older ones are pruned.
const RAW_PAGE_RUNS_KEPT: i64 = 5;

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
    pub connector: String,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub status: String,
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

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
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
}

impl Store {
    /// Open the store, creating it (mode 0600: it holds secrets) when it does not exist.
    pub fn open(path: &Path) -> Result<Store, OpenError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(OpenError::NoDirectory(dir.to_path_buf()));
            }
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            if !path.exists() {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(|e| OpenError::Io(path.to_path_buf(), e))?;
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| OpenError::Io(path.to_path_buf(), e))?;
        }
        Self::connect(path)
    }

    /// Open a store that must already exist (for commands that only read it).
    pub fn open_existing(path: &Path) -> Result<Store, OpenError> {
        if !path.is_file() {
            return Err(OpenError::Missing(path.to_path_buf()));
        }
        Self::connect(path)
    }

    fn connect(path: &Path) -> Result<Store, OpenError> {
        let bad = |e: rusqlite::Error| OpenError::Unreadable(path.to_path_buf(), e.to_string());
        let conn = Connection::open(path).map_err(bad)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(bad)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(bad)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(bad)?;
        conn.execute_batch(SCHEMA).map_err(bad)?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    // ----------------------------------------------------------------- settings

    /// The non-secret settings of `connector`.
    pub fn settings(&self, connector: &str) -> anyhow::Result<Vec<wit::Setting>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM settings WHERE connector = ?1 ORDER BY key")?;
        let rows = stmt.query_map([connector], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (key, value) = row?;
            out.push(wit::Setting {
                key,
                value: value_from_json(&value).context("a stored setting is unreadable")?,
            });
        }
        Ok(out)
    }

    /// The secrets of `connector`, by setting key.
    pub fn secrets(&self, connector: &str) -> anyhow::Result<BTreeMap<String, Secret>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM secrets WHERE connector = ?1")?;
        let rows = stmt.query_map([connector], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = BTreeMap::new();
        for row in rows {
            let (k, v) = row?;
            out.insert(k, Secret::from_input(&v));
        }
        Ok(out)
    }

    /// `connector`'s settings and secrets as one consistent snapshot (one read
    /// transaction), so a run that starts during a save sees the old configuration or the
    /// new one, never a mix. `None` when nothing is saved.
    pub fn configuration(
        &self,
        connector: &str,
    ) -> anyhow::Result<Option<(Vec<wit::Setting>, BTreeMap<String, Secret>)>> {
        let tx = self.conn.unchecked_transaction()?;
        let settings = self.settings(connector)?;
        let secrets = self.secrets(connector)?;
        tx.finish()?;
        if settings.is_empty() && secrets.is_empty() {
            return Ok(None);
        }
        Ok(Some((settings, secrets)))
    }

    /// Whether anything was saved for `connector` (a configured connection).
    pub fn is_configured(&self, connector: &str) -> anyhow::Result<bool> {
        let n: i64 = self.conn.query_row(
            "SELECT (SELECT COUNT(*) FROM secrets WHERE connector = ?1) + (SELECT COUNT(*) FROM settings WHERE connector = ?1)",
            [connector],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    /// Replace `connector`'s settings and secrets in one transaction (only after the
    /// connector accepted them: a rejected save never reaches this).
    pub fn save_configuration(
        &mut self,
        connector: &str,
        settings: &[wit::Setting],
        secrets: &BTreeMap<String, Secret>,
    ) -> anyhow::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM settings WHERE connector = ?1", [connector])?;
        tx.execute("DELETE FROM secrets WHERE connector = ?1", [connector])?;
        for s in settings {
            tx.execute(
                "INSERT INTO settings(connector, key, value) VALUES (?1, ?2, ?3)",
                params![connector, s.key, value_to_json(&s.value)?],
            )?;
        }
        for (k, v) in secrets {
            tx.execute(
                "INSERT INTO secrets(connector, key, value) VALUES (?1, ?2, ?3)",
                params![connector, k, v.expose()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    // ----------------------------------------------------------------- runs

    /// Runs left `running` by a process that is gone were interrupted (killed, crashed).
    pub fn mark_interrupted_runs(&self) -> anyhow::Result<usize> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pid FROM runs WHERE status = 'running'")?;
        let stale: Vec<i64> = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
            .filter_map(Result::ok)
            .filter(|(_, pid)| !process_alive(*pid))
            .map(|(id, _)| id)
            .collect();
        for id in &stale {
            self.conn.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?2, error_class = 'interrupted', error_message = 'the harness stopped before the run finished; the next run resumes from the last committed page' WHERE id = ?1",
                params![id, now()],
            )?;
        }
        Ok(stale.len())
    }

    /// Close the runs of `connector` this process left `running` after run `after` (a
    /// sync stopped between two committed pages) as interrupted, with what they had
    /// committed.
    pub fn interrupt_own_runs(
        &self,
        connector: &str,
        after: i64,
        streams: &BTreeMap<String, StreamCounts>,
        message: &str,
    ) -> anyhow::Result<usize> {
        Ok(self.conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?1, streams = ?2, error_class = 'interrupted', error_message = ?3
             WHERE connector = ?6 AND id > ?4 AND status = 'running' AND pid = ?5",
            params![now(), serde_json::to_string(streams)?, message, after, std::process::id(), connector],
        )?)
    }

    /// Whether another live process is running a sync of `connector` on this store.
    pub fn running_elsewhere(&self, connector: &str) -> anyhow::Result<Option<i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pid FROM runs WHERE status = 'running' AND connector = ?1")?;
        let live = stmt
            .query_map([connector], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
            .filter_map(Result::ok)
            .find(|(_, pid)| process_alive(*pid))
            .map(|(id, _)| id);
        Ok(live)
    }

    pub fn start_run(&self, connector: &str, trigger: &str) -> anyhow::Result<i64> {
        self.conn.execute(
            "INSERT INTO runs(connector, started_at, status, trigger, pid, streams) VALUES (?1, ?2, 'running', ?3, ?4, '{}')",
            params![connector, now(), trigger, std::process::id()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_window(&self, run_id: i64, start: &str, end: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE runs SET window_start = COALESCE(MIN(window_start, ?2), ?2), window_end = COALESCE(MAX(window_end, ?3), ?3) WHERE id = ?1",
            params![run_id, start, end],
        )?;
        Ok(())
    }

    pub fn finish_run(
        &self,
        run_id: i64,
        status: &str,
        streams: &BTreeMap<String, StreamCounts>,
        error: Option<(&str, &str)>,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE runs SET finished_at = ?2, status = ?3, streams = ?4, error_class = ?5, error_message = ?6 WHERE id = ?1",
            params![
                run_id,
                now(),
                status,
                serde_json::to_string(streams)?,
                error.map(|e| e.0),
                error.map(|e| e.1)
            ],
        )?;
        if status == "succeeded" {
            self.conn.execute(
                "DELETE FROM raw_pages WHERE run_id NOT IN (SELECT id FROM runs ORDER BY id DESC LIMIT ?1)",
                [RAW_PAGE_RUNS_KEPT],
            )?;
        }
        Ok(())
    }

    /// The newest `limit` runs of `connector`, newest first.
    pub fn runs(&self, connector: &str, limit: usize) -> anyhow::Result<Vec<Run>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, connector, started_at, finished_at, status, trigger, streams, window_start, window_end, error_class, error_message
             FROM runs WHERE connector = ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![connector, limit as i64], |r| {
            let streams: String = r.get(6)?;
            Ok(Run {
                id: r.get(0)?,
                connector: r.get(1)?,
                started_at: r.get(2)?,
                finished_at: r.get(3)?,
                status: r.get(4)?,
                trigger: r.get(5)?,
                streams: serde_json::from_str(&streams).unwrap_or_default(),
                window_start: r.get(7)?,
                window_end: r.get(8)?,
                error_class: r.get(9)?,
                error_message: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ----------------------------------------------------------------- checkpoints + pages

    pub fn checkpoint(&self, connector: &str, stream: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT state FROM checkpoints WHERE connector = ?1 AND stream = ?2",
                [connector, stream],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Store one raw page, upsert its (checked) records and move the checkpoint —
    /// atomically. `requests` is the host's own count for the page.
    pub fn commit_page(
        &mut self,
        connector: &str,
        run_id: i64,
        seq: u64,
        page: &wit::Page,
        requests: u64,
        records: &[CheckedRecord],
    ) -> anyhow::Result<StreamCounts> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut counts = StreamCounts {
            pages: 1,
            requests,
            ..Default::default()
        };
        tx.execute(
            "INSERT INTO raw_pages(connector, run_id, stream, scope, seq, fetched_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![connector, run_id, page.raw.stream, page.raw.scope, seq as i64, page.raw.fetched_at, page.raw.body],
        )?;
        {
            let mut get = tx.prepare_cached(
                "SELECT payload FROM records WHERE connector = ?1 AND stream = ?2 AND key = ?3",
            )?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO records(connector, stream, key, schema_version, payload, first_run, changed_run, seen_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE records SET schema_version = ?4, payload = ?5, changed_run = ?6, seen_run = ?6 WHERE connector = ?1 AND stream = ?2 AND key = ?3",
            )?;
            let mut touch = tx.prepare_cached(
                "UPDATE records SET seen_run = ?4 WHERE connector = ?1 AND stream = ?2 AND key = ?3",
            )?;
            for r in records {
                let existing: Option<String> = get
                    .query_row(params![connector, r.stream, r.key_text], |row| row.get(0))
                    .optional()?;
                match existing {
                    None => {
                        insert.execute(params![
                            connector,
                            r.stream,
                            r.key_text,
                            r.schema_version,
                            r.payload,
                            run_id
                        ])?;
                        counts.inserted += 1;
                    }
                    Some(old) if old != r.payload => {
                        update.execute(params![
                            connector,
                            r.stream,
                            r.key_text,
                            r.schema_version,
                            r.payload,
                            run_id
                        ])?;
                        counts.updated += 1;
                    }
                    Some(_) => {
                        touch.execute(params![connector, r.stream, r.key_text, run_id])?;
                        counts.unchanged += 1;
                    }
                }
            }
        }
        if let Some(cp) = &page.checkpoint {
            tx.execute(
                "INSERT INTO checkpoints(connector, stream, state, run_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT(connector, stream) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at",
                params![connector, page.raw.stream, cp, run_id, now()],
            )?;
        }
        tx.commit()?;
        Ok(counts)
    }

    // ----------------------------------------------------------------- reading records

    pub fn records(&self, connector: &str, stream: &str) -> anyhow::Result<Vec<StoredRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT stream, key, schema_version, payload, first_run, changed_run, seen_run FROM records WHERE connector = ?1 AND stream = ?2 ORDER BY key",
        )?;
        let rows = stmt.query_map([connector, stream], |r| {
            let key: String = r.get(1)?;
            Ok(StoredRecord {
                stream: r.get(0)?,
                key: serde_json::from_str(&key).unwrap_or_default(),
                schema_version: r.get(2)?,
                payload: r.get(3)?,
                first_run: r.get(4)?,
                changed_run: r.get(5)?,
                seen_run: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn record_count(&self, connector: &str, stream: &str) -> anyhow::Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM records WHERE connector = ?1 AND stream = ?2",
            [connector, stream],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    pub fn raw_page_count(&self, connector: &str) -> anyhow::Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM raw_pages WHERE connector = ?1",
            [connector],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    /// Direct access for tests that inspect every table.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

#[cfg(target_os = "linux")]
fn process_alive(pid: i64) -> bool {
    pid == std::process::id() as i64 || Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_alive(pid: i64) -> bool {
    pid == std::process::id() as i64
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
