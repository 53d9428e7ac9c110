//! One repository of a registry, spoken to over the distribution API with [`Session`]:
//! manifests by exact bytes, blobs streamed to and from files with every byte verified.

use crate::auth::{AuthError, Session};
use crate::oci_error::Refusal;
use berth_core::{Digest, Hasher, media};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode, header};
use std::path::Path;
use tokio::io::AsyncWriteExt;

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Authentication or the connection failed.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// The registry answered with an error.
    #[error("{what}: the registry answered {status}{detail}")]
    Status {
        /// What was being done.
        what: String,
        /// The HTTP status.
        status: StatusCode,
        /// The error's detail, if it sent one.
        detail: String,
    },
    /// Bytes did not match their digest (a lying or broken server).
    #[error("{what}: content digest is {actual}, expected {expected}")]
    DigestMismatch {
        /// What was being read.
        what: String,
        /// Expected digest.
        expected: Digest,
        /// Digest of what arrived.
        actual: Digest,
    },
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The connection failed mid-body.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
}

/// The `Accept` header for manifests: every type Berth handles.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json";

impl RegistryError {
    /// The HTTP failure underneath, if the connection (not the registry) failed.
    pub fn transport(&self) -> Option<&reqwest::Error> {
        match self {
            RegistryError::Auth(AuthError::Http(e)) | RegistryError::Http(e) => Some(e),
            _ => None,
        }
    }
}

/// An upload the registry opened: where to send the bytes, and the least chunk it takes.
#[derive(Debug, Clone)]
pub struct UploadSession {
    location: String,
    min_chunk: u64,
}

/// Told how many more bytes of a blob have crossed, as they cross (a resumed download first
/// reports what it already had).
pub type Progress = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// A [`Progress`] that tells no one.
pub fn no_progress() -> Progress {
    std::sync::Arc::new(|_| {})
}

/// A manifest exactly as the registry holds it.
#[derive(Debug, Clone)]
pub struct RawManifest {
    /// The bytes.
    pub bytes: bytes::Bytes,
    /// Its media type.
    pub media_type: String,
    /// Its digest.
    pub digest: Digest,
}

/// The hash and length of what an interrupted download left at `partial` (nothing if absent).
async fn resume_state(partial: &Path, digest: &Digest) -> Result<(Hasher, u64), RegistryError> {
    let path = partial.to_owned();
    let algorithm = digest.algorithm();
    let state = tokio::task::spawn_blocking(move || -> std::io::Result<(Hasher, u64)> {
        let mut hasher = Hasher::new(algorithm);
        let mut file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
            Err(e) => return Err(e),
        };
        let mut buf = vec![0u8; 1 << 20];
        let mut len = 0u64;
        loop {
            let n = std::io::Read::read(&mut file, &mut buf)?;
            if n == 0 {
                return Ok((hasher, len));
            }
            hasher.update(&buf[..n]);
            len += n as u64;
        }
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(state)
}

/// A repository at a registry.
pub struct Repository<'a> {
    session: &'a Session,
    base: String,
    name: String,
}

async fn refused(what: &str, r: reqwest::Response) -> RegistryError {
    let refusal = Refusal::read(r).await;
    RegistryError::Status { what: what.to_owned(), status: refusal.status, detail: refusal.parenthesised() }
}

impl<'a> Repository<'a> {
    /// The repository `name` at `base` (`http://host:port` or `https://host`).
    pub fn new(session: &'a Session, base: &str, name: &str) -> Self {
        Repository { session, base: base.trim_end_matches('/').to_owned(), name: name.to_owned() }
    }

    fn pull(&self) -> Vec<String> {
        vec![format!("repository:{}:pull", self.name)]
    }

    fn push(&self) -> Vec<String> {
        vec![format!("repository:{}:pull,push", self.name)]
    }

    /// A manifest by tag or digest; a digest reference must match the bytes.
    pub async fn manifest(&self, reference: &str) -> Result<RawManifest, RegistryError> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.name);
        let r =
            self.session.send(Method::GET, &url, &self.pull(), |b| b.header(header::ACCEPT, MANIFEST_ACCEPT)).await?;
        if !r.status().is_success() {
            return Err(refused(&format!("manifest {}:{reference}", self.name), r).await);
        }
        let content_type = r.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let bytes = r.bytes().await?;
        let digest = match Digest::parse(reference) {
            Ok(expected) => {
                let actual = Digest::of(expected.algorithm(), &bytes);
                if actual != expected {
                    return Err(RegistryError::DigestMismatch {
                        what: format!("manifest {reference}"),
                        expected,
                        actual,
                    });
                }
                actual
            }
            Err(_) => Digest::of(berth_core::Algorithm::Sha256, &bytes),
        };
        let media_type = manifest_media_type(content_type.as_deref(), &bytes);
        Ok(RawManifest { bytes, media_type, digest })
    }

    /// Streams blob `digest` into `dest` (replaced atomically), verifying every byte. Bytes
    /// left in `dest.partial` by an interrupted download are hashed and kept, and only the
    /// rest is asked for with `Range`; a registry that ignores `Range` sends it all again.
    pub async fn download(&self, digest: &Digest, dest: &Path, progress: &Progress) -> Result<u64, RegistryError> {
        let partial = dest.with_extension("partial");
        let (mut hasher, mut offset) = resume_state(&partial, digest).await?;
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.name);
        let range = format!("bytes={offset}-");
        let r =
            self.session
                .send(Method::GET, &url, &self.pull(), |b| {
                    if offset > 0 { b.header(header::RANGE, range.as_str()) } else { b }
                })
                .await?;
        let file = match r.status() {
            StatusCode::PARTIAL_CONTENT => tokio::fs::OpenOptions::new().append(true).open(&partial).await?,
            s if s.is_success() => {
                hasher = Hasher::new(digest.algorithm());
                offset = 0;
                tokio::fs::File::create(&partial).await?
            }
            _ => return Err(refused(&format!("blob {digest}"), r).await),
        };
        // One blocking write per MiB rather than one per network chunk.
        let mut file = tokio::io::BufWriter::with_capacity(1 << 20, file);
        let mut total = offset;
        progress(offset);
        let mut body = r.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    // Keep every byte that arrived, for the resume.
                    let _ = file.flush().await;
                    return Err(e.into());
                }
            };
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
            total += chunk.len() as u64;
            progress(chunk.len() as u64);
        }
        file.flush().await?;
        let file = file.into_inner();
        file.sync_all().await?;
        let actual = hasher.finish();
        if &actual != digest {
            drop(file);
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest.clone(),
                actual,
            });
        }
        tokio::fs::rename(&partial, dest).await?;
        Ok(total)
    }

    /// Whether the repository holds blob `digest`.
    pub async fn has_blob(&self, digest: &Digest) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.name);
        let r = self.session.send(Method::HEAD, &url, &self.push(), |b| b).await?;
        Ok(r.status().is_success())
    }

    /// Uploads the file at `path` as blob `digest`, unless the repository already holds it or
    /// the registry mounts it ([`Self::begin_upload`]); see [`Self::send_blob`]. Returns
    /// whether bytes were sent.
    pub async fn upload(
        &self,
        digest: &Digest,
        path: &Path,
        chunk: Option<u64>,
        progress: &Progress,
    ) -> Result<bool, RegistryError> {
        if self.has_blob(digest).await? {
            return Ok(false);
        }
        match self.begin_upload(digest).await? {
            None => Ok(false),
            Some(session) => self.send_blob(session, digest, path, chunk, progress).await.map(|()| true),
        }
    }

    /// Opens an upload of `digest` with a POST that asks for a mount without `from` (the
    /// spec's automatic content discovery), sent as the identity itself where the registry
    /// takes that ([`Session::send_as_identity`]): a registry that finds the blob in a
    /// repository the caller may read links it at once (`None`: nothing to send); otherwise
    /// the session it opened.
    pub async fn begin_upload(&self, digest: &Digest) -> Result<Option<UploadSession>, RegistryError> {
        let url = format!("{}/v2/{}/blobs/uploads/?mount={digest}", self.base, self.name);
        let r = self
            .session
            .send_as_identity(Method::POST, &url, &self.push(), |b| b.header(header::CONTENT_LENGTH, "0"))
            .await?;
        match r.status() {
            StatusCode::CREATED => Ok(None),
            StatusCode::ACCEPTED => {
                let min_chunk = r
                    .headers()
                    .get("oci-chunk-min-length")
                    .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                    .unwrap_or(0);
                Ok(Some(UploadSession { location: self.location(&r), min_chunk }))
            }
            _ => Err(refused(&format!("upload of {digest}"), r).await),
        }
    }

    /// Sends the file at `path` as blob `digest` into `session`: one streamed PUT; or, when
    /// `chunk` is given and the blob is larger than eight chunks, PATCHes of `chunk` bytes (at
    /// least the registry's `OCI-Chunk-Min-Length`) and a closing PUT.
    pub async fn send_blob(
        &self,
        session: UploadSession,
        digest: &Digest,
        path: &Path,
        chunk: Option<u64>,
        progress: &Progress,
    ) -> Result<(), RegistryError> {
        let UploadSession { mut location, min_chunk } = session;
        let size = tokio::fs::metadata(path).await?.len();
        if let Some(chunk) = chunk.map(|c| c.max(min_chunk).max(1))
            && size > chunk * 8
        {
            let mut file = tokio::fs::File::open(path).await?;
            let mut offset = 0u64;
            while offset < size {
                let n = chunk.min(size - offset);
                let mut buf = vec![0u8; n as usize];
                tokio::io::AsyncReadExt::read_exact(&mut file, &mut buf).await?;
                let body = bytes::Bytes::from(buf);
                let range = format!("{offset}-{}", offset + n - 1);
                let r = self
                    .session
                    .send(Method::PATCH, &location, &self.push(), |b| {
                        b.header(header::CONTENT_TYPE, "application/octet-stream")
                            .header(header::CONTENT_RANGE, range.as_str())
                            .header(header::CONTENT_LENGTH, n)
                            .body(body.clone())
                    })
                    .await?;
                if r.status() != StatusCode::ACCEPTED {
                    return Err(refused(&format!("upload of {digest} at {offset}"), r).await);
                }
                location = self.location(&r);
                offset += n;
                progress(n);
            }
            let sep = if location.contains('?') { '&' } else { '?' };
            let put = format!("{location}{sep}digest={digest}");
            let r =
                self.session.send(Method::PUT, &put, &self.push(), |b| b.header(header::CONTENT_LENGTH, "0")).await?;
            if r.status() != StatusCode::CREATED {
                return Err(refused(&format!("upload of {digest}"), r).await);
            }
            return Ok(());
        }
        let sep = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{sep}digest={digest}");
        let file = tokio::fs::File::open(path).await?;
        let told = progress.clone();
        let stream = tokio_util::io::ReaderStream::with_capacity(file, 1 << 20).inspect(move |chunk| {
            if let Ok(c) = chunk {
                told(c.len() as u64);
            }
        });
        let body = reqwest::Body::wrap_stream(stream);
        // A streamed body cannot be sent twice, so the token the POST earned goes with it.
        let mut put = self
            .session
            .http()
            .put(&put)
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(header::CONTENT_LENGTH, size);
        if let Some(value) = self.session.authorization(&self.push()).await? {
            put = put.header(header::AUTHORIZATION, value);
        }
        let r = put.body(body).send().await?;
        if r.status() != StatusCode::CREATED {
            return Err(refused(&format!("upload of {digest}"), r).await);
        }
        Ok(())
    }

    /// The upload `Location` of a response, made absolute.
    fn location(&self, r: &reqwest::Response) -> String {
        let location = r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
        if location.starts_with("http") { location.to_owned() } else { format!("{}{location}", self.base) }
    }

    /// The repository's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The registry's API base.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Asks the registry to link blob `digest` from repository `from` (same registry). `true`
    /// when mounted; `false` when it declined (the upload session it opened is cancelled).
    pub async fn mount(&self, digest: &Digest, from: &str) -> Result<bool, RegistryError> {
        let url = format!("{}/v2/{}/blobs/uploads/?mount={digest}&from={from}", self.base, self.name);
        let scopes = vec![format!("repository:{}:pull,push", self.name), format!("repository:{from}:pull")];
        let r = self.session.send(Method::POST, &url, &scopes, |b| b.header(header::CONTENT_LENGTH, "0")).await?;
        match r.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::ACCEPTED => {
                if let Some(loc) = r.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()) {
                    let loc = if loc.starts_with("http") { loc.to_owned() } else { format!("{}{loc}", self.base) };
                    let _ = self.session.send(Method::DELETE, &loc, &scopes, |b| b).await;
                }
                Ok(false)
            }
            _ => Err(refused(&format!("mount of {digest}"), r).await),
        }
    }

    /// Every tag, following `Link` pages.
    pub async fn tags(&self) -> Result<Vec<String>, RegistryError> {
        let mut url = format!("{}/v2/{}/tags/list", self.base, self.name);
        let mut tags = Vec::new();
        loop {
            let r = self.session.send(Method::GET, &url, &self.pull(), |b| b).await?;
            if !r.status().is_success() {
                return Err(refused(&format!("tags of {}", self.name), r).await);
            }
            let next = r.headers().get(header::LINK).and_then(|v| v.to_str().ok()).and_then(next_page);
            let page: serde_json::Value = r.json().await?;
            tags.extend(page["tags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)));
            match next {
                Some(n) if n.starts_with('/') => url = format!("{}{n}", self.base),
                Some(n) => url = n,
                None => return Ok(tags),
            }
        }
    }

    /// A blob's bytes (for small blobs such as configs), verified.
    pub async fn blob_bytes(&self, digest: &Digest) -> Result<bytes::Bytes, RegistryError> {
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, self.name);
        let r = self.session.send(Method::GET, &url, &self.pull(), |b| b).await?;
        if !r.status().is_success() {
            return Err(refused(&format!("blob {digest}"), r).await);
        }
        let bytes = r.bytes().await?;
        let actual = Digest::of(digest.algorithm(), &bytes);
        if &actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Deletes a tag, or a manifest by digest.
    pub async fn delete(&self, reference: &str) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.name);
        let scopes = vec![format!("repository:{}:delete", self.name)];
        let r = self.session.send(Method::DELETE, &url, &scopes, |b| b).await?;
        if r.status() != StatusCode::ACCEPTED {
            return Err(refused(&format!("delete of {}:{reference}", self.name), r).await);
        }
        Ok(())
    }

    /// Stores manifest bytes under `reference` (a tag or the digest).
    pub async fn put_manifest(&self, reference: &str, m: &RawManifest) -> Result<(), RegistryError> {
        let url = format!("{}/v2/{}/manifests/{reference}", self.base, self.name);
        let bytes = m.bytes.clone();
        let media_type = m.media_type.clone();
        let r = self
            .session
            .send(Method::PUT, &url, &self.push(), move |b| {
                b.header(header::CONTENT_TYPE, media_type.as_str()).body(bytes.clone())
            })
            .await?;
        if r.status() != StatusCode::CREATED {
            return Err(refused(&format!("manifest {}:{reference}", self.name), r).await);
        }
        Ok(())
    }
}

/// A manifest's media type: the essence of `Content-Type` when it names a manifest type, else
/// the body's `mediaType`, else the essence as sent (empty without a `Content-Type`).
pub fn manifest_media_type(content_type: Option<&str>, bytes: &[u8]) -> String {
    let essence = content_type.map(media::essence).unwrap_or_default();
    if media::is_manifest(essence) {
        return essence.to_owned();
    }
    serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v["mediaType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| essence.to_owned())
}

/// The target of a `Link: <URL>; rel="next"` header (a path or a whole URL), as registries
/// page tags lists and catalogs.
pub fn next_page(link: &str) -> Option<String> {
    let (target, params) = link.trim().strip_prefix('<')?.split_once('>')?;
    params.contains("rel=\"next\"").then(|| target.to_owned())
}

#[cfg(test)]
mod tests {
    use super::next_page;

    #[test]
    fn next_page_links() {
        let link = "</v2/_catalog?n=2&last=b>; rel=\"next\"";
        assert_eq!(next_page(link).as_deref(), Some("/v2/_catalog?n=2&last=b"));
        let whole = "<https://r/v2/a/tags/list?last=x>;rel=\"next\"";
        assert_eq!(next_page(whole).as_deref(), Some("https://r/v2/a/tags/list?last=x"));
        assert_eq!(next_page("</v2/_catalog?n=2>; rel=\"prev\""), None);
        assert_eq!(next_page("garbage"), None);
    }
}
