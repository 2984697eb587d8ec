//! The delivery tables on PostgreSQL (see [`crate::store::delivery`]): repositories, their
//! tips, their commits. An import is one transaction, its commits upserted in bulk
//! (`unnest`).

use super::{require_connection, Postgres};
use crate::delivery::{Commit, Cursor};
use crate::store::delivery::{
    cursor_of, cursor_rows, int, time_of, time_text, NotRegistered, Repository, RepositoryImport,
};
use crate::store::now;

impl Postgres {
    pub async fn repositories(&self, connection: &str) -> anyhow::Result<Vec<Repository>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT r.path, r.added_at, r.last_import_at, r.last_new, r.last_error,
                        (SELECT COUNT(*) FROM commits m WHERE m.connection = r.connection AND m.repository = r.path)
                 FROM repositories r WHERE r.connection = $1 ORDER BY r.path COLLATE \"C\"",
                &[&connection],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Repository {
                path: r.get(0),
                added_at: r.get(1),
                last_import_at: r.get(2),
                last_new_commits: r.get::<_, i64>(3).max(0) as u64,
                last_error: r.get(4),
                commits: r.get::<_, i64>(5).max(0) as u64,
            })
            .collect())
    }

    pub async fn repository_cursor(
        &self,
        connection: &str,
        repository: &str,
    ) -> anyhow::Result<Option<Cursor>> {
        let mut client = self.client().await?;
        let tx = client.build_transaction().read_only(true).start().await?;
        let registered = tx
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM repositories WHERE connection = $1 AND path = $2)",
                &[&connection, &repository],
            )
            .await?
            .get::<_, bool>(0);
        if !registered {
            return Ok(None);
        }
        let rows = tx
            .query(
                "SELECT kind, name, commit_id FROM repository_tips WHERE connection = $1 AND repository = $2",
                &[&connection, &repository],
            )
            .await?;
        tx.commit().await?;
        Ok(Some(cursor_of(
            rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))),
        )))
    }

    pub async fn import_repository(
        &self,
        connection: &str,
        import: RepositoryImport,
    ) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        require_connection(&tx, connection).await?;
        let at = now();
        if import.register {
            tx.execute(
                "INSERT INTO repositories(connection, path, added_at) VALUES ($1, $2, $3) ON CONFLICT (connection, path) DO NOTHING",
                &[&connection, &import.repository, &at],
            )
            .await?;
        }
        let n = tx
            .execute(
                "UPDATE repositories SET last_import_at = $3, last_new = $4, last_error = NULL WHERE connection = $1 AND path = $2",
                &[&connection, &import.repository, &at, &int(import.commits.len() as u64)],
            )
            .await?;
        if n == 0 {
            return Err(NotRegistered {
                connection: connection.to_string(),
                repository: import.repository.clone(),
            }
            .into());
        }
        let m = &import.commits;
        let ids: Vec<&str> = m.iter().map(|c| c.id.as_str()).collect();
        let names: Vec<&str> = m.iter().map(|c| c.author_name.as_str()).collect();
        let emails: Vec<&str> = m.iter().map(|c| c.author_email.as_str()).collect();
        let times: Vec<String> = m.iter().map(|c| time_text(&c.author_time)).collect();
        let offsets: Vec<i64> = m
            .iter()
            .map(|c| i64::from(c.author_utc_offset_seconds))
            .collect();
        let merges: Vec<bool> = m.iter().map(|c| c.merge).collect();
        let added: Vec<i64> = m.iter().map(|c| int(c.lines_added)).collect();
        let deleted: Vec<i64> = m.iter().map(|c| int(c.lines_deleted)).collect();
        let files: Vec<i64> = m.iter().map(|c| int(c.files_changed)).collect();
        tx.execute(
            "INSERT INTO commits(connection, repository, id, author_name, author_email, author_time, author_offset, merge, lines_added, lines_deleted, files_changed)
             SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::boolean[], $9::bigint[], $10::bigint[], $11::bigint[])
             ON CONFLICT (connection, repository, id) DO UPDATE SET
                author_name = excluded.author_name, author_email = excluded.author_email,
                author_time = excluded.author_time, author_offset = excluded.author_offset,
                merge = excluded.merge, lines_added = excluded.lines_added,
                lines_deleted = excluded.lines_deleted, files_changed = excluded.files_changed",
            &[&connection, &import.repository, &ids, &names, &emails, &times, &offsets, &merges, &added, &deleted, &files],
        )
        .await?;
        tx.execute(
            "DELETE FROM repository_tips WHERE connection = $1 AND repository = $2",
            &[&connection, &import.repository],
        )
        .await?;
        let tips = cursor_rows(&import.cursor);
        let kinds: Vec<&str> = tips.iter().map(|t| t.0).collect();
        let tip_names: Vec<&str> = tips.iter().map(|t| t.1.as_str()).collect();
        let tip_ids: Vec<&str> = tips.iter().map(|t| t.2.as_str()).collect();
        tx.execute(
            "INSERT INTO repository_tips(connection, repository, kind, name, commit_id)
             SELECT $1, $2, * FROM unnest($3::text[], $4::text[], $5::text[])",
            &[
                &connection,
                &import.repository,
                &kinds,
                &tip_names,
                &tip_ids,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn repository_failed(
        &self,
        connection: &str,
        repository: &str,
        message: &str,
    ) -> anyhow::Result<()> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE repositories SET last_import_at = $3, last_error = $4 WHERE connection = $1 AND path = $2",
                &[&connection, &repository, &now(), &message],
            )
            .await?;
        Ok(())
    }

    pub async fn remove_repository(
        &self,
        connection: &str,
        repository: &str,
    ) -> anyhow::Result<bool> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM repositories WHERE connection = $1 AND path = $2",
                &[&connection, &repository],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn commits(&self, connection: &str) -> anyhow::Result<Vec<Commit>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, author_name, author_email, author_time, author_offset, merge, lines_added, lines_deleted, files_changed
                 FROM commits WHERE connection = $1 ORDER BY author_time COLLATE \"C\", repository COLLATE \"C\", id COLLATE \"C\"",
                &[&connection],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Commit {
                id: r.get(0),
                author_name: r.get(1),
                author_email: r.get(2),
                author_time: time_of(r.get::<_, &str>(3)),
                author_utc_offset_seconds: i32::try_from(r.get::<_, i64>(4)).unwrap_or_default(),
                merge: r.get(5),
                lines_added: r.get::<_, i64>(6).max(0) as u64,
                lines_deleted: r.get::<_, i64>(7).max(0) as u64,
                files_changed: r.get::<_, i64>(8).max(0) as u64,
            })
            .collect())
    }
}
