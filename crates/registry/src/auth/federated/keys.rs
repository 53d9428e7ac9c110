//! The signing keys of each issuer, fetched through [`IssuerKeys`] and kept for a while.
//!
//! Contracts:
//! - One fetch at a time per issuer: concurrent verifications wait for it and share it.
//! - Keys are used for `keys_max_age` after a successful fetch. An unknown `kid`, stale keys or
//!   a failed fetch lead to another fetch only once `refetch_interval` has passed since the last
//!   attempt, so a flood of forged tokens costs the issuer at most one request per interval.
//! - A failed fetch never replaces keys with nothing: earlier keys still within their age keep
//!   working, and without any the token is refused naming the failure.
//! - At most [`MAX_ISSUERS`] issuers are remembered; past that the cache starts over.

use super::FederationPolicy;
use super::Refusal;
use super::jwk::{self, Key};
use berth_core::federation::{IssuerKeys, KeySource};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Issuers whose keys are kept at most.
pub const MAX_ISSUERS: usize = 256;

#[derive(Default)]
struct Entry {
    keys: Vec<Key>,
    /// The last successful fetch.
    fetched_at: Option<Instant>,
    /// The last attempt, successful or not.
    tried_at: Option<Instant>,
    /// Why the last attempt failed, if it did.
    failure: Option<String>,
}

/// Keys by issuer.
pub struct KeyCache {
    fetcher: Arc<dyn IssuerKeys>,
    sources: HashMap<String, KeySource>,
    policy: FederationPolicy,
    issuers: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Entry>>>>,
}

impl KeyCache {
    /// Fetches with `fetcher`, from `sources` where they name the issuer, else by discovery.
    pub fn new(fetcher: Arc<dyn IssuerKeys>, sources: HashMap<String, KeySource>, policy: FederationPolicy) -> Self {
        KeyCache { fetcher, sources, policy, issuers: Mutex::new(HashMap::new()) }
    }

    fn entry(&self, issuer: &str) -> Arc<tokio::sync::Mutex<Entry>> {
        let mut map = self.issuers.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_ISSUERS && !map.contains_key(issuer) {
            map.clear();
        }
        map.entry(issuer.to_owned()).or_default().clone()
    }

    /// The key of `issuer` that `kid` names (with no `kid`: its only key).
    pub async fn key(&self, issuer: &str, kid: Option<&str>) -> Result<Key, Refusal> {
        let entry = self.entry(issuer);
        let mut e = entry.lock().await;
        if !self.usable(&e) && self.may_try(&e) {
            self.fetch(issuer, &mut e).await;
        }
        if !self.usable(&e) {
            let why = e.failure.clone().unwrap_or_else(|| "they were never fetched".into());
            return Err(Refusal::KeysUnavailable { issuer: issuer.to_owned(), why });
        }
        if let Some(k) = find(&e.keys, kid) {
            return Ok(k);
        }
        if self.may_try(&e) {
            self.fetch(issuer, &mut e).await;
            if let Some(k) = find(&e.keys, kid).filter(|_| self.usable(&e)) {
                return Ok(k);
            }
        }
        Err(Refusal::UnknownKey { issuer: issuer.to_owned(), kid: kid.unwrap_or("(none)").to_owned() })
    }

    fn usable(&self, e: &Entry) -> bool {
        e.fetched_at.is_some_and(|t| t.elapsed() < self.policy.keys_max_age)
    }

    fn may_try(&self, e: &Entry) -> bool {
        e.tried_at.is_none_or(|t| t.elapsed() >= self.policy.refetch_interval)
    }

    async fn fetch(&self, issuer: &str, e: &mut Entry) {
        let source = self.sources.get(issuer).cloned().unwrap_or(KeySource::Discovery);
        e.tried_at = Some(Instant::now());
        let fetched = self.fetcher.jwks(issuer, &source).await.and_then(|doc| jwk::parse(&doc));
        match fetched {
            Ok(keys) if !keys.is_empty() => {
                e.keys = keys;
                e.fetched_at = e.tried_at;
                e.failure = None;
            }
            Ok(_) => e.failure = Some("its key set holds no RS256 or ES256 signing key".into()),
            Err(why) => {
                tracing::warn!(issuer, error = %why, "could not fetch an issuer's signing keys");
                e.failure = Some(why);
            }
        }
    }
}

fn find(keys: &[Key], kid: Option<&str>) -> Option<Key> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
        None if keys.len() == 1 => keys.first().cloned(),
        None => None,
    }
}
