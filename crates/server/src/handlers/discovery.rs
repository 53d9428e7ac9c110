//! end-8 (tags list), `_catalog`, and end-12 (referrers, with the `artifactType` filter).

use super::{AppState, hv};
use crate::auth::{Authorized, Caller};
use crate::endpoint::Paging;
use crate::error::ApiError;
use crate::route::OciRoute;
use axum::response::{IntoResponse, Response};
use berth_core::{Digest, Page, RepoName, media};
use berth_registry::RegistryError;
use http::{StatusCode, header};
use serde::Serialize;
use serde_json::{Value, json};

/// Trims the extra item and renders `Link` for the next page.
fn paged<'a>(items: &'a [String], n: Option<u32>, base: &str) -> (&'a [String], Option<String>) {
    match n {
        Some(n) if items.len() > n as usize => {
            let items = &items[..n as usize];
            let link = items.last().map(|last| {
                let q: String = form_urlencoded::Serializer::new(String::new())
                    .append_pair("n", &n.to_string())
                    .append_pair("last", last)
                    .finish();
                format!("<{base}?{q}>; rel=\"next\"")
            });
            (items, link)
        }
        _ => (items, None),
    }
}

fn json_response(body: String, link: Option<String>) -> Response {
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if let Some(link) = link {
        response.headers_mut().insert(header::LINK, hv(&link));
    }
    response
}

/// The tags list body (end-8), serialised straight from the borrowed page.
#[derive(Serialize)]
struct TagList<'a> {
    name: &'a str,
    tags: &'a [String],
}

/// The `_catalog` body.
#[derive(Serialize)]
struct Catalog<'a> {
    repositories: &'a [String],
}

fn to_json(body: &impl Serialize) -> String {
    serde_json::to_string(body).expect("a struct of strings always serialises")
}

pub(super) async fn tags(st: &AppState, _: &Authorized, name: &RepoName, asked: &Paging) -> Result<Response, ApiError> {
    let found = st.registry.tags(name, &asked.fetch()).await?;
    let (tags, link) = paged(found.tags(), asked.n, &OciRoute::Tags { name: name.clone() }.path());
    Ok(json_response(to_json(&TagList { name: name.as_str(), tags }), link))
}

/// Repositories the caller can pull, paged. The listing is filtered before paging, so `n`
/// counts only what the caller may see.
pub(super) async fn catalog(st: &AppState, auth: &Authorized, asked: &Paging) -> Result<Response, ApiError> {
    const BATCH: u32 = 1000;
    let page = asked.fetch();
    let permissions = async {
        match auth.caller() {
            Caller::Basic(a) => Ok(a.permissions.clone()),
            Caller::Anonymous { permissions } => Ok(permissions.clone()),
            Caller::Bearer { subject, .. } => st.auth.permissions(subject).await.map_err(RegistryError::from),
        }
    };
    let batch = |last: Option<String>| async move { st.registry.catalog(&Page { last, n: Some(BATCH) }).await };
    // The caller's permissions and the first batch are independent: ask for both at once.
    let (permissions, mut next) = tokio::try_join!(permissions, batch(page.last.clone()))?;
    let mut visible = Vec::new();
    loop {
        let exhausted = next.len() < BATCH as usize;
        let last = next.last().cloned();
        visible.extend(next.into_iter().filter(|r| permissions.can_see(r)));
        if exhausted || page.n.is_some_and(|want| visible.len() >= want as usize) {
            break;
        }
        next = batch(last).await?;
    }
    if let Some(want) = page.n {
        visible.truncate(want as usize);
    }
    let (repositories, link) = paged(&visible, asked.n, &OciRoute::Catalog.path());
    Ok(json_response(to_json(&Catalog { repositories }), link))
}

pub(super) async fn referrers(
    st: &AppState,
    _: &Authorized,
    name: &RepoName,
    digest: &Digest,
    artifact_type: Option<&str>,
) -> Result<Response, ApiError> {
    let found = st.registry.referrers(name, digest, artifact_type).await?;
    let manifests: Vec<Value> = found
        .into_iter()
        .map(|r| {
            let mut d = json!({ "mediaType": r.media_type, "digest": r.digest.to_string(), "size": r.size });
            if let Some(t) = r.artifact_type {
                d["artifactType"] = json!(t);
            }
            if let Some(a) = r.annotations.and_then(|a| serde_json::from_str::<Value>(&a).ok()) {
                d["annotations"] = a;
            }
            d
        })
        .collect();
    let body = json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests });
    let mut response = (StatusCode::OK, [(header::CONTENT_TYPE, media::OCI_INDEX)], body.to_string()).into_response();
    if artifact_type.is_some() {
        response.headers_mut().insert("oci-filters-applied", hv("artifactType"));
    }
    Ok(response)
}
