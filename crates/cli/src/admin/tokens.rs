//! `berth token …` and `berth scope-map …`: repository-scoped tokens, as `az acr token` and
//! `az acr scope-map` manage them.

use super::{NO_BODY, RegistryArg, call, enc, show};
use crate::output::OutputArgs;
use anyhow::Result;
use berth_core::admin_api::{
    ScopeMapRequest, ScopeMapView, TokenCredentialRequest, TokenCredentials, TokenRequest, TokenView,
};
use berth_core::scopemap::{ScopeAction, rules_for};
use clap::Subcommand;
use reqwest::Method;

/// `--repository REPO ACTION [ACTION…]`, repeatable, as rule strings. clap hands the values of
/// every occurrence over as one list; a value that is not an action starts the next group.
fn actions(values: &[String]) -> Result<Vec<String>> {
    let mut groups: Vec<(&str, Vec<String>)> = Vec::new();
    for v in values {
        match (v.parse::<ScopeAction>(), groups.last_mut()) {
            (Ok(_), Some((_, acts))) => acts.push(v.clone()),
            (Ok(_), None) => anyhow::bail!("--repository takes a repository before its actions, not {v:?}"),
            (Err(_), _) => groups.push((v, Vec::new())),
        }
    }
    let mut out = Vec::new();
    for (repo, acts) in groups {
        if acts.is_empty() {
            anyhow::bail!(
                "--repository {repo} needs at least one action (content/read, content/write, content/delete, metadata/read, metadata/write)"
            );
        }
        out.extend(rules_for(repo, &acts).map_err(anyhow::Error::msg)?.iter().map(ToString::to_string));
    }
    Ok(out)
}

/// `berth scope-map …`.
#[derive(Subcommand)]
pub enum ScopeMapCommand {
    /// Create a scope map.
    Create {
        /// Name (5 to 50 letters, digits or '-').
        #[arg(long, short = 'n')]
        name: String,
        /// A repository (name, prefix/* or *) and its actions: content/read, content/write,
        /// content/delete, metadata/read, metadata/write. Repeatable.
        #[arg(long = "repository", num_args = 2.., value_names = ["REPO", "ACTION"], action = clap::ArgAction::Append, required = true)]
        repository: Vec<String>,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Add or remove rules; the change applies at once to every token using the map.
    Update {
        /// Name.
        #[arg(long, short = 'n')]
        name: String,
        /// Rules to add, as for create.
        #[arg(long = "add-repository", num_args = 2.., value_names = ["REPO", "ACTION"], action = clap::ArgAction::Append)]
        add_repository: Vec<String>,
        /// Rules to remove.
        #[arg(long = "remove-repository", num_args = 2.., value_names = ["REPO", "ACTION"], action = clap::ArgAction::Append)]
        remove_repository: Vec<String>,
        /// Free text.
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List scope maps (built-in ones included).
    List {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Show a scope map.
    Show {
        /// Name.
        #[arg(long, short = 'n')]
        name: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete a scope map no token uses.
    Delete {
        /// Name.
        #[arg(long, short = 'n')]
        name: String,
        #[command(flatten)]
        registry: RegistryArg,
    },
}

/// `berth token …`.
#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token with two passwords (shown once).
    Create {
        /// Name, the username the token presents.
        #[arg(long, short = 'n')]
        name: String,
        /// An existing scope map (or use --repository).
        #[arg(long, conflicts_with = "repository")]
        scope_map: Option<String>,
        /// A repository and its actions, creating the scope map NAME-scope-map. Repeatable.
        #[arg(long = "repository", num_args = 2.., value_names = ["REPO", "ACTION"], action = clap::ArgAction::Append)]
        repository: Vec<String>,
        /// enabled or disabled.
        #[arg(long, value_parser = ["enabled", "disabled"])]
        status: Option<String>,
        /// Days until the passwords expire (default: never).
        #[arg(long)]
        expiration_in_days: Option<u32>,
        /// Create no passwords (generate them later).
        #[arg(long)]
        no_passwords: bool,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List tokens.
    List {
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Show a token.
    Show {
        /// Name.
        #[arg(long, short = 'n')]
        name: String,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Change a token's status or scope map.
    Update {
        /// Name.
        #[arg(long, short = 'n')]
        name: String,
        /// enabled or disabled.
        #[arg(long, value_parser = ["enabled", "disabled"])]
        status: Option<String>,
        /// Another scope map.
        #[arg(long)]
        scope_map: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete a token; its passwords stop working at once.
    Delete {
        /// Name.
        #[arg(long, short = 'n')]
        name: String,
        #[command(flatten)]
        registry: RegistryArg,
    },
    /// Manage passwords.
    #[command(subcommand)]
    Credential(TokenCredentialCommand),
}

/// `berth token credential …`.
#[derive(Subcommand)]
pub enum TokenCredentialCommand {
    /// Generate password1 and/or password2 (both when neither is named).
    Generate {
        /// Token name.
        #[arg(long, short = 'n')]
        name: String,
        /// Regenerate password1.
        #[arg(long)]
        password1: bool,
        /// Regenerate password2.
        #[arg(long)]
        password2: bool,
        /// Days until the new passwords expire (default: never).
        #[arg(long)]
        expiration_in_days: Option<u32>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
}

/// Runs a scope-map command.
pub fn scope_map(cmd: ScopeMapCommand) -> Result<()> {
    match cmd {
        ScopeMapCommand::Create { name, repository, description, registry, out } => {
            let body = ScopeMapRequest {
                name: Some(name),
                description,
                actions: actions(&repository)?,
                add_actions: Vec::new(),
                remove_actions: Vec::new(),
            };
            show::<ScopeMapView>(&registry, Method::POST, "scope-maps", Some(&body), &out)
        }
        ScopeMapCommand::Update { name, add_repository, remove_repository, description, registry, out } => {
            let body = ScopeMapRequest {
                name: None,
                description,
                actions: Vec::new(),
                add_actions: actions(&add_repository)?,
                remove_actions: actions(&remove_repository)?,
            };
            show::<ScopeMapView>(&registry, Method::PATCH, &format!("scope-maps/{}", enc(&name)), Some(&body), &out)
        }
        ScopeMapCommand::List { registry, out } => {
            show::<Vec<ScopeMapView>>(&registry, Method::GET, "scope-maps", NO_BODY, &out)
        }
        ScopeMapCommand::Show { name, registry, out } => {
            show::<ScopeMapView>(&registry, Method::GET, &format!("scope-maps/{}", enc(&name)), NO_BODY, &out)
        }
        ScopeMapCommand::Delete { name, registry } => {
            call(&registry, Method::DELETE, &format!("scope-maps/{}", enc(&name)), None).map(|_| ())
        }
    }
}

/// Runs a token command.
pub fn token(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create {
            name,
            scope_map,
            repository,
            status,
            expiration_in_days,
            no_passwords,
            registry,
            out,
        } => {
            let body = TokenRequest {
                name: Some(name),
                scope_map,
                actions: actions(&repository)?,
                status,
                no_passwords,
                expiration_in_days,
            };
            show::<TokenView>(&registry, Method::POST, "tokens", Some(&body), &out)
        }
        TokenCommand::List { registry, out } => show::<Vec<TokenView>>(&registry, Method::GET, "tokens", NO_BODY, &out),
        TokenCommand::Show { name, registry, out } => {
            show::<TokenView>(&registry, Method::GET, &format!("tokens/{}", enc(&name)), NO_BODY, &out)
        }
        TokenCommand::Update { name, status, scope_map, registry, out } => {
            let body = TokenRequest {
                name: None,
                scope_map,
                actions: Vec::new(),
                status,
                no_passwords: false,
                expiration_in_days: None,
            };
            show::<TokenView>(&registry, Method::PATCH, &format!("tokens/{}", enc(&name)), Some(&body), &out)
        }
        TokenCommand::Delete { name, registry } => {
            call(&registry, Method::DELETE, &format!("tokens/{}", enc(&name)), None).map(|_| ())
        }
        TokenCommand::Credential(TokenCredentialCommand::Generate {
            name,
            password1,
            password2,
            expiration_in_days,
            registry,
            out,
        }) => {
            let body = TokenCredentialRequest { password1, password2, expiration_in_days };
            let path = format!("tokens/{}/credentials", enc(&name));
            show::<TokenCredentials>(&registry, Method::POST, &path, Some(&body), &out)
        }
    }
}
