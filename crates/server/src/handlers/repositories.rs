//! ACR's repository and tag endpoints beside `/v2/`: `/acr/v1/<name>` (GET attributes, PATCH
//! locks, DELETE the whole repository) and `/acr/v1/<name>/_tags/<tag>` (GET, PATCH), with
//! ACR's bodies, so `az acr repository show|update|delete` have their counterparts. Lock
//! changes and repository deletes go to the audit log.

use super::admin::{body, invalid};
use super::{AppState, rfc3339};
use crate::auth::Authorized;
use crate::error::ApiError;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_core::{LockChange, Locks, RepoName, Tag};
use http::{StatusCode, header};
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::IpAddr;

/// A PATCH body: ACR's changeable attributes, each optional.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Attributes {
    write_enabled: Option<bool>,
    delete_enabled: Option<bool>,
    read_enabled: Option<bool>,
    list_enabled: Option<bool>,
}

fn json_ok(v: Value) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

fn attributes(l: Locks) -> Value {
    json!({ "deleteEnabled": l.delete_enabled, "writeEnabled": l.write_enabled, "readEnabled": true, "listEnabled": true })
}

async fn repository(st: &AppState, name: &RepoName) -> Result<Value, ApiError> {
    let info = st.registry.repository_info(name).await?;
    Ok(json!({
        "registry": st.challenge.service, "imageName": name.as_str(), "createdTime": rfc3339(info.created_at),
        "manifestCount": info.manifest_count, "tagCount": info.tag_count,
        "changeableAttributes": attributes(info.locks),
    }))
}

async fn tag(st: &AppState, name: &RepoName, tag: &Tag) -> Result<Value, ApiError> {
    let info = st.registry.tag_info(name, tag).await?;
    Ok(json!({
        "registry": st.challenge.service, "imageName": name.as_str(),
        "tag": {
            "name": tag.as_str(), "digest": info.digest.to_string(), "lastUpdateTime": rfc3339(info.updated_at),
            "signed": false, "changeableAttributes": attributes(info.locks),
        },
    }))
}

async fn attributes_of(st: &AppState, name: &RepoName, t: Option<&Tag>) -> Result<Response, ApiError> {
    Ok(json_ok(match t {
        Some(t) => tag(st, name, t).await?,
        None => repository(st, name).await?,
    }))
}

/// `GET /acr/v1/<name>` or `/acr/v1/<name>/_tags/<tag>`.
pub(super) async fn show(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    t: Option<&Tag>,
) -> Result<Response, ApiError> {
    attributes_of(st, name, t).await
}

/// `PATCH /acr/v1/<name>` or `/acr/v1/<name>/_tags/<tag>`: sets the locks given, answers
/// with the attributes as they now are.
pub(super) async fn update(
    st: &AppState,
    a: &Authorized,
    name: &RepoName,
    t: Option<&Tag>,
    remote: IpAddr,
    req: Body,
) -> Result<Response, ApiError> {
    let wanted: Attributes = body(req).await?;
    if wanted.read_enabled == Some(false) || wanted.list_enabled == Some(false) {
        return Err(invalid("Berth does not support readEnabled or listEnabled false; use roles to limit reading"));
    }
    let change = LockChange { write_enabled: wanted.write_enabled, delete_enabled: wanted.delete_enabled };
    let now = st.registry.set_locks(name, t, change).await?;
    let target = t.map_or_else(|| name.to_string(), |t| format!("{name}:{t}"));
    let target = format!("{target} writeEnabled={} deleteEnabled={}", now.write_enabled, now.delete_enabled);
    st.auth.audit(a.caller().subject(), "repository.lock", &target, &remote.to_string()).await;
    attributes_of(st, name, t).await
}

/// `DELETE /acr/v1/<name>`: the whole repository, answered as ACR does (202 with the
/// manifests and tags deleted).
pub(super) async fn delete(
    st: &AppState,
    a: &Authorized,
    name: &RepoName,
    remote: IpAddr,
) -> Result<Response, ApiError> {
    let deleted = st.registry.delete_repository(name).await?;
    let target = format!("{name} ({} manifests, {} tags)", deleted.manifests.len(), deleted.tags.len());
    st.auth.audit(a.caller().subject(), "repository.delete", &target, &remote.to_string()).await;
    let body = json!({ "manifestsDeleted": deleted.manifests, "tagsDeleted": deleted.tags });
    Ok((StatusCode::ACCEPTED, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response())
}
