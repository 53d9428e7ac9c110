//! The one SQL path over both databases: a statement is written once (with `$N` parameters,
//! which SQLite reads as numbered too), bound with values either database encodes, and run on
//! a pool or inside a transaction of whichever backend holds it.
//!
//! Why not `sqlx::Any`: it converts every row and parameter at run time and drops SQLite's
//! connection pragmas. Why not plain generic sqlx code: its executor and codec bounds are
//! higher-ranked bounds on types other than the database, which Rust does not carry from a
//! trait to its users, so every function would repeat them. [`Sql`] instead is implemented
//! once per database (by one macro), and generic code needs only `D: Sql`.

use crate::records::{Columns, db};
use berth_core::MetaError;
use sqlx::query::Query;
use sqlx::{Database, Encode, Pool, Postgres, SqlSafeStr, Sqlite, Transaction, Type};
use std::future::Future;

/// A value both databases encode: the parameter types the schema uses.
pub trait Arg<'q>: Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres> + Send {}

impl<'q, T> Arg<'q> for T where T: Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres> + Send {}

/// Where a statement runs: on a pool (any free connection) or on one connection, such as a
/// transaction's.
pub enum On<'a, D: Database> {
    Pool(&'a Pool<D>),
    Conn(&'a mut D::Connection),
}

impl<'a, D: Database> From<&'a Pool<D>> for On<'a, D> {
    fn from(pool: &'a Pool<D>) -> Self {
        On::Pool(pool)
    }
}

impl<'a, D: Database> From<&'a mut Transaction<'static, D>> for On<'a, D> {
    fn from(tx: &'a mut Transaction<'static, D>) -> Self {
        On::Conn(&mut **tx)
    }
}

type Q<D> = Query<'static, D, <D as Database>::Arguments>;

/// A database the store runs on: how a bound statement is executed there. Rows are read
/// through [`Columns`].
pub trait Sql: Database<Row: Columns> {
    /// `q` with `value` bound as its next parameter.
    fn bind<'t, T: Arg<'t>>(q: Q<Self>, value: T) -> Q<Self>;
    /// Runs `q`; the number of rows it changed.
    fn execute<'a>(q: Q<Self>, on: On<'a, Self>) -> impl Future<Output = Result<u64, MetaError>> + Send + 'a;
    /// Every row `q` answers.
    fn fetch_all<'a>(
        q: Q<Self>,
        on: On<'a, Self>,
    ) -> impl Future<Output = Result<Vec<Self::Row>, MetaError>> + Send + 'a;
    /// The first row `q` answers, if any.
    fn fetch_optional<'a>(
        q: Q<Self>,
        on: On<'a, Self>,
    ) -> impl Future<Output = Result<Option<Self::Row>, MetaError>> + Send + 'a;
}

macro_rules! sql_on {
    ($db:ty) => {
        impl Sql for $db {
            fn bind<'t, T: Arg<'t>>(q: Q<Self>, value: T) -> Q<Self> {
                q.bind(value)
            }
            fn execute<'a>(q: Q<Self>, on: On<'a, Self>) -> impl Future<Output = Result<u64, MetaError>> + Send + 'a {
                async move {
                    let done = match on {
                        On::Pool(p) => q.execute(p).await,
                        On::Conn(c) => q.execute(c).await,
                    };
                    done.map(|r| r.rows_affected()).map_err(db)
                }
            }
            fn fetch_all<'a>(
                q: Q<Self>,
                on: On<'a, Self>,
            ) -> impl Future<Output = Result<Vec<Self::Row>, MetaError>> + Send + 'a {
                async move {
                    match on {
                        On::Pool(p) => q.fetch_all(p).await,
                        On::Conn(c) => q.fetch_all(c).await,
                    }
                    .map_err(db)
                }
            }
            fn fetch_optional<'a>(
                q: Q<Self>,
                on: On<'a, Self>,
            ) -> impl Future<Output = Result<Option<Self::Row>, MetaError>> + Send + 'a {
                async move {
                    match on {
                        On::Pool(p) => q.fetch_optional(p).await,
                        On::Conn(c) => q.fetch_optional(c).await,
                    }
                    .map_err(db)
                }
            }
        }
    };
}

sql_on!(Sqlite);
sql_on!(Postgres);

/// A statement for database `D`, being bound.
pub(crate) struct Stmt<D: Sql>(Q<D>);

/// Statement `sql` for database `D`.
pub(crate) fn sql<D: Sql>(sql: impl SqlSafeStr) -> Stmt<D> {
    Stmt(sqlx::query(sql))
}

impl<D: Sql> Stmt<D> {
    /// Binds `value` as the next parameter.
    pub(crate) fn bind<'t, T: Arg<'t>>(self, value: T) -> Self {
        Stmt(D::bind(self.0, value))
    }

    /// Runs the statement; the number of rows it changed.
    pub(crate) fn execute<'a>(
        self,
        on: impl Into<On<'a, D>>,
    ) -> impl Future<Output = Result<u64, MetaError>> + Send + 'a {
        D::execute(self.0, on.into())
    }

    /// Every row it answers.
    pub(crate) fn fetch_all<'a>(
        self,
        on: impl Into<On<'a, D>>,
    ) -> impl Future<Output = Result<Vec<D::Row>, MetaError>> + Send + 'a {
        D::fetch_all(self.0, on.into())
    }

    /// Its first row, if any.
    pub(crate) fn fetch_optional<'a>(
        self,
        on: impl Into<On<'a, D>>,
    ) -> impl Future<Output = Result<Option<D::Row>, MetaError>> + Send + 'a {
        D::fetch_optional(self.0, on.into())
    }

    /// Its first row; the error sqlx gives if there is none.
    pub(crate) fn fetch_one<'a>(
        self,
        on: impl Into<On<'a, D>>,
    ) -> impl Future<Output = Result<D::Row, MetaError>> + Send + 'a {
        let row = D::fetch_optional(self.0, on.into());
        async move { row.await?.ok_or_else(|| db(sqlx::Error::RowNotFound)) }
    }
}
