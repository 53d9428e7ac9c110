//! `berth kube credential-provider`: the kubelet's exec plugin for a Berth registry.

use crate::copy::TlsArgs;
use anyhow::{Context, Result, bail};
use berth_client::auth::{Credentials, NULL_GUID, Session};
use berth_client::endpoint::api_base;
use berth_client::federated::exchange;
use berth_client::reference::ImageRef;
use berth_kube::provider::{cache_secs, federated_cache_secs, parse_request, response};
use clap::Args;
use std::io::Read;
use std::path::PathBuf;

/// Flags of `berth kube credential-provider`.
#[derive(Args)]
pub struct ProviderArgs {
    /// The registry this provider answers for, HOST[:PORT]; other hosts get no credentials.
    #[allow(rustdoc::broken_intra_doc_links, reason = "clap help text, where brackets are usage notation")]
    #[arg(long)]
    pub registry: String,
    /// A JSON file with the principal's `appId` (or `username`) and `password`, as
    /// `berth sp create-for-rbac` prints them.
    #[arg(long, conflicts_with_all = ["username_env", "password_env"])]
    pub credentials_file: Option<PathBuf>,
    /// The environment variable holding the principal's appId.
    #[arg(long, requires = "password_env")]
    pub username_env: Option<String>,
    /// The environment variable holding the principal's password.
    #[arg(long, requires = "username_env")]
    pub password_env: Option<String>,
    /// The principal (appId) a service-account token is exchanged for when its service account
    /// carries no berth.dev/client-id annotation; without either, the registry picks the one
    /// principal whose federated credentials match the token.
    #[arg(long)]
    pub client_id: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

fn principal(args: &ProviderArgs) -> Result<(String, String)> {
    if let Some(file) = &args.credentials_file {
        // The kubelet logs stderr; a secret others can read still works, but is said once.
        if let Err(e) = crate::datadir::private_file("--credentials-file", file) {
            eprintln!("berth: warning: {e:#}");
        }
        let text = std::fs::read(file).with_context(|| format!("cannot read --credentials-file {}", file.display()))?;
        let v: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("--credentials-file {} is not JSON", file.display()))?;
        let user = v["appId"].as_str().or_else(|| v["username"].as_str());
        let password = v["password"].as_str();
        return match (user, password) {
            (Some(u), Some(p)) => Ok((u.to_owned(), p.to_owned())),
            _ => bail!("--credentials-file {} holds no appId (or username) and password", file.display()),
        };
    }
    match (&args.username_env, &args.password_env) {
        (Some(u), Some(p)) => {
            let get = |name: &str| std::env::var(name).with_context(|| format!("the environment has no {name}"));
            Ok((get(u)?, get(p)?))
        }
        _ => bail!(
            "the kubelet sent no service-account token and no static credentials are configured: give the provider's CredentialProviderConfig entry tokenAttributes (berth kube connect --workload-identity prints one), or name a principal's credentials with --credentials-file FILE, or --username-env and --password-env"
        ),
    }
}

/// `--registry` as image references name hosts: no scheme or slash, lower case, Docker Hub as
/// `docker.io`.
fn registry_host(flag: &str) -> String {
    let host = flag.trim().trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/');
    match host.to_ascii_lowercase().as_str() {
        "index.docker.io" | "registry-1.docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

/// Reads the request on stdin and writes the response on stdout. With a service-account token
/// in the request, the token is exchanged (and never printed); else the static credentials
/// are used as before.
pub fn run(args: ProviderArgs) -> Result<()> {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).context("cannot read stdin")?;
    let request = parse_request(&input)?;
    let image = &request.image;
    let wanted = registry_host(&args.registry);
    let asked = ImageRef::parse(image).with_context(|| format!("the request's image {image:?} does not parse"))?;
    if !asked.registry.eq_ignore_ascii_case(&wanted) {
        println!("{}", response(None, 0));
        return Ok(());
    }
    let http = args.tls.http_client()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if let Some(sa_token) = &request.service_account_token {
        let client_id = request.client_id().or(args.client_id.as_deref());
        let answer = rt.block_on(async {
            let base = api_base(&http, &asked).await;
            exchange(&http, &base, sa_token, client_id).await.with_context(|| {
                format!("the registry at {base} exchanged no refresh token for the service-account token")
            })
        })?;
        let cache = federated_cache_secs(answer.expires_in, sa_token, now);
        println!("{}", response(Some((&asked.registry, NULL_GUID, &answer.refresh_token)), cache));
        return Ok(());
    }
    let (username, password) = principal(&args)?;
    let token = rt.block_on(async {
        let base = api_base(&http, &asked).await;
        let session = Session::new(http.clone(), Credentials::Basic { username, password });
        session.refresh_token(&base).await.with_context(|| format!("the registry at {base} gave no refresh token"))
    })?;
    println!("{}", response(Some((&asked.registry, NULL_GUID, &token)), cache_secs(&token, now)));
    Ok(())
}
