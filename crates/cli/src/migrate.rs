//! `berth migrate --from CONFIG --to CONFIG`: everything of one registry into another's stores
//! (typically the embedded SQLite + files into PostgreSQL + S3): identities, repositories,
//! manifests, tags and blobs. Every step is idempotent, so an interrupted run is simply run
//! again; every blob is hashed on the way and every manifest checked against its digest.

use crate::serve::{Stores, lock_data_dir, open_stores};
use anyhow::{Context, Result, bail};
use berth_core::{BlobStore, Digest, Hasher, IdentityStore, ManifestRefs, MetaError, MetadataStore, Page};
use berth_core::{LockChange, Locks, RepoName, Tag, manifest};
use berth_registry::auth::generate_signing_key;
use berth_server::Config;
use clap::Args;
use futures_util::StreamExt;
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
        identities(&*src.identities, &*dst.identities).await?;
        let sizes = blobs(&src, &dst).await?;
        locks(&*src.meta, &*dst.meta, false).await?;
        manifests(&*src.meta, &*dst.meta, &sizes).await?;
        locks(&*src.meta, &*dst.meta, true).await?;
        eprintln!("berth: migration complete; start the destination registry with --config {}", args.to.display());
        Ok(())
    })
}

async fn identities(src: &dyn IdentityStore, dst: &dyn IdentityStore) -> Result<()> {
    // The signing key first, so tokens issued before the move stay valid after it.
    let key = src.signing_key(&generate_signing_key()).await?;
    if dst.signing_key(&key).await? != key {
        eprintln!("berth: the destination already has another token-signing key; tokens issued before the move end");
    }
    let settings = src.settings().await?;
    dst.set_flag(berth_core::identities::Flag::AnonymousPull, settings.anonymous_pull).await?;
    dst.set_flag(berth_core::identities::Flag::AdminEnabled, settings.admin_enabled).await?;
    for p in src.admin_passwords().await? {
        dst.set_admin_password(&p).await?;
    }
    let principals = src.principals().await?;
    for p in &principals {
        let credentials = src.credentials(&p.app_id).await?;
        let Some((first, rest)) = credentials.split_first() else { continue };
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
    eprintln!("berth: identities: {} principals, {} tokens", principals.len(), tokens.len());
    Ok(())
}

/// Copies every blob the destination lacks, verifying its digest; the sizes of all.
async fn blobs(src: &Stores, dst: &Stores) -> Result<HashMap<Digest, u64>> {
    let all = src.meta.all_blobs().await?;
    let (mut copied, mut bytes) = (0u64, 0u64);
    for (digest, size) in &all {
        if dst.blobs.stat(digest).await? == Some(*size) {
            continue;
        }
        copy_blob(&*src.blobs, &*dst.blobs, digest, *size).await?;
        copied += 1;
        bytes += size;
    }
    eprintln!("berth: blobs: {copied} copied ({bytes} bytes), {} already there", all.len() as u64 - copied);
    Ok(all.into_iter().collect())
}

async fn copy_blob(src: &dyn BlobStore, dst: &dyn BlobStore, digest: &Digest, size: u64) -> Result<()> {
    let id = berth_core::UploadId::generate();
    dst.begin_upload(&id).await?;
    let mut hasher = Hasher::new(digest.algorithm());
    let mut offset = 0;
    let mut stream = src.read(digest, None).await.with_context(|| format!("cannot read blob {digest}"))?;
    // Appends of at most 64 MiB, so a store that assembles parts never holds more.
    let mut ended = false;
    while !ended {
        let mut batch = Vec::new();
        let mut len = 0usize;
        while len < 64 << 20 {
            match stream.next().await {
                Some(chunk) => {
                    let chunk = chunk.with_context(|| format!("reading blob {digest}"))?;
                    len += chunk.len();
                    batch.push(Ok(chunk));
                }
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            let body = futures_util::stream::iter(batch).boxed();
            (offset, hasher) = dst.append(&id, offset, body, hasher, None).await?;
        }
    }
    let actual = hasher.finish();
    if &actual != digest || offset != size {
        dst.abort(&id).await?;
        bail!("blob {digest} reads back as {actual} ({offset} bytes, {size} recorded); the source is damaged");
    }
    dst.commit(&id, size, digest).await?;
    Ok(())
}

/// Repository and tag locks: they would refuse the copy, so a run first lifts those of a
/// destination it copied into before (`apply` false) and sets the source's once everything
/// is in (`apply` true).
async fn locks(src: &dyn MetadataStore, dst: &dyn MetadataStore, apply: bool) -> Result<()> {
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

async fn manifests(src: &dyn MetadataStore, dst: &dyn MetadataStore, sizes: &HashMap<Digest, u64>) -> Result<()> {
    let all = src.all_manifests().await?;
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
            if parsed.children.iter().any(|c| !done.contains(&(repo.clone(), c.clone()))) {
                later.push((repo, m));
                continue;
            }
            let name = RepoName::parse(&repo).map_err(|e| anyhow::anyhow!("stored repository {repo:?}: {e}"))?;
            for b in &parsed.blobs {
                let size = sizes.get(b).copied().with_context(|| format!("blob {b} of {repo} is not in the source"))?;
                dst.link_blob(&name, b, size).await?;
            }
            let refs = ManifestRefs {
                blobs: parsed.blobs.clone(),
                children: parsed.children.clone(),
                foreign: parsed.foreign.clone(),
            };
            let tagged = tags.get(&(repo.clone(), m.digest.clone())).cloned().unwrap_or_default();
            dst.put_manifest(&name, &m, &refs, &tagged).await?;
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
