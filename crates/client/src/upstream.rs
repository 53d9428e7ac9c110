//! The pull-through cache's upstream over HTTP: [`HttpConnector`] opens one [`HttpUpstream`]
//! per login, which speaks the distribution API with a [`Session`] (a Bearer token flow or
//! Basic, tokens cached per scope), so an upstream is logged in to once per token lifetime,
//! not once per pull.
//!
//! The API base is `https://<api host>`, except that a loopback host is probed once per
//! upstream as [`crate::endpoint::api_base`] does. Manifest requests (token flow included) are
//! bounded by the request timeout; a blob's headers are too, and its body by the idle
//! timeout. No error and no `Debug` output holds a credential.

use crate::auth::{AuthError, Credentials, Session};
use crate::endpoint::host_base;
use crate::oci_error::Refusal;
use crate::registry::{MANIFEST_ACCEPT, manifest_media_type};
use berth_core::cache::RegistryHost;
use berth_core::store::ByteStream;
use berth_core::upstream::{
    ManifestHead, Upstream, UpstreamBlob, UpstreamConnector, UpstreamError, UpstreamLogin, UpstreamManifest,
};
use berth_core::{Algorithm, Digest, Reference, RepoName, media};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use reqwest::{Client, Method, Response, StatusCode, header};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long an upstream may keep the registry waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamTimeouts {
    /// A manifest request (HEAD or GET, its body and any token request it needs), and the
    /// headers of a blob's answer.
    pub request: Duration,
    /// The longest silence within a blob's body: past it the body ends with an error.
    pub idle: Duration,
}

/// Opens [`HttpUpstream`]s over one HTTP client. The client should follow redirects (blobs
/// are often redirected to storage) and trust the upstreams' certificates.
pub struct HttpConnector {
    http: Client,
    timeouts: UpstreamTimeouts,
    endpoints: HashMap<RegistryHost, String>,
}

impl HttpConnector {
    /// A connector over `http` with `timeouts` for every upstream it opens.
    pub fn new(http: Client, timeouts: UpstreamTimeouts) -> Self {
        HttpConnector { http, timeouts, endpoints: HashMap::new() }
    }

    /// The connector sending the requests for `registry` to `base` (`https://mirror.internal`,
    /// `http://127.0.0.1:5001`) instead of the registry's own API host: an internal proxy
    /// in front of Docker Hub, say.
    pub fn with_endpoint(mut self, registry: RegistryHost, base: &str) -> Self {
        self.endpoints.insert(registry, base.trim_end_matches('/').to_owned());
        self
    }
}

impl UpstreamConnector for HttpConnector {
    fn connect(&self, login: &UpstreamLogin) -> Arc<dyn Upstream> {
        let upstream = HttpUpstream::new(self.http.clone(), login, self.timeouts);
        if let Some(base) = self.endpoints.get(&login.registry) {
            upstream.base.set(base.clone()).expect("a new upstream has no base yet");
        }
        Arc::new(upstream)
    }
}

/// One upstream registry logged in as one [`UpstreamLogin`]: its session (with its tokens)
/// and its API base, probed on first use.
pub struct HttpUpstream {
    session: Session,
    registry: RegistryHost,
    base: OnceCell<String>,
    timeouts: UpstreamTimeouts,
}

impl fmt::Debug for HttpUpstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpUpstream")
            .field("registry", &self.registry)
            .field("base", &self.base.get())
            .field("timeouts", &self.timeouts)
            .finish_non_exhaustive()
    }
}

impl HttpUpstream {
    /// The upstream `login.registry` over `http`, presenting `login`'s credentials.
    pub fn new(http: Client, login: &UpstreamLogin, timeouts: UpstreamTimeouts) -> Self {
        let credentials = match &login.credentials {
            Some((username, password)) => Credentials::Basic { username: username.clone(), password: password.clone() },
            None => Credentials::Anonymous,
        };
        HttpUpstream {
            session: Session::new(http, credentials),
            registry: login.registry.clone(),
            base: OnceCell::new(),
            timeouts,
        }
    }

    /// The API base, probed once.
    async fn base(&self) -> &str {
        self.base.get_or_init(|| host_base(self.session.http(), self.registry.api_host())).await
    }

    /// `method` on `/v2/<repo>/<tail>` with pull scope; a success, or the error it means.
    async fn request(
        &self,
        method: Method,
        repo: &RepoName,
        tail: &str,
        manifest: bool,
    ) -> Result<Response, UpstreamError> {
        let url = format!("{}/v2/{repo}/{tail}", self.base().await);
        let scopes = vec![format!("repository:{repo}:pull")];
        let accept = |b: reqwest::RequestBuilder| if manifest { b.header(header::ACCEPT, MANIFEST_ACCEPT) } else { b };
        let r = self.session.send(method, &url, &scopes, accept).await.map_err(auth_error)?;
        match r.status() {
            s if s.is_success() => Ok(r),
            StatusCode::NOT_FOUND => Err(UpstreamError::NotFound),
            _ => {
                let refusal = Refusal::read(r).await;
                Err(UpstreamError::Status { status: refusal.status.as_u16(), detail: refusal.parenthesised() })
            }
        }
    }

    /// `work`, or `Unreachable` once the request timeout has passed.
    async fn within<T>(&self, work: impl Future<Output = Result<T, UpstreamError>>) -> Result<T, UpstreamError> {
        let limit = self.timeouts.request;
        tokio::time::timeout(limit, work)
            .await
            .unwrap_or_else(|_| Err(UpstreamError::Unreachable(format!("no answer within {} ms", limit.as_millis()))))
    }
}

#[async_trait::async_trait]
impl Upstream for HttpUpstream {
    async fn head_manifest(&self, repo: &RepoName, reference: &Reference) -> Result<ManifestHead, UpstreamError> {
        let r = self.within(self.request(Method::HEAD, repo, &format!("manifests/{reference}"), true)).await?;
        let text = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok());
        let digest = text("docker-content-digest")
            .and_then(|d| Digest::parse(d.trim()).ok())
            .ok_or_else(|| UpstreamError::Invalid("a manifest HEAD without a valid Docker-Content-Digest".into()))?;
        if let Reference::Digest(asked) = reference
            && asked != &digest
        {
            return Err(UpstreamError::Invalid(format!("a HEAD of manifest {asked} named {digest}")));
        }
        let size = text("content-length")
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| UpstreamError::Invalid("a manifest HEAD without a valid Content-Length".into()))?;
        let media_type = text("content-type").map(media::essence).unwrap_or_default().to_owned();
        Ok(ManifestHead { digest, media_type, size })
    }

    async fn manifest(
        &self,
        repo: &RepoName,
        reference: &Reference,
        max_bytes: usize,
    ) -> Result<UpstreamManifest, UpstreamError> {
        self.within(async {
            let r = self.request(Method::GET, repo, &format!("manifests/{reference}"), true).await?;
            let text = |name: &str| r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
            let (content_type, named) = (text("content-type"), text("docker-content-digest"));
            let bytes = bounded_body(r, max_bytes).await?;
            let expected =
                match (reference, named) {
                    (Reference::Digest(d), _) => Some(d.clone()),
                    (Reference::Tag(_), Some(named)) => Some(Digest::parse(named.trim()).map_err(|_| {
                        UpstreamError::Invalid("a manifest with an invalid Docker-Content-Digest".into())
                    })?),
                    (Reference::Tag(_), None) => None,
                };
            let digest = match expected {
                Some(expected) => {
                    let actual = Digest::of(expected.algorithm(), &bytes);
                    if actual != expected {
                        return Err(UpstreamError::Invalid(format!(
                            "a manifest whose digest is {actual}, not {expected}"
                        )));
                    }
                    actual
                }
                None => Digest::of(Algorithm::Sha256, &bytes),
            };
            let media_type = manifest_media_type(content_type.as_deref(), &bytes);
            Ok(UpstreamManifest { digest, media_type, bytes })
        })
        .await
    }

    async fn blob(&self, repo: &RepoName, digest: &Digest) -> Result<UpstreamBlob, UpstreamError> {
        let r = self.within(self.request(Method::GET, repo, &format!("blobs/{digest}"), false)).await?;
        let size = r.content_length();
        Ok(UpstreamBlob { size, body: guarded(r.bytes_stream(), self.timeouts.idle, size) })
    }
}

/// The body of a manifest answer, refused past `max_bytes` (by `Content-Length` before a byte
/// is read, else as it arrives).
async fn bounded_body(mut r: Response, max_bytes: usize) -> Result<Bytes, UpstreamError> {
    let too_large = || UpstreamError::Invalid(format!("a manifest larger than {max_bytes} bytes"));
    if r.content_length().is_some_and(|n| n > max_bytes as u64) {
        return Err(too_large());
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = r.chunk().await.map_err(|e| UpstreamError::Unreachable(transport(&e)))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// `body` as a [`ByteStream`] that ends with an error, never cleanly short: when nothing
/// arrives for `idle`, when the connection fails, or when it ends before (or runs past)
/// `size` bytes.
fn guarded(
    body: impl Stream<Item = reqwest::Result<Bytes>> + Send + 'static,
    idle: Duration,
    size: Option<u64>,
) -> ByteStream {
    let start = Some((Box::pin(body), 0u64));
    futures_util::stream::unfold(start, move |state| async move {
        let (mut body, seen) = state?;
        let fail = |kind: io::ErrorKind, why: String| Some((Err(io::Error::new(kind, why)), None));
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => fail(io::ErrorKind::TimedOut, format!("the upstream sent nothing for {} ms", idle.as_millis())),
            Ok(Some(Err(e))) => fail(io::ErrorKind::UnexpectedEof, transport(&e)),
            Ok(Some(Ok(chunk))) => {
                let seen = seen + chunk.len() as u64;
                match size {
                    Some(size) if seen > size => {
                        fail(io::ErrorKind::InvalidData, format!("the upstream sent more than its {size} bytes"))
                    }
                    _ => Some((Ok(chunk), Some((body, seen)))),
                }
            }
            Ok(None) => match size {
                Some(size) if seen != size => {
                    fail(io::ErrorKind::UnexpectedEof, format!("the upstream sent {seen} of {size} bytes"))
                }
                _ => None,
            },
        }
    })
    .boxed()
}

/// What a failed connection says, without the URL: each cause in turn.
fn transport(e: &reqwest::Error) -> String {
    let mut words = if e.is_timeout() { "timed out".to_owned() } else { e.to_string() };
    if let Some(url) = e.url() {
        words = words.replace(&format!(" for url ({url})"), "");
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        words.push_str(": ");
        words.push_str(&c.to_string());
        cause = c.source();
    }
    words
}

/// The upstream error a failed token flow is.
fn auth_error(e: AuthError) -> UpstreamError {
    match e {
        AuthError::Refused => UpstreamError::Status { status: 401, detail: " (it refused the credentials)".into() },
        AuthError::TokenStatus(r) => UpstreamError::Status {
            status: r.status.as_u16(),
            detail: format!(" (its token service{})", r.sentence.map(|s| format!(": {s}")).unwrap_or_default()),
        },
        AuthError::TokenService(words) => UpstreamError::Invalid(format!("its token service answered {words}")),
        AuthError::Http(e) => UpstreamError::Unreachable(transport(&e)),
    }
}

#[cfg(test)]
#[path = "upstream_tests.rs"]
mod tests;
