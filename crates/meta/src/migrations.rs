//! Schema migrations per backend, applied in order; SQLite records how many ran in
//! `PRAGMA user_version`, PostgreSQL in the table `berth_schema`. Never edit a shipped
//! migration: append a new one (to both lists, keeping them in step).
//!
//! Migration 4 counts tag additions and removals per repository in a trigger
//! (`repositories.tag_generation`), so no write path can forget to. Migration 5 records when
//! a blob was last linked into a repository and indexes links and references by digest, for
//! garbage collection. Migration 6 adds ACR's writeEnabled/deleteEnabled locks to repositories
//! and tags. Migration 7 gives every token password and admin-user password a random ID, which
//! the refresh tokens issued with it name (the admin user's settings value becomes hash,
//! creation time, ID); passwords stored before get a fresh one, which revokes the refresh
//! tokens they issued (those live 3 hours). Migration 8 records who opened each upload
//! session (sessions opened before have no owner) and indexes sessions by owner and by
//! repository, for the caps on open uploads. Migration 9 gives upload sessions a claim (its
//! holder, and until when in seconds since the epoch): the lease one request takes before
//! appending, so requests on several replicas never append to one upload at once.
//! Migration 10 holds the pull-through cache: credential sets (passwords only sealed), cache
//! rules (a rule's credential set must exist), fill leases (holder, and until when in
//! milliseconds since the epoch), and when each cached tag was last compared with upstream
//! (`tags.checked_at`, seconds; NULL for a pushed tag).
//! Migration 11 holds federated credentials: a principal's trust in one issuer, subject and
//! audience (unique per principal by name and by issuer and subject; deleted with it), indexed
//! by issuer and subject for the exchange.
//! Migration 12 holds the web UI's sessions: the SHA-256 of each cookie's secret, who signed
//! in with which credential, and when the session ends (indexed, for pruning).
//! Migration 13 indexes manifests by repository and creation time, and tags by repository
//! and update time, so the web UI's repository summary finds a repository's last push in one
//! index step however many manifests and tags it holds (it read every one of them before).

/// A random UUID v4 in SQLite, as text (SQLite has no UUID function); evaluated per row.
macro_rules! sqlite_uuid_v4 {
    () => {
        "(lower(hex(randomblob(4))) || '-' || lower(hex(randomblob(2))) || '-4' ||
          substr(lower(hex(randomblob(2))), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) ||
          substr(lower(hex(randomblob(2))), 2) || '-' || lower(hex(randomblob(6))))"
    };
}

/// SQLite migrations.
pub const SQLITE: &[&str] = &[
    r#"
CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);
CREATE TABLE blobs (
    digest     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE repo_blobs (
    repo_id INTEGER NOT NULL REFERENCES repositories(id),
    digest  TEXT NOT NULL REFERENCES blobs(digest),
    PRIMARY KEY (repo_id, digest)
) WITHOUT ROWID;
CREATE TABLE manifests (
    repo_id       INTEGER NOT NULL REFERENCES repositories(id),
    digest        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    content       BLOB NOT NULL,
    artifact_type TEXT,
    subject       TEXT,
    annotations   TEXT,
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;
CREATE TABLE manifest_refs (
    repo_id         INTEGER NOT NULL,
    manifest_digest TEXT NOT NULL,
    ref_digest      TEXT NOT NULL,
    is_manifest     INTEGER NOT NULL,
    PRIMARY KEY (repo_id, manifest_digest, ref_digest, is_manifest)
) WITHOUT ROWID;
CREATE TABLE tags (
    repo_id    INTEGER NOT NULL REFERENCES repositories(id),
    name       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repo_id, name)
) WITHOUT ROWID;
CREATE INDEX tags_by_digest ON tags(repo_id, digest);
CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    repo       TEXT NOT NULL,
    "offset"   INTEGER NOT NULL,
    algorithm  TEXT NOT NULL,
    hash_state BLOB NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
"#,
    r#"
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE principals (
    app_id       TEXT PRIMARY KEY,
    display_name TEXT NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE credentials (
    key_id       TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES principals(app_id) ON DELETE CASCADE,
    display_name TEXT,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER NOT NULL,
    secret_hash  BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX credentials_by_principal ON credentials(app_id);
CREATE TABLE role_assignments (
    app_id TEXT NOT NULL REFERENCES principals(app_id) ON DELETE CASCADE,
    role   TEXT NOT NULL,
    scope  TEXT NOT NULL,
    PRIMARY KEY (app_id, role, scope)
) WITHOUT ROWID;
CREATE TABLE audit_log (
    id     INTEGER PRIMARY KEY,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    remote TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE scope_maps (
    name        TEXT PRIMARY KEY,
    description TEXT,
    rules       TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE tokens (
    name       TEXT PRIMARY KEY,
    scope_map  TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE token_passwords (
    token       TEXT NOT NULL REFERENCES tokens(name) ON DELETE CASCADE,
    slot        INTEGER NOT NULL,
    secret_hash BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    expiry      INTEGER,
    PRIMARY KEY (token, slot)
) WITHOUT ROWID;
"#,
    r#"
ALTER TABLE repositories ADD COLUMN tag_generation INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER tag_added AFTER INSERT ON tags BEGIN
    UPDATE repositories SET tag_generation = tag_generation + 1 WHERE id = NEW.repo_id;
END;
CREATE TRIGGER tag_removed AFTER DELETE ON tags BEGIN
    UPDATE repositories SET tag_generation = tag_generation + 1 WHERE id = OLD.repo_id;
END;
"#,
    r#"
ALTER TABLE repo_blobs ADD COLUMN linked_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);
CREATE INDEX manifest_refs_by_ref ON manifest_refs(ref_digest);
"#,
    r#"
ALTER TABLE repositories ADD COLUMN write_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE repositories ADD COLUMN delete_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN write_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE tags ADD COLUMN delete_enabled INTEGER NOT NULL DEFAULT 1;
"#,
    // SQLite adds no NOT NULL column without a default: `id` is filled here and on every insert.
    concat!(
        "ALTER TABLE token_passwords ADD COLUMN id TEXT;
         UPDATE token_passwords SET id = ",
        sqlite_uuid_v4!(),
        ";
         UPDATE settings SET value = CAST(value || ",
        sqlite_uuid_v4!(),
        " AS BLOB) WHERE key IN ('admin_password1', 'admin_password2') AND length(value) = 40;"
    ),
    r#"
ALTER TABLE uploads ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX uploads_by_owner ON uploads(owner);
CREATE INDEX uploads_by_repo ON uploads(repo);
"#,
    r#"
ALTER TABLE uploads ADD COLUMN claim_holder TEXT;
ALTER TABLE uploads ADD COLUMN claim_until INTEGER NOT NULL DEFAULT 0;
"#,
    r#"
CREATE TABLE credential_sets (
    name            TEXT PRIMARY KEY,
    login_server    TEXT NOT NULL,
    username        TEXT,
    sealed_password BLOB,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE cache_rules (
    name           TEXT PRIMARY KEY,
    source         TEXT NOT NULL,
    target         TEXT NOT NULL,
    credential_set TEXT REFERENCES credential_sets(name),
    allow_push     INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX cache_rules_by_credential_set ON cache_rules(credential_set);
CREATE TABLE fill_leases (
    key    TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE tags ADD COLUMN checked_at INTEGER;
"#,
    r#"
CREATE TABLE federated_credentials (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES principals(app_id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    issuer      TEXT NOT NULL,
    subject     TEXT NOT NULL,
    audience    TEXT NOT NULL,
    description TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (app_id, name),
    UNIQUE (app_id, issuer, subject)
) WITHOUT ROWID;
CREATE INDEX federated_credentials_by_claims ON federated_credentials(issuer, subject);
"#,
    r#"
CREATE TABLE ui_sessions (
    id_hash    BLOB PRIMARY KEY,
    subject    TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ui_sessions_by_expiry ON ui_sessions(expires_at);
"#,
    r#"
CREATE INDEX manifests_by_created ON manifests(repo_id, created_at);
CREATE INDEX tags_by_updated ON tags(repo_id, updated_at);
"#,
];

/// PostgreSQL migrations: the SQLite schema in PostgreSQL types. Names and digests collate
/// as bytes (`"C"`), so listings page in the order the distribution spec asks for.
pub const POSTGRES: &[&str] = &[
    r#"
CREATE TABLE repositories (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
CREATE TABLE blobs (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE repo_blobs (
    repo_id BIGINT NOT NULL REFERENCES repositories(id),
    digest  TEXT COLLATE "C" NOT NULL REFERENCES blobs(digest),
    PRIMARY KEY (repo_id, digest)
);
CREATE TABLE manifests (
    repo_id       BIGINT NOT NULL REFERENCES repositories(id),
    digest        TEXT COLLATE "C" NOT NULL,
    media_type    TEXT NOT NULL,
    content       BYTEA NOT NULL,
    artifact_type TEXT,
    subject       TEXT COLLATE "C",
    annotations   TEXT,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repo_id, digest)
);
CREATE INDEX manifests_by_subject ON manifests(repo_id, subject) WHERE subject IS NOT NULL;
CREATE TABLE manifest_refs (
    repo_id         BIGINT NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    ref_digest      TEXT COLLATE "C" NOT NULL,
    is_manifest     BIGINT NOT NULL,
    PRIMARY KEY (repo_id, manifest_digest, ref_digest, is_manifest)
);
CREATE TABLE tags (
    repo_id    BIGINT NOT NULL REFERENCES repositories(id),
    name       TEXT COLLATE "C" NOT NULL,
    digest     TEXT COLLATE "C" NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (repo_id, name)
);
CREATE INDEX tags_by_digest ON tags(repo_id, digest);
CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    repo       TEXT NOT NULL,
    "offset"   BIGINT NOT NULL,
    algorithm  TEXT NOT NULL,
    hash_state BYTEA NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
"#,
    r#"
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);
CREATE TABLE principals (
    app_id       TEXT PRIMARY KEY,
    display_name TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL
);
CREATE TABLE credentials (
    key_id       TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES principals(app_id) ON DELETE CASCADE,
    display_name TEXT,
    start_at     BIGINT NOT NULL,
    end_at       BIGINT NOT NULL,
    secret_hash  BYTEA NOT NULL
);
CREATE INDEX credentials_by_principal ON credentials(app_id);
CREATE TABLE role_assignments (
    app_id TEXT COLLATE "C" NOT NULL REFERENCES principals(app_id) ON DELETE CASCADE,
    role   TEXT COLLATE "C" NOT NULL,
    scope  TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (app_id, role, scope)
);
CREATE TABLE audit_log (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     BIGINT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    remote TEXT NOT NULL
);
"#,
    r#"
CREATE TABLE scope_maps (
    name        TEXT COLLATE "C" PRIMARY KEY,
    description TEXT,
    rules       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE tokens (
    name       TEXT COLLATE "C" PRIMARY KEY,
    scope_map  TEXT NOT NULL,
    enabled    BOOLEAN NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE token_passwords (
    token       TEXT NOT NULL REFERENCES tokens(name) ON DELETE CASCADE,
    slot        BIGINT NOT NULL,
    secret_hash BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    expiry      BIGINT,
    PRIMARY KEY (token, slot)
);
"#,
    r#"
ALTER TABLE repositories ADD COLUMN tag_generation BIGINT NOT NULL DEFAULT 0;
CREATE FUNCTION berth_tag_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE repositories SET tag_generation = tag_generation + 1
     WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.repo_id ELSE NEW.repo_id END;
    RETURN NULL;
END
$$;
CREATE TRIGGER tag_changed AFTER INSERT OR DELETE ON tags FOR EACH ROW EXECUTE FUNCTION berth_tag_changed();
"#,
    r#"
ALTER TABLE repo_blobs ADD COLUMN linked_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX repo_blobs_by_digest ON repo_blobs(digest);
CREATE INDEX manifest_refs_by_ref ON manifest_refs(ref_digest);
"#,
    r#"
ALTER TABLE repositories ADD COLUMN write_enabled BOOLEAN NOT NULL DEFAULT TRUE,
                         ADD COLUMN delete_enabled BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE tags ADD COLUMN write_enabled BOOLEAN NOT NULL DEFAULT TRUE,
                 ADD COLUMN delete_enabled BOOLEAN NOT NULL DEFAULT TRUE;
"#,
    r#"
ALTER TABLE token_passwords ADD COLUMN id TEXT;
UPDATE token_passwords SET id = gen_random_uuid()::text;
ALTER TABLE token_passwords ALTER COLUMN id SET NOT NULL;
UPDATE settings SET value = value || convert_to(gen_random_uuid()::text, 'UTF8')
 WHERE key IN ('admin_password1', 'admin_password2') AND length(value) = 40;
"#,
    r#"
ALTER TABLE uploads ADD COLUMN owner TEXT NOT NULL DEFAULT '';
CREATE INDEX uploads_by_owner ON uploads(owner);
CREATE INDEX uploads_by_repo ON uploads(repo);
"#,
    r#"
ALTER TABLE uploads ADD COLUMN claim_holder TEXT,
                    ADD COLUMN claim_until BIGINT NOT NULL DEFAULT 0;
"#,
    r#"
CREATE TABLE credential_sets (
    name            TEXT COLLATE "C" PRIMARY KEY,
    login_server    TEXT NOT NULL,
    username        TEXT,
    sealed_password BYTEA,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE TABLE cache_rules (
    name           TEXT COLLATE "C" PRIMARY KEY,
    source         TEXT NOT NULL,
    target         TEXT NOT NULL,
    credential_set TEXT COLLATE "C" REFERENCES credential_sets(name),
    allow_push     BOOLEAN NOT NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX cache_rules_by_credential_set ON cache_rules(credential_set);
CREATE TABLE fill_leases (
    key    TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    until  BIGINT NOT NULL
);
ALTER TABLE tags ADD COLUMN checked_at BIGINT;
"#,
    r#"
CREATE TABLE federated_credentials (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES principals(app_id) ON DELETE CASCADE,
    name        TEXT COLLATE "C" NOT NULL,
    issuer      TEXT COLLATE "C" NOT NULL,
    subject     TEXT COLLATE "C" NOT NULL,
    audience    TEXT NOT NULL,
    description TEXT,
    created_at  BIGINT NOT NULL,
    UNIQUE (app_id, name),
    UNIQUE (app_id, issuer, subject)
);
CREATE INDEX federated_credentials_by_claims ON federated_credentials(issuer, subject);
"#,
    r#"
CREATE TABLE ui_sessions (
    id_hash    BYTEA PRIMARY KEY,
    subject    TEXT NOT NULL,
    credential TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX ui_sessions_by_expiry ON ui_sessions(expires_at);
"#,
    r#"
CREATE INDEX manifests_by_created ON manifests(repo_id, created_at);
CREATE INDEX tags_by_updated ON tags(repo_id, updated_at);
"#,
];

#[cfg(test)]
mod tests {
    use crate::SqliteMeta;
    use berth_core::UploadStore;
    use berth_core::principals::{SettingsStore, TokenStore};
    use sqlx::sqlite::SqliteConnectOptions;

    /// Passwords stored before migration 7 come out of it with random IDs of their own (and
    /// everything else as it was); uploads before migration 8 with no owner, before 9 with no
    /// claim.
    #[tokio::test]
    async fn passwords_stored_before_migration_7_get_random_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
        for sql in &super::SQLITE[..6] {
            sqlx::raw_sql(*sql).execute(&pool).await.unwrap();
        }
        let admin = format!("{}{}", "01".repeat(32), "0700000000000000");
        let old = format!(
            "PRAGMA user_version = 6;
             INSERT INTO tokens (name, scope_map, enabled, created_at) VALUES ('old-token', '_repositories_pull', 1, 5);
             INSERT INTO token_passwords (token, slot, secret_hash, created_at, expiry)
                  VALUES ('old-token', 1, x'{0}', 5, NULL), ('old-token', 2, x'{0}', 5, NULL);
             INSERT INTO settings (key, value) VALUES ('admin_password1', x'{admin}'), ('admin_password2', x'{admin}');
             INSERT INTO uploads (id, repo, \"offset\", algorithm, hash_state, started_at, updated_at)
                  VALUES ('8a3c0a4e-5a4b-4e0e-9f7e-2b0c1d2e3f40', 'old/repo', 0, 'sha256', x'00', 5, 5);",
            "02".repeat(32)
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(old)).execute(&pool).await.unwrap();
        pool.close().await;

        let meta = SqliteMeta::open(&path).await.unwrap();
        let token = meta.token("old-token").await.unwrap().unwrap();
        let admin = meta.admin_passwords().await.unwrap();
        let ids: Vec<&str> = token.passwords.iter().chain(&admin).map(|p| p.id.as_str()).collect();
        assert_eq!(ids.len(), 4);
        for (i, id) in ids.iter().enumerate() {
            assert!(uuid::Uuid::try_parse(id).is_ok(), "{id} is a UUID");
            assert!(!ids[..i].contains(id), "{id} is its own");
        }
        assert!(admin.iter().all(|p| p.secret_hash == [1; 32] && p.created == 7));
        assert!(token.passwords.iter().all(|p| p.secret_hash == [2; 32] && p.created == 5));
        let id = berth_core::UploadId::parse("8a3c0a4e-5a4b-4e0e-9f7e-2b0c1d2e3f40").unwrap();
        assert_eq!(meta.upload(&id).await.unwrap().unwrap().owner, "");
        assert!(meta.claim_upload(&id, 0, "replica", 70, 10).await.unwrap(), "and unclaimed after migration 9");
    }

    /// After migration 13 a repository's last push (as the web UI's summary asks for it) is
    /// one index search, not a read of its every manifest and tag.
    #[tokio::test]
    async fn the_last_push_is_an_index_search() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("meta.db");
        SqliteMeta::open(&path).await.unwrap();
        let pool = sqlx::SqlitePool::connect_with(SqliteConnectOptions::new().filename(&path)).await.unwrap();
        for (q, index) in [
            ("SELECT MAX(m.created_at) FROM manifests m WHERE m.repo_id = 1", "manifests_by_created"),
            ("SELECT MAX(t.updated_at) FROM tags t WHERE t.repo_id = 1", "tags_by_updated"),
        ] {
            let plan: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {q}"))).fetch_all(&pool).await.unwrap();
            assert!(plan.iter().any(|p| p.3.contains(index)), "{q}: {plan:?}");
        }
    }
}
