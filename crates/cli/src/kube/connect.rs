//! `berth kube connect`: a principal that may pull, and the objects that let a namespace's
//! pods use it with no change to the pods: its pull secret and the ServiceAccount carrying it.

use crate::admin::{RegistryArg, call};
use crate::login;
use anyhow::{Context, Result};
use berth_kube::gostr::yaml_scalar;
use berth_kube::secret::DockerRegistrySecret;
use clap::Args;
use reqwest::Method;
use serde_json::json;

/// Flags of `berth kube connect`.
#[derive(Args)]
pub struct ConnectArgs {
    /// The namespace whose pods pull.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// The service principal's name (created, or given a new credential when it exists).
    #[arg(long)]
    pub name: String,
    /// Its role.
    #[arg(long, default_value = "acrpull")]
    pub role: String,
    /// Where the role applies: / for the registry, repositories/NAME or repositories/PREFIX/*.
    #[arg(long, default_value = "/")]
    pub scopes: String,
    /// The ServiceAccount that carries the secret.
    #[arg(long, default_value = "default")]
    pub service_account: String,
    /// The Secret's name.
    #[arg(long, default_value = "berth-pull")]
    pub secret_name: String,
    #[command(flatten)]
    pub registry: RegistryArg,
}

/// Creates (or re-keys) the principal and prints the Secret and ServiceAccount as one YAML stream.
pub fn run(args: ConnectArgs) -> Result<()> {
    let url = match &args.registry.registry {
        Some(r) => r.clone(),
        None => login::remembered()?.context("no registry: run `berth login SERVER` first or pass --registry URL")?,
    };
    let (host, _) = login::server_urls(&url);
    let body = json!({ "name": args.name, "role": args.role, "scopes": args.scopes });
    let created = call(&args.registry, Method::POST, "service-principals", Some(body))?;
    let app_id = created["appId"].as_str().context("the registry answered no appId")?;
    let password = created["password"].as_str().context("the registry answered no password")?;
    let secret = DockerRegistrySecret {
        name: args.secret_name.clone(),
        namespace: Some(args.namespace.clone()),
        server: host.clone(),
        username: app_id.to_owned(),
        password: password.to_owned(),
        email: None,
    };
    print!("{}", secret.to_yaml()?);
    println!("---");
    print!(
        "apiVersion: v1\nimagePullSecrets:\n- name: {}\nkind: ServiceAccount\nmetadata:\n  name: {}\n  namespace: {}\n",
        yaml_scalar(&args.secret_name),
        yaml_scalar(&args.service_account),
        yaml_scalar(&args.namespace)
    );
    eprintln!(
        "berth: service principal {} ({app_id}) holds {} on {} of {host}; apply with: kubectl apply -f -",
        args.name, args.role, args.scopes
    );
    Ok(())
}
