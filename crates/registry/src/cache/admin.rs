//! Credential sets and cache rules as the admin API changes them: [`CacheAdmin`], obtained with
//! [`RegistryService::cache_admin`] for one acting caller.
//!
//! Contracts, for every operation (those of [`crate::admin`], for the cache's records):
//! - It validates its input here and answers a typed [`AdminError`] whose text is a sentence
//!   for the user. A registry without a pull-through cache answers every operation
//!   [`AdminError::NotConfigured`].
//! - A password is sealed with the registry's credential key ([`super::seal`]) before it is
//!   stored, and is never stored, logged, audited, answered or `Debug`-shown in clear. A set has
//!   both a username and a password, or neither (anonymous).
//! - A rule's overlap check ([`CacheRules::check`]) runs inside the store's write
//!   ([`CacheStore::put_cache_rule`]), so two racing rules cannot both pass it; a rule naming a
//!   credential set that does not exist, or one for another registry than the rule's source,
//!   is refused.
//! - After a successful change it forgets this process's copy of the rules, so the next pull
//!   sees the change, and records the audit event (`credential-set.create`,
//!   `cache-rule.update`, …) with the changed record's name as target; reads record nothing.

use super::PullThrough;
use crate::RegistryService;
use crate::admin::{AdminError, IdentityAdmin};
use berth_core::admin_api::{CreateCacheRule, CreateCredentialSet, UpdateCacheRule, UpdateCredentialSet};
use berth_core::cache::{CacheRule, CacheRuleError, CacheRules, RegistryHost, check_name};
use berth_core::cache_store::{CacheRuleRecord, CredentialSetRecord, RulePut, SetDeletion};

/// The longest username or password accepted, in bytes.
const MAX_SECRET_LEN: usize = 4096;

/// A credential set with the rules that log in with it. Its password stays sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialSetDetail {
    /// The set as stored.
    pub set: CredentialSetRecord,
    /// The cache rules that name it, by name.
    pub used_by: Vec<String>,
}

/// A cache rule with the host its upstream's API answers on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRuleDetail {
    /// The rule as stored.
    pub rule: CacheRuleRecord,
    /// The upstream's API host (`registry-1.docker.io` for Docker Hub).
    pub upstream: String,
}

/// Credential sets and cache rules, changed as one caller (recorded in the audit log).
pub struct CacheAdmin<'a> {
    service: &'a RegistryService,
    cache: &'a PullThrough,
    admin: &'a IdentityAdmin<'a>,
}

impl RegistryService {
    /// The cache administration acting as `admin`'s caller, who must already have been
    /// authorised to administer the registry; `NotConfigured` without a pull-through cache.
    pub fn cache_admin<'a>(&'a self, admin: &'a IdentityAdmin<'a>) -> Result<CacheAdmin<'a>, AdminError> {
        let cache = self.cache.as_deref().ok_or_else(|| {
            AdminError::NotConfigured(
                "this registry has no pull-through cache: configure cache.credential_key_file (the same file on \
                 every replica) and restart it"
                    .into(),
            )
        })?;
        Ok(CacheAdmin { service: self, cache, admin })
    }
}

fn invalid(e: impl ToString) -> AdminError {
    AdminError::Invalid(e.to_string())
}

fn no_set(name: &str) -> AdminError {
    AdminError::NotFound(format!("credential set {name}"))
}

fn no_rule(name: &str) -> AdminError {
    AdminError::NotFound(format!("cache rule {name}"))
}

/// A username or password as given: not empty, not too long, no control characters (and, for
/// a username, no `:`, which Basic authentication cannot carry).
fn check_secret(what: &str, value: &str) -> Result<(), AdminError> {
    let bad_char = value.chars().any(|c| c.is_control() || (what == "username" && c == ':'));
    if value.is_empty() || value.len() > MAX_SECRET_LEN || bad_char {
        let colon = if what == "username" { ", ':'" } else { "" };
        return Err(invalid(format!(
            "the {what} must be 1 to {MAX_SECRET_LEN} bytes without control characters{colon}"
        )));
    }
    Ok(())
}

/// Refuses a set that has a username without a password or a password without a username.
fn both_or_neither(username: Option<&str>, has_password: bool) -> Result<(), AdminError> {
    if username.is_some() != has_password {
        return Err(invalid(
            "a credential set has both a username and a password (--username with --password-stdin), or neither \
             for an anonymous upstream",
        ));
    }
    Ok(())
}

/// A stored rule as the grammar reads it.
fn parse_record(r: &CacheRuleRecord) -> Result<CacheRule, CacheRuleError> {
    CacheRule::new(&r.name, &r.source, &r.target, r.credential_set.clone(), r.allow_push)
}

/// The upstream API host of a stored rule (its source's registry; the source as stored when
/// it no longer parses).
fn detail(rule: CacheRuleRecord) -> CacheRuleDetail {
    let upstream =
        parse_record(&rule).map_or_else(|_| rule.source.clone(), |r| r.source.registry.api_host().to_owned());
    CacheRuleDetail { rule, upstream }
}

impl CacheAdmin<'_> {
    fn now(&self) -> i64 {
        self.service.clock.now()
    }

    /// Forgets the rules this process copied, then audits `action` on `target`.
    async fn changed(&self, action: &str, target: &str) {
        self.cache.rules.invalidate();
        self.admin.audit(action, target).await;
    }

    async fn rules(&self) -> Result<Vec<CacheRuleRecord>, AdminError> {
        Ok(self.service.meta.cache_rules().await?)
    }

    async fn set(&self, name: &str) -> Result<CredentialSetRecord, AdminError> {
        self.service.meta.credential_set(name).await?.ok_or_else(|| no_set(name))
    }

    fn with_users(set: CredentialSetRecord, rules: &[CacheRuleRecord]) -> CredentialSetDetail {
        let used_by =
            rules.iter().filter(|r| r.credential_set.as_deref() == Some(set.name.as_str())).map(|r| r.name.clone());
        CredentialSetDetail { used_by: used_by.collect(), set }
    }

    /// Every credential set, by name, with the rules using each.
    pub async fn credential_sets(&self) -> Result<Vec<CredentialSetDetail>, AdminError> {
        let rules = self.rules().await?;
        let sets = self.service.meta.credential_sets().await?;
        Ok(sets.into_iter().map(|s| Self::with_users(s, &rules)).collect())
    }

    /// The credential set `name`.
    pub async fn credential_set(&self, name: &str) -> Result<CredentialSetDetail, AdminError> {
        let set = self.set(name).await?;
        Ok(Self::with_users(set, &self.rules().await?))
    }

    /// Creates a credential set; a taken name is a `Conflict`.
    pub async fn create_credential_set(&self, req: &CreateCredentialSet) -> Result<CredentialSetDetail, AdminError> {
        check_name("credential set", &req.name).map_err(invalid)?;
        let login_server = RegistryHost::parse(req.login_server.trim()).map_err(invalid)?;
        if let Some(u) = &req.username {
            check_secret("username", u)?;
        }
        if let Some(p) = &req.password {
            check_secret("password", p)?;
        }
        both_or_neither(req.username.as_deref(), req.password.is_some())?;
        let now = self.now();
        let set = CredentialSetRecord {
            name: req.name.clone(),
            login_server: login_server.to_string(),
            username: req.username.clone(),
            sealed_password: req.password.as_deref().map(|p| self.cache.key.seal(&req.name, p)),
            created_at: now,
            updated_at: now,
        };
        if !self.service.meta.create_credential_set(&set).await? {
            return Err(AdminError::Conflict(format!("credential set {} already exists; use update", set.name)));
        }
        self.changed("credential-set.create", &set.name).await;
        Ok(CredentialSetDetail { set, used_by: Vec::new() })
    }

    /// Replaces what `req` gives of the set `name`: the login server (refused while a rule
    /// using the set caches another registry), the username, the password.
    pub async fn update_credential_set(
        &self,
        name: &str,
        req: &UpdateCredentialSet,
    ) -> Result<CredentialSetDetail, AdminError> {
        let mut set = self.set(name).await?;
        let rules = self.rules().await?;
        if let Some(server) = &req.login_server {
            let host = RegistryHost::parse(server.trim()).map_err(invalid)?;
            for rule in rules.iter().filter(|r| r.credential_set.as_deref() == Some(name)) {
                if let Ok(parsed) = parse_record(rule) {
                    check_same_registry(name, &host, &parsed)?;
                }
            }
            set.login_server = host.to_string();
        }
        if let Some(u) = &req.username {
            check_secret("username", u)?;
            set.username = Some(u.clone());
        }
        if let Some(p) = &req.password {
            check_secret("password", p)?;
            set.sealed_password = Some(self.cache.key.seal(name, p));
        }
        both_or_neither(set.username.as_deref(), set.sealed_password.is_some())?;
        set.updated_at = self.now();
        if !self.service.meta.update_credential_set(&set).await? {
            return Err(no_set(name));
        }
        self.changed("credential-set.update", name).await;
        Ok(Self::with_users(set, &rules))
    }

    /// Deletes a credential set no rule uses.
    pub async fn delete_credential_set(&self, name: &str) -> Result<(), AdminError> {
        match self.service.meta.delete_credential_set(name).await? {
            SetDeletion::Deleted => {
                self.changed("credential-set.delete", name).await;
                Ok(())
            }
            SetDeletion::NotFound => Err(no_set(name)),
            SetDeletion::InUse(rules) => Err(AdminError::Conflict(format!(
                "credential set {name} is used by the cache rule(s) {}; delete them or give them another credential \
                 set first",
                rules.join(", ")
            ))),
        }
    }

    /// Every cache rule, by name.
    pub async fn cache_rules(&self) -> Result<Vec<CacheRuleDetail>, AdminError> {
        Ok(self.rules().await?.into_iter().map(detail).collect())
    }

    /// The cache rule `name`.
    pub async fn cache_rule(&self, name: &str) -> Result<CacheRuleDetail, AdminError> {
        let found = self.rules().await?.into_iter().find(|r| r.name == name);
        found.map(detail).ok_or_else(|| no_rule(name))
    }

    /// Creates a cache rule: its parts validated and normalised ([`CacheRule::new`]), its
    /// credential set existing and for its source's registry, and no overlap with the other
    /// rules (`Conflict`, with the rule it would overlap).
    pub async fn create_cache_rule(&self, req: &CreateCacheRule) -> Result<CacheRuleDetail, AdminError> {
        let set = req.credential_set.clone().filter(|s| !s.is_empty());
        let rule = CacheRule::new(&req.name, &req.source, &req.target, set, req.allow_push.unwrap_or(false))
            .map_err(invalid)?;
        let now = self.now();
        let record = CacheRuleRecord {
            name: rule.name.clone(),
            source: rule.source.to_string(),
            target: rule.target.to_string(),
            credential_set: rule.credential_set.clone(),
            allow_push: rule.allow_push,
            created_at: now,
            updated_at: now,
        };
        let stored = self.put(&rule, &record, false).await?;
        self.changed("cache-rule.create", &rule.name).await;
        Ok(detail(stored))
    }

    /// Changes a rule's credential set (`Some("")`: none, anonymous) and whether clients may
    /// push into its targets; its source and target stay.
    pub async fn update_cache_rule(&self, name: &str, req: &UpdateCacheRule) -> Result<CacheRuleDetail, AdminError> {
        let mut record = self.rules().await?.into_iter().find(|r| r.name == name).ok_or_else(|| no_rule(name))?;
        if let Some(set) = &req.credential_set {
            record.credential_set = (!set.is_empty()).then(|| set.clone());
        }
        if let Some(push) = req.allow_push {
            record.allow_push = push;
        }
        record.updated_at = self.now();
        let rule = parse_record(&record).map_err(invalid)?;
        let stored = self.put(&rule, &record, true).await?;
        self.changed("cache-rule.update", name).await;
        Ok(detail(stored))
    }

    /// Deletes a cache rule; the repositories it filled stay, as ordinary repositories.
    pub async fn delete_cache_rule(&self, name: &str) -> Result<(), AdminError> {
        if !self.service.meta.delete_cache_rule(name).await? {
            return Err(no_rule(name));
        }
        self.changed("cache-rule.delete", name).await;
        Ok(())
    }

    /// Stores `record` (the stored form of `rule`) when its credential set fits it and the
    /// overlap rules pass against the others, checked in the store's write; the rule as now
    /// stored.
    async fn put(
        &self,
        rule: &CacheRule,
        record: &CacheRuleRecord,
        replace: bool,
    ) -> Result<CacheRuleRecord, AdminError> {
        if let Some(set) = &rule.credential_set {
            let found = self.service.meta.credential_set(set).await?.ok_or_else(|| unknown_set(set))?;
            let host = RegistryHost::parse(&found.login_server)
                .map_err(|e| AdminError::Internal(format!("credential set {set}: stored login server: {e}")))?;
            check_same_registry(set, &host, rule)?;
        }
        let check = |others: &[CacheRuleRecord]| {
            let others = others.iter().filter_map(|r| parse_record(r).ok()).collect();
            CacheRules::new(others).check(rule, replace).map_err(|e| e.0)
        };
        match self.service.meta.put_cache_rule(record, replace, &check).await? {
            RulePut::Stored => {}
            RulePut::Refused(why) => return Err(AdminError::Conflict(why)),
            RulePut::NotFound => return Err(no_rule(&record.name)),
            RulePut::UnknownCredentialSet => {
                return Err(unknown_set(record.credential_set.as_deref().unwrap_or_default()));
            }
        }
        let stored = self.rules().await?.into_iter().find(|r| r.name == record.name);
        stored.ok_or_else(|| AdminError::Conflict(format!("cache rule {} was deleted meanwhile", record.name)))
    }
}

fn unknown_set(name: &str) -> AdminError {
    invalid(format!(
        "credential set {name} does not exist: create it first (berth credential-set create -n {name} -l REGISTRY)"
    ))
}

/// Refuses `rule` logging in with the set `set_name` for `host` when its source is elsewhere.
fn check_same_registry(set_name: &str, host: &RegistryHost, rule: &CacheRule) -> Result<(), AdminError> {
    if host != &rule.source.registry {
        return Err(invalid(format!(
            "credential set {set_name} logs in to {host}, but cache rule {} caches {}: a rule's credential set must \
             be for the rule's source registry",
            rule.name, rule.source
        )));
    }
    Ok(())
}
