//! Repository tokens and scope maps from the Identities page, each action authorised as the
//! admin endpoint it stands for (`/admin/v1/tokens…`, `/admin/v1/scope-maps…`: Owner) and
//! carried out by the identity service, which validates and audits as for `berth token` and
//! `berth scope-map`. New token passwords are shown once ([`super::principals::SecretPage`]).

use super::principals::{SecretPage, Shown};
use super::{admin_for, field, posted};
use crate::error::UiError;
use crate::format::{render, time};
use crate::session::Form;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::admin_api::{ScopeMapRequest, TokenCredentialRequest, TokenRequest};
use berth_registry::auth::TokenSecret;
use berth_server::AppState;
use berth_server::admin_endpoint::{AdminEndpoint, TokenEndpoint};
use std::sync::Arc;

/// The non-empty lines of field `key` (scope-map actions, one a line).
fn lines(form: &Form, key: &str) -> Vec<String> {
    form.get(key).unwrap_or("").lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn name_of(form: &Form) -> Result<String, UiError> {
    field(form, "name").ok_or_else(|| UiError::BadRequest("no name given".into()))
}

fn shown(
    st: &AppState,
    who_nav: crate::format::Nav,
    token: &str,
    secrets: &[TokenSecret],
) -> Result<Response, UiError> {
    render(&SecretPage {
        nav: who_nav,
        what: format!("the passwords of the repository token {token}"),
        secrets: secrets
            .iter()
            .map(|p| Shown {
                username: token.to_owned(),
                password: p.value.clone(),
                until: p.expiry.map_or_else(|| format!("no expiry (password{})", p.slot), time),
            })
            .collect(),
        host: st.challenge.service.clone(),
        back: "/ui/identities".into(),
    })
}

fn back() -> Response {
    Redirect::to("/ui/identities#tokens-heading").into_response()
}

/// `POST /ui/tokens`: a token holding an existing scope map or a new one of `actions`.
pub async fn create(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let admin = admin_for(&st, &who, AdminEndpoint::Tokens(TokenEndpoint::CreateToken), &at)?;
    let name = name_of(&form)?;
    let req = TokenRequest {
        name: Some(name.clone()),
        scope_map: field(&form, "scope_map"),
        actions: lines(&form, "actions"),
        status: None,
        no_passwords: false,
        expiration_in_days: None,
    };
    let made = admin.create_token(&req).await?;
    shown(&st, who.nav(), &name, &made.passwords)
}

/// `POST /ui/token/passwords`: a new password in `slot` (1 or 2), the other kept.
pub async fn passwords(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let name = name_of(&form)?;
    let admin =
        admin_for(&st, &who, AdminEndpoint::Tokens(TokenEndpoint::GenerateTokenPasswords { name: name.clone() }), &at)?;
    let slot = form.get("slot");
    let req =
        TokenCredentialRequest { password1: slot == Some("1"), password2: slot == Some("2"), expiration_in_days: None };
    if !req.password1 && !req.password2 {
        return Err(UiError::BadRequest("slot must be 1 or 2".into()));
    }
    let made = admin.generate_token_passwords(&name, &req).await?;
    shown(&st, who.nav(), &name, &made)
}

/// `POST /ui/token/status`: enables or disables a token (`status` `enabled`/`disabled`).
pub async fn status(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let name = name_of(&form)?;
    let admin = admin_for(&st, &who, AdminEndpoint::Tokens(TokenEndpoint::UpdateToken { name: name.clone() }), &at)?;
    let req = TokenRequest {
        name: None,
        scope_map: None,
        actions: Vec::new(),
        status: field(&form, "status"),
        no_passwords: false,
        expiration_in_days: None,
    };
    admin.update_token(&name, &req).await?;
    Ok(back())
}

/// `POST /ui/token/delete`.
pub async fn delete(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let name = name_of(&form)?;
    let admin = admin_for(&st, &who, AdminEndpoint::Tokens(TokenEndpoint::DeleteToken { name: name.clone() }), &at)?;
    admin.delete_token(&name).await?;
    Ok(back())
}

/// `POST /ui/scope-maps`: a scope map of `actions` (one a line).
pub async fn create_map(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let admin = admin_for(&st, &who, AdminEndpoint::Tokens(TokenEndpoint::CreateScopeMap), &at)?;
    let req = ScopeMapRequest {
        name: Some(name_of(&form)?),
        description: field(&form, "description"),
        actions: lines(&form, "actions"),
        add_actions: Vec::new(),
        remove_actions: Vec::new(),
    };
    admin.create_scope_map(&req).await?;
    Ok(Redirect::to("/ui/identities#scope-maps-heading").into_response())
}

/// `POST /ui/scope-map/delete`.
pub async fn delete_map(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let name = name_of(&form)?;
    let admin = admin_for(&st, &who, AdminEndpoint::Tokens(TokenEndpoint::DeleteScopeMap { name: name.clone() }), &at)?;
    admin.delete_scope_map(&name).await?;
    Ok(Redirect::to("/ui/identities#scope-maps-heading").into_response())
}
