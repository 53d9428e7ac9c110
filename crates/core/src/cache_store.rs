//! What the pull-through cache keeps in the metadata store: credential sets, cache rules,
//! when each cached tag was last checked upstream, and the fill leases that make one
//! process fetch each missing manifest or blob while the others wait.

use crate::Digest;
use crate::name::{RepoName, Tag};
use crate::store::{ManifestRecord, ManifestRefs, MetaError};
use async_trait::async_trait;

/// A credential set as stored: the password only sealed (encrypted with the registry's
/// credential key, bound to the set's name). `Debug` never shows the sealed bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialSetRecord {
    /// Its name.
    pub name: String,
    /// The upstream registry it logs in to (a [`crate::cache::RegistryHost`]).
    pub login_server: String,
    /// Username; `None` for anonymous.
    pub username: Option<String>,
    /// The sealed password; `None` for anonymous.
    pub sealed_password: Option<Vec<u8>>,
    /// Created, seconds since the epoch.
    pub created_at: i64,
    /// Last changed, seconds since the epoch.
    pub updated_at: i64,
}

impl std::fmt::Debug for CredentialSetRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CredentialSetRecord")
            .field("name", &self.name)
            .field("login_server", &self.login_server)
            .field("username", &self.username)
            .field("has_password", &self.sealed_password.is_some())
            .finish()
    }
}

/// A cache rule as stored: the normalised text of [`crate::cache::CacheRule`]'s parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRuleRecord {
    /// Its name.
    pub name: String,
    /// The source, normalised (`docker.io/library/nginx`, `docker.io/*`).
    pub source: String,
    /// The target (`nginx`, `hub/*`).
    pub target: String,
    /// The credential set it logs in with upstream.
    pub credential_set: Option<String>,
    /// Whether clients may push into its targets.
    pub allow_push: bool,
    /// Created, seconds since the epoch.
    pub created_at: i64,
    /// Last changed, seconds since the epoch.
    pub updated_at: i64,
}

/// What [`CacheStore::put_cache_rule`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RulePut {
    /// Stored.
    Stored,
    /// The check refused it, with its sentence.
    Refused(String),
    /// An update of a rule that does not exist.
    NotFound,
    /// The rule names a credential set that does not exist.
    UnknownCredentialSet,
}

/// What [`CacheStore::delete_credential_set`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetDeletion {
    /// Deleted.
    Deleted,
    /// No such set.
    NotFound,
    /// Kept: these rules log in with it.
    InUse(Vec<String>),
}

/// The pull-through cache's records. Times of leases are milliseconds since the epoch;
/// every other time is seconds.
#[async_trait]
pub trait CacheStore: Send + Sync + 'static {
    /// Every credential set, by name.
    async fn credential_sets(&self) -> Result<Vec<CredentialSetRecord>, MetaError>;

    /// One credential set.
    async fn credential_set(&self, name: &str) -> Result<Option<CredentialSetRecord>, MetaError>;

    /// Adds `set`; `false` when one of its name exists (nothing changes then).
    async fn create_credential_set(&self, set: &CredentialSetRecord) -> Result<bool, MetaError>;

    /// Replaces the login server, username, sealed password and `updated_at` of the set of
    /// `set.name`; `false` when there is none.
    async fn update_credential_set(&self, set: &CredentialSetRecord) -> Result<bool, MetaError>;

    /// Deletes a credential set no rule uses.
    async fn delete_credential_set(&self, name: &str) -> Result<SetDeletion, MetaError>;

    /// Every cache rule, by name.
    async fn cache_rules(&self) -> Result<Vec<CacheRuleRecord>, MetaError>;

    /// Adds `rule` (or, with `replace`, replaces the rule of its name, keeping its
    /// `created_at`) when `check` passes on every other rule, atomically with respect to
    /// other rule changes on any replica: two racing rules cannot both pass a check that
    /// would refuse one given the other. `check` is given every stored rule but the one
    /// replaced, by name (so, for a create, one of the same name too, which it should refuse);
    /// a create whose name is taken and that `check` let pass is `MetaError::Conflict`. The
    /// look-ups come first: `NotFound`, then `UnknownCredentialSet`, then the check.
    async fn put_cache_rule(
        &self,
        rule: &CacheRuleRecord,
        replace: bool,
        // `for<'r>` spelled out: `async_trait` would otherwise tie the slice to the call.
        check: &(dyn for<'r> Fn(&'r [CacheRuleRecord]) -> Result<(), String> + Send + Sync),
    ) -> Result<RulePut, MetaError>;

    /// Deletes a cache rule (its cached repositories stay, as ordinary repositories);
    /// `false` when there is none.
    async fn delete_cache_rule(&self, name: &str) -> Result<bool, MetaError>;

    /// Stores a manifest fetched upstream, byte for byte, and points `tag` at it (with
    /// `checked_at` as the time it was last compared with upstream). Unlike
    /// [`crate::ContentStore::put_manifest`] the references need not be present (blobs and
    /// child manifests are fetched when asked for); they are recorded all the same, so
    /// garbage collection keeps them once they arrive. Locks apply as to a push:
    /// `MetaError::Locked` for a write-disabled repository or a locked tag pointing elsewhere.
    async fn put_cached_manifest(
        &self,
        repo: &RepoName,
        m: &ManifestRecord,
        refs: &ManifestRefs,
        tag: Option<&Tag>,
        checked_at: i64,
    ) -> Result<(), MetaError>;

    /// When tag `tag` of `repo` was last compared with upstream; `None` for a tag that was
    /// never (a pushed one, or none).
    async fn tag_checked_at(&self, repo: &RepoName, tag: &Tag) -> Result<Option<i64>, MetaError>;

    /// Records that tag `tag` of `repo` was compared with upstream at `at`.
    async fn mark_tag_checked(&self, repo: &RepoName, tag: &Tag, at: i64) -> Result<(), MetaError>;

    /// Whether a manifest of `repo` refers to `digest` (as a blob or a child manifest).
    async fn manifest_refers(&self, repo: &RepoName, digest: &Digest) -> Result<bool, MetaError>;

    /// Takes the fill lease `key` for `holder` until `until` (ms), when nobody holds it or
    /// its holder's lease lapsed before `now` (ms). Whether `holder` holds it now.
    async fn take_fill_lease(&self, key: &str, holder: &str, now: i64, until: i64) -> Result<bool, MetaError>;

    /// Extends `holder`'s lease `key` to `until` (ms); `false` when it lost it.
    async fn renew_fill_lease(&self, key: &str, holder: &str, until: i64) -> Result<bool, MetaError>;

    /// Gives up `holder`'s lease `key`, if it still holds it.
    async fn release_fill_lease(&self, key: &str, holder: &str) -> Result<(), MetaError>;
}
