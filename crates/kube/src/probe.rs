//! Asking a registry, step by step, whether a credential can pull an image, so that a failure
//! has a name: unreachable, untrusted certificate, refused credentials, no pull permission on
//! the repository, no such tag (with the nearest ones), or fine.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_client::auth::Challenge;
use berth_client::endpoint::untrusted_certificate;
use berth_client::oci_error::Refusal;
use berth_client::reference::ImageRef;
use berth_client::registry::MANIFEST_ACCEPT;
use reqwest::{Client, RequestBuilder, StatusCode, header};
use serde_json::Value;

/// What the registry said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The manifest can be read.
    Ok,
    /// The host cannot be reached (the cause).
    Unreachable(String),
    /// The registry's certificate is not trusted (the cause).
    Untrusted(String),
    /// The registry refuses the credentials (its words, if any).
    Refused(String),
    /// The credentials are accepted, but grant no pull on the repository.
    NoPull,
    /// The repository has no such tag or digest; its tags nearest to the one asked for.
    NotFound(Vec<String>),
    /// Anything else (status and words).
    Other(String),
}

fn root_cause(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    last
}

fn transport(e: reqwest::Error) -> Probe {
    if untrusted_certificate(&e) { Probe::Untrusted(root_cause(&e)) } else { Probe::Unreachable(root_cause(&e)) }
}

/// Whether a token's `access` claim grants pull on `repository` (`None` when the token is not
/// a JWT with an `access` claim, so only the registry's answer can tell).
fn token_grants_pull(token: &str, repository: &str) -> Option<bool> {
    let claims: Value = crate::jwt::claims(token)?;
    let access = claims.get("access")?.as_array()?;
    Some(access.iter().any(|a| {
        a["type"] == "repository"
            && a["name"] == repository
            && a["actions"].as_array().is_some_and(|x| x.iter().any(|v| v == "pull" || v == "*"))
    }))
}

/// Levenshtein distance, for "did you mean" tags.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The three tags nearest to `wanted`.
pub fn nearest(tags: &[String], wanted: &str) -> Vec<String> {
    let mut sorted: Vec<&String> = tags.iter().collect();
    sorted.sort_by_key(|t| (distance(t, wanted), t.as_str()));
    sorted.into_iter().take(3).cloned().collect()
}

/// Asks the registry of `r`, at `base` (`berth_client::endpoint::api_base`), whether
/// `credential` (`None`: anonymous) can pull it.
pub async fn probe(http: &Client, base: &str, r: &ImageRef, credential: Option<(&str, &str)>) -> Probe {
    let repository = r.repository.as_str();
    let first = match http.get(format!("{base}/v2/")).send().await {
        Ok(resp) => resp,
        Err(e) => return transport(e),
    };
    let basic = credential.map(|(u, p)| format!("Basic {}", STANDARD.encode(format!("{u}:{p}"))));
    let challenge =
        first.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let authorization = if first.status() != StatusCode::UNAUTHORIZED {
        None
    } else if let Some(ch) = Challenge::parse(&challenge) {
        let mut url = match reqwest::Url::parse(&ch.realm) {
            Ok(u) => u,
            Err(e) => return Probe::Other(format!("the registry names a bad token service {:?} ({e})", ch.realm)),
        };
        if let Some(s) = &ch.service {
            url.query_pairs_mut().append_pair("service", s);
        }
        url.query_pairs_mut().append_pair("scope", &format!("repository:{repository}:pull"));
        let mut req = http.get(url);
        if let Some(b) = &basic {
            req = req.header(header::AUTHORIZATION, b);
        }
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => return transport(e),
        };
        if matches!(resp.status(), StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Probe::Refused(Refusal::read(resp).await.summary());
        }
        if !resp.status().is_success() {
            return Probe::Other(format!("the token service answered {}", Refusal::read(resp).await.summary()));
        }
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let Some(token) = body["token"].as_str().or_else(|| body["access_token"].as_str()) else {
            return Probe::Other("the token service sent no token".into());
        };
        if token_grants_pull(token, repository) == Some(false) {
            return Probe::NoPull;
        }
        Some(format!("Bearer {token}"))
    } else {
        basic.clone()
    };
    let with_auth = |req: RequestBuilder| match &authorization {
        Some(a) => req.header(header::AUTHORIZATION, a),
        None => req,
    };
    let manifest = format!("{base}/v2/{repository}/manifests/{}", r.reference());
    let resp = match with_auth(http.get(&manifest).header(header::ACCEPT, MANIFEST_ACCEPT)).send().await {
        Ok(resp) => resp,
        Err(e) => return transport(e),
    };
    match resp.status() {
        s if s.is_success() => Probe::Ok,
        StatusCode::NOT_FOUND => {
            let tags = match with_auth(http.get(format!("{base}/v2/{repository}/tags/list"))).send().await {
                Ok(t) if t.status().is_success() => t.json::<Value>().await.unwrap_or(Value::Null)["tags"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            Probe::NotFound(nearest(&tags, &r.reference()))
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
            if authorization.as_deref().is_some_and(|a| a.starts_with("Bearer")) =>
        {
            Probe::NoPull
        }
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Probe::Refused(Refusal::read(resp).await.summary()),
        _ => Probe::Other(Refusal::read(resp).await.summary()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[test]
    fn nearest_tags() {
        let tags: Vec<String> = ["v1", "v1.1", "v2", "latest", "v10"].iter().map(|s| s.to_string()).collect();
        assert_eq!(nearest(&tags, "v1.0"), ["v1.1", "v10", "v1"]);
    }

    #[test]
    fn grants() {
        let token = |claims: &str| format!("h.{}.s", URL_SAFE_NO_PAD.encode(claims));
        assert_eq!(
            token_grants_pull(&token(r#"{"access":[{"type":"repository","name":"a/b","actions":["pull"]}]}"#), "a/b"),
            Some(true)
        );
        assert_eq!(token_grants_pull(&token(r#"{"access":[]}"#), "a/b"), Some(false));
        assert_eq!(token_grants_pull("opaque", "a/b"), None);
    }
}
