//! The admin API's wire shapes (`/admin/v1/…`, JSON, camelCase): every request body the
//! server reads and every response body it writes, shared by the server and the `berth` CLI so
//! the two cannot drift.
//!
//! Contracts:
//! - Request bodies reject unknown fields; a field left out means what `null` means.
//! - Response bodies accept unknown fields (a newer server may add some) and serialize every
//!   field the server always writes, `null` included; the fields marked "only when" are left
//!   out otherwise.
//! - Times are RFC 3339 strings in UTC, whole seconds.

use serde::{Deserialize, Serialize};

/// `POST /admin/v1/service-principals`: create a principal (or rotate its secret), with an
/// optional role assignment (`role` and `scopes` together).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateServicePrincipal {
    /// Display name.
    pub name: String,
    /// Role to assign.
    pub role: Option<String>,
    /// Scope of the role (default `/`).
    pub scopes: Option<String>,
    /// Years the secret is valid (default 1).
    pub years: Option<u32>,
}

/// `POST /admin/v1/service-principals/{key}/credential-reset`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResetCredential {
    /// Keep the existing secrets.
    #[serde(default)]
    pub append: bool,
    /// Years the secret is valid (not with `end_date`).
    pub years: Option<u32>,
    /// Last moment of validity, `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ`.
    pub end_date: Option<String>,
    /// A name for the credential.
    pub display_name: Option<String>,
}

/// `POST /admin/v1/role-assignments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRoleAssignment {
    /// Application ID, display name or `http://NAME`.
    pub assignee: String,
    /// Role name.
    pub role: String,
    /// Scope (default `/`).
    pub scope: Option<String>,
}

/// `PATCH /admin/v1/registry`: each switch given is set, the others are left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RegistryUpdate {
    /// Anonymous pull.
    pub anonymous_pull_enabled: Option<bool>,
    /// The admin user.
    pub admin_user_enabled: Option<bool>,
}

/// `POST /admin/v1/registry/credential-renew`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialRenew {
    /// `password` or `password2`.
    pub password_name: String,
}

/// `POST /admin/v1/scope-maps` (`name`, `description`, `actions`) and
/// `PATCH /admin/v1/scope-maps/{name}` (`description`, `addActions`, `removeActions`). Rules
/// are written as [`crate::scopemap::ScopeRule`] strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScopeMapRequest {
    /// Name (create only).
    pub name: Option<String>,
    /// Free text.
    pub description: Option<String>,
    /// The rules of a new map.
    #[serde(default)]
    pub actions: Vec<String>,
    /// Rules an update adds.
    #[serde(default)]
    pub add_actions: Vec<String>,
    /// Rules an update removes.
    #[serde(default)]
    pub remove_actions: Vec<String>,
}

/// `POST /admin/v1/tokens` (every field) and `PATCH /admin/v1/tokens/{name}` (`status`,
/// `scopeMap`). A new token holds either `scopeMap` or a map of its own made of `actions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenRequest {
    /// Name (create only).
    pub name: Option<String>,
    /// An existing scope map.
    pub scope_map: Option<String>,
    /// Rules of the token's own new scope map.
    #[serde(default)]
    pub actions: Vec<String>,
    /// `enabled` or `disabled`.
    pub status: Option<String>,
    /// Create no passwords.
    #[serde(default)]
    pub no_passwords: bool,
    /// Days until the passwords expire (default: never).
    pub expiration_in_days: Option<u32>,
}

/// `POST /admin/v1/tokens/{name}/credentials`: new passwords for the slots named (both when
/// neither or both are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TokenCredentialRequest {
    /// Regenerate password1.
    #[serde(default)]
    pub password1: bool,
    /// Regenerate password2.
    #[serde(default)]
    pub password2: bool,
    /// Days until the new passwords expire (default: never).
    pub expiration_in_days: Option<u32>,
}

/// `POST /admin/v1/gc`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct GcRequest {
    /// Only report what would be deleted.
    pub dry_run: bool,
}

/// `POST /admin/v1/purge`: untagged manifests older than `ago_secs`, in `repository` or all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PurgeRequest {
    /// Minimum age, seconds.
    pub ago_secs: u64,
    /// Only this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
    /// Only report what would be deleted.
    #[serde(default)]
    pub dry_run: bool,
}

/// A new secret of a principal, shown once (create answers with `displayName`, reset without).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalSecret {
    /// Application ID.
    pub app_id: String,
    /// Display name, only when the principal was created (or rotated) by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The secret.
    pub password: String,
    /// The registry's tenant.
    pub tenant: String,
}

/// One principal of `GET /admin/v1/service-principals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalSummary {
    /// Application ID.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
}

/// A credential as `az ad sp credential list` shows it (never its secret or hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    /// The credential's ID.
    pub key_id: String,
    /// Its name, if given.
    pub display_name: Option<String>,
    /// Valid from.
    pub start_date_time: String,
    /// Valid until.
    pub end_date_time: String,
}

/// A role assignment as `az role assignment list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RoleAssignmentView {
    /// The principal's application ID.
    pub principal_id: String,
    /// The principal's display name (empty if it is gone).
    pub principal_name: String,
    /// The role.
    pub role_definition_name: String,
    /// Where it applies.
    pub scope: String,
}

/// `GET /admin/v1/service-principals/{key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServicePrincipalDetail {
    /// Application ID.
    pub app_id: String,
    /// Display name.
    pub display_name: String,
    /// Its credentials.
    pub password_credentials: Vec<PasswordCredential>,
    /// Its role assignments.
    pub role_assignments: Vec<RoleAssignmentView>,
}

/// One admin-user password, shown once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedPassword {
    /// `password` or `password2`.
    pub name: String,
    /// The password.
    pub value: String,
}

/// The admin user's username and the passwords just issued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCredentials {
    /// `admin`.
    pub username: String,
    /// The new passwords.
    pub passwords: Vec<NamedPassword>,
}

/// `GET` and `PATCH /admin/v1/registry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryView {
    /// The registry host.
    pub login_server: String,
    /// The tenant.
    pub tenant: String,
    /// Anonymous pull.
    pub anonymous_pull_enabled: bool,
    /// The admin user.
    pub admin_user_enabled: bool,
    /// Only when this change created the admin user's passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<AdminCredentials>,
}

/// One event of `GET /admin/v1/audit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub time: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// To what.
    pub target: String,
    /// From where.
    pub remote: String,
}

/// Who made a scope map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScopeMapKind {
    /// Built in.
    SystemDefined,
    /// Made through the admin API.
    UserDefined,
}

/// A scope map as `az acr scope-map show` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeMapView {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Its rules.
    pub actions: Vec<String>,
    /// Built in or not.
    #[serde(rename = "type")]
    pub kind: ScopeMapKind,
}

/// Whether a token may authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenStatus {
    /// It may.
    Enabled,
    /// It may not.
    Disabled,
}

/// One password slot of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenPasswordView {
    /// `password1` or `password2`.
    pub name: String,
    /// When it was issued.
    pub creation_time: String,
    /// When it expires, if ever.
    pub expiry: Option<String>,
    /// The password, only when just issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A token's username and password slots (the answer of `POST …/tokens/{name}/credentials`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCredentials {
    /// The token's name.
    pub username: String,
    /// Its passwords.
    pub passwords: Vec<TokenPasswordView>,
}

/// A token as `az acr token show` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenView {
    /// Name.
    pub name: String,
    /// The scope map it holds.
    pub scope_map: String,
    /// Enabled or not.
    pub status: TokenStatus,
    /// When it was created.
    pub creation_date: String,
    /// Its passwords.
    pub credentials: TokenCredentials,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn responses_keep_null_fields_and_leave_out_the_optional_ones() {
        let t = TokenView {
            name: "ci-token".into(),
            scope_map: "m".into(),
            status: TokenStatus::Disabled,
            creation_date: "1970-01-01T00:00:00Z".into(),
            credentials: TokenCredentials {
                username: "ci-token".into(),
                passwords: vec![TokenPasswordView {
                    name: "password1".into(),
                    creation_time: "1970-01-01T00:00:00Z".into(),
                    expiry: None,
                    value: None,
                }],
            },
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(
            v,
            json!({ "name": "ci-token", "scopeMap": "m", "status": "disabled", "creationDate": "1970-01-01T00:00:00Z",
                    "credentials": { "username": "ci-token", "passwords": [
                        { "name": "password1", "creationTime": "1970-01-01T00:00:00Z", "expiry": null } ] } })
        );
        assert_eq!(serde_json::from_value::<TokenView>(v).unwrap(), t);
        let m = ScopeMapView { name: "m".into(), description: None, actions: vec![], kind: ScopeMapKind::UserDefined };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            json!({ "name": "m", "description": null, "actions": [], "type": "UserDefined" })
        );
    }

    #[test]
    fn requests_reject_unknown_fields_and_default_missing_ones() {
        let r: TokenRequest = serde_json::from_value(json!({ "status": "enabled" })).unwrap();
        assert_eq!((r.name, r.actions.len(), r.no_passwords), (None, 0, false));
        assert!(serde_json::from_value::<TokenRequest>(json!({ "nmae": "x" })).is_err());
        assert_eq!(serde_json::from_value::<GcRequest>(json!({})).unwrap(), GcRequest { dry_run: false });
        let p = PurgeRequest { ago_secs: 5, repository: None, dry_run: true };
        assert_eq!(serde_json::to_value(&p).unwrap(), json!({ "agoSecs": 5, "dryRun": true }));
    }
}

#[path = "admin_api_cache.rs"]
mod cache;
pub use cache::*;

#[path = "admin_api_federation.rs"]
mod federation;
pub use federation::*;
