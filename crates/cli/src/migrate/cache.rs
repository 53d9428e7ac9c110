//! The pull-through cache in `berth migrate`: its credential sets (passwords sealed as they
//! are, so the destination opens them only with the source's credential key: a destination
//! that has another key, or none, is warned about) and its cache rules. The content the cache
//! fetched moves with the rest (see `manifests` in the parent module): in a repository a rule
//! covers, a manifest's blobs and children need not be in the source (they are fetched when
//! asked for), and its tags keep when they were last compared with upstream.

use crate::pull_through::KEY_FILE;
use anyhow::{Result, bail};
use berth_core::CacheStore;
use berth_core::cache::{CacheRule, CacheRules};
use berth_core::cache_store::RulePut;
use berth_core::{MetaError, RepoName, Tag};
use berth_server::Config;
use std::path::PathBuf;

/// Copies the credential sets, then the rules that name them; on a second run the
/// destination's sets and rules of the same names become the source's. The source's rules
/// passed their checks when they were made, so they are not checked again.
pub(super) async fn carry(from: &Config, to: &Config, src: &dyn CacheStore, dst: &dyn CacheStore) -> Result<()> {
    let sets = src.credential_sets().await?;
    for set in &sets {
        if !dst.create_credential_set(set).await? {
            dst.update_credential_set(set).await?;
        }
    }
    let rules = src.cache_rules().await?;
    for rule in &rules {
        let put = match dst.put_cache_rule(rule, false, &|_| Ok(())).await {
            Err(MetaError::Conflict) => dst.put_cache_rule(rule, true, &|_| Ok(())).await?,
            other => other?,
        };
        match put {
            RulePut::Stored => {}
            RulePut::Refused(why) => bail!("cannot copy cache rule {}: {why}", rule.name),
            other => bail!("cannot copy cache rule {}: {other:?}", rule.name),
        }
    }
    if sets.iter().any(|s| s.sealed_password.is_some()) {
        warn_of_another_key(from, to);
    }
    eprintln!("berth: cache: {} credential sets, {} cache rules", sets.len(), rules.len());
    Ok(())
}

/// The credential key file `config` serves with: `cache.credential_key_file`, else (not on
/// PostgreSQL) the one in its data directory.
fn key_file(config: &Config) -> Option<PathBuf> {
    match &config.cache.credential_key_file {
        Some(file) => Some(file.clone()),
        None if !config.database.is_postgres() => Some(config.server.data_dir.join(KEY_FILE)),
        None => None,
    }
}

/// Warns when the destination's credential key is not the source's: its credential sets
/// would not open there.
fn warn_of_another_key(from: &Config, to: &Config) {
    let read = |f: &Option<PathBuf>| f.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
    let (source, destination) = (key_file(from), key_file(to));
    let (source_key, destination_key) = (read(&source), read(&destination));
    if source_key.is_some() && source_key.as_deref().map(str::trim) == destination_key.as_deref().map(str::trim) {
        return;
    }
    let source = source.map_or_else(|| "the source's credential key".to_owned(), |f| f.display().to_string());
    eprintln!(
        "berth: warning: the credential sets' passwords are sealed with the source's credential key ({source}), which \
         the destination does not have; give it cache.credential_key_file with a copy of that key, or its \
         pull-through cache cannot log in upstream"
    );
}

/// The source's cache rules, for telling which repositories are caches.
pub(super) async fn rules(src: &dyn CacheStore) -> Result<CacheRules> {
    let records = src.cache_rules().await?;
    let rules = records.into_iter().map(|r| {
        CacheRule::new(&r.name, &r.source, &r.target, r.credential_set, r.allow_push)
            .map_err(|e| anyhow::anyhow!("stored cache rule {}: {e}", r.name))
    });
    Ok(CacheRules::new(rules.collect::<Result<_>>()?))
}

/// The tags of `tagged` the pull-through cache fetched upstream, with when each was last
/// compared with it, and the others (pushed).
pub(super) async fn split_tags(
    src: &dyn CacheStore,
    repo: &RepoName,
    tagged: Vec<Tag>,
) -> Result<(Vec<(Tag, i64)>, Vec<Tag>)> {
    let (mut fetched, mut pushed) = (Vec::new(), Vec::new());
    for tag in tagged {
        match src.tag_checked_at(repo, &tag).await? {
            Some(at) => fetched.push((tag, at)),
            None => pushed.push(tag),
        }
    }
    Ok((fetched, pushed))
}
