//! `berth kube connect`: a principal that may pull, and the objects that let a namespace's
//! pods use it with no change to the pods: its pull secret and the ServiceAccount carrying it;
//! or, with `--workload-identity`, no secret at all: a federated credential trusting the
//! service account's tokens, and what nodes need to exchange them.

use crate::admin::{RegistryArg, call, enc};
use crate::login;
use anyhow::{Context, Result};
use berth_kube::connect::PullConnection;
use berth_kube::workload::{
    WorkloadIdentity, federated_credential_description, federated_credential_name, service_account_subject,
};
use clap::Args;
use reqwest::Method;
use serde_json::{Value, json};

/// Flags of `berth kube connect`.
#[derive(Args)]
pub struct ConnectArgs {
    /// The namespace whose pods pull.
    #[arg(long, short = 'n')]
    pub namespace: String,
    /// The service principal's name (created, or given a new credential when it exists; with
    /// --workload-identity reused as it is, NAMESPACE-SERVICEACCOUNT by default).
    #[arg(long, required_unless_present = "workload_identity")]
    pub name: Option<String>,
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
    /// No secret: trust the service account's tokens from --issuer (a federated credential)
    /// and print the ServiceAccount, the nodes' ClusterRole and binding, and the kubelet's
    /// CredentialProviderConfig.
    #[arg(long, requires = "issuer")]
    pub workload_identity: bool,
    /// The cluster's service-account issuer (`kubectl get --raw /.well-known/openid-configuration`).
    #[arg(long, requires = "workload_identity")]
    pub issuer: Option<String>,
    /// The audience the kubelet requests tokens for (default: the registry host).
    #[arg(long, requires = "workload_identity")]
    pub audience: Option<String>,
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
    if args.workload_identity {
        return workload_identity(&args, host);
    }
    let name = args.name.clone().unwrap_or_default();
    let body = json!({ "name": name, "role": args.role, "scopes": args.scopes });
    let created = call(&args.registry, Method::POST, "service-principals", Some(body))?;
    let app_id = created["appId"].as_str().context("the registry answered no appId")?;
    let password = created["password"].as_str().context("the registry answered no password")?;
    let connection = PullConnection {
        namespace: args.namespace.clone(),
        service_account: args.service_account.clone(),
        secret_name: args.secret_name.clone(),
        registry: host.clone(),
        username: app_id.to_owned(),
        password: password.to_owned(),
    };
    print!("{}", connection.to_yaml()?);
    eprintln!(
        "berth: service principal {} ({app_id}) holds {} on {} of {host}; apply with: kubectl apply -f -",
        name, args.role, args.scopes
    );
    Ok(())
}

/// The appId of the principal named `name`, created (holding no password) when there is none;
/// the role assigned either way (assignments are idempotent).
fn principal_without_secret(args: &ConnectArgs, name: &str) -> Result<String> {
    let listed = call(&args.registry, Method::GET, "service-principals", None)?;
    let existing =
        listed.as_array().and_then(|l| l.iter().find(|p| p["displayName"] == name)).map(|p| p["appId"].clone());
    if let Some(Value::String(app_id)) = existing {
        let body = json!({ "assignee": app_id, "role": args.role, "scope": args.scopes });
        call(&args.registry, Method::POST, "role-assignments", Some(body))?;
        return Ok(app_id);
    }
    let body = json!({ "name": name, "role": args.role, "scopes": args.scopes });
    let created = call(&args.registry, Method::POST, "service-principals", Some(body))?;
    let app_id = created["appId"].as_str().context("the registry answered no appId")?.to_owned();
    // The password made with it is known to no one; with federation it is not needed at all.
    let detail = call(&args.registry, Method::GET, &format!("service-principals/{}", enc(&app_id)), None)?;
    for key in detail["passwordCredentials"].as_array().into_iter().flatten().filter_map(|c| c["keyId"].as_str()) {
        let path = format!("service-principals/{}/credentials/{}", enc(&app_id), enc(key));
        call(&args.registry, Method::DELETE, &path, None)?;
    }
    Ok(app_id)
}

/// `--workload-identity`: the principal, its role and its federated credential for the
/// service account's subject, then the objects and the kubelet's configuration.
fn workload_identity(args: &ConnectArgs, host: String) -> Result<()> {
    let issuer = args.issuer.clone().context("--workload-identity needs --issuer URL")?;
    let (ns, sa) = (&args.namespace, &args.service_account);
    let name = args.name.clone().unwrap_or_else(|| format!("{ns}-{sa}"));
    let audience = args.audience.clone().unwrap_or_else(|| host.clone());
    let subject = service_account_subject(ns, sa);
    let app_id = principal_without_secret(args, &name)?;
    let path = format!("service-principals/{}/federated-credentials", enc(&app_id));
    let listed = call(&args.registry, Method::GET, &path, None)?;
    let known = listed.as_array().into_iter().flatten().any(|f| {
        f["issuer"] == issuer.as_str()
            && f["subject"] == subject.as_str()
            && f["audiences"].as_array().is_some_and(|a| a.iter().any(|x| x == audience.as_str()))
    });
    if !known {
        let taken = |n: &str| listed.as_array().into_iter().flatten().any(|f| f["name"] == n);
        let fc_name = federated_credential_name(ns, sa, taken);
        let body = berth_core::admin_api::CreateFederatedCredential {
            name: fc_name,
            issuer: issuer.clone(),
            subject: subject.clone(),
            audience: audience.clone(),
            description: Some(federated_credential_description(ns, sa)),
        };
        call(&args.registry, Method::POST, &path, Some(serde_json::to_value(body)?))?;
    }
    let identity = WorkloadIdentity {
        namespace: ns.clone(),
        service_account: sa.clone(),
        app_id: app_id.clone(),
        audience,
        registry: host.clone(),
    };
    print!("{}", identity.to_yaml());
    eprintln!(
        "berth: service principal {name} ({app_id}) holds {} on {} of {host} and trusts tokens of {subject} from {issuer}; apply the first three documents with kubectl apply -f -, and give each node's kubelet the last as --image-credential-provider-config (berth in --image-credential-provider-bin-dir)",
        args.role, args.scopes
    );
    Ok(())
}
