//! The embedded store: one SQLite file holding settings (the token in its own secret
//! slot), per-stream checkpoints, raw pages, normalized records upserted by natural key,
//! and the import history. A raw page, its records and the new checkpoint commit in one
//! transaction, so an interrupted run loses nothing it had committed and duplicates
//! nothing when it resumes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::{Deserialize, Serialize};

use crate::records::Records;
use crate::sandbox::wit;

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL            -- JSON: {"text":…} | {"number":…} | {"boolean":…} | {"list":[…]}
);
CREATE TABLE IF NOT EXISTS secrets (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    stream     TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    run_id     INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS raw_pages (
    id         INTEGER PRIMARY KEY,
    run_id     INTEGER NOT NULL,
    stream     TEXT NOT NULL,
    scope      TEXT,
    seq        INTEGER NOT NULL,
    fetched_at INTEGER NOT NULL,
    body       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS raw_pages_run ON raw_pages(run_id);
CREATE TABLE IF NOT EXISTS records (
    stream         TEXT NOT NULL,
    key            TEXT NOT NULL,
    schema_version INTEGER NOT NULL,
    payload        TEXT NOT NULL,
    first_run      INTEGER NOT NULL,  -- run that inserted it
    changed_run    INTEGER NOT NULL,  -- last run that changed its payload
    seen_run       INTEGER NOT NULL,  -- last run that read it
    PRIMARY KEY (stream, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    id            INTEGER PRIMARY KEY,
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
"#;

/// Raw pages of this many most recent runs are kept; older ones are pruned.
const RAW_PAGE_RUNS_KEPT: i64 = 5;

/// Per-stream counters of one run.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct StreamCounts {
    pub pages: u64,
    pub requests: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// One row of the import history.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Run {
    pub id: i64,
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
}

/// One stored record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredRecord {
    pub stream: String,
    pub key: String,
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

pub const TOKEN_SLOT: &str = "api_token";

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Store {
    /// Open (creating if needed) the store. The file is created with mode 0600: it holds
    /// the token.
    pub fn open(path: &Path) -> anyhow::Result<Store> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            if !path.exists() {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .with_context(|| format!("cannot create the store {}", path.display()))?;
            }
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict permissions of {}", path.display()))?;
        }
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open the store {}", path.display()))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.execute_batch(SCHEMA)
            .context("cannot create the store's tables")?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    // ----------------------------------------------------------------- settings

    pub fn settings(&self) -> anyhow::Result<Vec<wit::Setting>> {
        let mut stmt = self
            .conn
            .prepare("SELECT key, value FROM settings ORDER BY key")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
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

    pub fn token(&self) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT value FROM secrets WHERE key = ?1",
                [TOKEN_SLOT],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Replace all settings and the token in one transaction (only after `configure`
    /// accepted them: a rejected save never reaches this).
    pub fn save_settings(&mut self, settings: &[wit::Setting], token: &str) -> anyhow::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM settings", [])?;
        for s in settings {
            tx.execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2)",
                params![s.key, value_to_json(&s.value)],
            )?;
        }
        tx.execute(
            "INSERT INTO secrets(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![TOKEN_SLOT, token],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forget all settings and the token (restoring "nothing saved yet").
    pub fn clear_settings(&mut self) -> anyhow::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM settings", [])?;
        tx.execute("DELETE FROM secrets", [])?;
        tx.commit()?;
        Ok(())
    }

    /// Settings as handed to `configure`: the stored ones plus the token from its slot.
    pub fn settings_with_token(&self) -> anyhow::Result<Option<(Vec<wit::Setting>, String)>> {
        let Some(token) = self.token()? else {
            return Ok(None);
        };
        let mut settings = self.settings()?;
        settings.push(wit::Setting {
            key: TOKEN_SLOT.into(),
            value: wit::SettingValue::Text(token.clone()),
        });
        Ok(Some((settings, token)))
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

    /// Close the runs this process left `running` after run `after` (a sync stopped
    /// between two committed pages) as interrupted, with what they had committed.
    pub fn interrupt_own_runs(
        &self,
        after: i64,
        streams: &BTreeMap<String, StreamCounts>,
        message: &str,
    ) -> anyhow::Result<usize> {
        Ok(self.conn.execute(
            "UPDATE runs SET status = 'interrupted', finished_at = ?1, streams = ?2, error_class = 'interrupted', error_message = ?3
             WHERE id > ?4 AND status = 'running' AND pid = ?5",
            params![now(), serde_json::to_string(streams)?, message, after, std::process::id()],
        )?)
    }

    /// Whether another live process is running a sync on this store.
    pub fn running_elsewhere(&self) -> anyhow::Result<Option<i64>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, pid FROM runs WHERE status = 'running'")?;
        let live = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
            .filter_map(Result::ok)
            .find(|(_, pid)| process_alive(*pid))
            .map(|(id, _)| id);
        Ok(live)
    }

    pub fn start_run(&self, trigger: &str) -> anyhow::Result<i64> {
        self.conn.execute(
            "INSERT INTO runs(started_at, status, trigger, pid, streams) VALUES (?1, 'running', ?2, ?3, '{}')",
            params![now(), trigger, std::process::id()],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn set_window(&self, run_id: i64, start: &str, end: &str) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE runs SET window_start = ?2, window_end = ?3 WHERE id = ?1",
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

    pub fn runs(&self, limit: usize) -> anyhow::Result<Vec<Run>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, started_at, finished_at, status, trigger, streams, window_start, window_end, error_class, error_message
             FROM runs ORDER BY id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], |r| {
            let streams: String = r.get(5)?;
            Ok(Run {
                id: r.get(0)?,
                started_at: r.get(1)?,
                finished_at: r.get(2)?,
                status: r.get(3)?,
                trigger: r.get(4)?,
                streams: serde_json::from_str(&streams).unwrap_or_default(),
                window_start: r.get(6)?,
                window_end: r.get(7)?,
                error_class: r.get(8)?,
                error_message: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ----------------------------------------------------------------- checkpoints + pages

    pub fn checkpoint(&self, stream: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT state FROM checkpoints WHERE stream = ?1",
                [stream],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Store one raw page, upsert its records and move the checkpoint — atomically.
    pub fn commit_page(
        &mut self,
        run_id: i64,
        seq: u64,
        page: &wit::Page,
        records: &Records,
    ) -> anyhow::Result<StreamCounts> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut counts = StreamCounts {
            pages: 1,
            requests: page.requests as u64,
            ..Default::default()
        };
        tx.execute(
            "INSERT INTO raw_pages(run_id, stream, scope, seq, fetched_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run_id, page.raw.stream, page.raw.scope, seq as i64, page.raw.fetched_at, page.raw.body],
        )?;
        {
            let mut get =
                tx.prepare_cached("SELECT payload FROM records WHERE stream = ?1 AND key = ?2")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO records(stream, key, schema_version, payload, first_run, changed_run, seen_run) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?5)",
            )?;
            let mut update = tx.prepare_cached(
                "UPDATE records SET schema_version = ?3, payload = ?4, changed_run = ?5, seen_run = ?5 WHERE stream = ?1 AND key = ?2",
            )?;
            let mut touch = tx.prepare_cached(
                "UPDATE records SET seen_run = ?3 WHERE stream = ?1 AND key = ?2",
            )?;
            for r in records.iter() {
                if r.stream != page.raw.stream {
                    anyhow::bail!(
                        "the component returned a {} record for a {} page",
                        r.stream,
                        page.raw.stream
                    );
                }
                let existing: Option<String> = get
                    .query_row(params![r.stream, r.key], |row| row.get(0))
                    .optional()?;
                match existing {
                    None => {
                        insert.execute(params![
                            r.stream,
                            r.key,
                            r.schema_version,
                            r.payload,
                            run_id
                        ])?;
                        counts.inserted += 1;
                    }
                    Some(old) if old != r.payload => {
                        update.execute(params![
                            r.stream,
                            r.key,
                            r.schema_version,
                            r.payload,
                            run_id
                        ])?;
                        counts.updated += 1;
                    }
                    Some(_) => {
                        touch.execute(params![r.stream, r.key, run_id])?;
                        counts.unchanged += 1;
                    }
                }
            }
        }
        if let Some(cp) = &page.checkpoint {
            tx.execute(
                "INSERT INTO checkpoints(stream, state, run_id, updated_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(stream) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at",
                params![page.raw.stream, cp, run_id, now()],
            )?;
        }
        tx.commit()?;
        Ok(counts)
    }

    // ----------------------------------------------------------------- reading records

    pub fn records(&self, stream: &str) -> anyhow::Result<Vec<StoredRecord>> {
        let mut stmt = self.conn.prepare(
            "SELECT stream, key, schema_version, payload, first_run, changed_run, seen_run FROM records WHERE stream = ?1 ORDER BY key",
        )?;
        let rows = stmt.query_map([stream], |r| {
            Ok(StoredRecord {
                stream: r.get(0)?,
                key: r.get(1)?,
                schema_version: r.get(2)?,
                payload: r.get(3)?,
                first_run: r.get(4)?,
                changed_run: r.get(5)?,
                seen_run: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn record_count(&self, stream: &str) -> anyhow::Result<u64> {
        Ok(self.conn.query_row(
            "SELECT COUNT(*) FROM records WHERE stream = ?1",
            [stream],
            |r| r.get::<_, i64>(0),
        )? as u64)
    }

    pub fn raw_page_count(&self) -> anyhow::Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM raw_pages", [], |r| r.get::<_, i64>(0))?
            as u64)
    }

    /// Direct access for reports and tests.
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

pub fn value_to_json(v: &wit::SettingValue) -> String {
    let j = match v {
        wit::SettingValue::Text(t) => serde_json::json!({ "text": t }),
        wit::SettingValue::Number(n) => serde_json::json!({ "number": n }),
        wit::SettingValue::Boolean(b) => serde_json::json!({ "boolean": b }),
        wit::SettingValue::List(l) => serde_json::json!({ "list": l }),
    };
    j.to_string()
}

pub fn value_from_json(s: &str) -> anyhow::Result<wit::SettingValue> {
    let v: serde_json::Value = serde_json::from_str(s)?;
    let obj = v.as_object().context("not an object")?;
    let (k, v) = obj.iter().next().context("empty")?;
    Ok(match (k.as_str(), v) {
        ("text", serde_json::Value::String(t)) => wit::SettingValue::Text(t.clone()),
        ("number", n) if n.is_i64() => wit::SettingValue::Number(n.as_i64().unwrap()),
        ("boolean", serde_json::Value::Bool(b)) => wit::SettingValue::Boolean(*b),
        ("list", serde_json::Value::Array(a)) => wit::SettingValue::List(
            a.iter()
                .map(|x| x.as_str().map(str::to_string).context("list item"))
                .collect::<Result<_, _>>()?,
        ),
        _ => anyhow::bail!("unknown setting value form"),
    })
}
