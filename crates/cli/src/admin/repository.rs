//! `berth repository list|show-tags`, as `az acr repository list|show-tags`: listings through
//! the registry API with the stored login, every page followed.

use super::Admin;
use super::commands::{RegistryArg, runtime};
use crate::output::{self, OutputArgs};
use anyhow::{Context, Result};
use berth_core::RepoName;
use clap::Subcommand;
use serde_json::Value;

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
}

/// Runs a `berth repository` command.
pub fn run(cmd: RepositoryCommand) -> Result<()> {
    let (path, key, registry, out) = match cmd {
        RepositoryCommand::List { registry, out } => ("_catalog".to_owned(), "repositories", registry, out),
        RepositoryCommand::ShowTags { repository, registry, out } => {
            let name = RepoName::parse(&repository)
                .ok()
                .with_context(|| format!("{repository:?} is not a repository name (lowercase, e.g. team/app)"))?;
            (format!("{}/tags/list", name.as_str()), "tags", registry, out)
        }
    };
    let admin = Admin::connect(registry.registry.as_deref())?;
    let items = runtime()?.block_on(admin.list(&path, key))?;
    output::print(&Value::Array(items), &out)
}
