//! Authentication and the single authorisation point.
//!
//! [`authenticate`] turns a request's `Authorization` header into a [`Caller`] (a Bearer
//! access token, Basic credentials of a principal, or nobody); it never decides access. Bad
//! credentials are refused, never downgraded to anonymous. [`authorize`] (OCI routes) and
//! [`authorize_admin`] (admin API) compute what the request needs, ask the pure policy function
//! [`berth_core::access::grant`], and only on success build the capability value a handler
//! takes ([`Authorized`], [`AdminAuthorized`]), whose constructors are private to this module.

use crate::admin_endpoint::{AdminEndpoint, CacheEndpoint, TokenEndpoint};
use crate::endpoint::{Endpoint, MountSource};
use crate::error::ApiError;
use crate::ratelimit::{Failure, FailureLimiter};
use crate::route::OciRoute;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_core::access::{self, Access, Action};
use berth_core::roles::Permissions;
use berth_core::{ErrorCode, Reference, RepoName};
use berth_registry::auth::{AuthError, AuthService, Authenticated};
use http::{HeaderMap, HeaderValue, Method, header};
use std::net::IpAddr;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No credentials; `permissions` are the anonymous-pull setting's.
    Anonymous {
        /// Pull everything, or nothing.
        permissions: Permissions,
    },
    /// Basic credentials of a principal (or the null GUID and a refresh token).
    Basic(Authenticated),
    /// A Bearer access token and the access it carries.
    Bearer {
        /// The token's subject.
        subject: String,
        /// What the token grants.
        access: Vec<Access>,
    },
}

impl Caller {
    /// The subject for logs and audit (`anonymous` when nobody).
    pub fn subject(&self) -> &str {
        match self {
            Caller::Anonymous { .. } => "anonymous",
            Caller::Basic(a) => &a.subject,
            Caller::Bearer { subject, .. } => subject,
        }
    }
}

/// An endpoint, with its parameters (a mount's source included), that the caller may use.
/// Only [`authorize`] constructs one.
#[derive(Debug)]
pub struct Authorized {
    endpoint: Endpoint,
    caller: Caller,
}

impl Authorized {
    /// The endpoint that was authorised.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Who was authorised.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }

    /// Whether the caller may also pull from repository `name`, decided as [`authorize`]
    /// decides (a Bearer token by its own access, other callers by their roles): for a request
    /// that chooses among repositories, as a mount without `from` does.
    pub fn may_pull(&self, name: &RepoName) -> bool {
        allowed(&self.caller, &[Access::repository(name.as_str(), &[Action::Pull])])
    }
}

/// An admin endpoint, with its parameters, that the caller may use. Only [`authorize_admin`]
/// constructs one.
#[derive(Debug)]
pub struct AdminAuthorized {
    endpoint: AdminEndpoint,
    caller: Caller,
}

impl AdminAuthorized {
    /// The admin endpoint that was authorised.
    pub fn endpoint(&self) -> &AdminEndpoint {
        &self.endpoint
    }

    /// Who was authorised.
    pub fn caller(&self) -> &Caller {
        &self.caller
    }
}

/// Where clients get tokens: the `realm` and `service` of `WWW-Authenticate`.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// Token endpoint URL.
    pub realm: String,
    /// Service name (the registry host).
    pub service: String,
}

impl Challenge {
    /// 401 with a `Bearer` challenge naming the scopes wanted, and `error` when a credential
    /// was presented (`invalid_token`, `insufficient_scope`).
    pub fn refuse(&self, wanted: &[Access], error: Option<&str>) -> ApiError {
        let mut value = format!("Bearer realm=\"{}\",service=\"{}\"", self.realm, self.service);
        let scopes: Vec<String> = wanted.iter().map(|a| a.as_requested().to_string()).collect();
        if !scopes.is_empty() {
            value.push_str(&format!(",scope=\"{}\"", scopes.join(" ")));
        }
        if let Some(error) = error {
            value.push_str(&format!(",error=\"{error}\""));
        }
        let value = HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
        ApiError::new(ErrorCode::Unauthorized).header(header::WWW_AUTHENTICATE, value)
    }
}

/// What `endpoint` needs, following distribution's `appendAccessRecords`: reads need pull;
/// writes need pull and push; deletes need delete; a mount also needs pull on its source; the
/// catalog needs `registry:catalog:*`. Listing tags and referrers needs `metadata_read` and
/// untagging `metadata_write`, which come with pull and delete (see
/// [`berth_core::access::grant`]), so repository tokens can hold them apart as ACR's scope
/// maps do. `/v2/` needs no access, only a caller. A method a path does not serve needs what
/// the method's kind needs, so only an authorised caller learns it is unsupported.
pub fn required_access(endpoint: &Endpoint) -> Vec<Access> {
    let on = |name: &RepoName, actions: &[Action]| vec![Access::repository(name.as_str(), actions)];
    let from = |source: &MountSource| match source {
        MountSource::Named(n) => Some(Access::repository(n.as_str(), &[Action::Pull])),
        MountSource::Unnamable(raw) => Some(Access::repository(raw, &[Action::Pull])),
        MountSource::Discover => None,
    };
    match endpoint {
        Endpoint::Base => Vec::new(),
        Endpoint::Catalog { .. } => vec![Access::catalog()],
        Endpoint::GetBlob { name, .. } | Endpoint::GetManifest { name, .. } | Endpoint::UploadStatus { name, .. } => {
            on(name, &[Action::Pull])
        }
        Endpoint::StartUpload { name, .. }
        | Endpoint::UploadWhole { name, .. }
        | Endpoint::AppendUpload { name, .. }
        | Endpoint::FinishUpload { name, .. }
        | Endpoint::PutManifest { name, .. }
        | Endpoint::CancelUpload { name, .. } => on(name, &[Action::Pull, Action::Push]),
        Endpoint::Mount { name, from: source, .. } => {
            let mut wanted = on(name, &[Action::Pull, Action::Push]);
            wanted.extend(from(source));
            wanted
        }
        Endpoint::ListTags { name, .. }
        | Endpoint::Referrers { name, .. }
        | Endpoint::ShowRepository { name }
        | Endpoint::ShowTag { name, .. } => on(name, &[Action::MetadataRead]),
        // Changing locks takes the right to delete too: a pusher alone cannot unlock an image
        // to overwrite it.
        Endpoint::UpdateRepository { name } | Endpoint::UpdateTag { name, .. } => {
            on(name, &[Action::Delete, Action::MetadataWrite])
        }
        Endpoint::DeleteManifest { name, reference: Reference::Tag(_) } => on(name, &[Action::MetadataWrite]),
        Endpoint::DeleteManifest { name, reference: Reference::Digest(_) }
        | Endpoint::DeleteBlob { name, .. }
        | Endpoint::DeleteRepository { name } => on(name, &[Action::Delete]),
        Endpoint::Unsupported { route, method, from: source } => {
            let mut wanted = match (route, route.repo()) {
                (OciRoute::Catalog, _) => vec![Access::catalog()],
                (_, None) => Vec::new(),
                (_, Some(name)) if *method == Method::GET || *method == Method::HEAD => on(name, &[Action::Pull]),
                (_, Some(name)) if *method == Method::DELETE => on(name, &[Action::Delete]),
                (_, Some(name)) => on(name, &[Action::Pull, Action::Push]),
            };
            wanted.extend(source.as_ref().and_then(from));
            wanted
        }
    }
}

/// What the admin `endpoint` needs: today every one, and a path or method the admin API does
/// not serve, needs `admin:api:*` (Owner at registry scope), so only an Owner learns which
/// admin paths exist. Written per variant so that a read-only endpoint can need less.
pub fn required_admin_access(endpoint: &AdminEndpoint) -> Vec<Access> {
    match endpoint {
        AdminEndpoint::CreatePrincipal
        | AdminEndpoint::ListPrincipals
        | AdminEndpoint::ShowPrincipal { .. }
        | AdminEndpoint::DeletePrincipal { .. }
        | AdminEndpoint::ResetCredential { .. }
        | AdminEndpoint::ListCredentials { .. }
        | AdminEndpoint::DeleteCredential { .. }
        | AdminEndpoint::CreateFederatedCredential { .. }
        | AdminEndpoint::ListFederatedCredentials { .. }
        | AdminEndpoint::ShowFederatedCredential { .. }
        | AdminEndpoint::DeleteFederatedCredential { .. }
        | AdminEndpoint::AssignRole
        | AdminEndpoint::ListRoleAssignments { .. }
        | AdminEndpoint::UnassignRole { .. }
        | AdminEndpoint::ShowRegistry
        | AdminEndpoint::UpdateRegistry
        | AdminEndpoint::RenewAdminPassword
        | AdminEndpoint::AuditLog { .. }
        | AdminEndpoint::CollectGarbage
        | AdminEndpoint::Purge
        // An import makes the registry dial a host the caller names: Owners only.
        | AdminEndpoint::Import
        | AdminEndpoint::Unknown { .. } => vec![Access::admin()],
        AdminEndpoint::Tokens(t) => match t {
            TokenEndpoint::ListScopeMaps
            | TokenEndpoint::ShowScopeMap { .. }
            | TokenEndpoint::CreateScopeMap
            | TokenEndpoint::UpdateScopeMap { .. }
            | TokenEndpoint::DeleteScopeMap { .. }
            | TokenEndpoint::ListTokens
            | TokenEndpoint::ShowToken { .. }
            | TokenEndpoint::CreateToken
            | TokenEndpoint::UpdateToken { .. }
            | TokenEndpoint::DeleteToken { .. }
            | TokenEndpoint::GenerateTokenPasswords { .. } => vec![Access::admin()],
        },
        AdminEndpoint::Cache(c) => match c {
            CacheEndpoint::ListCredentialSets
            | CacheEndpoint::ShowCredentialSet { .. }
            | CacheEndpoint::CreateCredentialSet
            | CacheEndpoint::UpdateCredentialSet { .. }
            | CacheEndpoint::DeleteCredentialSet { .. }
            | CacheEndpoint::ListCacheRules
            | CacheEndpoint::ShowCacheRule { .. }
            | CacheEndpoint::CreateCacheRule
            | CacheEndpoint::UpdateCacheRule { .. }
            | CacheEndpoint::DeleteCacheRule { .. } => vec![Access::admin()],
        },
    }
}

/// Basic credentials from an `Authorization` value, if it is Basic.
pub fn basic_credentials(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(rest.trim()).ok()?).ok()?;
    let (user, pass) = decoded.split_once(':')?;
    Some((user.to_owned(), pass.to_owned()))
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

/// Checks Basic credentials, then counts a failure with [`FailureLimiter`]: the right
/// credentials always pass; failures past a budget are answered 429 (with `Retry-After`)
/// instead of the refusal `refuse` builds, and only the first of those per window is audited.
pub async fn check_basic(
    auth: &AuthService,
    limiter: &FailureLimiter,
    remote: IpAddr,
    user: &str,
    pass: &str,
    refuse: impl FnOnce() -> ApiError,
) -> Result<Authenticated, ApiError> {
    match auth.basic(user, pass, &remote.to_string()).await {
        Ok(a) => Ok(a),
        Err(AuthError::BadCredentials) => {
            Err(failed(auth, limiter, remote, user, refuse().detail("invalid username or password")).await)
        }
        Err(AuthError::Federated(r)) => Err(federated_failed(limiter, remote, user, refuse().detail(r.sentence))),
        Err(AuthError::Disabled) => {
            // A new token cannot help: 403, as ACR answers a disabled token.
            auth.audit(user, "auth.disabled", auth.service(), &remote.to_string()).await;
            Err(ApiError::new(ErrorCode::Denied).detail("the token is disabled"))
        }
        Err(e @ (AuthError::Unavailable(_) | AuthError::Internal(_))) => Err(ApiError::store_failure(e)),
    }
}

/// Counts a failed authentication by `remote` presenting `user` (a username, or what kind of
/// credential it was), audits it while within budget, and returns `refusal` or, past a
/// budget, 429. The username is not a secret; no password reaches this function.
pub async fn failed(
    auth: &AuthService,
    limiter: &FailureLimiter,
    remote: IpAddr,
    user: &str,
    refusal: ApiError,
) -> ApiError {
    let at = remote.to_string();
    match limiter.failed(remote, user) {
        Failure::Counted => {
            auth.audit(user, "auth.failed", auth.service(), &at).await;
            refusal
        }
        Failure::Throttled { wait, first } => {
            if first {
                auth.audit(user, "auth.throttled", auth.service(), &at).await;
            }
            throttled(wait)
        }
    }
}

/// Counts a refused federated token (already audited, with its issuer and subject, by the
/// identity service) like any failed authentication: `refusal`, or past the budget 429.
pub fn federated_failed(limiter: &FailureLimiter, remote: IpAddr, user: &str, refusal: ApiError) -> ApiError {
    match limiter.failed(remote, user) {
        Failure::Counted => refusal,
        Failure::Throttled { wait, .. } => throttled(wait),
    }
}

fn throttled(wait: std::time::Duration) -> ApiError {
    ApiError::new(ErrorCode::TooManyRequests)
        .detail("too many failed authentication attempts; the right credentials are still accepted")
        .header(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)))
}

/// Turns the request's credentials into a [`Caller`]. Invalid credentials are a 401 (with the
/// challenge), never anonymous access.
pub async fn authenticate(
    auth: &AuthService,
    limiter: &FailureLimiter,
    challenge: &Challenge,
    headers: &HeaderMap,
    remote: IpAddr,
) -> Result<Caller, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        let permissions = auth.anonymous().await.map_err(|e| {
            tracing::error!(cause = %e, "identity store unavailable");
            ApiError::new(ErrorCode::Unavailable)
        })?;
        return Ok(Caller::Anonymous { permissions });
    };
    if let Some(token) = bearer(value) {
        return match auth.verify_access(token) {
            Ok((subject, access)) => Ok(Caller::Bearer { subject, access }),
            Err(e) => Err(challenge.refuse(&[], Some("invalid_token")).detail(e.to_string())),
        };
    }
    let Some((user, pass)) = basic_credentials(value) else {
        return Err(challenge.refuse(&[], Some("invalid_request")).detail("unsupported Authorization header"));
    };
    check_basic(auth, limiter, remote, &user, &pass, || challenge.refuse(&[], None)).await.map(Caller::Basic)
}

fn allowed(caller: &Caller, wanted: &[Access]) -> bool {
    match caller {
        Caller::Anonymous { permissions } | Caller::Basic(Authenticated { permissions, .. }) => {
            access::covers(&access::grant(permissions, wanted), wanted)
        }
        Caller::Bearer { access, .. } => access::covers(access, wanted),
    }
}

fn refusal(caller: &Caller, wanted: &[Access], challenge: &Challenge) -> ApiError {
    match caller {
        Caller::Anonymous { .. } => challenge.refuse(wanted, None),
        _ => challenge.refuse(wanted, Some("insufficient_scope")),
    }
}

/// The one authorisation point of the OCI API. `/v2/` itself needs an authenticated caller
/// (its 401 is what starts `docker login`); everything else needs [`required_access`].
pub fn authorize(caller: Caller, endpoint: Endpoint, challenge: &Challenge) -> Result<Authorized, ApiError> {
    if endpoint.is_base() && matches!(caller, Caller::Anonymous { .. }) {
        return Err(challenge.refuse(&[], None));
    }
    let wanted = required_access(&endpoint);
    if allowed(&caller, &wanted) {
        Ok(Authorized { endpoint, caller })
    } else {
        Err(refusal(&caller, &wanted, challenge))
    }
}

/// The admin API's use of the same point: `endpoint` needs [`required_admin_access`].
pub fn authorize_admin(
    caller: Caller,
    endpoint: AdminEndpoint,
    challenge: &Challenge,
) -> Result<AdminAuthorized, ApiError> {
    let wanted = required_admin_access(&endpoint);
    if allowed(&caller, &wanted) {
        Ok(AdminAuthorized { endpoint, caller })
    } else {
        Err(refusal(&caller, &wanted, challenge))
    }
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
