//! [`IdentityStore`] on SQLite: principals, credentials (hashes only), role assignments,
//! settings and the audit log, in the same database as the registry metadata.

use crate::records::{
    admin_password, admin_password_key, admin_password_value, assignment, audit_event, bad, credential, db, now,
    principal,
};
use crate::sqlite::SqliteMeta;
use async_trait::async_trait;
use berth_core::MetaError;
use berth_core::principals::{
    AuditEvent, Credential, Flag, IdentityStore, Principal, RegistrySettings, RoleAssignment,
};
use berth_core::scopemap::TokenPassword;

impl SqliteMeta {
    async fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, MetaError> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.writer)
            .await
            .map_err(db)
    }

    /// Stores `value` under `key`, replacing any value.
    async fn put_setting(&self, key: &str, value: &[u8]) -> Result<(), MetaError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        Ok(())
    }

    /// Stores `value` under `key` unless a value exists; returns the stored value.
    async fn setting_or_insert(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, MetaError> {
        sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        self.setting(key).await?.ok_or_else(|| bad("setting"))
    }
}

async fn insert_credential(conn: &mut sqlx::SqliteConnection, app_id: &str, c: &Credential) -> Result<(), MetaError> {
    sqlx::query(
        "INSERT INTO credentials (key_id, app_id, display_name, start_at, end_at, secret_hash) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&c.key_id)
    .bind(app_id)
    .bind(&c.display_name)
    .bind(c.start)
    .bind(c.end)
    .bind(c.secret_hash.as_slice())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl IdentityStore for SqliteMeta {
    async fn settings(&self) -> Result<RegistrySettings, MetaError> {
        let tenant = self.setting_or_insert("tenant", uuid::Uuid::new_v4().to_string().as_bytes()).await?;
        let anonymous = self.setting(Flag::AnonymousPull.key()).await?;
        let admin = self.setting(Flag::AdminEnabled.key()).await?;
        Ok(RegistrySettings {
            tenant: String::from_utf8(tenant).map_err(|_| bad("tenant"))?,
            anonymous_pull: anonymous.as_deref() == Some(b"true"),
            admin_enabled: admin.as_deref() == Some(b"true"),
        })
    }

    async fn set_tenant(&self, tenant: &str) -> Result<(), MetaError> {
        self.put_setting("tenant", tenant.as_bytes()).await
    }

    async fn set_flag(&self, flag: Flag, on: bool) -> Result<(), MetaError> {
        self.put_setting(flag.key(), if on { b"true" } else { b"false" }).await
    }

    async fn admin_passwords(&self) -> Result<Vec<TokenPassword>, MetaError> {
        let mut out = Vec::new();
        for slot in [1u8, 2] {
            if let Some(v) = self.setting(&admin_password_key(slot)).await? {
                out.push(admin_password(slot, &v)?);
            }
        }
        Ok(out)
    }

    async fn set_admin_password(&self, p: &TokenPassword) -> Result<(), MetaError> {
        self.put_setting(&admin_password_key(p.slot), &admin_password_value(p)).await
    }

    async fn signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>, MetaError> {
        self.setting_or_insert("signing_key", candidate).await
    }

    async fn create_principal(&self, p: &Principal, c: &Credential) -> Result<(), MetaError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        let inserted = sqlx::query(
            "INSERT INTO principals (app_id, display_name, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(&p.app_id)
        .bind(&p.display_name)
        .bind(p.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected();
        if inserted == 0 {
            return Err(MetaError::Conflict);
        }
        insert_credential(&mut tx, &p.app_id, c).await?;
        tx.commit().await.map_err(db)
    }

    async fn principal(&self, key: &str) -> Result<Option<Principal>, MetaError> {
        let row = sqlx::query(
            "SELECT * FROM principals WHERE app_id = ? OR display_name = ? ORDER BY app_id = ? DESC LIMIT 1",
        )
        .bind(key)
        .bind(key)
        .bind(key)
        .fetch_optional(&self.reader)
        .await
        .map_err(db)?;
        row.as_ref().map(principal).transpose()
    }

    async fn principals(&self) -> Result<Vec<Principal>, MetaError> {
        let rows =
            sqlx::query("SELECT * FROM principals ORDER BY display_name").fetch_all(&self.reader).await.map_err(db)?;
        rows.iter().map(principal).collect()
    }

    async fn delete_principal(&self, app_id: &str) -> Result<bool, MetaError> {
        let r = sqlx::query("DELETE FROM principals WHERE app_id = ?")
            .bind(app_id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn credentials(&self, app_id: &str) -> Result<Vec<Credential>, MetaError> {
        // Through the writer: a reset must be visible to the very next authentication.
        let rows = sqlx::query("SELECT * FROM credentials WHERE app_id = ? ORDER BY start_at, key_id")
            .bind(app_id)
            .fetch_all(&self.writer)
            .await
            .map_err(db)?;
        rows.iter().map(credential).collect()
    }

    async fn add_credential(&self, app_id: &str, c: &Credential, replace: bool) -> Result<(), MetaError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        if replace {
            sqlx::query("DELETE FROM credentials WHERE app_id = ?").bind(app_id).execute(&mut *tx).await.map_err(db)?;
        }
        insert_credential(&mut tx, app_id, c).await?;
        tx.commit().await.map_err(db)
    }

    async fn delete_credential(&self, app_id: &str, key_id: &str) -> Result<bool, MetaError> {
        let r = sqlx::query(crate::records::DELETE_CREDENTIAL)
            .bind(app_id)
            .bind(key_id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn role_assignments(&self, app_id: Option<&str>) -> Result<Vec<RoleAssignment>, MetaError> {
        let rows =
            sqlx::query("SELECT * FROM role_assignments WHERE ? IS NULL OR app_id = ? ORDER BY app_id, role, scope")
                .bind(app_id)
                .bind(app_id)
                .fetch_all(&self.writer)
                .await
                .map_err(db)?;
        rows.iter().map(assignment).collect()
    }

    async fn assign_role(&self, a: &RoleAssignment) -> Result<(), MetaError> {
        sqlx::query("INSERT INTO role_assignments (app_id, role, scope) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
            .bind(&a.app_id)
            .bind(a.role.as_str())
            .bind(a.scope.to_string())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn unassign_role(&self, a: &RoleAssignment) -> Result<bool, MetaError> {
        let r = sqlx::query("DELETE FROM role_assignments WHERE app_id = ? AND role = ? AND scope = ?")
            .bind(&a.app_id)
            .bind(a.role.as_str())
            .bind(a.scope.to_string())
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(r.rows_affected() > 0)
    }

    async fn audit(&self, e: &AuditEvent) -> Result<(), MetaError> {
        let e = e.bounded();
        sqlx::query("INSERT INTO audit_log (at, actor, action, target, remote) VALUES (?, ?, ?, ?, ?)")
            .bind(if e.at == 0 { now() } else { e.at })
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.remote)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        Ok(())
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEvent>, MetaError> {
        let rows = sqlx::query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?")
            .bind(i64::from(limit))
            .fetch_all(&self.reader)
            .await
            .map_err(db)?;
        rows.iter().map(audit_event).collect()
    }

    async fn prune_audit(&self, before: i64) -> Result<u64, MetaError> {
        let r =
            sqlx::query("DELETE FROM audit_log WHERE at < ?").bind(before).execute(&self.writer).await.map_err(db)?;
        Ok(r.rows_affected())
    }

    async fn bootstrap_principal(&self, p: &Principal, c: &Credential, a: &RoleAssignment) -> Result<bool, MetaError> {
        let mut tx = self.writer.begin().await.map_err(db)?;
        // The one writer connection serialises this with every other write of the process,
        // and the data directory's lock keeps other processes out.
        let any: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM principals)").fetch_one(&mut *tx).await.map_err(db)?;
        if any {
            return Ok(false);
        }
        sqlx::query("INSERT INTO principals (app_id, display_name, created_at) VALUES (?, ?, ?)")
            .bind(&p.app_id)
            .bind(&p.display_name)
            .bind(p.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_credential(&mut tx, &p.app_id, c).await?;
        sqlx::query("INSERT INTO role_assignments (app_id, role, scope) VALUES (?, ?, ?)")
            .bind(&a.app_id)
            .bind(a.role.as_str())
            .bind(a.scope.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}
