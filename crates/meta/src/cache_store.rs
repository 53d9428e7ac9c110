//! [`CacheStore`] once for both databases: credential sets, cache rules, when cached tags were
//! last compared with upstream, and fill leases.
//!
//! Every change to the rules, and every deletion of a credential set, runs after
//! [`Backend::serialise`] with [`LockClass::CacheRules`] inside its transaction, so the check
//! a new rule must pass sees every rule committed before it on any replica, and a set is
//! never deleted while a rule being put names it.

use crate::backend::{Backend, LockClass, SqlMeta};
use crate::manifest_put::Arrival;
use crate::records::{self, Columns};
use crate::repos::Tx;
use crate::sql::{Stmt, sql};
use crate::store::{commit, texts};
use async_trait::async_trait;
use berth_core::cache_store::{CacheRuleRecord, CacheStore, CredentialSetRecord, RulePut, SetDeletion};
use berth_core::{Digest, ManifestRecord, ManifestRefs, MetaError, RepoName, Tag};

/// The columns [`records::credential_set`] reads, in the order of an insert's values.
macro_rules! credential_set_columns {
    () => {
        "name, login_server, username, sealed_password, created_at, updated_at"
    };
}

/// Every cache rule, by name; read by [`records::cache_rule`].
const ALL_RULES: &str = "SELECT * FROM cache_rules ORDER BY name";

impl<B: Backend> SqlMeta<B> {
    /// A write transaction holding the lock that serialises rule changes.
    async fn begin_rule_change(&self) -> Result<Tx<B::Db>, MetaError> {
        let mut tx = self.begin().await?;
        B::serialise(&mut tx, LockClass::CacheRules, "").await?;
        Ok(tx)
    }
}

/// `statement` with `rule`'s name, source, target, credential set, allow_push and updated_at
/// bound as `$1` to `$6`.
fn rule_statement<B: Backend>(statement: &'static str, rule: &CacheRuleRecord) -> Stmt<B::Db> {
    sql::<B::Db>(statement)
        .bind(&rule.name)
        .bind(&rule.source)
        .bind(&rule.target)
        .bind(&rule.credential_set)
        .bind(rule.allow_push)
        .bind(rule.updated_at)
}

#[async_trait]
impl<B: Backend> CacheStore for SqlMeta<B> {
    async fn credential_sets(&self) -> Result<Vec<CredentialSetRecord>, MetaError> {
        let rows = sql::<B::Db>(concat!("SELECT ", credential_set_columns!(), " FROM credential_sets ORDER BY name"))
            .fetch_all(self.backend.writer())
            .await?;
        rows.iter().map(records::credential_set).collect()
    }

    async fn credential_set(&self, name: &str) -> Result<Option<CredentialSetRecord>, MetaError> {
        let row = sql::<B::Db>(concat!("SELECT ", credential_set_columns!(), " FROM credential_sets WHERE name = $1"))
            .bind(name)
            .fetch_optional(self.backend.writer())
            .await?;
        row.as_ref().map(records::credential_set).transpose()
    }

    async fn create_credential_set(&self, set: &CredentialSetRecord) -> Result<bool, MetaError> {
        let n = sql::<B::Db>(concat!(
            "INSERT INTO credential_sets (",
            credential_set_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
        ))
        .bind(&set.name)
        .bind(&set.login_server)
        .bind(&set.username)
        .bind(set.sealed_password.as_deref())
        .bind(set.created_at)
        .bind(set.updated_at)
        .execute(self.backend.writer())
        .await?;
        Ok(n > 0)
    }

    async fn update_credential_set(&self, set: &CredentialSetRecord) -> Result<bool, MetaError> {
        let n = sql::<B::Db>(
            "UPDATE credential_sets SET login_server = $1, username = $2, sealed_password = $3, updated_at = $4
              WHERE name = $5",
        )
        .bind(&set.login_server)
        .bind(&set.username)
        .bind(set.sealed_password.as_deref())
        .bind(set.updated_at)
        .bind(&set.name)
        .execute(self.backend.writer())
        .await?;
        Ok(n > 0)
    }

    async fn delete_credential_set(&self, name: &str) -> Result<SetDeletion, MetaError> {
        let mut tx = self.begin_rule_change().await?;
        let users = sql::<B::Db>("SELECT name FROM cache_rules WHERE credential_set = $1 ORDER BY name")
            .bind(name)
            .fetch_all(&mut tx)
            .await?;
        if !users.is_empty() {
            return Ok(SetDeletion::InUse(texts(&users, "name")?));
        }
        let n = sql::<B::Db>("DELETE FROM credential_sets WHERE name = $1").bind(name).execute(&mut tx).await?;
        commit(tx).await?;
        Ok(if n > 0 { SetDeletion::Deleted } else { SetDeletion::NotFound })
    }

    async fn cache_rules(&self) -> Result<Vec<CacheRuleRecord>, MetaError> {
        let rows = sql::<B::Db>(ALL_RULES).fetch_all(self.backend.writer()).await?;
        rows.iter().map(records::cache_rule).collect()
    }

    async fn put_cache_rule(
        &self,
        rule: &CacheRuleRecord,
        replace: bool,
        check: &(dyn for<'r> Fn(&'r [CacheRuleRecord]) -> Result<(), String> + Send + Sync),
    ) -> Result<RulePut, MetaError> {
        let mut tx = self.begin_rule_change().await?;
        // Read after the lock: every rule committed before it, on any replica, is here.
        let rows = sql::<B::Db>(ALL_RULES).fetch_all(&mut tx).await?;
        let mut others = rows.iter().map(records::cache_rule).collect::<Result<Vec<_>, _>>()?;
        let before = others.len();
        if replace {
            others.retain(|r| r.name != rule.name);
            if others.len() == before {
                return Ok(RulePut::NotFound);
            }
        }
        if let Some(set) = &rule.credential_set {
            let found = sql::<B::Db>("SELECT name FROM credential_sets WHERE name = $1").bind(set);
            if found.fetch_optional(&mut tx).await?.is_none() {
                return Ok(RulePut::UnknownCredentialSet);
            }
        }
        if let Err(why) = check(&others) {
            return Ok(RulePut::Refused(why));
        }
        let statement = if replace {
            // Keeps the stored created_at.
            rule_statement::<B>(
                "UPDATE cache_rules SET source = $2, target = $3, credential_set = $4, allow_push = $5, updated_at = $6
                  WHERE name = $1",
                rule,
            )
        } else {
            rule_statement::<B>(
                "INSERT INTO cache_rules (name, source, target, credential_set, allow_push, updated_at, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                rule,
            )
            .bind(rule.created_at)
        };
        let n = statement.execute(&mut tx).await?;
        if n == 0 {
            // A create whose name is taken, which `check` let pass.
            return Err(MetaError::Conflict);
        }
        commit(tx).await?;
        Ok(RulePut::Stored)
    }

    async fn delete_cache_rule(&self, name: &str) -> Result<bool, MetaError> {
        let mut tx = self.begin_rule_change().await?;
        let n = sql::<B::Db>("DELETE FROM cache_rules WHERE name = $1").bind(name).execute(&mut tx).await?;
        commit(tx).await?;
        Ok(n > 0)
    }

    async fn put_cached_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        refs: &ManifestRefs,
        tag: Option<&Tag>,
        checked_at: i64,
    ) -> Result<(), MetaError> {
        let tags = tag.map(std::slice::from_ref).unwrap_or_default();
        self.store_manifest(repo, m, refs, tags, Arrival::Cached { checked_at }).await
    }

    async fn tag_checked_at(&self, repo: &RepoName, tag: &Tag) -> Result<Option<i64>, MetaError> {
        let row = sql::<B::Db>(
            "SELECT t.checked_at FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = $1 AND t.name = $2",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .fetch_optional(self.backend.reader())
        .await?;
        Ok(row.map(|r| r.opt_int("checked_at")).transpose()?.flatten())
    }

    async fn mark_tag_checked(&self, repo: &RepoName, tag: &Tag, at: i64) -> Result<(), MetaError> {
        sql::<B::Db>(
            "UPDATE tags SET checked_at = $3
              WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND name = $2",
        )
        .bind(repo.as_str())
        .bind(tag.as_str())
        .bind(at)
        .execute(self.backend.writer())
        .await?;
        Ok(())
    }

    async fn manifest_refers(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError> {
        let row = sql::<B::Db>(
            "SELECT CAST(1 AS BIGINT) AS one FROM manifest_refs mr JOIN repositories r ON r.id = mr.repo_id
              WHERE r.name = $1 AND mr.ref_digest = $2 LIMIT 1",
        )
        .bind(repo.as_str())
        .bind(digest.to_string())
        .fetch_optional(self.backend.reader())
        .await?;
        Ok(row.is_some())
    }

    async fn take_fill_lease(&self, key: &str, holder: &str, now: i64, until: i64) -> Result<bool, MetaError> {
        // One statement: the row's lock (PostgreSQL) or the one writer (SQLite) makes two
        // takers of a lapsed lease serial, and the second sees the first's.
        let n = sql::<B::Db>(
            "INSERT INTO fill_leases (key, holder, until) VALUES ($1, $2, $3)
             ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, until = excluded.until
              WHERE fill_leases.holder = excluded.holder OR fill_leases.until < $4",
        )
        .bind(key)
        .bind(holder)
        .bind(until)
        .bind(now)
        .execute(self.backend.writer())
        .await?;
        Ok(n > 0)
    }

    async fn renew_fill_lease(&self, key: &str, holder: &str, until: i64) -> Result<bool, MetaError> {
        let n = sql::<B::Db>("UPDATE fill_leases SET until = $1 WHERE key = $2 AND holder = $3")
            .bind(until)
            .bind(key)
            .bind(holder)
            .execute(self.backend.writer())
            .await?;
        Ok(n > 0)
    }

    async fn release_fill_lease(&self, key: &str, holder: &str) -> Result<(), MetaError> {
        sql::<B::Db>("DELETE FROM fill_leases WHERE key = $1 AND holder = $2")
            .bind(key)
            .bind(holder)
            .execute(self.backend.writer())
            .await?;
        Ok(())
    }
}
