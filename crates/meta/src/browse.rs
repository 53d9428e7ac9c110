//! [`BrowseStore`] once for both databases: the web UI's reads of repositories, tags and
//! manifests, each one statement whatever the page holds (names and digests bound as one
//! parameter list), so a page's cost does not grow with the repository behind it.

use crate::backend::{Backend, SqlMeta};
use crate::records::{Columns, digest, locks, repo_is_known};
use crate::sql::sql;
use crate::store::texts;
use async_trait::async_trait;
use berth_core::browse::{BrowseStore, RepoSummary, TagRow};
use berth_core::{Digest, MetaError, RepoName};
use bytes::Bytes;
use sqlx::AssertSqlSafe;
use std::collections::BTreeMap;

/// At most this many names or digests are bound in one statement.
pub const MAX_LIST: usize = 1000;

/// `$from, $from+1, …` for `n` parameters.
fn params(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `s` as a LIKE pattern matching itself anywhere, with `\` escaping.
pub(crate) fn contains_pattern(s: &str) -> String {
    format!("%{}%", like_literal(s))
}

/// `s` as LIKE pattern text matching exactly itself, with `\` escaping.
pub(crate) fn like_literal(s: &str) -> String {
    let mut p = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p
}

fn count(row: &impl Columns, col: &str) -> Result<u64, MetaError> {
    Ok(row.int(col)?.max(0) as u64)
}

#[async_trait]
impl<B: Backend> BrowseStore for SqlMeta<B> {
    async fn repo_names(
        &self,
        after: Option<&str>,
        contains: Option<&str>,
        limit: u32,
    ) -> Result<Vec<String>, MetaError> {
        const SQL: &str = concat!(
            "SELECT name FROM repositories r WHERE name > $1 AND name LIKE $2 ESCAPE '\\' AND ",
            repo_is_known!(),
            " ORDER BY name LIMIT $3"
        );
        let rows = sql::<B::Db>(SQL)
            .bind(after.unwrap_or(""))
            .bind(contains_pattern(contains.unwrap_or("")))
            .bind(i64::from(limit))
            .fetch_all(self.backend.reader())
            .await?;
        texts(&rows, "name")
    }

    async fn repo_summaries(&self, names: &[String]) -> Result<Vec<RepoSummary>, MetaError> {
        let names = &names[..names.len().min(MAX_LIST)];
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let list = params(1, names.len());
        let counts = format!(
            "SELECT r.name, r.created_at,
                (SELECT COUNT(*) FROM tags t WHERE t.repo_id = r.id) AS tag_count,
                (SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id) AS manifest_count,
                (SELECT MAX(t.updated_at) FROM tags t WHERE t.repo_id = r.id) AS last_tag,
                (SELECT MAX(m.created_at) FROM manifests m WHERE m.repo_id = r.id) AS last_manifest
             FROM repositories r WHERE r.name IN ({list}) AND {known} ORDER BY r.name",
            known = repo_is_known!()
        );
        let storage = format!(
            "SELECT r.name,
                CAST(COALESCE(SUM(CASE WHEN s.shared THEN 0 ELSE s.size END), 0) AS BIGINT) AS unique_bytes,
                CAST(COALESCE(SUM(CASE WHEN s.shared THEN s.size ELSE 0 END), 0) AS BIGINT) AS shared_bytes
             FROM repositories r JOIN (
                SELECT rb.repo_id, b.size, EXISTS (
                    SELECT 1 FROM repo_blobs o WHERE o.digest = rb.digest AND o.repo_id <> rb.repo_id
                ) AS shared
                FROM repo_blobs rb JOIN blobs b ON b.digest = rb.digest
             ) s ON s.repo_id = r.id
             WHERE r.name IN ({list}) GROUP BY r.name"
        );
        let mut q = sql::<B::Db>(AssertSqlSafe(counts));
        let mut s = sql::<B::Db>(AssertSqlSafe(storage));
        for n in names {
            q = q.bind(n.as_str());
            s = s.bind(n.as_str());
        }
        let rows = q.fetch_all(self.backend.reader()).await?;
        let mut bytes = BTreeMap::new();
        for row in s.fetch_all(self.backend.reader()).await? {
            bytes.insert(row.text("name")?, (count(&row, "unique_bytes")?, count(&row, "shared_bytes")?));
        }
        rows.iter()
            .map(|row| {
                let name = row.text("name")?;
                let (unique_bytes, shared_bytes) = bytes.get(&name).copied().unwrap_or_default();
                let last_push = match (row.opt_int("last_tag")?, row.opt_int("last_manifest")?) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                Ok(RepoSummary {
                    created_at: row.int("created_at")?,
                    tag_count: count(row, "tag_count")?,
                    manifest_count: count(row, "manifest_count")?,
                    last_push,
                    unique_bytes,
                    shared_bytes,
                    name,
                })
            })
            .collect()
    }

    async fn tag_rows(
        &self,
        repo: &RepoName,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Option<Vec<TagRow>>, MetaError> {
        const REPO: &str = concat!("SELECT id FROM repositories r WHERE name = $1 AND ", repo_is_known!());
        // The page of tags is cut before the join, so a manifest is read for each tag shown
        // only, whatever plan the database picks for the tags (PostgreSQL, before it has
        // analysed a repository just pushed, may read its every tag and sort them).
        const SQL: &str = "SELECT t.name, t.digest, t.updated_at, t.write_enabled, t.delete_enabled,
                m.media_type, m.content
             FROM (SELECT repo_id, name, digest, updated_at, write_enabled, delete_enabled FROM tags
                   WHERE repo_id = $1 AND name > $2 ORDER BY name LIMIT $3) t
             JOIN manifests m ON m.repo_id = t.repo_id AND m.digest = t.digest
             ORDER BY t.name";
        let Some(row) = sql::<B::Db>(REPO).bind(repo.as_str()).fetch_optional(self.backend.reader()).await? else {
            return Ok(None);
        };
        let rows = sql::<B::Db>(SQL)
            .bind(row.int("id")?)
            .bind(after.unwrap_or(""))
            .bind(i64::from(limit))
            .fetch_all(self.backend.reader())
            .await?;
        let rows = rows.iter().map(|r| {
            Ok(TagRow {
                tag: r.text("name")?,
                digest: digest(r, "digest")?,
                updated_at: r.int("updated_at")?,
                locks: locks(r)?,
                media_type: r.text("media_type")?,
                manifest: Bytes::from(r.bytes("content")?),
            })
        });
        rows.collect::<Result<Vec<_>, MetaError>>().map(Some)
    }

    async fn tags_naming(&self, repo: &RepoName, d: &Digest, limit: u32) -> Result<Vec<String>, MetaError> {
        const SQL: &str = "SELECT t.name FROM tags t JOIN repositories r ON r.id = t.repo_id
             WHERE r.name = $1 AND t.digest = $2 ORDER BY t.name LIMIT $3";
        let rows = sql::<B::Db>(SQL)
            .bind(repo.as_str())
            .bind(d.to_string())
            .bind(i64::from(limit))
            .fetch_all(self.backend.reader())
            .await?;
        texts(&rows, "name")
    }

    async fn manifests_of(
        &self,
        repo: &RepoName,
        digests: &[Digest],
    ) -> Result<Vec<(Digest, String, Bytes)>, MetaError> {
        let digests = &digests[..digests.len().min(MAX_LIST)];
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let q = format!(
            "SELECT m.digest, m.media_type, m.content FROM manifests m JOIN repositories r ON r.id = m.repo_id
             WHERE r.name = $1 AND m.digest IN ({}) ORDER BY m.digest",
            params(2, digests.len())
        );
        let mut q = sql::<B::Db>(AssertSqlSafe(q)).bind(repo.as_str());
        for d in digests {
            q = q.bind(d.to_string());
        }
        let rows = q.fetch_all(self.backend.reader()).await?;
        rows.iter()
            .map(|r| Ok((digest(r, "digest")?, r.text("media_type")?, Bytes::from(r.bytes("content")?))))
            .collect()
    }
}
