//! [`TokenStore`] once for both databases: scope maps and repository tokens with their
//! password hashes.

use crate::backend::{Backend, SqlMeta};
use crate::records::{Columns, now, scope_map, token};
use crate::repos::Tx;
use crate::sql::{On, Sql, sql};
use crate::store::commit;
use async_trait::async_trait;
use berth_core::MetaError;
use berth_core::principals::{NameTaken, TokenStore};
use berth_core::scopemap::{ScopeMap, ScopeRule, Token, TokenPassword, system_scope_maps};

#[async_trait]
impl<B: Backend> TokenStore for SqlMeta<B> {
    async fn put_scope_map(&self, m: &ScopeMap) -> Result<(), MetaError> {
        let rules: Vec<String> = m.rules.iter().map(ScopeRule::to_string).collect();
        sql::<B::Db>(
            "INSERT INTO scope_maps (name, description, rules, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT(name) DO UPDATE SET description = excluded.description, rules = excluded.rules",
        )
        .bind(&m.name)
        .bind(&m.description)
        .bind(rules.join("\n"))
        .bind(now())
        .execute(self.backend.writer())
        .await?;
        Ok(())
    }

    async fn create_scope_map(&self, m: &ScopeMap) -> Result<bool, MetaError> {
        insert_scope_map::<B::Db>(self.backend.writer(), m).await
    }

    async fn scope_map(&self, name: &str) -> Result<Option<ScopeMap>, MetaError> {
        if let Some(m) = system_scope_maps().into_iter().find(|m| m.name == name) {
            return Ok(Some(m));
        }
        let row = sql::<B::Db>("SELECT * FROM scope_maps WHERE name = $1")
            .bind(name)
            .fetch_optional(self.backend.writer())
            .await?;
        row.as_ref().map(scope_map).transpose()
    }

    async fn scope_maps(&self) -> Result<Vec<ScopeMap>, MetaError> {
        let rows = sql::<B::Db>("SELECT * FROM scope_maps ORDER BY name").fetch_all(self.backend.reader()).await?;
        let mut all = system_scope_maps();
        for r in &rows {
            all.push(scope_map(r)?);
        }
        Ok(all)
    }

    async fn delete_scope_map(&self, name: &str) -> Result<bool, MetaError> {
        let mut tx = self.begin().await?;
        let used = sql::<B::Db>("SELECT name FROM tokens WHERE scope_map = $1 LIMIT 1")
            .bind(name)
            .fetch_optional(&mut tx)
            .await?;
        if used.is_some() {
            return Err(MetaError::Conflict);
        }
        let r = sql::<B::Db>("DELETE FROM scope_maps WHERE name = $1").bind(name).execute(&mut tx).await?;
        commit(tx).await?;
        Ok(r > 0)
    }

    async fn create_token(&self, t: &Token) -> Result<(), MetaError> {
        let mut tx = self.begin().await?;
        if !insert_token(&mut tx, t).await? {
            return Err(MetaError::Conflict);
        }
        commit(tx).await
    }

    async fn create_token_with_scope_map(&self, m: &ScopeMap, t: &Token) -> Result<Result<(), NameTaken>, MetaError> {
        let mut tx = self.begin().await?;
        if !insert_token(&mut tx, t).await? {
            return Ok(Err(NameTaken::Token));
        }
        if !insert_scope_map::<B::Db>(&mut tx, m).await? {
            return Ok(Err(NameTaken::ScopeMap));
        }
        commit(tx).await?;
        Ok(Ok(()))
    }

    async fn token(&self, name: &str) -> Result<Option<Token>, MetaError> {
        // Through the writer: a disable or a new password must count from the next request on.
        let Some(row) = sql::<B::Db>("SELECT * FROM tokens WHERE name = $1")
            .bind(name)
            .fetch_optional(self.backend.writer())
            .await?
        else {
            return Ok(None);
        };
        let passwords = sql::<B::Db>("SELECT * FROM token_passwords WHERE token = $1 ORDER BY slot")
            .bind(name)
            .fetch_all(self.backend.writer())
            .await?;
        Ok(Some(token(&row, &passwords)?))
    }

    async fn tokens(&self) -> Result<Vec<Token>, MetaError> {
        let names = sql::<B::Db>("SELECT name FROM tokens ORDER BY name").fetch_all(self.backend.reader()).await?;
        let mut out = Vec::new();
        for n in names {
            if let Some(t) = self.token(&n.text("name")?).await? {
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
        let r = sql::<B::Db>(
            "UPDATE tokens SET enabled = COALESCE($1, enabled), scope_map = COALESCE($2, scope_map) WHERE name = $3",
        )
        .bind(enabled)
        .bind(scope_map)
        .bind(name)
        .execute(self.backend.writer())
        .await?;
        Ok(r > 0)
    }

    async fn delete_token(&self, name: &str) -> Result<bool, MetaError> {
        let r = sql::<B::Db>("DELETE FROM tokens WHERE name = $1").bind(name).execute(self.backend.writer()).await?;
        Ok(r > 0)
    }

    async fn set_token_password(&self, name: &str, p: &TokenPassword) -> Result<(), MetaError> {
        let mut tx = self.begin().await?;
        sql::<B::Db>("DELETE FROM token_passwords WHERE token = $1 AND slot = $2")
            .bind(name)
            .bind(i64::from(p.slot))
            .execute(&mut tx)
            .await?;
        insert_password(&mut tx, name, p).await?;
        commit(tx).await
    }
}

/// Inserts token `t` with its passwords; `false` (and nothing written) if the name is taken.
/// Inserts scope map `m` unless one of its name exists; whether it did.
async fn insert_scope_map<'a, D: Sql>(on: impl Into<On<'a, D>>, m: &ScopeMap) -> Result<bool, MetaError> {
    let rules: Vec<String> = m.rules.iter().map(ScopeRule::to_string).collect();
    let inserted = sql::<D>(
        "INSERT INTO scope_maps (name, description, rules, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT DO NOTHING",
    )
    .bind(&m.name)
    .bind(&m.description)
    .bind(rules.join("\n"))
    .bind(now())
    .execute(on)
    .await?;
    Ok(inserted > 0)
}

async fn insert_token<D: Sql>(tx: &mut Tx<D>, t: &Token) -> Result<bool, MetaError> {
    let inserted = sql::<D>(
        "INSERT INTO tokens (name, scope_map, enabled, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
    )
    .bind(&t.name)
    .bind(&t.scope_map)
    .bind(t.enabled)
    .bind(t.created)
    .execute(&mut *tx)
    .await?;
    if inserted == 0 {
        return Ok(false);
    }
    for p in &t.passwords {
        insert_password(tx, &t.name, p).await?;
    }
    Ok(true)
}

async fn insert_password<D: Sql>(tx: &mut Tx<D>, token: &str, p: &TokenPassword) -> Result<(), MetaError> {
    sql::<D>(
        "INSERT INTO token_passwords (token, slot, secret_hash, created_at, expiry, id) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(token)
    .bind(i64::from(p.slot))
    .bind(p.secret_hash.as_slice())
    .bind(p.created)
    .bind(p.expiry)
    .bind(&p.id)
    .execute(tx)
    .await?;
    Ok(())
}
