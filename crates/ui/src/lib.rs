//! berth-ui: the web UI, served by `berth serve` on its own listener under `/ui/`.
//!
//! Pages are rendered on the server ([`askama`] templates, which escape every value) from
//! what the registry and identity services answer; the only script is one embedded file that
//! copies pull commands and asks before destructive actions ([`assets`]). A browser signs in
//! with any credential Berth knows and holds a session cookie ([`session`]); every page and
//! action is authorised by the server's one authorisation point
//! ([`berth_server::auth::authorize`]) as the OCI request it stands for, so the UI shows a
//! caller exactly what the registry API would let it read. [`security`] sets the headers
//! (strict CSP, no framing) and refuses cross-site posts; `pages` holds the handlers.
//!
//! Dependency rule: sees `berth-server` (its state and authorisation), `berth-registry`,
//! `berth-kube` (the text `berth kube connect` prints and the checks of `berth kube doctor`,
//! so the UI's are the same) with the `berth-client` it rests on, and `berth-core`; never a
//! store.

pub mod assets;
mod error;
mod format;
mod pages;
pub mod rates;
pub mod security;
pub mod session;

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Extension, middleware};
use berth_core::ErrorCode;
use berth_server::AppState;
use berth_server::error::ApiError;
use std::sync::Arc;

/// How the UI behaves.
#[derive(Debug, Clone)]
pub struct UiConfig {
    /// Seconds a session lasts (never beyond the credential it signed in with).
    pub session_secs: u64,
    /// Whether cookies are marked `Secure` (the server speaks TLS).
    pub secure_cookies: bool,
}

/// The UI's routes (and `/`, which sends a browser to it), to merge into the server's router.
pub fn routes(config: UiConfig) -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(root))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::repos::list))
        .route("/ui/repo", get(pages::tags::show))
        .route("/ui/manifest", get(pages::manifest::show))
        .route("/ui/lock", post(pages::locks::update))
        .route("/ui/delete", get(pages::delete::confirm).post(pages::delete::delete))
        .route("/ui/identities", get(pages::principals::list))
        .route("/ui/principals", post(pages::principals::create))
        .route("/ui/principal", get(pages::principals::show))
        .route("/ui/principal/reset", post(pages::principals::reset))
        .route("/ui/principal/delete", post(pages::principals::delete))
        .route("/ui/roles", post(pages::principals::assign))
        .route("/ui/roles/remove", post(pages::principals::unassign))
        .route("/ui/settings", post(pages::settings::update))
        .route("/ui/tokens", post(pages::tokens::create))
        .route("/ui/token/passwords", post(pages::tokens::passwords))
        .route("/ui/token/status", post(pages::tokens::status))
        .route("/ui/token/delete", post(pages::tokens::delete))
        .route("/ui/scope-maps", post(pages::tokens::create_map))
        .route("/ui/scope-map/delete", post(pages::tokens::delete_map))
        .route("/ui/audit", get(pages::audit::show))
        .route("/ui/status", get(pages::status::show))
        .route("/ui/connect", get(pages::connect::form).post(pages::connect::connect))
        .route("/ui/doctor", get(pages::doctor::form).post(pages::doctor::check))
        .route("/ui/sign-in", get(session::sign_in_form).post(session::sign_in))
        .route("/ui/sign-out", post(session::sign_out))
        .route("/ui/assets/{name}", get(assets::serve))
        .route("/ui/{*rest}", any(|| async { error::UiError::NotFound("no such page".into()) }))
        .layer(middleware::from_fn(security::guard))
        .layer(Extension(Arc::new(config)))
        .layer(Extension(Arc::new(rates::RateWindow::default())))
}

/// `GET /`: a browser (asking for HTML) goes to the UI; any other client gets the registry's
/// answer to an unknown path.
async fn root(req: Request) -> Response {
    let html =
        req.headers().get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if html {
        Redirect::to("/ui/").into_response()
    } else {
        ApiError::new(ErrorCode::NameUnknown).detail("no such endpoint").into_response()
    }
}
