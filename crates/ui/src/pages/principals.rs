//! Service principals from a browser, each action authorised as the admin endpoint it
//! stands for (Owner) and carried out by the identity service, which validates and audits
//! as it does for `berth sp …`:
//!
//! - `GET /ui/identities`: principals, role assignments, repository tokens, scope maps and
//!   the registry's switches ([`super::settings`]), with a form to create a principal;
//! - `POST /ui/principals`: creates one and shows its secret, once;
//! - `GET /ui/principal?key=APPID`: a principal's credentials (never their secrets), roles and
//!   federated credentials, with forms to reset its credential, assign and remove roles, and
//!   delete it;
//! - `POST /ui/principal/reset`, `/ui/principal/delete`, `/ui/roles`, `/ui/roles/remove`.
//!
//! A secret is on the one response to the post that made it (served `no-store`); no page
//! shows it again, since only its hash is kept.

use super::{admin_allow, admin_for, field, posted, remote};
use crate::error::UiError;
use crate::format::{Nav, render, time};
use crate::session::{Form, Viewer, viewer};
use askama::Template;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::admin_api::{CreateRoleAssignment, CreateServicePrincipal};
use berth_core::roles::Role;
use berth_registry::auth::{Lifetime, NewSecret};
use berth_server::AppState;
use berth_server::admin_endpoint::{AdminEndpoint, TokenEndpoint};
use std::sync::Arc;

/// A principal as listed.
struct PrincipalLine {
    name: String,
    app_id: String,
    roles: Vec<String>,
    created: String,
}

/// A role assignment as listed.
pub struct RoleLine {
    principal: String,
    app_id: String,
    role: String,
    scope: String,
}

/// A repository token as listed (never its passwords, which are kept hashed).
struct TokenLine {
    name: String,
    scope_map: String,
    enabled: bool,
    passwords: Vec<String>,
    created: String,
}

/// A scope map as listed.
struct ScopeMapLine {
    name: String,
    description: String,
    rules: Vec<String>,
    system: bool,
}

#[derive(Template)]
#[template(path = "identities.html")]
struct IdentitiesPage {
    nav: Nav,
    principals: Vec<PrincipalLine>,
    assignments: Vec<RoleLine>,
    tokens: Vec<TokenLine>,
    scope_maps: Vec<ScopeMapLine>,
    anonymous_pull: bool,
    admin_enabled: bool,
    roles: Vec<&'static str>,
}

/// A credential's metadata.
struct CredentialLine {
    key_id: String,
    name: String,
    start: String,
    end: String,
    expired: bool,
}

/// A federated credential as listed.
struct FederatedLine {
    name: String,
    issuer: String,
    subject: String,
    audience: String,
}

#[derive(Template)]
#[template(path = "principal.html")]
struct PrincipalPage {
    nav: Nav,
    name: String,
    app_id: String,
    created: String,
    credentials: Vec<CredentialLine>,
    roles: Vec<RoleLine>,
    federated: Vec<FederatedLine>,
    role_names: Vec<&'static str>,
}

/// One secret to show once, with what it is for.
pub struct Shown {
    /// The username it goes with.
    pub username: String,
    /// The secret.
    pub password: String,
    /// Until when it is valid.
    pub until: String,
}

/// The page showing new secrets, once.
#[derive(Template)]
#[template(path = "secret.html")]
pub struct SecretPage {
    /// The navigation bar.
    pub nav: Nav,
    /// What the secrets are (`the new credential of shop-pull`).
    pub what: String,
    /// The secrets.
    pub secrets: Vec<Shown>,
    /// The registry's host, for the login command.
    pub host: String,
    /// Where to go next.
    pub back: String,
}

fn role_names() -> Vec<&'static str> {
    Role::ALL.iter().map(|r| r.as_str()).collect()
}

fn role_line(a: &berth_registry::admin::NamedAssignment) -> RoleLine {
    RoleLine {
        principal: a.principal_name.clone(),
        app_id: a.assignment.app_id.clone(),
        role: a.assignment.role.to_string(),
        scope: a.assignment.scope.to_string(),
    }
}

/// `GET /ui/identities`.
pub async fn list(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    let at = remote(req.extensions());
    for endpoint in [
        AdminEndpoint::ListPrincipals,
        AdminEndpoint::ListRoleAssignments { assignee: None },
        AdminEndpoint::Tokens(TokenEndpoint::ListTokens),
        AdminEndpoint::Tokens(TokenEndpoint::ListScopeMaps),
    ] {
        admin_allow(&st, &who, endpoint)?;
    }
    let admin = admin_for(&st, &who, AdminEndpoint::ShowRegistry, &at)?;
    let assignments = admin.role_assignments(None).await?;
    let principals = admin
        .principals()
        .await?
        .into_iter()
        .map(|p| PrincipalLine {
            roles: assignments
                .iter()
                .filter(|a| a.assignment.app_id == p.app_id)
                .map(|a| format!("{} at {}", a.assignment.role, a.assignment.scope))
                .collect(),
            name: p.display_name,
            app_id: p.app_id,
            created: time(p.created_at),
        })
        .collect();
    let tokens = admin
        .tokens()
        .await?
        .into_iter()
        .map(|t| TokenLine {
            passwords: t
                .passwords
                .iter()
                .map(|p| match p.expiry {
                    Some(e) => format!("password{} until {}", p.slot, time(e)),
                    None => format!("password{}", p.slot),
                })
                .collect(),
            name: t.name,
            scope_map: t.scope_map,
            enabled: t.enabled,
            created: time(t.created),
        })
        .collect();
    let scope_maps = admin
        .scope_maps()
        .await?
        .into_iter()
        .map(|m| ScopeMapLine {
            rules: m.rules.iter().map(ToString::to_string).collect(),
            name: m.name,
            description: m.description.unwrap_or_default(),
            system: m.system,
        })
        .collect();
    let settings = admin.settings().await?;
    render(&IdentitiesPage {
        nav: who.nav(),
        principals,
        assignments: assignments.iter().map(role_line).collect(),
        tokens,
        scope_maps,
        anonymous_pull: settings.anonymous_pull,
        admin_enabled: settings.admin_enabled,
        roles: role_names(),
    })
}

fn years(form: &Form) -> Result<Option<u32>, UiError> {
    match field(form, "years") {
        None => Ok(None),
        Some(y) => match y.parse::<u32>() {
            Ok(n) if (1..=100).contains(&n) => Ok(Some(n)),
            _ => Err(UiError::BadRequest(format!("{y:?} is not a number of years from 1 to 100"))),
        },
    }
}

fn principal_url(app_id: &str) -> String {
    let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("key", app_id).finish();
    format!("/ui/principal?{q}")
}

/// The secret page for a principal's new credential.
fn secret_page(st: &AppState, who: &Viewer, what: String, s: &NewSecret) -> Result<Response, UiError> {
    render(&SecretPage {
        nav: who.nav(),
        what,
        secrets: vec![Shown { username: s.principal.app_id.clone(), password: s.password.clone(), until: time(s.end) }],
        host: st.challenge.service.clone(),
        back: principal_url(&s.principal.app_id),
    })
}

/// `POST /ui/principals`: creates a principal (with a role when one is chosen).
pub async fn create(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let admin = admin_for(&st, &who, AdminEndpoint::CreatePrincipal, &at)?;
    let name = field(&form, "name").ok_or_else(|| UiError::BadRequest("give the principal a name".into()))?;
    let role = field(&form, "role");
    if role.is_some() {
        admin_allow(&st, &who, AdminEndpoint::AssignRole)?;
    }
    let scopes = role.as_ref().and(field(&form, "scope"));
    let req = CreateServicePrincipal { name, role, scopes, years: years(&form)? };
    let created = admin.create_service_principal(&req).await?;
    secret_page(&st, &who, format!("the secret of the new principal {}", created.principal.display_name), &created)
}

/// `GET /ui/principal?key=APPID`.
pub async fn show(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    let at = remote(req.extensions());
    let params = super::Params::of(req.uri());
    let key = params.get("key").ok_or_else(|| UiError::BadRequest("no principal named".into()))?.to_owned();
    admin_allow(&st, &who, AdminEndpoint::ListFederatedCredentials { key: key.clone() })?;
    let admin = admin_for(&st, &who, AdminEndpoint::ShowPrincipal { key: key.clone() }, &at)?;
    let d = admin.principal_detail(&key).await?;
    let federated = admin.federated_credentials(&key).await?;
    let named = admin.role_assignments(Some(&d.principal.app_id)).await?;
    let now = berth_core::principals::now_secs();
    render(&PrincipalPage {
        nav: who.nav(),
        name: d.principal.display_name.clone(),
        app_id: d.principal.app_id.clone(),
        created: time(d.principal.created_at),
        credentials: d
            .credentials
            .iter()
            .map(|c| CredentialLine {
                key_id: c.key_id.clone(),
                name: c.display_name.clone().unwrap_or_default(),
                start: time(c.start),
                end: time(c.end),
                expired: c.end <= now,
            })
            .collect(),
        roles: named.iter().map(role_line).collect(),
        federated: federated
            .into_iter()
            .map(|f| FederatedLine { name: f.name, issuer: f.issuer, subject: f.subject, audience: f.audience })
            .collect(),
        role_names: role_names(),
    })
}

fn key_of(form: &Form) -> Result<String, UiError> {
    field(form, "key").ok_or_else(|| UiError::BadRequest("no principal named".into()))
}

/// `POST /ui/principal/reset`: a new credential (replacing the others unless `append`).
pub async fn reset(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let key = key_of(&form)?;
    let admin = admin_for(&st, &who, AdminEndpoint::ResetCredential { key: key.clone() }, &at)?;
    let life = Lifetime::Years(years(&form)?.unwrap_or(1));
    let append = form.get("append").is_some();
    let reset = admin.reset_credential(&key, append, life, field(&form, "display_name")).await?;
    secret_page(&st, &who, format!("the new credential of {}", reset.principal.display_name), &reset)
}

/// `POST /ui/principal/delete`: deletes the principal, its credentials and roles.
pub async fn delete(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let key = key_of(&form)?;
    admin_for(&st, &who, AdminEndpoint::DeletePrincipal { key: key.clone() }, &at)?.delete_principal(&key).await?;
    Ok(Redirect::to("/ui/identities").into_response())
}

/// `POST /ui/roles`: assigns `role` at `scope` to `assignee`.
pub async fn assign(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let admin = admin_for(&st, &who, AdminEndpoint::AssignRole, &at)?;
    let assignee = field(&form, "assignee").ok_or_else(|| UiError::BadRequest("no principal named".into()))?;
    let role = field(&form, "role").ok_or_else(|| UiError::BadRequest("choose a role".into()))?;
    let done = admin.assign_role(&CreateRoleAssignment { assignee, role, scope: field(&form, "scope") }).await?;
    Ok(Redirect::to(&principal_url(&done.assignment.app_id)).into_response())
}

/// `POST /ui/roles/remove`: removes one assignment.
pub async fn unassign(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let (assignee, role, scope) = (field(&form, "assignee"), field(&form, "role"), field(&form, "scope"));
    let endpoint = AdminEndpoint::UnassignRole { assignee: assignee.clone(), role: role.clone(), scope: scope.clone() };
    let admin = admin_for(&st, &who, endpoint, &at)?;
    admin.unassign_role(assignee.as_deref(), role.as_deref(), scope.as_deref()).await?;
    let back = match form.get("back") {
        Some("principal") => principal_url(assignee.as_deref().unwrap_or("")),
        _ => "/ui/identities".to_owned(),
    };
    Ok(Redirect::to(&back).into_response())
}
