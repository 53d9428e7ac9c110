//! Repository-scoped tokens: authentication with either of two passwords, permissions from
//! the token's scope map, and issuing passwords (each shown once).

use super::{AuthError, AuthService, Authenticated, now, secret};
use berth_core::MetaError;
use berth_core::principals::NameTaken;
use berth_core::roles::Permissions;
use berth_core::scopemap::{ScopeMap, Token, TokenPassword};

/// A password just issued for a token slot, in clear once.
#[derive(Debug, Clone)]
pub struct TokenSecret {
    /// 1 or 2.
    pub slot: u8,
    /// The password.
    pub value: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// Expiry, if any.
    pub expiry: Option<i64>,
}

/// A token just created, with the passwords issued for it.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// The token as stored.
    pub token: Token,
    /// Its new passwords.
    pub passwords: Vec<TokenSecret>,
}

/// The admin user's username (reserved: no token may take it).
pub const ADMIN_USER: &str = "admin";

/// The scope map a new token holds.
#[derive(Debug, Clone)]
pub enum TokenScope {
    /// An existing scope map, by name.
    Existing(String),
    /// A new scope map, created with the token or not at all.
    New(ScopeMap),
}

impl AuthService {
    /// What a token's scope map adds up to (nothing if the map is gone).
    async fn token_permissions(&self, t: &Token) -> Result<Permissions, MetaError> {
        Ok(self.ids.scope_map(&t.scope_map).await?.map(|m| m.permissions()).unwrap_or_default())
    }

    /// Checks `presented` (a hashed password) against a token's live passwords.
    pub(super) async fn token_login(&self, t: &Token, presented: &[u8; 32]) -> Result<Authenticated, AuthError> {
        let at = now();
        let mut matched = None;
        for p in &t.passwords {
            if secret::same(presented, &p.secret_hash) && p.expiry.is_none_or(|e| at < e) {
                matched = Some((p.id.clone(), p.expiry.unwrap_or(i64::MAX)));
            }
        }
        let (credential, valid_until) = matched.ok_or(AuthError::BadCredentials)?;
        if !t.enabled {
            return Err(AuthError::Disabled);
        }
        Ok(Authenticated {
            permissions: self.token_permissions(t).await?,
            subject: t.name.clone(),
            credential,
            valid_until,
        })
    }

    /// Accepts a refresh token of a token identity while the password it was issued with (by
    /// ID) lives and the token is enabled.
    pub(super) async fn token_refresh(&self, t: &Token, credential: &str) -> Result<Authenticated, AuthError> {
        let at = now();
        let alive = t.passwords.iter().find(|p| p.id == credential && p.expiry.is_none_or(|e| at < e));
        let (Some(p), true) = (alive, t.enabled) else { return Err(AuthError::BadCredentials) };
        Ok(Authenticated {
            permissions: self.token_permissions(t).await?,
            subject: t.name.clone(),
            credential: credential.to_owned(),
            valid_until: p.expiry.unwrap_or(i64::MAX),
        })
    }

    /// What the admin user may do: pull and push everywhere, and list the catalog (ACR's
    /// "single user with push and pull access"); never delete, never the admin API.
    fn admin_permissions() -> Permissions {
        use berth_core::access::Action;
        use berth_core::roles::RepoPattern;
        let actions = vec![Action::Pull, Action::Push, Action::MetadataRead, Action::MetadataWrite];
        Permissions { rules: vec![(RepoPattern::All, actions)], catalog: true, admin: false }
    }

    /// Checks the admin user's password; refused alike when the admin user is off.
    pub(super) async fn admin_login(&self, presented: &[u8; 32]) -> Result<Authenticated, AuthError> {
        let passwords = self.ids.admin_passwords().await?;
        let mut matched = None;
        for p in &passwords {
            if secret::same(presented, &p.secret_hash) {
                matched = Some(p.id.clone());
            }
        }
        let credential = matched.ok_or(AuthError::BadCredentials)?;
        if !self.settings().await?.admin_enabled {
            return Err(AuthError::BadCredentials);
        }
        Ok(Authenticated {
            permissions: Self::admin_permissions(),
            subject: ADMIN_USER.into(),
            credential,
            valid_until: i64::MAX,
        })
    }

    /// Accepts a refresh token of the admin user while it is on and the password it was issued
    /// with (by ID) lives.
    pub(super) async fn admin_refresh(&self, credential: &str) -> Result<Authenticated, AuthError> {
        let alive = self.ids.admin_passwords().await?.iter().any(|p| p.id == credential);
        if !alive || !self.settings().await?.admin_enabled {
            return Err(AuthError::BadCredentials);
        }
        Ok(Authenticated {
            permissions: Self::admin_permissions(),
            subject: ADMIN_USER.into(),
            credential: credential.to_owned(),
            valid_until: i64::MAX,
        })
    }

    /// Turns the admin user on or off. Turning it on for the first time creates both
    /// passwords, returned here once.
    pub async fn set_admin_enabled(&self, on: bool) -> Result<Vec<TokenSecret>, MetaError> {
        let mut shown = Vec::new();
        if on && self.ids.admin_passwords().await?.is_empty() {
            for slot in [1, 2] {
                shown.push(self.renew_admin_password(slot).await?);
            }
        }
        self.ids.set_flag(berth_core::principals::Flag::AdminEnabled, on).await?;
        self.settings_changed();
        Ok(shown)
    }

    /// A new password for the admin user's slot (1 = `password`, 2 = `password2`).
    pub async fn renew_admin_password(&self, slot: u8) -> Result<TokenSecret, MetaError> {
        let (stored, secret) = Self::token_secret(slot, None);
        self.ids.set_admin_password(&stored).await?;
        self.identities_changed();
        Ok(secret)
    }

    /// A new password for `slot` with a new random ID.
    fn token_secret(slot: u8, expiry: Option<i64>) -> (TokenPassword, TokenSecret) {
        let value = secret::generate();
        let created = now();
        let id = uuid::Uuid::new_v4().to_string();
        let stored = TokenPassword { id, slot, secret_hash: secret::hash(&value), created, expiry };
        (stored, TokenSecret { slot, value, created, expiry })
    }

    /// Creates a token holding `scope` (creating a new scope map with it, in one transaction),
    /// with both passwords unless `no_passwords`. An existing token or scope map is never
    /// changed: if either name is taken, nothing is created and the answer says which.
    pub async fn create_token(
        &self,
        name: &str,
        scope: TokenScope,
        enabled: bool,
        no_passwords: bool,
        expiry: Option<i64>,
    ) -> Result<Result<NewToken, NameTaken>, MetaError> {
        let slots: &[u8] = if no_passwords { &[] } else { &[1, 2] };
        let (stored, shown): (Vec<_>, Vec<_>) = slots.iter().map(|s| Self::token_secret(*s, expiry)).unzip();
        let scope_map = match &scope {
            TokenScope::Existing(m) => m.clone(),
            TokenScope::New(m) => m.name.clone(),
        };
        let token = Token { name: name.into(), scope_map, enabled, created: now(), passwords: stored };
        let created = match &scope {
            TokenScope::Existing(_) => match self.ids.create_token(&token).await {
                Err(MetaError::Conflict) => Err(NameTaken::Token),
                other => Ok(other?),
            },
            TokenScope::New(m) => self.ids.create_token_with_scope_map(m, &token).await?,
        };
        if created.is_ok() {
            self.identities_changed();
        }
        Ok(created.map(|()| NewToken { token, passwords: shown }))
    }

    /// Issues new passwords for `slots` of token `name` (replacing those slots); `None` if
    /// there is no such token.
    pub async fn generate_token_passwords(
        &self,
        name: &str,
        slots: &[u8],
        expiry: Option<i64>,
    ) -> Result<Option<Vec<TokenSecret>>, MetaError> {
        if self.ids.token(name).await?.is_none() {
            return Ok(None);
        }
        let mut shown = Vec::new();
        for slot in slots {
            let (stored, secret) = Self::token_secret(*slot, expiry);
            self.ids.set_token_password(name, &stored).await?;
            shown.push(secret);
        }
        self.identities_changed();
        Ok(Some(shown))
    }
}
