//! `[federation]`: tokens from external OIDC issuers (Kubernetes service accounts, CI jobs)
//! accepted as the credentials of the principals whose federated credentials match them.

use super::ConfigError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[federation]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Federated tokens accepted at all (on by default; only issuers some federated
    /// credential names are ever dialled).
    pub enabled: bool,
    /// Seconds a refresh token obtained through federation lives.
    pub refresh_token_secs: u64,
    /// Longest lifetime (`exp` − `iat`) a federated token may have, in seconds.
    pub max_token_lifetime_secs: u64,
    /// Seconds of clock difference tolerated on `exp`, `nbf` and `iat`.
    pub clock_skew_secs: u64,
    /// An unknown `kid` (or a failed fetch) refetches an issuer's keys at most once per this
    /// many seconds.
    pub key_refetch_secs: u64,
    /// Seconds an issuer's keys are used before they are fetched again.
    pub keys_max_age_secs: u64,
    /// Seconds an issuer has to answer a key fetch.
    pub fetch_timeout_secs: u64,
    /// An issuer's JWKS from a file instead of discovery, by issuer
    /// (`"https://kubernetes.default.svc.cluster.local" = "/etc/berth/kind-jwks.json"`,
    /// made with `kubectl get --raw /openid/v1/jwks`); read again on every refresh.
    pub jwks_files: BTreeMap<String, PathBuf>,
    /// An issuer's JWKS from this URL instead of discovery, by issuer.
    pub jwks_urls: BTreeMap<String, String>,
    /// Extra CA certificates (PEM) trusted when fetching issuers' keys.
    pub ca_file: Option<PathBuf>,
}

impl Default for FederationConfig {
    fn default() -> Self {
        FederationConfig {
            enabled: true,
            refresh_token_secs: 3600,
            max_token_lifetime_secs: 24 * 3600,
            clock_skew_secs: 60,
            key_refetch_secs: 60,
            keys_max_age_secs: 3600,
            fetch_timeout_secs: 10,
            jwks_files: BTreeMap::new(),
            jwks_urls: BTreeMap::new(),
            ca_file: None,
        }
    }
}

impl FederationConfig {
    /// Checks the times and that every issuer named is a valid issuer URL.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let times = [
            self.refresh_token_secs,
            self.max_token_lifetime_secs,
            self.key_refetch_secs,
            self.keys_max_age_secs,
            self.fetch_timeout_secs,
        ];
        if times.contains(&0) {
            return Err(ConfigError(
                "federation.refresh_token_secs, max_token_lifetime_secs, key_refetch_secs, keys_max_age_secs and \
                 fetch_timeout_secs must be at least 1"
                    .into(),
            ));
        }
        if self.refresh_token_secs < 60 {
            return Err(ConfigError("federation.refresh_token_secs must be at least 60".into()));
        }
        for issuer in self.jwks_files.keys().chain(self.jwks_urls.keys()) {
            berth_core::federation::validate_issuer(issuer).map_err(|e| ConfigError(format!("federation: {e}")))?;
            if self.jwks_files.contains_key(issuer) && self.jwks_urls.contains_key(issuer) {
                return Err(ConfigError(format!(
                    "federation: the issuer {issuer:?} has both a jwks_files and a jwks_urls entry; keep one"
                )));
            }
        }
        for (issuer, url) in &self.jwks_urls {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError(format!("federation.jwks_urls.{issuer:?} = {url:?}: give an https:// URL")));
            }
        }
        Ok(())
    }
}
