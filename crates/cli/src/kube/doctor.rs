//! `berth kube doctor FILE…`: why each container's pull would fail or succeed, in words.

use super::pull::Inputs;
use crate::copy::TlsArgs;
use anyhow::Context;
use anyhow::{Result, bail};
use berth_kube::doctor::{OwnerLogin, diagnose};
use berth_kube::federated_doctor::ServiceAccountToken;
use berth_kube::podauth::for_workload;
use clap::Args;
use std::collections::HashMap;

/// Flags of `berth kube doctor`.
#[derive(Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub inputs: Inputs,
    /// A service-account token as the kubelet would pass it to the credential provider: its
    /// claims are explained, then it is exchanged as the provider would.
    #[arg(long)]
    pub service_account_token_file: Option<std::path::PathBuf>,
    /// The principal (appId) to exchange that token for, as the berth.dev/client-id annotation names it.
    #[arg(long, requires = "service_account_token_file")]
    pub client_id: Option<String>,
    #[command(flatten)]
    pub tls: TlsArgs,
}

/// Prints a verdict and its reasons per container; fails when any pull would fail.
pub fn run(args: DoctorArgs) -> Result<()> {
    let objects = args.inputs.load()?;
    if objects.workloads.is_empty() {
        bail!("the files hold no Pod or workload with containers");
    }
    // An Owner's `berth login` to a registry lets the doctor look principals up.
    let mut owners = HashMap::new();
    for c in objects.workloads.iter().flat_map(|w| &w.containers) {
        let host = c.reference.registry.clone();
        if !owners.contains_key(&host)
            && let Ok(Some((username, password))) = crate::login::credentials(&host)
        {
            owners.insert(host, OwnerLogin { username, password });
        }
    }
    let token = match &args.service_account_token_file {
        Some(f) => {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("cannot read --service-account-token-file {}", f.display()))?;
            Some(ServiceAccountToken { token: text.trim().to_owned(), client_id: args.client_id.clone() })
        }
        None => None,
    };
    let http = args.tls.http_client()?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let failing = rt.block_on(async {
        let mut failing = 0;
        for w in &objects.workloads {
            let creds = for_workload(w, &objects);
            for d in diagnose(&http, w, &creds, &owners, token.as_ref()).await {
                println!("{}: {}", if d.would_pull { "would pull" } else { "would FAIL" }, d.subject);
                for line in &d.lines {
                    println!("  - {line}");
                }
                failing += usize::from(!d.would_pull);
            }
        }
        failing
    });
    if failing > 0 {
        bail!("{failing} container image(s) would fail to pull; the reasons are above");
    }
    Ok(())
}
