//! `berth sp federated-credential …`: a service principal's federated credentials, with the
//! flags `az ad app federated-credential` takes (`--id` is the application ID, display name or
//! `http://NAME`).

use super::{NO_BODY, RegistryArg, call, enc, show};
use crate::output::OutputArgs;
use anyhow::Result;
use berth_core::admin_api::{CreateFederatedCredential, FederatedCredentialView};
use clap::Subcommand;
use reqwest::Method;

/// `berth sp federated-credential …`.
#[derive(Subcommand)]
pub enum FederatedCredentialCommand {
    /// Trust tokens of an external issuer, for one subject and audience, as the principal's
    /// credential.
    Create {
        /// Application ID, display name or http://NAME.
        #[arg(long)]
        id: String,
        /// Unique per principal: 3 to 120 letters, digits, '-' or '_'.
        #[arg(long)]
        name: String,
        /// The token issuer, exactly as its `iss` (https://…, or http:// on a loopback host).
        #[arg(long)]
        issuer: String,
        /// The token subject, exactly as its `sub`.
        #[arg(long)]
        subject: String,
        /// An audience the token must carry.
        #[arg(long)]
        audience: String,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List a principal's federated credentials.
    List {
        /// Application ID, display name or http://NAME.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Show one federated credential.
    Show {
        /// Application ID, display name or http://NAME.
        #[arg(long)]
        id: String,
        /// The federated credential's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete one federated credential: the refresh tokens obtained through it stop working.
    Delete {
        /// Application ID, display name or http://NAME.
        #[arg(long)]
        id: String,
        /// The federated credential's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        registry: RegistryArg,
    },
}

/// The admin API path of `id`'s federated credentials, or of the one named `name`.
fn path(id: &str, name: Option<&str>) -> String {
    let all = format!("service-principals/{}/federated-credentials", enc(id));
    match name {
        Some(n) => format!("{all}/{}", enc(n)),
        None => all,
    }
}

/// `berth sp federated-credential …`.
pub fn run(cmd: FederatedCredentialCommand) -> Result<()> {
    match cmd {
        FederatedCredentialCommand::Create { id, name, issuer, subject, audience, description, registry, out } => {
            let body = CreateFederatedCredential { name, issuer, subject, audience, description };
            show::<FederatedCredentialView>(&registry, Method::POST, &path(&id, None), Some(&body), &out)
        }
        FederatedCredentialCommand::List { id, registry, out } => {
            show::<Vec<FederatedCredentialView>>(&registry, Method::GET, &path(&id, None), NO_BODY, &out)
        }
        FederatedCredentialCommand::Show { id, name, registry, out } => {
            show::<FederatedCredentialView>(&registry, Method::GET, &path(&id, Some(&name)), NO_BODY, &out)
        }
        FederatedCredentialCommand::Delete { id, name, registry } => {
            call(&registry, Method::DELETE, &path(&id, Some(&name)), None).map(|_| ())
        }
    }
}
