//! [`berth_core::MetadataStore`] ([`ContentStore`], [`UploadStore`], [`MaintenanceStore`]) once
//! for both databases: blobs, manifests, tags, locks, uploads and garbage collection, over
//! the [`Backend`] seam.

use crate::backend::{Backend, LockClass, SqlMeta};
use crate::manifest_put::Arrival;
use crate::records::{
    self, Columns, bad, deleted_repository, digest, first_lock, manifest, manifest_columns, now, repo_is_known,
    session, upload_cap_reached,
};
use crate::repos::{Tx, link, refuse_if_locked, refuse_removal, repo_id};
use crate::sql::sql;
use async_trait::async_trait;
use berth_core::{
    ContentStore, Dated, DeletedRepository, Digest, DigestLease, LockChange, Locks, MaintenanceStore, ManifestRecord,
    ManifestRefs, MetaError, Page, Referrer, RepoName, RepositoryInfo, Tag, TagInfo, UploadCap, UploadCaps, UploadId,
    UploadSession, UploadStore,
};

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

impl<B: Backend> SqlMeta<B> {
    /// A manifest by tag or digest (`statement` binds repository then `key`), through the cache
    /// where the backend has one.
    async fn manifest_by(
        &self,
        repo: &RepoName,
        key: &str,
        statement: &'static str,
    ) -> Result<Option<ManifestRecord>, MetaError> {
        let cache = self.backend.cache();
        let generation = match cache.map(|c| c.get(repo.as_str(), key)) {
            Some(Ok(hit)) => return Ok(Some(hit)),
            Some(Err(generation)) => Some(generation),
            None => None,
        };
        let row = sql::<B::Db>(statement).bind(repo.as_str()).bind(key).fetch_optional(self.backend.reader()).await?;
        let found = row.as_ref().map(manifest).transpose()?;
        if let (Some(c), Some(generation), Some(m)) = (cache, generation, &found) {
            c.store(generation, repo.as_str(), key, m);
        }
        Ok(found)
    }

    /// Forgets cached manifests; called after every commit (or failed commit) that may have
    /// changed manifests or tags.
    pub(crate) fn invalidate(&self) {
        if let Some(c) = self.backend.cache() {
            c.invalidate();
        }
    }

    /// A write transaction.
    pub(crate) async fn begin(&self) -> Result<Tx<B::Db>, MetaError> {
        self.backend.writer().begin().await.map_err(records::db)
    }

    /// The LIMIT for `page`.
    fn limit(page: &Page) -> Option<i64> {
        page.n.map(i64::from).or(B::DIALECT.no_limit)
    }
}

/// `(digest, size)` from rows with those columns.
fn sized(rows: &[impl Columns]) -> Result<Vec<(Digest, u64)>, MetaError> {
    rows.iter().map(|r| Ok((digest(r, "digest")?, r.int("size")? as u64))).collect()
}

/// The values of text column `col` of every row.
pub(crate) fn texts(rows: &[impl Columns], col: &str) -> Result<Vec<String>, MetaError> {
    rows.iter().map(|r| r.text(col)).collect()
}

#[async_trait]
impl<B: Backend> ContentStore for SqlMeta<B> {
    async fn ping(&self) -> Result<(), MetaError> {
        let (reader, writer) = (self.backend.reader(), self.backend.writer());
        sql::<B::Db>("SELECT 1").execute(reader).await?;
        if !std::ptr::eq(reader, writer) {
            sql::<B::Db>("SELECT 1").execute(writer).await?;
        }
        Ok(())
    }

    async fn blob_size(&self, d: &Digest) -> Result<Option<u64>, MetaError> {
        let row = sql::<B::Db>("SELECT size FROM blobs WHERE digest = $1")
            .bind(d.to_string())
            .fetch_optional(self.backend.reader())
            .await?;
        row.map(|r| Ok(r.int("size")? as u64)).transpose()
    }

    async fn repo_blob(&self, repo: &RepoName, d: &Digest) -> Result<Option<u64>, MetaError> {
        let row = sql::<B::Db>(
            "SELECT b.size FROM repo_blobs rb
             JOIN repositories r ON r.id = rb.repo_id
             JOIN blobs b ON b.digest = rb.digest
             WHERE r.name = $1 AND rb.digest = $2",
        )
        .bind(repo.as_str())
        .bind(d.to_string())
        .fetch_optional(self.backend.reader())
        .await?;
        row.map(|r| Ok(r.int("size")? as u64)).transpose()
    }

    async fn repositories_holding(&self, d: &Digest, limit: u32) -> Result<Vec<RepoName>, MetaError> {
        let rows = sql::<B::Db>(records::REPOSITORIES_HOLDING)
            .bind(d.to_string())
            .bind(i64::from(limit))
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter().map(|r| RepoName::parse(&r.text("name")?).map_err(|_| bad("repository name"))).collect()
    }

    async fn manifest_blob_refs(&self, repo: &RepoName, d: &Digest) -> Result<Vec<Digest>, MetaError> {
        let rows = sql::<B::Db>(records::MANIFEST_BLOB_REFS)
            .bind(repo.as_str())
            .bind(d.to_string())
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter().map(|r| Digest::parse(&r.text("ref_digest")?).map_err(|_| bad("manifest reference"))).collect()
    }

    async fn link_blob(&self, repo: &RepoName, d: &Digest, size: u64) -> Result<(), MetaError> {
        let mut tx = self.begin().await?;
        link(&mut tx, repo, d, size).await?;
        commit(tx).await
    }

    async fn unlink_blob(&self, repo: &RepoName, d: &Digest) -> Result<bool, MetaError> {
        let mut tx = self.begin().await?;
        let Some(repo_id) = repo_id(&mut tx, B::DIALECT.lock_repo, repo).await? else { return Ok(false) };
        let digest = d.to_string();
        refuse_removal(&mut tx, repo_id, &digest).await?;
        let n = sql::<B::Db>("DELETE FROM repo_blobs WHERE repo_id = $1 AND digest = $2")
            .bind(repo_id)
            .bind(&digest)
            .execute(&mut tx)
            .await?;
        commit(tx).await?;
        Ok(n > 0)
    }

    async fn put_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        refs: &ManifestRefs,
        tags: &[Tag],
    ) -> Result<(), MetaError> {
        self.store_manifest(repo, m, refs, tags, Arrival::Pushed).await
    }

    async fn manifest_by_tag(&self, repo: &RepoName, tag: &Tag) -> Result<Option<ManifestRecord>, MetaError> {
        self.manifest_by(repo, tag.as_str(), MANIFEST_BY_TAG).await
    }

    async fn manifest_by_digest(&self, repo: &RepoName, d: &Digest) -> Result<Option<ManifestRecord>, MetaError> {
        self.manifest_by(repo, &d.to_string(), MANIFEST_BY_DIGEST).await
    }

    async fn delete_manifest(&self, repo: &RepoName, d: &Digest) -> Result<bool, MetaError> {
        let mut tx = self.begin().await?;
        let Some(repo_id) = repo_id(&mut tx, B::DIALECT.lock_repo, repo).await? else { return Ok(false) };
        let digest = d.to_string();
        refuse_removal(&mut tx, repo_id, &digest).await?;
        let deleted = sql::<B::Db>("DELETE FROM manifests WHERE repo_id = $1 AND digest = $2")
            .bind(repo_id)
            .bind(&digest)
            .execute(&mut tx)
            .await?;
        for statement in [
            "DELETE FROM tags WHERE repo_id = $1 AND digest = $2",
            "DELETE FROM manifest_refs WHERE repo_id = $1 AND manifest_digest = $2",
        ] {
            sql::<B::Db>(statement).bind(repo_id).bind(&digest).execute(&mut tx).await?;
        }
        let committed = commit(tx).await;
        self.invalidate();
        committed?;
        Ok(deleted > 0)
    }

    async fn delete_tag(&self, repo: &RepoName, tag: &Tag) -> Result<bool, MetaError> {
        let mut tx = self.begin().await?;
        let Some(repo_id) = repo_id(&mut tx, B::DIALECT.lock_repo, repo).await? else { return Ok(false) };
        refuse_if_locked(&mut tx, first_lock!("name = $2"), repo_id, tag.as_str()).await?;
        let n = sql::<B::Db>("DELETE FROM tags WHERE repo_id = $1 AND name = $2")
            .bind(repo_id)
            .bind(tag.as_str())
            .execute(&mut tx)
            .await?;
        let committed = commit(tx).await;
        self.invalidate();
        committed?;
        Ok(n > 0)
    }

    async fn delete_repository(&self, repo: &RepoName) -> Result<Option<DeletedRepository>, MetaError> {
        let mut tx = self.begin().await?;
        let Some(repo_id) = repo_id(&mut tx, B::DIALECT.lock_repo, repo).await? else { return Ok(None) };
        refuse_if_locked(&mut tx, first_lock!("TRUE"), repo_id, "").await?;
        let mut removed: Vec<Vec<String>> = Vec::new();
        for (statement, col) in [
            ("DELETE FROM tags WHERE repo_id = $1 RETURNING name", "name"),
            ("DELETE FROM manifests WHERE repo_id = $1 RETURNING digest", "digest"),
            ("DELETE FROM repo_blobs WHERE repo_id = $1 RETURNING digest", "digest"),
        ] {
            removed.push(texts(&sql::<B::Db>(statement).bind(repo_id).fetch_all(&mut tx).await?, col)?);
        }
        sql::<B::Db>("DELETE FROM manifest_refs WHERE repo_id = $1").bind(repo_id).execute(&mut tx).await?;
        let committed = commit(tx).await;
        self.invalidate();
        committed?;
        Ok(deleted_repository(removed))
    }

    async fn repository_info(&self, repo: &RepoName) -> Result<Option<RepositoryInfo>, MetaError> {
        let row = sql::<B::Db>(records::REPOSITORY_INFO).bind(repo.as_str()).fetch_optional(self.backend.reader());
        row.await?.as_ref().map(records::repository_info).transpose()
    }

    async fn repository_writable(&self, repo: &RepoName) -> Result<bool, MetaError> {
        let row = sql::<B::Db>("SELECT write_enabled FROM repositories WHERE name = $1")
            .bind(repo.as_str())
            .fetch_optional(self.backend.reader())
            .await?;
        row.map_or(Ok(true), |r| r.flag("write_enabled"))
    }

    async fn tag_info(&self, repo: &RepoName, tag: &Tag) -> Result<Option<TagInfo>, MetaError> {
        let row = sql::<B::Db>(records::TAG_INFO).bind(repo.as_str()).bind(tag.as_str());
        row.fetch_optional(self.backend.reader()).await?.as_ref().map(records::tag_info).transpose()
    }

    async fn set_locks(&self, repo: &RepoName, tag: Option<&Tag>, c: LockChange) -> Result<Option<Locks>, MetaError> {
        let mut tx = self.begin().await?;
        let Some(repo_id) = repo_id(&mut tx, B::DIALECT.lock_known_repo, repo).await? else { return Ok(None) };
        let statement = if tag.is_some() { records::SET_TAG_LOCKS } else { records::SET_REPOSITORY_LOCKS };
        let mut q = sql::<B::Db>(statement).bind(repo_id).bind(c.write_enabled).bind(c.delete_enabled);
        if let Some(tag) = tag {
            q = q.bind(tag.as_str());
        }
        let locks = q.fetch_optional(&mut tx).await?.as_ref().map(records::locks).transpose()?;
        commit(tx).await?;
        Ok(locks)
    }

    async fn list_tags(&self, repo: &RepoName, page: &Page) -> Result<Option<Vec<String>>, MetaError> {
        self.backend.list_tags(repo, page).await
    }

    async fn tag_generation(&self, repo: &RepoName) -> Result<Option<u64>, MetaError> {
        const SQL: &str = concat!("SELECT tag_generation FROM repositories r WHERE name = $1 AND ", repo_is_known!());
        let row = sql::<B::Db>(SQL).bind(repo.as_str()).fetch_optional(self.backend.reader()).await?;
        row.map(|r| Ok(r.int("tag_generation")? as u64)).transpose()
    }

    async fn list_repos(&self, page: &Page) -> Result<Vec<String>, MetaError> {
        const SQL: &str = concat!(
            "SELECT name FROM repositories r WHERE name > $1 AND ",
            repo_is_known!(),
            " ORDER BY name LIMIT $2"
        );
        let rows = sql::<B::Db>(SQL)
            .bind(page.last.as_deref().unwrap_or(""))
            .bind(Self::limit(page))
            .fetch_all(self.backend.reader())
            .await?;
        texts(&rows, "name")
    }

    async fn referrers(
        &self,
        repo: &RepoName,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Vec<Referrer>, MetaError> {
        let rows = sql::<B::Db>(
            "SELECT m.digest, m.media_type, CAST(length(m.content) AS BIGINT) AS size, m.artifact_type, m.annotations
             FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.name = $1 AND m.subject = $2 AND (CAST($3 AS TEXT) IS NULL OR m.artifact_type = $3)
             ORDER BY m.created_at, m.digest",
        )
        .bind(repo.as_str())
        .bind(subject.to_string())
        .bind(artifact_type)
        .fetch_all(self.backend.reader())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Referrer {
                    digest: digest(row, "digest")?,
                    media_type: row.text("media_type")?,
                    size: row.int("size")? as u64,
                    artifact_type: row.opt_text("artifact_type")?,
                    annotations: row.opt_text("annotations")?,
                })
            })
            .collect()
    }

    async fn lock_digest(&self, d: &Digest) -> Result<Option<Box<dyn DigestLease>>, MetaError> {
        self.backend.lock_digest(d).await
    }
}

#[async_trait]
impl<B: Backend> UploadStore for SqlMeta<B> {
    async fn create_upload(&self, s: &UploadSession, caps: UploadCaps) -> Result<Result<(), UploadCap>, MetaError> {
        let mut tx = self.begin().await?;
        // Until commit, no other create (in any process) for this owner, then this repository,
        // counts or inserts: each count sees every session recorded before it, so the caps
        // hold exactly. Owner before repository, so two creates never wait in a cycle.
        B::serialise(&mut tx, LockClass::UploadOwner, &s.owner).await?;
        B::serialise(&mut tx, LockClass::UploadRepository, s.repo.as_str()).await?;
        let open = sql::<B::Db>(records::OPEN_UPLOADS)
            .bind(&s.owner)
            .bind(i64::from(caps.per_owner))
            .bind(s.repo.as_str())
            .bind(i64::from(caps.per_repository))
            .fetch_one(&mut tx)
            .await?;
        if let Some(cap) = upload_cap_reached(&open, caps)? {
            return Ok(Err(cap));
        }
        sql::<B::Db>(records::INSERT_UPLOAD)
            .bind(s.id.as_str())
            .bind(s.repo.as_str())
            .bind(&s.owner)
            .bind(s.offset as i64)
            .bind(s.algorithm.as_str())
            .bind(&s.hash_state)
            .bind(s.started_at)
            .bind(now())
            .execute(&mut tx)
            .await?;
        commit(tx).await?;
        Ok(Ok(()))
    }

    async fn upload(&self, id: &UploadId) -> Result<Option<UploadSession>, MetaError> {
        // Through the writer: the answer must include the last advance of any request.
        let row =
            sql::<B::Db>("SELECT * FROM uploads WHERE id = $1").bind(id.as_str()).fetch_optional(self.backend.writer());
        row.await?.as_ref().map(session).transpose()
    }

    async fn advance_upload(&self, s: &UploadSession, from_offset: u64) -> Result<(), MetaError> {
        let n = sql::<B::Db>(
            "UPDATE uploads SET \"offset\" = $1, hash_state = $2, updated_at = $3 WHERE id = $4 AND \"offset\" = $5",
        )
        .bind(s.offset as i64)
        .bind(&s.hash_state)
        .bind(now())
        .bind(s.id.as_str())
        .bind(from_offset as i64)
        .execute(self.backend.writer())
        .await?;
        if n == 0 {
            return Err(MetaError::Conflict);
        }
        Ok(())
    }

    async fn claim_upload(
        &self,
        id: &UploadId,
        offset: u64,
        holder: &str,
        until: i64,
        now: i64,
    ) -> Result<bool, MetaError> {
        let n = sql::<B::Db>(
            "UPDATE uploads SET claim_holder = $1, claim_until = $2
              WHERE id = $3 AND \"offset\" = $4 AND (claim_holder IS NULL OR claim_holder = $1 OR claim_until <= $5)",
        )
        .bind(holder)
        .bind(until)
        .bind(id.as_str())
        .bind(offset as i64)
        .bind(now)
        .execute(self.backend.writer())
        .await?;
        Ok(n > 0)
    }

    async fn renew_upload_claim(&self, id: &UploadId, holder: &str, until: i64) -> Result<bool, MetaError> {
        let n = sql::<B::Db>("UPDATE uploads SET claim_until = $1 WHERE id = $2 AND claim_holder = $3")
            .bind(until)
            .bind(id.as_str())
            .bind(holder)
            .execute(self.backend.writer())
            .await?;
        Ok(n > 0)
    }

    async fn release_upload(&self, id: &UploadId, holder: &str) -> Result<(), MetaError> {
        sql::<B::Db>("UPDATE uploads SET claim_holder = NULL, claim_until = 0 WHERE id = $1 AND claim_holder = $2")
            .bind(id.as_str())
            .bind(holder)
            .execute(self.backend.writer())
            .await?;
        Ok(())
    }

    async fn drop_upload_claims(&self) -> Result<u64, MetaError> {
        sql::<B::Db>("UPDATE uploads SET claim_holder = NULL, claim_until = 0 WHERE claim_holder IS NOT NULL")
            .execute(self.backend.writer())
            .await
    }

    async fn complete_upload(&self, id: &UploadId, repo: &RepoName, d: &Digest, size: u64) -> Result<(), MetaError> {
        let mut tx = self.begin().await?;
        sql::<B::Db>("DELETE FROM uploads WHERE id = $1").bind(id.as_str()).execute(&mut tx).await?;
        link(&mut tx, repo, d, size).await?;
        commit(tx).await
    }

    async fn delete_upload(&self, id: &UploadId) -> Result<bool, MetaError> {
        let n = sql::<B::Db>("DELETE FROM uploads WHERE id = $1").bind(id.as_str()).execute(self.backend.writer());
        Ok(n.await? > 0)
    }

    async fn expire_uploads(&self, idle_since: i64, limit: u32) -> Result<Vec<UploadId>, MetaError> {
        let rows = sql::<B::Db>(
            "DELETE FROM uploads WHERE updated_at < $1
               AND id IN (SELECT id FROM uploads WHERE updated_at < $1 LIMIT $2)
             RETURNING id",
        )
        .bind(idle_since)
        .bind(i64::from(limit))
        .fetch_all(self.backend.writer())
        .await?;
        rows.iter().map(|r| UploadId::parse(&r.text("id")?).ok_or_else(|| bad("upload id"))).collect()
    }
}

#[async_trait]
impl<B: Backend> MaintenanceStore for SqlMeta<B> {
    async fn untagged_manifests(&self, created_before: i64) -> Result<Vec<(String, Digest)>, MetaError> {
        let rows =
            sql::<B::Db>(records::UNTAGGED_MANIFESTS).bind(created_before).fetch_all(self.backend.reader()).await?;
        rows.iter()
            .map(|r| Ok((r.text("name")?, Digest::parse(&r.text("digest")?).map_err(|_| bad("manifest digest"))?)))
            .collect()
    }

    async fn delete_untagged_manifest(&self, repo: &RepoName, d: &Digest) -> Result<bool, MetaError> {
        let mut tx = self.begin().await?;
        let Some(repo_id) = repo_id(&mut tx, B::DIALECT.lock_repo, repo).await? else { return Ok(false) };
        let digest = d.to_string();
        refuse_if_locked(&mut tx, first_lock!("FALSE"), repo_id, "").await?;
        let deleted =
            sql::<B::Db>(records::DELETE_UNTAGGED_MANIFEST).bind(repo_id).bind(&digest).execute(&mut tx).await?;
        if deleted > 0 {
            sql::<B::Db>(records::DELETE_MANIFEST_REFS).bind(repo_id).bind(&digest).execute(&mut tx).await?;
        }
        let committed = commit(tx).await;
        self.invalidate();
        committed?;
        Ok(deleted > 0)
    }

    async fn drop_unreferenced_links(&self, linked_before: i64, dry_run: bool) -> Result<u64, MetaError> {
        self.backend.drop_unreferenced_links(linked_before, dry_run).await
    }

    async fn unused_blobs(&self, created_before: i64) -> Result<Vec<(Digest, u64)>, MetaError> {
        let rows = sql::<B::Db>(
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
        .fetch_all(self.backend.reader())
        .await?;
        sized(&rows)
    }

    async fn drop_unused_blob(&self, d: &Digest) -> Result<bool, MetaError> {
        let n = sql::<B::Db>(
            "DELETE FROM blobs WHERE digest = $1
               AND NOT EXISTS (SELECT 1 FROM manifest_refs r WHERE r.ref_digest = blobs.digest)
               AND NOT EXISTS (SELECT 1 FROM repo_blobs l WHERE l.digest = blobs.digest)",
        )
        .bind(d.to_string())
        .execute(self.backend.writer())
        .await?;
        Ok(n > 0)
    }

    async fn all_times(&self) -> Result<Vec<(String, Dated, i64)>, MetaError> {
        let rows = sql::<B::Db>(records::ALL_TIMES).fetch_all(self.backend.reader()).await?;
        rows.iter().map(records::dated).collect()
    }

    async fn set_time(&self, repo: &RepoName, what: &Dated, at: i64) -> Result<bool, MetaError> {
        let (statement, key) = records::set_time(what);
        let mut q = sql::<B::Db>(statement).bind(repo.as_str()).bind(at);
        if let Some(key) = key {
            q = q.bind(key);
        }
        Ok(q.execute(self.backend.writer()).await? > 0)
    }

    async fn all_blobs(&self) -> Result<Vec<(Digest, u64)>, MetaError> {
        sized(&sql::<B::Db>("SELECT digest, size FROM blobs ORDER BY digest").fetch_all(self.backend.reader()).await?)
    }

    async fn all_manifests(&self) -> Result<Vec<(String, ManifestRecord)>, MetaError> {
        const SQL: &str = concat!(
            "SELECT r.name AS repo, ",
            manifest_columns!(),
            " FROM manifests m JOIN repositories r ON r.id = m.repo_id ORDER BY r.name, m.digest"
        );
        let rows = sql::<B::Db>(SQL).fetch_all(self.backend.reader()).await?;
        rows.iter().map(|r| Ok((r.text("repo")?, manifest(r)?))).collect()
    }
}

/// Commits `tx`.
pub(crate) async fn commit<D: crate::sql::Sql>(tx: Tx<D>) -> Result<(), MetaError> {
    tx.commit().await.map_err(records::db)
}
