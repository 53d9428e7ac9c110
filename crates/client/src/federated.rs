//! The federated exchange as a client speaks it (issue 15): an OIDC token from a CI system or
//! a cluster, traded at `POST /oauth2/exchange` in ACR's form
//! (`grant_type=access_token&service=S&access_token=JWT[&client_id=APPID]`) for a refresh
//! token, which is then the password of the null-GUID username ([`crate::auth::NULL_GUID`]).
//!
//! Contract: the token is sent once, in the form body only, and appears in no error.

use crate::auth::Challenge;
use crate::oci_error::Refusal;
use berth_core::admin_api::{FederatedExchangeAnswer, GRANT_ACCESS_TOKEN};
use reqwest::Client;

/// Why an exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    /// The registry refused the token; its sentence says why (no federated credential for
    /// that issuer and subject, audience not accepted, token expired, …).
    #[error("{}", .0.words())]
    Refused(Refusal),
    /// The registry answered 200 with something other than a refresh token.
    #[error("the registry's exchange answered without a refresh token: {0}")]
    Answer(String),
    /// The connection failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// The service name the registry at `base` (`http[s]://HOST[:PORT]`) issues tokens for: the
/// `service` of the Bearer challenge its `GET /v2/` answers, else its host.
pub async fn service(http: &Client, base: &str) -> Result<String, reqwest::Error> {
    let probe = http.get(format!("{base}/v2/")).send().await?;
    let named = probe
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(Challenge::parse)
        .and_then(|c| c.service);
    Ok(named.unwrap_or_else(|| host_of(base)))
}

fn host_of(base: &str) -> String {
    base.split("://").nth(1).unwrap_or(base).trim_end_matches('/').to_owned()
}

/// The ACR form of the exchange for `service`, `token` and the optional application ID.
pub fn form<'a>(service: &'a str, token: &'a str, client_id: Option<&'a str>) -> Vec<(&'static str, &'a str)> {
    let mut form = vec![("grant_type", GRANT_ACCESS_TOKEN), ("service", service), ("access_token", token)];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    form
}

/// Exchanges `token` at the registry at `base` for a refresh token: the service from
/// [`service`], then `POST {base}/oauth2/exchange` with [`form`]. Without `client_id` the
/// registry picks the one principal whose federated credentials match.
pub async fn exchange(
    http: &Client,
    base: &str,
    token: &str,
    client_id: Option<&str>,
) -> Result<FederatedExchangeAnswer, ExchangeError> {
    let base = base.trim_end_matches('/');
    let service = service(http, base).await?;
    let r = http.post(format!("{base}/oauth2/exchange")).form(&form(&service, token, client_id)).send().await?;
    if !r.status().is_success() {
        return Err(ExchangeError::Refused(Refusal::read(r).await));
    }
    let body = r.bytes().await?;
    let answer: FederatedExchangeAnswer =
        serde_json::from_slice(&body).map_err(|e| ExchangeError::Answer(e.to_string()))?;
    if answer.refresh_token.is_empty() {
        return Err(ExchangeError::Answer("the refresh_token is empty".into()));
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_form_with_and_without_client_id() {
        assert_eq!(
            form("r.example", "JWT", Some("app")),
            [("grant_type", "access_token"), ("service", "r.example"), ("access_token", "JWT"), ("client_id", "app")]
        );
        assert_eq!(form("r", "JWT", None).len(), 3);
    }

    #[test]
    fn host_without_scheme_or_slash() {
        assert_eq!(host_of("https://r.example:5000/"), "r.example:5000");
        assert_eq!(host_of("http://127.0.0.1:1"), "127.0.0.1:1");
    }

    #[test]
    fn a_refusal_reads_as_the_registry_sentence() {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":"no federated credential for issuer https://i and subject repo:o/a:ref:refs/heads/dev"}]}"#;
        let e = ExchangeError::Refused(Refusal::parse(reqwest::StatusCode::UNAUTHORIZED, body));
        assert_eq!(
            e.to_string(),
            "no federated credential for issuer https://i and subject repo:o/a:ref:refs/heads/dev"
        );
    }
}
