//! Blob uploads: end-4a/4b (POST, monolithic with `?digest=`), end-11 (mount), end-5 (PATCH,
//! chunked or streamed), end-13 (status), end-6 (PUT to finish), end-14 (cancel).

use super::{AppState, Query, content_length, header_str, hv};
use crate::auth::Authorized;
use crate::body::guarded;
use crate::error::ApiError;
use crate::route::OciRoute;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::range::parse_content_range;
use berth_core::{Algorithm, Digest, DigestError, ErrorCode, RepoName, UploadId, UploadSession};
use berth_registry::{Chunk, MountOutcome, RegistryError};
use http::{HeaderMap, StatusCode, header};
use http_body::Body as _;

/// How many repositories holding a blob a mount without `from` considers.
const MOUNT_CANDIDATES: u32 = 1000;

fn digest_param(query: &Query) -> Result<Option<Digest>, ApiError> {
    query
        .get("digest")
        .map(|d| {
            Digest::parse(d).map_err(|e| match e {
                DigestError::Invalid => {
                    ApiError::new(ErrorCode::DigestInvalid).detail(format!("malformed digest {d:?}"))
                }
                DigestError::Unsupported => {
                    ApiError::new(ErrorCode::DigestInvalid).detail(format!("unsupported digest algorithm in {d:?}"))
                }
            })
        })
        .transpose()
}

/// 202 with what a client needs to continue: `Location`, `Range`, `Docker-Upload-UUID`, and
/// `OCI-Chunk-Min-Length` when the blob store wants chunks of a least size.
fn session_response(status: StatusCode, s: &UploadSession, min_chunk: u64) -> Response {
    let location = OciRoute::Upload { name: s.repo.clone(), id: s.id.clone() }.path();
    let range = if s.offset == 0 { "0-0".to_owned() } else { format!("0-{}", s.offset - 1) };
    let mut response = status.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, hv(&location));
    h.insert(header::RANGE, hv(&range));
    h.insert("docker-upload-uuid", hv(s.id.as_str()));
    h.insert(header::CONTENT_LENGTH, hv("0"));
    if min_chunk > 0 {
        h.insert("oci-chunk-min-length", hv(&min_chunk.to_string()));
    }
    response
}

fn created(name: &RepoName, digest: &Digest) -> Response {
    let location = OciRoute::Blob { name: name.clone(), digest: digest.clone() }.path();
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, hv(&location));
    h.insert("docker-content-digest", hv(&digest.to_string()));
    h.insert(header::CONTENT_LENGTH, hv("0"));
    response
}

pub(super) async fn post(
    st: &AppState,
    auth: &Authorized,
    name: &RepoName,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> Result<Response, ApiError> {
    // Anonymous callers never get push, so the owner is always someone who authenticated.
    let owner = auth.caller().subject();
    if let Some(mount) = query.get("mount") {
        let digest = Digest::parse(mount)
            .map_err(|_| ApiError::new(ErrorCode::DigestInvalid).detail(format!("malformed digest {mount:?}")))?;
        let from = match query.get("from") {
            Some(f) => RepoName::parse(f).ok(),
            // The spec's automatic content discovery: a repository holding the blob that the
            // caller may read, if there is one.
            None => st
                .registry
                .repositories_holding(&digest, MOUNT_CANDIDATES)
                .await?
                .into_iter()
                .find(|r| auth.may_pull(r)),
        };
        return match st.registry.mount(name, &digest, from.as_ref(), owner).await? {
            MountOutcome::Mounted => Ok(created(name, &digest)),
            MountOutcome::Session(s) => {
                st.metrics.upload("started");
                Ok(session_response(StatusCode::ACCEPTED, &s, st.registry.min_chunk_len()))
            }
        };
    }
    if let Some(digest) = digest_param(query)? {
        let stream = guarded(body, st.min_rate, st.metrics.bytes_in.clone());
        st.registry.upload_whole(name, &digest, content_length(headers), stream, owner).await?;
        return Ok(created(name, &digest));
    }
    let algorithm = match query.get("digest-algorithm") {
        None => Algorithm::Sha256,
        Some(a) => Algorithm::parse(a).map_err(|_| {
            ApiError::new(ErrorCode::DigestInvalid).detail(format!("unsupported digest algorithm {a:?}"))
        })?,
    };
    let session = st.registry.start_upload(name, algorithm, owner).await?;
    st.metrics.upload("started");
    Ok(session_response(StatusCode::ACCEPTED, &session, st.registry.min_chunk_len()))
}

pub(super) async fn status(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    id: &UploadId,
) -> Result<Response, ApiError> {
    let s = st.registry.upload(name, id).await?;
    Ok(session_response(StatusCode::NO_CONTENT, &s, st.registry.min_chunk_len()))
}

fn chunk(headers: &HeaderMap) -> Result<Chunk, ApiError> {
    let range =
        match header_str(headers, &header::CONTENT_RANGE) {
            None => None,
            Some(v) => Some(parse_content_range(v).ok_or_else(|| {
                ApiError::new(ErrorCode::RangeInvalid).detail(format!("malformed Content-Range {v:?}"))
            })?),
        };
    Ok(Chunk { range, length: content_length(headers) })
}

pub(super) async fn patch(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    id: &UploadId,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let chunk = chunk(headers)?;
    let stream = guarded(body, st.min_rate, st.metrics.bytes_in.clone());
    let s = st.registry.append(name, id, chunk, stream).await?;
    Ok(session_response(StatusCode::ACCEPTED, &s, st.registry.min_chunk_len()))
}

pub(super) async fn put(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    id: &UploadId,
    headers: &HeaderMap,
    query: &Query,
    body: Body,
) -> Result<Response, ApiError> {
    let digest = digest_param(query)?
        .ok_or_else(|| ApiError::new(ErrorCode::DigestInvalid).detail("the digest query parameter is required"))?;
    let chunk = chunk(headers)?;
    // A PUT that only closes the upload has no body to append.
    let stream = (!body.is_end_stream()).then(|| guarded(body, st.min_rate, st.metrics.bytes_in.clone()));
    match st.registry.finish(name, id, &digest, chunk, stream).await {
        Ok(_) => {
            st.metrics.upload("completed");
            Ok(created(name, &digest))
        }
        Err(e @ RegistryError::DigestInvalid(_)) => {
            st.metrics.upload("failed");
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn cancel(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    id: &UploadId,
) -> Result<Response, ApiError> {
    st.registry.cancel_upload(name, id).await?;
    st.metrics.upload("cancelled");
    Ok(StatusCode::NO_CONTENT.into_response())
}
