//! The SQLite metadata store, the embedded default.
//!
//! WAL mode with `synchronous = FULL` (a committed transaction survives power loss), one
//! writer connection (SQLite admits one writer; queueing in the pool beats `SQLITE_BUSY`) and a
//! small pool of read-only connections that never wait for the writer.

use crate::backend::{Backend, Dialect, LockClass, SqlMeta};
use crate::cache::ManifestCache;
use crate::records::{Columns, db, repo_is_known};
use crate::repos::Tx;
use crate::sql::sql;
use crate::{dialect, migrations};
use berth_core::{Digest, DigestLease, MetaError, Page, RepoName};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Sqlite, SqlitePool};
use std::path::Path;
use std::time::Duration;

/// Metadata in one SQLite file. Meant to be owned by one process (the server locks its data
/// directory): manifest lookups are cached in memory and invalidated by this process's writes.
pub type SqliteMeta = SqlMeta<SqliteFile>;

/// The SQLite side of [`SqliteMeta`]: its pools and its manifest cache.
pub struct SqliteFile {
    writer: SqlitePool,
    reader: SqlitePool,
    cache: ManifestCache,
}

impl SqlMeta<SqliteFile> {
    /// Opens (creating if needed) the database file at `path` and migrates it.
    pub async fn open(path: &Path) -> Result<Self, MetaError> {
        let base = SqliteConnectOptions::new()
            .filename(path)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(base.clone().create_if_missing(true))
            .await
            .map_err(db)?;
        migrate(&writer).await?;
        let reader =
            SqlitePoolOptions::new().max_connections(4).connect_with(base.read_only(true)).await.map_err(db)?;
        Ok(SqlMeta { backend: SqliteFile { writer, reader, cache: ManifestCache::default() } })
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), MetaError> {
    let applied: i64 = sqlx::query_scalar("PRAGMA user_version").fetch_one(pool).await.map_err(db)?;
    for (i, sql) in migrations::SQLITE.iter().enumerate().skip(applied as usize) {
        let mut tx = pool.begin().await.map_err(db)?;
        sqlx::raw_sql(*sql).execute(&mut *tx).await.map_err(db)?;
        sqlx::raw_sql(AssertSqlSafe(format!("PRAGMA user_version = {}", i + 1))).execute(&mut *tx).await.map_err(db)?;
        tx.commit().await.map_err(db)?;
        tracing::info!(migration = i + 1, "applied SQLite migration");
    }
    Ok(())
}

impl Backend for SqliteFile {
    type Db = Sqlite;

    const DIALECT: Dialect = dialect::SQLITE;

    fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    fn cache(&self) -> Option<&ManifestCache> {
        Some(&self.cache)
    }

    /// Nothing to wait for: the transaction holds the one writer connection, and the data
    /// directory's lock keeps other processes out.
    async fn serialise(_tx: &mut Tx<Sqlite>, _class: LockClass, _key: &str) -> Result<(), MetaError> {
        Ok(())
    }

    /// No other process shares the file: this process's own lock is enough.
    async fn lock_digest(&self, _digest: &Digest) -> Result<Option<Box<dyn DigestLease>>, MetaError> {
        Ok(None)
    }

    async fn list_tags(&self, repo: &RepoName, page: &Page) -> Result<Option<Vec<String>>, MetaError> {
        const KNOWN: &str = concat!("SELECT id FROM repositories r WHERE name = $1 AND ", repo_is_known!());
        let Some(known) = sql::<Sqlite>(KNOWN).bind(repo.as_str()).fetch_optional(&self.reader).await? else {
            return Ok(None);
        };
        let rows = sql::<Sqlite>("SELECT name FROM tags WHERE repo_id = $1 AND name > $2 ORDER BY name LIMIT $3")
            .bind(known.int("id")?)
            .bind(page.last.as_deref().unwrap_or(""))
            .bind(page.n.map_or(-1, i64::from))
            .fetch_all(&self.reader)
            .await?;
        rows.iter().map(|r| r.text("name")).collect::<Result<_, _>>().map(Some)
    }

    /// One statement: nothing else writes while it runs (one writer connection).
    async fn drop_unreferenced_links(&self, linked_before: i64, dry_run: bool) -> Result<u64, MetaError> {
        const UNREFERENCED: &str = "FROM repo_blobs WHERE linked_at < $1 AND NOT EXISTS (
            SELECT 1 FROM manifest_refs r
             WHERE r.repo_id = repo_blobs.repo_id AND r.ref_digest = repo_blobs.digest AND r.is_manifest = 0)";
        if dry_run {
            let row = sql::<Sqlite>(AssertSqlSafe(format!("SELECT count(*) AS n {UNREFERENCED}")))
                .bind(linked_before)
                .fetch_one(&self.reader)
                .await?;
            return Ok(row.int("n")? as u64);
        }
        sql::<Sqlite>(AssertSqlSafe(format!("DELETE {UNREFERENCED}"))).bind(linked_before).execute(&self.writer).await
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn passes_the_meta_testsuite() {
        let dir = tempfile::tempdir().unwrap();
        let meta = super::SqliteMeta::open(&dir.path().join("meta.db")).await.unwrap();
        crate::testsuite::run(&meta).await;
        crate::testsuite::run_identities(&meta).await;
    }
}
