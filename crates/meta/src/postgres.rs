//! The PostgreSQL metadata store, for any number of replicas sharing one database.
//!
//! Every answer comes from the database (no cache in the process), so a write through one
//! replica is seen at once by every other. Migrations run under an advisory lock, so replicas
//! starting together apply each one once.

use crate::backend::{Backend, Dialect, LockClass, SqlMeta};
use crate::records::{db, repo_is_known};
use crate::repos::Tx;
use crate::{dialect, migrations};
use berth_core::{Digest, DigestLease, MetaError, Page, RepoName};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Postgres};
use std::time::Duration;

/// Metadata in a PostgreSQL database, through a bounded pool.
pub type PgMeta = SqlMeta<PgCluster>;

/// The PostgreSQL side of [`PgMeta`]: its pools.
pub struct PgCluster {
    pub(crate) pool: PgPool,
    /// Connections that hold digest locks (see `pg_gc`), apart so that lock holders never
    /// wait for a connection of the pool they hold.
    pub(crate) locks: PgPool,
}

/// Any number fits in the advisory-lock key space; this one says "berth migrations".
/// Creating the first principal takes it too.
const MIGRATION_LOCK: i64 = 0x6265_7274_685f_6d69;

/// Key classes of the two-key advisory locks (a space apart from the one-key locks) that
/// serialise new upload sessions per owner and per repository ("beuo", "beur").
const UPLOAD_OWNER_LOCK: i32 = 0x6265_756f;
const UPLOAD_REPO_LOCK: i32 = 0x6265_7572;
/// The two-key class of the one lock that serialises cache rule changes ("becr").
const CACHE_RULES_LOCK: i32 = 0x6265_6372;

impl SqlMeta<PgCluster> {
    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`) with at most `max_connections`
    /// connections, and migrates the schema.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, MetaError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(db)?;
        migrate(&pool).await?;
        let locks = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy(url)
            .map_err(db)?;
        Ok(SqlMeta { backend: PgCluster { pool, locks } })
    }
}

async fn migrate(pool: &PgPool) -> Result<(), MetaError> {
    let mut tx = pool.begin().await.map_err(db)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await.map_err(db)?;
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS berth_schema (version BIGINT NOT NULL)")
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let applied: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM berth_schema").fetch_one(&mut *tx).await.map_err(db)?;
    let applied = applied.unwrap_or(0);
    for (i, sql) in migrations::POSTGRES.iter().enumerate().skip(applied as usize) {
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(db)?;
        sqlx::query("INSERT INTO berth_schema (version) VALUES ($1)")
            .bind(i as i64 + 1)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tracing::info!(migration = i + 1, "applied PostgreSQL migration");
    }
    tx.commit().await.map_err(db)
}

impl Backend for PgCluster {
    type Db = Postgres;

    const DIALECT: Dialect = dialect::POSTGRES;

    fn reader(&self) -> &PgPool {
        &self.pool
    }

    fn writer(&self) -> &PgPool {
        &self.pool
    }

    /// A transaction-scoped advisory lock: any replica's transaction asking for the same one
    /// waits for this one to end. The first principal takes the migration lock (one key);
    /// upload sessions and cache rule changes take a two-key lock of their class and the
    /// key's hash.
    async fn serialise(tx: &mut Tx<Postgres>, class: LockClass, key: &str) -> Result<(), MetaError> {
        let two_key = |class: i32| sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))").bind(class).bind(key);
        let lock = match class {
            LockClass::Bootstrap => sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK),
            LockClass::UploadOwner => two_key(UPLOAD_OWNER_LOCK),
            LockClass::UploadRepository => two_key(UPLOAD_REPO_LOCK),
            LockClass::CacheRules => two_key(CACHE_RULES_LOCK),
        };
        lock.execute(&mut **tx).await.map_err(db)?;
        Ok(())
    }

    async fn lock_digest(&self, d: &Digest) -> Result<Option<Box<dyn DigestLease>>, MetaError> {
        Ok(Some(Box::new(self.lease(d).await?)))
    }

    async fn list_tags(&self, repo: &RepoName, page: &Page) -> Result<Option<Vec<String>>, MetaError> {
        // One row holding one array: a 10,000-tag list is one message, not 10,000 rows.
        const SQL: &str = concat!(
            "SELECT (SELECT array_agg(t.name ORDER BY t.name)
                       FROM (SELECT name FROM tags WHERE repo_id = r.id AND name > $2 ORDER BY name LIMIT $3) t)
             FROM repositories r WHERE r.name = $1 AND ",
            repo_is_known!()
        );
        let tags: Option<Option<Vec<String>>> = sqlx::query_scalar(SQL)
            .bind(repo.as_str())
            .bind(page.last.as_deref().unwrap_or(""))
            .bind(page.n.map(i64::from))
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(tags.map(Option::unwrap_or_default))
    }

    async fn drop_unreferenced_links(&self, linked_before: i64, dry_run: bool) -> Result<u64, MetaError> {
        self.drop_links_one_by_one(linked_before, dry_run).await
    }
}
