//! `berth import`, as `az acr import`: the registry copies an image from another registry
//! itself (the bytes never pass through this machine).

use super::{RegistryArg, show};
use crate::output::OutputArgs;
use anyhow::{Result, bail};
use berth_core::admin_api::{ImportRequest, ImportResult};
use clap::Args;
use reqwest::Method;

/// Flags of `berth import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The image upstream, e.g. docker.io/library/nginx:1.27 or ghcr.io/org/tool@sha256:….
    #[arg(long)]
    pub source: String,
    /// Where here, `REPOSITORY[:TAG]` (default: the source's repository and tag).
    #[arg(long)]
    pub image: Option<String>,
    /// A credential set to log in upstream with.
    #[arg(long, short = 'c', conflicts_with = "username")]
    pub credential_set: Option<String>,
    /// A username upstream, with --password-stdin.
    #[arg(long, short = 'u', requires = "password_stdin")]
    pub username: Option<String>,
    /// Read the upstream password from standard input.
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// Move the tag when it points at another image already.
    #[arg(long)]
    pub force: bool,
    /// Only this platform of a multi-platform image (os/arch[/variant]); the tag then
    /// points at that platform's image.
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub registry: RegistryArg,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// Asks the registry to import; prints what it stored.
pub fn run(args: ImportArgs) -> Result<()> {
    let password = args.password_stdin.then(super::read_password_stdin).transpose()?;
    if password.as_deref() == Some("") {
        bail!("standard input held no password");
    }
    let body = ImportRequest {
        source: args.source,
        image: args.image,
        credential_set: args.credential_set,
        username: args.username,
        password,
        force: args.force,
        platform: args.platform,
    };
    show::<ImportResult>(&args.registry, Method::POST, "import", Some(&body), &args.out)
}
