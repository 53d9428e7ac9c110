//! Records read out of rows, once for both backends: SQLite and PostgreSQL hold the same
//! columns (text, 64-bit integers, bytes, booleans), so each mapper is written against
//! [`Columns`] and works on either row type. Also the error and clock helpers both share.

use berth_core::cache_store::{CacheRuleRecord, CredentialSetRecord};
use berth_core::federation::FederatedCredential;
use berth_core::principals::{AuditEvent, Credential, Principal, RoleAssignment};
use berth_core::roles::Role;
use berth_core::scopemap::{ScopeMap, ScopeRule, Token, TokenPassword};
use berth_core::{
    Algorithm, Dated, DeletedRepository, Digest, Locks, ManifestRecord, MetaError, RepoName, RepositoryInfo, Tag,
    TagInfo, UploadCap, UploadCaps, UploadId, UploadSession,
};
use bytes::Bytes;
use std::time::{SystemTime, UNIX_EPOCH};

/// A database failure, as the registry sees it: a row that does not decode as the schema says
/// is damage or a bug (500); everything else (connections, I/O, the server's own errors) is an
/// unavailable store (503), which a retry may cure.
pub(crate) fn db(e: sqlx::Error) -> MetaError {
    use sqlx::Error::*;
    match e {
        ColumnDecode { .. } | ColumnNotFound(_) | ColumnIndexOutOfBounds { .. } | Decode(_) | TypeNotFound { .. } => {
            MetaError::Corrupt(e.to_string())
        }
        _ => MetaError::Unavailable(e.to_string()),
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// A stored value that does not parse as what it should hold: damage, not an outage.
pub(crate) fn bad(what: &str) -> MetaError {
    MetaError::Corrupt(format!("stored {what} is unreadable"))
}

/// What a repository deletion removed, from the names its `DELETE … RETURNING` statements
/// gave, in order: tags, manifests, blob links. `None` if it removed nothing.
pub(crate) fn deleted_repository(removed: Vec<Vec<String>>) -> Option<DeletedRepository> {
    if removed.iter().all(Vec::is_empty) {
        return None;
    }
    let mut lists = removed.into_iter();
    let (mut tags, mut manifests) = (lists.next().unwrap_or_default(), lists.next().unwrap_or_default());
    tags.sort_unstable();
    manifests.sort_unstable();
    Some(DeletedRepository { manifests, tags })
}

/// The column types the schema uses, read by name from a row of either backend.
pub trait Columns {
    fn text(&self, col: &str) -> Result<String, MetaError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, MetaError>;
    fn int(&self, col: &str) -> Result<i64, MetaError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, MetaError>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, MetaError>;
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, MetaError>;
    fn flag(&self, col: &str) -> Result<bool, MetaError>;
}

macro_rules! columns {
    ($row:ty) => {
        impl Columns for $row {
            fn text(&self, col: &str) -> Result<String, MetaError> {
                sqlx::Row::try_get(self, col).map_err(db)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, MetaError> {
                sqlx::Row::try_get(self, col).map_err(db)
            }
            fn int(&self, col: &str) -> Result<i64, MetaError> {
                sqlx::Row::try_get(self, col).map_err(db)
            }
            fn opt_int(&self, col: &str) -> Result<Option<i64>, MetaError> {
                sqlx::Row::try_get(self, col).map_err(db)
            }
            fn bytes(&self, col: &str) -> Result<Vec<u8>, MetaError> {
                sqlx::Row::try_get(self, col).map_err(db)
            }
            fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, MetaError> {
                sqlx::Row::try_get(self, col).map_err(db)
            }
            fn flag(&self, col: &str) -> Result<bool, MetaError> {
                sqlx::Row::try_get(self, col).map_err(db)
            }
        }
    };
}

columns!(sqlx::sqlite::SqliteRow);
columns!(sqlx::postgres::PgRow);

pub(crate) fn digest(row: &impl Columns, col: &str) -> Result<Digest, MetaError> {
    let s = row.text(col)?;
    Digest::parse(&s).map_err(|e| MetaError::Corrupt(format!("stored digest {s:?}: {e}")))
}

fn opt_digest(row: &impl Columns, col: &str) -> Result<Option<Digest>, MetaError> {
    let s = row.opt_text(col)?;
    s.map(|s| Digest::parse(&s).map_err(|e| MetaError::Corrupt(format!("stored digest {s:?}: {e}")))).transpose()
}

/// The columns [`manifest`] reads, as `m.` of a query joining `manifests m`.
macro_rules! manifest_columns {
    () => {
        "m.digest, m.media_type, m.content, m.artifact_type, m.subject, m.annotations"
    };
}
pub(crate) use manifest_columns;

/// The condition under which repository `r` is known: it holds a manifest or a blob link
/// (see `ContentStore::list_tags`). Two primary-key probes.
macro_rules! repo_is_known {
    () => {
        "(EXISTS (SELECT 1 FROM manifests km WHERE km.repo_id = r.id)
          OR EXISTS (SELECT 1 FROM repo_blobs kb WHERE kb.repo_id = r.id))"
    };
}
pub(crate) use repo_is_known;

/// The first lock that forbids removing content of repository `$1`: the repository's own, or
/// that of a tag the filter (an SQL condition on `tags`, parameter `$2`) selects. The text
/// names it, as `MetaError::Locked` wants. The same SQL serves both backends (`$N` is a
/// numbered parameter in SQLite too).
macro_rules! first_lock {
    ($tags:literal) => {
        concat!(
            "SELECT 'repository ' || name AS what FROM repositories WHERE id = $1 AND NOT (write_enabled AND delete_enabled)
             UNION ALL
             SELECT 'tag ' || name FROM tags WHERE repo_id = $1 AND ",
            $tags,
            " AND NOT (write_enabled AND delete_enabled) LIMIT 1"
        )
    };
}
pub(crate) use first_lock;

/// The first lock that forbids removing `$2` (a manifest or blob digest) from repository `$1`:
/// a lock on the repository, or on a tag that reaches `$2`, naming it or a manifest that
/// references it directly or through any depth of indexes.
/// The first tag of repository `$1` that reaches `$2` through a manifest referencing it,
/// directly or through any depth of indexes (a tag naming `$2` itself does not count: a
/// manifest deleted by digest takes its tags along).
pub(crate) const TAG_REACHING: &str = "SELECT 'tag ' || name AS what FROM tags WHERE repo_id = $1 AND digest IN (
     WITH RECURSIVE up(d) AS (
         SELECT manifest_digest FROM manifest_refs WHERE repo_id = $1 AND ref_digest = $2
         UNION
         SELECT f.manifest_digest FROM manifest_refs f JOIN up ON f.ref_digest = up.d WHERE f.repo_id = $1)
     SELECT d FROM up) LIMIT 1";

/// Records `$3` as a reference of manifest `$2` in repository `$1` (by id), a child manifest
/// when `$4` is 1, a blob when 0.
pub(crate) const INSERT_REF: &str = "INSERT INTO manifest_refs (repo_id, manifest_digest, ref_digest, is_manifest)
     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";

/// [`INSERT_REF`] of a layer (`$4` 0) only when the repository holds it (a layer with `urls`
/// need not be present; one that is must be kept).
pub(crate) const INSERT_FOREIGN_REF: &str =
    "INSERT INTO manifest_refs (repo_id, manifest_digest, ref_digest, is_manifest)
     SELECT CAST($1 AS BIGINT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS BIGINT)
     WHERE EXISTS (SELECT 1 FROM repo_blobs WHERE repo_id = $1 AND digest = $3)
     ON CONFLICT DO NOTHING";

pub(crate) const LOCK_REACHING: &str = first_lock!(
    "(digest = $2 OR digest IN (WITH RECURSIVE up(d) AS (
         SELECT manifest_digest FROM manifest_refs WHERE repo_id = $1 AND ref_digest = $2
         UNION
         SELECT f.manifest_digest FROM manifest_refs f JOIN up ON f.ref_digest = up.d WHERE f.repo_id = $1)
     SELECT d FROM up))"
);

/// The condition on manifest `m` under which a purge may delete it: no tag names it, no index
/// of its repository lists it, it refers to no subject.
macro_rules! manifest_is_untagged {
    () => {
        "m.subject IS NULL
         AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.repo_id = m.repo_id AND t.digest = m.digest)
         AND NOT EXISTS (SELECT 1 FROM manifest_refs f
                         WHERE f.repo_id = m.repo_id AND f.ref_digest = m.digest AND f.is_manifest = 1)"
    };
}

/// Purge candidates created at or before `$1`: repository name and digest.
pub(crate) const UNTAGGED_MANIFESTS: &str = concat!(
    "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repo_id
     WHERE m.created_at <= $1 AND ",
    manifest_is_untagged!(),
    " ORDER BY r.name, m.digest"
);

/// Deletes manifest `$2` of repository `$1` (by id) if it is still a purge candidate.
pub(crate) const DELETE_UNTAGGED_MANIFEST: &str = concat!(
    "DELETE FROM manifests WHERE repo_id = $1 AND digest = $2 AND EXISTS (
       SELECT 1 FROM manifests m WHERE m.repo_id = $1 AND m.digest = $2 AND ",
    manifest_is_untagged!(),
    ")"
);

/// Deletes what manifest `$2` of repository `$1` (by id) refers to.
/// Repositories holding a blob: `$1` digest, `$2` limit.
pub(crate) const REPOSITORIES_HOLDING: &str = "SELECT r.name FROM repo_blobs rb
     JOIN repositories r ON r.id = rb.repo_id
     WHERE rb.digest = $1 ORDER BY r.name LIMIT $2";

/// The blob references recorded for a manifest: `$1` repository name, `$2` manifest digest.
pub(crate) const MANIFEST_BLOB_REFS: &str = "SELECT mr.ref_digest FROM manifest_refs mr
     JOIN repositories r ON r.id = mr.repo_id
     WHERE r.name = $1 AND mr.manifest_digest = $2 AND mr.is_manifest = 0
     ORDER BY mr.ref_digest";

/// Deletes one credential of a principal: `$1` app ID, `$2` key ID.
pub(crate) const DELETE_CREDENTIAL: &str = "DELETE FROM credentials WHERE app_id = $1 AND key_id = $2";

pub(crate) const DELETE_MANIFEST_REFS: &str = "DELETE FROM manifest_refs WHERE repo_id = $1 AND manifest_digest = $2";

/// A known repository's counts and locks, by name (`$1`); read by [`repository_info`].
pub(crate) const REPOSITORY_INFO: &str = concat!(
    "SELECT r.created_at, r.write_enabled, r.delete_enabled,
            (SELECT COUNT(*) FROM manifests m WHERE m.repo_id = r.id) AS manifest_count,
            (SELECT COUNT(*) FROM tags t WHERE t.repo_id = r.id) AS tag_count
     FROM repositories r WHERE r.name = $1 AND ",
    repo_is_known!()
);

/// A tag (`$2`) of repository `$1`; read by [`tag_info`].
pub(crate) const TAG_INFO: &str = "SELECT t.digest, t.updated_at, t.write_enabled, t.delete_enabled
     FROM tags t JOIN repositories r ON r.id = t.repo_id WHERE r.name = $1 AND t.name = $2";

/// Sets the locks of repository `$1` (by id) to `$2`/`$3` where those are not NULL.
pub(crate) const SET_REPOSITORY_LOCKS: &str = "UPDATE repositories
     SET write_enabled = COALESCE($2, write_enabled), delete_enabled = COALESCE($3, delete_enabled)
     WHERE id = $1 RETURNING write_enabled, delete_enabled";

/// Sets the locks of tag `$4` of repository `$1` (by id) to `$2`/`$3` where not NULL.
pub(crate) const SET_TAG_LOCKS: &str = "UPDATE tags
     SET write_enabled = COALESCE($2, write_enabled), delete_enabled = COALESCE($3, delete_enabled)
     WHERE repo_id = $1 AND name = $4 RETURNING write_enabled, delete_enabled";

/// Upload sessions open for owner `$1` and for repository `$3`, each counted up to `$2` and `$4`
/// (the caps: counting further would tell nothing more).
pub(crate) const OPEN_UPLOADS: &str = "SELECT
       (SELECT COUNT(*) FROM (SELECT 1 FROM uploads WHERE owner = $1 LIMIT $2) o) AS by_owner,
       (SELECT COUNT(*) FROM (SELECT 1 FROM uploads WHERE repo = $3 LIMIT $4) r) AS by_repo";

/// Records upload session `$1`; `$8` is the time of its last change.
pub(crate) const INSERT_UPLOAD: &str =
    "INSERT INTO uploads (id, repo, owner, \"offset\", algorithm, hash_state, started_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

/// The cap that a new session would break, from the [`OPEN_UPLOADS`] row.
pub(crate) fn upload_cap_reached(row: &impl Columns, caps: UploadCaps) -> Result<Option<UploadCap>, MetaError> {
    Ok(if row.int("by_owner")? >= i64::from(caps.per_owner) {
        Some(UploadCap::Owner)
    } else if row.int("by_repo")? >= i64::from(caps.per_repository) {
        Some(UploadCap::Repository)
    } else {
        None
    })
}

pub(crate) fn locks(row: &impl Columns) -> Result<Locks, MetaError> {
    Ok(Locks { write_enabled: row.flag("write_enabled")?, delete_enabled: row.flag("delete_enabled")? })
}

pub(crate) fn repository_info(row: &impl Columns) -> Result<RepositoryInfo, MetaError> {
    Ok(RepositoryInfo {
        created_at: row.int("created_at")?,
        manifest_count: row.int("manifest_count")? as u64,
        tag_count: row.int("tag_count")? as u64,
        locks: locks(row)?,
    })
}

/// Every repository's creation time (kind `r`), manifest's (`m`, keyed by digest) and tag's
/// last move (`t`, keyed by name), as `repo, kind, item, secs`; read by [`dated`].
pub(crate) const ALL_TIMES: &str =
    "SELECT r.name AS repo, 'r' AS kind, '' AS item, r.created_at AS secs FROM repositories r
     UNION ALL SELECT r.name, 'm', m.digest, m.created_at FROM manifests m JOIN repositories r ON r.id = m.repo_id
     UNION ALL SELECT r.name, 't', t.name, t.updated_at FROM tags t JOIN repositories r ON r.id = t.repo_id
     ORDER BY 1";

/// One row of [`ALL_TIMES`].
pub(crate) fn dated(row: &impl Columns) -> Result<(String, Dated, i64), MetaError> {
    let what = match row.text("kind")?.as_str() {
        "r" => Dated::Repository,
        "m" => Dated::Manifest(digest(row, "item")?),
        _ => Dated::Tag(Tag::parse(&row.text("item")?).map_err(|_| bad("tag"))?),
    };
    Ok((row.text("repo")?, what, row.int("secs")?))
}

/// The statement that sets `what` of repository `$1` to `$2`, and the key to bind as `$3`.
pub(crate) fn set_time(what: &Dated) -> (&'static str, Option<String>) {
    match what {
        Dated::Repository => ("UPDATE repositories SET created_at = $2 WHERE name = $1", None),
        Dated::Manifest(d) => (
            "UPDATE manifests SET created_at = $2
             WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND digest = $3",
            Some(d.to_string()),
        ),
        Dated::Tag(t) => (
            "UPDATE tags SET updated_at = $2 WHERE repo_id = (SELECT id FROM repositories WHERE name = $1) AND name = $3",
            Some(t.as_str().to_owned()),
        ),
    }
}

pub(crate) fn tag_info(row: &impl Columns) -> Result<TagInfo, MetaError> {
    Ok(TagInfo { digest: digest(row, "digest")?, updated_at: row.int("updated_at")?, locks: locks(row)? })
}

pub(crate) fn manifest(row: &impl Columns) -> Result<ManifestRecord, MetaError> {
    Ok(ManifestRecord {
        digest: digest(row, "digest")?,
        media_type: row.text("media_type")?,
        bytes: Bytes::from(row.bytes("content")?),
        artifact_type: row.opt_text("artifact_type")?,
        subject: opt_digest(row, "subject")?,
        annotations: row.opt_text("annotations")?,
    })
}

pub(crate) fn session(row: &impl Columns) -> Result<UploadSession, MetaError> {
    Ok(UploadSession {
        id: UploadId::parse(&row.text("id")?).ok_or_else(|| bad("upload id"))?,
        repo: RepoName::parse(&row.text("repo")?).map_err(|_| bad("upload repository"))?,
        owner: row.text("owner")?,
        offset: row.int("offset")? as u64,
        algorithm: Algorithm::parse(&row.text("algorithm")?).map_err(|_| bad("upload algorithm"))?,
        hash_state: row.bytes("hash_state")?,
        started_at: row.int("started_at")?,
    })
}

pub(crate) fn principal(row: &impl Columns) -> Result<Principal, MetaError> {
    Ok(Principal {
        app_id: row.text("app_id")?,
        display_name: row.text("display_name")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) fn credential(row: &impl Columns) -> Result<Credential, MetaError> {
    Ok(Credential {
        key_id: row.text("key_id")?,
        display_name: row.opt_text("display_name")?,
        start: row.int("start_at")?,
        end: row.int("end_at")?,
        secret_hash: row.bytes("secret_hash")?.try_into().map_err(|_| bad("credential hash"))?,
    })
}

pub(crate) fn federated_credential(row: &impl Columns) -> Result<FederatedCredential, MetaError> {
    Ok(FederatedCredential {
        id: row.text("id")?,
        app_id: row.text("app_id")?,
        name: row.text("name")?,
        issuer: row.text("issuer")?,
        subject: row.text("subject")?,
        audience: row.text("audience")?,
        description: row.opt_text("description")?,
        created_at: row.int("created_at")?,
    })
}

pub(crate) fn assignment(row: &impl Columns) -> Result<RoleAssignment, MetaError> {
    Ok(RoleAssignment {
        app_id: row.text("app_id")?,
        role: row.text("role")?.parse::<Role>().map_err(|_| bad("role"))?,
        scope: row.text("scope")?.parse().map_err(|_| bad("role scope"))?,
    })
}

pub(crate) fn scope_map(row: &impl Columns) -> Result<ScopeMap, MetaError> {
    Ok(ScopeMap {
        name: row.text("name")?,
        description: row.opt_text("description")?,
        rules: row
            .text("rules")?
            .lines()
            .map(|l| l.parse::<ScopeRule>().map_err(|_| bad("scope-map rule")))
            .collect::<Result<_, _>>()?,
        system: false,
    })
}

fn token_password(row: &impl Columns) -> Result<TokenPassword, MetaError> {
    Ok(TokenPassword {
        id: row.text("id")?,
        slot: row.int("slot")? as u8,
        secret_hash: row.bytes("secret_hash")?.try_into().map_err(|_| bad("token password hash"))?,
        created: row.int("created_at")?,
        expiry: row.opt_int("expiry")?,
    })
}

/// The settings key of the admin user's password in `slot`.
pub(crate) fn admin_password_key(slot: u8) -> String {
    format!("admin_password{slot}")
}

/// The settings value of an admin-user password: the hash (32 bytes), the creation time
/// (8 bytes, little-endian), then the ID (UTF-8).
pub(crate) fn admin_password_value(p: &TokenPassword) -> Vec<u8> {
    let mut value = p.secret_hash.to_vec();
    value.extend_from_slice(&p.created.to_le_bytes());
    value.extend_from_slice(p.id.as_bytes());
    value
}

/// The admin-user password in `slot`, from its settings value (see [`admin_password_value`]).
pub(crate) fn admin_password(slot: u8, value: &[u8]) -> Result<TokenPassword, MetaError> {
    let unreadable = || bad("admin password");
    let (hash, rest) = value.split_at_checked(32).ok_or_else(unreadable)?;
    let (created, id) = rest.split_at_checked(8).ok_or_else(unreadable)?;
    let id = std::str::from_utf8(id).ok().filter(|id| !id.is_empty()).ok_or_else(unreadable)?;
    Ok(TokenPassword {
        id: id.to_owned(),
        slot,
        secret_hash: hash.try_into().map_err(|_| unreadable())?,
        created: i64::from_le_bytes(created.try_into().map_err(|_| unreadable())?),
        expiry: None,
    })
}

pub(crate) fn audit_event(row: &impl Columns) -> Result<AuditEvent, MetaError> {
    Ok(AuditEvent {
        at: row.int("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        target: row.text("target")?,
        remote: row.text("remote")?,
    })
}

/// A token from its row and the rows of its passwords.
pub(crate) fn token<R: Columns>(row: &R, passwords: &[R]) -> Result<Token, MetaError> {
    Ok(Token {
        name: row.text("name")?,
        scope_map: row.text("scope_map")?,
        enabled: row.flag("enabled")?,
        created: row.int("created_at")?,
        passwords: passwords.iter().map(token_password).collect::<Result<_, _>>()?,
    })
}

pub(crate) fn credential_set(row: &impl Columns) -> Result<CredentialSetRecord, MetaError> {
    Ok(CredentialSetRecord {
        name: row.text("name")?,
        login_server: row.text("login_server")?,
        username: row.opt_text("username")?,
        sealed_password: row.opt_bytes("sealed_password")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}

pub(crate) fn cache_rule(row: &impl Columns) -> Result<CacheRuleRecord, MetaError> {
    Ok(CacheRuleRecord {
        name: row.text("name")?,
        source: row.text("source")?,
        target: row.text("target")?,
        credential_set: row.opt_text("credential_set")?,
        allow_push: row.flag("allow_push")?,
        created_at: row.int("created_at")?,
        updated_at: row.int("updated_at")?,
    })
}
