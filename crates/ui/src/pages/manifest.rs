//! `GET /ui/manifest?name=R&digest=D`: one manifest: its tags, the platforms of an index (each
//! a link to its image), an image's layers and config (os/arch, created, entrypoint, command,
//! labels, history), and the referrers (signatures, SBOMs, attestations) grouped under it.

use super::{Params, allow};
use crate::error::UiError;
use crate::format::{Nav, render, short, size};
use crate::session::viewer;
use askama::Template;
use axum::extract::{Request, State};
use axum::response::Response;
use berth_core::browse::Described;
use berth_core::{Digest, Reference};
use berth_server::AppState;
use berth_server::endpoint::Endpoint;
use serde_json::Value;
use std::sync::Arc;

/// A row of a descriptor table (a layer, a platform image, a referrer).
pub struct Row {
    digest: String,
    short: String,
    media_type: String,
    size: String,
    /// Platform of an index entry, artifact type of a referrer.
    what: String,
    /// Annotations of a referrer, `key=value`.
    notes: Vec<String>,
    /// Whether the repository holds it (a link to its page).
    held: bool,
}

/// What an image's config tells.
#[derive(Default)]
pub struct ConfigView {
    platform: String,
    created: String,
    entrypoint: String,
    cmd: String,
    labels: Vec<(String, String)>,
    history: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "manifest.html")]
struct ManifestPage {
    nav: Nav,
    name: String,
    digest: String,
    media_type: String,
    size: String,
    tags: Vec<String>,
    pull: String,
    platforms: Vec<Row>,
    layers: Vec<Row>,
    config: Option<ConfigView>,
    referrers: Vec<Row>,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(text).collect::<Vec<_>>().join(" "),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn config_view(c: &Value) -> ConfigView {
    let inner = &c["config"];
    let mut platform = format!("{}/{}", text(&c["os"]), text(&c["architecture"]));
    if let Some(v) = c["variant"].as_str() {
        platform.push('/');
        platform.push_str(v);
    }
    let labels = inner["Labels"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), text(v))).collect());
    let history = c["history"]
        .as_array()
        .map(|h| h.iter().take(200).map(|e| (text(&e["created"]), text(&e["created_by"]))).collect::<Vec<_>>());
    ConfigView {
        platform,
        created: text(&c["created"]),
        entrypoint: text(&inner["Entrypoint"]),
        cmd: text(&inner["Cmd"]),
        labels: labels.unwrap_or_default(),
        history: history.unwrap_or_default(),
    }
}

fn annotations(json: Option<&str>) -> Vec<String> {
    let v: Option<serde_json::Map<String, Value>> = json.and_then(|j| serde_json::from_str(j).ok());
    v.map(|m| m.iter().take(50).map(|(k, v)| format!("{k}={}", text(v))).collect()).unwrap_or_default()
}

/// The handler.
pub async fn show(State(st): State<Arc<AppState>>, req: Request) -> Result<Response, UiError> {
    let who = viewer(&st, req.headers()).await?;
    let params = Params::of(req.uri());
    let name = params.repo()?;
    let raw = params.get("digest").unwrap_or("");
    let digest = Digest::parse(raw).map_err(|_| UiError::BadRequest(format!("{raw:?} is not a digest")))?;
    let reference = Reference::Digest(digest.clone());
    allow(&st, &who, Endpoint::GetManifest { name: name.clone(), reference, head: false })?;
    let d = st.registry.manifest_detail(&name, &digest).await?;
    let platforms = d
        .children
        .iter()
        .map(|c| Row {
            short: short(&c.descriptor.digest),
            digest: c.descriptor.digest.clone(),
            media_type: c.descriptor.media_type.clone(),
            size: c.described.as_ref().map(|x| size(x.image_size())).unwrap_or_default(),
            what: c
                .descriptor
                .platform
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| c.descriptor.artifact_type.clone())
                .unwrap_or_default(),
            notes: Vec::new(),
            held: c.described.is_some(),
        })
        .collect();
    let layers = match &d.described {
        Described::Image { layers, .. } => layers
            .iter()
            .map(|l| Row {
                short: short(&l.digest),
                digest: l.digest.clone(),
                media_type: l.media_type.clone(),
                size: size(l.size),
                what: String::new(),
                notes: Vec::new(),
                held: false,
            })
            .collect(),
        Described::Index { .. } => Vec::new(),
    };
    let referrers = d
        .referrers
        .iter()
        .map(|r| Row {
            short: short(&r.digest.to_string()),
            digest: r.digest.to_string(),
            media_type: r.media_type.clone(),
            size: size(r.size),
            what: r.artifact_type.clone().unwrap_or_default(),
            notes: annotations(r.annotations.as_deref()),
            held: true,
        })
        .collect();
    let page = ManifestPage {
        nav: who.nav(),
        pull: format!("{}/{name}@{digest}", st.challenge.service),
        name: name.to_string(),
        digest: digest.to_string(),
        media_type: d.record.media_type.clone(),
        size: size(d.size),
        tags: d.tags,
        platforms,
        layers,
        config: d.config.as_ref().map(config_view),
        referrers,
    };
    render(&page)
}
