//! Repository-scoped tokens and their scope maps.

use super::{AdminError, IdentityAdmin, invalid};
use crate::auth::{NewToken, TokenScope, TokenSecret};
use berth_core::MetaError;
use berth_core::admin_api::{ScopeMapRequest, TokenCredentialRequest, TokenRequest};
use berth_core::principals::{NameTaken, now_secs};
use berth_core::scopemap::{ScopeMap, ScopeRule, Token, valid_name};

fn rules(actions: &[String]) -> Result<Vec<ScopeRule>, AdminError> {
    actions.iter().map(|a| a.parse::<ScopeRule>().map_err(invalid)).collect()
}

/// `enabled` or `disabled` as a switch; `None` leaves it alone.
fn status(s: Option<&str>) -> Result<Option<bool>, AdminError> {
    match s {
        None => Ok(None),
        Some("enabled") => Ok(Some(true)),
        Some("disabled") => Ok(Some(false)),
        Some(other) => Err(invalid(format!("status must be enabled or disabled, not {other:?}"))),
    }
}

/// `days` from now, seconds since the epoch.
fn expiry(days: Option<u32>) -> Option<i64> {
    days.map(|d| now_secs() + i64::from(d) * 86_400)
}

fn no_scope_map() -> AdminError {
    AdminError::NotFound("scope map".into())
}

fn no_token() -> AdminError {
    AdminError::NotFound("token".into())
}

impl IdentityAdmin<'_> {
    /// Every scope map, built-in ones included, by name.
    pub async fn scope_maps(&self) -> Result<Vec<ScopeMap>, AdminError> {
        Ok(self.auth.identities().scope_maps().await?)
    }

    /// The scope map `name`.
    pub async fn scope_map(&self, name: &str) -> Result<ScopeMap, AdminError> {
        self.auth.identities().scope_map(name).await?.ok_or_else(no_scope_map)
    }

    /// Creates a scope map; an existing one of that name is a `Conflict` (use update).
    pub async fn create_scope_map(&self, req: &ScopeMapRequest) -> Result<ScopeMap, AdminError> {
        let name = req.name.clone().ok_or_else(|| invalid("name is required"))?;
        if !valid_name(&name) {
            return Err(invalid("a scope-map name has 5 to 50 letters, digits or '-'"));
        }
        let ids = self.auth.identities();
        if ids.scope_map(&name).await?.is_some() {
            return Err(AdminError::Conflict(format!("scope map {name} already exists; use update")));
        }
        let m = ScopeMap { name, description: req.description.clone(), rules: rules(&req.actions)?, system: false };
        if !ids.create_scope_map(&m).await? {
            return Err(AdminError::Conflict(format!("scope map {} already exists; use update", m.name)));
        }
        self.auth.identities_changed();
        self.audit("scope-map.create", &m.name).await;
        Ok(m)
    }

    /// Removes `removeActions`, then adds `addActions` (each rule once) and sets the
    /// description if given; every token holding the map gets the change at once. Built-in
    /// maps are never changed.
    pub async fn update_scope_map(&self, name: &str, req: &ScopeMapRequest) -> Result<ScopeMap, AdminError> {
        let mut m = self.scope_map(name).await?;
        if m.system {
            return Err(invalid("built-in scope maps cannot be changed"));
        }
        let (add, remove) = (rules(&req.add_actions)?, rules(&req.remove_actions)?);
        m.rules.retain(|r| !remove.contains(r));
        m.rules.extend(add.into_iter().filter(|r| !m.rules.contains(r)).collect::<Vec<_>>());
        if req.description.is_some() {
            m.description.clone_from(&req.description);
        }
        self.auth.identities().put_scope_map(&m).await?;
        self.auth.identities_changed();
        self.audit("scope-map.update", &m.name).await;
        Ok(m)
    }

    /// Deletes a scope map no token holds.
    pub async fn delete_scope_map(&self, name: &str) -> Result<(), AdminError> {
        match self.auth.identities().delete_scope_map(name).await {
            Ok(true) => {
                self.auth.identities_changed();
                self.audit("scope-map.delete", name).await;
                Ok(())
            }
            Ok(false) => Err(no_scope_map()),
            Err(MetaError::Conflict) => Err(invalid(format!("scope map {name} is used by a token"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Every token, by name.
    pub async fn tokens(&self) -> Result<Vec<Token>, AdminError> {
        Ok(self.auth.identities().tokens().await?)
    }

    /// The token `name`.
    pub async fn token(&self, name: &str) -> Result<Token, AdminError> {
        self.auth.identities().token(name).await?.ok_or_else(no_token)
    }

    /// Creates a token holding either the existing `scopeMap` or a new map `NAME-scope-map`
    /// made of `actions` (token and map in one transaction), with both passwords unless
    /// `noPasswords`. A taken token name, or a taken name for the new map, is a `Conflict`
    /// and nothing is created or changed.
    pub async fn create_token(&self, req: &TokenRequest) -> Result<NewToken, AdminError> {
        let name = req.name.clone().ok_or_else(|| invalid("name is required"))?;
        if !valid_name(&name) {
            return Err(invalid("a token name has 5 to 50 letters, digits or '-' and is not a UUID"));
        }
        // A map made for the token alone; an existing one of that name is never changed.
        let own_map = format!("{name}-scope-map");
        let scope = match (&req.scope_map, req.actions.is_empty()) {
            (Some(m), true) => {
                self.scope_map(m).await?;
                TokenScope::Existing(m.clone())
            }
            (None, false) => TokenScope::New(ScopeMap {
                name: own_map.clone(),
                description: None,
                rules: rules(&req.actions)?,
                system: false,
            }),
            _ => return Err(invalid("give either --scope-map or --repository, not both and not neither")),
        };
        let makes_map = matches!(scope, TokenScope::New(_));
        let enabled = status(req.status.as_deref())?.unwrap_or(true);
        let created =
            self.auth.create_token(&name, scope, enabled, req.no_passwords, expiry(req.expiration_in_days)).await?;
        let created = created.map_err(|taken| match taken {
            NameTaken::Token => AdminError::Conflict(format!("token {name} already exists")),
            NameTaken::ScopeMap => AdminError::Conflict(format!(
                "scope map {own_map} already exists and other tokens may hold it, so nothing was \
                 changed or created; pass --scope-map {own_map} to give token {name} that map as it \
                 is, or choose another token name"
            )),
        })?;
        if makes_map {
            self.audit("scope-map.create", &own_map).await;
        }
        self.audit("token.create", &name).await;
        Ok(created)
    }

    /// Changes a token's `status` and/or `scopeMap` (which must exist); the token as it is now.
    pub async fn update_token(&self, name: &str, req: &TokenRequest) -> Result<Token, AdminError> {
        if let Some(m) = &req.scope_map {
            self.scope_map(m).await?;
        }
        let enabled = status(req.status.as_deref())?;
        if !self.auth.identities().update_token(name, enabled, req.scope_map.as_deref()).await? {
            return Err(no_token());
        }
        self.auth.identities_changed();
        self.audit("token.update", name).await;
        self.token(name).await
    }

    /// Deletes a token; its passwords stop working at once.
    pub async fn delete_token(&self, name: &str) -> Result<(), AdminError> {
        if !self.auth.identities().delete_token(name).await? {
            return Err(no_token());
        }
        self.auth.identities_changed();
        self.audit("token.delete", name).await;
        Ok(())
    }

    /// New passwords for the slots `req` names (both when it names neither or both).
    pub async fn generate_token_passwords(
        &self,
        name: &str,
        req: &TokenCredentialRequest,
    ) -> Result<Vec<TokenSecret>, AdminError> {
        let slots: &[u8] = match (req.password1, req.password2) {
            (false, false) | (true, true) => &[1, 2],
            (true, false) => &[1],
            (false, true) => &[2],
        };
        let shown = self.auth.generate_token_passwords(name, slots, expiry(req.expiration_in_days)).await?;
        let shown = shown.ok_or_else(no_token)?;
        self.audit("token.credential.generate", name).await;
        Ok(shown)
    }
}
