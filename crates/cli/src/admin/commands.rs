//! `berth login|logout`, `berth sp …`, `berth role assignment …`, `berth registry …`, with the
//! flags `az` users know.

use super::{Admin, http_client};
use crate::login;
use crate::output::{self, OutputArgs};
use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::io::Read;

/// Where admin commands go.
#[derive(Args, Clone, Debug)]
pub struct RegistryArg {
    /// Registry URL (default: the server of the last `berth login`).
    #[arg(long)]
    pub registry: Option<String>,
}

/// `berth gc`.
#[derive(Args)]
pub struct GcArgs {
    /// Only report what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `berth gc`: asks the server to collect garbage now (or to report what it would).
pub fn gc(args: GcArgs) -> Result<()> {
    let report = call(&args.registry, Method::POST, "gc", Some(json!({ "dryRun": args.dry_run })))?;
    output::print(&report, &args.out)
}

/// `berth purge`.
#[derive(Args)]
pub struct PurgeArgs {
    /// Delete manifests no tag names (the only kind of purge Berth does; required so the
    /// command says what it deletes).
    #[arg(long, required = true)]
    pub untagged: bool,
    /// Only manifests older than this: 30m, 12h, 7d, 0 (all).
    #[arg(long)]
    pub ago: String,
    /// Only in this repository.
    #[arg(long)]
    pub repository: Option<String>,
    /// Only report what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub registry: RegistryArg,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `7d`, `12h`, `30m`, `45s` or `0` as seconds.
fn age_secs(s: &str) -> Result<u64> {
    let (digits, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = digits.parse().with_context(|| format!("--ago {s:?}: write a number and a unit, e.g. 7d or 12h"))?;
    let per = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" if n == 0 || unit == "s" => 1,
        _ => bail!("--ago {s:?}: the unit must be d, h, m or s, e.g. 7d"),
    };
    n.checked_mul(per).with_context(|| format!("--ago {s:?} is too long"))
}

/// `berth purge --untagged`: deletes manifests no tag names (nor index lists, nor that are
/// referrers), older than `--ago`, as `acr purge --untagged`; their layers go at the next GC.
pub fn purge(args: PurgeArgs) -> Result<()> {
    let mut body = json!({ "agoSecs": age_secs(&args.ago)?, "dryRun": args.dry_run });
    if let Some(r) = &args.repository {
        body["repository"] = json!(r);
    }
    let report = call(&args.registry, Method::POST, "purge", Some(body))?;
    output::print(&report, &args.out)
}

/// `berth audit`.
#[derive(Args)]
pub struct AuditArgs {
    /// How many of the newest events.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    #[command(flatten)]
    pub registry: RegistryArg,
    #[command(flatten)]
    pub out: OutputArgs,
}

/// `berth audit`: the newest events of the audit log (who changed or deleted what, from where).
pub fn audit(args: AuditArgs) -> Result<()> {
    let events = call(&args.registry, Method::GET, &format!("audit?limit={}", args.limit), None)?;
    output::print(&events, &args.out)
}

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

/// `berth role assignment …`.
#[derive(Subcommand)]
pub enum RoleAssignmentCommand {
    /// Assign a role.
    Create {
        /// Application ID or display name.
        #[arg(long)]
        assignee: String,
        /// Role name.
        #[arg(long)]
        role: String,
        /// `/`, `repositories/NAME` or `repositories/PREFIX/*` (default `/`).
        #[arg(long)]
        scope: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// List role assignments.
    List {
        /// Only this principal's.
        #[arg(long)]
        assignee: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Remove a role assignment.
    Delete {
        /// Application ID or display name.
        #[arg(long)]
        assignee: String,
        /// Role name.
        #[arg(long)]
        role: String,
        /// Scope (default `/`).
        #[arg(long)]
        scope: Option<String>,
        #[command(flatten)]
        registry: RegistryArg,
    },
}

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

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread().enable_all().build()?)
}

/// Percent-encodes a path segment or query value.
pub fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// `berth login`: checks the credentials against the registry, then stores them.
pub fn login(args: LoginArgs) -> Result<()> {
    let password = match (args.password, args.password_stdin) {
        (Some(p), _) => p,
        (None, true) => {
            let mut p = String::new();
            std::io::stdin().read_to_string(&mut p).context("cannot read the password from standard input")?;
            p.trim_end_matches(['\n', '\r']).to_owned()
        }
        (None, false) => bail!("give the password with --password-stdin (or -p)"),
    };
    let (host, urls) = login::server_urls(&args.server);
    let client = http_client()?;
    let mut last_error = None;
    for url in &urls {
        let sent =
            runtime()?.block_on(client.get(format!("{url}/v2/")).basic_auth(&args.username, Some(&password)).send());
        match sent {
            Ok(r) if r.status() == StatusCode::OK => {
                let path = login::store(&host, &args.username, &password)?;
                login::remember(url)?;
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
    let (host, _) = login::server_urls(server);
    let removed = login::remove(&host)?;
    login::forget(&host)?;
    if removed {
        println!("Removing login credentials for {host}");
    } else {
        eprintln!("berth: not logged in to {host}");
    }
    Ok(())
}

pub fn call(registry: &RegistryArg, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
    let admin = Admin::connect(registry.registry.as_deref())?;
    runtime()?.block_on(admin.call(method, path, body))
}

/// `berth sp …`.
pub fn sp(cmd: SpCommand) -> Result<()> {
    match cmd {
        SpCommand::CreateForRbac { name, role, scopes, years, registry, out } => {
            let body = json!({ "name": name, "role": role, "scopes": scopes, "years": years });
            output::print(&call(&registry, Method::POST, "service-principals", Some(body))?, &out)
        }
        SpCommand::List { registry, out } => {
            output::print(&call(&registry, Method::GET, "service-principals", None)?, &out)
        }
        SpCommand::Show { id, registry, out } => {
            output::print(&call(&registry, Method::GET, &format!("service-principals/{}", enc(&id)), None)?, &out)
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
            let body = json!({ "append": append, "years": years, "endDate": end_date, "displayName": display_name });
            let path = format!("service-principals/{}/credential-reset", enc(&name));
            output::print(&call(&registry, Method::POST, &path, Some(body))?, &out)
        }
        SpCommand::Credential(CredentialCommand::List { id, registry, out }) => {
            let path = format!("service-principals/{}/credentials", enc(&id));
            output::print(&call(&registry, Method::GET, &path, None)?, &out)
        }
        SpCommand::Credential(CredentialCommand::Delete { id, key_id, registry }) => {
            let path = format!("service-principals/{}/credentials/{}", enc(&id), enc(&key_id));
            call(&registry, Method::DELETE, &path, None).map(|_| ())
        }
    }
}

/// `berth role assignment …`.
pub fn role_assignment(cmd: RoleAssignmentCommand) -> Result<()> {
    match cmd {
        RoleAssignmentCommand::Create { assignee, role, scope, registry, out } => {
            let body = json!({ "assignee": assignee, "role": role, "scope": scope });
            output::print(&call(&registry, Method::POST, "role-assignments", Some(body))?, &out)
        }
        RoleAssignmentCommand::List { assignee, registry, out } => {
            let path = match assignee {
                Some(a) => format!("role-assignments?assignee={}", enc(&a)),
                None => "role-assignments".to_owned(),
            };
            output::print(&call(&registry, Method::GET, &path, None)?, &out)
        }
        RoleAssignmentCommand::Delete { assignee, role, scope, registry } => {
            let path = format!(
                "role-assignments?assignee={}&role={}&scope={}",
                enc(&assignee),
                enc(&role),
                enc(scope.as_deref().unwrap_or("/"))
            );
            call(&registry, Method::DELETE, &path, None).map(|_| ())
        }
    }
}

/// `berth registry …`.
pub fn registry(cmd: RegistryCommand) -> Result<()> {
    match cmd {
        RegistryCommand::Credential(AdminCredentialCommand::Renew { password_name, registry, out }) => {
            let body = json!({ "passwordName": password_name });
            output::print(&call(&registry, Method::POST, "registry/credential-renew", Some(body))?, &out)
        }
        RegistryCommand::Show { registry, out } => {
            output::print(&call(&registry, Method::GET, "registry", None)?, &out)
        }
        RegistryCommand::Update { anonymous_pull_enabled, admin_enabled, registry, out } => {
            let body = json!({ "anonymousPullEnabled": anonymous_pull_enabled, "adminUserEnabled": admin_enabled });
            output::print(&call(&registry, Method::PATCH, "registry", Some(body))?, &out)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ages() {
        assert_eq!(super::age_secs("7d").unwrap(), 604_800);
        assert_eq!(super::age_secs("12h").unwrap(), 43_200);
        assert_eq!(super::age_secs("30m").unwrap(), 1_800);
        assert_eq!(super::age_secs("45s").unwrap(), 45);
        assert_eq!(super::age_secs("0").unwrap(), 0);
        for bad in ["", "d", "7", "7w", "-1d", "99999999999999999999d"] {
            assert!(super::age_secs(bad).is_err(), "{bad}");
        }
    }
}
