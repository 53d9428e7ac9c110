//! Deleting a manifest or untagging, from a browser: `GET /ui/delete?name=R&digest=D[&tag=T]`
//! asks for confirmation, listing every tag that a delete of the manifest also removes;
//! `POST /ui/delete` (with the page's CSRF token) does it, authorised as the OCI `DELETE`
//! it stands for and audited as one.

use super::{Params, allow, remote};
use crate::error::UiError;
use crate::format::{Nav, render};
use crate::session::{Form, viewer};
use askama::Template;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::{Digest, Reference, RepoName, Tag};
use berth_server::AppState;
use berth_server::endpoint::Endpoint;
use std::sync::Arc;

#[derive(Template)]
#[template(path = "delete.html")]
struct ConfirmPage {
    nav: Nav,
    name: String,
    digest: String,
    tag: Option<String>,
    sharing: Vec<String>,
}

/// What a delete form names: a repository, a digest, and optionally one tag to remove.
fn target(
    name: Option<&str>,
    digest: Option<&str>,
    tag: Option<&str>,
) -> Result<(RepoName, Digest, Option<Tag>), UiError> {
    let name = name.ok_or_else(|| UiError::BadRequest("no repository named".into()))?;
    let name = RepoName::parse(name).map_err(|_| UiError::BadRequest(format!("{name:?} is not a repository name")))?;
    let raw = digest.unwrap_or("");
    let digest = Digest::parse(raw).map_err(|_| UiError::BadRequest(format!("{raw:?} is not a digest")))?;
    let tag = match tag.filter(|t| !t.is_empty()) {
        Some(t) => Some(Tag::parse(t).map_err(|_| UiError::BadRequest(format!("{t:?} is not a tag")))?),
        None => None,
    };
    Ok((name, digest, tag))
}

fn reference(digest: &Digest, tag: &Option<Tag>) -> Reference {
    match tag {
        Some(t) => Reference::Tag(t.clone()),
        None => Reference::Digest(digest.clone()),
    }
}

/// `GET /ui/delete`: the confirmation.
pub async fn confirm(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    let p = Params::of(req.uri());
    let (name, digest, tag) = target(p.get("name"), p.get("digest"), p.get("tag"))?;
    allow(&st, &who, Endpoint::DeleteManifest { name: name.clone(), reference: reference(&digest, &tag) })?;
    let sharing = st.registry.tags_naming(&name, &digest, 1000).await?;
    let page = ConfirmPage {
        nav: who.nav(),
        name: name.to_string(),
        digest: digest.to_string(),
        tag: tag.map(|t| t.to_string()),
        sharing,
    };
    render(&page)
}

/// `POST /ui/delete`: deletes, then shows the repository.
pub async fn delete(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (parts, body) = req.into_parts();
    let form = Form::read(body).await?;
    let who = viewer(&st, &parts.headers).await?;
    who.check_csrf(&form)?;
    let (name, digest, tag) = target(form.get("name"), form.get("digest"), form.get("tag"))?;
    let r = reference(&digest, &tag);
    let a = allow(&st, &who, Endpoint::DeleteManifest { name: name.clone(), reference: r.clone() })?;
    st.registry.delete_manifest(&name, &r).await?;
    let (action, target) = match &r {
        Reference::Tag(t) => ("tag.delete", format!("{name}:{t}")),
        Reference::Digest(d) => ("manifest.delete", format!("{name}@{d}")),
    };
    st.auth.audit(a.caller().subject(), action, &target, &remote(&parts.extensions)).await;
    let back: String = form_urlencoded::Serializer::new(String::new()).append_pair("name", name.as_str()).finish();
    Ok(Redirect::to(&format!("/ui/repo?{back}")).into_response())
}
