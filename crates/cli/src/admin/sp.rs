//! `berth sp …`: service principals and their credentials, with the flags `az ad sp` takes;
//! their federated credentials are in [`super::federation`].

use super::federation::FederatedCredentialCommand;
use super::{NO_BODY, RegistryArg, call, enc, show};
use crate::output::OutputArgs;
use anyhow::Result;
use berth_core::admin_api::{
    CreateServicePrincipal, PasswordCredential, ResetCredential, ServicePrincipalDetail, ServicePrincipalSecret,
    ServicePrincipalSummary,
};
use clap::Subcommand;
use reqwest::Method;

/// `berth sp …`.
#[derive(Subcommand)]
pub enum SpCommand {
    /// Create a service principal (or rotate its secret) and optionally assign a role.
    CreateForRbac {
        /// Display name.
        #[arg(long, short = 'n')]
        name: String,
        /// Role to assign (acrpull, acrpush, acrdelete, reader, contributor, owner).
        #[arg(long, requires = "scopes")]
        role: Option<String>,
        /// Scope of the role: `/`, `repositories/NAME` or `repositories/PREFIX/*`.
        #[arg(long, requires = "role")]
        scopes: Option<String>,
        /// Years the secret is valid (default 1).
        #[arg(long)]
        years: Option<u32>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List service principals.
    List {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Show a service principal with its credentials and roles.
    Show {
        /// Application ID, display name or http://NAME.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete a service principal.
    Delete {
        /// Application ID, display name or http://NAME.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        registry: RegistryArg,
    },
    /// Manage credentials.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Manage federated credentials: tokens of an external issuer (GitHub Actions, a
    /// Kubernetes cluster) accepted as the principal's credential.
    #[command(subcommand)]
    FederatedCredential(FederatedCredentialCommand),
}

/// `berth sp credential …`.
#[derive(Subcommand)]
pub enum CredentialCommand {
    /// Issue a new secret; without --append every earlier secret stops working at once.
    Reset {
        /// Application ID, display name or http://NAME.
        #[arg(long, short = 'n')]
        name: String,
        /// Keep the existing secrets.
        #[arg(long)]
        append: bool,
        /// Years the secret is valid (default 1).
        #[arg(long, conflicts_with = "end_date")]
        years: Option<u32>,
        /// Last day of validity, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ.
        #[arg(long)]
        end_date: Option<String>,
        /// A name for the credential.
        #[arg(long)]
        display_name: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List a principal's credentials (key IDs and validity, never secrets).
    List {
        /// Application ID, display name or http://NAME.
        #[arg(long)]
        id: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete one credential, keeping the others (after `reset --append` has given the
    /// clients a new one): its secret stops working at once.
    Delete {
        /// Application ID, display name or http://NAME.
        #[arg(long)]
        id: String,
        /// The credential's key ID (`berth sp credential list`).
        #[arg(long)]
        key_id: String,
        #[command(flatten)]
        registry: RegistryArg,
    },
}

/// `berth sp …`.
pub fn run(cmd: SpCommand) -> Result<()> {
    match cmd {
        SpCommand::CreateForRbac { name, role, scopes, years, registry, out } => {
            let body = CreateServicePrincipal { name, role, scopes, years };
            show::<ServicePrincipalSecret>(&registry, Method::POST, "service-principals", Some(&body), &out)
        }
        SpCommand::List { registry, out } => {
            show::<Vec<ServicePrincipalSummary>>(&registry, Method::GET, "service-principals", NO_BODY, &out)
        }
        SpCommand::Show { id, registry, out } => {
            let path = format!("service-principals/{}", enc(&id));
            show::<ServicePrincipalDetail>(&registry, Method::GET, &path, NO_BODY, &out)
        }
        SpCommand::Delete { id, registry } => {
            call(&registry, Method::DELETE, &format!("service-principals/{}", enc(&id)), None).map(|_| ())
        }
        SpCommand::Credential(CredentialCommand::Reset {
            name,
            append,
            years,
            end_date,
            display_name,
            registry,
            out,
        }) => {
            let body = ResetCredential { append, years, end_date, display_name };
            let path = format!("service-principals/{}/credential-reset", enc(&name));
            show::<ServicePrincipalSecret>(&registry, Method::POST, &path, Some(&body), &out)
        }
        SpCommand::Credential(CredentialCommand::List { id, registry, out }) => {
            let path = format!("service-principals/{}/credentials", enc(&id));
            show::<Vec<PasswordCredential>>(&registry, Method::GET, &path, NO_BODY, &out)
        }
        SpCommand::Credential(CredentialCommand::Delete { id, key_id, registry }) => {
            let path = format!("service-principals/{}/credentials/{}", enc(&id), enc(&key_id));
            call(&registry, Method::DELETE, &path, None).map(|_| ())
        }
        SpCommand::FederatedCredential(cmd) => super::federation::run(cmd),
    }
}
