//! The admin API's endpoint table: what a request under `/admin/v1/` asks for, one variant per
//! route and method, with its path segments (percent-decoded one by one) and query parameters.
//!
//! [`AdminEndpoint::parse`] never fails: a path or method the admin API does not serve is
//! [`AdminEndpoint::Unknown`], answered 404 `NAME_UNKNOWN` only once the caller is authorised.
//! [`crate::auth::required_admin_access`] and the admin dispatcher match the variants
//! exhaustively, so an admin endpoint cannot exist without its access rule and its handler.
//!
//! The table is a sibling of [`crate::endpoint::Endpoint`], not a variant of it: admin paths are
//! not OCI routes, and an `Admin` variant would be an arm that the `/v2/` dispatcher, its access
//! rule and [`crate::endpoint::Endpoint::repo`] could never reach.
//!
//! The names in the path (a principal's app ID or display name, a credential's key ID, a
//! federated credential's name, a token or scope-map name) are checked by [`berth_registry::admin::IdentityAdmin`], which
//! answers each invalid or unknown one as it always has, and those of credential sets and
//! cache rules by [`berth_registry::cache::CacheAdmin`]; here they are only decoded.

use http::Method;

/// The token and scope-map part of the admin API (`/admin/v1/tokens…`, `/admin/v1/scope-maps…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEndpoint {
    /// `GET /admin/v1/scope-maps`.
    ListScopeMaps,
    /// `GET /admin/v1/scope-maps/<name>`.
    ShowScopeMap {
        /// The scope map.
        name: String,
    },
    /// `POST /admin/v1/scope-maps`.
    CreateScopeMap,
    /// `PATCH /admin/v1/scope-maps/<name>`.
    UpdateScopeMap {
        /// The scope map.
        name: String,
    },
    /// `DELETE /admin/v1/scope-maps/<name>`.
    DeleteScopeMap {
        /// The scope map.
        name: String,
    },
    /// `GET /admin/v1/tokens`.
    ListTokens,
    /// `GET /admin/v1/tokens/<name>`.
    ShowToken {
        /// The token.
        name: String,
    },
    /// `POST /admin/v1/tokens`.
    CreateToken,
    /// `PATCH /admin/v1/tokens/<name>`.
    UpdateToken {
        /// The token.
        name: String,
    },
    /// `DELETE /admin/v1/tokens/<name>`.
    DeleteToken {
        /// The token.
        name: String,
    },
    /// `POST /admin/v1/tokens/<name>/credentials`: new passwords.
    GenerateTokenPasswords {
        /// The token.
        name: String,
    },
}

/// The pull-through cache's part of the admin API (`/admin/v1/credential-sets…`,
/// `/admin/v1/cache-rules…`). Names are checked by [`berth_registry::cache::CacheAdmin`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheEndpoint {
    /// `GET /admin/v1/credential-sets`.
    ListCredentialSets,
    /// `GET /admin/v1/credential-sets/<name>`.
    ShowCredentialSet {
        /// The credential set.
        name: String,
    },
    /// `POST /admin/v1/credential-sets`.
    CreateCredentialSet,
    /// `PATCH /admin/v1/credential-sets/<name>`.
    UpdateCredentialSet {
        /// The credential set.
        name: String,
    },
    /// `DELETE /admin/v1/credential-sets/<name>`.
    DeleteCredentialSet {
        /// The credential set.
        name: String,
    },
    /// `GET /admin/v1/cache-rules`.
    ListCacheRules,
    /// `GET /admin/v1/cache-rules/<name>`.
    ShowCacheRule {
        /// The cache rule.
        name: String,
    },
    /// `POST /admin/v1/cache-rules`.
    CreateCacheRule,
    /// `PATCH /admin/v1/cache-rules/<name>`.
    UpdateCacheRule {
        /// The cache rule.
        name: String,
    },
    /// `DELETE /admin/v1/cache-rules/<name>`.
    DeleteCacheRule {
        /// The cache rule.
        name: String,
    },
}

/// One endpoint of the admin API, with the parameters it takes from its path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminEndpoint {
    /// `POST /admin/v1/service-principals`.
    CreatePrincipal,
    /// `GET /admin/v1/service-principals`.
    ListPrincipals,
    /// `GET /admin/v1/service-principals/<key>`.
    ShowPrincipal {
        /// The principal's app ID or display name.
        key: String,
    },
    /// `DELETE /admin/v1/service-principals/<key>`.
    DeletePrincipal {
        /// The principal's app ID or display name.
        key: String,
    },
    /// `POST /admin/v1/service-principals/<key>/credential-reset`.
    ResetCredential {
        /// The principal's app ID or display name.
        key: String,
    },
    /// `GET /admin/v1/service-principals/<key>/credentials`.
    ListCredentials {
        /// The principal's app ID or display name.
        key: String,
    },
    /// `DELETE /admin/v1/service-principals/<key>/credentials/<key_id>`.
    DeleteCredential {
        /// The principal's app ID or display name.
        key: String,
        /// The credential's key ID.
        key_id: String,
    },
    /// `POST /admin/v1/service-principals/<key>/federated-credentials`.
    CreateFederatedCredential {
        /// The principal's app ID or display name.
        key: String,
    },
    /// `GET /admin/v1/service-principals/<key>/federated-credentials`.
    ListFederatedCredentials {
        /// The principal's app ID or display name.
        key: String,
    },
    /// `GET /admin/v1/service-principals/<key>/federated-credentials/<name>`.
    ShowFederatedCredential {
        /// The principal's app ID or display name.
        key: String,
        /// The federated credential's name.
        name: String,
    },
    /// `DELETE /admin/v1/service-principals/<key>/federated-credentials/<name>`.
    DeleteFederatedCredential {
        /// The principal's app ID or display name.
        key: String,
        /// The federated credential's name.
        name: String,
    },
    /// `POST /admin/v1/role-assignments`.
    AssignRole,
    /// `GET /admin/v1/role-assignments[?assignee=]`.
    ListRoleAssignments {
        /// Only this principal's assignments.
        assignee: Option<String>,
    },
    /// `DELETE /admin/v1/role-assignments?assignee=&role=[&scope=]`; the identity service
    /// refuses a missing `assignee` or `role`.
    UnassignRole {
        /// The principal.
        assignee: Option<String>,
        /// The role.
        role: Option<String>,
        /// The scope (`/` when absent).
        scope: Option<String>,
    },
    /// `GET /admin/v1/registry`: the settings.
    ShowRegistry,
    /// `PATCH /admin/v1/registry`.
    UpdateRegistry,
    /// `POST /admin/v1/registry/credential-renew`: a new admin-user password.
    RenewAdminPassword,
    /// `GET /admin/v1/audit[?limit=]`.
    AuditLog {
        /// At most this many events: `limit`, or 100 when absent or not a number.
        limit: u32,
    },
    /// `POST /admin/v1/gc`.
    CollectGarbage,
    /// `POST /admin/v1/purge`.
    Purge,
    /// `POST /admin/v1/import`: an image copied from another registry, server-side.
    Import,
    /// Tokens and scope maps.
    Tokens(TokenEndpoint),
    /// Credential sets and cache rules.
    Cache(CacheEndpoint),
    /// A path or method the admin API does not serve: 404 once authorised.
    Unknown {
        /// The method asked for.
        method: Method,
        /// The decoded path segments after `/admin/v1/`.
        segments: Vec<String>,
    },
}

fn tokens(method: &Method, segments: &[&str]) -> Option<TokenEndpoint> {
    let name = |n: &str| n.to_owned();
    Some(match (method.clone(), segments) {
        (Method::GET, ["scope-maps"]) => TokenEndpoint::ListScopeMaps,
        (Method::GET, ["scope-maps", n]) => TokenEndpoint::ShowScopeMap { name: name(n) },
        (Method::POST, ["scope-maps"]) => TokenEndpoint::CreateScopeMap,
        (Method::PATCH, ["scope-maps", n]) => TokenEndpoint::UpdateScopeMap { name: name(n) },
        (Method::DELETE, ["scope-maps", n]) => TokenEndpoint::DeleteScopeMap { name: name(n) },
        (Method::GET, ["tokens"]) => TokenEndpoint::ListTokens,
        (Method::GET, ["tokens", n]) => TokenEndpoint::ShowToken { name: name(n) },
        (Method::POST, ["tokens"]) => TokenEndpoint::CreateToken,
        (Method::PATCH, ["tokens", n]) => TokenEndpoint::UpdateToken { name: name(n) },
        (Method::DELETE, ["tokens", n]) => TokenEndpoint::DeleteToken { name: name(n) },
        (Method::POST, ["tokens", n, "credentials"]) => TokenEndpoint::GenerateTokenPasswords { name: name(n) },
        _ => return None,
    })
}

fn cache(method: &Method, segments: &[&str]) -> Option<CacheEndpoint> {
    let name = |n: &str| n.to_owned();
    Some(match (method.clone(), segments) {
        (Method::GET, ["credential-sets"]) => CacheEndpoint::ListCredentialSets,
        (Method::GET, ["credential-sets", n]) => CacheEndpoint::ShowCredentialSet { name: name(n) },
        (Method::POST, ["credential-sets"]) => CacheEndpoint::CreateCredentialSet,
        (Method::PATCH, ["credential-sets", n]) => CacheEndpoint::UpdateCredentialSet { name: name(n) },
        (Method::DELETE, ["credential-sets", n]) => CacheEndpoint::DeleteCredentialSet { name: name(n) },
        (Method::GET, ["cache-rules"]) => CacheEndpoint::ListCacheRules,
        (Method::GET, ["cache-rules", n]) => CacheEndpoint::ShowCacheRule { name: name(n) },
        (Method::POST, ["cache-rules"]) => CacheEndpoint::CreateCacheRule,
        (Method::PATCH, ["cache-rules", n]) => CacheEndpoint::UpdateCacheRule { name: name(n) },
        (Method::DELETE, ["cache-rules", n]) => CacheEndpoint::DeleteCacheRule { name: name(n) },
        _ => return None,
    })
}

impl AdminEndpoint {
    /// The endpoint `method` on `path` (the whole request path, `/admin/v1/…`) with `query`
    /// (the raw query string) is. Segments are decoded one by one, so `http:%2F%2Fname` names
    /// the principal `http://name`; a trailing `/` is ignored. Never panics.
    pub fn parse(method: &Method, path: &str, query: Option<&str>) -> Self {
        let path = path.trim_start_matches("/admin/v1/").trim_end_matches('/');
        let decoded: Vec<String> = path
            .split('/')
            .map(|seg| percent_encoding::percent_decode_str(seg).decode_utf8_lossy().into_owned())
            .collect();
        let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let q: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect();
        let get = |key: &str| q.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
        let key = |k: &str| k.to_owned();
        match (method.clone(), segments.as_slice()) {
            (Method::POST, ["service-principals"]) => AdminEndpoint::CreatePrincipal,
            (Method::GET, ["service-principals"]) => AdminEndpoint::ListPrincipals,
            (Method::GET, ["service-principals", k]) => AdminEndpoint::ShowPrincipal { key: key(k) },
            (Method::DELETE, ["service-principals", k]) => AdminEndpoint::DeletePrincipal { key: key(k) },
            (Method::POST, ["service-principals", k, "credential-reset"]) => {
                AdminEndpoint::ResetCredential { key: key(k) }
            }
            (Method::GET, ["service-principals", k, "credentials"]) => AdminEndpoint::ListCredentials { key: key(k) },
            (Method::DELETE, ["service-principals", k, "credentials", id]) => {
                AdminEndpoint::DeleteCredential { key: key(k), key_id: key(id) }
            }
            (Method::POST, ["service-principals", k, "federated-credentials"]) => {
                AdminEndpoint::CreateFederatedCredential { key: key(k) }
            }
            (Method::GET, ["service-principals", k, "federated-credentials"]) => {
                AdminEndpoint::ListFederatedCredentials { key: key(k) }
            }
            (Method::GET, ["service-principals", k, "federated-credentials", n]) => {
                AdminEndpoint::ShowFederatedCredential { key: key(k), name: key(n) }
            }
            (Method::DELETE, ["service-principals", k, "federated-credentials", n]) => {
                AdminEndpoint::DeleteFederatedCredential { key: key(k), name: key(n) }
            }
            (Method::POST, ["role-assignments"]) => AdminEndpoint::AssignRole,
            (Method::GET, ["role-assignments"]) => AdminEndpoint::ListRoleAssignments { assignee: get("assignee") },
            (Method::DELETE, ["role-assignments"]) => {
                AdminEndpoint::UnassignRole { assignee: get("assignee"), role: get("role"), scope: get("scope") }
            }
            (Method::GET, ["registry"]) => AdminEndpoint::ShowRegistry,
            (Method::PATCH, ["registry"]) => AdminEndpoint::UpdateRegistry,
            (Method::POST, ["registry", "credential-renew"]) => AdminEndpoint::RenewAdminPassword,
            (Method::GET, ["audit"]) => {
                AdminEndpoint::AuditLog { limit: get("limit").and_then(|l| l.parse().ok()).unwrap_or(100) }
            }
            (Method::POST, ["gc"]) => AdminEndpoint::CollectGarbage,
            (Method::POST, ["purge"]) => AdminEndpoint::Purge,
            (Method::POST, ["import"]) => AdminEndpoint::Import,
            (m, s) => tokens(&m, s)
                .map(AdminEndpoint::Tokens)
                .or_else(|| cache(&m, s).map(AdminEndpoint::Cache))
                .unwrap_or_else(|| AdminEndpoint::Unknown { method: m, segments: decoded.clone() }),
        }
    }
}

#[cfg(test)]
#[path = "admin_endpoint_tests.rs"]
mod tests;
