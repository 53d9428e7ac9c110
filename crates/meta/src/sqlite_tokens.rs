//! [`TokenStore`] on SQLite: scope maps and repository tokens with their password hashes.

use crate::records::{db, now, scope_map, token};
use crate::sqlite::SqliteMeta;
use async_trait::async_trait;
use berth_core::MetaError;
use berth_core::principals::{NameTaken, TokenStore};
use berth_core::scopemap::{ScopeMap, ScopeRule, Token, TokenPassword, system_scope_maps};

#[async_trait]
impl TokenStore for SqliteMeta {
    async fn put_scope_map(&self, m: &ScopeMap) -> Result<(), MetaError> {
        let rules: Vec<String> = m.rules.iter().map(ScopeRule::to_string).collect();
        sqlx::query(
            "INSERT INTO scope_maps (name, description, rules, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT(name) DO UPDATE SET description = excluded.description, rules = excluded.rules",
        )
        .bind(&m.name)
        .bind(&m.description)
        .bind(rules.join("\n"))
        .bind(now())
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn scope_map(&self, name: &str) -> Result<Option<ScopeMap>, MetaError> {
        if let Some(m) = system_scope_maps().into_iter().find(|m| m.name == name) {
            return Ok(Some(m));
        }
        let row = sqlx::query("SELECT * FROM scope_maps WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.writer)
            .await
            .map_err(db)?;
        row.as_ref().map(scope_map).transpose()
    }

    async fn scope_maps(&self) -> Result<Vec<ScopeMap>, MetaError> {
        let rows = sqlx::query("SELECT * FROM scope_maps ORDER BY name").fetch_all(&self.reader).await.map_err(db)?;
        let mut all = system_scope_maps();
        for r in &rows {
            all.push(scope_map(r)?);
        }
        Ok(all)
    }

    async fn delete_scope_map(&self, name: &str) -> Result<bool, MetaError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let used: Option<String> = sqlx::query_scalar("SELECT name FROM tokens WHERE scope_map = ? LIMIT 1")
            .bind(name)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
        if used.is_some() {
            return Err(MetaError::Conflict);
        }
        let r = sqlx::query("DELETE FROM scope_maps WHERE name = ?").bind(name).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn create_token(&self, t: &Token) -> Result<(), MetaError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        if !insert_token(&mut tx, t).await? {
            return Err(MetaError::Conflict);
        }
        tx.commit().await.map_err(db)
    }

    async fn create_token_with_scope_map(&self, m: &ScopeMap, t: &Token) -> Result<Result<(), NameTaken>, MetaError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        if !insert_token(&mut tx, t).await? {
            return Ok(Err(NameTaken::Token));
        }
        let rules: Vec<String> = m.rules.iter().map(ScopeRule::to_string).collect();
        let inserted = sqlx::query(
            "INSERT INTO scope_maps (name, description, rules, created_at) VALUES (?, ?, ?, ?)
             ON CONFLICT DO NOTHING",
        )
        .bind(&m.name)
        .bind(&m.description)
        .bind(rules.join("\n"))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if inserted == 0 {
            return Ok(Err(NameTaken::ScopeMap));
        }
        tx.commit().await.map_err(db)?;
        Ok(Ok(()))
    }

    async fn token(&self, name: &str) -> Result<Option<Token>, MetaError> {
        // Through the writer: a disable or a new password must count from the next request on.
        let Some(row) = sqlx::query("SELECT * FROM tokens WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.writer)
            .await
            .map_err(db)?
        else {
            return Ok(None);
        };
        let passwords = sqlx::query("SELECT * FROM token_passwords WHERE token = ? ORDER BY slot")
            .bind(name)
            .fetch_all(&self.writer)
            .await
            .map_err(db)?;
        Ok(Some(token(&row, &passwords)?))
    }

    async fn tokens(&self) -> Result<Vec<Token>, MetaError> {
        let names: Vec<String> =
            sqlx::query_scalar("SELECT name FROM tokens ORDER BY name").fetch_all(&self.reader).await.map_err(db)?;
        let mut out = Vec::new();
        for n in names {
            if let Some(t) = self.token(&n).await? {
                out.push(t);
            }
        }
        Ok(out)
    }

    async fn update_token(
        &self,
        name: &str,
        enabled: Option<bool>,
        scope_map: Option<&str>,
    ) -> Result<bool, MetaError> {
        let r = sqlx::query(
            "UPDATE tokens SET enabled = COALESCE(?, enabled), scope_map = COALESCE(?, scope_map) WHERE name = ?",
        )
        .bind(enabled)
        .bind(scope_map)
        .bind(name)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_token(&self, name: &str) -> Result<bool, MetaError> {
        let r = sqlx::query("DELETE FROM tokens WHERE name = ?").bind(name).execute(&self.writer).await.map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn set_token_password(&self, name: &str, p: &TokenPassword) -> Result<(), MetaError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM token_passwords WHERE token = ? AND slot = ?")
            .bind(name)
            .bind(i64::from(p.slot))
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_password(&mut tx, name, p).await?;
        tx.commit().await.map_err(db)
    }
}

/// Inserts token `t` with its passwords; `false` (and nothing written) if the name is taken.
async fn insert_token(conn: &mut sqlx::SqliteConnection, t: &Token) -> Result<bool, MetaError> {
    let inserted = sqlx::query(
        "INSERT INTO tokens (name, scope_map, enabled, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(&t.name)
    .bind(&t.scope_map)
    .bind(t.enabled)
    .bind(t.created)
    .execute(&mut *conn)
    .await
    .map_err(db)?
    .rows_affected();
    if inserted == 0 {
        return Ok(false);
    }
    for p in &t.passwords {
        insert_password(conn, &t.name, p).await?;
    }
    Ok(true)
}

async fn insert_password(conn: &mut sqlx::SqliteConnection, token: &str, p: &TokenPassword) -> Result<(), MetaError> {
    sqlx::query(
        "INSERT INTO token_passwords (token, slot, secret_hash, created_at, expiry, id) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(token)
    .bind(i64::from(p.slot))
    .bind(p.secret_hash.as_slice())
    .bind(p.created)
    .bind(p.expiry)
    .bind(&p.id)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}
