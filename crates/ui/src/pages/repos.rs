//! `GET /ui/` (and `?q=` to search, `?after=` for the next page): the repositories the viewer
//! may pull, with tag and manifest counts, last push, and compressed storage split into bytes
//! only this repository holds and bytes it shares with others.

use super::{Params, allow};
use crate::error::UiError;
use crate::format::{Nav, render, size, time};
use crate::session::viewer;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use berth_core::RepoName;
use berth_server::AppState;
use berth_server::endpoint::Endpoint;
use std::sync::Arc;

/// Repositories per page.
pub const PAGE: usize = 100;
/// Names looked at per request at most, so a viewer who may see few of many repositories
/// still gets an answer quickly (a "more" link continues the scan).
const SCAN: usize = 5000;

/// One row.
pub struct RepoRow {
    name: String,
    tags: u64,
    manifests: u64,
    last_push: String,
    unique: String,
    shared: String,
    unique_bytes: u64,
    shared_bytes: u64,
}

#[derive(Template)]
#[template(path = "repos.html")]
struct ReposPage {
    nav: Nav,
    q: String,
    rows: Vec<RepoRow>,
    next: Option<String>,
}

/// The handler.
pub async fn list(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    let params = Params::of(req.uri());
    let q = params.get("q").map(|q| q.trim().to_lowercase()).unwrap_or_default();
    let mut cursor = params.get("after").map(str::to_owned);
    let mut visible = Vec::new();
    let mut scanned = 0;
    let mut next = None;
    loop {
        let batch = st.registry.repo_names(cursor.as_deref(), Some(&q), 500).await?;
        let exhausted = batch.len() < 500;
        for name in batch {
            scanned += 1;
            let may =
                RepoName::parse(&name).is_ok_and(|n| allow(&st, &who, Endpoint::ShowRepository { name: n }).is_ok());
            if may {
                if visible.len() == PAGE {
                    next = cursor.clone();
                    break;
                }
                visible.push(name.clone());
            }
            cursor = Some(name);
        }
        if next.is_some() || exhausted {
            break;
        }
        if scanned >= SCAN {
            next = cursor.clone();
            break;
        }
    }
    let rows = st
        .registry
        .repo_summaries(&visible)
        .await?
        .into_iter()
        .map(|s| RepoRow {
            tags: s.tag_count,
            manifests: s.manifest_count,
            last_push: s.last_push.map(time).unwrap_or_default(),
            unique: size(s.unique_bytes),
            shared: size(s.shared_bytes),
            unique_bytes: s.unique_bytes,
            shared_bytes: s.shared_bytes,
            name: s.name,
        })
        .collect();
    render(&ReposPage { nav: who.nav(), q, rows, next })
}
