//! The admin API for repository-scoped tokens and their scope maps (`/admin/v1/tokens…`,
//! `/admin/v1/scope-maps…`), reached only through [`super::admin`]'s authorisation of a [`TokenEndpoint`].

use super::admin::{body, json_response};
use super::admin_views as view;
use crate::admin_endpoint::TokenEndpoint;
use crate::error::ApiError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::admin_api::{ScopeMapRequest, TokenCredentialRequest, TokenRequest};
use berth_registry::admin::IdentityAdmin;
use http::StatusCode;

/// Runs the authorised token or scope-map endpoint; every variant has its arm.
pub(super) async fn dispatch(
    admin: &IdentityAdmin<'_>,
    endpoint: &TokenEndpoint,
    req: Body,
) -> Result<Response, ApiError> {
    match endpoint {
        TokenEndpoint::ListScopeMaps => {
            let all = admin.scope_maps().await?;
            Ok(json_response(StatusCode::OK, all.iter().map(view::scope_map).collect::<Vec<_>>()))
        }
        TokenEndpoint::ShowScopeMap { name } => {
            Ok(json_response(StatusCode::OK, view::scope_map(&admin.scope_map(name).await?)))
        }
        TokenEndpoint::CreateScopeMap => {
            let b: ScopeMapRequest = body(req).await?;
            Ok(json_response(StatusCode::CREATED, view::scope_map(&admin.create_scope_map(&b).await?)))
        }
        TokenEndpoint::UpdateScopeMap { name } => {
            let b: ScopeMapRequest = body(req).await?;
            Ok(json_response(StatusCode::OK, view::scope_map(&admin.update_scope_map(name, &b).await?)))
        }
        TokenEndpoint::DeleteScopeMap { name } => {
            admin.delete_scope_map(name).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        TokenEndpoint::ListTokens => {
            let all = admin.tokens().await?;
            Ok(json_response(StatusCode::OK, all.iter().map(|t| view::token(t, &[])).collect::<Vec<_>>()))
        }
        TokenEndpoint::ShowToken { name } => {
            Ok(json_response(StatusCode::OK, view::token(&admin.token(name).await?, &[])))
        }
        TokenEndpoint::CreateToken => {
            let b: TokenRequest = body(req).await?;
            let created = admin.create_token(&b).await?;
            Ok(json_response(StatusCode::CREATED, view::token(&created.token, &created.passwords)))
        }
        TokenEndpoint::UpdateToken { name } => {
            let b: TokenRequest = body(req).await?;
            Ok(json_response(StatusCode::OK, view::token(&admin.update_token(name, &b).await?, &[])))
        }
        TokenEndpoint::DeleteToken { name } => {
            admin.delete_token(name).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        TokenEndpoint::GenerateTokenPasswords { name } => {
            let b: TokenCredentialRequest = body(req).await?;
            let shown = admin.generate_token_passwords(name, &b).await?;
            Ok(json_response(StatusCode::OK, view::token_passwords(name, &shown)))
        }
    }
}
