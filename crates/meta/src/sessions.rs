//! [`SessionStore`] once for both databases: web UI sessions by the hash of their secret.

use crate::backend::{Backend, SqlMeta};
use crate::records::Columns;
use crate::sql::sql;
use async_trait::async_trait;
use berth_core::MetaError;
use berth_core::sessions::{SessionStore, UiSession};

#[async_trait]
impl<B: Backend> SessionStore for SqlMeta<B> {
    async fn create_session(&self, s: &UiSession) -> Result<(), MetaError> {
        sql::<B::Db>(
            "INSERT INTO ui_sessions (id_hash, subject, credential, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(s.id_hash.as_slice())
        .bind(&s.subject)
        .bind(&s.credential)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(self.backend.writer())
        .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &[u8]) -> Result<Option<UiSession>, MetaError> {
        let row = sql::<B::Db>("SELECT * FROM ui_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(self.backend.writer())
            .await?;
        row.map(|r| {
            Ok(UiSession {
                id_hash: r.bytes("id_hash")?,
                subject: r.text("subject")?,
                credential: r.text("credential")?,
                created_at: r.int("created_at")?,
                expires_at: r.int("expires_at")?,
            })
        })
        .transpose()
    }

    async fn delete_session(&self, id_hash: &[u8]) -> Result<bool, MetaError> {
        let n = sql::<B::Db>("DELETE FROM ui_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(self.backend.writer())
            .await?;
        Ok(n > 0)
    }

    async fn expire_sessions(&self, now: i64) -> Result<u64, MetaError> {
        sql::<B::Db>("DELETE FROM ui_sessions WHERE expires_at < $1").bind(now).execute(self.backend.writer()).await
    }
}
