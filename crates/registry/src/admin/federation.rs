//! Federated credentials of service principals (`az ad app federated-credential …`): a
//! principal trusts tokens of one external issuer, subject and audience.

use super::{AdminError, IdentityAdmin, invalid, no_principal};
use berth_core::admin_api::CreateFederatedCredential;
use berth_core::federation::{FederatedCreate, FederatedCredential, validate};
use berth_core::principals::now_secs;

/// A federated credential as an audit target: `APPID/NAME` (never its claims).
fn target(app_id: &str, name: &str) -> String {
    format!("{app_id}/{name}")
}

fn no_federated_credential(app_id: &str, name: &str) -> AdminError {
    AdminError::NotFound(format!("federated credential {name:?} of service principal {app_id}"))
}

impl IdentityAdmin<'_> {
    /// Gives the principal named `key` a federated credential: validated, with a new ID and
    /// the current time. A name or an issuer and subject the principal already has is a
    /// `Conflict` saying which.
    pub async fn create_federated_credential(
        &self,
        key: &str,
        req: &CreateFederatedCredential,
    ) -> Result<FederatedCredential, AdminError> {
        let p = self.principal(key).await?;
        let fc = FederatedCredential {
            id: uuid::Uuid::new_v4().to_string(),
            app_id: p.app_id,
            name: req.name.clone(),
            issuer: req.issuer.clone(),
            subject: req.subject.clone(),
            audience: req.audience.clone(),
            description: req.description.clone(),
            created_at: now_secs(),
        };
        validate(&fc).map_err(invalid)?;
        match self.auth.identities().create_federated_credential(&fc).await? {
            FederatedCreate::Created => {}
            // Deleted between the look-up and the create.
            FederatedCreate::NoPrincipal => return Err(no_principal()),
            FederatedCreate::NameTaken => {
                return Err(AdminError::Conflict(format!(
                    "service principal {} already has a federated credential named {:?}",
                    fc.app_id, fc.name
                )));
            }
            FederatedCreate::SubjectTaken => {
                return Err(AdminError::Conflict(format!(
                    "service principal {} already has a federated credential for issuer {:?} and subject {:?}",
                    fc.app_id, fc.issuer, fc.subject
                )));
            }
        }
        self.auth.identities_changed();
        self.audit("sp.federated-credential.create", &target(&fc.app_id, &fc.name)).await;
        Ok(fc)
    }

    /// The federated credentials of the principal named `key`, by name.
    pub async fn federated_credentials(&self, key: &str) -> Result<Vec<FederatedCredential>, AdminError> {
        let p = self.principal(key).await?;
        Ok(self.auth.identities().federated_credentials(Some(&p.app_id)).await?)
    }

    /// The federated credential `name` of the principal named `key`.
    pub async fn federated_credential(&self, key: &str, name: &str) -> Result<FederatedCredential, AdminError> {
        let p = self.principal(key).await?;
        let all = self.auth.identities().federated_credentials(Some(&p.app_id)).await?;
        all.into_iter().find(|fc| fc.name == name).ok_or_else(|| no_federated_credential(&p.app_id, name))
    }

    /// Deletes the federated credential `name` of the principal named `key`; the refresh
    /// tokens obtained through it stop working.
    pub async fn delete_federated_credential(&self, key: &str, name: &str) -> Result<(), AdminError> {
        let p = self.principal(key).await?;
        if !self.auth.identities().delete_federated_credential(&p.app_id, name).await? {
            return Err(no_federated_credential(&p.app_id, name));
        }
        self.auth.identities_changed();
        self.audit("sp.federated-credential.delete", &target(&p.app_id, name)).await;
        Ok(())
    }
}
