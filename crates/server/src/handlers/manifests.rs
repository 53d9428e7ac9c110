//! end-3 (GET/HEAD manifest), end-7 (PUT manifest), end-9 (DELETE manifest or tag).

use super::{AppState, header_str, hv};
use crate::auth::Authorized;
use crate::body::{LimitedError, read_to_limit};
use crate::error::ApiError;
use crate::route::OciRoute;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::{ErrorCode, Reference, RepoName, Tag};
use http::{HeaderMap, StatusCode, header};

pub(super) async fn get(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    reference: &Reference,
    head: bool,
) -> Result<Response, ApiError> {
    let m = st.registry.get_manifest(name, reference).await?;
    let len = m.bytes.len();
    let body = if head { Body::empty() } else { Body::from(m.bytes) };
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, hv(&m.media_type));
    h.insert(header::CONTENT_LENGTH, hv(&len.to_string()));
    h.insert("docker-content-digest", hv(&m.digest.to_string()));
    h.insert(header::ETAG, hv(&format!("\"{}\"", m.digest)));
    Ok(response)
}

pub(super) async fn put(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    reference: &Reference,
    extra_tags: &[Tag],
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let max = st.registry.limits().max_manifest_bytes;
    let drain = max.saturating_mul(4);
    let too_large =
        || ApiError::new(ErrorCode::PayloadTooLarge).detail(format!("manifests are limited to {max} bytes"));
    if super::content_length(headers).is_some_and(|n| n > drain as u64) {
        return Err(too_large());
    }
    let bytes = read_to_limit(body, max, drain).await.map_err(|e| match e {
        LimitedError::TooLarge => too_large(),
        LimitedError::Body(e) => ApiError::new(ErrorCode::ManifestInvalid).detail(format!("request body failed: {e}")),
    })?;
    st.metrics.bytes_in.inc_by(bytes.len() as u64);
    let content_type = header_str(headers, &header::CONTENT_TYPE).unwrap_or("");
    let put = st.registry.put_manifest(name, reference, extra_tags, content_type, bytes).await?;
    let location = OciRoute::Manifest { name: name.clone(), reference: Reference::Digest(put.digest.clone()) }.path();
    let mut response = StatusCode::CREATED.into_response();
    let h = response.headers_mut();
    h.insert(header::LOCATION, hv(&location));
    h.insert("docker-content-digest", hv(&put.digest.to_string()));
    if let Some(subject) = put.subject {
        h.insert("oci-subject", hv(&subject.to_string()));
    }
    if !extra_tags.is_empty() {
        for t in &put.tags {
            h.append("oci-tag", hv(t.as_str()));
        }
    }
    Ok(response)
}

/// Deletes a tag or a manifest, and records who did in the audit log.
pub(super) async fn delete(
    st: &AppState,
    a: &Authorized,
    name: &RepoName,
    reference: &Reference,
    remote: std::net::IpAddr,
) -> Result<Response, ApiError> {
    st.registry.delete_manifest(name, reference).await?;
    let (action, target) = match reference {
        Reference::Tag(t) => ("tag.delete", format!("{name}:{t}")),
        Reference::Digest(d) => ("manifest.delete", format!("{name}@{d}")),
    };
    st.auth.audit(a.caller().subject(), action, &target, &remote.to_string()).await;
    Ok(StatusCode::ACCEPTED.into_response())
}
