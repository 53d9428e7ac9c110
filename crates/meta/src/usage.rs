//! [`UsageStore`] over either database: one statement of counts.

use crate::backend::{Backend, SqlMeta};
use crate::records::{Columns, repo_is_known};
use crate::sql::sql;
use async_trait::async_trait;
use berth_core::MetaError;
use berth_core::usage::{Usage, UsageStore};

#[async_trait]
impl<B: Backend> UsageStore for SqlMeta<B> {
    async fn usage(&self) -> Result<Usage, MetaError> {
        const SQL: &str = concat!(
            "SELECT (SELECT COUNT(*) FROM repositories r WHERE ",
            repo_is_known!(),
            ") AS repositories,
                (SELECT COUNT(*) FROM tags) AS tags,
                (SELECT COUNT(*) FROM manifests) AS manifests,
                (SELECT COUNT(*) FROM blobs) AS blobs,
                (SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs) AS blob_bytes,
                (SELECT COUNT(*) FROM uploads) AS uploads"
        );
        let Some(row) = sql::<B::Db>(SQL).fetch_optional(self.backend.reader()).await? else {
            return Ok(Usage::default());
        };
        let n = |col: &str| -> Result<u64, MetaError> { Ok(row.int(col)?.max(0) as u64) };
        Ok(Usage {
            repositories: n("repositories")?,
            tags: n("tags")?,
            manifests: n("manifests")?,
            blobs: n("blobs")?,
            blob_bytes: n("blob_bytes")?,
            uploads: n("uploads")?,
        })
    }
}
