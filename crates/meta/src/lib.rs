//! berth-meta: implementations of [`berth_core::MetadataStore`].
//!
//! Dependency rule: depends on `berth-core` only. SQL is checked at run time (`sqlx::query`).
//! Every statement is written once, for both databases (`$N` parameters, which SQLite reads
//! too), in one implementation, [`SqlMeta`], over a small backend seam that supplies only what
//! differs: pools and transactions, row-lock clauses, advisory versus process locks, the
//! in-process manifest cache, and migrations (one list per backend). Both backends pass the
//! trait tests in [`testsuite`].

mod backend;
mod browse;
mod cache;
mod cache_store;
mod dialect;
mod federation;
mod identities;
mod manifest_put;
mod migrations;
mod pg_gc;
pub mod postgres;
mod records;
mod repos;
mod sessions;
mod sql;
pub mod sqlite;
mod store;
pub mod testsuite;
mod tokens;
mod usage;

pub use backend::SqlMeta;
pub use postgres::{PgCluster, PgMeta};
pub use sqlite::{SqliteFile, SqliteMeta};
