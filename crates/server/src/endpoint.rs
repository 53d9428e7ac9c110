//! The endpoint table: what a request under `/v2/` (or ACR's `/acr/v1/`) asks for, one variant
//! per spec endpoint ID and method, with its query parameters already validated.
//!
//! [`Endpoint::parse`] takes the method, the path parsed by [`OciRoute::parse`] and the raw
//! query. [`crate::auth::required_access`] and the dispatcher match the variants exhaustively,
//! so an endpoint cannot exist without its access rule and its handler. Invalid query
//! parameters are found here, but answered only once the caller is authorised (as a handler
//! answered them before): a [`Rejected`] names the endpoint whose access gates its error.

use crate::error::ApiError;
use crate::route::OciRoute;
use berth_core::{Algorithm, Digest, DigestError, ErrorCode, Page, Reference, RepoName, Tag, UploadId};
use http::Method;

/// Where a mount (end-11) takes its blob from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// `from` names a repository; the caller needs pull on it.
    Named(RepoName),
    /// No `from`: a repository holding the blob that the caller may pull, if there is one.
    Discover,
    /// `from` is not a repository name. Nobody is ever granted pull on it, so the request is
    /// refused with a challenge naming the scope asked for.
    Unnamable(String),
}

impl MountSource {
    fn of(from: Option<&str>) -> Self {
        match from {
            None => MountSource::Discover,
            Some(f) => RepoName::parse(f).map_or_else(|_| MountSource::Unnamable(f.to_owned()), MountSource::Named),
        }
    }

    /// The repository named, if `from` named a valid one.
    pub fn named(&self) -> Option<&RepoName> {
        match self {
            MountSource::Named(n) => Some(n),
            MountSource::Discover | MountSource::Unnamable(_) => None,
        }
    }
}

/// `n` and `last` of a paged listing (end-8b, the catalog).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    /// At most this many items, if asked.
    pub n: Option<u32>,
    /// Items start strictly after this one.
    pub last: Option<String>,
}

impl Paging {
    /// The page to fetch: one more item than asked, to know whether a next page exists.
    pub fn fetch(&self) -> Page {
        Page { last: self.last.clone(), n: self.n.map(|n| n.saturating_add(1)) }
    }
}

/// One endpoint of the OCI distribution spec (by its ID), of distribution's catalog, or of
/// ACR's repository API, with the parameters it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// end-1: `GET /v2/`.
    Base,
    /// `GET /v2/_catalog`.
    Catalog { page: Paging },
    /// end-2: `GET`/`HEAD /v2/<name>/blobs/<digest>`.
    GetBlob { name: RepoName, digest: Digest, head: bool },
    /// end-3: `GET`/`HEAD /v2/<name>/manifests/<reference>`.
    GetManifest { name: RepoName, reference: Reference, head: bool },
    /// end-4a: `POST /v2/<name>/blobs/uploads/` (optionally `?digest-algorithm=`).
    StartUpload { name: RepoName, algorithm: Algorithm },
    /// end-4b: `POST /v2/<name>/blobs/uploads/?digest=<digest>`, the blob in the body.
    UploadWhole { name: RepoName, digest: Digest },
    /// end-5: `PATCH /v2/<name>/blobs/uploads/<id>`.
    AppendUpload { name: RepoName, id: UploadId },
    /// end-6: `PUT /v2/<name>/blobs/uploads/<id>?digest=<digest>`.
    FinishUpload { name: RepoName, id: UploadId, digest: Digest },
    /// end-7: `PUT /v2/<name>/manifests/<reference>`, with `?tag=` only on a push by digest.
    PutManifest { name: RepoName, reference: Reference, tags: Vec<Tag> },
    /// end-8a/8b: `GET /v2/<name>/tags/list`.
    ListTags { name: RepoName, page: Paging },
    /// end-9: `DELETE /v2/<name>/manifests/<reference>` (a tag untags).
    DeleteManifest { name: RepoName, reference: Reference },
    /// end-10: `DELETE /v2/<name>/blobs/<digest>`.
    DeleteBlob { name: RepoName, digest: Digest },
    /// end-11: `POST /v2/<name>/blobs/uploads/?mount=<digest>[&from=<repository>]`.
    Mount { name: RepoName, digest: Digest, from: MountSource },
    /// end-12a/12b: `GET /v2/<name>/referrers/<digest>[?artifactType=]`.
    Referrers { name: RepoName, digest: Digest, artifact_type: Option<String> },
    /// end-13: `GET /v2/<name>/blobs/uploads/<id>`.
    UploadStatus { name: RepoName, id: UploadId },
    /// end-14: `DELETE /v2/<name>/blobs/uploads/<id>`.
    CancelUpload { name: RepoName, id: UploadId },
    /// ACR: `GET /acr/v1/<name>`.
    ShowRepository { name: RepoName },
    /// ACR: `GET /acr/v1/<name>/_tags/<tag>`.
    ShowTag { name: RepoName, tag: Tag },
    /// ACR: `PATCH /acr/v1/<name>` (its locks).
    UpdateRepository { name: RepoName },
    /// ACR: `PATCH /acr/v1/<name>/_tags/<tag>` (its locks).
    UpdateTag { name: RepoName, tag: Tag },
    /// ACR: `DELETE /acr/v1/<name>`, the whole repository.
    DeleteRepository { name: RepoName },
    /// A method `route` does not serve: answered 405 `UNSUPPORTED` once authorised. `from` is
    /// the mount source a request to the uploads path names (with `mount` and `from`).
    Unsupported { route: OciRoute, method: Method, from: Option<MountSource> },
}

/// Query parameters that are invalid for the endpoint: `error` is answered once the caller is
/// authorised for `gate`, an endpoint needing what the request needs.
#[derive(Debug)]
pub struct Rejected {
    /// What authorisation is checked for.
    pub gate: Box<Endpoint>,
    /// The answer after it.
    pub error: ApiError,
}

/// The query parameters, in order, repeated keys kept.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn digest_invalid(d: &str, e: DigestError) -> ApiError {
    let detail = match e {
        DigestError::Invalid => format!("malformed digest {d:?}"),
        DigestError::Unsupported => format!("unsupported digest algorithm in {d:?}"),
    };
    ApiError::new(ErrorCode::DigestInvalid).detail(detail)
}

fn paging(q: &Params) -> Result<Paging, ApiError> {
    let n = match q.get("n") {
        None => None,
        Some(v) => Some(v.parse::<u32>().map_err(|_| {
            ApiError::new(ErrorCode::PaginationNumberInvalid)
                .detail(format!("n must be a non-negative integer, not {v:?}"))
        })?),
    };
    Ok(Paging { n, last: q.get("last").map(str::to_owned) })
}

fn uploads(name: RepoName, q: &Params) -> Result<Endpoint, Rejected> {
    let start = |name: &RepoName| Endpoint::StartUpload { name: name.clone(), algorithm: Algorithm::Sha256 };
    if let Some(mount) = q.get("mount") {
        let from = MountSource::of(q.get("from"));
        return match Digest::parse(mount) {
            Ok(digest) => Ok(Endpoint::Mount { name, digest, from }),
            Err(_) => Err(Rejected {
                error: ApiError::new(ErrorCode::DigestInvalid).detail(format!("malformed digest {mount:?}")),
                gate: Box::new(Endpoint::Unsupported {
                    route: OciRoute::Uploads { name },
                    method: Method::POST,
                    from: Some(from).filter(|f| *f != MountSource::Discover),
                }),
            }),
        };
    }
    if let Some(d) = q.get("digest") {
        return match Digest::parse(d) {
            Ok(digest) => Ok(Endpoint::UploadWhole { name, digest }),
            Err(e) => Err(Rejected { error: digest_invalid(d, e), gate: Box::new(start(&name)) }),
        };
    }
    match q.get("digest-algorithm").map(|a| (a, Algorithm::parse(a))) {
        None => Ok(start(&name)),
        Some((_, Ok(algorithm))) => Ok(Endpoint::StartUpload { name, algorithm }),
        Some((a, Err(_))) => Err(Rejected {
            error: ApiError::new(ErrorCode::DigestInvalid).detail(format!("unsupported digest algorithm {a:?}")),
            gate: Box::new(start(&name)),
        }),
    }
}

fn put_manifest(name: RepoName, reference: Reference, q: &Params) -> Result<Endpoint, Rejected> {
    let tags = q.0.iter().filter(|(k, _)| k == "tag").map(|(_, t)| {
        Tag::parse(t).map_err(|_| ApiError::new(ErrorCode::ManifestInvalid).detail(format!("invalid tag {t:?}")))
    });
    let tags = tags.collect::<Result<Vec<_>, _>>().and_then(|tags| {
        if !tags.is_empty() && matches!(reference, Reference::Tag(_)) {
            Err(ApiError::new(ErrorCode::ManifestInvalid).detail("?tag= is only allowed on a push by digest"))
        } else {
            Ok(tags)
        }
    });
    match tags {
        Ok(tags) => Ok(Endpoint::PutManifest { name, reference, tags }),
        Err(error) => Err(Rejected {
            error,
            gate: Box::new(Endpoint::Unsupported {
                route: OciRoute::Manifest { name, reference },
                method: Method::PUT,
                from: None,
            }),
        }),
    }
}

impl Endpoint {
    /// The endpoint `method` on `route` is, with the parameters of `query` (the raw query
    /// string) validated. Never panics.
    pub fn parse(method: &Method, route: OciRoute, query: Option<&str>) -> Result<Self, Rejected> {
        let q = Params(form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect());
        let head = *method == Method::HEAD;
        let endpoint = match (method.clone(), route) {
            (Method::GET, OciRoute::Base) => Endpoint::Base,
            (Method::GET, OciRoute::Catalog) => match paging(&q) {
                Ok(page) => Endpoint::Catalog { page },
                Err(error) => {
                    return Err(Rejected { error, gate: Box::new(Endpoint::Catalog { page: Paging::default() }) });
                }
            },
            (Method::GET | Method::HEAD, OciRoute::Blob { name, digest }) => Endpoint::GetBlob { name, digest, head },
            (Method::DELETE, OciRoute::Blob { name, digest }) => Endpoint::DeleteBlob { name, digest },
            (Method::GET | Method::HEAD, OciRoute::Manifest { name, reference }) => {
                Endpoint::GetManifest { name, reference, head }
            }
            (Method::PUT, OciRoute::Manifest { name, reference }) => return put_manifest(name, reference, &q),
            (Method::DELETE, OciRoute::Manifest { name, reference }) => Endpoint::DeleteManifest { name, reference },
            (Method::POST, OciRoute::Uploads { name }) => return uploads(name, &q),
            (Method::GET, OciRoute::Upload { name, id }) => Endpoint::UploadStatus { name, id },
            (Method::PATCH, OciRoute::Upload { name, id }) => Endpoint::AppendUpload { name, id },
            (Method::PUT, OciRoute::Upload { name, id }) => match q.get("digest").map(|d| (d, Digest::parse(d))) {
                Some((_, Ok(digest))) => Endpoint::FinishUpload { name, id, digest },
                bad => {
                    let error = match bad {
                        Some((d, Err(e))) => digest_invalid(d, e),
                        _ => ApiError::new(ErrorCode::DigestInvalid).detail("the digest query parameter is required"),
                    };
                    return Err(Rejected { error, gate: Box::new(Endpoint::AppendUpload { name, id }) });
                }
            },
            (Method::DELETE, OciRoute::Upload { name, id }) => Endpoint::CancelUpload { name, id },
            (Method::GET, OciRoute::Tags { name }) => match paging(&q) {
                Ok(page) => Endpoint::ListTags { name, page },
                Err(error) => {
                    return Err(Rejected {
                        error,
                        gate: Box::new(Endpoint::ListTags { name, page: Paging::default() }),
                    });
                }
            },
            (Method::GET, OciRoute::Referrers { name, digest }) => {
                Endpoint::Referrers { name, digest, artifact_type: q.get("artifactType").map(str::to_owned) }
            }
            (Method::GET, OciRoute::Repository { name }) => Endpoint::ShowRepository { name },
            (Method::PATCH, OciRoute::Repository { name }) => Endpoint::UpdateRepository { name },
            (Method::DELETE, OciRoute::Repository { name }) => Endpoint::DeleteRepository { name },
            (Method::GET, OciRoute::RepositoryTag { name, tag }) => Endpoint::ShowTag { name, tag },
            (Method::PATCH, OciRoute::RepositoryTag { name, tag }) => Endpoint::UpdateTag { name, tag },
            (method, route) => {
                let from = match route {
                    OciRoute::Uploads { .. } if q.get("mount").is_some() => {
                        q.get("from").map(|f| MountSource::of(Some(f)))
                    }
                    _ => None,
                };
                Endpoint::Unsupported { route, method, from }
            }
        };
        Ok(endpoint)
    }

    /// The repository the endpoint addresses, if any.
    pub fn repo(&self) -> Option<&RepoName> {
        match self {
            Endpoint::Base | Endpoint::Catalog { .. } => None,
            Endpoint::GetBlob { name, .. }
            | Endpoint::GetManifest { name, .. }
            | Endpoint::StartUpload { name, .. }
            | Endpoint::UploadWhole { name, .. }
            | Endpoint::AppendUpload { name, .. }
            | Endpoint::FinishUpload { name, .. }
            | Endpoint::PutManifest { name, .. }
            | Endpoint::ListTags { name, .. }
            | Endpoint::DeleteManifest { name, .. }
            | Endpoint::DeleteBlob { name, .. }
            | Endpoint::Mount { name, .. }
            | Endpoint::Referrers { name, .. }
            | Endpoint::UploadStatus { name, .. }
            | Endpoint::CancelUpload { name, .. }
            | Endpoint::ShowRepository { name }
            | Endpoint::ShowTag { name, .. }
            | Endpoint::UpdateRepository { name }
            | Endpoint::UpdateTag { name, .. }
            | Endpoint::DeleteRepository { name } => Some(name),
            Endpoint::Unsupported { route, .. } => route.repo(),
        }
    }

    /// The repository of a read a mirror may serve (`GET`/`HEAD` of manifests and blobs,
    /// tag lists, referrers), for a mirror request (`?ns=`) to point at the repository that
    /// caches it; `None` for every other endpoint, which a mirror request may not reach.
    pub fn mirrored_name(&mut self) -> Option<&mut RepoName> {
        match self {
            Endpoint::GetBlob { name, .. }
            | Endpoint::GetManifest { name, .. }
            | Endpoint::ListTags { name, .. }
            | Endpoint::Referrers { name, .. } => Some(name),
            Endpoint::Base
            | Endpoint::Catalog { .. }
            | Endpoint::StartUpload { .. }
            | Endpoint::UploadWhole { .. }
            | Endpoint::AppendUpload { .. }
            | Endpoint::FinishUpload { .. }
            | Endpoint::PutManifest { .. }
            | Endpoint::DeleteManifest { .. }
            | Endpoint::DeleteBlob { .. }
            | Endpoint::Mount { .. }
            | Endpoint::UploadStatus { .. }
            | Endpoint::CancelUpload { .. }
            | Endpoint::ShowRepository { .. }
            | Endpoint::ShowTag { .. }
            | Endpoint::UpdateRepository { .. }
            | Endpoint::UpdateTag { .. }
            | Endpoint::DeleteRepository { .. }
            | Endpoint::Unsupported { .. } => None,
        }
    }

    /// Whether this is `/v2/` itself, whatever the method: it needs an authenticated caller.
    pub fn is_base(&self) -> bool {
        matches!(self, Endpoint::Base | Endpoint::Unsupported { route: OciRoute::Base, .. })
    }
}

#[cfg(test)]
#[path = "endpoint_tests.rs"]
mod tests;
