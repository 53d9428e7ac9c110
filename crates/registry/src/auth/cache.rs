//! Short-lived memory of successful checks, so the hot paths skip work whose answer cannot
//! have changed: a verified access token (immutable until it expires), a Basic credential
//! that was accepted a moment ago, and two identity look-ups every federated exchange makes
//! (a principal's permissions, the federated credentials naming an issuer and subject).
//!
//! Basic answers and look-ups are forgotten after the cache's TTL ([`DEFAULT_TTL`] unless
//! set), Basic answers also when their credential expires, and all at once when this process
//! changes any identity ([`AuthCache::identities_changed`]); a check that began before such a
//! change never stores its answer (generation counter). Failures (and empty look-ups) are
//! never remembered. Every map is bounded and starts over when full.

use super::Authenticated;
use berth_core::access::Access;
use berth_core::federation::FederatedCredential;
use berth_core::roles::Permissions;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// How long an accepted Basic credential is trusted without asking the store again, unless
/// set otherwise. Bounds how late another process sees a reset; replicas use 0.
pub const DEFAULT_TTL: Duration = Duration::from_secs(5);
const MAX_ENTRIES: usize = 10_000;
/// Bytes the verified access tokens may take (as [`token_bytes`] counts them).
const MAX_TOKEN_BYTES: usize = 16 << 20;

type Key = [u8; 32];
/// A verified access token: expiry, subject, grant.
type VerifiedToken = (i64, String, Vec<Access>);

#[derive(Default)]
struct Basic {
    generation: u64,
    map: HashMap<Key, (Instant, i64, Authenticated)>,
    permissions: HashMap<String, (Instant, Permissions)>,
    federated: HashMap<Key, (Instant, Vec<FederatedCredential>)>,
}

/// Inserts into a bounded map, starting it over when full.
fn insert_bounded<K: std::hash::Hash + Eq, V>(map: &mut HashMap<K, V>, k: K, v: V) {
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(k, v);
}

/// Verified access tokens and the bytes they hold.
#[derive(Default)]
struct Tokens {
    bytes: usize,
    map: HashMap<Key, VerifiedToken>,
}

/// What a cached token costs: its key and record, with every string it holds.
fn token_bytes(subject: &str, access: &[Access]) -> usize {
    let grant: usize = access
        .iter()
        .map(|a| std::mem::size_of::<Access>() + a.resource_type.len() + a.name.len() + a.actions.len())
        .sum();
    std::mem::size_of::<(Key, VerifiedToken)>() + subject.len() + grant
}

/// The caches of one [`super::AuthService`].
pub struct AuthCache {
    tokens: RwLock<Tokens>,
    basic: RwLock<Basic>,
    basic_ttl: Duration,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache::with_ttl(DEFAULT_TTL)
    }
}

fn key(parts: &[&str]) -> Key {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

impl AuthCache {
    /// Caches that trust an accepted Basic credential for `basic_ttl` (0: never cached).
    pub fn with_ttl(basic_ttl: Duration) -> Self {
        AuthCache { tokens: RwLock::default(), basic: RwLock::default(), basic_ttl }
    }

    /// A verified access token's subject and grant, if seen and not expired at `now`.
    pub fn token(&self, token: &str, now: i64) -> Option<(String, Vec<Access>)> {
        let tokens = self.tokens.read().unwrap_or_else(|p| p.into_inner());
        tokens.map.get(&key(&[token])).filter(|(exp, _, _)| now < *exp).map(|(_, s, a)| (s.clone(), a.clone()))
    }

    /// Remembers a verified access token until `exp`. The cache holds at most
    /// [`MAX_ENTRIES`] tokens and [`MAX_TOKEN_BYTES`]; when either would be passed it starts
    /// over, and a token bigger than that is never kept.
    pub fn store_token(&self, token: &str, exp: i64, subject: &str, access: &[Access]) {
        let cost = token_bytes(subject, access);
        if cost > MAX_TOKEN_BYTES {
            return;
        }
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        if tokens.map.len() >= MAX_ENTRIES || tokens.bytes + cost > MAX_TOKEN_BYTES {
            tokens.map.clear();
            tokens.bytes = 0;
        }
        if let Some((_, s, a)) = tokens.map.insert(key(&[token]), (exp, subject.to_owned(), access.to_vec())) {
            tokens.bytes -= token_bytes(&s, &a);
        }
        tokens.bytes += cost;
    }

    /// An accepted Basic credential still trusted at `now`, or the generation to store with.
    pub fn basic(&self, user: &str, password: &str, now: i64) -> Result<Authenticated, u64> {
        let b = self.basic.read().unwrap_or_else(|p| p.into_inner());
        match b.map.get(&key(&[user, password])) {
            Some((at, end, a)) if at.elapsed() < self.basic_ttl && now < *end => Ok(a.clone()),
            _ => Err(b.generation),
        }
    }

    /// Remembers an accepted Basic credential valid until `end`, unless identities changed
    /// since `generation` was read.
    pub fn store_basic(&self, generation: u64, user: &str, password: &str, end: i64, a: &Authenticated) {
        let mut b = self.basic.write().unwrap_or_else(|p| p.into_inner());
        if b.generation != generation {
            return;
        }
        insert_bounded(&mut b.map, key(&[user, password]), (Instant::now(), end, a.clone()));
    }

    /// The permissions of `app_id` read a moment ago, or the generation to store with.
    pub fn permissions(&self, app_id: &str) -> Result<Permissions, u64> {
        let b = self.basic.read().unwrap_or_else(|p| p.into_inner());
        match b.permissions.get(app_id) {
            Some((at, p)) if at.elapsed() < self.basic_ttl => Ok(p.clone()),
            _ => Err(b.generation),
        }
    }

    /// Remembers the permissions of `app_id`, unless identities changed since `generation`.
    pub fn store_permissions(&self, generation: u64, app_id: &str, p: &Permissions) {
        let mut b = self.basic.write().unwrap_or_else(|p| p.into_inner());
        if b.generation == generation && !self.basic_ttl.is_zero() {
            insert_bounded(&mut b.permissions, app_id.to_owned(), (Instant::now(), p.clone()));
        }
    }

    /// The federated credentials naming `issuer` and `subject` read a moment ago (never an
    /// empty answer), or the generation to store with.
    pub fn federated(&self, issuer: &str, subject: &str) -> Result<Vec<FederatedCredential>, u64> {
        let b = self.basic.read().unwrap_or_else(|p| p.into_inner());
        match b.federated.get(&key(&[issuer, subject])) {
            Some((at, m)) if at.elapsed() < self.basic_ttl => Ok(m.clone()),
            _ => Err(b.generation),
        }
    }

    /// Remembers the federated credentials naming `issuer` and `subject` (not when there are
    /// none), unless identities changed since `generation`.
    pub fn store_federated(&self, generation: u64, issuer: &str, subject: &str, m: &[FederatedCredential]) {
        let mut b = self.basic.write().unwrap_or_else(|p| p.into_inner());
        if b.generation == generation && !m.is_empty() && !self.basic_ttl.is_zero() {
            insert_bounded(&mut b.federated, key(&[issuer, subject]), (Instant::now(), m.to_vec()));
        }
    }

    /// Forgets every Basic answer and look-up: called after any identity change in this
    /// process.
    pub fn identities_changed(&self) {
        let mut b = self.basic.write().unwrap_or_else(|p| p.into_inner());
        b.generation += 1;
        b.map.clear();
        b.permissions.clear();
        b.federated.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::roles::Permissions;

    fn caller() -> Authenticated {
        Authenticated {
            subject: "s".into(),
            permissions: Permissions::default(),
            credential: "c".into(),
            valid_until: 100,
        }
    }

    #[test]
    fn basic_answers_die_with_changes_and_time() {
        let c = AuthCache::default();
        let g = c.basic("u", "p", 0).unwrap_err();
        c.store_basic(g, "u", "p", 100, &caller());
        assert_eq!(c.basic("u", "p", 50), Ok(caller()));
        assert!(c.basic("u", "p", 100).is_err(), "the credential expired");
        assert!(c.basic("u", "other", 50).is_err());
        let g = c.basic("v", "p", 0).unwrap_err();
        c.identities_changed();
        c.store_basic(g, "v", "p", 100, &caller());
        assert!(c.basic("v", "p", 50).is_err(), "an answer read before a change is not kept");
        assert!(c.basic("u", "p", 50).is_err(), "a change forgets everything");
    }

    #[test]
    fn lookups_die_with_changes_and_are_never_empty() {
        let c = AuthCache::default();
        let g = c.permissions("a").unwrap_err();
        c.store_permissions(g, "a", &Permissions::pull_everything());
        assert_eq!(c.permissions("a"), Ok(Permissions::pull_everything()));
        let g = c.federated("i", "s").unwrap_err();
        c.store_federated(g, "i", "s", &[]);
        assert!(c.federated("i", "s").is_err(), "an empty answer is not kept");
        let g2 = c.permissions("b").unwrap_err();
        c.identities_changed();
        c.store_permissions(g2, "b", &Permissions::default());
        assert!(c.permissions("b").is_err(), "an answer read before a change is not kept");
        assert!(c.permissions("a").is_err(), "a change forgets everything");
        let off = AuthCache::with_ttl(Duration::ZERO);
        let g = off.permissions("a").unwrap_err();
        off.store_permissions(g, "a", &Permissions::default());
        assert!(off.permissions("a").is_err(), "a TTL of 0 keeps nothing");
    }

    #[test]
    fn the_token_cache_is_bounded_in_bytes() {
        let c = AuthCache::default();
        let big = vec![Access::repository(&"a".repeat(250), &[berth_core::access::Action::Pull]); 32];
        let per = token_bytes("s", &big);
        for i in 0..(MAX_TOKEN_BYTES / per + 10) {
            c.store_token(&i.to_string(), 10, "s", &big);
            let held = c.tokens.read().unwrap().bytes;
            assert!(held <= MAX_TOKEN_BYTES, "{held}");
        }
        c.store_token("again", 10, "s", &big);
        c.store_token("again", 10, "s", &big);
        assert!(c.token("again", 9).is_some());
    }

    #[test]
    fn tokens_are_kept_until_they_expire() {
        let c = AuthCache::default();
        c.store_token("t", 10, "s", &[]);
        assert!(c.token("t", 9).is_some() && c.token("t", 10).is_none() && c.token("u", 9).is_none());
    }
}
