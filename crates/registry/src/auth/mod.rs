//! [`AuthService`]: who a caller is (service principals by application ID and secret, refresh
//! tokens), what their role assignments add up to, and the tokens that carry a grant.
//!
//! Contracts:
//! - Secrets are generated here, returned once, and stored only as SHA-256; checks compare
//!   hashes in constant time, and an unknown principal costs the same as a wrong secret.
//! - Access tokens are verified without the database; refresh tokens are checked against the
//!   database, so resetting a credential revokes the refresh tokens it produced.
//! - Nothing here logs or formats a secret.

mod cache;
pub mod federated;
mod federated_login;
pub mod jwt;
pub mod secret;
mod sessions;
mod tokens;

pub use federated_login::{FEDERATED_PREFIX, FederatedRefusal, Federation};
pub use sessions::{NewSession, csrf_matches, csrf_token};
pub use tokens::{ADMIN_USER, NewToken, TokenScope, TokenSecret};

use berth_core::MetaError;
use berth_core::access::Access;
use berth_core::principals::{
    AuditEvent, Credential, IdentityStore, Principal, RegistrySettings, RoleAssignment, principal_key,
};
use berth_core::roles::{Permissions, Role, RoleScope};
use jwt::{AccessClaim, Claims, TokenError, TokenKeys};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The username that says "the password is a refresh token" (ACR's convention).
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
/// Seconds in a (non-leap) year, for credential lifetimes.
const YEAR: i64 = 365 * 24 * 3600;

/// A new token-signing key (ECDSA P-256, PKCS#8 DER), as the identity store keeps one.
pub fn generate_signing_key() -> Vec<u8> {
    TokenKeys::generate_pkcs8()
}

fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    /// Application ID.
    pub subject: String,
    /// What its role assignments add up to.
    pub permissions: Permissions,
    /// The credential used (binds refresh tokens to it).
    pub credential: String,
    /// When that credential stops being valid, seconds since the epoch.
    pub valid_until: i64,
}

/// Why authentication failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong or expired secret, invalid refresh token: all look the same.
    #[error("invalid username or password")]
    BadCredentials,
    /// The right password of a disabled token (only said once the password matched).
    #[error("the token is disabled")]
    Disabled,
    /// The identity store is unreachable (503: a retry may succeed).
    #[error("{0}")]
    Unavailable(String),
    /// A stored identity does not decode (500: damage or a bug, which a retry does not cure).
    #[error("{0}")]
    Internal(String),
    /// A federated token refused, with why (401; its sentence may be shown to the caller).
    #[error("{}", .0.sentence)]
    Federated(FederatedRefusal),
}

impl From<MetaError> for AuthError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Corrupt(_) => AuthError::Internal(e.to_string()),
            e => AuthError::Unavailable(e.to_string()),
        }
    }
}

/// A signed access token and its lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The JWT.
    pub token: String,
    /// Seconds it lives.
    pub expires_in: u64,
    /// Issue time, seconds since the epoch.
    pub issued_at: i64,
}

/// A new secret shown once, with the principal it belongs to.
#[derive(Debug, Clone)]
pub struct NewSecret {
    /// The principal.
    pub principal: Principal,
    /// The secret, in clear, to be shown once and never stored.
    pub password: String,
    /// The registry's tenant.
    pub tenant: String,
    /// The new credential's ID.
    pub key_id: String,
    /// Valid until, seconds since the epoch.
    pub end: i64,
}

/// What [`AuthService::bootstrap`] found.
#[derive(Debug)]
pub enum Bootstrap {
    /// This call created the Owner; its secret, to be shown once.
    Created(NewSecret),
    /// Principals already existed (made by an earlier start or another replica): the Owner
    /// of that name, if it still exists.
    Existing(Option<Principal>),
}

/// Lifetime of a new credential: `years` from now, or until `end`.
#[derive(Debug, Clone, Copy)]
pub enum Lifetime {
    /// Whole years (the default is one, as `az`).
    Years(u32),
    /// Until this time, seconds since the epoch.
    Until(i64),
}

/// Authentication, permissions and tokens.
pub struct AuthService {
    ids: Arc<dyn IdentityStore>,
    keys: TokenKeys,
    service: String,
    access_ttl: u64,
    refresh_ttl: u64,
    settings: Mutex<Option<(Instant, RegistrySettings)>>,
    dummy_hash: [u8; 32],
    cache: cache::AuthCache,
    /// How long settings and accepted Basic credentials are trusted without asking the store.
    cache_ttl: Duration,
    /// Federated tokens, when accepted.
    federation: Option<Federation>,
}

impl AuthService {
    /// Loads (or creates, once for all replicas) the signing key from the store. `service` is
    /// the audience of every token; `access_ttl` the access-token lifetime in seconds (≥ 60).
    pub async fn new(ids: Arc<dyn IdentityStore>, service: String, access_ttl: u64) -> Result<Self, String> {
        let key = ids.signing_key(&TokenKeys::generate_pkcs8()).await.map_err(|e| e.to_string())?;
        let keys = TokenKeys::from_pkcs8(&key)?;
        Ok(AuthService {
            ids,
            keys,
            service,
            access_ttl: access_ttl.max(60),
            refresh_ttl: 3 * 3600,
            settings: Mutex::new(None),
            dummy_hash: secret::hash(&secret::generate()),
            cache: cache::AuthCache::default(),
            cache_ttl: cache::DEFAULT_TTL,
            federation: None,
        })
    }

    /// Trusts settings and accepted Basic credentials for `ttl` without asking the store
    /// (default 5 s). Replicas sharing a database use 0, so a reset or a settings change made
    /// through one is enforced by all at once.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache = cache::AuthCache::with_ttl(ttl);
        self.cache_ttl = ttl;
        self
    }

    /// Uses `pkcs8` (an ECDSA P-256 key, PKCS#8 DER) to sign and verify tokens instead of the
    /// key kept in the identity store, so every replica given the same file issues tokens
    /// every other accepts.
    pub fn with_signing_key(mut self, pkcs8: &[u8]) -> Result<Self, String> {
        self.keys = TokenKeys::from_pkcs8(pkcs8)?;
        Ok(self)
    }

    /// The audience tokens carry (the registry host).
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The identity store, for this crate's services only: every change goes through
    /// [`crate::admin::IdentityAdmin`], which keeps the caches and the audit log right.
    pub(crate) fn identities(&self) -> &Arc<dyn IdentityStore> {
        &self.ids
    }

    /// Registry settings, cached for a moment.
    pub async fn settings(&self) -> Result<RegistrySettings, MetaError> {
        if let Some((at, s)) = self.settings.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
            && at.elapsed() < self.cache_ttl
        {
            return Ok(s.clone());
        }
        let fresh = self.ids.settings().await?;
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), fresh.clone()));
        Ok(fresh)
    }

    /// Forgets cached settings and credential checks (after this process changed them).
    pub fn settings_changed(&self) {
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.identities_changed();
    }

    /// What an anonymous caller may do: pull everything when anonymous pull is on, else nothing.
    pub async fn anonymous(&self) -> Result<Permissions, MetaError> {
        Ok(if self.settings().await?.anonymous_pull { Permissions::pull_everything() } else { Permissions::default() })
    }

    /// The permissions of a principal, from its current role assignments (as read within the
    /// cache's TTL, and never from before this process last changed an identity).
    pub async fn permissions(&self, app_id: &str) -> Result<Permissions, MetaError> {
        let generation = match self.cache.permissions(app_id) {
            Ok(hit) => return Ok(hit),
            Err(generation) => generation,
        };
        let assignments = self.ids.role_assignments(Some(app_id)).await?;
        let p = Permissions::from_roles(assignments.iter().map(|a| (a.role, &a.scope)));
        self.cache.store_permissions(generation, app_id, &p);
        Ok(p)
    }

    /// Checks `username:password` as Basic credentials from `remote`: an application ID and a
    /// secret or a federated token, or the null GUID and a refresh token.
    pub async fn basic(&self, username: &str, password: &str, remote: &str) -> Result<Authenticated, AuthError> {
        let generation = match self.cache.basic(username, password, now()) {
            Ok(hit) => return Ok(hit),
            Err(generation) => generation,
        };
        let checked = self.basic_uncached(username, password, remote).await?;
        self.cache.store_basic(generation, username, password, checked.valid_until, &checked);
        Ok(checked)
    }

    async fn basic_uncached(&self, username: &str, password: &str, remote: &str) -> Result<Authenticated, AuthError> {
        if username == NULL_GUID {
            return self.refresh(password, &self.service).await;
        }
        if username != ADMIN_USER && self.federated_password(password) {
            return self.federated_login(password, Some(username), remote).await;
        }
        let presented = secret::hash(password);
        if username == ADMIN_USER {
            return self.admin_login(&presented).await;
        }
        if let Some(principal) = self.ids.principal(username).await?.filter(|p| p.app_id == username) {
            let t = now();
            let credentials = self.ids.credentials(&principal.app_id).await?;
            let mut matched = None;
            for c in &credentials {
                if secret::same(&presented, &c.secret_hash) && c.start <= t && t < c.end {
                    matched = Some((c.key_id.clone(), c.end));
                }
            }
            let (credential, valid_until) = matched.ok_or(AuthError::BadCredentials)?;
            let permissions = self.permissions(&principal.app_id).await?;
            return Ok(Authenticated { permissions, subject: principal.app_id, credential, valid_until });
        }
        if let Some(token) = self.ids.token(username).await? {
            return self.token_login(&token, &presented).await;
        }
        // Spend the same comparison as a real identity would, so timing tells nothing.
        let _ = secret::same(&presented, &self.dummy_hash);
        Err(AuthError::BadCredentials)
    }

    /// Checks a refresh token issued for `service`; its principal (or token, or the admin
    /// user) and credential must still be valid (a reset revokes it).
    pub async fn refresh(&self, token: &str, service: &str) -> Result<Authenticated, AuthError> {
        if service != self.service {
            return Err(AuthError::BadCredentials);
        }
        let claims =
            self.keys.verify(token, &self.service, "refresh_token", now()).map_err(|_| AuthError::BadCredentials)?;
        let credential = claims.credential.ok_or(AuthError::BadCredentials)?;
        self.revalidate(claims.sub, credential, claims.exp).await
    }

    /// Checks that `subject` (a principal, a token or the admin user) and its `credential`
    /// (as [`Authenticated::credential`] names it) are still valid, and answers with its
    /// permissions now; valid at most until `until`. Refresh tokens and web UI sessions are
    /// checked so: a reset credential or a deleted principal ends both at once.
    async fn revalidate(&self, subject: String, credential: String, until: i64) -> Result<Authenticated, AuthError> {
        let mut a = if subject == ADMIN_USER {
            self.admin_refresh(&credential).await?
        } else if let Some(id) = credential.strip_prefix(FEDERATED_PREFIX) {
            self.federated_refresh(&subject, id, until).await?
        } else if let Some(token) = self.ids.token(&subject).await? {
            self.token_refresh(&token, &credential).await?
        } else {
            let t = now();
            let credentials = self.ids.credentials(&subject).await?;
            let found = credentials.iter().find(|c| c.key_id == credential && c.start <= t && t < c.end);
            let valid_until = found.ok_or(AuthError::BadCredentials)?.end;
            let permissions = self.permissions(&subject).await?;
            Authenticated { permissions, subject, credential, valid_until }
        };
        a.valid_until = a.valid_until.min(until);
        Ok(a)
    }

    /// Forgets remembered credential checks; called after every identity change here.
    pub fn identities_changed(&self) {
        self.cache.identities_changed();
    }

    fn claims(
        &self,
        subject: &str,
        grant_type: &str,
        ttl: u64,
        access: Vec<AccessClaim>,
        credential: Option<String>,
    ) -> Claims {
        let t = now();
        Claims {
            iss: jwt::ISSUER.into(),
            sub: subject.into(),
            aud: self.service.clone(),
            exp: t + ttl as i64,
            nbf: t,
            iat: t,
            jti: uuid::Uuid::new_v4().to_string(),
            access,
            grant_type: grant_type.into(),
            credential,
        }
    }

    /// Signs an access token for `subject` carrying exactly `granted`.
    pub fn issue_access(&self, subject: &str, granted: &[Access]) -> IssuedToken {
        let access = granted
            .iter()
            .map(|a| AccessClaim {
                kind: a.resource_type.clone(),
                name: a.name.clone(),
                actions: a.actions.iter().map(|x| x.as_str().to_owned()).collect(),
            })
            .collect();
        let claims = self.claims(subject, "access_token", self.access_ttl, access, None);
        IssuedToken { token: self.keys.sign(&claims), expires_in: self.access_ttl, issued_at: claims.iat }
    }

    /// Signs a refresh token bound to the caller's principal, credential and this service,
    /// living [`AuthService::refresh_ttl_for`] the caller.
    pub fn issue_refresh(&self, caller: &Authenticated) -> String {
        self.keys.sign(&self.claims(
            &caller.subject,
            "refresh_token",
            self.refresh_ttl_for(caller),
            Vec::new(),
            Some(caller.credential.clone()),
        ))
    }

    /// Verifies an access token (signature, audience, expiry; no database) and returns its
    /// subject and grant.
    pub fn verify_access(&self, token: &str) -> Result<(String, Vec<Access>), TokenError> {
        let t = now();
        if let Some(hit) = self.cache.token(token, t) {
            return Ok(hit);
        }
        let claims = self.keys.verify(token, &self.service, "access_token", t)?;
        let exp = claims.exp;
        let access = claims
            .access
            .into_iter()
            .filter_map(|c| {
                Access::parse(&format!("{}:{}:{}", c.kind, c.name, c.actions.join(",")))
                    .filter(|a| !a.actions.is_empty() || c.actions.is_empty())
            })
            .collect::<Vec<_>>();
        self.cache.store_token(token, exp, &claims.sub, &access);
        Ok((claims.sub, access))
    }

    fn credential(lifetime: Lifetime, display_name: Option<String>) -> (Credential, String) {
        let password = secret::generate();
        let start = now();
        let end = match lifetime {
            Lifetime::Years(y) => start + i64::from(y.max(1)) * YEAR,
            Lifetime::Until(end) => end,
        };
        let c = Credential {
            key_id: uuid::Uuid::new_v4().to_string(),
            display_name,
            start,
            end,
            secret_hash: secret::hash(&password),
        };
        (c, password)
    }

    /// `sp create-for-rbac`: creates the principal `name` with a new secret, or, when it
    /// exists, replaces all its secrets with a new one (as `az` does); then assigns `role` at
    /// `scope` if given.
    pub async fn create_for_rbac(
        &self,
        name: &str,
        role: Option<(Role, RoleScope)>,
        lifetime: Lifetime,
    ) -> Result<NewSecret, MetaError> {
        let tenant = self.settings().await?.tenant;
        let (credential, password) = Self::credential(lifetime, None);
        let principal = match self.ids.principal(name).await?.filter(|p| p.display_name == name) {
            Some(existing) => {
                self.ids.add_credential(&existing.app_id, &credential, true).await?;
                existing
            }
            None => {
                let p = Principal {
                    app_id: uuid::Uuid::new_v4().to_string(),
                    display_name: name.to_owned(),
                    created_at: now(),
                };
                self.ids.create_principal(&p, &credential).await?;
                p
            }
        };
        if let Some((role, scope)) = role {
            self.ids.assign_role(&RoleAssignment { app_id: principal.app_id.clone(), role, scope }).await?;
        }
        self.identities_changed();
        Ok(NewSecret { principal, password, tenant, key_id: credential.key_id, end: credential.end })
    }

    /// `sp credential reset`: a new secret for the principal named `key` (application ID,
    /// display name or `http://name`); without `append`, every earlier secret stops working
    /// at once. `None` if there is no such principal.
    pub async fn reset_credential(
        &self,
        key: &str,
        append: bool,
        lifetime: Lifetime,
        display_name: Option<String>,
    ) -> Result<Option<NewSecret>, MetaError> {
        let Some(principal) = self.ids.principal(principal_key(key)).await? else { return Ok(None) };
        let tenant = self.settings().await?.tenant;
        let (credential, password) = Self::credential(lifetime, display_name);
        self.ids.add_credential(&principal.app_id, &credential, !append).await?;
        self.identities_changed();
        Ok(Some(NewSecret { principal, password, tenant, key_id: credential.key_id, end: credential.end }))
    }

    /// `sp credential delete`: deletes the credential `key_id` of the principal named `key`,
    /// leaving its others (rotation without downtime: `reset --append`, move the clients, then
    /// delete the old one). Its secret and the refresh tokens issued for it stop working at
    /// once. `None` if there is no such principal, `Some(false)` if it has no such credential.
    pub async fn delete_credential(&self, key: &str, key_id: &str) -> Result<Option<(Principal, bool)>, MetaError> {
        let Some(principal) = self.ids.principal(principal_key(key)).await? else { return Ok(None) };
        let deleted = self.ids.delete_credential(&principal.app_id, key_id).await?;
        self.identities_changed();
        Ok(Some((principal, deleted)))
    }

    /// On a registry without principals, creates the bootstrap Owner `name` (with `password`
    /// when the configuration gives one, else a generated secret) exactly once however many
    /// replicas start together. Otherwise reports the principal `name`, if there is one.
    pub async fn bootstrap(&self, name: &str, password: Option<&str>) -> Result<Bootstrap, MetaError> {
        if self.ids.principals().await?.is_empty() {
            let (mut credential, mut secret) = Self::credential(Lifetime::Years(1), None);
            if let Some(given) = password {
                credential.secret_hash = secret::hash(given);
                secret = given.to_owned();
            }
            let principal = Principal {
                app_id: uuid::Uuid::new_v4().to_string(),
                display_name: name.to_owned(),
                created_at: now(),
            };
            let owner =
                RoleAssignment { app_id: principal.app_id.clone(), role: Role::Owner, scope: RoleScope::registry() };
            if self.ids.bootstrap_principal(&principal, &credential, &owner).await? {
                self.identities_changed();
                self.audit(&principal.app_id, "sp.bootstrap", &principal.app_id, "local").await;
                let tenant = self.settings().await?.tenant;
                let (key_id, end) = (credential.key_id, credential.end);
                return Ok(Bootstrap::Created(NewSecret { principal, password: secret, tenant, key_id, end }));
            }
        }
        Ok(Bootstrap::Existing(self.ids.principal(name).await?.filter(|p| p.display_name == name)))
    }

    /// Records an audit event, every field bounded and with control characters escaped (in
    /// the log line too); a failure to record is logged, never fatal.
    pub async fn audit(&self, actor: &str, action: &str, target: &str, remote: &str) {
        let e = AuditEvent {
            at: now(),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            remote: remote.into(),
        }
        .bounded();
        tracing::info!(
            target: "audit",
            actor = e.actor.as_str(),
            action = e.action.as_str(),
            target = e.target.as_str(),
            remote = e.remote.as_str(),
            "audit"
        );
        if let Err(err) = self.ids.audit(&e).await {
            tracing::error!(error = %err, "could not record an audit event");
        }
    }

    /// Deletes audit events older than `retention`; how many.
    pub async fn prune_audit(&self, retention: Duration) -> Result<u64, MetaError> {
        self.ids.prune_audit(now().saturating_sub(retention.as_secs() as i64)).await
    }
}
