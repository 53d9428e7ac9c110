//! `GET /ui/status`: how the registry is doing, for an Owner (authorised as
//! `GET /admin/v1/registry`): each store's answer to a ping, what is stored (counts and
//! compressed bytes), the garbage collections and purges run (from the audit log, where every
//! one is recorded), and request rates from the server's own metrics ([`crate::rates`]).

use super::{admin_allow, remote};
use crate::error::UiError;
use crate::format::{Nav, render, size, time};
use crate::rates::{RateWindow, Totals};
use crate::session::viewer;
use askama::Template;
use axum::Extension;
use axum::extract::{Request, State};
use axum::response::Response;
use berth_core::principals::{AuditEvent, AuditQuery};
use berth_server::AppState;
use berth_server::admin_endpoint::AdminEndpoint;
use berth_server::error::ApiError;
use std::sync::Arc;

/// Maintenance runs shown at most, of each kind.
const HISTORY: u32 = 20;

/// One store's health.
struct StoreLine {
    name: &'static str,
    ok: bool,
    detail: String,
}

/// One maintenance run.
struct RunLine {
    at: String,
    action: String,
    actor: String,
    outcome: String,
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    nav: Nav,
    stores: Vec<StoreLine>,
    counts: Vec<(&'static str, String)>,
    stored: String,
    stored_bytes: u64,
    runs: Vec<RunLine>,
    over: String,
    since_start: bool,
    requests: String,
    by_route: Vec<(String, String)>,
    by_class: Vec<(String, String)>,
    bytes_out: String,
    bytes_in: String,
    uptime: String,
}

fn per_second(v: f64) -> String {
    if v >= 10.0 { format!("{v:.0}/s") } else { format!("{v:.2}/s") }
}

fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        _ => format!("{} h {} min", s / 3600, s / 60 % 60),
    }
}

/// The handler.
pub async fn show(
    State(st): State<Arc<AppState>>,
    Extension(window): Extension<Arc<RateWindow>>,
    req: Request,
) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    admin_allow(&st, &who, AdminEndpoint::ShowRegistry)?;
    admin_allow(&st, &who, AdminEndpoint::AuditLog { limit: HISTORY })?;
    let stores = st
        .registry
        .store_health()
        .await
        .into_iter()
        .map(|(name, r)| match r {
            Ok(took) => StoreLine { name, ok: true, detail: format!("answered in {:.1} ms", took.as_secs_f64() * 1e3) },
            Err(e) => {
                let e = ApiError::from(e);
                StoreLine { name, ok: false, detail: e.detail.unwrap_or_else(|| e.code.message().to_owned()) }
            }
        })
        .collect();
    let u = st.registry.usage().await?;
    let at = remote(req.extensions());
    let admin = st.auth.admin(who.caller.subject(), &at);
    let mut events: Vec<AuditEvent> = Vec::new();
    for action in ["gc", "purge"] {
        let q = AuditQuery { action: Some(action.into()), ..AuditQuery::default() };
        events.extend(admin.audit_search(&q, HISTORY).await?);
    }
    events.sort_by_key(|e| std::cmp::Reverse(e.at));
    let rates = window.observe(Totals::parse(&st.metrics.encode()));
    let counts = vec![
        ("Repositories", u.repositories.to_string()),
        ("Tags", u.tags.to_string()),
        ("Manifests", u.manifests.to_string()),
        ("Blobs", u.blobs.to_string()),
        ("Uploads in progress", u.uploads.to_string()),
    ];
    render(&StatusPage {
        nav: who.nav(),
        stores,
        counts,
        stored: size(u.blob_bytes),
        stored_bytes: u.blob_bytes,
        runs: events
            .into_iter()
            .map(|e| RunLine { at: time(e.at), action: e.action, actor: e.actor, outcome: e.target })
            .collect(),
        over: duration(rates.over),
        since_start: rates.since_start,
        requests: per_second(rates.requests),
        by_route: rates.by_route.into_iter().filter(|(_, r)| *r > 0.0).map(|(k, r)| (k, per_second(r))).collect(),
        by_class: rates.by_class.into_iter().map(|(k, r)| (k, per_second(r))).collect(),
        bytes_out: format!("{}/s", size(rates.bytes_out as u64)),
        bytes_in: format!("{}/s", size(rates.bytes_in as u64)),
        uptime: duration(window.uptime()),
    })
}
