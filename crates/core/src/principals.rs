//! The identity records and the traits that keep them: [`IdentityStore`] and its parts.
//!
//! Secrets never enter this module in clear: a credential holds only the SHA-256 of its
//! secret. Implementations live in `berth-meta`, next to the metadata tables.

use crate::federation::FederationStore;
use crate::roles::{Role, RoleScope};
use crate::scopemap::{ScopeMap, Token, TokenPassword};
use crate::sessions::SessionStore;
use crate::store::MetaError;
use async_trait::async_trait;

/// A service principal: an application ID and a display name, like an Entra app registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The application (client) ID, a UUID; the username clients present.
    pub app_id: String,
    /// A unique, human-chosen name.
    pub display_name: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// A password credential of a principal. The secret itself is never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The credential's own ID (a UUID), `keyId` in `az` output.
    pub key_id: String,
    /// Optional name (`--display-name`).
    pub display_name: Option<String>,
    /// Valid from, seconds since the epoch.
    pub start: i64,
    /// Valid until, seconds since the epoch.
    pub end: i64,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("key_id", &self.key_id)
            .field("display_name", &self.display_name)
            .field("start", &self.start)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// A role held by a principal at a scope.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleAssignment {
    /// The principal's application ID.
    pub app_id: String,
    /// The role.
    pub role: Role,
    /// Where it applies.
    pub scope: RoleScope,
}

/// Registry-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySettings {
    /// The registry's tenant UUID (reported with principals, as `az` does).
    pub tenant: String,
    /// Anonymous pull of every repository (off by default).
    pub anonymous_pull: bool,
    /// The admin user (off by default).
    pub admin_enabled: bool,
}

/// A registry-wide switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag {
    /// Anonymous pull.
    AnonymousPull,
    /// The admin user.
    AdminEnabled,
}

impl Flag {
    /// Its key in the settings.
    pub fn key(self) -> &'static str {
        match self {
            Flag::AnonymousPull => "anonymous_pull",
            Flag::AdminEnabled => "admin_enabled",
        }
    }
}

/// One line of the audit log. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Seconds since the epoch.
    pub at: i64,
    /// Who acted (an application ID, a username as presented, or `anonymous`).
    pub actor: String,
    /// What happened (`auth.failed`, `sp.create`, `sp.credential.reset`, …).
    pub action: String,
    /// What it happened to.
    pub target: String,
    /// The client's address.
    pub remote: String,
}

/// Which audit events to find: every field given must match, ASCII letters in either case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// The actor, whole.
    pub actor: Option<String>,
    /// The action or its beginning (`sp.` finds every service-principal action).
    pub action: Option<String>,
    /// Text the target contains.
    pub target: Option<String>,
}

/// Characters an audit field keeps at most; longer text is cut and ends with `…`.
pub const MAX_AUDIT_FIELD: usize = 256;

/// `text` as an audit field: control characters (newlines, terminal escape sequences, …)
/// written as Rust escapes (`\n`, `\u{1b}`), and at most [`MAX_AUDIT_FIELD`] characters.
/// Applying it twice changes nothing more, so stores may apply it again.
pub fn audit_field(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_AUDIT_FIELD * 4));
    let mut count = 0;
    for c in text.chars() {
        let piece: String = if c.is_control() { c.escape_default().collect() } else { c.to_string() };
        let n = piece.chars().count();
        if count + n > MAX_AUDIT_FIELD - 1 {
            out.push('…');
            return out;
        }
        out.push_str(&piece);
        count += n;
    }
    out
}

impl AuditEvent {
    /// The event with every field made an [`audit_field`].
    pub fn bounded(&self) -> AuditEvent {
        AuditEvent {
            at: self.at,
            actor: audit_field(&self.actor),
            action: audit_field(&self.action),
            target: audit_field(&self.target),
            remote: audit_field(&self.remote),
        }
    }
}

/// Seconds since the Unix epoch, now.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// How a principal is named on the command line: application ID, display name, or the legacy
/// `http://<name>` form `az` still prints.
pub fn principal_key(name: &str) -> &str {
    name.strip_prefix("http://").unwrap_or(name)
}

/// The name that stopped [`TokenStore::create_token_with_scope_map`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameTaken {
    /// A token of that name exists.
    Token,
    /// A scope map of that name exists (other tokens may hold it).
    ScopeMap,
}

/// Repository-scoped tokens and their scope maps.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Creates or replaces a (non-system) scope map.
    async fn put_scope_map(&self, m: &ScopeMap) -> Result<(), MetaError>;

    /// Creates a new (non-system) scope map; `false`, and nothing written, if one of that name
    /// is stored (so of two racing creates exactly one wins).
    async fn create_scope_map(&self, m: &ScopeMap) -> Result<bool, MetaError>;

    /// A stored scope map.
    async fn scope_map(&self, name: &str) -> Result<Option<ScopeMap>, MetaError>;

    /// Every stored scope map, by name.
    async fn scope_maps(&self) -> Result<Vec<ScopeMap>, MetaError>;

    /// Deletes a scope map; `false` if absent, `Conflict` if a token uses it.
    async fn delete_scope_map(&self, name: &str) -> Result<bool, MetaError>;

    /// Creates a token (with its passwords). `Conflict` if the name is taken.
    async fn create_token(&self, t: &Token) -> Result<(), MetaError>;

    /// In one transaction: creates the new scope map `m` and token `t` holding it (with its
    /// passwords), or neither. Never changes an existing scope map or token: if `t`'s name is
    /// taken the answer is `Ok(Err(NameTaken::Token))`, else if `m`'s is,
    /// `Ok(Err(NameTaken::ScopeMap))`, and nothing was written. `t.scope_map` must be `m.name`.
    async fn create_token_with_scope_map(&self, m: &ScopeMap, t: &Token) -> Result<Result<(), NameTaken>, MetaError>;

    /// A token with its passwords.
    async fn token(&self, name: &str) -> Result<Option<Token>, MetaError>;

    /// Every token, by name.
    async fn tokens(&self) -> Result<Vec<Token>, MetaError>;

    /// Changes a token's status and/or scope map; `false` if absent.
    async fn update_token(&self, name: &str, enabled: Option<bool>, scope_map: Option<&str>)
    -> Result<bool, MetaError>;

    /// Deletes a token and its passwords; `false` if absent.
    async fn delete_token(&self, name: &str) -> Result<bool, MetaError>;

    /// Sets (replacing) one of a token's passwords.
    async fn set_token_password(&self, name: &str, p: &TokenPassword) -> Result<(), MetaError>;
}

/// Service principals, their password credentials and their role assignments: who may sign
/// in and what each may do.
#[async_trait]
pub trait PrincipalStore: Send + Sync + 'static {
    /// Creates a principal with one credential. `Conflict` if the display name is taken.
    async fn create_principal(&self, p: &Principal, credential: &Credential) -> Result<(), MetaError>;

    /// A principal by application ID or display name.
    async fn principal(&self, key: &str) -> Result<Option<Principal>, MetaError>;

    /// Every principal, by display name.
    async fn principals(&self) -> Result<Vec<Principal>, MetaError>;

    /// Deletes a principal with its credentials and role assignments; `false` if absent.
    async fn delete_principal(&self, app_id: &str) -> Result<bool, MetaError>;

    /// A principal's credentials.
    async fn credentials(&self, app_id: &str) -> Result<Vec<Credential>, MetaError>;

    /// Adds a credential; with `replace`, in the same transaction every other credential of
    /// the principal is deleted, so old secrets stop working at once.
    async fn add_credential(&self, app_id: &str, credential: &Credential, replace: bool) -> Result<(), MetaError>;

    /// Deletes one credential of a principal (by its key ID), leaving the others; `false` if
    /// the principal has no such credential.
    async fn delete_credential(&self, app_id: &str, key_id: &str) -> Result<bool, MetaError>;

    /// Role assignments, of one principal or of all.
    async fn role_assignments(&self, app_id: Option<&str>) -> Result<Vec<RoleAssignment>, MetaError>;

    /// Adds a role assignment. Idempotent.
    async fn assign_role(&self, a: &RoleAssignment) -> Result<(), MetaError>;

    /// Removes a role assignment; `false` if absent.
    async fn unassign_role(&self, a: &RoleAssignment) -> Result<bool, MetaError>;

    /// On a registry without principals, creates `p` with the credential `c` and the role
    /// assignment `a` in one transaction, serialised with every other process sharing the
    /// store (on PostgreSQL under the lock migrations take), so replicas starting together
    /// bootstrap exactly once; `false` (and nothing written) when a principal already exists.
    async fn bootstrap_principal(&self, p: &Principal, c: &Credential, a: &RoleAssignment) -> Result<bool, MetaError>;
}

/// Registry-wide settings and secrets: the tenant, the switches, the admin user's passwords
/// and the token-signing key.
#[async_trait]
pub trait SettingsStore: Send + Sync + 'static {
    /// The registry settings, created with a fresh tenant on first use.
    async fn settings(&self) -> Result<RegistrySettings, MetaError>;

    /// Replaces the registry's tenant UUID (`berth migrate` keeps the source's).
    async fn set_tenant(&self, tenant: &str) -> Result<(), MetaError>;

    /// Turns a registry-wide switch on or off.
    async fn set_flag(&self, flag: Flag, on: bool) -> Result<(), MetaError>;

    /// The admin user's passwords (hashes only; slots 1 and 2).
    async fn admin_passwords(&self) -> Result<Vec<TokenPassword>, MetaError>;

    /// Sets (replacing) one of the admin user's passwords.
    async fn set_admin_password(&self, p: &TokenPassword) -> Result<(), MetaError>;

    /// The token-signing key (PKCS#8), storing `candidate` if none exists yet. Every replica
    /// gets the same key: the first writer wins.
    async fn signing_key(&self, candidate: &[u8]) -> Result<Vec<u8>, MetaError>;
}

/// The audit log: who did what to which target, from where ([`AuditEvent`]).
#[async_trait]
pub trait AuditLog: Send + Sync + 'static {
    /// Appends to the audit log.
    async fn audit(&self, e: &AuditEvent) -> Result<(), MetaError>;

    /// The newest `limit` audit events, newest first.
    async fn audit_log(&self, limit: u32) -> Result<Vec<AuditEvent>, MetaError>;

    /// The newest `limit` audit events matching `q`, newest first.
    async fn audit_search(&self, q: &AuditQuery, limit: u32) -> Result<Vec<AuditEvent>, MetaError>;

    /// Deletes audit events older than `before` (seconds since the epoch); how many.
    async fn prune_audit(&self, before: i64) -> Result<u64, MetaError>;
}

/// Identities, whole: principals, credentials and role assignments ([`PrincipalStore`]),
/// tokens ([`TokenStore`]), settings ([`SettingsStore`]), the audit log ([`AuditLog`]),
/// federated credentials ([`FederationStore`]) and web UI sessions ([`SessionStore`]).
/// Every type that is each of its parts is one.
pub trait IdentityStore:
    PrincipalStore + TokenStore + SettingsStore + AuditLog + FederationStore + SessionStore
{
}

impl<T: PrincipalStore + TokenStore + SettingsStore + AuditLog + FederationStore + SessionStore> IdentityStore for T {}
