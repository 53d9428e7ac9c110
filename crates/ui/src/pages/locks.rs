//! `POST /ui/lock`: ACR's image locking from the tags page. A tag is locked (no overwrite,
//! no delete: `writeEnabled` and `deleteEnabled` false) or unlocked, authorised as the
//! `PATCH /acr/v1/<name>/_tags/<tag>` it stands for and audited as `repository.lock`, as
//! `berth repository update` is.

use super::{allow, posted, remote};
use crate::error::UiError;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use berth_core::store::LockChange;
use berth_core::{RepoName, Tag};
use berth_server::AppState;
use berth_server::endpoint::Endpoint;
use std::sync::Arc;

/// The handler: `name`, `tag`, and `lock` (`on` or `off`).
pub async fn update(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let (parts, form, who, _) = posted(&st, req).await?;
    let raw = form.get("name").unwrap_or("");
    let name = RepoName::parse(raw).map_err(|_| UiError::BadRequest(format!("{raw:?} is not a repository name")))?;
    let raw = form.get("tag").unwrap_or("");
    let tag = Tag::parse(raw).map_err(|_| UiError::BadRequest(format!("{raw:?} is not a tag")))?;
    let open = match form.get("lock") {
        Some("on") => false,
        Some("off") => true,
        _ => return Err(UiError::BadRequest("lock must be on or off".into())),
    };
    let a = allow(&st, &who, Endpoint::UpdateTag { name: name.clone(), tag: tag.clone() })?;
    let change = LockChange { write_enabled: Some(open), delete_enabled: Some(open) };
    let now = st.registry.set_locks(&name, Some(&tag), change).await?;
    let target = format!("{name}:{tag} writeEnabled={} deleteEnabled={}", now.write_enabled, now.delete_enabled);
    st.auth.audit(a.caller().subject(), "repository.lock", &target, &remote(&parts.extensions)).await;
    let back: String = form_urlencoded::Serializer::new(String::new()).append_pair("name", name.as_str()).finish();
    Ok(Redirect::to(&format!("/ui/repo?{back}")).into_response())
}
