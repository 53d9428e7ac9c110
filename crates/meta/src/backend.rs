//! The seam between the one SQL implementation ([`SqlMeta`]) and the two databases under it:
//! only what truly differs. The pools (SQLite: one writer and a read-only pool; PostgreSQL:
//! one bounded pool for both), the statements whose spelling differs ([`Dialect`]), locks
//! (PostgreSQL's advisory locks, which SQLite needs not: one writer connection and the data
//! directory's lock already serialise), and the in-process manifest cache (SQLite only).

use crate::cache::ManifestCache;
use crate::sql::Sql;
use berth_core::{Digest, DigestLease, MetaError, Page, RepoName};
use sqlx::{Pool, Transaction};
use std::future::Future;

/// Metadata in an SQL database: [`crate::SqliteMeta`] or [`crate::PgMeta`].
pub struct SqlMeta<B> {
    pub(crate) backend: B,
}

/// A database the metadata store runs on.
pub trait Backend: Send + Sync + 'static {
    /// The sqlx database.
    type Db: Sql;

    /// Statements spelled differently here.
    const DIALECT: Dialect;

    /// Connections for reads that need not see a write committed a moment ago by this process.
    fn reader(&self) -> &Pool<Self::Db>;

    /// Connections for writes, and for reads that must see every committed write (a session's
    /// last advance, a credential just reset).
    fn writer(&self) -> &Pool<Self::Db>;

    /// The manifest cache, where one process owns the database.
    fn cache(&self) -> Option<&ManifestCache> {
        None
    }

    /// Inside `tx`, waits until no other process creates a principal or upload session, or
    /// changes a cache rule or credential set, with the same key class and key: nothing on
    /// SQLite (its one writer connection serialises every write), a transaction-scoped
    /// advisory lock on PostgreSQL. `class` names the kind of key; `key` is hashed.
    fn serialise<'a>(
        tx: &'a mut Transaction<'static, Self::Db>,
        class: LockClass,
        key: &'a str,
    ) -> impl Future<Output = Result<(), MetaError>> + Send + 'a;

    /// A lock on `digest` for every process sharing the database, if there can be several.
    fn lock_digest<'a>(
        &'a self,
        digest: &'a Digest,
    ) -> impl Future<Output = Result<Option<Box<dyn DigestLease>>, MetaError>> + Send + 'a;

    /// The tags of `repo` after `page.last`, at most `page.n`; `None` if `repo` is unknown
    /// (see `ContentStore::list_tags`). PostgreSQL answers in one row holding one array, so
    /// a 10,000-tag list is one message; SQLite, local, reads rows.
    fn list_tags<'a>(
        &'a self,
        repo: &'a RepoName,
        page: &'a Page,
    ) -> impl Future<Output = Result<Option<Vec<String>>, MetaError>> + Send + 'a;

    /// Step 1 of garbage collection: drops the links no manifest of their repository
    /// references, linked before `linked_before` (with `dry_run`, only counts them).
    fn drop_unreferenced_links<'a>(
        &'a self,
        linked_before: i64,
        dry_run: bool,
    ) -> impl Future<Output = Result<u64, MetaError>> + Send + 'a;
}

/// What [`Backend::serialise`] serialises.
#[derive(Debug, Clone, Copy)]
pub enum LockClass {
    /// Creating the first principal (the whole key space is one key).
    Bootstrap,
    /// New upload sessions of one owner.
    UploadOwner,
    /// New upload sessions in one repository.
    UploadRepository,
    /// Changes to cache rules, and deletions of the credential sets they use (the whole key
    /// space is one key: a rule is checked against all the others).
    CacheRules,
}

/// The statements whose spelling differs between the databases, each written side by side
/// in [`crate::dialect`] with the reason.
pub struct Dialect {
    /// `repo`'s id (`$1`), its row locked for the transaction where rows lock.
    pub lock_repo: &'static str,
    /// `repo`'s id (`$1`) while it is known, its row locked where rows lock.
    pub lock_known_repo: &'static str,
    /// Whether repository `$1` (by id) links blob `$2` (`one`), the link held until commit
    /// where rows lock.
    pub share_link: &'static str,
    /// The `LIMIT` that means none: -1 on SQLite, NULL on PostgreSQL.
    pub no_limit: Option<i64>,
}
