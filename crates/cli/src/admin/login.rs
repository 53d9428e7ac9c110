//! `berth login` and `berth logout`: check credentials against a registry, then keep them in
//! the docker config ([`crate::login`]).

use super::{http_client, runtime};
use anyhow::{Result, bail};
use clap::Args;
use reqwest::StatusCode;

/// `berth login`.
#[derive(Args)]
pub struct LoginArgs {
    /// The registry, `HOST[:PORT]` or a URL.
    pub server: String,
    /// Application ID (or token name).
    #[arg(long, short = 'u')]
    pub username: String,
    /// Read the password from standard input.
    #[arg(long)]
    pub password_stdin: bool,
    /// The password (prefer --password-stdin: arguments are visible to other users).
    #[arg(long, short = 'p', conflicts_with = "password_stdin")]
    pub password: Option<String>,
}

/// `berth login`: checks the credentials against the registry, then stores them.
pub fn login(args: LoginArgs) -> Result<()> {
    let password = match (args.password, args.password_stdin) {
        (Some(p), _) => p,
        (None, true) => super::read_password_stdin()?,
        (None, false) => bail!("give the password with --password-stdin (or -p)"),
    };
    let (host, urls) = crate::login::server_urls(&args.server);
    let client = http_client()?;
    let mut last_error = None;
    for url in &urls {
        let sent =
            runtime()?.block_on(client.get(format!("{url}/v2/")).basic_auth(&args.username, Some(&password)).send());
        match sent {
            Ok(r) if r.status() == StatusCode::OK => {
                let path = crate::login::store(&host, &args.username, &password)?;
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
