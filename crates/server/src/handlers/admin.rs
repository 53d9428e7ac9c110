//! The admin API (`/admin/v1/…`, JSON), used by the `berth` CLI: service principals, their
//! credentials and federated credentials, role assignments, registry settings, the audit log,
//! and (in `admin_cache`) the pull-through cache's credential sets and rules. Every request is
//! parsed into an [`AdminEndpoint`] and passes [`authorize_admin`] (Owner at registry scope)
//! before anything else runs. The handlers only
//! read the typed body ([`berth_core::admin_api`]), call the identity service
//! ([`berth_registry::admin`]), which validates, writes, invalidates caches and audits, and
//! write the typed answer ([`super::admin_views`]).

use super::admin_views as view;
use super::{AppState, ClientAddr};
use crate::admin_endpoint::AdminEndpoint;
use crate::auth::{AdminAuthorized, authenticate, authorize_admin};
use crate::body::{LimitedError, read_to_limit};
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use berth_core::admin_api::CreateFederatedCredential;
use berth_core::admin_api::{
    CreateRoleAssignment, CreateServicePrincipal, CredentialRenew, GcRequest, PurgeRequest, RegistryUpdate,
    ResetCredential,
};
use berth_core::{ErrorCode, RepoName};
use berth_registry::admin::IdentityAdmin;
use berth_registry::auth::Lifetime;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub(super) fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest).detail(detail)
}

/// `v` as JSON with `status`. Written through `serde_json::Value`, whose objects keep their
/// keys sorted, so the bytes do not depend on the order fields are declared in.
pub(super) fn json_response(status: StatusCode, v: impl Serialize) -> Response {
    match serde_json::to_value(v) {
        Ok(v) => (status, [(http::header::CONTENT_TYPE, "application/json")], v.to_string()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "an admin answer could not be written as JSON");
            ApiError::new(ErrorCode::Unavailable).into_response()
        }
    }
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Seconds since the epoch of `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` (UTC, `+00:00` also
/// read), as `--end-date`. A date or time that does not exist (`2021-02-30`, `24:00:00`) is `None`.
pub fn parse_date(s: &str) -> Option<i64> {
    let civil = match s.split_once('T') {
        None => jiff::civil::Date::strptime("%Y-%m-%d", s).ok()?.to_datetime(jiff::civil::Time::midnight()),
        Some(_) => {
            let local = s.strip_suffix('Z').or_else(|| s.strip_suffix("+00:00"))?;
            jiff::civil::DateTime::strptime("%Y-%m-%dT%H:%M:%S", local).ok()?
        }
    };
    Some(jiff::tz::Offset::UTC.to_timestamp(civil).ok()?.as_second())
}

pub(super) async fn body<T: for<'de> Deserialize<'de>>(req: Body) -> Result<T, ApiError> {
    let bytes = read_to_limit(req, 64 * 1024, 64 * 1024).await.map_err(|e| match e {
        LimitedError::TooLarge => ApiError::new(ErrorCode::PayloadTooLarge),
        LimitedError::Body(e) => invalid(format!("request body failed: {e}")),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(format!("malformed JSON: {e}")))
}

/// `years` or `end_date` (`--years | --end-date`, default one year).
fn lifetime(years: Option<u32>, end_date: Option<&str>) -> Result<Lifetime, ApiError> {
    match (years, end_date) {
        (Some(_), Some(_)) => Err(invalid("usage error: --years | --end-date")),
        (_, Some(d)) => parse_date(d)
            .map(Lifetime::Until)
            .ok_or_else(|| invalid(format!("cannot read the date {d:?}; use YYYY-MM-DD"))),
        (y, None) => Ok(Lifetime::Years(y.unwrap_or(1))),
    }
}

/// Every `/admin/v1/…` request: authenticate, authorise its endpoint, then dispatch.
pub(super) async fn admin(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let remote = req.extensions().get::<ClientAddr>().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |c| c.0);
    let (parts, body) = req.into_parts();
    let endpoint = AdminEndpoint::parse(&parts.method, parts.uri.path(), parts.uri.query());
    let result = async {
        let caller = authenticate(&st.auth, &st.limiter, &st.challenge, &parts.headers, remote).await?;
        let auth = authorize_admin(caller, endpoint, &st.challenge)?;
        dispatch(&st, &auth, &remote.to_string(), body).await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Runs the authorised endpoint; every variant has its arm.
async fn dispatch(st: &AppState, auth: &AdminAuthorized, remote: &str, req: Body) -> Result<Response, ApiError> {
    let admin = st.auth.admin(auth.caller().subject(), remote);
    match auth.endpoint() {
        AdminEndpoint::CreatePrincipal => {
            let b: CreateServicePrincipal = body(req).await?;
            let created = admin.create_service_principal(&b).await?;
            Ok(json_response(StatusCode::CREATED, view::secret(&created, true)))
        }
        AdminEndpoint::ListPrincipals => {
            let list = admin.principals().await?;
            Ok(json_response(StatusCode::OK, list.iter().map(view::summary).collect::<Vec<_>>()))
        }
        AdminEndpoint::ShowPrincipal { key } => {
            Ok(json_response(StatusCode::OK, view::detail(&admin.principal_detail(key).await?)))
        }
        AdminEndpoint::DeletePrincipal { key } => {
            admin.delete_principal(key).await?;
            Ok(no_content())
        }
        AdminEndpoint::ResetCredential { key } => {
            let b: ResetCredential = body(req).await?;
            let life = lifetime(b.years, b.end_date.as_deref())?;
            let reset = admin.reset_credential(key, b.append, life, b.display_name).await?;
            Ok(json_response(StatusCode::OK, view::secret(&reset, false)))
        }
        AdminEndpoint::ListCredentials { key } => {
            let creds = admin.credentials(key).await?;
            Ok(json_response(StatusCode::OK, creds.iter().map(view::credential).collect::<Vec<_>>()))
        }
        AdminEndpoint::DeleteCredential { key, key_id } => {
            admin.delete_credential(key, key_id).await?;
            Ok(no_content())
        }
        AdminEndpoint::CreateFederatedCredential { key } => {
            let b: CreateFederatedCredential = body(req).await?;
            let created = admin.create_federated_credential(key, &b).await?;
            Ok(json_response(StatusCode::CREATED, view::federated_credential(&created)))
        }
        AdminEndpoint::ListFederatedCredentials { key } => {
            let list = admin.federated_credentials(key).await?;
            Ok(json_response(StatusCode::OK, list.iter().map(view::federated_credential).collect::<Vec<_>>()))
        }
        AdminEndpoint::ShowFederatedCredential { key, name } => {
            Ok(json_response(StatusCode::OK, view::federated_credential(&admin.federated_credential(key, name).await?)))
        }
        AdminEndpoint::DeleteFederatedCredential { key, name } => {
            admin.delete_federated_credential(key, name).await?;
            Ok(no_content())
        }
        AdminEndpoint::AssignRole => {
            let b: CreateRoleAssignment = body(req).await?;
            Ok(json_response(StatusCode::CREATED, view::assignment(&admin.assign_role(&b).await?)))
        }
        AdminEndpoint::ListRoleAssignments { assignee } => {
            let list = admin.role_assignments(assignee.as_deref()).await?;
            Ok(json_response(StatusCode::OK, list.iter().map(view::assignment).collect::<Vec<_>>()))
        }
        AdminEndpoint::UnassignRole { assignee, role, scope } => {
            admin.unassign_role(assignee.as_deref(), role.as_deref(), scope.as_deref()).await?;
            Ok(no_content())
        }
        AdminEndpoint::ShowRegistry => {
            Ok(json_response(StatusCode::OK, view::registry(st.auth.service(), admin.settings().await?, &[])))
        }
        AdminEndpoint::UpdateRegistry => {
            let b: RegistryUpdate = body(req).await?;
            let change = admin.update_settings(&b).await?;
            let v = view::registry(st.auth.service(), change.settings, &change.admin_passwords);
            Ok(json_response(StatusCode::OK, v))
        }
        AdminEndpoint::RenewAdminPassword => {
            let b: CredentialRenew = body(req).await?;
            let renewed = admin.renew_admin_password(&b).await?;
            Ok(json_response(StatusCode::OK, view::admin_credentials(&[renewed])))
        }
        AdminEndpoint::AuditLog { limit } => {
            let events = admin.audit_log(*limit).await?;
            Ok(json_response(StatusCode::OK, events.iter().map(view::audit).collect::<Vec<_>>()))
        }
        AdminEndpoint::CollectGarbage => gc(st, &admin, body(req).await?).await,
        AdminEndpoint::Purge => purge(st, &admin, body(req).await?).await,
        AdminEndpoint::Import => super::admin_import::import(st, auth, remote, body(req).await?).await,
        AdminEndpoint::Tokens(endpoint) => super::admin_tokens::dispatch(&admin, endpoint, req).await,
        AdminEndpoint::Cache(endpoint) => {
            super::admin_cache::dispatch(&st.registry.cache_admin(&admin)?, endpoint, req).await
        }
        AdminEndpoint::Unknown { .. } => Err(ApiError::new(ErrorCode::NameUnknown).detail("no such admin endpoint")),
    }
}

/// `POST /admin/v1/gc`: collects garbage now (or reports what it would), audited unless a dry run.
async fn gc(st: &AppState, admin: &IdentityAdmin<'_>, b: GcRequest) -> Result<Response, ApiError> {
    let outcome = st.registry.collect_garbage(st.gc_grace, b.dry_run).await;
    if !b.dry_run {
        st.metrics.gc(&outcome);
    }
    let report = outcome?;
    if !b.dry_run {
        admin.audit("gc", &format!("{} blobs, {} bytes", report.blobs_deleted, report.bytes_freed)).await;
    }
    Ok(json_response(StatusCode::OK, report))
}

/// `POST /admin/v1/purge`: deletes untagged manifests, audited unless a dry run.
async fn purge(st: &AppState, admin: &IdentityAdmin<'_>, b: PurgeRequest) -> Result<Response, ApiError> {
    let only = match &b.repository {
        Some(r) => Some(RepoName::parse(r).map_err(|_| invalid(format!("{r:?} is not a repository name")))?),
        None => None,
    };
    let age = std::time::Duration::from_secs(b.ago_secs);
    let report = st.registry.purge_untagged(age, only.as_ref(), b.dry_run).await?;
    if !b.dry_run {
        let scope = b.repository.as_deref().unwrap_or("all repositories");
        admin.audit("purge", &format!("{scope}: {} untagged manifests", report.manifests_deleted.len())).await;
    }
    Ok(json_response(StatusCode::OK, report))
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::parse_date("1970-01-01"), Some(0));
        assert_eq!(super::parse_date("2299-12-31"), Some(10_413_705_600));
        assert_eq!(super::parse_date("2020-12-31T11:59:59+00:00"), Some(1_609_415_999));
        assert_eq!(super::parse_date("2020-13-01"), None);
        assert_eq!(super::parse_date("tomorrow"), None);
        assert_eq!(super::parse_date("2021-02-30"), None);
        assert_eq!(super::parse_date("2020-12-31T24:00:00Z"), None);
        assert_eq!(super::parse_date("2020-12-31T11:59:59+02:00"), None);
    }
}
