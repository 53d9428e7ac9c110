//! Blob uploads: end-4a/4b (POST, monolithic with `?digest=`), end-11 (mount), end-5 (PATCH,
//! chunked or streamed), end-13 (status), end-6 (PUT to finish), end-14 (cancel).

use super::{AppState, content_length, header_str, hv};
use crate::auth::Authorized;
use crate::body::guarded;
use crate::endpoint::MountSource;
use crate::error::ApiError;
use crate::route::OciRoute;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::range::parse_content_range;
use berth_core::{Algorithm, Digest, ErrorCode, RepoName, UploadId, UploadSession};
use berth_registry::{Chunk, MountOutcome, RegistryError};
use http::{HeaderMap, StatusCode, header};
use http_body::Body as _;

/// How many repositories holding a blob a mount without `from` considers.
const MOUNT_CANDIDATES: u32 = 1000;

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

/// end-11: links the blob from the source repository (or, without `from`, from one holding it
/// that the caller may read), or starts an upload when none can lend it.
pub(super) async fn mount(
    st: &AppState,
    auth: &Authorized,
    name: &RepoName,
    digest: &Digest,
    from: &MountSource,
) -> Result<Response, ApiError> {
    // Anonymous callers never get push, so the owner is always someone who authenticated.
    let owner = auth.caller().subject();
    let from = match from {
        MountSource::Named(f) => Some(f.clone()),
        // Never authorised (nobody may pull from it); no source.
        MountSource::Unnamable(_) => None,
        // The spec's automatic content discovery: a repository holding the blob that the
        // caller may read, if there is one.
        MountSource::Discover => {
            st.registry.repositories_holding(digest, MOUNT_CANDIDATES).await?.into_iter().find(|r| auth.may_pull(r))
        }
    };
    match st.registry.mount(name, digest, from.as_ref(), owner).await? {
        MountOutcome::Mounted => Ok(created(name, digest)),
        MountOutcome::Session(s) => {
            st.metrics.upload("started");
            Ok(session_response(StatusCode::ACCEPTED, &s, st.registry.min_chunk_len()))
        }
    }
}

/// end-4b: the whole blob in the POST body.
pub(super) async fn whole(
    st: &AppState,
    auth: &Authorized,
    name: &RepoName,
    digest: &Digest,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let stream = guarded(body, st.min_rate, st.metrics.bytes_in.clone());
    st.registry.upload_whole(name, digest, content_length(headers), stream, auth.caller().subject()).await?;
    Ok(created(name, digest))
}

/// end-4a: opens an upload session.
pub(super) async fn start(
    st: &AppState,
    auth: &Authorized,
    name: &RepoName,
    algorithm: Algorithm,
) -> Result<Response, ApiError> {
    let session = st.registry.start_upload(name, algorithm, auth.caller().subject()).await?;
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
    digest: &Digest,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let chunk = chunk(headers)?;
    // A PUT that only closes the upload has no body to append.
    let stream = (!body.is_end_stream()).then(|| guarded(body, st.min_rate, st.metrics.bytes_in.clone()));
    match st.registry.finish(name, id, digest, chunk, stream).await {
        Ok(_) => {
            st.metrics.upload("completed");
            Ok(created(name, digest))
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
