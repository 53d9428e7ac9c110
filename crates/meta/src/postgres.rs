//! The PostgreSQL metadata store, for any number of replicas sharing one database.
//!
//! Every answer comes from the database (no cache in the process), so a write through one
//! replica is seen at once by every other. Migrations run under an advisory lock, so replicas
//! starting together apply each one once.

use crate::migrations;
use crate::records::{
    self, bad, db, deleted_repository, digest, first_lock, manifest, manifest_columns, now, repo_is_known, session,
    upload_cap_reached,
};
use async_trait::async_trait;
use berth_core::{
    Dated, DeletedRepository, Digest, DigestLease, LockChange, Locks, ManifestRecord, ManifestRefs, MetaError,
    MetadataStore, Page, Referrer, RepoName, RepositoryInfo, Tag, TagInfo, UploadCap, UploadCaps, UploadId,
    UploadSession,
};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use std::time::Duration;

/// Metadata in a PostgreSQL database, through a bounded pool.
pub struct PgMeta {
    pub(crate) pool: PgPool,
    /// Connections that hold digest locks (see `pg_gc`), apart so that lock holders never
    /// wait for a connection of the pool they hold.
    pub(crate) locks: PgPool,
}

/// Any number fits in the advisory-lock key space; this one says "berth migrations".
pub(crate) const MIGRATION_LOCK: i64 = 0x6265_7274_685f_6d69;

/// Key classes of the two-key advisory locks (a space apart from the one-key locks) that
/// serialise new upload sessions per owner and per repository ("beuo", "beur").
const UPLOAD_OWNER_LOCK: i32 = 0x6265_756f;
const UPLOAD_REPO_LOCK: i32 = 0x6265_7572;

const MANIFEST_BY_TAG: &str = concat!(
    "SELECT ",
    manifest_columns!(),
    " FROM tags t JOIN repositories r ON r.id = t.repo_id
      JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
      WHERE r.name = $1 AND t.name = $2"
);

const MANIFEST_BY_DIGEST: &str = concat!(
    "SELECT ",
    manifest_columns!(),
    " FROM manifests m JOIN repositories r ON r.id = m.repo_id WHERE r.name = $1 AND m.digest = $2"
);

fn limit(page: &Page) -> Option<i64> {
    page.n.map(i64::from)
}

impl PgMeta {
    /// Connects to `url` (`postgres://USER:PASSWORD@HOST:PORT/DB`) with at most `max_connections`
    /// connections, and migrates the schema.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, MetaError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await
            .map_err(db)?;
        Self::migrate(&pool).await?;
        let locks = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(30))
            .connect_lazy(url)
            .map_err(db)?;
        Ok(PgMeta { pool, locks })
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

    async fn manifest_by(
        &self,
        repo: &RepoName,
        key: &str,
        sql: &'static str,
    ) -> Result<Option<ManifestRecord>, MetaError> {
        let row = sqlx::query(sql).bind(repo.as_str()).bind(key).fetch_optional(&self.pool).await.map_err(db)?;
        row.as_ref().map(manifest).transpose()
    }
}

/// `repo`'s id, its row locked until the transaction ends: every write to a repository locks
/// that row first (ensure_repo's upsert, the tag trigger's update, lock changes), so the
/// holder's checks and changes cannot interleave with another's.
async fn lock_repo(conn: &mut sqlx::PgConnection, repo: &RepoName) -> Result<Option<i64>, MetaError> {
    sqlx::query_scalar("SELECT id FROM repositories WHERE name = $1 FOR UPDATE")
        .bind(repo.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db)
}

/// `MetaError::Locked` if the `first_lock!` query `sql` finds a lock in repository `repo_id`.
async fn refuse_if_locked(
    conn: &mut sqlx::PgConnection,
    sql: &'static str,
    repo_id: i64,
    arg: &str,
) -> Result<(), MetaError> {
    let found: Option<String> =
        sqlx::query_scalar(sql).bind(repo_id).bind(arg).fetch_optional(conn).await.map_err(db)?;
    found.map_or(Ok(()), |what| Err(MetaError::Locked(what)))
}

/// `MetaError::InUse` if a tag of repository `repo_id` reaches `digest` through a manifest
/// ([`records::TAG_REACHING`]).
async fn refuse_if_reached(conn: &mut sqlx::PgConnection, repo_id: i64, digest: &str) -> Result<(), MetaError> {
    let found: Option<String> =
        sqlx::query_scalar(records::TAG_REACHING).bind(repo_id).bind(digest).fetch_optional(conn).await.map_err(db)?;
    found.map_or(Ok(()), |what| Err(MetaError::InUse(what)))
}

async fn ensure_repo(conn: &mut sqlx::PgConnection, repo: &RepoName) -> Result<i64, MetaError> {
    sqlx::query_scalar(
        "INSERT INTO repositories (name, created_at) VALUES ($1, $2)
         ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(repo.as_str())
    .bind(now())
    .fetch_one(conn)
    .await
    .map_err(db)
}

async fn link(conn: &mut sqlx::PgConnection, repo: &RepoName, d: &Digest, size: u64) -> Result<(), MetaError> {
    sqlx::query("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(d.to_string())
        .bind(size as i64)
        .bind(now())
        .execute(&mut *conn)
        .await
        .map_err(db)?;
    let repo_id = ensure_repo(conn, repo).await?;
    sqlx::query(
        "INSERT INTO repo_blobs (repo_id, digest, linked_at) VALUES ($1, $2, $3)
         ON CONFLICT (repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
    )
    .bind(repo_id)
    .bind(d.to_string())
    .bind(now())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl MetadataStore for PgMeta {
    async fn ping(&self) -> Result<(), MetaError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(db)?;
        Ok(())
    }

    async fn blob_size(&self, d: &Digest) -> Result<Option<u64>, MetaError> {
        let size: Option<i64> = sqlx::query_scalar("SELECT size FROM blobs WHERE digest = $1")
            .bind(d.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(size.map(|s| s as u64))
    }

    async fn repo_blob(&self, repo: &RepoName, d: &Digest) -> Result<Option<u64>, MetaError> {
        let size: Option<i64> = sqlx::query_scalar(
            "SELECT b.size FROM repo_blobs rb
             JOIN repositories r ON r.id = rb.repo_id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = $1 AND rb.digest = $2",
        )
        .bind(repo.as_str())
        .bind(d.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(size.map(|s| s as u64))
    }

    async fn repositories_holding(&self, d: &Digest, limit: u32) -> Result<Vec<RepoName>, MetaError> {
        let names: Vec<String> = sqlx::query_scalar(crate::records::REPOSITORIES_HOLDING)
            .bind(d.to_string())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        names.iter().map(|n| RepoName::parse(n).map_err(|_| crate::records::bad("repository name"))).collect()
    }

    async fn manifest_blob_refs(&self, repo: &RepoName, d: &Digest) -> Result<Vec<Digest>, MetaError> {
        let refs: Vec<String> = sqlx::query_scalar(crate::records::MANIFEST_BLOB_REFS)
            .bind(repo.as_str())
            .bind(d.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db)?;
        refs.iter().map(|r| Digest::parse(r).map_err(|_| crate::records::bad("manifest reference"))).collect()
    }

    async fn link_blob(&self, repo: &RepoName, d: &Digest, size: u64) -> Result<(), MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        link(&mut tx, repo, d, size).await?;
        tx.commit().await.map_err(db)
    }

    async fn unlink_blob(&self, repo: &RepoName, d: &Digest) -> Result<bool, MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(repo_id) = lock_repo(&mut tx, repo).await? else { return Ok(false) };
        let digest = d.to_string();
        refuse_if_locked(&mut tx, records::LOCK_REACHING, repo_id, &digest).await?;
        refuse_if_reached(&mut tx, repo_id, &digest).await?;
        let r = sqlx::query("DELETE FROM repo_blobs WHERE repo_id = $1 AND digest = $2")
            .bind(repo_id)
            .bind(&digest)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn put_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        refs: &ManifestRefs,
        tags: &[Tag],
    ) -> Result<(), MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // The upsert locks the repository row: lock changes and deletes wait for this PUT.
        let repo_id = ensure_repo(&mut tx, repo).await?;
        let writable: bool = sqlx::query_scalar("SELECT write_enabled FROM repositories WHERE id = $1")
            .bind(repo_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if !writable {
            return Err(MetaError::Locked(format!("repository {repo}")));
        }
        let mut missing = Vec::new();
        for (list, sql) in [
            // FOR SHARE: garbage collection cannot drop a link this manifest is about to use.
            (&refs.blobs, "SELECT 1::BIGINT FROM repo_blobs WHERE repo_id = $1 AND digest = $2 FOR SHARE"),
            (&refs.children, "SELECT 1::BIGINT FROM manifests WHERE repo_id = $1 AND digest = $2"),
        ] {
            for d in list {
                let found: Option<i64> = sqlx::query_scalar(sql)
                    .bind(repo_id)
                    .bind(d.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
                if found.is_none() && !missing.contains(d) {
                    missing.push(d.clone());
                }
            }
        }
        if !missing.is_empty() {
            return Err(MetaError::MissingReferences(missing));
        }
        let digest = m.digest.to_string();
        sqlx::query(
            "INSERT INTO manifests (repo_id, digest, media_type, content, artifact_type, subject, annotations, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(repo_id)
        .bind(&digest)
        .bind(&m.media_type)
        .bind(m.bytes.as_ref())
        .bind(&m.artifact_type)
        .bind(m.subject.as_ref().map(Digest::to_string))
        .bind(&m.annotations)
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        for (list, is_manifest) in [(&refs.blobs, 0i64), (&refs.children, 1i64)] {
            for d in list {
                sqlx::query(
                    "INSERT INTO manifest_refs (repo_id, manifest_digest, ref_digest, is_manifest)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                )
                .bind(repo_id)
                .bind(&digest)
                .bind(d.to_string())
                .bind(is_manifest)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            }
        }
        // Foreign layers the repository holds are kept like any other; absent ones may stay so.
        for d in &refs.foreign {
            sqlx::query(records::INSERT_FOREIGN_REF)
                .bind(repo_id)
                .bind(&digest)
                .bind(d.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        for tag in tags {
            let current: Option<(String, bool)> =
                sqlx::query_as("SELECT digest, write_enabled FROM tags WHERE repo_id = $1 AND name = $2")
                    .bind(repo_id)
                    .bind(tag.as_str())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db)?;
            if current.is_some_and(|(named, writable)| !writable && named != digest) {
                return Err(MetaError::Locked(format!("tag {tag}")));
            }
            sqlx::query(
                "INSERT INTO tags (repo_id, name, digest, updated_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT(repo_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at",
            )
            .bind(repo_id)
            .bind(tag.as_str())
            .bind(&digest)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    async fn manifest_by_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<ManifestRecord>, MetaError> {
        self.manifest_by(repo, tag.as_str(), MANIFEST_BY_TAG).await
    }

    async fn manifest_by_digest(&self, repo: &RepoName, d: &Digest) -> Result<Option<ManifestRecord>, MetaError> {
        self.manifest_by(repo, &d.to_string(), MANIFEST_BY_DIGEST).await
    }

    async fn delete_manifest(&self, repo: &RepoName, d: &Digest) -> Result<bool, MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(repo_id) = lock_repo(&mut tx, repo).await? else { return Ok(false) };
        let digest = d.to_string();
        refuse_if_locked(&mut tx, records::LOCK_REACHING, repo_id, &digest).await?;
        refuse_if_reached(&mut tx, repo_id, &digest).await?;
        let deleted = sqlx::query("DELETE FROM manifests WHERE repo_id = $1 AND digest = $2")
            .bind(repo_id)
            .bind(&digest)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        for sql in [
            "DELETE FROM tags WHERE repo_id = $1 AND digest = $2",
            "DELETE FROM manifest_refs WHERE repo_id = $1 AND manifest_digest = $2",
        ] {
            sqlx::query(sql).bind(repo_id).bind(&digest).execute(&mut *tx).await.map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(deleted > 0)
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool, MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(repo_id) = lock_repo(&mut tx, repo).await? else { return Ok(false) };
        refuse_if_locked(&mut tx, first_lock!("name = $2"), repo_id, tag.as_str()).await?;
        let r = sqlx::query("DELETE FROM tags WHERE repo_id = $1 AND name = $2")
            .bind(repo_id)
            .bind(tag.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_repository(&self, repo: &RepoName) -> Result<Option<DeletedRepository>, MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(repo_id) = lock_repo(&mut tx, repo).await? else { return Ok(None) };
        refuse_if_locked(&mut tx, first_lock!("TRUE"), repo_id, "").await?;
        let mut removed: Vec<Vec<String>> = Vec::new();
        for sql in [
            "DELETE FROM tags WHERE repo_id = $1 RETURNING name",
            "DELETE FROM manifests WHERE repo_id = $1 RETURNING digest",
            "DELETE FROM repo_blobs WHERE repo_id = $1 RETURNING digest",
        ] {
            removed.push(sqlx::query_scalar(sql).bind(repo_id).fetch_all(&mut *tx).await.map_err(db)?);
        }
        sqlx::query("DELETE FROM manifest_refs WHERE repo_id = $1")
            .bind(repo_id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(deleted_repository(removed))
    }

    async fn repository_info(&self, repo: &RepoName) -> Result<Option<RepositoryInfo>, MetaError> {
        let row = sqlx::query(records::REPOSITORY_INFO).bind(repo.as_str()).fetch_optional(&self.pool).await;
        row.map_err(db)?.as_ref().map(records::repository_info).transpose()
    }

    async fn untagged_manifests(&self, created_before: i64) -> Result<Vec<(String, Digest)>, MetaError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as(records::UNTAGGED_MANIFESTS).bind(created_before).fetch_all(&self.pool).await.map_err(db)?;
        rows.into_iter()
            .map(|(repo, d)| Digest::parse(&d).map(|d| (repo, d)).map_err(|_| bad("manifest digest")))
            .collect()
    }

    async fn delete_untagged_manifest(&self, repo: &RepoName, d: &Digest) -> Result<bool, MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let Some(repo_id) = lock_repo(&mut tx, repo).await? else { return Ok(false) };
        let digest = d.to_string();
        refuse_if_locked(&mut tx, first_lock!("FALSE"), repo_id, "").await?;
        let deleted = sqlx::query(records::DELETE_UNTAGGED_MANIFEST)
            .bind(repo_id)
            .bind(&digest)
            .execute(&mut *tx)
            .await
            .map_err(db)?
            .rows_affected();
        if deleted > 0 {
            sqlx::query(records::DELETE_MANIFEST_REFS)
                .bind(repo_id)
                .bind(&digest)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(deleted > 0)
    }

    async fn repository_writable(&self, repo: &RepoName) -> Result<bool, MetaError> {
        let writable: Option<bool> = sqlx::query_scalar("SELECT write_enabled FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(writable.unwrap_or(true))
    }

    async fn tag_info(&self, repo: &RepoName, tag: &Tag) -> Result<Option<TagInfo>, MetaError> {
        let row = sqlx::query(records::TAG_INFO).bind(repo.as_str()).bind(tag.as_str()).fetch_optional(&self.pool);
        row.await.map_err(db)?.as_ref().map(records::tag_info).transpose()
    }

    async fn set_locks(&self, repo: &RepoName, tag: Option<&Tag>, c: LockChange) -> Result<Option<Locks>, MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        const KNOWN: &str =
            concat!("SELECT id FROM repositories r WHERE name = $1 AND ", repo_is_known!(), " FOR UPDATE");
        let repo_id: Option<i64> =
            sqlx::query_scalar(KNOWN).bind(repo.as_str()).fetch_optional(&mut *tx).await.map_err(db)?;
        let Some(repo_id) = repo_id else { return Ok(None) };
        let sql = if tag.is_some() { records::SET_TAG_LOCKS } else { records::SET_REPOSITORY_LOCKS };
        let mut q = sqlx::query(sql).bind(repo_id).bind(c.write_enabled).bind(c.delete_enabled);
        if let Some(tag) = tag {
            q = q.bind(tag.as_str());
        }
        let locks = q.fetch_optional(&mut *tx).await.map_err(db)?.as_ref().map(records::locks).transpose()?;
        tx.commit().await.map_err(db)?;
        Ok(locks)
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
            .bind(limit(page))
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        Ok(tags.map(Option::unwrap_or_default))
    }

    async fn tag_generation(&self, repo: &RepoName) -> Result<Option<u64>, MetaError> {
        const SQL: &str = concat!("SELECT tag_generation FROM repositories r WHERE name = $1 AND ", repo_is_known!());
        let generation: Option<i64> =
            sqlx::query_scalar(SQL).bind(repo.as_str()).fetch_optional(&self.pool).await.map_err(db)?;
        Ok(generation.map(|g| g as u64))
    }

    async fn list_repos(&self, page: &Page) -> Result<Vec<String>, MetaError> {
        const SQL: &str = concat!(
            "SELECT name FROM repositories r WHERE name > $1 AND ",
            repo_is_known!(),
            " ORDER BY name LIMIT $2"
        );
        sqlx::query_scalar(SQL)
            .bind(page.last.as_deref().unwrap_or(""))
            .bind(limit(page))
            .fetch_all(&self.pool)
            .await
            .map_err(db)
    }

    async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, MetaError> {
        let rows = sqlx::query(
            "SELECT m.digest, m.media_type, octet_length(m.content)::BIGINT AS size, m.artifact_type, m.annotations
             FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.name = $1 AND m.subject = $2 AND ($3::TEXT IS NULL OR m.artifact_type = $3)
             ORDER BY m.created_at, m.digest",
        )
        .bind(repo.as_str())
        .bind(subject.to_string())
        .bind(artifact_type)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|row| {
                Ok(Referrer {
                    digest: digest(row, "digest")?,
                    media_type: row.try_get("media_type").map_err(db)?,
                    size: row.try_get::<i64, _>("size").map_err(db)? as u64,
                    artifact_type: row.try_get("artifact_type").map_err(db)?,
                    annotations: row.try_get("annotations").map_err(db)?,
                })
            })
            .collect()
    }

    async fn create_upload(&self, s: &UploadSession, caps: UploadCaps) -> Result<Result<(), UploadCap>, MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Until commit, no other create (on any replica) for this owner, then this repository,
        // counts or inserts: each count sees every session recorded before it, so the caps
        // hold exactly. Owner before repository, in key classes of their own, so two creates
        // never wait for each other in a cycle.
        for (class, key) in [(UPLOAD_OWNER_LOCK, s.owner.as_str()), (UPLOAD_REPO_LOCK, s.repo.as_str())] {
            sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind(class)
                .bind(key)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let open = sqlx::query(records::OPEN_UPLOADS)
            .bind(&s.owner)
            .bind(i64::from(caps.per_owner))
            .bind(s.repo.as_str())
            .bind(i64::from(caps.per_repository))
            .fetch_one(&mut *tx)
            .await
            .map_err(db)?;
        if let Some(cap) = upload_cap_reached(&open, caps)? {
            return Ok(Err(cap));
        }
        sqlx::query(records::INSERT_UPLOAD)
            .bind(s.id.as_str())
            .bind(s.repo.as_str())
            .bind(&s.owner)
            .bind(s.offset as i64)
            .bind(s.algorithm.as_str())
            .bind(&s.hash_state)
            .bind(s.started_at)
            .bind(now())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Ok(()))
    }

    async fn upload(&self, id: &UploadId) -> Result<Option<UploadSession>, MetaError> {
        let row = sqlx::query("SELECT * FROM uploads WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        row.as_ref().map(session).transpose()
    }

    async fn advance_upload(&self, s: &UploadSession, from_offset: u64) -> Result<(), MetaError> {
        let r = sqlx::query(
            "UPDATE uploads SET \"offset\" = $1, hash_state = $2, updated_at = $3 WHERE id = $4 AND \"offset\" = $5",
        )
        .bind(s.offset as i64)
        .bind(&s.hash_state)
        .bind(now())
        .bind(s.id.as_str())
        .bind(from_offset as i64)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if r.rows_affected() == 0 {
            return Err(MetaError::Conflict);
        }
        Ok(())
    }

    async fn complete_upload(&self, id: &UploadId, repo: &RepoName, d: &Digest, size: u64) -> Result<(), MetaError> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id.as_str()).execute(&mut *tx).await.map_err(db)?;
        link(&mut tx, repo, d, size).await?;
        tx.commit().await.map_err(db)
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<bool, MetaError> {
        let r =
            sqlx::query("DELETE FROM uploads WHERE id = $1").bind(id.as_str()).execute(&self.pool).await.map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn expire_uploads(&self, idle_since: i64, limit: u32) -> Result<Vec<UploadId>, MetaError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "DELETE FROM uploads WHERE updated_at < $1
               AND id IN (SELECT id FROM uploads WHERE updated_at < $1 LIMIT $2)
             RETURNING id",
        )
        .bind(idle_since)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        ids.iter().map(|id| UploadId::parse(id).ok_or_else(|| bad("upload id"))).collect()
    }

    async fn drop_unreferenced_links(&self, linked_before: i64, dry_run: bool) -> Result<u64, MetaError> {
        self.drop_links_one_by_one(linked_before, dry_run).await
    }

    async fn unused_blobs(&self, created_before: i64) -> Result<Vec<(Digest, u64)>, MetaError> {
        let rows = sqlx::query(
            "SELECT b.digest, b.size FROM blobs b
              WHERE b.created_at < $1
                AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.ref_digest = b.digest)
                AND NOT EXISTS (SELECT 1 FROM repo_blobs l
                                 WHERE l.digest = b.digest AND (l.linked_at >= $1 OR EXISTS (
                                   SELECT 1 FROM manifest_refs r
                                    WHERE r.repo_id = l.repo_id AND r.ref_digest = l.digest)))
              ORDER BY b.digest",
        )
        .bind(created_before)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter().map(|r| Ok((digest(r, "digest")?, r.try_get::<i64, _>("size").map_err(db)? as u64))).collect()
    }

    async fn drop_unused_blob(&self, d: &Digest) -> Result<bool, MetaError> {
        let r = sqlx::query(
            "DELETE FROM blobs WHERE digest = $1
               AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.ref_digest = blobs.digest)
               AND NOT EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = blobs.digest)",
        )
        .bind(d.to_string())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn lock_digest(&self, d: &Digest) -> Result<Option<Box<dyn DigestLease>>, MetaError> {
        Ok(Some(Box::new(self.lease(d).await?)))
    }

    async fn all_times(&self) -> Result<Vec<(String, Dated, i64)>, MetaError> {
        let rows = sqlx::query(records::ALL_TIMES).fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(records::dated).collect()
    }

    async fn set_time(&self, repo: &RepoName, what: &Dated, at: i64) -> Result<bool, MetaError> {
        let (sql, key) = records::set_time(what);
        let mut q = sqlx::query(sql).bind(repo.as_str()).bind(at);
        if let Some(key) = key {
            q = q.bind(key);
        }
        Ok(q.execute(&self.pool).await.map_err(db)?.rows_affected() > 0)
    }

    async fn all_blobs(&self) -> Result<Vec<(Digest, u64)>, MetaError> {
        let rows =
            sqlx::query("SELECT digest, size FROM blobs ORDER BY digest").fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(|r| Ok((digest(r, "digest")?, r.try_get::<i64, _>("size").map_err(db)? as u64))).collect()
    }

    async fn all_manifests(&self) -> Result<Vec<(String, ManifestRecord)>, MetaError> {
        let sql = concat!(
            "SELECT r.name AS repo, ",
            manifest_columns!(),
            " FROM manifests m JOIN repositories r ON r.id = m.repo_id ORDER BY r.name, m.digest"
        );
        let rows = sqlx::query(sql).fetch_all(&self.pool).await.map_err(db)?;
        rows.iter().map(|r| Ok((r.try_get("repo").map_err(db)?, manifest(r)?))).collect()
    }
}
