//! `berth registry …`: the registry's settings and its admin user, as `az acr update` and
//! `az acr credential` take them.

use super::{NO_BODY, RegistryArg, show};
use crate::output::OutputArgs;
use anyhow::Result;
use berth_core::admin_api::{AdminCredentials, CredentialRenew, RegistryUpdate, RegistryView};
use clap::Subcommand;
use reqwest::Method;

/// `berth registry …`.
#[derive(Subcommand)]
pub enum RegistryCommand {
    /// The admin user's passwords.
    #[command(subcommand)]
    Credential(AdminCredentialCommand),
    /// Show the registry's settings.
    Show {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Change settings, as `az acr update` takes them. Enabling the admin user the first
    /// time prints its two passwords, once.
    Update {
        /// Allow pulls without credentials.
        #[arg(long)]
        anonymous_pull_enabled: Option<bool>,
        /// The admin user (username `admin`; pull and push everywhere).
        #[arg(long)]
        admin_enabled: Option<bool>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `berth registry credential …`.
#[derive(Subcommand)]
pub enum AdminCredentialCommand {
    /// Replace one of the admin user's passwords; prints the new one, once.
    Renew {
        /// `password` or `password2`.
        #[arg(long, value_parser = ["password", "password2"])]
        password_name: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// `berth registry …`.
pub fn run(cmd: RegistryCommand) -> Result<()> {
    match cmd {
        RegistryCommand::Credential(AdminCredentialCommand::Renew { password_name, registry, out }) => {
            let body = CredentialRenew { password_name };
            show::<AdminCredentials>(&registry, Method::POST, "registry/credential-renew", Some(&body), &out)
        }
        RegistryCommand::Show { registry, out } => {
            show::<RegistryView>(&registry, Method::GET, "registry", NO_BODY, &out)
        }
        RegistryCommand::Update { anonymous_pull_enabled, admin_enabled, registry, out } => {
            let body = RegistryUpdate { anonymous_pull_enabled, admin_user_enabled: admin_enabled };
            show::<RegistryView>(&registry, Method::PATCH, "registry", Some(&body), &out)
        }
    }
}
