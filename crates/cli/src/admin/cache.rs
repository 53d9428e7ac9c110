//! `berth credential-set …` and `berth cache …`: the pull-through cache's upstream logins and
//! rules, as `az acr credential-set` and `az acr cache` manage them. A password is read from
//! standard input only and is never printed: the server answers with `hasPassword`.

use super::{NO_BODY, RegistryArg, call, enc, read_password_stdin, show};
use crate::output::OutputArgs;
use anyhow::Result;
use berth_core::admin_api::{
    CacheRuleView, CreateCacheRule, CreateCredentialSet, CredentialSetView, UpdateCacheRule, UpdateCredentialSet,
};
use clap::{Args, Subcommand};
use reqwest::Method;

/// `list`: where, and how to print.
#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    registry: RegistryArg,
    #[command(flatten)]
    out: OutputArgs,
}

/// `show -n NAME`.
#[derive(Args)]
pub struct ShowArgs {
    /// Name.
    #[arg(long, short = 'n')]
    name: String,
    #[command(flatten)]
    registry: RegistryArg,
    #[command(flatten)]
    out: OutputArgs,
}

/// `delete -n NAME`.
#[derive(Args)]
pub struct DeleteArgs {
    /// Name.
    #[arg(long, short = 'n')]
    name: String,
    #[command(flatten)]
    registry: RegistryArg,
}

/// `berth credential-set …`.
#[derive(Subcommand)]
pub enum CredentialSetCommand {
    /// Create a login to an upstream registry (anonymous without --username).
    Create {
        /// Name (1 to 50 letters, digits, '-' and '_').
        #[arg(long, short = 'n')]
        name: String,
        /// The upstream registry: docker.io, ghcr.io, HOST:PORT (no scheme).
        #[arg(long, short = 'l')]
        login_server: String,
        /// Username upstream (with --password-stdin).
        #[arg(long, short = 'u', requires = "password_stdin")]
        username: Option<String>,
        /// Read the upstream password (or access token) from standard input.
        #[arg(long, requires = "username")]
        password_stdin: bool,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List credential sets (never their passwords).
    List(ListArgs),
    /// Show a credential set (never its password).
    Show(ShowArgs),
    /// Change a credential set's username, password or login server.
    Update {
        /// Name.
        #[arg(long, short = 'n')]
        name: String,
        /// A new username upstream.
        #[arg(long, short = 'u')]
        username: Option<String>,
        /// Read a new password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// A new upstream registry (every rule using the set must cache it).
        #[arg(long, short = 'l')]
        login_server: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete a credential set no cache rule uses.
    Delete(DeleteArgs),
}

/// `berth cache …`.
#[derive(Subcommand)]
pub enum CacheCommand {
    /// Create a cache rule: pulls of TARGET are filled from SOURCE upstream.
    Create {
        /// Name (1 to 50 letters, digits, '-' and '_').
        #[arg(long, short = 'n')]
        name: String,
        /// The upstream repository, or a wildcard: docker.io/library/nginx, docker.io/*, ghcr.io/org/*.
        #[arg(long, short = 's')]
        source: String,
        /// The repository here (a wildcard for a wildcard source): nginx, hub/*.
        #[arg(long, short = 't')]
        target: String,
        /// The credential set to log in upstream with (anonymous without).
        #[arg(long, short = 'c')]
        credential_set: Option<String>,
        /// Let clients push into the target repositories too.
        #[arg(long)]
        allow_push: bool,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List cache rules.
    List(ListArgs),
    /// Show a cache rule.
    Show(ShowArgs),
    /// Change a cache rule's credential set or whether clients may push.
    Update {
        /// Name.
        #[arg(long, short = 'n')]
        name: String,
        /// Another credential set.
        #[arg(long, short = 'c', conflicts_with = "remove_credential_set")]
        credential_set: Option<String>,
        /// Pull anonymously from now on.
        #[arg(long)]
        remove_credential_set: bool,
        /// Whether clients may push into the target repositories: true or false.
        #[arg(long)]
        allow_push: Option<bool>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Delete a cache rule; the repositories it filled stay, as ordinary repositories.
    Delete(DeleteArgs),
}

fn delete(a: &DeleteArgs, path: &str) -> Result<()> {
    call(&a.registry, Method::DELETE, path, None).map(|_| ())
}

fn password(from_stdin: bool) -> Result<Option<String>> {
    from_stdin.then(read_password_stdin).transpose()
}

/// Runs a credential-set command.
pub fn credential_set(cmd: CredentialSetCommand) -> Result<()> {
    let path = |name: &str| format!("credential-sets/{}", enc(name));
    match cmd {
        CredentialSetCommand::Create { name, login_server, username, password_stdin, registry, out } => {
            let body = CreateCredentialSet { name, login_server, username, password: password(password_stdin)? };
            show::<CredentialSetView>(&registry, Method::POST, "credential-sets", Some(&body), &out)
        }
        CredentialSetCommand::List(a) => {
            show::<Vec<CredentialSetView>>(&a.registry, Method::GET, "credential-sets", NO_BODY, &a.out)
        }
        CredentialSetCommand::Show(a) => {
            show::<CredentialSetView>(&a.registry, Method::GET, &path(&a.name), NO_BODY, &a.out)
        }
        CredentialSetCommand::Update { name, username, password_stdin, login_server, registry, out } => {
            let body = UpdateCredentialSet { login_server, username, password: password(password_stdin)? };
            show::<CredentialSetView>(&registry, Method::PATCH, &path(&name), Some(&body), &out)
        }
        CredentialSetCommand::Delete(a) => delete(&a, &path(&a.name)),
    }
}

/// Runs a cache-rule command.
pub fn cache(cmd: CacheCommand) -> Result<()> {
    let path = |name: &str| format!("cache-rules/{}", enc(name));
    match cmd {
        CacheCommand::Create { name, source, target, credential_set, allow_push, registry, out } => {
            let body = CreateCacheRule { name, source, target, credential_set, allow_push: Some(allow_push) };
            show::<CacheRuleView>(&registry, Method::POST, "cache-rules", Some(&body), &out)
        }
        CacheCommand::List(a) => show::<Vec<CacheRuleView>>(&a.registry, Method::GET, "cache-rules", NO_BODY, &a.out),
        CacheCommand::Show(a) => show::<CacheRuleView>(&a.registry, Method::GET, &path(&a.name), NO_BODY, &a.out),
        CacheCommand::Update { name, credential_set, remove_credential_set, allow_push, registry, out } => {
            let credential_set = if remove_credential_set { Some(String::new()) } else { credential_set };
            let body = UpdateCacheRule { credential_set, allow_push };
            show::<CacheRuleView>(&registry, Method::PATCH, &path(&name), Some(&body), &out)
        }
        CacheCommand::Delete(a) => delete(&a, &path(&a.name)),
    }
}
