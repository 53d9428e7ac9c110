//! This process's copy of the cache rules: read from the store at most once per refresh
//! interval, and at once after a change made here.

use berth_core::MetaError;
use berth_core::cache::{CacheRule, CacheRules};
use berth_core::cache_store::CacheStore;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The rules with the time they were read.
pub(crate) struct RuleCache {
    refresh: Duration,
    loaded: Mutex<Option<(Instant, Arc<CacheRules>)>>,
}

impl RuleCache {
    pub(crate) fn new(refresh: Duration) -> Self {
        RuleCache { refresh, loaded: Mutex::new(None) }
    }

    /// The rules, from the store when this copy is older than the refresh interval. A
    /// stored rule that no longer parses is left out, with an error in the log.
    pub(crate) async fn get(&self, store: &dyn CacheStore) -> Result<Arc<CacheRules>, MetaError> {
        if let Some((at, rules)) = &*self.loaded.lock().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < self.refresh
        {
            return Ok(rules.clone());
        }
        let mut rules = Vec::new();
        for r in store.cache_rules().await? {
            match CacheRule::new(&r.name, &r.source, &r.target, r.credential_set.clone(), r.allow_push) {
                Ok(rule) => rules.push(rule),
                Err(e) => {
                    tracing::error!(rule = %r.name, error = %e, "a stored cache rule does not parse; it is ignored")
                }
            }
        }
        let rules = Arc::new(CacheRules::new(rules));
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), rules.clone()));
        Ok(rules)
    }

    /// Forgets the copy: the next [`Self::get`] reads the store.
    pub(crate) fn invalidate(&self) {
        *self.loaded.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}
