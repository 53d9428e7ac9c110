//! The parts of [`berth_core::IdentityStore`] but tokens (in `tokens`) once for both databases:
//! principals, credentials (hashes only), role assignments, settings and the audit log, in the
//! same database as the registry metadata.

use crate::backend::{Backend, LockClass, SqlMeta};
use crate::browse::{contains_pattern, like_literal};
use crate::records::{
    Columns, admin_password, admin_password_key, admin_password_value, assignment, audit_event, bad, credential, now,
    principal,
};
use crate::repos::Tx;
use crate::sql::{Sql, sql};
use crate::store::commit;
use async_trait::async_trait;
use berth_core::MetaError;
use berth_core::principals::{
    AuditEvent, AuditLog, AuditQuery, Credential, Flag, Principal, PrincipalStore, RegistrySettings, RoleAssignment,
    SettingsStore,
};
use berth_core::scopemap::TokenPassword;

impl<B: Backend> SqlMeta<B> {
    async fn setting(&self, key: &str) -> Result<Option<Vec<u8>>, MetaError> {
        let row =
            sql::<B::Db>("SELECT value FROM settings WHERE key = $1").bind(key).fetch_optional(self.backend.writer());
        row.await?.map(|r| r.bytes("value")).transpose()
    }

    /// Stores `value` under `key`, replacing any value.
    async fn put_setting(&self, key: &str, value: &[u8]) -> Result<(), MetaError> {
        sql::<B::Db>(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.backend.writer())
        .await?;
        Ok(())
    }

    /// Stores `value` under `key` unless a value exists; returns the stored value.
    async fn setting_or_insert(&self, key: &str, value: &[u8]) -> Result<Vec<u8>, MetaError> {
        sql::<B::Db>("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(key)
            .bind(value)
            .execute(self.backend.writer())
            .await?;
        self.setting(key).await?.ok_or_else(|| bad("setting"))
    }
}

async fn insert_credential<D: Sql>(tx: &mut Tx<D>, app_id: &str, c: &Credential) -> Result<(), MetaError> {
    sql::<D>(
        "INSERT INTO credentials (key_id, app_id, display_name, start_at, end_at, secret_hash) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.key_id)
    .bind(app_id)
    .bind(&c.display_name)
    .bind(c.start)
    .bind(c.end)
    .bind(c.secret_hash.as_slice())
    .execute(tx)
    .await?;
    Ok(())
}

#[async_trait]
impl<B: Backend> SettingsStore for SqlMeta<B> {
    async fn settings(&self) -> Result<RegistrySettings, MetaError> {
        // One round trip on the hot path (every anonymous request asks); the tenant is written
        // only the first time.
        let rows = sql::<B::Db>("SELECT key, value FROM settings WHERE key IN ($1, $2, $3)")
            .bind("tenant")
            .bind(Flag::AnonymousPull.key())
            .bind(Flag::AdminEnabled.key())
            .fetch_all(self.backend.writer())
            .await?;
        let get = |k: &str| -> Result<Option<Vec<u8>>, MetaError> {
            for r in &rows {
                if r.text("key")? == k {
                    return r.bytes("value").map(Some);
                }
            }
            Ok(None)
        };
        let tenant = match get("tenant")? {
            Some(t) => t,
            None => self.setting_or_insert("tenant", uuid::Uuid::new_v4().to_string().as_bytes()).await?,
        };
        let (anonymous, admin) = (get(Flag::AnonymousPull.key())?, get(Flag::AdminEnabled.key())?);
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
}

#[async_trait]
impl<B: Backend> PrincipalStore for SqlMeta<B> {
    async fn create_principal(&self, p: &Principal, c: &Credential) -> Result<(), MetaError> {
        let mut tx = self.begin().await?;
        let inserted = sql::<B::Db>(
            "INSERT INTO principals (app_id, display_name, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&p.app_id)
        .bind(&p.display_name)
        .bind(p.created_at)
        .execute(&mut tx)
        .await?;
        if inserted == 0 {
            return Err(MetaError::Conflict);
        }
        insert_credential(&mut tx, &p.app_id, c).await?;
        commit(tx).await
    }

    async fn principal(&self, key: &str) -> Result<Option<Principal>, MetaError> {
        let row = sql::<B::Db>(
            "SELECT * FROM principals WHERE app_id = $1 OR display_name = $1 ORDER BY (app_id = $1) DESC LIMIT 1",
        )
        .bind(key)
        .fetch_optional(self.backend.reader())
        .await?;
        row.as_ref().map(principal).transpose()
    }

    async fn principals(&self) -> Result<Vec<Principal>, MetaError> {
        let rows =
            sql::<B::Db>("SELECT * FROM principals ORDER BY display_name").fetch_all(self.backend.reader()).await?;
        rows.iter().map(principal).collect()
    }

    async fn delete_principal(&self, app_id: &str) -> Result<bool, MetaError> {
        let r = sql::<B::Db>("DELETE FROM principals WHERE app_id = $1")
            .bind(app_id)
            .execute(self.backend.writer())
            .await?;
        Ok(r > 0)
    }

    async fn credentials(&self, app_id: &str) -> Result<Vec<Credential>, MetaError> {
        // Through the writer: a reset must be visible to the very next authentication.
        let rows = sql::<B::Db>("SELECT * FROM credentials WHERE app_id = $1 ORDER BY start_at, key_id")
            .bind(app_id)
            .fetch_all(self.backend.writer())
            .await?;
        rows.iter().map(credential).collect()
    }

    async fn add_credential(&self, app_id: &str, c: &Credential, replace: bool) -> Result<(), MetaError> {
        let mut tx = self.begin().await?;
        if replace {
            sql::<B::Db>("DELETE FROM credentials WHERE app_id = $1").bind(app_id).execute(&mut tx).await?;
        }
        insert_credential(&mut tx, app_id, c).await?;
        commit(tx).await
    }

    async fn delete_credential(&self, app_id: &str, key_id: &str) -> Result<bool, MetaError> {
        let r = sql::<B::Db>(crate::records::DELETE_CREDENTIAL)
            .bind(app_id)
            .bind(key_id)
            .execute(self.backend.writer())
            .await?;
        Ok(r > 0)
    }

    async fn role_assignments(&self, app_id: Option<&str>) -> Result<Vec<RoleAssignment>, MetaError> {
        let rows = sql::<B::Db>(
            "SELECT * FROM role_assignments WHERE CAST($1 AS TEXT) IS NULL OR app_id = $1 ORDER BY app_id, role, scope",
        )
        .bind(app_id)
        .fetch_all(self.backend.writer())
        .await?;
        rows.iter().map(assignment).collect()
    }

    async fn assign_role(&self, a: &RoleAssignment) -> Result<(), MetaError> {
        sql::<B::Db>("INSERT INTO role_assignments (app_id, role, scope) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING")
            .bind(&a.app_id)
            .bind(a.role.as_str())
            .bind(a.scope.to_string())
            .execute(self.backend.writer())
            .await?;
        Ok(())
    }

    async fn unassign_role(&self, a: &RoleAssignment) -> Result<bool, MetaError> {
        let r = sql::<B::Db>("DELETE FROM role_assignments WHERE app_id = $1 AND role = $2 AND scope = $3")
            .bind(&a.app_id)
            .bind(a.role.as_str())
            .bind(a.scope.to_string())
            .execute(self.backend.writer())
            .await?;
        Ok(r > 0)
    }

    async fn bootstrap_principal(&self, p: &Principal, c: &Credential, a: &RoleAssignment) -> Result<bool, MetaError> {
        let mut tx = self.begin().await?;
        // Two processes sharing the database must not both find it empty.
        B::serialise(&mut tx, LockClass::Bootstrap, "").await?;
        let row = sql::<B::Db>("SELECT EXISTS (SELECT 1 FROM principals) AS found").fetch_one(&mut tx).await?;
        if row.flag("found")? {
            return Ok(false);
        }
        sql::<B::Db>("INSERT INTO principals (app_id, display_name, created_at) VALUES ($1, $2, $3)")
            .bind(&p.app_id)
            .bind(&p.display_name)
            .bind(p.created_at)
            .execute(&mut tx)
            .await?;
        insert_credential(&mut tx, &p.app_id, c).await?;
        sql::<B::Db>("INSERT INTO role_assignments (app_id, role, scope) VALUES ($1, $2, $3)")
            .bind(&a.app_id)
            .bind(a.role.as_str())
            .bind(a.scope.to_string())
            .execute(&mut tx)
            .await?;
        commit(tx).await?;
        Ok(true)
    }
}

#[async_trait]
impl<B: Backend> AuditLog for SqlMeta<B> {
    async fn audit(&self, e: &AuditEvent) -> Result<(), MetaError> {
        let e = e.bounded();
        sql::<B::Db>("INSERT INTO audit_log (at, actor, action, target, remote) VALUES ($1, $2, $3, $4, $5)")
            .bind(if e.at == 0 { now() } else { e.at })
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.remote)
            .execute(self.backend.writer())
            .await?;
        Ok(())
    }

    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEvent>, MetaError> {
        let rows = sql::<B::Db>("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(self.backend.reader())
            .await?;
        rows.iter().map(audit_event).collect()
    }

    async fn audit_search(&self, q: &AuditQuery, limit: u32) -> Result<Vec<AuditEvent>, MetaError> {
        let actor = q.actor.as_deref().map_or_else(|| "%".to_owned(), like_literal);
        let action = q.action.as_deref().map_or_else(|| "%".to_owned(), |a| format!("{}%", like_literal(a)));
        let target = q.target.as_deref().map_or_else(|| "%".to_owned(), contains_pattern);
        let rows = sql::<B::Db>(
            "SELECT * FROM audit_log WHERE LOWER(actor) LIKE LOWER($1) ESCAPE '\\' \
             AND LOWER(action) LIKE LOWER($2) ESCAPE '\\' AND LOWER(target) LIKE LOWER($3) ESCAPE '\\' \
             ORDER BY id DESC LIMIT $4",
        )
        .bind(actor)
        .bind(action)
        .bind(target)
        .bind(i64::from(limit))
        .fetch_all(self.backend.reader())
        .await?;
        rows.iter().map(audit_event).collect()
    }

    async fn prune_audit(&self, before: i64) -> Result<u64, MetaError> {
        let r = sql::<B::Db>("DELETE FROM audit_log WHERE at < $1").bind(before).execute(self.backend.writer()).await?;
        Ok(r)
    }
}
