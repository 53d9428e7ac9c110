//! end-2 (GET/HEAD blob, with `Range`) and end-10 (DELETE blob).

use super::{AppState, header_str, hv};
use crate::auth::Authorized;
use crate::error::ApiError;
use crate::zerocopy::{self, ZeroCopy};
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::range::{RangeRequest, parse_range};
use berth_core::{ByteStream, Digest, ErrorCode, RepoName};
use berth_registry::cache::BlobPull;
use http::{HeaderMap, StatusCode, header};

/// GET or HEAD of a blob: the whole blob (200) or one `Range` of it (206), with its length,
/// digest and caching headers. On a plain-HTTP connection (`zero_copy`) a blob the store keeps
/// in a local file is sent with `sendfile(2)`; otherwise it is streamed.
pub(super) async fn get(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    digest: &Digest,
    headers: &HeaderMap,
    head: bool,
    zero_copy: Option<&ZeroCopy>,
) -> Result<Response, ApiError> {
    // A blob a cached repository has yet to fetch streams to this client as it arrives,
    // unless the client asks for part of it or only its headers (they wait until it is here).
    let stream = !head && !headers.contains_key(header::RANGE);
    let size = match st.registry.pull_blob(name, digest, stream).await? {
        BlobPull::Stored(size) => size,
        BlobPull::Arriving { size, body } => return Ok(arriving(digest, size, body)),
    };
    let range = match header_str(headers, &header::RANGE).map(|v| parse_range(v, size)) {
        None | Some(RangeRequest::Full) => None,
        Some(RangeRequest::Partial(r)) => Some(r),
        Some(RangeRequest::Unsatisfiable) => {
            return Err(ApiError::new(ErrorCode::RangeInvalid)
                .detail(format!("the blob has {size} bytes"))
                .header(header::CONTENT_RANGE, hv(&format!("bytes */{size}"))));
        }
    };
    // Whole-blob GETs may go straight to the object store (never HEAD or Range: the registry
    // answers those itself, so a client's resume never depends on the store's URL).
    if !head
        && range.is_none()
        && let Some(url) = st.registry.blob_redirect(digest).await?
    {
        let mut response = StatusCode::TEMPORARY_REDIRECT.into_response();
        let h = response.headers_mut();
        h.insert(header::LOCATION, hv(&url));
        h.insert("docker-content-digest", hv(&digest.to_string()));
        h.insert(header::CACHE_CONTROL, hv("no-store"));
        return Ok(response);
    }
    let (status, len) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r.len()),
        None => (StatusCode::OK, size),
    };
    let body = match zero_copy {
        _ if head => Body::empty(),
        Some(zc) => match st.registry.blob_file(digest, range).await? {
            Some(f) => zerocopy::file_body(zc, f.file, f.start, f.len),
            None => Body::from_stream(st.registry.read_blob(digest, range).await?),
        },
        None => Body::from_stream(st.registry.read_blob(digest, range).await?),
    };
    let mut response = blob_response(status, body, digest, len);
    if let Some(r) = range {
        response.headers_mut().insert(header::CONTENT_RANGE, hv(&format!("bytes {}-{}/{size}", r.start, r.end)));
    }
    Ok(response)
}

/// A blob's bytes (all of them, or a range) with the headers every blob answer has.
fn blob_response(status: StatusCode, body: Body, digest: &Digest, len: u64) -> Response {
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, hv("application/octet-stream"));
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert("docker-content-digest", hv(&digest.to_string()));
    h.insert(header::ACCEPT_RANGES, hv("bytes"));
    h.insert(header::ETAG, hv(&format!("\"{digest}\"")));
    h.insert(header::CACHE_CONTROL, hv("max-age=31536000"));
    response
}

/// A blob arriving from a cached repository's upstream, streamed as it is stored.
fn arriving(digest: &Digest, size: u64, body: ByteStream) -> Response {
    blob_response(StatusCode::OK, Body::from_stream(body), digest, size)
}

/// Unlinks a blob from the repository, and records who did in the audit log.
pub(super) async fn delete(
    st: &AppState,
    a: &Authorized,
    name: &RepoName,
    digest: &Digest,
    remote: std::net::IpAddr,
) -> Result<Response, ApiError> {
    st.registry.delete_blob(name, digest).await?;
    st.auth.audit(a.caller().subject(), "blob.delete", &format!("{name}@{digest}"), &remote.to_string()).await;
    Ok(StatusCode::ACCEPTED.into_response())
}
