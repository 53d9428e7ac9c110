//! The admin API's wire shapes for the pull-through cache and imports
//! (`/admin/v1/credential-sets…`, `/admin/v1/cache-rules…`, `/admin/v1/import`), under the
//! contracts of [`crate::admin_api`].

use serde::{Deserialize, Serialize};

/// `POST /admin/v1/credential-sets`: a login to an upstream registry. Both `username` and
/// `password`, or neither (anonymous).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateCredentialSet {
    /// Its name.
    pub name: String,
    /// The upstream registry (`docker.io`, `ghcr.io`, `host:port`).
    pub login_server: String,
    /// Username upstream.
    pub username: Option<String>,
    /// Password (or access token) upstream.
    pub password: Option<String>,
}

/// `PATCH /admin/v1/credential-sets/{name}`: each field given replaces the stored one.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateCredentialSet {
    /// A new login server.
    pub login_server: Option<String>,
    /// A new username.
    pub username: Option<String>,
    /// A new password.
    pub password: Option<String>,
}

macro_rules! redacted_debug {
    ($t:ty, $($field:ident),*) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    $(.field(stringify!($field), &self.$field))*
                    .field("password", &self.password.as_ref().map(|_| "<redacted>"))
                    .finish()
            }
        }
    };
}
redacted_debug!(CreateCredentialSet, name, login_server, username);
redacted_debug!(UpdateCredentialSet, login_server, username);

/// A credential set as shown: never its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CredentialSetView {
    /// Its name.
    pub name: String,
    /// The upstream registry.
    pub login_server: String,
    /// Username upstream; `null` for anonymous.
    pub username: Option<String>,
    /// Whether a password is stored.
    pub has_password: bool,
    /// The cache rules that log in with it.
    pub used_by: Vec<String>,
    /// Created.
    pub created: String,
    /// Last changed.
    pub updated: String,
}

/// `POST /admin/v1/cache-rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateCacheRule {
    /// Its name.
    pub name: String,
    /// What it caches (`docker.io/library/nginx`, `docker.io/*`).
    pub source: String,
    /// Where (`nginx`, `hub/*`).
    pub target: String,
    /// The credential set to log in upstream with; anonymous without.
    pub credential_set: Option<String>,
    /// Whether clients may push into the target repositories too (default no).
    pub allow_push: Option<bool>,
}

/// `PATCH /admin/v1/cache-rules/{name}`: each field given replaces the stored one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateCacheRule {
    /// A new credential set; the empty string for anonymous.
    pub credential_set: Option<String>,
    /// Whether clients may push into the target repositories.
    pub allow_push: Option<bool>,
}

/// A cache rule as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheRuleView {
    /// Its name.
    pub name: String,
    /// The source, normalised.
    pub source: String,
    /// The target.
    pub target: String,
    /// The credential set; `null` for anonymous.
    pub credential_set: Option<String>,
    /// Whether clients may push into the targets.
    pub allow_push: bool,
    /// The host its upstream API answers on (`registry-1.docker.io` for Docker Hub).
    pub upstream: String,
    /// Created.
    pub created: String,
    /// Last changed.
    pub updated: String,
}

/// `POST /admin/v1/import`: copy an image from another registry, server-side.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImportRequest {
    /// The image upstream (`docker.io/library/nginx:1.27`, `host/repo@sha256:…`).
    pub source: String,
    /// Where in this registry (`nginx:1.27`); the source's repository and tag without.
    pub image: Option<String>,
    /// A credential set to log in upstream with.
    pub credential_set: Option<String>,
    /// Username upstream (with `password`, instead of a credential set).
    pub username: Option<String>,
    /// Password upstream.
    pub password: Option<String>,
    /// Replace a tag that points elsewhere already.
    #[serde(default)]
    pub force: bool,
    /// Only this platform of an index (`linux/amd64`, `linux/arm64/v8`).
    pub platform: Option<String>,
}

impl std::fmt::Debug for ImportRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportRequest")
            .field("source", &self.source)
            .field("image", &self.image)
            .field("credential_set", &self.credential_set)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("force", &self.force)
            .field("platform", &self.platform)
            .finish()
    }
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportResult {
    /// The repository and tag it stored (`nginx:1.27`).
    pub image: String,
    /// The digest the tag points at.
    pub digest: String,
    /// Manifests stored (an index and its platforms count each).
    pub manifests: u32,
    /// Blobs stored.
    pub blobs: u32,
    /// Bytes fetched upstream (blobs already here are not fetched again).
    pub bytes_fetched: u64,
}
