//! Aliases and teams on PostgreSQL (see [`crate::store::people`]).

use std::collections::BTreeMap;

use super::{require_connection, Postgres};

impl Postgres {
    pub async fn set_alias(
        &self,
        connection: &str,
        alias: &str,
        email: &str,
    ) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        require_connection(&tx, connection).await?;
        tx.execute(
            "INSERT INTO aliases(connection, alias, email) VALUES ($1, $2, $3)
             ON CONFLICT (connection, alias) DO UPDATE SET email = excluded.email",
            &[&connection, &alias, &email],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn remove_alias(&self, connection: &str, alias: &str) -> anyhow::Result<bool> {
        let client = self.client().await?;
        let n = client
            .execute(
                "DELETE FROM aliases WHERE connection = $1 AND alias = $2",
                &[&connection, &alias],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn aliases(&self, connection: &str) -> anyhow::Result<BTreeMap<String, String>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT alias, email FROM aliases WHERE connection = $1",
                &[&connection],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    pub async fn set_team(
        &self,
        connection: &str,
        team: &str,
        members: Vec<String>,
    ) -> anyhow::Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        require_connection(&tx, connection).await?;
        tx.execute(
            "DELETE FROM team_members WHERE connection = $1 AND team = $2",
            &[&connection, &team],
        )
        .await?;
        tx.execute(
            "INSERT INTO team_members(connection, team, email) SELECT $1, $2, * FROM unnest($3::text[])",
            &[&connection, &team, &members],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn teams(&self, connection: &str) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT team, email FROM team_members WHERE connection = $1 ORDER BY team COLLATE \"C\", email COLLATE \"C\"",
                &[&connection],
            )
            .await?;
        let mut teams: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in &rows {
            teams.entry(r.get(0)).or_default().push(r.get(1));
        }
        Ok(teams)
    }
}
