//! `berth login` and `berth logout`: check credentials against a registry, then keep them in
//! the docker config ([`crate::login`]); or exchange a federated OIDC token (a CI job's ID
//! token) for a refresh token and keep that as the docker config's `identitytoken`.

use super::{http_client, runtime};
use anyhow::{Context, Result, bail};
use berth_client::federated::{ExchangeError, exchange};
use clap::Args;
use reqwest::StatusCode;
use std::path::PathBuf;

/// `berth login`.
#[derive(Args)]
pub struct LoginArgs {
    /// The registry, `HOST[:PORT]` or a URL.
    pub server: String,
    /// Application ID (or token name).
    #[arg(long, short = 'u', required_unless_present_any = ["federated_token_file", "federated_token_env"])]
    pub username: Option<String>,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The password (prefer --password-stdin: arguments are visible to other users).
    #[arg(long, short = 'p', conflicts_with = "password_stdin")]
    pub password: Option<String>,
    #[command(flatten)]
    pub federated: FederatedArgs,
}

/// A federated login: an OIDC token some federated credential trusts, instead of a password.
#[derive(Args)]
pub struct FederatedArgs {
    /// A file holding an OIDC token (a CI job's ID token) to exchange for a refresh token;
    /// read once, never printed.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["username", "password", "password_stdin", "federated_token_env"])]
    pub federated_token_file: Option<PathBuf>,
    /// The environment variable holding that OIDC token.
    #[arg(long, value_name = "VAR", conflicts_with_all = ["username", "password", "password_stdin"])]
    pub federated_token_env: Option<String>,
    /// The application ID of the principal whose federated credential the token matches
    /// (without it the registry takes the one principal that trusts the token).
    #[arg(long, value_name = "APPID", conflicts_with_all = ["username", "password", "password_stdin"])]
    pub client_id: Option<String>,
}

impl FederatedArgs {
    /// The OIDC token, read once from the file or the environment; `None` for a password login.
    fn token(&self) -> Result<Option<String>> {
        let (token, source) = match (&self.federated_token_file, &self.federated_token_env) {
            (Some(file), _) => {
                let text = std::fs::read_to_string(file)
                    .with_context(|| format!("cannot read --federated-token-file {}", file.display()))?;
                (text, format!("--federated-token-file {}", file.display()))
            }
            (None, Some(var)) => {
                let text = std::env::var(var).with_context(|| format!("the environment has no {var}"))?;
                (text, format!("the environment variable {var}"))
            }
            (None, None) => return Ok(None),
        };
        let token = token.trim();
        if token.is_empty() {
            bail!("{source} holds no token");
        }
        Ok(Some(token.to_owned()))
    }
}

/// `berth login`: checks the credentials against the registry, then stores them.
pub fn login(args: LoginArgs) -> Result<()> {
    if let Some(token) = args.federated.token()? {
        return federated_login(&args.server, &token, args.federated.client_id.as_deref());
    }
    let username = args.username.context("give the username with -u")?;
    let password = match (args.password, args.password_stdin) {
        (Some(p), _) => p,
        (None, true) => super::read_password_stdin()?,
        (None, false) => bail!("give the password with --password-stdin (or -p)"),
    };
    let (host, urls) = crate::login::server_urls(&args.server);
    let client = http_client()?;
    let mut last_error = None;
    for url in &urls {
        let sent = runtime()?.block_on(client.get(format!("{url}/v2/")).basic_auth(&username, Some(&password)).send());
        match sent {
            Ok(r) if r.status() == StatusCode::OK => {
                let path = crate::login::store(&host, &username, &password)?;
                crate::login::remember(url)?;
                eprintln!("berth: credentials for {host} stored in {}", path.display());
                println!("Login Succeeded");
                return Ok(());
            }
            Ok(r) if r.status() == StatusCode::UNAUTHORIZED => {
                bail!("login to {host} failed: the username or password is wrong, or the credential expired")
            }
            Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS => {
                bail!("login to {host} refused: too many failed attempts from this address; wait a minute")
            }
            Ok(r) => bail!("login to {host} failed: {url}/v2/ answered {}", r.status()),
            Err(e) => last_error = Some(format!("{url}: {e}")),
        }
    }
    bail!(
        "cannot reach {host} ({}); check the address, or trust its certificate authority",
        last_error.unwrap_or_default()
    )
}

/// A federated login: exchanges `token` at the registry (https first, as a password login
/// tries it) and stores the refresh token as the docker config's `identitytoken`; a refused
/// exchange writes nothing and fails with the registry's sentence.
fn federated_login(server: &str, token: &str, client_id: Option<&str>) -> Result<()> {
    let (host, urls) = crate::login::server_urls(server);
    let client = http_client()?;
    let mut last_error = None;
    for url in &urls {
        match runtime()?.block_on(exchange(&client, url, token, client_id)) {
            Ok(answer) => {
                let path = crate::login::store_identity_token(&host, &answer.refresh_token)?;
                crate::login::remember(url)?;
                eprintln!(
                    "berth: a refresh token for {host} (valid {} s) stored in {}",
                    answer.expires_in,
                    path.display()
                );
                println!("Login Succeeded");
                return Ok(());
            }
            Err(ExchangeError::Refused(r)) => bail!("login to {host} refused: {}", r.words()),
            Err(e @ ExchangeError::Answer(_)) => bail!("login to {host} failed: {e}"),
            Err(ExchangeError::Http(e)) => last_error = Some(format!("{url}: {e}")),
        }
    }
    bail!(
        "cannot reach {host} ({}); check the address, or trust its certificate authority",
        last_error.unwrap_or_default()
    )
}

/// `berth logout`.
pub fn logout(server: &str) -> Result<()> {
    let (host, _) = crate::login::server_urls(server);
    let removed = crate::login::remove(&host)?;
    crate::login::forget(&host)?;
    if removed {
        println!("Removing login credentials for {host}");
    } else {
        eprintln!("berth: not logged in to {host}");
    }
    Ok(())
}
