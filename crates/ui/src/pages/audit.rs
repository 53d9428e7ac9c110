//! `GET /ui/audit?actor=&action=&target=`: the newest audit events, filtered in the store
//! (actor whole, action by its beginning, target containing the text), authorised as
//! `GET /admin/v1/audit`.

use super::{Params, admin_allow, remote};
use crate::error::UiError;
use crate::format::{Nav, render, time};
use crate::session::viewer;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use berth_core::principals::AuditQuery;
use berth_server::AppState;
use berth_server::admin_endpoint::AdminEndpoint;
use std::sync::Arc;

/// Events shown at most.
pub const SHOWN: u32 = 200;

/// One event.
struct EventLine {
    at: String,
    actor: String,
    action: String,
    target: String,
    remote: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    nav: Nav,
    actor: String,
    action: String,
    target: String,
    events: Vec<EventLine>,
    limit: u32,
}

/// The handler.
pub async fn show(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    admin_allow(&st, &who, AdminEndpoint::AuditLog { limit: SHOWN })?;
    let p = Params::of(req.uri());
    let given = |k: &str| p.get(k).map(str::trim).filter(|v| !v.is_empty()).map(|v| v.chars().take(256).collect());
    let q: AuditQuery = AuditQuery { actor: given("actor"), action: given("action"), target: given("target") };
    let events = st.auth.admin(who.caller.subject(), &remote(req.extensions())).audit_search(&q, SHOWN).await?;
    render(&AuditPage {
        nav: who.nav(),
        actor: q.actor.unwrap_or_default(),
        action: q.action.unwrap_or_default(),
        target: q.target.unwrap_or_default(),
        events: events
            .into_iter()
            .map(|e| EventLine { at: time(e.at), actor: e.actor, action: e.action, target: e.target, remote: e.remote })
            .collect(),
        limit: SHOWN,
    })
}
