//! The token service: `GET /oauth2/token` (Basic or anonymous, repeated `scope`,
//! `offline_token`), `POST /oauth2/token` (form; `grant_type=password|refresh_token`, scopes
//! repeated or space-separated, `access_type=offline`) and `POST /oauth2/exchange` (a valid
//! credential, or a federated token, for a refresh token). The grant is the intersection of what was asked and what
//! is allowed, never an error; bad credentials are 401 on every form.

use super::{AppState, ClientAddr, Query};
use crate::auth::{basic_credentials, check_basic, federated_failed};
use crate::body::{LimitedError, read_to_limit};
use crate::error::ApiError;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use berth_core::ErrorCode;
use berth_core::access::{Access, grant};
use berth_core::admin_api::{
    FederatedExchangeAnswer, GRANT_ACCESS_TOKEN, GRANT_TOKEN_EXCHANGE, ISSUED_REFRESH_TOKEN, SUBJECT_TOKEN_TYPES,
};
use berth_core::roles::Permissions;
use berth_registry::auth::{AuthError, Authenticated};
use http::{HeaderMap, HeaderValue, header};
use serde_json::{Value, json};
use std::sync::Arc;

/// Largest form accepted on the token endpoints.
const MAX_FORM: usize = 64 * 1024;

fn invalid(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::InvalidRequest).detail(detail.to_owned())
}

fn unauthorized() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized)
        .detail("invalid username or password")
        .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"berth\""))
}

/// Scopes one token request may ask for: enough for any push with mounts, and small enough
/// that no token grows past a few tens of kilobytes.
pub const MAX_SCOPES: usize = 32;

/// Every scope of every `scope` value (each may hold several, space-separated), repeated
/// resources merged into one; more than [`MAX_SCOPES`] distinct resources is an error.
fn scopes<'a>(values: impl Iterator<Item = &'a str>) -> Result<Vec<Access>, ApiError> {
    let mut merged: Vec<Access> = Vec::new();
    for a in values.flat_map(str::split_whitespace).filter_map(Access::parse) {
        let full = merged.len() == MAX_SCOPES;
        match merged.iter_mut().find(|m| m.resource_type == a.resource_type && m.name == a.name) {
            Some(m) => {
                m.actions.extend(a.actions);
                m.actions.sort();
                m.actions.dedup();
            }
            None if full => {
                return Err(invalid(&format!("at most {MAX_SCOPES} scopes may be asked for in one token request")));
            }
            None => merged.push(a),
        }
    }
    Ok(merged)
}

async fn caller_permissions(st: &AppState, caller: &Option<Authenticated>) -> Result<Permissions, ApiError> {
    match caller {
        Some(a) => Ok(a.permissions.clone()),
        None => st.auth.anonymous().await.map_err(|_| ApiError::new(ErrorCode::Unavailable)),
    }
}

/// The access token (and optionally a refresh token) for `caller` and `wanted`.
fn token_body(
    st: &AppState,
    caller: &Option<Authenticated>,
    permissions: &Permissions,
    wanted: &[Access],
    refresh: bool,
    get_form: bool,
) -> Value {
    let granted = grant(permissions, wanted);
    let subject = caller.as_ref().map_or("", |a| a.subject.as_str());
    let issued = st.auth.issue_access(subject, &granted);
    let mut body = json!({
        "access_token": issued.token,
        "expires_in": issued.expires_in,
        "issued_at": super::rfc3339(issued.issued_at),
    });
    if get_form {
        body["token"] = body["access_token"].clone();
    } else {
        body["scope"] = json!(granted.iter().map(Access::to_string).collect::<Vec<_>>().join(" "));
    }
    if let (true, Some(a)) = (refresh, caller) {
        body["refresh_token"] = json!(st.auth.issue_refresh(a));
    }
    body
}

fn ok(body: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json"), (header::CACHE_CONTROL, "no-store")], body.to_string())
        .into_response()
}

fn remote(req: &Request) -> std::net::IpAddr {
    req.extensions().get::<ClientAddr>().map_or(std::net::Ipv4Addr::LOCALHOST.into(), |c| c.0)
}

async fn basic_caller(
    st: &AppState,
    headers: &HeaderMap,
    remote: std::net::IpAddr,
) -> Result<Option<Authenticated>, ApiError> {
    match headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        None => Ok(None),
        Some(v) => {
            let (user, pass) = basic_credentials(v).ok_or_else(unauthorized)?;
            check_basic(&st.auth, &st.limiter, remote, &user, &pass, unauthorized).await.map(Some)
        }
    }
}

/// `GET /oauth2/token`.
pub(super) async fn get(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let remote = remote(&req);
    let (parts, _) = req.into_parts();
    let query = Query::parse(parts.uri.query());
    let result = async {
        let caller = basic_caller(&st, &parts.headers, remote).await?;
        let permissions = caller_permissions(&st, &caller).await?;
        let refresh = query.get("offline_token") == Some("true");
        let wanted = scopes(query.all("scope"))?;
        Ok::<_, ApiError>(ok(token_body(&st, &caller, &permissions, &wanted, refresh, true)))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn form(body: Body) -> Result<Query, ApiError> {
    let bytes = read_to_limit(body, MAX_FORM, MAX_FORM).await.map_err(|e| match e {
        LimitedError::TooLarge => ApiError::new(ErrorCode::PayloadTooLarge),
        LimitedError::Body(e) => invalid(&format!("request body failed: {e}")),
    })?;
    Ok(Query::parse(Some(&String::from_utf8_lossy(&bytes))))
}

/// Authenticates the credential a form (or its Basic header) carries.
async fn form_caller(
    st: &AppState,
    headers: &HeaderMap,
    f: &Query,
    remote: std::net::IpAddr,
) -> Result<Authenticated, ApiError> {
    match f.get("grant_type") {
        Some("password") => {
            let (Some(user), Some(pass)) = (f.get("username"), f.get("password")) else {
                return Err(invalid("grant_type=password needs username and password"));
            };
            check_basic(&st.auth, &st.limiter, remote, user, pass, unauthorized).await
        }
        Some("refresh_token") => {
            let token =
                f.get("refresh_token").ok_or_else(|| invalid("grant_type=refresh_token needs refresh_token"))?;
            let service = f.get("service").unwrap_or(st.auth.service());
            match st.auth.refresh(token, service).await {
                Ok(a) => Ok(a),
                Err(AuthError::BadCredentials | AuthError::Disabled | AuthError::Federated(_)) => {
                    Err(crate::auth::failed(
                        &st.auth,
                        &st.limiter,
                        remote,
                        "refresh_token",
                        unauthorized().detail("invalid refresh token"),
                    )
                    .await)
                }
                Err(e @ (AuthError::Unavailable(_) | AuthError::Internal(_))) => Err(ApiError::store_failure(e)),
            }
        }
        None => basic_caller(st, headers, remote).await?.ok_or_else(unauthorized),
        Some(other) => Err(invalid(&format!("unsupported grant_type {other:?}"))),
    }
}

/// `POST /oauth2/token`.
pub(super) async fn post(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let remote = remote(&req);
    let (parts, body) = req.into_parts();
    let result = async {
        let f = form(body).await?;
        if f.get("grant_type").is_none() {
            return Err(invalid("grant_type is required"));
        }
        let caller = form_caller(&st, &parts.headers, &f, remote).await?;
        let refresh = f.get("access_type") == Some("offline");
        let permissions = caller.permissions.clone();
        let wanted = scopes(f.all("scope"))?;
        Ok(ok(token_body(&st, &Some(caller), &permissions, &wanted, refresh, false)))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /oauth2/exchange`: a refresh token for a valid credential (form grant or Basic), or
/// for a federated token (ACR's `grant_type=access_token`, or RFC 8693's token exchange).
pub(super) async fn exchange(State(st): State<Arc<AppState>>, req: Request) -> Response {
    let remote = remote(&req);
    let (parts, body) = req.into_parts();
    let result = async {
        let f = form(body).await?;
        match f.get("grant_type") {
            Some(GRANT_ACCESS_TOKEN) => {
                let token =
                    f.get("access_token").ok_or_else(|| invalid("grant_type=access_token needs access_token"))?;
                if let Some(service) = f.get("service").filter(|s| *s != st.auth.service()) {
                    return Err(invalid(&format!(
                        "service {service:?} is not this registry: use service={}",
                        st.auth.service()
                    )));
                }
                federated(&st, token, f.get("client_id"), remote, false).await
            }
            Some(GRANT_TOKEN_EXCHANGE) => {
                let token = f
                    .get("subject_token")
                    .ok_or_else(|| invalid("the token exchange needs subject_token (the federated JWT)"))?;
                match f.get("subject_token_type") {
                    Some(t) if SUBJECT_TOKEN_TYPES.contains(&t) => {}
                    other => {
                        return Err(invalid(&format!(
                            "subject_token_type {other:?} is not accepted: use {}",
                            SUBJECT_TOKEN_TYPES[0]
                        )));
                    }
                }
                if let Some(t) = f.get("requested_token_type").filter(|t| *t != ISSUED_REFRESH_TOKEN) {
                    return Err(invalid(&format!(
                        "requested_token_type {t:?} cannot be issued: Berth issues {ISSUED_REFRESH_TOKEN}"
                    )));
                }
                federated(&st, token, f.get("client_id"), remote, true).await
            }
            _ => {
                let caller = form_caller(&st, &parts.headers, &f, remote).await?;
                Ok::<_, ApiError>(ok(json!({ "refresh_token": st.auth.issue_refresh(&caller) })))
            }
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// The exchange of a federated token: a refresh token for the principal it matches, or 401
/// saying why not (counted against `remote`'s failure budget).
async fn federated(
    st: &AppState,
    token: &str,
    client_id: Option<&str>,
    remote: std::net::IpAddr,
    rfc8693: bool,
) -> Result<Response, ApiError> {
    let caller = match st.auth.federated_login(token, client_id, &remote.to_string()).await {
        Ok(caller) => caller,
        Err(AuthError::Federated(r)) => {
            let user = client_id.unwrap_or("federated");
            return Err(federated_failed(&st.limiter, remote, user, unauthorized().detail(r.sentence)));
        }
        Err(AuthError::BadCredentials | AuthError::Disabled) => return Err(unauthorized()),
        Err(e @ (AuthError::Unavailable(_) | AuthError::Internal(_))) => return Err(ApiError::store_failure(e)),
    };
    let refresh_token = st.auth.issue_refresh(&caller);
    let answer = FederatedExchangeAnswer {
        access_token: rfc8693.then(|| refresh_token.clone()),
        issued_token_type: rfc8693.then(|| ISSUED_REFRESH_TOKEN.to_owned()),
        token_type: rfc8693.then(|| "N_A".to_owned()),
        expires_in: st.auth.refresh_ttl_for(&caller),
        refresh_token,
    };
    Ok(ok(serde_json::to_value(answer).unwrap_or_default()))
}
