//! Service principals, their credentials and their role assignments.

use super::{AdminError, IdentityAdmin, invalid, no_principal};
use crate::auth::{Lifetime, NewSecret};
use berth_core::admin_api::{CreateRoleAssignment, CreateServicePrincipal};
use berth_core::principals::{Credential, Principal, RoleAssignment};
use berth_core::roles::{Role, RoleScope};
use std::collections::HashMap;

/// A principal with its credentials and role assignments.
#[derive(Debug, Clone)]
pub struct PrincipalDetail {
    /// The principal.
    pub principal: Principal,
    /// Its credentials (hashes only).
    pub credentials: Vec<Credential>,
    /// Its role assignments.
    pub roles: Vec<RoleAssignment>,
}

/// A role assignment with its principal's display name (empty if the principal is gone).
#[derive(Debug, Clone)]
pub struct NamedAssignment {
    /// The assignment.
    pub assignment: RoleAssignment,
    /// The principal's display name.
    pub principal_name: String,
}

/// `role` at `scope` (default `/`), or why not.
fn role_and_scope(role: &str, scope: Option<&str>) -> Result<(Role, RoleScope), AdminError> {
    let role = role.parse::<Role>().map_err(invalid)?;
    let scope = scope.unwrap_or("/").parse::<RoleScope>().map_err(invalid)?;
    Ok((role, scope))
}

impl IdentityAdmin<'_> {
    /// `sp create-for-rbac`: creates the principal (or gives an existing one of that name a
    /// new secret, dropping its others) and assigns the role given, which needs both `role`
    /// and `scopes`. A principal of that name created concurrently is a `Conflict`.
    pub async fn create_service_principal(&self, req: &CreateServicePrincipal) -> Result<NewSecret, AdminError> {
        let role = match (&req.role, &req.scopes) {
            (Some(r), s) => Some(role_and_scope(r, s.as_deref())?),
            (None, Some(_)) => {
                return Err(invalid("Usage error: To create role assignments, specify both --role and --scopes."));
            }
            (None, None) => None,
        };
        let created = self.auth.create_for_rbac(&req.name, role, Lifetime::Years(req.years.unwrap_or(1))).await?;
        self.audit("sp.create", &created.principal.app_id).await;
        Ok(created)
    }

    /// Every principal, by display name.
    pub async fn principals(&self) -> Result<Vec<Principal>, AdminError> {
        Ok(self.auth.identities().principals().await?)
    }

    /// The principal named `key` with its credentials and role assignments.
    pub async fn principal_detail(&self, key: &str) -> Result<PrincipalDetail, AdminError> {
        let principal = self.principal(key).await?;
        let ids = self.auth.identities();
        let credentials = ids.credentials(&principal.app_id).await?;
        let roles = ids.role_assignments(Some(&principal.app_id)).await?;
        Ok(PrincipalDetail { principal, credentials, roles })
    }

    /// Deletes the principal named `key` with its credentials and role assignments.
    pub async fn delete_principal(&self, key: &str) -> Result<(), AdminError> {
        let p = self.principal(key).await?;
        if !self.auth.identities().delete_principal(&p.app_id).await? {
            return Err(no_principal());
        }
        self.auth.identities_changed();
        self.audit("sp.delete", &p.app_id).await;
        Ok(())
    }

    /// `sp credential reset`: a new secret for the principal named `key`; without `append`
    /// every earlier one stops working at once.
    pub async fn reset_credential(
        &self,
        key: &str,
        append: bool,
        lifetime: Lifetime,
        display_name: Option<String>,
    ) -> Result<NewSecret, AdminError> {
        let reset = self.auth.reset_credential(key, append, lifetime, display_name).await?;
        let reset = reset.ok_or_else(no_principal)?;
        let action = if append { "sp.credential.append" } else { "sp.credential.reset" };
        self.audit(action, &reset.principal.app_id).await;
        Ok(reset)
    }

    /// The credentials of the principal named `key`.
    pub async fn credentials(&self, key: &str) -> Result<Vec<Credential>, AdminError> {
        let p = self.principal(key).await?;
        Ok(self.auth.identities().credentials(&p.app_id).await?)
    }

    /// Deletes the credential `key_id` of the principal named `key`, keeping its others.
    pub async fn delete_credential(&self, key: &str, key_id: &str) -> Result<(), AdminError> {
        let deleted = self.auth.delete_credential(key, key_id).await?;
        match deleted.ok_or_else(no_principal)? {
            (p, true) => {
                self.audit("sp.credential.delete", &format!("{} {key_id}", p.app_id)).await;
                Ok(())
            }
            (p, false) => Err(AdminError::NotFound(format!("credential {key_id:?} of service principal {}", p.app_id))),
        }
    }

    /// Assigns a role to a principal (idempotent).
    pub async fn assign_role(&self, req: &CreateRoleAssignment) -> Result<NamedAssignment, AdminError> {
        let p = self.principal(&req.assignee).await?;
        let (role, scope) = role_and_scope(&req.role, req.scope.as_deref())?;
        let assignment = RoleAssignment { app_id: p.app_id, role, scope };
        self.auth.identities().assign_role(&assignment).await?;
        self.auth.identities_changed();
        self.audit("role.assign", &target(&assignment)).await;
        Ok(NamedAssignment { assignment, principal_name: p.display_name })
    }

    /// Role assignments, of the principal named `assignee` or of all.
    pub async fn role_assignments(&self, assignee: Option<&str>) -> Result<Vec<NamedAssignment>, AdminError> {
        let filter = match assignee {
            Some(k) => Some(self.principal(k).await?.app_id),
            None => None,
        };
        let ids = self.auth.identities();
        let names: HashMap<String, String> =
            ids.principals().await?.into_iter().map(|p| (p.app_id, p.display_name)).collect();
        let list = ids.role_assignments(filter.as_deref()).await?;
        Ok(list
            .into_iter()
            .map(|a| {
                let principal_name = names.get(&a.app_id).cloned().unwrap_or_default();
                NamedAssignment { assignment: a, principal_name }
            })
            .collect())
    }

    /// Removes a role assignment; `assignee` and `role` are required, `scope` defaults to `/`.
    pub async fn unassign_role(
        &self,
        assignee: Option<&str>,
        role: Option<&str>,
        scope: Option<&str>,
    ) -> Result<(), AdminError> {
        let p = self.principal(assignee.ok_or_else(|| invalid("assignee is required"))?).await?;
        let (role, scope) = role_and_scope(role.ok_or_else(|| invalid("role is required"))?, scope)?;
        let a = RoleAssignment { app_id: p.app_id, role, scope };
        if !self.auth.identities().unassign_role(&a).await? {
            return Err(AdminError::NotFound("role assignment".into()));
        }
        self.auth.identities_changed();
        self.audit("role.unassign", &target(&a)).await;
        Ok(())
    }
}

/// A role assignment as an audit target: `APPID ROLE SCOPE`.
fn target(a: &RoleAssignment) -> String {
    format!("{} {} {}", a.app_id, a.role, a.scope)
}
