//! `berth kube …`: the Kubernetes side (berth-kube) on the command line.

mod connect;
mod doctor;
mod mirror;
mod provider;
mod pull;

use anyhow::Result;
use berth_kube::secret::{DEFAULT_SERVER, DockerRegistrySecret};
use clap::{Args, Subcommand};

/// `berth kube` subcommands.
#[derive(Subcommand)]
pub enum KubeCommand {
    /// Make Secrets, as `kubectl create secret` does (printed, never sent to a cluster).
    #[command(subcommand)]
    Secret(SecretCommand),
    /// Pull every container image of the pods in FILE… as the kubelet would: pull policy,
    /// pull secrets (the pod's, else its ServiceAccount's), keyring matching, each matching
    /// credential in turn; into a CRI runtime or an OCI layout.
    Pull(pull::PullArgs),
    /// Create a pull principal (or give it a new credential) and print, for `kubectl apply -f -`,
    /// its pull secret and the ServiceAccount that carries it, so pods need no change.
    Connect(connect::ConnectArgs),
    /// Explain, for every container, why its pull would fail or succeed: secrets missing, in
    /// another namespace, of the wrong type or malformed; servers that do not match the image
    /// host (and why); wrong or expired credentials; no pull permission; missing tags;
    /// unreachable or untrusted registries.
    Doctor(doctor::DoctorArgs),
    /// Print (or write) the containerd hosts.toml files that make a node pull the images of
    /// every registry a cache rule caches through Berth, with no image renamed.
    Mirror(mirror::MirrorArgs),
    /// A kubelet credential-provider exec plugin (credentialprovider.kubelet.k8s.io/v1): reads
    /// a CredentialProviderRequest on stdin, writes the response on stdout.
    CredentialProvider(provider::ProviderArgs),
}

/// `berth kube secret` subcommands.
#[derive(Subcommand)]
pub enum SecretCommand {
    /// A `kubernetes.io/dockerconfigjson` pull secret, byte for byte as
    /// `kubectl create secret docker-registry NAME … --dry-run=client -o yaml|json`.
    DockerRegistry(DockerRegistryArgs),
}

/// The flags of `kubectl create secret docker-registry`.
#[derive(Args)]
pub struct DockerRegistryArgs {
    /// The Secret's name.
    pub name: String,
    /// The Secret's namespace (omitted when not given, as kubectl without a context namespace).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// The registry, as the `auths` key (kept verbatim).
    #[arg(long, default_value = DEFAULT_SERVER)]
    pub docker_server: String,
    /// Username (a service principal's appId).
    #[arg(long, default_value = "")]
    pub docker_username: String,
    /// Password.
    #[arg(long, default_value = "")]
    pub docker_password: String,
    /// Email (omitted when empty).
    #[arg(long, default_value = "")]
    pub docker_email: String,
    /// yaml or json.
    #[arg(long, short = 'o', default_value = "yaml", value_parser = ["yaml", "json"])]
    pub output: String,
}

/// Runs `berth kube …`.
pub fn run(cmd: KubeCommand) -> Result<()> {
    match cmd {
        KubeCommand::Pull(args) => pull::run(args),
        KubeCommand::Connect(args) => connect::run(args),
        KubeCommand::Doctor(args) => doctor::run(args),
        KubeCommand::Mirror(args) => mirror::run(args),
        KubeCommand::CredentialProvider(args) => provider::run(args),
        KubeCommand::Secret(SecretCommand::DockerRegistry(a)) => {
            let secret = DockerRegistrySecret {
                name: a.name,
                namespace: a.namespace,
                server: a.docker_server,
                username: a.docker_username,
                password: a.docker_password,
                email: (!a.docker_email.is_empty()).then_some(a.docker_email),
            };
            let text = if a.output == "json" { secret.to_json()? } else { secret.to_yaml()? };
            print!("{text}");
            Ok(())
        }
    }
}
