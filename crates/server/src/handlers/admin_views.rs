//! The admin API's response bodies ([`berth_core::admin_api`]) made from the records the
//! identity service answers with: times written as RFC 3339, secrets only where just issued.

use super::rfc3339;
use berth_core::admin_api::FederatedCredentialView;
use berth_core::admin_api::{
    AdminCredentials, AuditEntry, NamedPassword, PasswordCredential, RegistryView, RoleAssignmentView, ScopeMapKind,
    ScopeMapView, ServicePrincipalDetail, ServicePrincipalSecret, ServicePrincipalSummary, TokenCredentials,
    TokenPasswordView, TokenStatus, TokenView,
};
use berth_core::federation::FederatedCredential;
use berth_core::principals::{AuditEvent, Credential, Principal, RegistrySettings, RoleAssignment};
use berth_core::scopemap::{ScopeMap, ScopeRule, Token};
use berth_registry::admin::{NamedAssignment, PrincipalDetail};
use berth_registry::auth::{ADMIN_USER, NewSecret, TokenSecret};

/// A new secret; `with_name` adds the principal's display name (as create does, reset not).
pub(super) fn secret(s: &NewSecret, with_name: bool) -> ServicePrincipalSecret {
    ServicePrincipalSecret {
        app_id: s.principal.app_id.clone(),
        display_name: with_name.then(|| s.principal.display_name.clone()),
        password: s.password.clone(),
        tenant: s.tenant.clone(),
    }
}

pub(super) fn summary(p: &Principal) -> ServicePrincipalSummary {
    ServicePrincipalSummary { app_id: p.app_id.clone(), display_name: p.display_name.clone() }
}

pub(super) fn credential(c: &Credential) -> PasswordCredential {
    PasswordCredential {
        key_id: c.key_id.clone(),
        display_name: c.display_name.clone(),
        start_date_time: rfc3339(c.start),
        end_date_time: rfc3339(c.end),
    }
}

pub(super) fn federated_credential(fc: &FederatedCredential) -> FederatedCredentialView {
    FederatedCredentialView {
        id: fc.id.clone(),
        app_id: fc.app_id.clone(),
        name: fc.name.clone(),
        issuer: fc.issuer.clone(),
        subject: fc.subject.clone(),
        audiences: vec![fc.audience.clone()],
        description: fc.description.clone(),
        created_date_time: rfc3339(fc.created_at),
    }
}

pub(super) fn assignment(a: &NamedAssignment) -> RoleAssignmentView {
    role_assignment(&a.assignment, &a.principal_name)
}

fn role_assignment(a: &RoleAssignment, principal_name: &str) -> RoleAssignmentView {
    RoleAssignmentView {
        principal_id: a.app_id.clone(),
        principal_name: principal_name.to_owned(),
        role_definition_name: a.role.as_str().to_owned(),
        scope: a.scope.to_string(),
    }
}

pub(super) fn detail(d: &PrincipalDetail) -> ServicePrincipalDetail {
    let p = &d.principal;
    ServicePrincipalDetail {
        app_id: p.app_id.clone(),
        display_name: p.display_name.clone(),
        password_credentials: d.credentials.iter().map(credential).collect(),
        role_assignments: d.roles.iter().map(|a| role_assignment(a, &p.display_name)).collect(),
    }
}

/// The admin user's passwords just issued, named by slot.
pub(super) fn admin_credentials(shown: &[TokenSecret]) -> AdminCredentials {
    let passwords = shown
        .iter()
        .map(|s| NamedPassword {
            name: if s.slot == 1 { "password" } else { "password2" }.to_owned(),
            value: s.value.clone(),
        })
        .collect();
    AdminCredentials { username: ADMIN_USER.to_owned(), passwords }
}

/// The settings of the registry `login_server`, with the admin user's passwords if just issued.
pub(super) fn registry(login_server: &str, s: RegistrySettings, shown: &[TokenSecret]) -> RegistryView {
    RegistryView {
        login_server: login_server.to_owned(),
        tenant: s.tenant,
        anonymous_pull_enabled: s.anonymous_pull,
        admin_user_enabled: s.admin_enabled,
        credentials: (!shown.is_empty()).then(|| admin_credentials(shown)),
    }
}

pub(super) fn audit(e: &AuditEvent) -> AuditEntry {
    AuditEntry {
        time: rfc3339(e.at),
        actor: e.actor.clone(),
        action: e.action.clone(),
        target: e.target.clone(),
        remote: e.remote.clone(),
    }
}

pub(super) fn scope_map(m: &ScopeMap) -> ScopeMapView {
    ScopeMapView {
        name: m.name.clone(),
        description: m.description.clone(),
        actions: m.rules.iter().map(ScopeRule::to_string).collect(),
        kind: if m.system { ScopeMapKind::SystemDefined } else { ScopeMapKind::UserDefined },
    }
}

fn password(slot: u8, created: i64, expiry: Option<i64>, value: Option<&str>) -> TokenPasswordView {
    TokenPasswordView {
        name: format!("password{slot}"),
        creation_time: rfc3339(created),
        expiry: expiry.map(rfc3339),
        value: value.map(str::to_owned),
    }
}

/// Passwords just issued for token `name`, in clear.
pub(super) fn token_passwords(name: &str, shown: &[TokenSecret]) -> TokenCredentials {
    let passwords = shown.iter().map(|s| password(s.slot, s.created, s.expiry, Some(&s.value))).collect();
    TokenCredentials { username: name.to_owned(), passwords }
}

/// A token; the value of each of its passwords that is among `shown` (just issued).
pub(super) fn token(t: &Token, shown: &[TokenSecret]) -> TokenView {
    let passwords = t
        .passwords
        .iter()
        .map(|p| {
            let value = shown.iter().find(|s| s.slot == p.slot && s.created == p.created).map(|s| s.value.as_str());
            password(p.slot, p.created, p.expiry, value)
        })
        .collect();
    TokenView {
        name: t.name.clone(),
        scope_map: t.scope_map.clone(),
        status: if t.enabled { TokenStatus::Enabled } else { TokenStatus::Disabled },
        creation_date: rfc3339(t.created),
        credentials: TokenCredentials { username: t.name.clone(), passwords },
    }
}
