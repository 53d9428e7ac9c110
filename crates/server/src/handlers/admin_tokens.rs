//! The admin API for repository-scoped tokens and their scope maps (`/admin/v1/tokens…`,
//! `/admin/v1/scope-maps…`), reached only through [`super::admin`]'s authorisation.

use super::admin::{body, json_response};
use super::admin_views as view;
use crate::error::ApiError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::admin_api::{ScopeMapRequest, TokenCredentialRequest, TokenRequest};
use berth_registry::admin::IdentityAdmin;
use http::{Method, StatusCode};

/// Routes the token and scope-map part of the admin API.
pub(super) async fn route(
    admin: &IdentityAdmin<'_>,
    method: Method,
    segments: &[&str],
    req: Body,
) -> Result<Response, ApiError> {
    match (method, segments) {
        (Method::GET, ["scope-maps"]) => {
            let all = admin.scope_maps().await?;
            Ok(json_response(StatusCode::OK, all.iter().map(view::scope_map).collect::<Vec<_>>()))
        }
        (Method::GET, ["scope-maps", name]) => {
            Ok(json_response(StatusCode::OK, view::scope_map(&admin.scope_map(name).await?)))
        }
        (Method::POST, ["scope-maps"]) => {
            let b: ScopeMapRequest = body(req).await?;
            Ok(json_response(StatusCode::CREATED, view::scope_map(&admin.create_scope_map(&b).await?)))
        }
        (Method::PATCH, ["scope-maps", name]) => {
            let b: ScopeMapRequest = body(req).await?;
            Ok(json_response(StatusCode::OK, view::scope_map(&admin.update_scope_map(name, &b).await?)))
        }
        (Method::DELETE, ["scope-maps", name]) => {
            admin.delete_scope_map(name).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::GET, ["tokens"]) => {
            let all = admin.tokens().await?;
            Ok(json_response(StatusCode::OK, all.iter().map(|t| view::token(t, &[])).collect::<Vec<_>>()))
        }
        (Method::GET, ["tokens", name]) => {
            Ok(json_response(StatusCode::OK, view::token(&admin.token(name).await?, &[])))
        }
        (Method::POST, ["tokens"]) => {
            let b: TokenRequest = body(req).await?;
            let created = admin.create_token(&b).await?;
            Ok(json_response(StatusCode::CREATED, view::token(&created.token, &created.passwords)))
        }
        (Method::PATCH, ["tokens", name]) => {
            let b: TokenRequest = body(req).await?;
            Ok(json_response(StatusCode::OK, view::token(&admin.update_token(name, &b).await?, &[])))
        }
        (Method::DELETE, ["tokens", name]) => {
            admin.delete_token(name).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::POST, ["tokens", name, "credentials"]) => {
            let b: TokenCredentialRequest = body(req).await?;
            let shown = admin.generate_token_passwords(name, &b).await?;
            Ok(json_response(StatusCode::OK, view::token_passwords(name, &shown)))
        }
        _ => Err(ApiError::new(berth_core::ErrorCode::NameUnknown).detail("no such admin endpoint")),
    }
}
