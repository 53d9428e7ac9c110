//! The admin API for the pull-through cache's credential sets and cache rules
//! (`/admin/v1/credential-sets…`, `/admin/v1/cache-rules…`), reached only through
//! [`super::admin`]'s authorisation of a [`CacheEndpoint`]. The handlers read the typed body,
//! call [`berth_registry::cache::CacheAdmin`] (which validates, seals passwords, writes,
//! invalidates and audits) and write the views: times as RFC 3339, never a password.

use super::admin::{body, json_response};
use super::rfc3339;
use crate::admin_endpoint::CacheEndpoint;
use crate::error::ApiError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::admin_api::{
    CacheRuleView, CreateCacheRule, CreateCredentialSet, CredentialSetView, UpdateCacheRule, UpdateCredentialSet,
};
use berth_registry::cache::{CacheAdmin, CacheRuleDetail, CredentialSetDetail};
use http::StatusCode;

fn credential_set(d: &CredentialSetDetail) -> CredentialSetView {
    CredentialSetView {
        name: d.set.name.clone(),
        login_server: d.set.login_server.clone(),
        username: d.set.username.clone(),
        has_password: d.set.sealed_password.is_some(),
        used_by: d.used_by.clone(),
        created: rfc3339(d.set.created_at),
        updated: rfc3339(d.set.updated_at),
    }
}

fn cache_rule(d: &CacheRuleDetail) -> CacheRuleView {
    CacheRuleView {
        name: d.rule.name.clone(),
        source: d.rule.source.clone(),
        target: d.rule.target.clone(),
        credential_set: d.rule.credential_set.clone(),
        allow_push: d.rule.allow_push,
        upstream: d.upstream.clone(),
        created: rfc3339(d.rule.created_at),
        updated: rfc3339(d.rule.updated_at),
    }
}

/// Runs the authorised credential-set or cache-rule endpoint; every variant has its arm.
pub(super) async fn dispatch(
    admin: &CacheAdmin<'_>,
    endpoint: &CacheEndpoint,
    req: Body,
) -> Result<Response, ApiError> {
    match endpoint {
        CacheEndpoint::ListCredentialSets => {
            let all = admin.credential_sets().await?;
            Ok(json_response(StatusCode::OK, all.iter().map(credential_set).collect::<Vec<_>>()))
        }
        CacheEndpoint::ShowCredentialSet { name } => {
            Ok(json_response(StatusCode::OK, credential_set(&admin.credential_set(name).await?)))
        }
        CacheEndpoint::CreateCredentialSet => {
            let b: CreateCredentialSet = body(req).await?;
            Ok(json_response(StatusCode::CREATED, credential_set(&admin.create_credential_set(&b).await?)))
        }
        CacheEndpoint::UpdateCredentialSet { name } => {
            let b: UpdateCredentialSet = body(req).await?;
            Ok(json_response(StatusCode::OK, credential_set(&admin.update_credential_set(name, &b).await?)))
        }
        CacheEndpoint::DeleteCredentialSet { name } => {
            admin.delete_credential_set(name).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        CacheEndpoint::ListCacheRules => {
            let all = admin.cache_rules().await?;
            Ok(json_response(StatusCode::OK, all.iter().map(cache_rule).collect::<Vec<_>>()))
        }
        CacheEndpoint::ShowCacheRule { name } => {
            Ok(json_response(StatusCode::OK, cache_rule(&admin.cache_rule(name).await?)))
        }
        CacheEndpoint::CreateCacheRule => {
            let b: CreateCacheRule = body(req).await?;
            Ok(json_response(StatusCode::CREATED, cache_rule(&admin.create_cache_rule(&b).await?)))
        }
        CacheEndpoint::UpdateCacheRule { name } => {
            let b: UpdateCacheRule = body(req).await?;
            Ok(json_response(StatusCode::OK, cache_rule(&admin.update_cache_rule(name, &b).await?)))
        }
        CacheEndpoint::DeleteCacheRule { name } => {
            admin.delete_cache_rule(name).await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
    }
}
