//! The embedded backend: one SQLite file (WAL, `foreign_keys` on, mode 0600). Calls run on
//! tokio's blocking pool, one at a time on the store's connection; write transactions are
//! `BEGIN IMMEDIATE`, so the processes sharing the file take turns (a lease check and the
//! run it starts are one turn). The WAL is checkpointed every
//! [`WAL_CHECKPOINT_PAGES`] pages, inside the commit that crosses it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection as Db, OptionalExtension, Transaction, TransactionBehavior};

use super::lease::{self, Busy, RunLease};
use super::{
    add_counts, lost, now, schema, Connection, OpenError, Run, Schedule, SealedSecret,
    StoredRecord, StreamCounts, RAW_PAGE_RUNS_KEPT,
};
use crate::bindings::v0_2::types as wit;
use crate::records::CheckedRecord;

// The delivery and identity tables, in files of their own.
mod delivery;
mod people;

/// WAL pages between checkpoints (SQLite's default is 1,000). A backfill page (a raw body
/// of several MB and its records) is about 2,500 pages, so at the default every page's
/// commit also checkpoints (copying the pages back and syncing both files: about half the
/// commit's time); at 4,096 (16 MiB of WAL) one commit in two or three does.
const WAL_CHECKPOINT_PAGES: i64 = 4_096;

pub struct Sqlite {
    conn: Arc<Mutex<Db>>,
    /// A version-1 store, to upgrade before use (see `migrate_v1`).
    v1: bool,
}

type Job<T> = Box<dyn FnOnce(&mut Db) -> anyhow::Result<T> + Send>;

const GONE_MESSAGE: &str =
    "the process running it ended before the run finished (killed or crashed); the next run resumes from the last committed page";

impl Sqlite {
    pub async fn open(path: &Path, create: bool) -> Result<Sqlite, OpenError> {
        let path = path.to_path_buf();
        tokio::task::spawn_blocking(move || Self::open_blocking(&path, create))
            .await
            .map_err(|e| OpenError::Unreadable(PathBuf::new(), e.to_string()))?
    }

    fn open_blocking(path: &Path, create: bool) -> Result<Sqlite, OpenError> {
        if !create && !path.is_file() {
            return Err(OpenError::Missing(path.to_path_buf()));
        }
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
            if create {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    .map_err(|e| OpenError::Io(path.to_path_buf(), e))?;
            }
        }
        let bad = |e: rusqlite::Error| OpenError::Unreadable(path.to_path_buf(), e.to_string());
        let conn = Db::open(path).map_err(bad)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(bad)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(bad)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(bad)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(bad)?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
            .map_err(bad)?;
        let v1: bool = conn
            .query_row(
                "SELECT COUNT(*) > 0 FROM pragma_table_info('runs') WHERE name = 'pid'",
                [],
                |r| r.get(0),
            )
            .map_err(bad)?;
        if !v1 {
            conn.execute_batch(schema::SQLITE).map_err(bad)?;
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('schema', ?1) ON CONFLICT(key) DO NOTHING",
                [schema::VERSION.to_string()],
            )
            .map_err(bad)?;
        }
        Ok(Sqlite {
            conn: Arc::new(Mutex::new(conn)),
            v1,
        })
    }

    pub fn is_v1(&self) -> bool {
        self.v1
    }

    pub fn lock(&self) -> MutexGuard<'_, Db> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Run `f` on the connection, on the blocking pool.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let conn = self.conn.clone();
        let job: Job<T> = Box::new(f);
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(|p| p.into_inner());
            job(&mut c)
        })
        .await
        .map_err(|e| anyhow::anyhow!("a store call failed: {e}"))?
    }

    /// Upgrade a version-1 store (see [`schema::SQLITE_V1_RENAME`]).
    pub async fn migrate_v1(
        &self,
        key: Option<super::SecretKey>,
        component: String,
    ) -> anyhow::Result<()> {
        self.call(move |db| {
            db.pragma_update(None, "secure_delete", "ON")?;
            db.pragma_update(None, "foreign_keys", "OFF")?;
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(schema::SQLITE_V1_RENAME)?;
            tx.execute_batch(schema::SQLITE)?;
            tx.execute("INSERT INTO meta(key, value) VALUES ('schema', ?1)", [schema::VERSION.to_string()])?;
            let connectors: Vec<String> = tx
                .prepare(
                    "SELECT connector FROM v1_runs UNION SELECT connector FROM v1_settings UNION SELECT connector FROM v1_secrets UNION SELECT connector FROM v1_records UNION SELECT connector FROM v1_checkpoints",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            let ids: Vec<(String, String)> = connectors
                .iter()
                .map(|c| {
                    let id = if connectors.len() == 1 {
                        super::DEFAULT_CONNECTION.to_string()
                    } else {
                        let mut id: String = c
                            .to_lowercase()
                            .chars()
                            .map(|ch| if ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' { ch } else { '-' })
                            .take(64)
                            .collect();
                        if id.is_empty() {
                            id = "connection".into();
                        }
                        id
                    };
                    (c.clone(), id)
                })
                .collect();
            for (connector, id) in &ids {
                tx.execute(
                    "INSERT INTO connections(id, name, component, connector, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, connector, component, connector, now()],
                )?;
                tx.execute("INSERT INTO leases(connection) VALUES (?1)", [id])?;
                tx.execute(
                    "INSERT INTO settings(connection, key, value) SELECT ?1, key, value FROM v1_settings WHERE connector = ?2",
                    params![id, connector],
                )?;
                tx.execute(
                    "INSERT INTO checkpoints(connection, stream, state, run_id, updated_at) SELECT ?1, stream, state, run_id, updated_at FROM v1_checkpoints WHERE connector = ?2",
                    params![id, connector],
                )?;
                tx.execute(
                    "INSERT INTO raw_pages(connection, run_id, stream, scope, seq, fetched_at, body) SELECT ?1, run_id, stream, scope, seq, fetched_at, body FROM v1_raw_pages WHERE connector = ?2",
                    params![id, connector],
                )?;
                tx.execute(
                    "INSERT INTO records(connection, stream, key, schema_version, payload, first_run, changed_run, seen_run) SELECT ?1, stream, key, schema_version, payload, first_run, changed_run, seen_run FROM v1_records WHERE connector = ?2",
                    params![id, connector],
                )?;
                tx.execute(
                    "INSERT INTO runs(id, connection, connector, started_at, finished_at, status, trigger, owner, streams, window_start, window_end, error_class, error_message)
                     SELECT id, ?1, connector, started_at, finished_at,
                            CASE status WHEN 'running' THEN 'interrupted' ELSE status END, trigger, 'version-1', streams, window_start, window_end,
                            CASE status WHEN 'running' THEN 'interrupted' ELSE error_class END,
                            CASE status WHEN 'running' THEN 'the host stopped before the run finished' ELSE error_message END
                     FROM v1_runs WHERE connector = ?2",
                    params![id, connector],
                )?;
                let plain: Vec<(String, String)> = tx
                    .prepare("SELECT key, value FROM v1_secrets WHERE connector = ?1")?
                    .query_map([connector], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                if !plain.is_empty() {
                    let key = key
                        .as_ref()
                        .ok_or(super::NoKey { stored: None })?;
                    for (name, value) in plain {
                        let s = key.seal(id, &name, &value)?;
                        tx.execute(
                            "INSERT INTO secrets(connection, key, key_id, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![s.connection, s.key, s.key_id, s.nonce, s.ciphertext],
                        )?;
                    }
                }
            }
            tx.execute_batch(schema::SQLITE_V1_DROP)?;
            tx.commit()?;
            db.pragma_update(None, "foreign_keys", "ON")?;
            db.execute_batch("VACUUM")?;
            let _: i64 = db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            db.pragma_update(None, "secure_delete", "OFF")?;
            Ok(())
        })
        .await
    }

    // ----------------------------------------------------------------- connections

    pub async fn insert_connection(&self, c: &Connection) -> anyhow::Result<bool> {
        let c = c.clone();
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "INSERT INTO connections(id, name, component, connector, created_at) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO NOTHING",
                params![c.id, c.name, c.component, c.connector, c.created_at],
            )?;
            if n == 1 {
                tx.execute("INSERT INTO leases(connection) VALUES (?1)", [&c.id])?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn connection(&self, id: &str) -> anyhow::Result<Option<Connection>> {
        let id = id.to_string();
        self.call(move |db| {
            Ok(db
                .query_row(
                    "SELECT id, name, component, connector, created_at FROM connections WHERE id = ?1",
                    [id],
                    row_connection,
                )
                .optional()?)
        })
        .await
    }

    pub async fn connections(&self) -> anyhow::Result<Vec<Connection>> {
        self.call(|db| {
            let mut stmt = db.prepare(
                "SELECT id, name, component, connector, created_at FROM connections ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], row_connection)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn set_connector(&self, id: &str, connector: &str) -> anyhow::Result<()> {
        let (id, connector) = (id.to_string(), connector.to_string());
        self.call(move |db| {
            db.execute(
                "UPDATE connections SET connector = ?2 WHERE id = ?1",
                params![id, connector],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn remove_connection(&self, id: &str) -> anyhow::Result<Result<bool, Busy>> {
        let id = id.to_string();
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(busy) = live_lease(&tx, &id)? {
                return Ok(Err(busy));
            }
            let n = tx.execute("DELETE FROM connections WHERE id = ?1", [&id])?;
            tx.commit()?;
            Ok(Ok(n == 1))
        })
        .await
    }

    // ----------------------------------------------------------------- configuration

    pub async fn settings(&self, connection: &str) -> anyhow::Result<Vec<(String, String)>> {
        let c = connection.to_string();
        self.call(move |db| read_settings(db, &c)).await
    }

    pub async fn sealed_secrets(
        &self,
        connection: Option<&str>,
    ) -> anyhow::Result<Vec<SealedSecret>> {
        let c = connection.map(str::to_string);
        self.call(move |db| read_secrets(db, c.as_deref())).await
    }

    pub async fn secret_key_ids(&self) -> anyhow::Result<Vec<String>> {
        self.call(|db| {
            let mut stmt = db.prepare("SELECT DISTINCT key_id FROM secrets ORDER BY 1")?;
            let ids = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(ids)
        })
        .await
    }

    pub async fn configuration(
        &self,
        connection: &str,
    ) -> anyhow::Result<(Vec<(String, String)>, Vec<SealedSecret>)> {
        let c = connection.to_string();
        self.call(move |db| {
            let tx = db.transaction()?;
            let settings = read_settings(&tx, &c)?;
            let secrets = read_secrets(&tx, Some(&c))?;
            tx.finish()?;
            Ok((settings, secrets))
        })
        .await
    }

    pub async fn is_configured(&self, connection: &str) -> anyhow::Result<bool> {
        let c = connection.to_string();
        self.call(move |db| {
            let n: i64 = db.query_row(
                "SELECT (SELECT COUNT(*) FROM secrets WHERE connection = ?1) + (SELECT COUNT(*) FROM settings WHERE connection = ?1)",
                [c],
                |r| r.get(0),
            )?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn save_configuration(
        &self,
        connection: &str,
        settings: Vec<(String, String)>,
        sealed: Vec<SealedSecret>,
        key_id: Option<String>,
    ) -> anyhow::Result<Option<String>> {
        let c = connection.to_string();
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            require_connection(&tx, &c)?;
            if let Some(k) = &key_id {
                let other: Option<String> = tx
                    .query_row("SELECT key_id FROM secrets WHERE key_id <> ?1 LIMIT 1", [k], |r| r.get(0))
                    .optional()?;
                if other.is_some() {
                    return Ok(other);
                }
            }
            tx.execute("DELETE FROM settings WHERE connection = ?1", [&c])?;
            tx.execute("DELETE FROM secrets WHERE connection = ?1", [&c])?;
            for (k, v) in &settings {
                tx.execute(
                    "INSERT INTO settings(connection, key, value) VALUES (?1, ?2, ?3)",
                    params![c, k, v],
                )?;
            }
            for s in &sealed {
                tx.execute(
                    "INSERT INTO secrets(connection, key, key_id, nonce, ciphertext) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![c, s.key, s.key_id, s.nonce, s.ciphertext],
                )?;
            }
            tx.commit()?;
            Ok(None)
        })
        .await
    }

    pub async fn rewrite_secrets(
        &self,
        f: Box<dyn FnOnce(Vec<SealedSecret>) -> anyhow::Result<Vec<SealedSecret>> + Send>,
    ) -> anyhow::Result<usize> {
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let rows = read_secrets(&tx, None)?;
            let rows = f(rows)?;
            for s in &rows {
                tx.execute(
                    "UPDATE secrets SET key_id = ?3, nonce = ?4, ciphertext = ?5 WHERE connection = ?1 AND key = ?2",
                    params![s.connection, s.key, s.key_id, s.nonce, s.ciphertext],
                )?;
            }
            tx.commit()?;
            Ok(rows.len())
        })
        .await
    }

    // ----------------------------------------------------------------- runs and leases

    pub async fn start_run(
        &self,
        connection: &str,
        owner: &str,
        trigger: &str,
        connector: &str,
        ttl: i64,
    ) -> anyhow::Result<Result<RunLease, Busy>> {
        let (c, owner, trigger, connector) = (
            connection.to_string(),
            owner.to_string(),
            trigger.to_string(),
            connector.to_string(),
        );
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            require_connection(&tx, &c)?;
            if let Some(busy) = live_lease(&tx, &c)? {
                return Ok(Err(busy));
            }
            let lease = take(&tx, &c, &connector, &owner, &trigger, ttl)?;
            tx.commit()?;
            Ok(Ok(lease))
        })
        .await
    }

    pub async fn claim_due(
        &self,
        owner: &str,
        limit: usize,
        ttl: i64,
    ) -> anyhow::Result<Vec<RunLease>> {
        let owner = owner.to_string();
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = lease::now_ms();
            let due: Vec<(String, String, Option<String>, i64)> = tx
                .prepare(
                    "SELECT s.connection, COALESCE(c.connector, ''), l.owner, COALESCE(l.expires_at, 0)
                     FROM schedule s JOIN connections c ON c.id = s.connection LEFT JOIN leases l ON l.connection = s.connection
                     WHERE s.next_due <= ?1
                       AND (EXISTS (SELECT 1 FROM settings WHERE connection = s.connection) OR EXISTS (SELECT 1 FROM secrets WHERE connection = s.connection))
                     ORDER BY s.next_due, s.connection",
                )?
                .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::new();
            for (c, connector, held_by, expires) in due {
                if out.len() >= limit {
                    break;
                }
                let free = match &held_by {
                    None => true,
                    Some(o) => expires <= now || lease::owner_gone(o),
                };
                if free {
                    out.push(take(&tx, &c, &connector, &owner, "schedule", ttl)?);
                }
            }
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    pub async fn renew(&self, l: &RunLease, ttl: i64) -> anyhow::Result<i64> {
        let l = l.clone();
        self.call(move |db| {
            let expires = lease::now_ms() + ttl;
            let n = db.execute(
                "UPDATE leases SET expires_at = ?4 WHERE connection = ?1 AND owner = ?2 AND run_id = ?3",
                params![l.connection, l.owner, l.run_id, expires],
            )?;
            if n == 0 {
                return Err(lost(&l));
            }
            Ok(expires)
        })
        .await
    }

    pub async fn finish_run(
        &self,
        l: &RunLease,
        status: &str,
        streams: String,
        error: Option<(String, String)>,
    ) -> anyhow::Result<()> {
        let (l, status) = (l.clone(), status.to_string());
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (class, message) = match &error {
                Some((c, m)) => (Some(c.as_str()), Some(m.as_str())),
                None => (None, None),
            };
            let n = tx.execute(
                "UPDATE runs SET finished_at = ?3, status = ?4, streams = ?5, error_class = ?6, error_message = ?7
                 WHERE id = ?1 AND connection = ?2 AND status = 'running'",
                params![l.run_id, l.connection, now(), status, streams, class, message],
            )?;
            if n == 0 {
                return Err(lost(&l));
            }
            release(&tx, &l)?;
            if status == "succeeded" {
                tx.execute(
                    "DELETE FROM raw_pages WHERE connection = ?1 AND run_id NOT IN (SELECT id FROM runs WHERE connection = ?1 ORDER BY id DESC LIMIT ?2)",
                    params![l.connection, RAW_PAGE_RUNS_KEPT],
                )?;
            }
            let schedule: Option<(i64, f64)> = tx
                .query_row(
                    "SELECT every_ms, jitter FROM schedule WHERE connection = ?1",
                    [&l.connection],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            if let Some((every, jitter)) = schedule {
                tx.execute(
                    "UPDATE schedule SET next_due = ?2 WHERE connection = ?1",
                    params![l.connection, lease::now_ms() + lease::jittered_ms(every, jitter)],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn interrupt_run(&self, l: &RunLease, message: &str) -> anyhow::Result<()> {
        let (l, message) = (l.clone(), message.to_string());
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE runs SET status = 'interrupted', finished_at = ?2, error_class = 'interrupted', error_message = ?3
                 WHERE id = ?1 AND status = 'running'",
                params![l.run_id, now(), message],
            )?;
            release(&tx, &l)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn reap(&self) -> anyhow::Result<usize> {
        self.call(|db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = lease::now_ms();
            let held: Vec<(String, String, i64)> = tx
                .prepare("SELECT connection, owner, expires_at FROM leases WHERE owner IS NOT NULL")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let mut n = 0;
            for (c, owner, expires) in held {
                let message = if expires <= now {
                    lease::EXPIRED_MESSAGE
                } else if lease::owner_gone(&owner) {
                    GONE_MESSAGE
                } else {
                    continue;
                };
                n += interrupt_running(&tx, &c, message)?;
                tx.execute(
                    "UPDATE leases SET owner = NULL, run_id = NULL, expires_at = 0 WHERE connection = ?1 AND owner = ?2",
                    params![c, owner],
                )?;
            }
            tx.commit()?;
            Ok(n)
        })
        .await
    }

    pub async fn set_window(&self, run_id: i64, start: &str, end: &str) -> anyhow::Result<()> {
        let (start, end) = (start.to_string(), end.to_string());
        self.call(move |db| {
            db.execute(
                "UPDATE runs SET window_start = ?2, window_end = ?3 WHERE id = ?1",
                params![run_id, start, end],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn runs(&self, connection: &str, limit: usize) -> anyhow::Result<Vec<Run>> {
        let c = connection.to_string();
        self.call(move |db| {
            let mut stmt = db.prepare(&format!(
                "{RUN_COLUMNS} WHERE connection = ?1 ORDER BY id DESC LIMIT ?2"
            ))?;
            let rows = stmt
                .query_map(params![c, limit.min(i64::MAX as usize) as i64], row_run)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn run(&self, run_id: i64) -> anyhow::Result<Option<Run>> {
        self.call(move |db| {
            Ok(db
                .query_row(&format!("{RUN_COLUMNS} WHERE id = ?1"), [run_id], row_run)
                .optional()?)
        })
        .await
    }

    // ----------------------------------------------------------------- schedule

    pub async fn set_schedule(
        &self,
        connection: &str,
        every_ms: i64,
        jitter: f64,
        first: Option<i64>,
    ) -> anyhow::Result<()> {
        let c = connection.to_string();
        self.call(move |db| {
            let due = first.unwrap_or_else(lease::now_ms);
            db.execute(
                "INSERT INTO schedule(connection, every_ms, jitter, next_due) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(connection) DO UPDATE SET every_ms = excluded.every_ms, jitter = excluded.jitter, next_due = excluded.next_due",
                params![c, every_ms, jitter, due],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn schedule(&self, connection: &str) -> anyhow::Result<Option<Schedule>> {
        let c = connection.to_string();
        self.call(move |db| {
            Ok(db
                .query_row(
                    "SELECT connection, every_ms, jitter, next_due FROM schedule WHERE connection = ?1",
                    [c],
                    |r| {
                        Ok(Schedule {
                            connection: r.get(0)?,
                            every: std::time::Duration::from_millis(r.get::<_, i64>(1)?.max(0) as u64),
                            jitter: r.get(2)?,
                            next_due_ms: r.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    // ----------------------------------------------------------------- data

    pub async fn checkpoint(
        &self,
        connection: &str,
        stream: &str,
    ) -> anyhow::Result<Option<String>> {
        let (c, s) = (connection.to_string(), stream.to_string());
        self.call(move |db| {
            Ok(db
                .query_row(
                    "SELECT state FROM checkpoints WHERE connection = ?1 AND stream = ?2",
                    [c, s],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    pub async fn commit_page(
        &self,
        l: &RunLease,
        seq: u64,
        page: wit::Page,
        requests: u64,
        records: Vec<CheckedRecord>,
    ) -> anyhow::Result<StreamCounts> {
        let l = l.clone();
        self.call(move |db| {
            let c = &l.connection;
            let run_id = l.run_id;
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // The fence: only a run that is still running (its lease not taken over) commits.
            let streams: Option<String> = tx
                .query_row(
                    "SELECT streams FROM runs WHERE id = ?1 AND connection = ?2 AND status = 'running'",
                    params![run_id, c],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(streams) = streams else {
                return Err(lost(&l));
            };
            tx.execute(
                "INSERT INTO raw_pages(connection, run_id, stream, scope, seq, fetched_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![c, run_id, page.raw.stream, page.raw.scope, seq as i64, page.raw.fetched_at, page.raw.body],
            )?;
            let mut counts = StreamCounts {
                pages: 1,
                requests,
                ..Default::default()
            };
            {
                // A new record (every record of a backfill) costs one statement: the insert
                // is tried first, and only a key already stored is read and compared.
                let mut insert = tx.prepare_cached(
                    "INSERT INTO records(connection, stream, key, schema_version, payload, first_run, changed_run, seen_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?6)
                     ON CONFLICT(connection, stream, key) DO NOTHING",
                )?;
                let mut get = tx.prepare_cached(
                    "SELECT payload FROM records WHERE connection = ?1 AND stream = ?2 AND key = ?3",
                )?;
                let mut update = tx.prepare_cached(
                    "UPDATE records SET schema_version = ?4, payload = ?5, changed_run = ?6, seen_run = ?6 WHERE connection = ?1 AND stream = ?2 AND key = ?3",
                )?;
                let mut touch = tx.prepare_cached(
                    "UPDATE records SET seen_run = ?4 WHERE connection = ?1 AND stream = ?2 AND key = ?3",
                )?;
                for r in &records {
                    if insert.execute(params![c, r.stream, r.key_text, r.schema_version, r.payload, run_id])? == 1 {
                        counts.inserted += 1;
                        continue;
                    }
                    let old: String = get.query_row(params![c, r.stream, r.key_text], |row| row.get(0))?;
                    if old != r.payload {
                        update.execute(params![c, r.stream, r.key_text, r.schema_version, r.payload, run_id])?;
                        counts.updated += 1;
                    } else {
                        touch.execute(params![c, r.stream, r.key_text, run_id])?;
                        counts.unchanged += 1;
                    }
                }
            }
            if let Some(cp) = &page.checkpoint {
                tx.execute(
                    "INSERT INTO checkpoints(connection, stream, state, run_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(connection, stream) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at",
                    params![c, page.raw.stream, cp, run_id, now()],
                )?;
            }
            tx.execute(
                "UPDATE runs SET streams = ?2 WHERE id = ?1",
                params![run_id, add_counts(&streams, &page.raw.stream, &counts)],
            )?;
            tx.commit()?;
            Ok(counts)
        })
        .await
    }

    pub async fn records(
        &self,
        connection: &str,
        stream: &str,
    ) -> anyhow::Result<Vec<StoredRecord>> {
        let (c, s) = (connection.to_string(), stream.to_string());
        self.call(move |db| {
            let mut stmt = db.prepare(
                "SELECT stream, key, schema_version, payload, first_run, changed_run, seen_run FROM records WHERE connection = ?1 AND stream = ?2 ORDER BY key",
            )?;
            let rows = stmt
                .query_map([c, s], |r| {
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
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn record_count(&self, connection: &str, stream: &str) -> anyhow::Result<u64> {
        let (c, s) = (connection.to_string(), stream.to_string());
        self.call(move |db| {
            Ok(db.query_row(
                "SELECT COUNT(*) FROM records WHERE connection = ?1 AND stream = ?2",
                [c, s],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    pub async fn raw_page_count(&self, connection: &str) -> anyhow::Result<u64> {
        let c = connection.to_string();
        self.call(move |db| {
            Ok(db.query_row(
                "SELECT COUNT(*) FROM raw_pages WHERE connection = ?1",
                [c],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })
        .await
    }

    pub async fn streams(&self, connection: &str) -> anyhow::Result<Vec<String>> {
        let c = connection.to_string();
        self.call(move |db| {
            let mut stmt = db.prepare(
                "SELECT DISTINCT stream FROM records WHERE connection = ?1 UNION SELECT stream FROM checkpoints WHERE connection = ?1 ORDER BY 1",
            )?;
            let rows = stmt.query_map([c], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn dump(&self) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        self.call(|db| {
            let mut out = BTreeMap::new();
            for t in schema::TABLES {
                let mut stmt = db.prepare(&format!("SELECT * FROM {t}"))?;
                let n = stmt.column_count();
                let mut rows = stmt.query([])?;
                let mut lines = Vec::new();
                while let Some(row) = rows.next()? {
                    let mut line = String::new();
                    for i in 0..n {
                        match row.get::<_, rusqlite::types::Value>(i)? {
                            rusqlite::types::Value::Text(s) => line.push_str(&s),
                            rusqlite::types::Value::Blob(b) => {
                                line.push_str(&String::from_utf8_lossy(&b))
                            }
                            v => line.push_str(&format!("{v:?}")),
                        }
                        line.push('\t');
                    }
                    lines.push(line);
                }
                out.insert(t.to_string(), lines);
            }
            Ok(out)
        })
        .await
    }
}

const RUN_COLUMNS: &str = "SELECT id, connection, connector, started_at, finished_at, status, trigger, streams, window_start, window_end, error_class, error_message FROM runs";

fn row_run(r: &rusqlite::Row<'_>) -> rusqlite::Result<Run> {
    let streams: String = r.get(7)?;
    Ok(Run {
        id: r.get(0)?,
        connection: r.get(1)?,
        connector: r.get(2)?,
        started_at: r.get(3)?,
        finished_at: r.get(4)?,
        status: r.get(5)?,
        trigger: r.get(6)?,
        streams: serde_json::from_str(&streams).unwrap_or_default(),
        window_start: r.get(8)?,
        window_end: r.get(9)?,
        error_class: r.get(10)?,
        error_message: r.get(11)?,
    })
}

fn row_connection(r: &rusqlite::Row<'_>) -> rusqlite::Result<Connection> {
    Ok(Connection {
        id: r.get(0)?,
        name: r.get(1)?,
        component: r.get(2)?,
        connector: r.get(3)?,
        created_at: r.get(4)?,
    })
}

fn read_settings(db: &Db, connection: &str) -> anyhow::Result<Vec<(String, String)>> {
    let mut stmt =
        db.prepare("SELECT key, value FROM settings WHERE connection = ?1 ORDER BY key")?;
    let rows = stmt
        .query_map([connection], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

fn read_secrets(db: &Db, connection: Option<&str>) -> anyhow::Result<Vec<SealedSecret>> {
    let sql = "SELECT connection, key, key_id, nonce, ciphertext FROM secrets";
    let map = |r: &rusqlite::Row<'_>| {
        Ok(SealedSecret {
            connection: r.get(0)?,
            key: r.get(1)?,
            key_id: r.get(2)?,
            nonce: r.get(3)?,
            ciphertext: r.get(4)?,
        })
    };
    let rows = match connection {
        Some(c) => db
            .prepare(&format!("{sql} WHERE connection = ?1 ORDER BY key"))?
            .query_map([c], map)?
            .collect::<Result<_, _>>()?,
        None => db
            .prepare(&format!("{sql} ORDER BY connection, key"))?
            .query_map([], map)?
            .collect::<Result<_, _>>()?,
    };
    Ok(rows)
}

fn require_connection(tx: &Transaction<'_>, c: &str) -> anyhow::Result<()> {
    let exists: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM connections WHERE id = ?1",
        [c],
        |r| r.get(0),
    )?;
    if !exists {
        anyhow::bail!("there is no connection {c}");
    }
    Ok(())
}

/// The connection's lease when a live owner holds it.
fn live_lease(tx: &Transaction<'_>, c: &str) -> anyhow::Result<Option<Busy>> {
    let held: Option<(Option<String>, Option<i64>, i64)> = tx
        .query_row(
            "SELECT owner, run_id, expires_at FROM leases WHERE connection = ?1",
            [c],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match held {
        Some((Some(owner), run_id, expires))
            if expires > lease::now_ms() && !lease::owner_gone(&owner) =>
        {
            Some(Busy {
                connection: c.to_string(),
                owner,
                run_id: run_id.unwrap_or_default(),
            })
        }
        _ => None,
    })
}

/// Mark the runs of `c` still `running` interrupted (their owner is gone or its lease
/// expired), keeping the counts they had committed.
fn interrupt_running(tx: &Transaction<'_>, c: &str, message: &str) -> anyhow::Result<usize> {
    Ok(tx.execute(
        "UPDATE runs SET status = 'interrupted', finished_at = ?2, error_class = 'interrupted', error_message = ?3
         WHERE connection = ?1 AND status = 'running'",
        params![c, now(), message],
    )?)
}

/// Take the (free or expired) lease of `c` for a new run: any run of `c` still `running`
/// lost its owner, and is closed as interrupted.
fn take(
    tx: &Transaction<'_>,
    c: &str,
    connector: &str,
    owner: &str,
    trigger: &str,
    ttl: i64,
) -> anyhow::Result<RunLease> {
    let previous: Option<Option<String>> = tx
        .query_row("SELECT owner FROM leases WHERE connection = ?1", [c], |r| {
            r.get(0)
        })
        .optional()?;
    let message = match previous.flatten() {
        Some(o) if lease::owner_gone(&o) => GONE_MESSAGE,
        _ => lease::EXPIRED_MESSAGE,
    };
    interrupt_running(tx, c, message)?;
    tx.execute(
        "INSERT INTO runs(connection, connector, started_at, status, trigger, owner, streams) VALUES (?1, ?2, ?3, 'running', ?4, ?5, '{}')",
        params![c, connector, now(), trigger, owner],
    )?;
    let run_id = tx.last_insert_rowid();
    let now_ms = lease::now_ms();
    let expires = now_ms + ttl;
    tx.execute(
        "INSERT INTO leases(connection, owner, run_id, expires_at, acquired_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(connection) DO UPDATE SET owner = excluded.owner, run_id = excluded.run_id, expires_at = excluded.expires_at, acquired_at = excluded.acquired_at",
        params![c, owner, run_id, expires, now_ms],
    )?;
    Ok(RunLease {
        connection: c.to_string(),
        run_id,
        owner: owner.to_string(),
        expires_at_ms: expires,
    })
}

/// Release a run's lease (only if it still holds it).
fn release(tx: &Transaction<'_>, l: &RunLease) -> anyhow::Result<()> {
    tx.execute(
        "UPDATE leases SET owner = NULL, run_id = NULL, expires_at = 0 WHERE connection = ?1 AND owner = ?2 AND run_id = ?3",
        params![l.connection, l.owner, l.run_id],
    )?;
    Ok(())
}
