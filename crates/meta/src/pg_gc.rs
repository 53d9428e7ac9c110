//! Garbage collection on PostgreSQL, where several replicas share the database: digest locks
//! are advisory locks, and links are dropped one at a time under a row lock.
//!
//! Why not one `DELETE … WHERE NOT EXISTS (references)`: under READ COMMITTED the subquery
//! keeps the statement's snapshot, so a manifest PUT committing references to a link while
//! the DELETE waits for that row would lose its link. Instead each candidate link is locked
//! (`FOR UPDATE`), its references are read by a *new* statement (a fresh snapshot, after any
//! PUT holding the link `FOR SHARE` has committed), and only then is it deleted.

use crate::postgres::PgCluster;
use crate::records::db;
use async_trait::async_trait;
use berth_core::{Digest, DigestLease, MetaError};
use sqlx::Postgres;
use sqlx::pool::PoolConnection;
use std::time::Duration;

/// A session advisory lock on one digest, held by one connection of the lock pool.
pub(crate) struct PgDigestLease {
    conn: Option<PoolConnection<Postgres>>,
    key: String,
}

impl PgCluster {
    /// Waits for the advisory lock of `digest` (keyed by its 64-bit text hash; a collision
    /// only serialises two digests). It polls with `pg_try_advisory_lock` rather than blocking
    /// in `pg_advisory_lock`: a caller cancelled while waiting (a client gone) must not leave a
    /// backend queued that would take the lock later for nobody. Whatever happens before the
    /// lease is released, dropping it closes its connection, which frees the lock.
    pub(crate) async fn lease(&self, digest: &Digest) -> Result<PgDigestLease, MetaError> {
        let conn = self.locks.acquire().await.map_err(db)?;
        let mut lease = PgDigestLease { conn: Some(conn), key: digest.to_string() };
        let mut pause = Duration::from_millis(2);
        loop {
            let conn = lease.conn.as_mut().expect("held until released");
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                .bind(&lease.key)
                .fetch_one(&mut **conn)
                .await
                .map_err(db)?;
            if locked {
                return Ok(lease);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Step 1 of garbage collection, one link at a time (see the module documentation); with
    /// `dry_run`, only the count of candidates.
    pub(crate) async fn drop_links_one_by_one(&self, linked_before: i64, dry_run: bool) -> Result<u64, MetaError> {
        let candidates: Vec<(i64, String)> = sqlx::query_as(
            "SELECT repo_id, digest FROM repo_blobs l WHERE linked_at < $1 AND NOT EXISTS (
               SELECT 1 FROM manifest_refs r WHERE r.repo_id = l.repo_id AND r.ref_digest = l.digest AND r.is_manifest = 0)",
        )
        .bind(linked_before)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        if dry_run {
            return Ok(candidates.len() as u64);
        }
        let mut dropped = 0;
        for (repo_id, digest) in candidates {
            let mut tx = self.pool.begin().await.map_err(db)?;
            let still_old: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM repo_blobs WHERE repo_id = $1 AND digest = $2 AND linked_at < $3 FOR UPDATE",
            )
            .bind(repo_id)
            .bind(&digest)
            .bind(linked_before)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
            let referenced: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM manifest_refs WHERE repo_id = $1 AND ref_digest = $2 AND is_manifest = 0)",
            )
            .bind(repo_id)
            .bind(&digest)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
            if still_old.is_some() && !referenced {
                sqlx::query("DELETE FROM repo_blobs WHERE repo_id = $1 AND digest = $2")
                    .bind(repo_id)
                    .bind(&digest)
                    .execute(&mut *tx)
                    .await
                    .map_err(db)?;
                dropped += 1;
            }
            tx.commit().await.map_err(db)?;
        }
        Ok(dropped)
    }
}

#[async_trait]
impl DigestLease for PgDigestLease {
    async fn release(mut self: Box<Self>) -> Result<(), MetaError> {
        let mut conn = self.conn.take().expect("a lease holds its connection until released");
        let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
            .bind(&self.key)
            .execute(&mut *conn)
            .await
            .map_err(db);
        if unlocked.is_err() {
            conn.close_on_drop();
        }
        unlocked.map(|_| ())
    }
}

impl Drop for PgDigestLease {
    fn drop(&mut self) {
        // Not released (an error or a panic on the way): closing the session frees the lock.
        if let Some(mut conn) = self.conn.take() {
            conn.close_on_drop();
        }
    }
}
