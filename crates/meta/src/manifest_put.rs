//! Storing a manifest and pointing tags at it, once for both ways a manifest arrives: pushed
//! by a client (`ContentStore::put_manifest`, every reference present) or fetched upstream
//! by the pull-through cache (`CacheStore::put_cached_manifest`, references fetched later).

use crate::backend::{Backend, SqlMeta};
use crate::records::{self, Columns, now};
use crate::repos::{Tx, ensure_repo};
use crate::sql::sql;
use crate::store::commit;
use berth_core::{Digest, ManifestRecord, ManifestRefs, MetaError, RepoName, Tag};

/// How a manifest arrived, which decides what its references must be and what its tags record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Arrival {
    /// Pushed: every blob and child must be present; a foreign layer is recorded only when
    /// the repository holds it; its tags were never compared with upstream.
    Pushed,
    /// Fetched upstream and compared with it at `checked_at` (seconds): references need not
    /// be present (those present are held as a push holds them) and are all recorded, so
    /// garbage collection keeps them once they arrive.
    Cached {
        /// When its tags were last compared with upstream.
        checked_at: i64,
    },
}

impl<B: Backend> SqlMeta<B> {
    /// In one transaction: refuses a write-disabled repository (`MetaError::Locked`), checks
    /// the references as `arrival` asks (`MetaError::MissingReferences`), stores `m` with its
    /// references and points `tags` at it, refusing to move a write-disabled tag elsewhere
    /// (`MetaError::Locked`; naming the same manifest again is no change). Nothing is written
    /// on a refusal.
    pub(crate) async fn store_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        refs: &ManifestRefs,
        tags: &[Tag],
        arrival: Arrival,
    ) -> Result<(), MetaError> {
        let mut tx = self.begin().await?;
        // The upsert locks the repository row (PostgreSQL): lock changes and deletes wait.
        let repo_id = ensure_repo(&mut tx, repo).await?;
        let row = sql::<B::Db>("SELECT write_enabled FROM repositories WHERE id = $1")
            .bind(repo_id)
            .fetch_one(&mut tx)
            .await?;
        if !row.flag("write_enabled")? {
            return Err(MetaError::Locked(format!("repository {repo}")));
        }
        let missing = absent_references::<B>(&mut tx, repo_id, refs).await?;
        let checked_at = match arrival {
            Arrival::Pushed if !missing.is_empty() => return Err(MetaError::MissingReferences(missing)),
            Arrival::Pushed => None,
            Arrival::Cached { checked_at } => Some(checked_at),
        };
        let digest = m.digest.to_string();
        sql::<B::Db>(
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
        .execute(&mut tx)
        .await?;
        // Foreign layers a pushed manifest lists are recorded when the repository holds them
        // (kept like any other; absent ones may stay so); a cached manifest records them all.
        let foreign = match arrival {
            Arrival::Pushed => records::INSERT_FOREIGN_REF,
            Arrival::Cached { .. } => records::INSERT_REF,
        };
        for (list, is_manifest, statement) in [
            (&refs.blobs, 0i64, records::INSERT_REF),
            (&refs.children, 1, records::INSERT_REF),
            (&refs.foreign, 0, foreign),
        ] {
            for d in list {
                sql::<B::Db>(statement)
                    .bind(repo_id)
                    .bind(&digest)
                    .bind(d.to_string())
                    .bind(is_manifest)
                    .execute(&mut tx)
                    .await?;
            }
        }
        for tag in tags {
            point_tag::<B>(&mut tx, repo_id, tag, &digest, checked_at).await?;
        }
        let committed = commit(tx).await;
        self.invalidate();
        committed
    }
}

/// The blobs of `refs` repository `repo_id` does not link and the child manifests it does not
/// hold. The links it does hold stay held until commit where rows lock, so garbage collection
/// cannot drop a link the manifest is about to reference (a cached manifest's too: its blob
/// would have to be fetched again).
async fn absent_references<B: Backend>(
    tx: &mut Tx<B::Db>,
    repo_id: i64,
    refs: &ManifestRefs,
) -> Result<Vec<Digest>, MetaError> {
    let mut missing = Vec::new();
    for (list, check) in [
        (&refs.blobs, B::DIALECT.share_link),
        (&refs.children, "SELECT CAST(1 AS BIGINT) AS one FROM manifests WHERE repo_id = $1 AND digest = $2"),
    ] {
        for d in list {
            let found = sql::<B::Db>(check).bind(repo_id).bind(d.to_string()).fetch_optional(&mut *tx).await?;
            if found.is_none() && !missing.contains(d) {
                missing.push(d.clone());
            }
        }
    }
    Ok(missing)
}

/// Points `tag` of repository `repo_id` at manifest `digest`, recording `checked_at` (`None`
/// for a pushed tag); `MetaError::Locked` if the tag is write-disabled and names another.
async fn point_tag<B: Backend>(
    tx: &mut Tx<B::Db>,
    repo_id: i64,
    tag: &Tag,
    digest: &str,
    checked_at: Option<i64>,
) -> Result<(), MetaError> {
    let current = sql::<B::Db>("SELECT digest, write_enabled FROM tags WHERE repo_id = $1 AND name = $2")
        .bind(repo_id)
        .bind(tag.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    if let Some(row) = current
        && !row.flag("write_enabled")?
        && row.text("digest")? != digest
    {
        return Err(MetaError::Locked(format!("tag {tag}")));
    }
    sql::<B::Db>(
        "INSERT INTO tags (repo_id, name, digest, updated_at, checked_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT(repo_id, name) DO UPDATE
         SET digest = excluded.digest, updated_at = excluded.updated_at, checked_at = excluded.checked_at",
    )
    .bind(repo_id)
    .bind(tag.as_str())
    .bind(digest)
    .bind(now())
    .bind(checked_at)
    .execute(tx)
    .await?;
    Ok(())
}
