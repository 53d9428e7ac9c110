//! `berth kube pull FILE…`: every container image of every pod in the files, pulled as the
//! kubelet would, into a CRI runtime or an OCI layout; a line per container and a total.

use crate::copy::TlsArgs;
use anyhow::{Context, Result, bail};
use berth_client::copy::{CopyOptions, host_platform};
use berth_client::layout::Layout;
use berth_kube::cri::ImageService;
use berth_kube::kubelet::{Outcome, Runtime, pull_workload};
use berth_kube::objects::{Objects, load};
use berth_kube::podauth::for_workload;
use clap::Args;
use std::path::PathBuf;

/// Flags of `berth kube pull` (and the inputs the doctor shares).
#[derive(Args)]
pub struct Inputs {
    /// Files of Pods, workloads (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob),
    /// Lists; YAML with several documents, or JSON.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Files of the Secrets the pods name (as `kubectl get secret -o yaml` prints them).
    #[arg(long, num_args = 1..)]
    pub secrets: Vec<PathBuf>,
    /// Files of ServiceAccounts (their imagePullSecrets apply to pods that list none).
    #[arg(long = "service-account", num_args = 1..)]
    pub service_accounts: Vec<PathBuf>,
}

impl Inputs {
    /// Every object of every file, secrets and service accounts included.
    pub fn load(&self) -> Result<Objects> {
        let all: Vec<&PathBuf> = self.files.iter().chain(&self.secrets).chain(&self.service_accounts).collect();
        Ok(load(&all)?)
    }
}

/// Flags of `berth kube pull`.
#[derive(Args)]
pub struct PullArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// Pull through this container runtime's CRI image service (unix:///run/containerd/containerd.sock).
    #[arg(long, conflicts_with = "store")]
    pub runtime_endpoint: Option<String>,
    /// Pull with Berth's own client into this OCI image layout.
    #[arg(long)]
    pub store: Option<PathBuf>,
    /// The platform to take from an index (--store), os/arch[/variant].
    #[arg(long)]
    pub platform: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
    /// No progress bars or per-blob lines.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Runs the pulls; fails (after the summary) when any container's pull failed.
pub fn run(args: PullArgs) -> Result<()> {
    let objects = args.inputs.load()?;
    if objects.workloads.is_empty() {
        bail!("the files hold no Pod or workload with containers");
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (pulled, present, failed) = rt.block_on(async {
        let mut runtime = match (&args.runtime_endpoint, &args.store) {
            (Some(endpoint), _) => Runtime::Cri(ImageService::connect(endpoint).await?),
            (None, Some(dir)) => Runtime::Store {
                layout: Layout::create(dir).with_context(|| format!("cannot use {} as a store", dir.display()))?,
                http: args.tls.http_client()?,
                options: CopyOptions {
                    platform: args.platform.clone().unwrap_or_else(host_platform),
                    observer: crate::progress::observer(args.quiet),
                    ..CopyOptions::default()
                },
                bases: Default::default(),
            },
            (None, None) => bail!("say where images go: --runtime-endpoint unix:///PATH or --store DIR"),
        };
        let (mut pulled, mut present, mut failed) = (0, 0, 0);
        for w in &objects.workloads {
            let creds = for_workload(w, &objects);
            for warning in &creds.warnings {
                eprintln!("berth: warning: {}: {warning}", w.origin);
            }
            for r in pull_workload(&mut runtime, w, &creds).await {
                let what = format!("{}, {} {}, image {}", r.origin, r.kind, r.container, r.image);
                match r.outcome {
                    Outcome::Pulled(id) => {
                        pulled += 1;
                        println!("pulled: {what} ({id})");
                    }
                    Outcome::Present => {
                        present += 1;
                        println!("present: {what} (already on the node; the registry was not asked)");
                    }
                    Outcome::Failed(cause) => {
                        failed += 1;
                        println!("failed: {what}: {cause}");
                    }
                }
            }
        }
        anyhow::Ok((pulled, present, failed))
    })?;
    println!("{pulled} pulled, {present} already present, {failed} failed");
    if failed > 0 {
        bail!("{failed} image pull(s) failed; see the lines above");
    }
    Ok(())
}
