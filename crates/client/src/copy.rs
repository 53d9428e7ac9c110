//! `berth copy`: images between registries and OCI layouts, blobs in parallel and verified,
//! manifests byte for byte, children before the index that names them.

use crate::layout::{Layout, LayoutError};
use crate::registry::{Progress, RawManifest, RegistryError, Repository, no_progress};
use berth_core::manifest;
use berth_core::{Digest, media};
use futures_util::TryStreamExt;
use serde_json::{Value, json};

/// Why a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The registry side failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The layout side failed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A manifest cannot be read.
    #[error("{0}")]
    Manifest(String),
    /// No image of the wanted platform in an index.
    #[error("the index holds no image for {0}; use --platform or --all")]
    NoPlatform(String),
}

impl CopyError {
    /// The HTTP failure underneath, if the connection (not the registry) failed.
    pub fn transport(&self) -> Option<&reqwest::Error> {
        match self {
            CopyError::Registry(r) => r.transport(),
            _ => None,
        }
    }
}

/// One end of a copy.
pub enum End<'a> {
    /// An OCI layout and the tag to read or write.
    Layout(Layout, Option<String>),
    /// A registry repository and the tag or digest to read or write.
    Registry(Repository<'a>, String),
}

/// What happened to one blob or manifest, for progress reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A blob's transfer begins (`size` from its descriptor).
    Started {
        /// Its digest.
        digest: Digest,
        /// Its size in bytes.
        size: u64,
    },
    /// More of a blob crossed.
    Progress {
        /// Its digest.
        digest: Digest,
        /// Bytes since the last report.
        bytes: u64,
    },
    /// A blob was copied (`bytes` of it moved).
    Blob {
        /// Its digest.
        digest: Digest,
        /// Bytes that crossed (0 when the destination had it or mounted it).
        bytes: u64,
    },
    /// A manifest was written.
    Manifest(Digest),
}

/// Receives [`Event`]s as a copy proceeds.
pub type Observer = std::sync::Arc<dyn Fn(Event) + Send + Sync>;

/// How to copy.
#[derive(Clone)]
pub struct CopyOptions {
    /// Every platform of an index (else one).
    pub all: bool,
    /// `os/arch[/variant]` to pick from an index (default: this machine's).
    pub platform: String,
    /// Blob transfers at once.
    pub parallel: usize,
    /// Told of every blob and manifest done.
    pub observer: Option<Observer>,
    /// Upload blobs larger than eight of these in chunks of this many bytes.
    pub chunk_size: Option<u64>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions { all: false, platform: host_platform(), parallel: 4, observer: None, chunk_size: Some(16 << 20) }
    }
}

impl CopyOptions {
    fn tell(&self, e: Event) {
        if let Some(o) = &self.observer {
            o(e);
        }
    }
}

/// This machine's platform in OCI words (`linux/amd64`, `linux/arm64`).
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    format!("linux/{arch}")
}

async fn read_manifest(src: &End<'_>, digest_or_tag: Option<&str>) -> Result<RawManifest, CopyError> {
    match src {
        End::Registry(repo, reference) => Ok(repo.manifest(digest_or_tag.unwrap_or(reference)).await?),
        End::Layout(layout, tag) => {
            let (digest, declared) = match digest_or_tag.map(Digest::parse) {
                Some(Ok(d)) => (d, None),
                _ => {
                    let e = layout.resolve(tag.as_deref())?;
                    (e.digest, e.descriptor["mediaType"].as_str().map(str::to_owned))
                }
            };
            let bytes = layout.read_blob(&digest)?;
            let inner =
                serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| v["mediaType"].as_str().map(str::to_owned));
            let media_type = inner.or(declared).unwrap_or_else(|| media::OCI_MANIFEST.to_owned());
            Ok(RawManifest { bytes: bytes.into(), media_type, digest })
        }
    }
}

async fn write_manifest(dst: &End<'_>, m: &RawManifest, top: bool) -> Result<(), CopyError> {
    match dst {
        End::Registry(repo, reference) => {
            let target =
                if top && Digest::parse(reference).is_err() { reference.clone() } else { m.digest.to_string() };
            repo.put_manifest(&target, m).await?;
        }
        End::Layout(layout, tag) => {
            layout.write_blob(&m.digest, &m.bytes[..])?;
            if top {
                let d = json!({ "mediaType": m.media_type, "digest": m.digest.to_string(), "size": m.bytes.len() });
                layout.add_manifest(&d, tag.as_deref())?;
            }
        }
    }
    Ok(())
}

/// Copies one blob; the bytes that crossed (0 when the destination had it or mounted it).
/// Uploads open with a mount without `from` ([`Repository::begin_upload`]), so a registry
/// that finds the blob in another repository the caller may read needs no bytes.
async fn copy_blob(
    src: &End<'_>,
    dst: &End<'_>,
    digest: &Digest,
    chunk: Option<u64>,
    progress: &Progress,
) -> Result<u64, CopyError> {
    let size = |p: &std::path::Path| std::fs::metadata(p).map_or(0, |m| m.len());
    Ok(match (src, dst) {
        (End::Layout(from, _), End::Registry(to, _)) => {
            if !from.has_blob(digest) {
                return Err(LayoutError::MissingBlob(digest.clone()).into());
            }
            let path = from.blob_path(digest);
            if to.upload(digest, &path, chunk, progress).await? { size(&path) } else { 0 }
        }
        (End::Registry(from, _), End::Layout(to, _)) => {
            if to.has_blob(digest) {
                0
            } else {
                let path = to.blob_path(digest);
                tokio::fs::create_dir_all(path.parent().expect("blob paths have a parent"))
                    .await
                    .map_err(LayoutError::Io)?;
                from.download(digest, &path, progress).await?
            }
        }
        (End::Layout(from, _), End::Layout(to, _)) => {
            if to.has_blob(digest) {
                0
            } else {
                let file = std::fs::File::open(from.blob_path(digest)).map_err(LayoutError::Io)?;
                to.write_blob(digest, file)?
            }
        }
        (End::Registry(from, _), End::Registry(to, _)) => {
            // Same registry: a mount from the source moves no bytes.
            if to.has_blob(digest).await? || (from.base() == to.base() && to.mount(digest, from.name()).await?) {
                0
            } else {
                // The upload opens before the download: a registry that finds the blob
                // elsewhere needs no bytes at all.
                match to.begin_upload(digest).await? {
                    None => 0,
                    Some(session) => {
                        let staging = tempfile::tempdir().map_err(LayoutError::Io)?;
                        let path = staging.path().join(digest.hex());
                        // Progress follows the download; the upload from the staged file follows it.
                        let n = from.download(digest, &path, progress).await?;
                        to.send_blob(session, digest, &path, chunk, &no_progress()).await?;
                        n
                    }
                }
            }
        }
    })
}

/// Copies one image manifest: its blobs (in parallel), then the manifest.
async fn copy_image(
    src: &End<'_>,
    dst: &End<'_>,
    m: &RawManifest,
    top: bool,
    opts: &CopyOptions,
) -> Result<(), CopyError> {
    let parsed = manifest::parse(&m.media_type, &m.bytes)
        .map_err(|e| CopyError::Manifest(format!("manifest {}: {e}", m.digest)))?;
    let sizes = descriptor_sizes(&m.bytes);
    futures_util::stream::iter(parsed.blobs.iter().map(Ok::<_, CopyError>))
        .try_for_each_concurrent(opts.parallel.max(1), |d| {
            let sizes = &sizes;
            async move {
                let size = sizes.get(&d.to_string()).copied().unwrap_or(0);
                opts.tell(Event::Started { digest: d.clone(), size });
                let progress: Progress = match &opts.observer {
                    Some(o) => {
                        let (o, digest) = (o.clone(), d.clone());
                        std::sync::Arc::new(move |bytes| o(Event::Progress { digest: digest.clone(), bytes }))
                    }
                    None => no_progress(),
                };
                let bytes = copy_blob(src, dst, d, opts.chunk_size, &progress).await?;
                opts.tell(Event::Blob { digest: d.clone(), bytes });
                Ok(())
            }
        })
        .await?;
    write_manifest(dst, m, top).await?;
    opts.tell(Event::Manifest(m.digest.clone()));
    Ok(())
}

/// The `size` of every descriptor a manifest names (config, layers), by digest.
fn descriptor_sizes(bytes: &[u8]) -> std::collections::HashMap<String, u64> {
    let v: Value = serde_json::from_slice(bytes).unwrap_or_default();
    std::iter::once(&v["config"])
        .chain(v["layers"].as_array().into_iter().flatten())
        .filter_map(|d| Some((d["digest"].as_str()?.to_owned(), d["size"].as_u64()?)))
        .collect()
}

fn platform_of(entry: &Value) -> String {
    let p = &entry["platform"];
    let mut s = format!("{}/{}", p["os"].as_str().unwrap_or(""), p["architecture"].as_str().unwrap_or(""));
    if let Some(v) = p["variant"].as_str() {
        s.push('/');
        s.push_str(v);
    }
    s
}

/// Copies the image `src` names to `dst`; returns the digest of what was written at the top.
pub async fn copy(src: &End<'_>, dst: &End<'_>, opts: &CopyOptions) -> Result<Digest, CopyError> {
    let top = read_manifest(src, None).await?;
    if !media::is_index(&top.media_type) {
        copy_image(src, dst, &top, true, opts).await?;
        return Ok(top.digest);
    }
    let index: Value = serde_json::from_slice(&top.bytes).map_err(|e| CopyError::Manifest(e.to_string()))?;
    let entries: Vec<Value> = index["manifests"].as_array().cloned().unwrap_or_default();
    let wanted = |e: &Value| {
        let p = platform_of(e);
        p == opts.platform || p.starts_with(&format!("{}/", opts.platform))
    };
    if !opts.all {
        let entry = entries.iter().find(|e| wanted(e)).ok_or_else(|| CopyError::NoPlatform(opts.platform.clone()))?;
        let child = read_manifest(src, entry["digest"].as_str()).await?;
        copy_image(src, dst, &child, true, opts).await?;
        return Ok(child.digest);
    }
    for entry in &entries {
        let child = read_manifest(src, entry["digest"].as_str()).await?;
        if media::is_index(&child.media_type) {
            return Err(CopyError::Manifest("nested indexes are not copied yet".into()));
        }
        copy_image(src, dst, &child, false, opts).await?;
    }
    write_manifest(dst, &top, true).await?;
    Ok(top.digest)
}

#[cfg(test)]
mod tests {
    #[test]
    fn platforms() {
        let e = serde_json::json!({ "platform": { "os": "linux", "architecture": "arm", "variant": "v7" } });
        assert_eq!(super::platform_of(&e), "linux/arm/v7");
        assert!(super::host_platform().starts_with("linux/"));
    }
}
