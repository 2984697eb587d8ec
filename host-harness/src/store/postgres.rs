//! The shared backend: a PostgreSQL database (`--db postgres://…`) that several host
//! processes use at once, through a connection pool (tokio-postgres + deadpool-postgres).
//!
//! - The schema is created under a transaction-scoped advisory lock, so processes starting
//!   together do not race on `CREATE TABLE`.
//! - Leases are compared with the **database's** clock (`clock_timestamp()`), so hosts with
//!   skewed clocks agree on when a lease expired.
//! - A run starts by locking its connection's lease row (`FOR UPDATE`); claiming due
//!   connections locks their lease rows with `FOR UPDATE SKIP LOCKED`, so two owners
//!   claiming at once skip each other's rows and never claim one connection twice.
//! - A page commits in one transaction that first locks its run's row while it is still
//!   `running` (the fence), then upserts its records in bulk (`unnest`), counting inserted,
//!   updated and unchanged the way the embedded store does record by record.

use std::collections::BTreeMap;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Transaction};
use tokio_postgres::NoTls;

use super::lease::{self, Busy, RunLease};
use super::{
    add_counts, classify, lost, now, redact_url, schema, Connection, OpenError, Run, Schedule,
    SealedSecret, StoredRecord, StreamCounts, RAW_PAGE_RUNS_KEPT,
};
use crate::bindings::v0_2::types as wit;
use crate::records::CheckedRecord;

// The delivery and identity tables, in files of their own.
mod delivery;
mod people;

/// Unix milliseconds by the database's clock.
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// The advisory lock key that serializes schema creation.
const SCHEMA_LOCK: i64 = 0x636f_6465_785f_7632; // "codex_v2"

const GONE_MESSAGE: &str =
    "the process running it ended before the run finished (killed or crashed); the next run resumes from the last committed page";

pub struct Postgres {
    pool: Pool,
}

impl Postgres {
    pub async fn connect(url: &str) -> Result<Postgres, OpenError> {
        let shown = redact_url(url);
        let bad = |e: String| OpenError::Connect(shown.clone(), e);
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| bad(e.to_string()))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(8)
            .build()
            .map_err(|e| bad(e.to_string()))?;
        let pg = Postgres { pool };
        pg.create_schema()
            .await
            .map_err(|e| bad(format!("{e:#}")))?;
        Ok(pg)
    }

    async fn create_schema(&self) -> anyhow::Result<()> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        tx.execute(
            &tx.prepare_cached("SELECT pg_advisory_xact_lock($1)")
                .await?,
            &[&SCHEMA_LOCK],
        )
        .await?;
        tx.batch_execute(schema::POSTGRES).await?;
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO meta(key, value) VALUES ('schema', $1) ON CONFLICT (key) DO NOTHING",
            )
            .await?,
            &[&schema::VERSION.to_string()],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn client(&self) -> anyhow::Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    // ----------------------------------------------------------------- connections

    pub async fn insert_connection(&self, c: &Connection) -> anyhow::Result<bool> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                &tx.prepare_cached("INSERT INTO connections(id, name, component, connector, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING").await?,
                &[&c.id, &c.name, &c.component, &c.connector, &c.created_at],
            )
            .await?;
        if n == 1 {
            tx.execute(
                &tx.prepare_cached("INSERT INTO leases(connection) VALUES ($1)")
                    .await?,
                &[&c.id],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    pub async fn connection(&self, id: &str) -> anyhow::Result<Option<Connection>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &client.prepare_cached("SELECT id, name, component, connector, created_at FROM connections WHERE id = $1").await?,
                &[&id],
            )
            .await?;
        Ok(row.map(|r| row_connection(&r)))
    }

    pub async fn connections(&self) -> anyhow::Result<Vec<Connection>> {
        let client = self.client().await?;
        let rows = client
            .query(&client.prepare_cached("SELECT id, name, component, connector, created_at FROM connections ORDER BY id").await?, &[])
            .await?;
        Ok(rows.iter().map(row_connection).collect())
    }

    pub async fn set_connector(&self, id: &str, connector: &str) -> anyhow::Result<()> {
        let client = self.client().await?;
        client
            .execute(
                &client
                    .prepare_cached("UPDATE connections SET connector = $2 WHERE id = $1")
                    .await?,
                &[&id, &connector],
            )
            .await?;
        Ok(())
    }

    pub async fn remove_connection(&self, id: &str) -> anyhow::Result<Result<bool, Busy>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if let Some(busy) = live_lease(&tx, id).await? {
            return Ok(Err(busy));
        }
        let n = tx
            .execute(
                &tx.prepare_cached("DELETE FROM connections WHERE id = $1")
                    .await?,
                &[&id],
            )
            .await?;
        tx.commit().await?;
        Ok(Ok(n == 1))
    }

    // ----------------------------------------------------------------- configuration

    pub async fn settings(&self, connection: &str) -> anyhow::Result<Vec<(String, String)>> {
        let client = self.client().await?;
        read_settings(&client, connection).await
    }

    pub async fn sealed_secrets(
        &self,
        connection: Option<&str>,
    ) -> anyhow::Result<Vec<SealedSecret>> {
        let client = self.client().await?;
        read_secrets(&client, connection).await
    }

    pub async fn secret_key_ids(&self) -> anyhow::Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &client
                    .prepare_cached("SELECT DISTINCT key_id FROM secrets ORDER BY 1")
                    .await?,
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn configuration(
        &self,
        connection: &str,
    ) -> anyhow::Result<(Vec<(String, String)>, Vec<SealedSecret>)> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await?;
        let settings = read_settings(&tx, connection).await?;
        let secrets = read_secrets(&tx, Some(connection)).await?;
        tx.commit().await?;
        Ok((settings, secrets))
    }

    pub async fn is_configured(&self, connection: &str) -> anyhow::Result<bool> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &client.prepare_cached("SELECT EXISTS (SELECT 1 FROM secrets WHERE connection = $1) OR EXISTS (SELECT 1 FROM settings WHERE connection = $1)").await?,
                &[&connection],
            )
            .await?;
        Ok(row.get(0))
    }

    pub async fn save_configuration(
        &self,
        connection: &str,
        settings: Vec<(String, String)>,
        sealed: Vec<SealedSecret>,
        key_id: Option<String>,
    ) -> anyhow::Result<Option<String>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        require_connection(&tx, connection).await?;
        if let Some(k) = &key_id {
            let other = tx
                .query_opt(
                    &tx.prepare_cached("SELECT key_id FROM secrets WHERE key_id <> $1 LIMIT 1")
                        .await?,
                    &[k],
                )
                .await?;
            if let Some(row) = other {
                return Ok(Some(row.get(0)));
            }
        }
        tx.execute(
            &tx.prepare_cached("DELETE FROM settings WHERE connection = $1")
                .await?,
            &[&connection],
        )
        .await?;
        tx.execute(
            &tx.prepare_cached("DELETE FROM secrets WHERE connection = $1")
                .await?,
            &[&connection],
        )
        .await?;
        for (k, v) in &settings {
            tx.execute(
                &tx.prepare_cached(
                    "INSERT INTO settings(connection, key, value) VALUES ($1, $2, $3)",
                )
                .await?,
                &[&connection, k, v],
            )
            .await?;
        }
        for s in &sealed {
            tx.execute(
                &tx.prepare_cached("INSERT INTO secrets(connection, key, key_id, nonce, ciphertext) VALUES ($1, $2, $3, $4, $5)").await?,
                &[&connection, &s.key, &s.key_id, &s.nonce, &s.ciphertext],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(None)
    }

    pub async fn rewrite_secrets(
        &self,
        f: Box<dyn FnOnce(Vec<SealedSecret>) -> anyhow::Result<Vec<SealedSecret>> + Send>,
    ) -> anyhow::Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Lock every secret for the rewrite (a concurrent save waits for it).
        tx.execute(
            &tx.prepare_cached("LOCK TABLE secrets IN EXCLUSIVE MODE")
                .await?,
            &[],
        )
        .await?;
        let rows = read_secrets(&tx, None).await?;
        let rows = f(rows)?;
        for s in &rows {
            tx.execute(
                &tx.prepare_cached("UPDATE secrets SET key_id = $3, nonce = $4, ciphertext = $5 WHERE connection = $1 AND key = $2").await?,
                &[&s.connection, &s.key, &s.key_id, &s.nonce, &s.ciphertext],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(rows.len())
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
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        require_connection(&tx, connection).await?;
        tx.execute(
            &tx.prepare_cached(
                "INSERT INTO leases(connection) VALUES ($1) ON CONFLICT (connection) DO NOTHING",
            )
            .await?,
            &[&connection],
        )
        .await?;
        if let Some(busy) = live_lease(&tx, connection).await? {
            return Ok(Err(busy));
        }
        let lease = take(&tx, connection, connector, owner, trigger, ttl).await?;
        tx.commit().await?;
        Ok(Ok(lease))
    }

    pub async fn claim_due(
        &self,
        owner: &str,
        limit: usize,
        ttl: i64,
    ) -> anyhow::Result<Vec<RunLease>> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let limit = limit.min(10_000) as i64;
        // The schedule row is locked with the lease: under READ COMMITTED a row that changed
        // since the statement's snapshot is re-checked at its newest version only if it is
        // locked, so a run that another host finished meanwhile (lease released, next due
        // an hour later) is not claimed again on its old, still-due schedule row.
        let due = tx
            .query(
                &format!(
                    "SELECT s.connection, COALESCE(c.connector, '')
                     FROM schedule s JOIN connections c ON c.id = s.connection JOIN leases l ON l.connection = s.connection
                     WHERE s.next_due <= {NOW_MS}
                       AND (l.owner IS NULL OR l.expires_at <= {NOW_MS})
                       AND (EXISTS (SELECT 1 FROM settings WHERE connection = s.connection) OR EXISTS (SELECT 1 FROM secrets WHERE connection = s.connection))
                     ORDER BY s.next_due, s.connection
                     LIMIT $1
                     FOR UPDATE OF l, s SKIP LOCKED"
                ),
                &[&limit],
            )
            .await?;
        let mut out = Vec::new();
        for row in due {
            let (c, connector): (String, String) = (row.get(0), row.get(1));
            out.push(take(&tx, &c, &connector, owner, "schedule", ttl).await?);
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn renew(&self, l: &RunLease, ttl: i64) -> anyhow::Result<i64> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE leases SET expires_at = {NOW_MS} + $4 WHERE connection = $1 AND owner = $2 AND run_id = $3 RETURNING expires_at"
                ),
                &[&l.connection, &l.owner, &l.run_id, &ttl],
            )
            .await?;
        match row {
            Some(r) => Ok(r.get(0)),
            None => Err(lost(l)),
        }
    }

    pub async fn finish_run(
        &self,
        l: &RunLease,
        status: &str,
        streams: String,
        error: Option<(String, String)>,
    ) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let (class, message) = match &error {
            Some((c, m)) => (Some(c.as_str()), Some(m.as_str())),
            None => (None, None),
        };
        let n = tx
            .execute(
                &tx.prepare_cached("UPDATE runs SET finished_at = $3, status = $4, streams = $5, error_class = $6, error_message = $7
                 WHERE id = $1 AND connection = $2 AND status = 'running'").await?,
                &[&l.run_id, &l.connection, &now(), &status, &streams, &class, &message],
            )
            .await?;
        if n == 0 {
            return Err(lost(l));
        }
        release(&tx, l).await?;
        if status == "succeeded" {
            tx.execute(
                &tx.prepare_cached("DELETE FROM raw_pages WHERE connection = $1 AND run_id NOT IN (SELECT id FROM runs WHERE connection = $1 ORDER BY id DESC LIMIT $2)").await?,
                &[&l.connection, &RAW_PAGE_RUNS_KEPT],
            )
            .await?;
        }
        let schedule = tx
            .query_opt(
                &tx.prepare_cached(
                    "SELECT every_ms, jitter FROM schedule WHERE connection = $1 FOR UPDATE",
                )
                .await?,
                &[&l.connection],
            )
            .await?;
        if let Some(row) = schedule {
            let delay = lease::jittered_ms(row.get(0), row.get(1));
            tx.execute(
                &format!("UPDATE schedule SET next_due = {NOW_MS} + $2 WHERE connection = $1"),
                &[&l.connection, &delay],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn interrupt_run(&self, l: &RunLease, message: &str) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.execute(
            &tx.prepare_cached("UPDATE runs SET status = 'interrupted', finished_at = $2, error_class = 'interrupted', error_message = $3
             WHERE id = $1 AND status = 'running'").await?,
            &[&l.run_id, &now(), &message],
        )
        .await?;
        release(&tx, l).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn reap(&self) -> anyhow::Result<usize> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let held = tx
            .query(
                &format!(
                    "SELECT connection, owner, expires_at <= {NOW_MS} FROM leases WHERE owner IS NOT NULL FOR UPDATE SKIP LOCKED"
                ),
                &[],
            )
            .await?;
        let mut n = 0;
        for row in held {
            let (c, owner, expired): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
            let message = if expired {
                lease::EXPIRED_MESSAGE
            } else if lease::owner_gone(&owner) {
                GONE_MESSAGE
            } else {
                continue;
            };
            n += interrupt_running(&tx, &c, message).await?;
            tx.execute(
                &tx.prepare_cached("UPDATE leases SET owner = NULL, run_id = NULL, expires_at = 0 WHERE connection = $1 AND owner = $2").await?,
                &[&c, &owner],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n)
    }

    pub async fn set_window(&self, run_id: i64, start: &str, end: &str) -> anyhow::Result<()> {
        let client = self.client().await?;
        client
            .execute(
                &client
                    .prepare_cached(
                        "UPDATE runs SET window_start = $2, window_end = $3 WHERE id = $1",
                    )
                    .await?,
                &[&run_id, &start, &end],
            )
            .await?;
        Ok(())
    }

    pub async fn runs(&self, connection: &str, limit: usize) -> anyhow::Result<Vec<Run>> {
        let client = self.client().await?;
        let limit = limit.min(i64::MAX as usize) as i64;
        let rows = client
            .query(
                &format!("{RUN_COLUMNS} WHERE connection = $1 ORDER BY id DESC LIMIT $2"),
                &[&connection, &limit],
            )
            .await?;
        Ok(rows.iter().map(row_run).collect())
    }

    pub async fn run(&self, run_id: i64) -> anyhow::Result<Option<Run>> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("{RUN_COLUMNS} WHERE id = $1"), &[&run_id])
            .await?;
        Ok(row.as_ref().map(row_run))
    }

    // ----------------------------------------------------------------- schedule

    pub async fn set_schedule(
        &self,
        connection: &str,
        every_ms: i64,
        jitter: f64,
        first: Option<i64>,
    ) -> anyhow::Result<()> {
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO schedule(connection, every_ms, jitter, next_due) VALUES ($1, $2, $3, COALESCE($4, {NOW_MS}))
                     ON CONFLICT (connection) DO UPDATE SET every_ms = excluded.every_ms, jitter = excluded.jitter, next_due = excluded.next_due"
                ),
                &[&connection, &every_ms, &jitter, &first],
            )
            .await?;
        Ok(())
    }

    pub async fn schedule(&self, connection: &str) -> anyhow::Result<Option<Schedule>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &client.prepare_cached("SELECT connection, every_ms, jitter, next_due FROM schedule WHERE connection = $1").await?,
                &[&connection],
            )
            .await?;
        Ok(row.map(|r| Schedule {
            connection: r.get(0),
            every: std::time::Duration::from_millis(r.get::<_, i64>(1).max(0) as u64),
            jitter: r.get(2),
            next_due_ms: r.get(3),
        }))
    }

    // ----------------------------------------------------------------- data

    pub async fn checkpoint(
        &self,
        connection: &str,
        stream: &str,
    ) -> anyhow::Result<Option<String>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &client
                    .prepare_cached(
                        "SELECT state FROM checkpoints WHERE connection = $1 AND stream = $2",
                    )
                    .await?,
                &[&connection, &stream],
            )
            .await?;
        Ok(row.map(|r| r.get(0)))
    }

    pub async fn commit_page(
        &self,
        l: &RunLease,
        seq: u64,
        page: wit::Page,
        requests: u64,
        records: Vec<CheckedRecord>,
    ) -> anyhow::Result<StreamCounts> {
        let c = l.connection.as_str();
        let stream = page.raw.stream.as_str();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // The fence: only a run that is still running (its lease not taken over) commits.
        let Some(row) = tx
            .query_opt(
                &tx.prepare_cached("SELECT streams FROM runs WHERE id = $1 AND connection = $2 AND status = 'running' FOR UPDATE").await?,
                &[&l.run_id, &c],
            )
            .await?
        else {
            return Err(lost(l));
        };
        let streams: String = row.get(0);
        tx.execute(
            &tx.prepare_cached("INSERT INTO raw_pages(connection, run_id, stream, scope, seq, fetched_at, body) VALUES ($1, $2, $3, $4, $5, $6, $7)").await?,
            &[&c, &l.run_id, &stream, &page.raw.scope, &(seq as i64), &page.raw.fetched_at, &page.raw.body],
        )
        .await?;
        let keys: Vec<&str> = records.iter().map(|r| r.key_text.as_str()).collect();
        let existing: BTreeMap<String, String> = tx
            .query(
                &tx.prepare_cached("SELECT key, payload FROM records WHERE connection = $1 AND stream = $2 AND key = ANY($3)").await?,
                &[&c, &stream, &keys],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        drop(keys);
        let up = classify(records, existing);
        if !up.insert.is_empty() {
            let (k, v, p) = split(&up.insert);
            tx.execute(
                &tx.prepare_cached("INSERT INTO records(connection, stream, key, schema_version, payload, first_run, changed_run, seen_run)
                 SELECT $1, $2, u.k, u.v, u.p, $6, $6, $6 FROM unnest($3::text[], $4::bigint[], $5::text[]) AS u(k, v, p)").await?,
                &[&c, &stream, &k, &v, &p, &l.run_id],
            )
            .await?;
        }
        if !up.update.is_empty() {
            let (k, v, p) = split(&up.update);
            tx.execute(
                &tx.prepare_cached("UPDATE records r SET schema_version = u.v, payload = u.p, changed_run = $6, seen_run = $6
                 FROM unnest($3::text[], $4::bigint[], $5::text[]) AS u(k, v, p)
                 WHERE r.connection = $1 AND r.stream = $2 AND r.key = u.k").await?,
                &[&c, &stream, &k, &v, &p, &l.run_id],
            )
            .await?;
        }
        if !up.touch.is_empty() {
            tx.execute(
                &tx.prepare_cached("UPDATE records SET seen_run = $3 WHERE connection = $1 AND stream = $2 AND key = ANY($4)").await?,
                &[&c, &stream, &l.run_id, &up.touch],
            )
            .await?;
        }
        if let Some(cp) = &page.checkpoint {
            tx.execute(
                &tx.prepare_cached("INSERT INTO checkpoints(connection, stream, state, run_id, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (connection, stream) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at").await?,
                &[&c, &stream, cp, &l.run_id, &now()],
            )
            .await?;
        }
        let counts = StreamCounts {
            pages: 1,
            requests,
            ..up.counts
        };
        tx.execute(
            &tx.prepare_cached("UPDATE runs SET streams = $2 WHERE id = $1")
                .await?,
            &[&l.run_id, &add_counts(&streams, stream, &counts)],
        )
        .await?;
        tx.commit().await?;
        Ok(counts)
    }

    pub async fn records(
        &self,
        connection: &str,
        stream: &str,
    ) -> anyhow::Result<Vec<StoredRecord>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &client.prepare_cached("SELECT stream, key, schema_version, payload, first_run, changed_run, seen_run FROM records WHERE connection = $1 AND stream = $2 ORDER BY key COLLATE \"C\"").await?,
                &[&connection, &stream],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let key: String = r.get(1);
                StoredRecord {
                    stream: r.get(0),
                    key: serde_json::from_str(&key).unwrap_or_default(),
                    schema_version: u32::try_from(r.get::<_, i64>(2)).unwrap_or_default(),
                    payload: r.get(3),
                    first_run: r.get(4),
                    changed_run: r.get(5),
                    seen_run: r.get(6),
                }
            })
            .collect())
    }

    pub async fn record_count(&self, connection: &str, stream: &str) -> anyhow::Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &client
                    .prepare_cached(
                        "SELECT COUNT(*) FROM records WHERE connection = $1 AND stream = $2",
                    )
                    .await?,
                &[&connection, &stream],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    pub async fn raw_page_count(&self, connection: &str) -> anyhow::Result<u64> {
        let client = self.client().await?;
        let row = client
            .query_one(
                &client
                    .prepare_cached("SELECT COUNT(*) FROM raw_pages WHERE connection = $1")
                    .await?,
                &[&connection],
            )
            .await?;
        Ok(row.get::<_, i64>(0) as u64)
    }

    pub async fn streams(&self, connection: &str) -> anyhow::Result<Vec<String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &client.prepare_cached("SELECT DISTINCT stream FROM records WHERE connection = $1 UNION SELECT stream FROM checkpoints WHERE connection = $1 ORDER BY 1").await?,
                &[&connection],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn dump(&self) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        let client = self.client().await?;
        let mut out = BTreeMap::new();
        for t in schema::TABLES {
            let rows = client
                .query(&format!("SELECT t::text FROM {t} t"), &[])
                .await?;
            out.insert(t.to_string(), rows.iter().map(|r| r.get(0)).collect());
        }
        Ok(out)
    }
}

const RUN_COLUMNS: &str = "SELECT id, connection, connector, started_at, finished_at, status, trigger, streams, window_start, window_end, error_class, error_message FROM runs";

/// Upserts as the columns `unnest` takes: keys, schema versions, payloads.
fn split(rows: &[(String, u32, String)]) -> (Vec<&str>, Vec<i64>, Vec<&str>) {
    let k = rows.iter().map(|r| r.0.as_str()).collect();
    let v = rows.iter().map(|r| i64::from(r.1)).collect();
    let p = rows.iter().map(|r| r.2.as_str()).collect();
    (k, v, p)
}

fn row_run(r: &tokio_postgres::Row) -> Run {
    let streams: String = r.get(7);
    Run {
        id: r.get(0),
        connection: r.get(1),
        connector: r.get(2),
        started_at: r.get(3),
        finished_at: r.get(4),
        status: r.get(5),
        trigger: r.get(6),
        streams: serde_json::from_str(&streams).unwrap_or_default(),
        window_start: r.get(8),
        window_end: r.get(9),
        error_class: r.get(10),
        error_message: r.get(11),
    }
}

fn row_connection(r: &tokio_postgres::Row) -> Connection {
    Connection {
        id: r.get(0),
        name: r.get(1),
        component: r.get(2),
        connector: r.get(3),
        created_at: r.get(4),
    }
}

async fn read_settings(
    db: &impl deadpool_postgres::GenericClient,
    connection: &str,
) -> anyhow::Result<Vec<(String, String)>> {
    let rows = db
        .query(
            &db.prepare_cached(
                "SELECT key, value FROM settings WHERE connection = $1 ORDER BY key COLLATE \"C\"",
            )
            .await?,
            &[&connection],
        )
        .await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

async fn read_secrets(
    db: &impl deadpool_postgres::GenericClient,
    connection: Option<&str>,
) -> anyhow::Result<Vec<SealedSecret>> {
    let sql = "SELECT connection, key, key_id, nonce, ciphertext FROM secrets";
    let rows = match connection {
        Some(c) => {
            db.query(
                &format!("{sql} WHERE connection = $1 ORDER BY key COLLATE \"C\""),
                &[&c],
            )
            .await?
        }
        None => {
            db.query(&format!("{sql} ORDER BY connection, key"), &[])
                .await?
        }
    };
    Ok(rows
        .iter()
        .map(|r| SealedSecret {
            connection: r.get(0),
            key: r.get(1),
            key_id: r.get(2),
            nonce: r.get(3),
            ciphertext: r.get(4),
        })
        .collect())
}

async fn require_connection(tx: &Transaction<'_>, c: &str) -> anyhow::Result<()> {
    let row = tx
        .query_one(
            &tx.prepare_cached("SELECT EXISTS (SELECT 1 FROM connections WHERE id = $1)")
                .await?,
            &[&c],
        )
        .await?;
    if !row.get::<_, bool>(0) {
        anyhow::bail!("there is no connection {c}");
    }
    Ok(())
}

/// The connection's lease (locked for this transaction) when a live owner holds it.
async fn live_lease(tx: &Transaction<'_>, c: &str) -> anyhow::Result<Option<Busy>> {
    let row = tx
        .query_opt(
            &format!("SELECT owner, run_id, expires_at > {NOW_MS} FROM leases WHERE connection = $1 FOR UPDATE"),
            &[&c],
        )
        .await?;
    Ok(match row {
        Some(r) => {
            let (owner, run_id, live): (Option<String>, Option<i64>, bool) =
                (r.get(0), r.get(1), r.get(2));
            match owner {
                Some(owner) if live && !lease::owner_gone(&owner) => Some(Busy {
                    connection: c.to_string(),
                    owner,
                    run_id: run_id.unwrap_or_default(),
                }),
                _ => None,
            }
        }
        None => None,
    })
}

async fn interrupt_running(tx: &Transaction<'_>, c: &str, message: &str) -> anyhow::Result<usize> {
    Ok(tx
        .execute(
            &tx.prepare_cached("UPDATE runs SET status = 'interrupted', finished_at = $2, error_class = 'interrupted', error_message = $3
             WHERE connection = $1 AND status = 'running'").await?,
            &[&c, &now(), &message],
        )
        .await? as usize)
}

/// Take the (free or expired, and locked) lease of `c` for a new run: any run of `c` still
/// `running` lost its owner, and is closed as interrupted.
async fn take(
    tx: &Transaction<'_>,
    c: &str,
    connector: &str,
    owner: &str,
    trigger: &str,
    ttl: i64,
) -> anyhow::Result<RunLease> {
    let previous = tx
        .query_opt(
            &tx.prepare_cached("SELECT owner FROM leases WHERE connection = $1")
                .await?,
            &[&c],
        )
        .await?
        .and_then(|r| r.get::<_, Option<String>>(0));
    let message = match previous {
        Some(o) if lease::owner_gone(&o) => GONE_MESSAGE,
        _ => lease::EXPIRED_MESSAGE,
    };
    interrupt_running(tx, c, message).await?;
    let run_id: i64 = tx
        .query_one(
            &tx.prepare_cached("INSERT INTO runs(connection, connector, started_at, status, trigger, owner, streams) VALUES ($1, $2, $3, 'running', $4, $5, '{}') RETURNING id").await?,
            &[&c, &connector, &now(), &trigger, &owner],
        )
        .await?
        .get(0);
    let expires: i64 = tx
        .query_one(
            &format!(
                "UPDATE leases SET owner = $2, run_id = $3, expires_at = {NOW_MS} + $4, acquired_at = {NOW_MS} WHERE connection = $1 RETURNING expires_at"
            ),
            &[&c, &owner, &run_id, &ttl],
        )
        .await?
        .get(0);
    Ok(RunLease {
        connection: c.to_string(),
        run_id,
        owner: owner.to_string(),
        expires_at_ms: expires,
    })
}

async fn release(tx: &Transaction<'_>, l: &RunLease) -> anyhow::Result<()> {
    tx.execute(
        &tx.prepare_cached("UPDATE leases SET owner = NULL, run_id = NULL, expires_at = 0 WHERE connection = $1 AND owner = $2 AND run_id = $3").await?,
        &[&l.connection, &l.owner, &l.run_id],
    )
    .await?;
    Ok(())
}
