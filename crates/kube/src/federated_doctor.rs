//! Why a service-account token would (not) get a pull, in words: what the token says of
//! itself (issuer, subject, audience, expiry, read without verifying), then the registry's
//! answer to exchanging it as the credential provider would, its refusal turned into a finding.

use crate::jwt::{audiences, claims};
use berth_client::federated::{ExchangeError, exchange};
use serde_json::Value;

/// A service-account token as the kubelet would hand it to the credential provider.
#[derive(Debug, Clone)]
pub struct ServiceAccountToken {
    /// The JWT.
    pub token: String,
    /// The principal to exchange it for (`--client-id`), if named.
    pub client_id: Option<String>,
}

fn when(secs: i64) -> String {
    jiff::Timestamp::from_second(secs)
        .map_or_else(|_| secs.to_string(), |t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// What `claims` say, a sentence each: who issued the token for whom and until when, and
/// that it has expired when `exp` is at or before `now`.
pub fn claim_lines(claims: &Value, now: i64) -> Vec<String> {
    let text = |k: &str| claims[k].as_str().unwrap_or("(none)").to_owned();
    let mut out = vec![format!(
        "the service-account token is issued by {:?} for subject {:?}, audience {:?}",
        text("iss"),
        text("sub"),
        audiences(claims)
    )];
    match claims["exp"].as_i64() {
        Some(exp) if exp <= now => out.push(format!(
            "the service-account token expired at {}: the kubelet passes a fresh one, this one is stale",
            when(exp)
        )),
        Some(exp) => out.push(format!("the service-account token is valid until {}", when(exp))),
        None => out.push("the service-account token carries no exp; the registry refuses such tokens".into()),
    }
    out
}

/// The registry's refusal `words` of a token with `claims`, as a finding with what to do.
pub fn finding(words: &str, claims: &Value) -> String {
    let text = |k: &str| claims[k].as_str().unwrap_or_default().to_owned();
    let lower = words.to_ascii_lowercase();
    if lower.contains("no federated credential") {
        format!(
            "no federated credential trusts subject {:?} of issuer {:?} ({words}); run `berth kube connect --workload-identity --issuer {} …` for that service account, or `berth sp federated-credential create`",
            text("sub"),
            text("iss"),
            text("iss")
        )
    } else if lower.contains("audience") {
        format!(
            "the token's audience {:?} is not the one its federated credential accepts ({words}); the provider's tokenAttributes.serviceAccountTokenAudience must be the credential's audience",
            audiences(claims)
        )
    } else if lower.contains("keys") && (lower.contains("reach") || lower.contains("fetch")) {
        format!(
            "the registry cannot get the signing keys of issuer {:?} ({words}); make the issuer reachable from the registry, or export them (`kubectl get --raw /openid/v1/jwks`) into [federation] jwks_files",
            text("iss")
        )
    } else if lower.contains("expired") {
        format!("the registry finds the token expired ({words}); the kubelet must pass a fresh one")
    } else {
        format!("the registry refuses the service-account token: {words}")
    }
}

/// Exchanges `sa` at the registry at `base`: the refresh token it answers, or the lines that
/// say why not (the claims first, then the finding).
pub async fn exchanged(http: &reqwest::Client, base: &str, sa: &ServiceAccountToken) -> (Option<String>, Vec<String>) {
    let Some(claimed) = claims(&sa.token) else {
        return (None, vec!["the service-account token file does not hold a JWT".into()]);
    };
    let mut lines = claim_lines(&claimed, jiff::Timestamp::now().as_second());
    match exchange(http, base, &sa.token, sa.client_id.as_deref()).await {
        Ok(answer) => {
            lines.push(format!(
                "the registry exchanges the service-account token for a refresh token of {} s",
                answer.expires_in
            ));
            (Some(answer.refresh_token), lines)
        }
        Err(ExchangeError::Refused(r)) => {
            lines.push(finding(&r.words(), &claimed));
            (None, lines)
        }
        Err(e) => {
            lines.push(format!("the exchange at {base} failed: {e}"));
            (None, lines)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn k8s() -> Value {
        json!({"iss": "https://kube.example", "sub": "system:serviceaccount:a:web", "aud": ["r.example"], "exp": 1_700_000_000})
    }

    #[test]
    fn an_expired_token_is_said_by_the_doctor_itself() {
        let lines = claim_lines(&k8s(), 1_700_000_100);
        assert!(lines[0].contains("\"system:serviceaccount:a:web\"") && lines[0].contains("r.example"), "{lines:?}");
        assert_eq!(
            lines[1],
            "the service-account token expired at 2023-11-14 22:13:20 UTC: the kubelet passes a fresh one, this one is stale"
        );
        assert!(claim_lines(&k8s(), 1_600_000_000)[1].starts_with("the service-account token is valid until"));
    }

    #[test]
    fn the_registry_sentences_become_findings() {
        let c = k8s();
        let no = finding(
            "no federated credential matches issuer \"https://kube.example\" and subject \"system:serviceaccount:a:web\"",
            &c,
        );
        assert!(no.starts_with("no federated credential trusts subject") && no.contains("--workload-identity"), "{no}");
        let aud = finding("the token's audience [\"x\"] is not the audience of a federated credential", &c);
        assert!(aud.contains("serviceAccountTokenAudience"), "{aud}");
        let keys =
            finding("the signing keys of issuer \"https://kube.example\" are not reachable: connection refused", &c);
        assert!(keys.contains("jwks_files"), "{keys}");
        let exp = finding("the federated token expired at 1700000000 (seconds since the epoch); get a fresh one", &c);
        assert!(exp.starts_with("the registry finds the token expired"), "{exp}");
        assert!(finding("something new", &c).ends_with("something new"));
    }
}
