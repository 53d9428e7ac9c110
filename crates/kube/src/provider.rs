//! A kubelet credential-provider exec plugin (`credentialprovider.kubelet.k8s.io/v1`): the
//! kubelet writes a `CredentialProviderRequest` on stdin and reads a
//! `CredentialProviderResponse` from stdout. Berth answers for its own registry only: the
//! null-GUID username with a refresh token (ACR's convention), cached per registry for less
//! than the token lives; any other host gets an empty `auth`, cached for no time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

/// The API version the plugin speaks.
pub const API_VERSION: &str = "credentialprovider.kubelet.k8s.io/v1";
/// The longest the kubelet may cache an answer.
const MAX_CACHE_SECS: u64 = 3600;

/// Why a request cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

/// The image a request asks about.
pub fn parse_request(bytes: &[u8]) -> Result<String, RequestError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        RequestError(format!("the request on stdin is not JSON ({e}); the kubelet writes a CredentialProviderRequest"))
    })?;
    if v["apiVersion"] != API_VERSION {
        return Err(RequestError(format!("apiVersion is {}, not {API_VERSION}", v["apiVersion"])));
    }
    if v["kind"] != "CredentialProviderRequest" {
        return Err(RequestError(format!("kind is {}, not CredentialProviderRequest", v["kind"])));
    }
    v["image"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| RequestError("the request names no image".into()))
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
    let exp = refresh_token
        .split('.')
        .nth(1)
        .and_then(|p| URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|c| c["exp"].as_u64());
    exp.map_or(0, |e| (e.saturating_sub(now) / 2).min(MAX_CACHE_SECS))
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

    #[test]
    fn cache_is_half_the_remaining_life_at_most_an_hour() {
        let token = |exp: u64| format!("h.{}.s", URL_SAFE_NO_PAD.encode(format!("{{\"exp\":{exp}}}")));
        assert_eq!(cache_secs(&token(1000 + 3 * 3600), 1000), 3600);
        assert_eq!(cache_secs(&token(1000 + 600), 1000), 300);
        assert_eq!(cache_secs(&token(900), 1000), 0);
        assert_eq!(cache_secs("opaque", 1000), 0);
    }

    #[test]
    fn requests() {
        let ok = br#"{"apiVersion":"credentialprovider.kubelet.k8s.io/v1","kind":"CredentialProviderRequest","image":"r.io/a/b"}"#;
        assert_eq!(parse_request(ok).unwrap(), "r.io/a/b");
        assert!(parse_request(b"{").is_err());
        assert!(parse_request(br#"{"apiVersion":"v1","kind":"CredentialProviderRequest","image":"x"}"#).is_err());
        assert_eq!(response(None, 99)["cacheDuration"], "0s");
    }
}
