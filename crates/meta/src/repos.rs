//! Statements inside a write transaction that several operations share: finding or creating
//! a repository, linking a blob, and the checks that refuse a removal.

use crate::records::{Columns, now};
use crate::sql::{Sql, sql};
use berth_core::{Digest, MetaError, RepoName};
use sqlx::Transaction;

/// A write transaction on database `D`.
pub(crate) type Tx<D> = Transaction<'static, D>;

/// The `id` column of the row `sql` (binding `repo` as `$1`) finds, if any.
pub(crate) async fn repo_id<D: Sql>(
    tx: &mut Tx<D>,
    statement: &'static str,
    repo: &RepoName,
) -> Result<Option<i64>, MetaError> {
    let row = sql::<D>(statement).bind(repo.as_str()).fetch_optional(tx).await?;
    row.map(|r| r.int("id")).transpose()
}

/// `MetaError::Locked` if the `first_lock!` query `sql` finds a lock in repository `repo_id`.
pub(crate) async fn refuse_if_locked<D: Sql>(
    tx: &mut Tx<D>,
    statement: &'static str,
    repo_id: i64,
    arg: &str,
) -> Result<(), MetaError> {
    let found = sql::<D>(statement).bind(repo_id).bind(arg).fetch_optional(tx).await?;
    found.map_or(Ok(()), |row| Err(MetaError::Locked(row.text("what")?)))
}

/// `MetaError::InUse` if a tag of repository `repo_id` reaches `digest` through a manifest
/// ([`crate::records::TAG_REACHING`]).
async fn refuse_if_reached<D: Sql>(tx: &mut Tx<D>, repo_id: i64, digest: &str) -> Result<(), MetaError> {
    let found = sql::<D>(crate::records::TAG_REACHING).bind(repo_id).bind(digest).fetch_optional(tx).await?;
    found.map_or(Ok(()), |row| Err(MetaError::InUse(row.text("what")?)))
}

/// Refuses to remove `digest` (a manifest or a blob link) from repository `repo_id`: a lock
/// on the repository or on a tag reaching it (`MetaError::Locked`) forbids it, and so does a
/// tag reaching it through a manifest (`MetaError::InUse`).
pub(crate) async fn refuse_removal<D: Sql>(tx: &mut Tx<D>, repo_id: i64, digest: &str) -> Result<(), MetaError> {
    refuse_if_locked(tx, crate::records::LOCK_REACHING, repo_id, digest).await?;
    refuse_if_reached(tx, repo_id, digest).await
}

/// `repo`'s id, recording the repository if new. On PostgreSQL the upsert also locks its row.
pub(crate) async fn ensure_repo<D: Sql>(tx: &mut Tx<D>, repo: &RepoName) -> Result<i64, MetaError> {
    let row = sql::<D>(
        "INSERT INTO repositories (name, created_at) VALUES ($1, $2)
         ON CONFLICT(name) DO UPDATE SET name = excluded.name RETURNING id",
    )
    .bind(repo.as_str())
    .bind(now())
    .fetch_one(tx)
    .await?;
    row.int("id")
}

/// Records blob `d` of `size` bytes and links it into `repo` (now, for the grace period).
pub(crate) async fn link<D: Sql>(tx: &mut Tx<D>, repo: &RepoName, d: &Digest, size: u64) -> Result<(), MetaError> {
    sql::<D>("INSERT INTO blobs (digest, size, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
        .bind(d.to_string())
        .bind(size as i64)
        .bind(now())
        .execute(&mut *tx)
        .await?;
    let repo_id = ensure_repo(tx, repo).await?;
    sql::<D>(
        "INSERT INTO repo_blobs (repo_id, digest, linked_at) VALUES ($1, $2, $3)
         ON CONFLICT (repo_id, digest) DO UPDATE SET linked_at = excluded.linked_at",
    )
    .bind(repo_id)
    .bind(d.to_string())
    .bind(now())
    .execute(tx)
    .await?;
    Ok(())
}
