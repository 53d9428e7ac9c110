//! `POST /ui/settings`: the registry's switches (anonymous pull, the admin user), authorised
//! as `PATCH /admin/v1/registry` and carried out by the identity service, which audits them.
//! Turning the admin user on issues its passwords, shown once on the answer.

use super::posted;
use super::principals::{SecretPage, Shown};
use crate::error::UiError;
use crate::format::{render, time};
use crate::session::Form;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::admin_api::RegistryUpdate;
use berth_registry::auth::ADMIN_USER;
use berth_server::AppState;
use berth_server::admin_endpoint::AdminEndpoint;
use std::sync::Arc;

/// A switch's wanted state: `on`, `off`, or not given.
fn switch(form: &Form, key: &str) -> Result<Option<bool>, UiError> {
    match form.get(key) {
        None | Some("") => Ok(None),
        Some("on") => Ok(Some(true)),
        Some("off") => Ok(Some(false)),
        Some(v) => Err(UiError::BadRequest(format!("{key} must be on or off, not {v:?}"))),
    }
}

/// The handler.
pub async fn update(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (_, form, who, at) = posted(&st, req).await?;
    let admin = super::admin_for(&st, &who, AdminEndpoint::UpdateRegistry, &at)?;
    let update = RegistryUpdate {
        anonymous_pull_enabled: switch(&form, "anonymous_pull")?,
        admin_user_enabled: switch(&form, "admin_user")?,
    };
    let change = admin.update_settings(&update).await?;
    if change.admin_passwords.is_empty() {
        return Ok(Redirect::to("/ui/identities").into_response());
    }
    let secrets = change
        .admin_passwords
        .iter()
        .map(|p| Shown {
            username: ADMIN_USER.to_owned(),
            password: p.value.clone(),
            until: p.expiry.map_or_else(|| "no expiry".to_owned(), time),
        })
        .collect();
    render(&SecretPage {
        nav: who.nav(),
        what: "the admin user's passwords".into(),
        secrets,
        host: st.challenge.service.clone(),
        back: "/ui/identities".into(),
    })
}
