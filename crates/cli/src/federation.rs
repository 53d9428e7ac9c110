//! Wiring of `[federation]`: the key fetcher (`berth-client`'s HTTP one), where each issuer's
//! keys come from, and the verification policy, handed to the identity service.

use anyhow::{Context, Result};
use berth_client::oidc::HttpIssuerKeys;
use berth_core::federation::KeySource;
use berth_registry::auth::Federation;
use berth_registry::auth::federated::{FederationPolicy, Verifier};
use berth_server::config::FederationConfig;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Federated logins as `c` configures them, or `None` when they are off.
pub fn federation(c: &FederationConfig) -> Result<Option<Federation>> {
    if !c.enabled {
        return Ok(None);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if let Some(file) = &c.ca_file {
        let pem = std::fs::read(file).with_context(|| format!("cannot read federation.ca_file {}", file.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("federation.ca_file {} holds no PEM certificate", file.display()))?
        {
            http = http.add_root_certificate(cert);
        }
    }
    let http = http.build().context("cannot make the HTTP client for OIDC issuers")?;
    let keys = HttpIssuerKeys::new(http, Duration::from_secs(c.fetch_timeout_secs));
    let mut sources = HashMap::new();
    for (issuer, file) in &c.jwks_files {
        sources.insert(issuer.clone(), KeySource::JwksFile(file.clone()));
    }
    for (issuer, url) in &c.jwks_urls {
        sources.insert(issuer.clone(), KeySource::JwksUrl(url.clone()));
    }
    let policy = FederationPolicy {
        clock_skew_secs: c.clock_skew_secs as i64,
        max_lifetime_secs: c.max_token_lifetime_secs as i64,
        refetch_interval: Duration::from_secs(c.key_refetch_secs),
        keys_max_age: Duration::from_secs(c.keys_max_age_secs),
    };
    Ok(Some(Federation::new(Verifier::new(Arc::new(keys), sources, policy), c.refresh_token_secs)))
}
