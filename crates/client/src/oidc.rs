//! [`HttpIssuerKeys`]: an OIDC issuer's signing keys over HTTP (discovery, then `jwks_uri`), from
//! a JWKS URL, or from a file; the registry parses, caches and bounds how often it asks.

use async_trait::async_trait;
use berth_core::federation::{IssuerKeys, KeySource};
use reqwest::Client;
use std::time::Duration;

/// Bytes a discovery document or key set may have at most.
pub const MAX_DOCUMENT: usize = 1 << 20;

/// Fetches issuers' key sets with `http` (which should follow no redirects), each request
/// within `timeout`.
pub struct HttpIssuerKeys {
    http: Client,
    timeout: Duration,
}

impl HttpIssuerKeys {
    /// Fetches with `http`, each request within `timeout`.
    pub fn new(http: Client, timeout: Duration) -> Self {
        HttpIssuerKeys { http, timeout }
    }

    async fn get(&self, url: &str) -> Result<Vec<u8>, String> {
        let loopback =
            ["http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/", "http://[::1]"];
        if !url.starts_with("https://") && !loopback.iter().any(|p| url.starts_with(p)) {
            return Err(format!("{url} is not an https:// URL"));
        }
        let fetch = async {
            let mut r = self
                .http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("GET {url}: {e}"))?;
            if !r.status().is_success() {
                return Err(format!("GET {url}: {}", r.status()));
            }
            let mut body = Vec::new();
            while let Some(chunk) = r.chunk().await.map_err(|e| format!("GET {url}: {e}"))? {
                if body.len() + chunk.len() > MAX_DOCUMENT {
                    return Err(format!("GET {url}: the answer is larger than {MAX_DOCUMENT} bytes"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        tokio::time::timeout(self.timeout, fetch)
            .await
            .unwrap_or_else(|_| Err(format!("GET {url}: no answer within {} s", self.timeout.as_secs())))
    }
}

#[async_trait]
impl IssuerKeys for HttpIssuerKeys {
    async fn jwks(&self, issuer: &str, source: &KeySource) -> Result<Vec<u8>, String> {
        match source {
            KeySource::Discovery => {
                let url = format!("{issuer}/.well-known/openid-configuration");
                let doc: serde_json::Value = serde_json::from_slice(&self.get(&url).await?)
                    .map_err(|e| format!("{url} is not an OpenID discovery document: {e}"))?;
                let (Some(named), Some(jwks_uri)) = (doc["issuer"].as_str(), doc["jwks_uri"].as_str()) else {
                    return Err(format!("{url} names no issuer and jwks_uri"));
                };
                if named != issuer {
                    return Err(format!("{url} names the issuer {named:?}, not {issuer:?}"));
                }
                self.get(jwks_uri).await
            }
            KeySource::JwksUrl(url) => self.get(url).await,
            KeySource::JwksFile(path) => {
                let read = tokio::fs::read(path).await.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if read.len() > MAX_DOCUMENT {
                    return Err(format!("{} is larger than {MAX_DOCUMENT} bytes", path.display()));
                }
                Ok(read)
            }
        }
    }
}
