//! The statements spelled differently on SQLite and PostgreSQL, side by side. Everything else
//! is written once, in the modules that use it.
//!
//! The difference is row locking: PostgreSQL runs writers concurrently under READ COMMITTED,
//! so a transaction that checks, then changes, locks the rows it checked (`FOR UPDATE`, or
//! `FOR SHARE` for a row it only needs to stay); SQLite has one writer connection, so nothing
//! interleaves with a transaction there, and it has no row-lock clause.

use crate::backend::Dialect;
use crate::records::repo_is_known;

/// Statements for SQLite: no row locks (one writer).
pub(crate) const SQLITE: Dialect = Dialect {
    lock_repo: "SELECT id FROM repositories WHERE name = $1",
    lock_known_repo: concat!("SELECT id FROM repositories r WHERE name = $1 AND ", repo_is_known!()),
    share_link: "SELECT CAST(1 AS BIGINT) AS one FROM repo_blobs WHERE repo_id = $1 AND digest = $2",
    no_limit: Some(-1),
};

/// Statements for PostgreSQL. Every write to a repository locks its row first (ensure_repo's
/// upsert, the tag trigger's update, these `FOR UPDATE`s), so one holder's checks and changes
/// cannot interleave with another's. `FOR SHARE` on a link: garbage collection cannot drop a
/// link a manifest being put is about to use.
pub(crate) const POSTGRES: Dialect = Dialect {
    lock_repo: "SELECT id FROM repositories WHERE name = $1 FOR UPDATE",
    lock_known_repo: concat!("SELECT id FROM repositories r WHERE name = $1 AND ", repo_is_known!(), " FOR UPDATE"),
    share_link: "SELECT CAST(1 AS BIGINT) AS one FROM repo_blobs WHERE repo_id = $1 AND digest = $2 FOR SHARE",
    no_limit: None,
};
