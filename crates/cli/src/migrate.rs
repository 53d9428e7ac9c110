//! `berth migrate --from CONFIG --to CONFIG`: everything of one registry into another's stores
//! (typically the embedded SQLite + files into PostgreSQL + S3): identities (with the tenant and
//! the token-signing key), repositories, manifests, tags, blobs, the times they keep, and the
//! pull-through cache's credential sets, rules and cached content (see the `cache` module). Every
//! step is idempotent, so an interrupted run is simply run again (a blob cut midway continues
//! where it stopped); every blob is hashed on the way and every manifest checked against its
//! digest. With `--prune`, tags the source no longer has are deleted from the destination.

mod blobs;
mod cache;
mod keys;

use crate::serve::{lock_data_dir, open_stores};
use anyhow::{Context, Result, bail};
use berth_core::UploadCaps;
use berth_core::cache::CacheRules;
use berth_core::{ContentStore, Digest, IdentityStore, MaintenanceStore, ManifestRefs, MetaError, MetadataStore, Page};
use berth_core::{LockChange, Locks, RepoName, Tag, manifest};
use berth_registry::Limits;
use berth_server::Config;
use clap::Args;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// Flags of `berth migrate`.
#[derive(Args)]
pub struct MigrateArgs {
    /// The configuration of the registry to copy from (stopped: its data directory is locked).
    #[arg(long)]
    pub from: PathBuf,
    /// The configuration of the registry to copy into.
    #[arg(long)]
    pub to: PathBuf,
    /// Also delete the destination's tags that the source does not have (a re-run after the
    /// source changed); without it they stay.
    #[arg(long)]
    pub prune: bool,
}

/// Runs the migration; prints what it copied.
pub fn run(args: MigrateArgs) -> Result<()> {
    let load = |p: &PathBuf| Config::load(Some(p), serde_json::json!({})).with_context(|| format!("{}", p.display()));
    let (from, to) = (load(&args.from)?, load(&args.to)?);
    let _lock = lock_data_dir(&from).context("the source registry must be stopped")?;
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    rt.block_on(async {
        let src = open_stores(&from).await.context("cannot open the source")?;
        let dst = open_stores(&to).await.context("cannot open the destination")?;
        keys::carry(&from, &to, &*src.identities, &*dst.identities).await?;
        identities(&*src.identities, &*dst.identities).await?;
        cache::carry(&from, &to, &*src.meta, &*dst.meta).await?;
        let sizes: HashMap<Digest, u64> = src.meta.all_blobs().await?.into_iter().collect();
        let limits = Limits {
            max_manifest_bytes: to.limits.max_manifest_bytes,
            uploads: UploadCaps {
                per_owner: to.limits.max_uploads_per_principal,
                per_repository: to.limits.max_uploads_per_repository,
            },
        };
        blobs::copy(&src, &dst, &wanted_blobs(&*src.meta, &sizes).await?, limits).await?;
        locks(&*src.meta, &*dst.meta, false).await?;
        manifests(&*src.meta, &*dst.meta, &sizes, &cache::rules(&*src.meta).await?).await?;
        if args.prune {
            prune(&*src.meta, &*dst.meta).await?;
        }
        times(&*src.meta, &*dst.meta).await?;
        locks(&*src.meta, &*dst.meta, true).await?;
        eprintln!("berth: migration complete; start the destination registry with --config {}", args.to.display());
        Ok(())
    })
}

async fn identities(src: &dyn IdentityStore, dst: &dyn IdentityStore) -> Result<()> {
    let settings = src.settings().await?;
    dst.set_tenant(&settings.tenant).await?;
    dst.set_flag(berth_core::principals::Flag::AnonymousPull, settings.anonymous_pull).await?;
    dst.set_flag(berth_core::principals::Flag::AdminEnabled, settings.admin_enabled).await?;
    for p in src.admin_passwords().await? {
        dst.set_admin_password(&p).await?;
    }
    let principals = src.principals().await?;
    for p in &principals {
        let credentials = src.credentials(&p.app_id).await?;
        let Some((first, rest)) = credentials.split_first() else {
            without_secret(dst, p).await?;
            continue;
        };
        match dst.create_principal(p, first).await {
            Ok(()) => {
                for c in rest {
                    dst.add_credential(&p.app_id, c, false).await?;
                }
            }
            // Already there (an earlier run): make its credentials the source's.
            Err(MetaError::Conflict) => {
                dst.add_credential(&p.app_id, first, true).await?;
                for c in rest {
                    dst.add_credential(&p.app_id, c, false).await?;
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    for a in src.role_assignments(None).await? {
        dst.assign_role(&a).await?;
    }
    let federated = federated_credentials(src, dst).await?;
    for m in src.scope_maps().await?.into_iter().filter(|m| !m.system) {
        dst.put_scope_map(&m).await?;
    }
    let tokens = src.tokens().await?;
    for t in &tokens {
        match dst.create_token(t).await {
            Ok(()) | Err(MetaError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        dst.update_token(&t.name, Some(t.enabled), Some(&t.scope_map)).await?;
        for p in &t.passwords {
            dst.set_token_password(&t.name, p).await?;
        }
    }
    eprintln!(
        "berth: identities: {} principals, {federated} federated credentials, {} tokens",
        principals.len(),
        tokens.len()
    );
    Ok(())
}

/// Carries a principal that has no secret (one that signs in only through federation, as
/// `kube connect --workload-identity` makes them): the store creates principals with a
/// credential, so it gets one that is never valid (it ends where it starts, its hash is of
/// nothing anyone holds), removed at once.
async fn without_secret(dst: &dyn IdentityStore, p: &berth_core::principals::Principal) -> Result<()> {
    let placeholder = berth_core::principals::Credential {
        key_id: uuid::Uuid::new_v4().to_string(),
        display_name: None,
        start: p.created_at,
        end: p.created_at,
        secret_hash: rand_hash(),
    };
    match dst.create_principal(p, &placeholder).await {
        Ok(()) => {
            dst.delete_credential(&p.app_id, &placeholder.key_id).await?;
            Ok(())
        }
        Err(MetaError::Conflict) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// 32 random bytes (from a fresh UUID pair: v4 UUIDs are random).
fn rand_hash() -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    h[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    h
}

/// The federated credentials, after the principals they belong to; how many the destination
/// holds. One already there (an earlier run) stays; one whose principal was not carried is
/// left out.
async fn federated_credentials(src: &dyn IdentityStore, dst: &dyn IdentityStore) -> Result<usize> {
    use berth_core::federation::FederatedCreate;
    let mut carried = 0;
    for fc in src.federated_credentials(None).await? {
        match dst.create_federated_credential(&fc).await? {
            FederatedCreate::Created | FederatedCreate::NameTaken | FederatedCreate::SubjectTaken => carried += 1,
            FederatedCreate::NoPrincipal => {
                eprintln!(
                    "berth: federated credential {}/{} left out: its principal was not carried",
                    fc.app_id, fc.name
                )
            }
        }
    }
    Ok(carried)
}

/// The blobs the source's manifests use (layers with `urls` too, where the source holds
/// them), each with the first repository that uses it. A blob no manifest uses is not copied:
/// nothing in the destination would name it.
async fn wanted_blobs(src: &dyn MaintenanceStore, sizes: &HashMap<Digest, u64>) -> Result<Vec<blobs::Wanted>> {
    let mut seen = HashSet::new();
    let mut wanted = Vec::new();
    for (repo, m) in src.all_manifests().await? {
        let parsed = manifest::parse(&m.media_type, &m.bytes)
            .map_err(|e| anyhow::anyhow!("manifest {} in {repo}: {e}", m.digest))?;
        let name = RepoName::parse(&repo).map_err(|e| anyhow::anyhow!("stored repository {repo:?}: {e}"))?;
        for digest in parsed.blobs.into_iter().chain(parsed.foreign) {
            if let Some(&size) = sizes.get(&digest)
                && seen.insert(digest.clone())
            {
                wanted.push(blobs::Wanted { digest, size, repo: name.clone() });
            }
        }
    }
    Ok(wanted)
}

/// Repository and tag locks: they would refuse the copy, so a run first lifts those of a
/// destination it copied into before (`apply` false) and sets the source's once everything
/// is in (`apply` true).
async fn locks(src: &dyn ContentStore, dst: &dyn ContentStore, apply: bool) -> Result<()> {
    let open = LockChange { write_enabled: Some(true), delete_enabled: Some(true) };
    let change = |l: Locks| {
        if apply {
            LockChange { write_enabled: Some(l.write_enabled), delete_enabled: Some(l.delete_enabled) }
        } else {
            open
        }
    };
    let mut locked = 0;
    for repo in src.list_repos(&Page::default()).await? {
        let name = RepoName::parse(&repo).map_err(|e| anyhow::anyhow!("stored repository {repo:?}: {e}"))?;
        let Some(info) = src.repository_info(&name).await? else { continue };
        if info.locks != Locks::default() {
            locked += 1;
            dst.set_locks(&name, None, change(info.locks)).await?;
        }
        for tag in src.list_tags(&name, &Page::default()).await?.unwrap_or_default() {
            let t = Tag::parse(&tag).map_err(|e| anyhow::anyhow!("stored tag {tag:?}: {e}"))?;
            match src.tag_info(&name, &t).await? {
                Some(info) if info.locks != Locks::default() => {
                    locked += 1;
                    dst.set_locks(&name, Some(&t), change(info.locks)).await?;
                }
                _ => {}
            }
        }
    }
    if apply {
        eprintln!("berth: locks: {locked} repositories and tags");
    }
    Ok(())
}

/// Every manifest with its tags, children before the indexes that name them. In a repository
/// a cache rule covers, blobs and children the source never fetched are not waited for (nor
/// linked), and a tag fetched upstream keeps when it was last compared with upstream.
async fn manifests(
    src: &dyn MetadataStore,
    dst: &dyn MetadataStore,
    sizes: &HashMap<Digest, u64>,
    rules: &CacheRules,
) -> Result<()> {
    let all = src.all_manifests().await?;
    let present: HashSet<(String, Digest)> = all.iter().map(|(repo, m)| (repo.clone(), m.digest.clone())).collect();
    let mut tags: HashMap<(String, Digest), Vec<Tag>> = HashMap::new();
    for repo in src.list_repos(&Page::default()).await? {
        let name = RepoName::parse(&repo).map_err(|e| anyhow::anyhow!("stored repository {repo:?}: {e}"))?;
        for tag in src.list_tags(&name, &Page::default()).await?.unwrap_or_default() {
            let t = Tag::parse(&tag).map_err(|e| anyhow::anyhow!("stored tag {tag:?}: {e}"))?;
            if let Some(m) = src.manifest_by_tag(&name, &t).await? {
                tags.entry((repo.clone(), m.digest)).or_default().push(t);
            }
        }
    }
    // Children before the indexes that name them: put what can go, until nothing is left.
    let mut pending: Vec<(String, berth_core::ManifestRecord)> = all;
    let mut done: HashSet<(String, Digest)> = HashSet::new();
    let total = pending.len();
    while !pending.is_empty() {
        let before = pending.len();
        let mut later = Vec::new();
        for (repo, m) in pending {
            if Digest::of(m.digest.algorithm(), &m.bytes) != m.digest {
                bail!("manifest {} in {repo} does not match its digest; the source is damaged", m.digest);
            }
            let parsed = manifest::parse(&m.media_type, &m.bytes)
                .map_err(|e| anyhow::anyhow!("manifest {} in {repo}: {e}", m.digest))?;
            let name = RepoName::parse(&repo).map_err(|e| anyhow::anyhow!("stored repository {repo:?}: {e}"))?;
            let cached = rules.for_target(&name).is_some();
            let waits = |c: &Digest| {
                let key = (repo.clone(), c.clone());
                !done.contains(&key) && (!cached || present.contains(&key))
            };
            if parsed.children.iter().any(waits) {
                later.push((repo, m));
                continue;
            }
            for b in &parsed.blobs {
                match sizes.get(b) {
                    Some(&size) => dst.link_blob(&name, b, size).await?,
                    None if cached => {}
                    None => bail!("blob {b} of {repo} is not in the source"),
                }
            }
            for b in &parsed.foreign {
                if let Some(&size) = sizes.get(b) {
                    dst.link_blob(&name, b, size).await?;
                }
            }
            let refs = ManifestRefs {
                blobs: parsed.blobs.clone(),
                children: parsed.children.clone(),
                foreign: parsed.foreign.clone(),
            };
            let tagged = tags.get(&(repo.clone(), m.digest.clone())).cloned().unwrap_or_default();
            if cached {
                let (fetched, pushed) = cache::split_tags(src, &name, tagged).await?;
                dst.put_cached_manifest(&name, &m, &refs, None, 0).await?;
                for (tag, checked_at) in &fetched {
                    dst.put_cached_manifest(&name, &m, &refs, Some(tag), *checked_at).await?;
                }
                if !pushed.is_empty() {
                    dst.put_manifest(&name, &m, &refs, &pushed).await?;
                }
            } else {
                dst.put_manifest(&name, &m, &refs, &tagged).await?;
            }
            done.insert((repo, m.digest));
        }
        if later.len() == before {
            bail!("{} manifests name children that are not in their repository", later.len());
        }
        pending = later;
    }
    eprintln!("berth: manifests: {total}, tags: {}", tags.values().map(Vec::len).sum::<usize>());
    Ok(())
}

/// Deletes the destination's tags the source does not have (lifting their locks first: the
/// source's are set again afterwards). The manifests they named stay, untagged, for
/// `berth purge --untagged`.
async fn prune(src: &dyn ContentStore, dst: &dyn ContentStore) -> Result<()> {
    let open = LockChange { write_enabled: Some(true), delete_enabled: Some(true) };
    let mut pruned = 0;
    for repo in dst.list_repos(&Page::default()).await? {
        let name = RepoName::parse(&repo).map_err(|e| anyhow::anyhow!("stored repository {repo:?}: {e}"))?;
        let keep: HashSet<String> =
            src.list_tags(&name, &Page::default()).await?.unwrap_or_default().into_iter().collect();
        for tag in dst.list_tags(&name, &Page::default()).await?.unwrap_or_default() {
            if keep.contains(&tag) {
                continue;
            }
            let t = Tag::parse(&tag).map_err(|e| anyhow::anyhow!("stored tag {tag:?}: {e}"))?;
            match dst.delete_tag(&name, &t).await {
                Err(MetaError::Locked(_)) => {
                    dst.set_locks(&name, None, open).await?;
                    dst.set_locks(&name, Some(&t), open).await?;
                    dst.delete_tag(&name, &t).await?;
                }
                other => {
                    other?;
                }
            }
            pruned += 1;
        }
    }
    eprintln!("berth: pruned {pruned} tags the source does not have");
    Ok(())
}

/// The source's times: when each repository and manifest was created (what
/// `purge --untagged --ago` counts from) and when each tag last moved.
async fn times(src: &dyn MaintenanceStore, dst: &dyn MaintenanceStore) -> Result<()> {
    for (repo, what, at) in src.all_times().await? {
        let name = RepoName::parse(&repo).map_err(|e| anyhow::anyhow!("stored repository {repo:?}: {e}"))?;
        dst.set_time(&name, &what, at).await?;
    }
    Ok(())
}
