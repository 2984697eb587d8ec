//! The delivery tables on SQLite (see [`crate::store::delivery`]): repositories, their
//! tips, their commits. An import is one `BEGIN IMMEDIATE` transaction.

use rusqlite::{params, TransactionBehavior};

use super::{require_connection, Sqlite};
use crate::delivery::{Commit, Cursor};
use crate::store::delivery::{
    cursor_of, cursor_rows, int, time_of, time_text, NotRegistered, Repository, RepositoryImport,
};
use crate::store::now;

impl Sqlite {
    pub async fn repositories(&self, connection: &str) -> anyhow::Result<Vec<Repository>> {
        let c = connection.to_string();
        self.call(move |db| {
            let mut stmt = db.prepare(
                "SELECT r.path, r.added_at, r.last_import_at, r.last_new, r.last_error,
                        (SELECT COUNT(*) FROM commits m WHERE m.connection = r.connection AND m.repository = r.path)
                 FROM repositories r WHERE r.connection = ?1 ORDER BY r.path",
            )?;
            let rows = stmt
                .query_map([c], |r| {
                    Ok(Repository {
                        path: r.get(0)?,
                        added_at: r.get(1)?,
                        last_import_at: r.get(2)?,
                        last_new_commits: r.get::<_, i64>(3)?.max(0) as u64,
                        last_error: r.get(4)?,
                        commits: r.get::<_, i64>(5)?.max(0) as u64,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn repository_cursor(
        &self,
        connection: &str,
        repository: &str,
    ) -> anyhow::Result<Option<Cursor>> {
        let (c, r) = (connection.to_string(), repository.to_string());
        self.call(move |db| {
            let tx = db.transaction()?;
            let registered: bool = tx.query_row(
                "SELECT COUNT(*) > 0 FROM repositories WHERE connection = ?1 AND path = ?2",
                params![c, r],
                |row| row.get(0),
            )?;
            if !registered {
                return Ok(None);
            }
            let rows: Vec<(String, String, String)> = tx
                .prepare("SELECT kind, name, commit_id FROM repository_tips WHERE connection = ?1 AND repository = ?2")?
                .query_map(params![c, r], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<Result<_, _>>()?;
            tx.finish()?;
            Ok(Some(cursor_of(rows)))
        })
        .await
    }

    pub async fn import_repository(
        &self,
        connection: &str,
        import: RepositoryImport,
    ) -> anyhow::Result<()> {
        let c = connection.to_string();
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            require_connection(&tx, &c)?;
            let at = now();
            if import.register {
                tx.execute(
                    "INSERT INTO repositories(connection, path, added_at) VALUES (?1, ?2, ?3) ON CONFLICT(connection, path) DO NOTHING",
                    params![c, import.repository, at],
                )?;
            }
            let n = tx.execute(
                "UPDATE repositories SET last_import_at = ?3, last_new = ?4, last_error = NULL WHERE connection = ?1 AND path = ?2",
                params![c, import.repository, at, int(import.commits.len() as u64)],
            )?;
            if n == 0 {
                return Err(NotRegistered {
                    connection: c.clone(),
                    repository: import.repository.clone(),
                }
                .into());
            }
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO commits(connection, repository, id, author_name, author_email, author_time, author_offset, merge, lines_added, lines_deleted, files_changed)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                     ON CONFLICT(connection, repository, id) DO UPDATE SET
                        author_name = excluded.author_name, author_email = excluded.author_email,
                        author_time = excluded.author_time, author_offset = excluded.author_offset,
                        merge = excluded.merge, lines_added = excluded.lines_added,
                        lines_deleted = excluded.lines_deleted, files_changed = excluded.files_changed",
                )?;
                for m in &import.commits {
                    upsert.execute(params![
                        c,
                        import.repository,
                        m.id,
                        m.author_name,
                        m.author_email,
                        time_text(&m.author_time),
                        m.author_utc_offset_seconds,
                        m.merge,
                        int(m.lines_added),
                        int(m.lines_deleted),
                        int(m.files_changed)
                    ])?;
                }
            }
            tx.execute(
                "DELETE FROM repository_tips WHERE connection = ?1 AND repository = ?2",
                params![c, import.repository],
            )?;
            for (kind, name, id) in cursor_rows(&import.cursor) {
                tx.execute(
                    "INSERT INTO repository_tips(connection, repository, kind, name, commit_id) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![c, import.repository, kind, name, id],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn repository_failed(
        &self,
        connection: &str,
        repository: &str,
        message: &str,
    ) -> anyhow::Result<()> {
        let (c, r, m) = (
            connection.to_string(),
            repository.to_string(),
            message.to_string(),
        );
        self.call(move |db| {
            db.execute(
                "UPDATE repositories SET last_import_at = ?3, last_error = ?4 WHERE connection = ?1 AND path = ?2",
                params![c, r, now(), m],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn remove_repository(
        &self,
        connection: &str,
        repository: &str,
    ) -> anyhow::Result<bool> {
        let (c, r) = (connection.to_string(), repository.to_string());
        self.call(move |db| {
            let n = db.execute(
                "DELETE FROM repositories WHERE connection = ?1 AND path = ?2",
                params![c, r],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn commits(&self, connection: &str) -> anyhow::Result<Vec<Commit>> {
        let c = connection.to_string();
        self.call(move |db| {
            let mut stmt = db.prepare(
                "SELECT id, author_name, author_email, author_time, author_offset, merge, lines_added, lines_deleted, files_changed
                 FROM commits WHERE connection = ?1 ORDER BY author_time, repository, id",
            )?;
            let rows = stmt
                .query_map([c], |r| {
                    let time: String = r.get(3)?;
                    Ok(Commit {
                        id: r.get(0)?,
                        author_name: r.get(1)?,
                        author_email: r.get(2)?,
                        author_time: time_of(&time),
                        author_utc_offset_seconds: r.get(4)?,
                        merge: r.get(5)?,
                        lines_added: r.get::<_, i64>(6)?.max(0) as u64,
                        lines_deleted: r.get::<_, i64>(7)?.max(0) as u64,
                        files_changed: r.get::<_, i64>(8)?.max(0) as u64,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }
}
