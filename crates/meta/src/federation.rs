//! [`FederationStore`] once for both databases: federated credentials beside the principals
//! they belong to (deleted with them by the foreign key).

use crate::backend::{Backend, SqlMeta};
use crate::records::federated_credential;
use crate::sql::sql;
use crate::store::commit;
use async_trait::async_trait;
use berth_core::MetaError;
use berth_core::federation::{FederatedCreate, FederatedCredential, FederationStore};

#[async_trait]
impl<B: Backend> FederationStore for SqlMeta<B> {
    async fn create_federated_credential(&self, fc: &FederatedCredential) -> Result<FederatedCreate, MetaError> {
        let mut tx = self.begin().await?;
        let principal =
            sql::<B::Db>("SELECT app_id FROM principals WHERE app_id = $1").bind(&fc.app_id).fetch_optional(&mut tx);
        if principal.await?.is_none() {
            return Ok(FederatedCreate::NoPrincipal);
        }
        let clash = sql::<B::Db>(
            "SELECT * FROM federated_credentials WHERE app_id = $1 AND (name = $2 OR (issuer = $3 AND subject = $4))",
        )
        .bind(&fc.app_id)
        .bind(&fc.name)
        .bind(&fc.issuer)
        .bind(&fc.subject)
        .fetch_all(&mut tx)
        .await?;
        if let Some(row) = clash.first() {
            let other = federated_credential(row)?;
            return Ok(if other.name == fc.name { FederatedCreate::NameTaken } else { FederatedCreate::SubjectTaken });
        }
        let inserted = sql::<B::Db>(
            "INSERT INTO federated_credentials (id, app_id, name, issuer, subject, audience, description, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        )
        .bind(&fc.id)
        .bind(&fc.app_id)
        .bind(&fc.name)
        .bind(&fc.issuer)
        .bind(&fc.subject)
        .bind(&fc.audience)
        .bind(fc.description.as_deref())
        .bind(fc.created_at)
        .execute(&mut tx)
        .await?;
        if inserted == 0 {
            // Another request stored a clashing one between the check and the insert.
            return Ok(FederatedCreate::NameTaken);
        }
        commit(tx).await?;
        Ok(FederatedCreate::Created)
    }

    async fn federated_credentials(&self, app_id: Option<&str>) -> Result<Vec<FederatedCredential>, MetaError> {
        let rows = match app_id {
            Some(a) => {
                sql::<B::Db>("SELECT * FROM federated_credentials WHERE app_id = $1 ORDER BY app_id, name")
                    .bind(a)
                    .fetch_all(self.backend.writer())
                    .await?
            }
            None => {
                sql::<B::Db>("SELECT * FROM federated_credentials ORDER BY app_id, name")
                    .fetch_all(self.backend.writer())
                    .await?
            }
        };
        rows.iter().map(federated_credential).collect()
    }

    async fn federated_matches(&self, issuer: &str, subject: &str) -> Result<Vec<FederatedCredential>, MetaError> {
        // Through the writer: a deleted federated credential must stop working at once.
        let rows = sql::<B::Db>(
            "SELECT * FROM federated_credentials WHERE issuer = $1 AND subject = $2 ORDER BY app_id, name",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_all(self.backend.writer())
        .await?;
        rows.iter().map(federated_credential).collect()
    }

    async fn issuer_trusted(&self, issuer: &str) -> Result<bool, MetaError> {
        let row = sql::<B::Db>("SELECT id FROM federated_credentials WHERE issuer = $1 LIMIT 1")
            .bind(issuer)
            .fetch_optional(self.backend.writer())
            .await?;
        Ok(row.is_some())
    }

    async fn delete_federated_credential(&self, app_id: &str, name: &str) -> Result<bool, MetaError> {
        let r = sql::<B::Db>("DELETE FROM federated_credentials WHERE app_id = $1 AND name = $2")
            .bind(app_id)
            .bind(name)
            .execute(self.backend.writer())
            .await?;
        Ok(r > 0)
    }
}
