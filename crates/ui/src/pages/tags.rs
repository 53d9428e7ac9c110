//! `GET /ui/repo?name=R[&after=T]`: a repository's tags, a page at a time (the first page of
//! a repository with 10,000 tags costs what one of ten does), each with its digest, every
//! platform of an index, compressed size, push time, locks and a pull command to copy.

use super::{Params, allow};
use crate::error::UiError;
use crate::format::{Nav, render, short, size, time};
use crate::session::viewer;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use berth_server::AppState;
use berth_server::endpoint::{Endpoint, Paging};
use std::sync::Arc;

/// Tags per page.
pub const PAGE: u32 = 100;

/// One tag.
pub struct TagLine {
    tag: String,
    digest: String,
    short: String,
    platforms: Vec<String>,
    size: String,
    bytes: u64,
    pushed: String,
    write_locked: bool,
    delete_locked: bool,
    pull: String,
}

#[derive(Template)]
#[template(path = "repo.html")]
struct RepoPage {
    nav: Nav,
    name: String,
    tags: Vec<TagLine>,
    next: Option<String>,
    may_delete: bool,
    may_lock: bool,
}

/// The handler.
pub async fn show(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    let params = Params::of(req.uri());
    let name = params.repo()?;
    let after = params.get("after").map(str::to_owned);
    let paging = Paging { n: Some(PAGE), last: after.clone() };
    allow(&st, &who, Endpoint::ListTags { name: name.clone(), page: paging })?;
    let listing = st.registry.tag_listing(&name, after.as_deref(), PAGE).await?;
    let host = &st.challenge.service;
    let tags = listing
        .entries
        .into_iter()
        .map(|e| TagLine {
            pull: format!("{host}/{name}:{}", e.row.tag),
            digest: e.row.digest.to_string(),
            short: short(&e.row.digest.to_string()),
            platforms: e.platforms.iter().map(ToString::to_string).collect(),
            size: size(e.size),
            bytes: e.size,
            pushed: time(e.row.updated_at),
            write_locked: !e.row.locks.write_enabled,
            delete_locked: !e.row.locks.delete_enabled,
            tag: e.row.tag,
        })
        .collect();
    let probe = berth_core::Reference::Digest(berth_core::Digest::of(berth_core::Algorithm::Sha256, b""));
    let may_delete = allow(&st, &who, Endpoint::DeleteManifest { name: name.clone(), reference: probe }).is_ok();
    let may_lock = allow(&st, &who, Endpoint::UpdateRepository { name: name.clone() }).is_ok();
    render(&RepoPage { nav: who.nav(), name: name.to_string(), tags, next: listing.next, may_delete, may_lock })
}
