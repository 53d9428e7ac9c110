//! The registry's settings, its admin user and the audit log.

use super::{AdminError, IdentityAdmin, invalid};
use crate::auth::TokenSecret;
use berth_core::admin_api::{CredentialRenew, RegistryUpdate};
use berth_core::principals::{AuditEvent, AuditQuery, Flag, RegistrySettings};

/// The settings after a change, with the admin user's passwords if the change created them.
#[derive(Debug, Clone)]
pub struct RegistryChange {
    /// The settings now.
    pub settings: RegistrySettings,
    /// Passwords issued by this change (shown once), else empty.
    pub admin_passwords: Vec<TokenSecret>,
}

impl IdentityAdmin<'_> {
    /// The registry's settings.
    pub async fn settings(&self) -> Result<RegistrySettings, AdminError> {
        Ok(self.auth.settings().await?)
    }

    /// Sets each switch `req` gives (anonymous pull first, then the admin user, each audited);
    /// turning the admin user on the first time issues its two passwords.
    pub async fn update_settings(&self, req: &RegistryUpdate) -> Result<RegistryChange, AdminError> {
        if let Some(on) = req.anonymous_pull_enabled {
            self.auth.identities().set_flag(Flag::AnonymousPull, on).await?;
            self.auth.settings_changed();
            self.audit("registry.anonymous_pull", &on.to_string()).await;
        }
        let mut admin_passwords = Vec::new();
        if let Some(on) = req.admin_user_enabled {
            admin_passwords = self.auth.set_admin_enabled(on).await?;
            self.audit("registry.admin_user", &on.to_string()).await;
        }
        Ok(RegistryChange { settings: self.auth.settings().await?, admin_passwords })
    }

    /// A new password for the admin user's `password` or `password2`.
    pub async fn renew_admin_password(&self, req: &CredentialRenew) -> Result<TokenSecret, AdminError> {
        let slot = match req.password_name.as_str() {
            "password" => 1,
            "password2" => 2,
            other => return Err(invalid(format!("--password-name is password or password2, not {other:?}"))),
        };
        let renewed = self.auth.renew_admin_password(slot).await?;
        self.audit("registry.admin_user.renew", &req.password_name).await;
        Ok(renewed)
    }

    /// The newest `limit` audit events, newest first.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEvent>, AdminError> {
        Ok(self.auth.identities().audit_log(limit).await?)
    }

    /// The newest `limit` audit events matching `q`, newest first.
    pub async fn audit_search(&self, q: &AuditQuery, limit: u32) -> Result<Vec<AuditEvent>, AdminError> {
        Ok(self.auth.identities().audit_search(q, limit).await?)
    }
}
