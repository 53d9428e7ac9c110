//! Pulling a pod's images as the kubelet does (`kuberuntime_image.go: EnsureImageExists`):
//! the pull policy decides whether to ask the registry at all; every credential the keyring
//! matches is tried in order until one pull succeeds; with none, one anonymous pull.
//!
//! Two runtimes: a real container runtime over CRI (`ImageStatus`, then `PullImage` with the
//! credential), or Berth's own client pulling into an OCI image layout (`--store`).

use crate::cri::{AuthConfig, ImageService};
use crate::keyring::Credential;
use crate::objects::{Container, PullPolicy, Workload};
use crate::podauth::PodCredentials;
use berth_client::auth::{Credentials, Session};
use berth_client::copy::{CopyOptions, End, copy};
use berth_client::endpoint::api_base;
use berth_client::layout::{Layout, REF_NAME};
use berth_client::reference::ImageRef;
use berth_client::registry::Repository;
use std::collections::HashMap;

/// What happened to one container's image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Pulled; the runtime's image reference.
    Pulled(String),
    /// Already on the node and the policy let it be.
    Present,
    /// Not pulled, with the cause.
    Failed(String),
}

/// One container's line of the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The workload it belongs to.
    pub origin: String,
    /// `init`, `container` or `ephemeral`.
    pub kind: &'static str,
    /// The container's name.
    pub container: String,
    /// The image as written.
    pub image: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Where images go.
pub enum Runtime {
    /// A container runtime's CRI image service.
    Cri(ImageService),
    /// An OCI image layout filled by Berth's client, with the HTTP client to reach registries
    /// and how to copy (platform, parallelism, progress).
    Store {
        /// The layout.
        layout: Layout,
        /// The HTTP client (TLS settings included).
        http: reqwest::Client,
        /// Platform, parallel transfers, progress observer.
        options: CopyOptions,
        /// API bases found so far, by registry host: a loopback registry is probed for TLS
        /// once per run, not once per container.
        bases: HashMap<String, String>,
    },
}

/// The image as the kubelet hands it to the runtime: as written, `:latest` added when it
/// names neither tag nor digest (`applyDefaultImageTag`).
pub fn runtime_image(c: &Container) -> String {
    let written = c.image.as_str();
    let last = written.rsplit('/').next().unwrap_or(written);
    if written.contains('@') || last.contains(':') { written.to_owned() } else { format!("{written}:latest") }
}

/// The name an image carries in a store layout: its normalised reference.
fn store_name(r: &ImageRef) -> String {
    r.to_string()
}

impl Runtime {
    /// Whether the image is already there.
    pub async fn present(&mut self, c: &Container) -> Result<bool, String> {
        match self {
            Runtime::Cri(cri) => {
                cri.image_status(&runtime_image(c)).await.map(|i| i.is_some()).map_err(|e| e.to_string())
            }
            Runtime::Store { layout, .. } => {
                let name = store_name(&c.reference);
                let entries = layout.entries().map_err(|e| e.to_string())?;
                Ok(entries.iter().any(|e| e.descriptor["annotations"][REF_NAME] == name.as_str()))
            }
        }
    }

    /// One pull attempt with `credential` (anonymous when `None`); the image reference.
    pub async fn pull(&mut self, c: &Container, credential: Option<&Credential>) -> Result<String, String> {
        match self {
            Runtime::Cri(cri) => {
                let auth =
                    credential.map(|k| AuthConfig { username: k.username.clone(), password: k.password.clone() });
                cri.pull_image(&runtime_image(c), auth).await.map_err(|e| e.to_string())
            }
            Runtime::Store { layout, http, options, bases } => {
                let credentials = match credential {
                    Some(k) if !(k.username.is_empty() && k.password.is_empty()) => {
                        Credentials::Basic { username: k.username.clone(), password: k.password.clone() }
                    }
                    _ => Credentials::Anonymous,
                };
                let session = Session::new(http.clone(), credentials);
                let r = &c.reference;
                let base = match bases.get(r.api_host()) {
                    Some(base) => base.clone(),
                    None => {
                        let base = api_base(http, r).await;
                        bases.insert(r.api_host().to_owned(), base.clone());
                        base
                    }
                };
                let src = End::Registry(Repository::new(&session, &base, r.repository.as_str()), r.reference());
                let dst = End::Layout(layout.clone(), Some(store_name(r)));
                copy(&src, &dst, options).await.map(|d| d.to_string()).map_err(|e| e.to_string())
            }
        }
    }
}

/// Ensures every container image of `w` as the kubelet would, with `creds` for the pod.
pub async fn pull_workload(runtime: &mut Runtime, w: &Workload, creds: &PodCredentials) -> Vec<Report> {
    let mut out = Vec::new();
    for c in &w.containers {
        let outcome = ensure(runtime, c, creds).await;
        out.push(Report {
            origin: w.origin.clone(),
            kind: c.kind,
            container: c.name.clone(),
            image: c.image.clone(),
            outcome,
        });
    }
    out
}

async fn ensure(runtime: &mut Runtime, c: &Container, creds: &PodCredentials) -> Outcome {
    let present = match runtime.present(c).await {
        Ok(p) => p,
        Err(e) => return Outcome::Failed(format!("cannot ask the runtime about the image: {e}")),
    };
    match c.policy {
        PullPolicy::Never if present => return Outcome::Present,
        PullPolicy::Never => {
            return Outcome::Failed(
                "the image is not present and imagePullPolicy is Never (ErrImageNeverPull)".to_owned(),
            );
        }
        PullPolicy::IfNotPresent if present => return Outcome::Present,
        _ => {}
    }
    if let Some(e) = &creds.error {
        return Outcome::Failed(e.clone());
    }
    let repository = format!("{}/{}", c.reference.registry, c.reference.repository);
    let matched = creds.keyring.lookup(&repository);
    if matched.is_empty() {
        return match runtime.pull(c, None).await {
            Ok(r) => Outcome::Pulled(r),
            Err(e) => Outcome::Failed(format!("anonymous pull (no pull secret matches {repository}): {e}")),
        };
    }
    let mut errors = Vec::new();
    for k in matched {
        match runtime.pull(c, Some(k)).await {
            Ok(r) => return Outcome::Pulled(r),
            Err(e) => errors.push(format!("with {} (user {:?}): {e}", k.source, k.username)),
        }
    }
    Outcome::Failed(errors.join("; "))
}
