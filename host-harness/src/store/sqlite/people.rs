//! Aliases and teams on SQLite (see [`crate::store::people`]).

use std::collections::BTreeMap;

use rusqlite::{params, TransactionBehavior};

use super::{require_connection, Sqlite};

impl Sqlite {
    pub async fn set_alias(
        &self,
        connection: &str,
        alias: &str,
        email: &str,
    ) -> anyhow::Result<()> {
        let (c, a, e) = (connection.to_string(), alias.to_string(), email.to_string());
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            require_connection(&tx, &c)?;
            tx.execute(
                "INSERT INTO aliases(connection, alias, email) VALUES (?1, ?2, ?3)
                 ON CONFLICT(connection, alias) DO UPDATE SET email = excluded.email",
                params![c, a, e],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn remove_alias(&self, connection: &str, alias: &str) -> anyhow::Result<bool> {
        let (c, a) = (connection.to_string(), alias.to_string());
        self.call(move |db| {
            Ok(db.execute(
                "DELETE FROM aliases WHERE connection = ?1 AND alias = ?2",
                params![c, a],
            )? == 1)
        })
        .await
    }

    pub async fn aliases(&self, connection: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let c = connection.to_string();
        self.call(move |db| {
            let mut stmt = db
                .prepare("SELECT alias, email FROM aliases WHERE connection = ?1 ORDER BY alias")?;
            let rows = stmt
                .query_map([c], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    pub async fn set_team(
        &self,
        connection: &str,
        team: &str,
        members: Vec<String>,
    ) -> anyhow::Result<()> {
        let (c, t) = (connection.to_string(), team.to_string());
        self.call(move |db| {
            let tx = db.transaction_with_behavior(TransactionBehavior::Immediate)?;
            require_connection(&tx, &c)?;
            tx.execute(
                "DELETE FROM team_members WHERE connection = ?1 AND team = ?2",
                params![c, t],
            )?;
            for m in &members {
                tx.execute(
                    "INSERT INTO team_members(connection, team, email) VALUES (?1, ?2, ?3)",
                    params![c, t, m],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn teams(&self, connection: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        let c = connection.to_string();
        self.call(move |db| {
            let mut stmt = db.prepare(
                "SELECT team, email FROM team_members WHERE connection = ?1 ORDER BY team, email",
            )?;
            let rows: Vec<(String, String)> = stmt
                .query_map([c], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut teams: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for (t, e) in rows {
                teams.entry(t).or_default().push(e);
            }
            Ok(teams)
        })
        .await
    }
}
