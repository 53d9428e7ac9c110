//! berth-meta: implementations of [`berth_core::MetadataStore`].
//!
//! Dependency rule: depends on `berth-core` only. SQL is checked at run time (`sqlx::query`),
//! with one migration list per backend, so SQLite and PostgreSQL can share the trait tests in
//! [`testsuite`].

mod cache;
mod migrations;
mod pg_gc;
mod pg_identity;
mod pg_tokens;
pub mod postgres;
mod records;
pub mod sqlite;
mod sqlite_identity;
mod sqlite_tokens;
pub mod testsuite;

pub use postgres::PgMeta;
pub use sqlite::SqliteMeta;
