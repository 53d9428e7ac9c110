//! A kubelet credential-provider exec plugin (`credentialprovider.kubelet.k8s.io/v1`): the
//! kubelet writes a `CredentialProviderRequest` on stdin and reads a
//! `CredentialProviderResponse` from stdout. Berth answers for its own registry only: the
//! null-GUID username with a refresh token (ACR's convention), cached per registry for less
//! than the token lives; any other host gets an empty `auth`, cached for no time.
//!
//! With `tokenAttributes` in its `CredentialProviderConfig` entry (KEP-4412) the kubelet also
//! sends the pod's service-account token and the service account's annotations; the refresh
//! token then comes from exchanging that token, and lives no longer than it.

use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The API version the plugin speaks.
pub const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";
/// The longest the kubelet may cache an answer.
const MAX_CACHE_SECS: u64 = 3600;

/// Why a request cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// The service-account annotation naming the principal (its appId) a token is exchanged for;
/// `berth kube connect --workload-identity` writes it.
pub const CLIENT_ID_ANNOTATION: &str = "berth.dev/client-id";

/// What the kubelet asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The image to pull.
    pub image: String,
    /// The pod's service-account token, when the provider's `tokenAttributes` ask for one.
    pub service_account_token: Option<String>,
    /// The service account's annotations the provider's `tokenAttributes` name.
    pub service_account_annotations: BTreeMap<String, String>,
}

impl Request {
    /// The appId of the [`CLIENT_ID_ANNOTATION`], when the service account carries one.
    pub fn client_id(&self) -> Option<&str> {
        self.service_account_annotations.get(CLIENT_ID_ANNOTATION).map(String::as_str).filter(|s| !s.is_empty())
    }
}

/// The request on stdin; an empty `serviceAccountToken` is none.
pub fn parse_request(bytes: &[u8]) -> Result<Request, RequestError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        RequestError(format!("the request on stdin is not JSON ({e}); the kubelet writes a CredentialProviderRequest"))
    })?;
    if v["apiVersion"] != API_VERSION {
        return Err(RequestError(format!("apiVersion is {}, not {API_VERSION}", v["apiVersion"])));
    }
    if v["kind"] != "CredentialProviderRequest" {
        return Err(RequestError(format!("kind is {}, not CredentialProviderRequest", v["kind"])));
    }
    let image = v["image"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| RequestError("the request names no image".into()))?;
    let service_account_token = match &v["serviceAccountToken"] {
        Value::Null => None,
        Value::String(t) => Some(t.clone()).filter(|t| !t.is_empty()),
        _ => return Err(RequestError("serviceAccountToken is not a string".into())),
    };
    let service_account_annotations = match &v["serviceAccountAnnotations"] {
        Value::Null => BTreeMap::new(),
        Value::Object(m) => m
            .iter()
            .map(|(k, a)| match a {
                Value::String(a) => Ok((k.clone(), a.clone())),
                _ => Err(RequestError(format!("serviceAccountAnnotations[{k:?}] is not a string"))),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(RequestError("serviceAccountAnnotations is not an object of strings".into())),
    };
    Ok(Request { image, service_account_token, service_account_annotations })
}

/// Go's `time.Duration.String()` for whole seconds (`1h0m0s`, `30m0s`, `45s`, `0s`).
pub fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

/// How long the kubelet may keep a refresh token: half its remaining life (read from the
/// JWT's `exp`), at most an hour; 0 when it cannot be read.
pub fn cache_secs(refresh_token: &str, now: u64) -> u64 {
    crate::jwt::expiry(refresh_token).map_or(0, |e| (e.saturating_sub(now) / 2).min(MAX_CACHE_SECS))
}

/// How long the kubelet may keep a refresh token exchanged for `service_account_token`:
/// 80 % of the shorter of the refresh token's `expires_in` and the service-account token's
/// remaining life (its `exp`, read without verifying); 0 when that `exp` cannot be read.
pub fn federated_cache_secs(expires_in: u64, service_account_token: &str, now: u64) -> u64 {
    let left = crate::jwt::expiry(service_account_token).map_or(0, |e| e.saturating_sub(now));
    expires_in.min(left) * 4 / 5
}

/// The response: `auth` for `host` when given, else empty and not cached.
pub fn response(credential: Option<(&str, &str, &str)>, cache: u64) -> Value {
    let (auth, cache) = match credential {
        Some((host, username, password)) => (json!({ host: { "username": username, "password": password } }), cache),
        None => (json!({}), 0),
    };
    json!({
        "apiVersion": API_VERSION,
        "kind": "CredentialProviderResponse",
        "cacheKeyType": "Registry",
        "cacheDuration": go_duration(cache),
        "auth": auth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        assert_eq!(go_duration(3600), "1h0m0s");
        assert_eq!(go_duration(1800), "30m0s");
        assert_eq!(go_duration(45), "45s");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(5400), "1h30m0s");
    }

    fn token(exp: u64) -> String {
        use base64::Engine;
        format!("h.{}.s", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{{\"exp\":{exp}}}")))
    }

    #[test]
    fn cache_is_half_the_remaining_life_at_most_an_hour() {
        assert_eq!(cache_secs(&token(1000 + 3 * 3600), 1000), 3600);
        assert_eq!(cache_secs(&token(1000 + 600), 1000), 300);
        assert_eq!(cache_secs(&token(900), 1000), 0);
        assert_eq!(cache_secs("opaque", 1000), 0);
    }

    #[test]
    fn requests() {
        let ok = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"r.io/a/b"}"#;
        assert_eq!(parse_request(ok).unwrap().image, "r.io/a/b");
        assert!(parse_request(b"{").is_err());
        assert!(parse_request(br#"{"apiVersion":"v1","kind":"CredentialProviderRequest","image":"x"}"#).is_err());
        assert_eq!(response(None, 99)["cacheDuration"], "0s");
    }

    #[test]
    fn federated_cache_is_below_both_lives() {
        // The service-account token has 600 s left, the refresh token 3 h: 80 % of 600 s.
        assert_eq!(federated_cache_secs(3 * 3600, &token(1600), 1000), 480);
        // The refresh token is the shorter.
        assert_eq!(federated_cache_secs(300, &token(1000 + 3600), 1000), 240);
        assert_eq!(federated_cache_secs(3600, &token(900), 1000), 0, "an expired token");
        assert_eq!(federated_cache_secs(3600, "opaque", 1000), 0, "no exp");
    }

    #[test]
    fn requests_with_a_service_account_token() {
        let r = parse_request(
            br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"r.io/a","serviceAccountToken":"h.p.s","serviceAccountAnnotations":{"berth.dev/client-id":"app-1","other":"x"}}"#,
        )
        .unwrap();
        assert_eq!(r.service_account_token.as_deref(), Some("h.p.s"));
        assert_eq!(r.client_id(), Some("app-1"));
        assert_eq!(r.service_account_annotations.len(), 2);
        let plain = parse_request(
            br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"r.io/a","serviceAccountToken":""}"#,
        )
        .unwrap();
        assert_eq!(plain.service_account_token, None);
        assert_eq!(plain.client_id(), None);
        let bad = parse_request(
            br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"r.io/a","serviceAccountAnnotations":{"k":1}}"#,
        );
        assert!(bad.unwrap_err().0.contains("serviceAccountAnnotations"));
    }
}
