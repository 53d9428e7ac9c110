//! The admin API (`/admin/v1/…`, JSON), used by the `berth` CLI: service principals, their
//! credentials, role assignments, registry settings and the audit log. Every request passes
//! [`authorize_admin`] (Owner at registry scope) before anything else runs, and every change
//! is audited.

use super::{AppState, ClientAddr, Query};
use crate::auth::{AdminAuthorized, authenticate, authorize_admin};
use crate::body::{LimitedError, read_to_limit};
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use berth_core::principals::{Principal, RoleAssignment, principal_key};
use berth_core::roles::{Role, RoleScope};
use berth_core::{ErrorCode, RepoName};
use berth_registry::auth::{Lifetime, NewSecret};
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

pub(super) fn invalid(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest).detail(detail)
}

/// 409: the create would take a name that exists; nothing was changed.
pub(super) fn conflict(detail: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::Conflict).detail(detail)
}

pub(super) fn not_found(what: &str) -> ApiError {
    ApiError::new(ErrorCode::NameUnknown).detail(format!("{what} not found"))
}

pub(super) fn unavailable(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(cause = %e, "identity store unavailable");
    ApiError::new(ErrorCode::Unavailable)
}

pub(super) fn json_response(status: StatusCode, v: Value) -> Response {
    (status, [(http::header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
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

fn secret_json(s: &NewSecret, with_name: bool) -> Value {
    let mut v = json!({ "appId": s.principal.app_id, "password": s.password, "tenant": s.tenant });
    if with_name {
        v["displayName"] = json!(s.principal.display_name);
    }
    v
}

/// A credential as `az ad sp credential list` shows it (never its secret or hash).
fn credential_json(c: &berth_core::principals::Credential) -> Value {
    json!({ "keyId": c.key_id, "displayName": c.display_name, "startDateTime": super::rfc3339(c.start), "endDateTime": super::rfc3339(c.end) })
}

fn assignment_json(a: &RoleAssignment, name: &str) -> Value {
    json!({ "principalId": a.app_id, "principalName": name, "roleDefinitionName": a.role.as_str(), "scope": a.scope.to_string() })
}

pub(super) async fn body<T: for<'de> Deserialize<'de>>(req: Body) -> Result<T, ApiError> {
    let bytes = read_to_limit(req, 64 * 1024, 64 * 1024).await.map_err(|e| match e {
        LimitedError::TooLarge => ApiError::new(ErrorCode::PayloadTooLarge),
        LimitedError::Body(e) => invalid(format!("request body failed: {e}")),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| invalid(format!("malformed JSON: {e}")))
}

/// `POST /admin/v1/gc`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
struct GcRequest {
    dry_run: bool,
}

/// `POST /admin/v1/purge`: untagged manifests older than `ago_secs`, in `repository` or all.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PurgeRequest {
    ago_secs: u64,
    #[serde(default)]
    repository: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CreateSp {
    name: String,
    role: Option<String>,
    scopes: Option<String>,
    years: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ResetCredential {
    #[serde(default)]
    append: bool,
    years: Option<u32>,
    end_date: Option<String>,
    display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AssignmentBody {
    assignee: String,
    role: String,
    scope: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RegistryUpdate {
    anonymous_pull_enabled: Option<bool>,
    admin_user_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct CredentialRenew {
    password_name: String,
}

fn admin_credentials(shown: &[berth_registry::auth::TokenSecret]) -> Value {
    let passwords: Vec<Value> = shown
        .iter()
        .map(|s| json!({ "name": if s.slot == 1 { "password" } else { "password2" }, "value": s.value }))
        .collect();
    json!({ "username": berth_registry::auth::ADMIN_USER, "passwords": passwords })
}

fn lifetime(years: Option<u32>, end_date: Option<&str>) -> Result<Lifetime, ApiError> {
    match (years, end_date) {
        (Some(_), Some(_)) => Err(invalid("usage error: --years | --end-date")),
        (_, Some(d)) => parse_date(d)
            .map(Lifetime::Until)
            .ok_or_else(|| invalid(format!("cannot read the date {d:?}; use YYYY-MM-DD"))),
        (y, None) => Ok(Lifetime::Years(y.unwrap_or(1))),
    }
}

fn role_and_scope(role: &str, scope: Option<&str>) -> Result<(Role, RoleScope), ApiError> {
    let role = role.parse::<Role>().map_err(invalid)?;
    let scope = scope.unwrap_or("/").parse::<RoleScope>().map_err(invalid)?;
    Ok((role, scope))
}

async fn principal(st: &AppState, key: &str) -> Result<Principal, ApiError> {
    st.auth
        .identities()
        .principal(principal_key(key))
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found("service principal"))
}

/// Every `/admin/v1/…` request: authenticate, authorise, then route.
pub(super) async fn admin(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let remote = req.extensions().get::<ClientAddr>().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |c| c.0);
    let (parts, body) = req.into_parts();
    let result = async {
        let caller = authenticate(&st.auth, &st.limiter, &st.challenge, &parts.headers, remote).await?;
        let auth = authorize_admin(caller, &st.challenge)?;
        let changes = parts.method != Method::GET;
        let answer = route(&st, &auth, remote.to_string(), parts, body).await;
        if changes {
            // Remembered credential checks must not outlive an identity change.
            st.auth.identities_changed();
        }
        answer
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn route(
    st: &AppState,
    auth: &AdminAuthorized,
    remote: String,
    parts: http::request::Parts,
    req: Body,
) -> Result<Response, ApiError> {
    let path = parts.uri.path().trim_start_matches("/admin/v1/").trim_end_matches('/').to_owned();
    // Segments are decoded one by one, so `http:%2F%2Fname` names the principal `http://name`.
    let decoded: Vec<String> =
        path.split('/').map(|seg| percent_encoding::percent_decode_str(seg).decode_utf8_lossy().into_owned()).collect();
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let query = Query::parse(parts.uri.query());
    let actor = auth.caller().subject().to_owned();
    let ids = st.auth.identities().clone();
    let audit = |action: &'static str, target: String| {
        let (actor, remote) = (actor.clone(), remote.clone());
        async move { st.auth.audit(&actor, action, &target, &remote).await }
    };
    match (parts.method.clone(), segments.as_slice()) {
        (Method::POST, ["service-principals"]) => {
            let b: CreateSp = body(req).await?;
            let role = match (&b.role, &b.scopes) {
                (Some(r), s) => Some(role_and_scope(r, s.as_deref())?),
                (None, Some(_)) => {
                    return Err(invalid("Usage error: To create role assignments, specify both --role and --scopes."));
                }
                (None, None) => None,
            };
            let created =
                st.auth.create_for_rbac(&b.name, role, lifetime(b.years, None)?).await.map_err(unavailable)?;
            audit("sp.create", created.principal.app_id.clone()).await;
            Ok(json_response(StatusCode::CREATED, secret_json(&created, true)))
        }
        (Method::GET, ["service-principals"]) => {
            let list = ids.principals().await.map_err(unavailable)?;
            let v: Vec<Value> =
                list.iter().map(|p| json!({ "appId": p.app_id, "displayName": p.display_name })).collect();
            Ok(json_response(StatusCode::OK, json!(v)))
        }
        (Method::GET, ["service-principals", key]) => {
            let p = principal(st, key).await?;
            let creds = ids.credentials(&p.app_id).await.map_err(unavailable)?;
            let roles = ids.role_assignments(Some(&p.app_id)).await.map_err(unavailable)?;
            let credentials: Vec<Value> = creds.iter().map(credential_json).collect();
            let roles: Vec<Value> = roles.iter().map(|a| assignment_json(a, &p.display_name)).collect();
            Ok(json_response(
                StatusCode::OK,
                json!({ "appId": p.app_id, "displayName": p.display_name, "passwordCredentials": credentials, "roleAssignments": roles }),
            ))
        }
        (Method::DELETE, ["service-principals", key]) => {
            let p = principal(st, key).await?;
            ids.delete_principal(&p.app_id).await.map_err(unavailable)?;
            audit("sp.delete", p.app_id).await;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::POST, ["service-principals", key, "credential-reset"]) => {
            let key = key.to_string();
            let b: ResetCredential = body(req).await?;
            let life = lifetime(b.years, b.end_date.as_deref())?;
            let reset = st.auth.reset_credential(&key, b.append, life, b.display_name).await.map_err(unavailable)?;
            let reset = reset.ok_or_else(|| not_found("service principal"))?;
            audit(
                if b.append { "sp.credential.append" } else { "sp.credential.reset" },
                reset.principal.app_id.clone(),
            )
            .await;
            Ok(json_response(StatusCode::OK, secret_json(&reset, false)))
        }
        (Method::GET, ["service-principals", key, "credentials"]) => {
            let p = principal(st, key).await?;
            let creds = ids.credentials(&p.app_id).await.map_err(unavailable)?;
            Ok(json_response(StatusCode::OK, json!(creds.iter().map(credential_json).collect::<Vec<_>>())))
        }
        (Method::DELETE, ["service-principals", key, "credentials", key_id]) => {
            let deleted = st.auth.delete_credential(key, key_id).await.map_err(unavailable)?;
            match deleted.ok_or_else(|| not_found("service principal"))? {
                (p, true) => {
                    audit("sp.credential.delete", format!("{} {key_id}", p.app_id)).await;
                    Ok(StatusCode::NO_CONTENT.into_response())
                }
                (p, false) => Err(not_found(&format!("credential {key_id:?} of service principal {}", p.app_id))),
            }
        }
        (Method::POST, ["role-assignments"]) => {
            let b: AssignmentBody = body(req).await?;
            let p = principal(st, &b.assignee).await?;
            let (role, scope) = role_and_scope(&b.role, b.scope.as_deref())?;
            let a = RoleAssignment { app_id: p.app_id.clone(), role, scope };
            ids.assign_role(&a).await.map_err(unavailable)?;
            audit("role.assign", format!("{} {} {}", p.app_id, a.role, a.scope)).await;
            Ok(json_response(StatusCode::CREATED, assignment_json(&a, &p.display_name)))
        }
        (Method::GET, ["role-assignments"]) => {
            let filter = match query.get("assignee") {
                Some(k) => Some(principal(st, k).await?.app_id),
                None => None,
            };
            let names: std::collections::HashMap<String, String> =
                ids.principals().await.map_err(unavailable)?.into_iter().map(|p| (p.app_id, p.display_name)).collect();
            let list = ids.role_assignments(filter.as_deref()).await.map_err(unavailable)?;
            let v: Vec<Value> =
                list.iter().map(|a| assignment_json(a, names.get(&a.app_id).map_or("", |s| s))).collect();
            Ok(json_response(StatusCode::OK, json!(v)))
        }
        (Method::DELETE, ["role-assignments"]) => {
            let assignee = query.get("assignee").ok_or_else(|| invalid("assignee is required"))?;
            let p = principal(st, assignee).await?;
            let (role, scope) =
                role_and_scope(query.get("role").ok_or_else(|| invalid("role is required"))?, query.get("scope"))?;
            let a = RoleAssignment { app_id: p.app_id.clone(), role, scope };
            if !ids.unassign_role(&a).await.map_err(unavailable)? {
                return Err(not_found("role assignment"));
            }
            audit("role.unassign", format!("{} {} {}", p.app_id, a.role, a.scope)).await;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        (Method::GET, ["registry"]) => Ok(json_response(StatusCode::OK, registry_value(st).await?)),
        (Method::PATCH, ["registry"]) => {
            let b: RegistryUpdate = body(req).await?;
            if let Some(on) = b.anonymous_pull_enabled {
                ids.set_flag(berth_core::principals::Flag::AnonymousPull, on).await.map_err(unavailable)?;
                st.auth.settings_changed();
                audit("registry.anonymous_pull", on.to_string()).await;
            }
            let mut shown = Vec::new();
            if let Some(on) = b.admin_user_enabled {
                shown = st.auth.set_admin_enabled(on).await.map_err(unavailable)?;
                audit("registry.admin_user", on.to_string()).await;
            }
            let mut v = registry_value(st).await?;
            if !shown.is_empty() {
                v["credentials"] = admin_credentials(&shown);
            }
            Ok(json_response(StatusCode::OK, v))
        }
        (Method::POST, ["registry", "credential-renew"]) => {
            let b: CredentialRenew = body(req).await?;
            let slot = match b.password_name.as_str() {
                "password" => 1,
                "password2" => 2,
                other => return Err(invalid(format!("--password-name is password or password2, not {other:?}"))),
            };
            let renewed = st.auth.renew_admin_password(slot).await.map_err(unavailable)?;
            audit("registry.admin_user.renew", b.password_name).await;
            Ok(json_response(StatusCode::OK, admin_credentials(&[renewed])))
        }
        (Method::GET, ["audit"]) => {
            let limit = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
            let events = ids.audit_log(limit).await.map_err(unavailable)?;
            let v: Vec<Value> = events
                .iter()
                .map(|e| json!({ "time": super::rfc3339(e.at), "actor": e.actor, "action": e.action, "target": e.target, "remote": e.remote }))
                .collect();
            Ok(json_response(StatusCode::OK, json!(v)))
        }
        (Method::POST, ["gc"]) => {
            let b: GcRequest = body(req).await?;
            let outcome = st.registry.collect_garbage(st.gc_grace, b.dry_run).await;
            if !b.dry_run {
                st.metrics.gc(&outcome);
            }
            let report = outcome?;
            if !b.dry_run {
                audit("gc", format!("{} blobs, {} bytes", report.blobs_deleted, report.bytes_freed)).await;
            }
            Ok(json_response(StatusCode::OK, json!(report)))
        }
        (Method::POST, ["purge"]) => {
            let b: PurgeRequest = body(req).await?;
            let only = match &b.repository {
                Some(r) => Some(RepoName::parse(r).map_err(|_| invalid(format!("{r:?} is not a repository name")))?),
                None => None,
            };
            let age = std::time::Duration::from_secs(b.ago_secs);
            let report = st.registry.purge_untagged(age, only.as_ref(), b.dry_run).await?;
            if !b.dry_run {
                let scope = b.repository.as_deref().unwrap_or("all repositories");
                audit("purge", format!("{scope}: {} untagged manifests", report.manifests_deleted.len())).await;
            }
            Ok(json_response(StatusCode::OK, json!(report)))
        }
        (method, segments @ (["tokens", ..] | ["scope-maps", ..])) => {
            super::admin_tokens::route(st, auth, &remote, method, segments, req).await
        }
        _ => Err(ApiError::new(ErrorCode::NameUnknown).detail("no such admin endpoint")),
    }
}

async fn registry_value(st: &AppState) -> Result<Value, ApiError> {
    let s = st.auth.settings().await.map_err(unavailable)?;
    Ok(json!({
        "loginServer": st.auth.service(),
        "tenant": s.tenant,
        "anonymousPullEnabled": s.anonymous_pull,
        "adminUserEnabled": s.admin_enabled,
    }))
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
