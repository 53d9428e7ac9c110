//! `berth`: the one binary. It parses the command line, loads configuration, and is the only
//! place where concrete stores (filesystem or S3 blobs, SQLite or PostgreSQL metadata) are
//! wired into the server.

mod admin;
mod copy;
mod datadir;
mod federation;
mod inspect;
mod kube;
mod login;
mod migrate;
mod output;
mod progress;
mod pull_through;
mod serve;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;

/// Berth: a private container registry for Kubernetes.
#[derive(Parser)]
#[command(name = "berth", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the registry (with no configuration: ./berth-data on 127.0.0.1:5000).
    Serve(ConfigArgs),
    /// Work with configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Verify every stored blob against its digest and every manifest's references.
    Fsck(ConfigArgs),
    /// Log in to a registry (writes the docker config.json that skopeo and containerd read).
    Login(admin::login::LoginArgs),
    /// Remove stored credentials for a registry.
    Logout {
        /// The registry, HOST[:PORT].
        #[allow(rustdoc::broken_intra_doc_links, reason = "clap help text, where brackets are usage notation")]
        server: String,
    },
    /// Copy an image between registries, OCI layouts and docker archives.
    Copy(copy::CopyArgs),
    /// Copy an image to a registry (the same as copy).
    Push(copy::CopyArgs),
    /// Copy an image from a registry (the same as copy).
    Pull(copy::CopyArgs),
    /// Show an image's manifest summary, raw manifest (--raw) or configuration (--config).
    Inspect(inspect::InspectArgs),
    /// List a repository's tags.
    Tags(inspect::RefArgs),
    /// Delete a tag, or a manifest by digest.
    Delete(inspect::RefArgs),
    /// Manage service principals.
    #[command(subcommand)]
    Sp(admin::sp::SpCommand),
    /// Manage role assignments.
    #[command(subcommand)]
    Role(RoleCommand),
    /// Registry settings.
    #[command(subcommand)]
    Registry(admin::settings::RegistryCommand),
    /// Manage repository-scoped tokens.
    #[command(subcommand)]
    Token(admin::tokens::TokenCommand),
    /// Manage the scope maps tokens hold.
    #[command(subcommand, name = "scope-map")]
    ScopeMap(admin::tokens::ScopeMapCommand),
    /// Manage the logins the pull-through cache uses upstream (as `az acr credential-set`).
    #[command(subcommand, name = "credential-set")]
    CredentialSet(admin::cache::CredentialSetCommand),
    /// Manage pull-through cache rules (as `az acr cache`).
    #[command(subcommand)]
    Cache(admin::cache::CacheCommand),
    /// Copy an image from another registry into this one, server-side (as `az acr import`).
    Import(admin::import::ImportArgs),
    /// Delete blobs no manifest references (after the grace period), now; --dry-run reports.
    Gc(admin::maintenance::GcArgs),
    /// Delete untagged manifests older than --ago (as `acr purge --untagged`); their layers go
    /// at the next garbage collection.
    Purge(admin::maintenance::PurgeArgs),
    /// The newest audit events: identity and setting changes, failed logins, GC runs, lock
    /// changes and deletes, each with who and from where.
    Audit(admin::maintenance::AuditArgs),
    /// Repositories: list, show tags and attributes, lock, untag, delete (as `az acr repository`).
    #[command(subcommand)]
    Repository(admin::repository::RepositoryCommand),
    /// Copy a registry (identities, repositories, manifests, tags, blobs) into other stores,
    /// e.g. the embedded default into PostgreSQL + S3; resumable, every digest verified.
    Migrate(migrate::MigrateArgs),
    /// Kubernetes: pull secrets as kubectl makes them, pulls as the kubelet does, a doctor for
    /// failing pulls, one-step pull access, the kubelet credential provider.
    #[command(subcommand)]
    Kube(kube::KubeCommand),
}

#[derive(Subcommand)]
enum RoleCommand {
    /// Role assignments.
    #[command(subcommand)]
    Assignment(admin::role::RoleAssignmentCommand),
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Validate the configuration and print the effective result, without serving.
    Check(ConfigArgs),
}

/// Flags that override the configuration file and `BERTH__*` environment variables.
#[derive(Args, Clone, Default)]
struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, env = "BERTH_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on, ADDR:PORT (port 0 picks a free port).
    #[arg(long)]
    listen: Option<String>,
    /// Directory for blobs and metadata.
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// TLS: `off`, `files` (implied by --tls-cert) or `self-signed`.
    #[arg(long, value_parser = ["off", "files", "self-signed"])]
    tls: Option<String>,
    /// PEM certificate chain.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// Host name for the self-signed certificate (repeatable).
    #[arg(long = "hostname")]
    hostnames: Vec<String>,
    /// Log format on stderr: `text` (coloured only on a terminal) or `json` (for collectors).
    #[arg(long, value_parser = ["text", "json"])]
    log_format: Option<String>,
}

#[derive(Serialize, Default)]
struct Overrides {
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    server: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    tls: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    log: serde_json::Map<String, serde_json::Value>,
}

impl ConfigArgs {
    fn load(&self) -> Result<berth_server::Config> {
        let mut o = Overrides::default();
        if let Some(l) = &self.listen {
            o.server.insert("listen".into(), l.clone().into());
        }
        if let Some(d) = &self.data_dir {
            o.server.insert("data_dir".into(), d.to_string_lossy().into_owned().into());
        }
        let mode = self.tls.clone().or_else(|| self.tls_cert.as_ref().map(|_| "files".to_owned()));
        if let Some(m) = mode {
            o.tls.insert("mode".into(), m.into());
        }
        for (key, value) in [("cert", &self.tls_cert), ("key", &self.tls_key)] {
            if let Some(v) = value {
                o.tls.insert(key.into(), v.to_string_lossy().into_owned().into());
            }
        }
        if !self.hostnames.is_empty() {
            o.tls.insert("hostnames".into(), self.hostnames.clone().into());
        }
        if let Some(f) = &self.log_format {
            o.log.insert("format".into(), f.clone().into());
        }
        Ok(berth_server::Config::load(self.config.as_deref(), o)?)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Config(ConfigCommand::Check(args)) => config_check(&args),
        Command::Fsck(args) => serve::fsck(args),
        Command::Copy(args) | Command::Push(args) | Command::Pull(args) => copy::run(args).map(|()| ExitCode::SUCCESS),
        Command::Inspect(args) => inspect::inspect(args).map(|()| ExitCode::SUCCESS),
        Command::Tags(args) => inspect::tags(args).map(|()| ExitCode::SUCCESS),
        Command::Delete(args) => inspect::delete(args).map(|()| ExitCode::SUCCESS),
        Command::Login(args) => admin::login::login(args).map(|()| ExitCode::SUCCESS),
        Command::Logout { server } => admin::login::logout(&server).map(|()| ExitCode::SUCCESS),
        Command::Sp(cmd) => admin::sp::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Role(RoleCommand::Assignment(cmd)) => admin::role::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Registry(cmd) => admin::settings::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Gc(args) => admin::maintenance::gc(args).map(|()| ExitCode::SUCCESS),
        Command::Audit(args) => admin::maintenance::audit(args).map(|()| ExitCode::SUCCESS),
        Command::Purge(args) => admin::maintenance::purge(args).map(|()| ExitCode::SUCCESS),
        Command::Repository(cmd) => admin::repository::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Token(cmd) => admin::tokens::token(cmd).map(|()| ExitCode::SUCCESS),
        Command::ScopeMap(cmd) => admin::tokens::scope_map(cmd).map(|()| ExitCode::SUCCESS),
        Command::CredentialSet(cmd) => admin::cache::credential_set(cmd).map(|()| ExitCode::SUCCESS),
        Command::Cache(cmd) => admin::cache::cache(cmd).map(|()| ExitCode::SUCCESS),
        Command::Import(args) => admin::import::run(args).map(|()| ExitCode::SUCCESS),
        Command::Kube(cmd) => kube::run(cmd).map(|()| ExitCode::SUCCESS),
        Command::Migrate(args) => migrate::run(args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn config_check(args: &ConfigArgs) -> Result<ExitCode> {
    let mut config = args.load()?;
    config.database.url = config.database.redacted_url();
    if config.storage.s3.secret_access_key.is_some() {
        config.storage.s3.secret_access_key = Some("***".into());
    }
    println!("{}", serde_json::to_string_pretty(&config)?);
    eprintln!("berth: the configuration is valid");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
