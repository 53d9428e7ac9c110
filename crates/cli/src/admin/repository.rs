//! `berth repository list|show-tags|show|update|delete|untag`, as `az acr repository`:
//! listings, attributes, locks and deletes through the registry API with the stored login.

use super::Admin;
use super::{RegistryArg, runtime};
use crate::output::{self, OutputArgs};
use anyhow::{Context, Result, bail};
use berth_client::registry::MANIFEST_ACCEPT;
use berth_core::{Reference, RepoName};
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;
use std::io::{BufRead, IsTerminal, Write};

/// `berth repository …`.
#[derive(Subcommand)]
pub enum RepositoryCommand {
    /// List the repositories the stored credentials may pull from.
    List {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List a repository's tags, in byte order.
    ShowTags {
        /// The repository, e.g. team/app.
        #[arg(long)]
        repository: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete a whole repository, or one image: its manifest and every tag pointing at it.
    /// The layers go at the next garbage collection, unless another image uses them.
    Delete {
        /// The whole repository, e.g. team/app; prints the manifests and tags deleted.
        #[arg(long, required_unless_present = "image", conflicts_with = "image")]
        repository: Option<String>,
        /// One image, as REPOSITORY:TAG or REPOSITORY@DIGEST.
        #[arg(long)]
        image: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long, short = 'y')]
        yes: bool,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Show a repository's or a tag's attributes, locks included.
    Show {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Lock or unlock a repository or a tag (ACR's image locking): with --write-enabled false
    /// nothing can be pushed to it, moved or deleted; with --delete-enabled false it cannot be
    /// deleted. Needs the delete permission (AcrDelete, Contributor or Owner).
    Update {
        #[command(flatten)]
        target: Target,
        /// Allow pushes, moves and deletes.
        #[arg(long, action = clap::ArgAction::Set)]
        write_enabled: Option<bool>,
        /// Allow deletes.
        #[arg(long, action = clap::ArgAction::Set)]
        delete_enabled: Option<bool>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Remove one tag; the image it named stays, under its digest and any other tags.
    Untag {
        /// The tag, as REPOSITORY:TAG.
        #[arg(long)]
        image: String,
        #[command(flatten)]
        registry: RegistryArg,
    },
}

/// A repository, or one tag of it.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct Target {
    /// The repository, e.g. team/app.
    #[arg(long)]
    repository: Option<String>,
    /// One tag, as REPOSITORY:TAG.
    #[arg(long)]
    image: Option<String>,
}

impl Target {
    /// The `/acr/v1/…` path of the repository or tag.
    fn path(&self) -> Result<String> {
        match (&self.repository, &self.image) {
            (Some(r), _) => Ok(format!("/acr/v1/{}", repo_name(r)?)),
            (None, Some(image)) => match image_ref(image)? {
                (name, Reference::Tag(tag)) => Ok(format!("/acr/v1/{name}/_tags/{tag}")),
                (_, Reference::Digest(_)) => {
                    bail!("{image:?} names a digest: Berth keeps locks on repositories and tags; name a tag")
                }
            },
            (None, None) => bail!("name a --repository or an --image"),
        }
    }
}

/// Runs a `berth repository` command.
pub fn run(cmd: RepositoryCommand) -> Result<()> {
    match cmd {
        RepositoryCommand::List { registry, out } => list(&registry, "_catalog".to_owned(), "repositories", &out),
        RepositoryCommand::ShowTags { repository, registry, out } => {
            let path = format!("{}/tags/list", repo_name(&repository)?.as_str());
            list(&registry, path, "tags", &out)
        }
        RepositoryCommand::Delete { repository: Some(repository), yes, registry, out, .. } => {
            let name = repo_name(&repository)?;
            confirm(yes, &format!("This deletes repository {name}: every image and tag in it."))?;
            let admin = Admin::connect(registry.registry.as_deref())?;
            let deleted = runtime()?.block_on(json(&admin, Method::DELETE, &format!("/acr/v1/{name}"), None))?;
            output::print(&deleted, &out)
        }
        RepositoryCommand::Delete { image, yes, registry, .. } => {
            let (name, reference) = image_ref(image.as_deref().unwrap_or_default())?;
            confirm(yes, &format!("This deletes image {name}:{reference} and every tag that points at it."))?;
            let admin = Admin::connect(registry.registry.as_deref())?;
            runtime()?.block_on(async {
                let digest = match reference {
                    Reference::Digest(d) => d.to_string(),
                    Reference::Tag(t) => {
                        let path = format!("/v2/{name}/manifests/{t}");
                        let r = admin.registry(Method::GET, &path, MANIFEST_ACCEPT).await?;
                        let digest = r.headers().get("docker-content-digest").and_then(|v| v.to_str().ok());
                        digest.context("the registry did not say which digest the tag names")?.to_owned()
                    }
                };
                admin.registry(Method::DELETE, &format!("/v2/{name}/manifests/{digest}"), MANIFEST_ACCEPT).await
            })?;
            Ok(())
        }
        RepositoryCommand::Show { target, registry, out } => {
            let path = target.path()?;
            let admin = Admin::connect(registry.registry.as_deref())?;
            output::print(&runtime()?.block_on(json(&admin, Method::GET, &path, None))?, &out)
        }
        RepositoryCommand::Update { target, write_enabled, delete_enabled, registry, out } => {
            let path = target.path()?;
            if write_enabled.is_none() && delete_enabled.is_none() {
                bail!("nothing to change: pass --write-enabled and/or --delete-enabled");
            }
            let mut change = serde_json::Map::new();
            for (key, v) in [("writeEnabled", write_enabled), ("deleteEnabled", delete_enabled)] {
                if let Some(v) = v {
                    change.insert(key.into(), Value::Bool(v));
                }
            }
            let admin = Admin::connect(registry.registry.as_deref())?;
            let now = runtime()?.block_on(json(&admin, Method::PATCH, &path, Some(Value::Object(change))))?;
            output::print(&now, &out)
        }
        RepositoryCommand::Untag { image, registry } => {
            let (name, reference) = image_ref(&image)?;
            let Reference::Tag(tag) = reference else {
                bail!("{image:?} names a digest: untag takes REPOSITORY:TAG (delete an image with `--image R@DIGEST`)");
            };
            let admin = Admin::connect(registry.registry.as_deref())?;
            let path = format!("/v2/{name}/manifests/{tag}");
            runtime()?.block_on(admin.registry(Method::DELETE, &path, MANIFEST_ACCEPT))?;
            Ok(())
        }
    }
}

/// Sends a request to an `/acr/v1/…` path; the JSON answer.
async fn json(admin: &Admin, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
    let r = admin.registry_json(method, path, body).await?;
    r.json().await.context("the registry answered with something other than JSON")
}

fn list(registry: &RegistryArg, path: String, key: &str, out: &OutputArgs) -> Result<()> {
    let admin = Admin::connect(registry.registry.as_deref())?;
    let items = runtime()?.block_on(admin.list(&path, key))?;
    output::print(&Value::Array(items), out)
}

fn repo_name(s: &str) -> Result<RepoName> {
    RepoName::parse(s).ok().with_context(|| format!("{s:?} is not a repository name (lowercase, e.g. team/app)"))
}

/// `REPOSITORY:TAG` or `REPOSITORY@DIGEST`.
fn image_ref(s: &str) -> Result<(RepoName, Reference)> {
    let split = s.split_once('@').or_else(|| s.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')));
    let Some((repo, reference)) = split else {
        bail!("{s:?} names no tag or digest: write REPOSITORY:TAG or REPOSITORY@DIGEST");
    };
    let reference = Reference::parse(reference)
        .ok()
        .with_context(|| format!("{reference:?} in {s:?} is neither a tag nor a digest"))?;
    Ok((repo_name(repo)?, reference))
}

/// Asks on the terminal unless `yes`; without a terminal to ask on, `--yes` is required.
fn confirm(yes: bool, what: &str) -> Result<()> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("{what} Pass --yes to confirm (no terminal to ask on).");
    }
    eprint!("{what} Are you sure you want to continue? (y/n): ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") { Ok(()) } else { bail!("not deleted") }
}

#[cfg(test)]
mod tests {
    #[test]
    fn image_references() {
        let ok = |s: &str| super::image_ref(s).map(|(n, r)| format!("{n} {r}")).unwrap();
        assert_eq!(ok("team/app:v1"), "team/app v1");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(ok(&format!("team/app@{d}")), format!("team/app {d}"));
        for bad in ["team/app", "Team/app:v1", "team/app@sha256:nope", "team/app:", "host:5000/app"] {
            assert!(super::image_ref(bad).is_err(), "{bad}");
        }
    }
}
