//! Talking to a registry that asks for credentials: the `WWW-Authenticate` challenge, the
//! token flow as containerd does it (POST form first, GET with Basic as the fallback), and
//! tokens cached per scope and renewed before they expire.

use crate::oci_error::Refusal;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The username that says "the password is a refresh token" (ACR's convention).
pub const NULL_GUID: &str = "00000000-0000-0000-0000-000000000000";
/// A token is renewed when it has less than this left.
const RENEW_BEFORE: Duration = Duration::from_secs(30);

/// What the client presents.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// Nothing.
    Anonymous,
    /// A username and password (for the null GUID, the password is a refresh token).
    Basic {
        /// Username.
        username: String,
        /// Password.
        password: String,
    },
    /// A refresh token (docker's `identitytoken`).
    IdentityToken(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credentials::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// A `Bearer` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Token endpoint.
    pub realm: String,
    /// Service name.
    pub service: Option<String>,
    /// Scope the registry wants, if it said.
    pub scope: Option<String>,
    /// `invalid_token`, `insufficient_scope`, …
    pub error: Option<String>,
}

impl Challenge {
    /// Parses `Bearer realm="…",service="…",scope="…"`; `None` for other schemes.
    pub fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let mut values = HashMap::new();
        let mut rest = params.trim();
        while !rest.is_empty() {
            let (key, after) = rest.split_once('=')?;
            let after = after.trim_start();
            let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted.find('"')?;
                (&quoted[..end], &quoted[end + 1..])
            } else {
                after.split_once(',').map_or((after, ""), |(v, t)| (v, t))
            };
            values.insert(key.trim().to_ascii_lowercase(), value.to_owned());
            rest = tail.trim_start().trim_start_matches(',').trim_start();
        }
        Some(Challenge {
            realm: values.remove("realm")?,
            service: values.remove("service"),
            scope: values.remove("scope"),
            error: values.remove("error"),
        })
    }
}

/// Why talking to the registry failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The registry refused the credentials.
    #[error("the registry refused the credentials (wrong username or password, or an expired credential)")]
    Refused,
    /// The token endpoint answered something unusable.
    #[error("the token service answered {0}")]
    TokenService(String),
    /// The token endpoint refused with an error status (a pull-through cache tells an outage,
    /// 429 or 5xx, from a refusal by it).
    #[error("the token service answered {}", .0.summary())]
    TokenStatus(Refusal),
    /// The connection failed.
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

struct Cached {
    token: String,
    renew_at: Instant,
}

/// One registry's HTTP client, credentials and token cache.
pub struct Session {
    http: Client,
    credentials: Credentials,
    tokens: Mutex<HashMap<String, Cached>>,
    challenge: Mutex<Option<Challenge>>,
    basic_mode: Mutex<bool>,
    /// The registry answered Basic credentials on its API with 401 (it wants tokens).
    basic_refused: std::sync::atomic::AtomicBool,
}

fn basic_header(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

impl Session {
    /// A session over `http` presenting `credentials`.
    pub fn new(http: Client, credentials: Credentials) -> Self {
        Session {
            http,
            credentials,
            tokens: Mutex::new(HashMap::new()),
            challenge: Mutex::new(None),
            basic_mode: Mutex::new(false),
            basic_refused: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The underlying HTTP client.
    pub fn http(&self) -> &Client {
        &self.http
    }

    fn cached(&self, key: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        tokens.get(key).filter(|c| Instant::now() < c.renew_at).map(|c| c.token.clone())
    }

    /// A token for `scopes` from the challenge's realm, from the cache when it has a while
    /// to live.
    pub async fn token(&self, challenge: &Challenge, scopes: &[String]) -> Result<String, AuthError> {
        let key = format!("{}|{}|{}", challenge.realm, challenge.service.as_deref().unwrap_or(""), scopes.join(" "));
        if let Some(t) = self.cached(&key) {
            return Ok(t);
        }
        let body = self.fetch(challenge, scopes).await?;
        let token = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .ok_or_else(|| AuthError::TokenService("no token in the answer".into()))?;
        let lifetime = Duration::from_secs(body["expires_in"].as_u64().unwrap_or(60).max(60));
        let renew_at = Instant::now() + lifetime.saturating_sub(RENEW_BEFORE);
        self.tokens.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Cached { token: token.to_owned(), renew_at });
        Ok(token.to_owned())
    }

    /// POST form first (password or refresh grant), GET as the fallback, as containerd does;
    /// anonymous callers GET without credentials.
    async fn fetch(&self, ch: &Challenge, scopes: &[String]) -> Result<Value, AuthError> {
        let mut form: Vec<(&str, String)> = vec![("client_id", "berth".into())];
        if let Some(s) = &ch.service {
            form.push(("service", s.clone()));
        }
        for s in scopes {
            form.push(("scope", s.clone()));
        }
        let grant = match &self.credentials {
            Credentials::Anonymous => None,
            Credentials::IdentityToken(t) => {
                Some(vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", t.clone())])
            }
            Credentials::Basic { username, password } if username == NULL_GUID => {
                Some(vec![("grant_type", "refresh_token".to_owned()), ("refresh_token", password.clone())])
            }
            Credentials::Basic { username, password } => Some(vec![
                ("grant_type", "password".to_owned()),
                ("username", username.clone()),
                ("password", password.clone()),
            ]),
        };
        if let Some(grant) = grant {
            let mut fields = form.clone();
            fields.extend(grant);
            let r = self.http.post(&ch.realm).form(&fields).send().await?;
            match r.status() {
                s if s.is_success() => return Ok(r.json().await?),
                // Not every token service speaks OAuth2: fall back to GET (Basic).
                StatusCode::NOT_FOUND
                | StatusCode::METHOD_NOT_ALLOWED
                | StatusCode::BAD_REQUEST
                | StatusCode::UNAUTHORIZED => {}
                _ => return Err(AuthError::TokenStatus(Refusal::read(r).await)),
            }
            if matches!(self.credentials, Credentials::IdentityToken(_)) {
                return Err(AuthError::Refused);
            }
        }
        let mut url = reqwest::Url::parse(&ch.realm)
            .map_err(|e| AuthError::TokenService(format!("a bad realm {:?}: {e}", ch.realm)))?;
        url.query_pairs_mut().extend_pairs(form[1..].iter().map(|(k, v)| (*k, v.as_str())));
        let mut get = self.http.get(url);
        if let Credentials::Basic { username, password } = &self.credentials {
            get = get.header(reqwest::header::AUTHORIZATION, basic_header(username, password));
        }
        let r = get.send().await?;
        match r.status() {
            s if s.is_success() => Ok(r.json().await?),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(AuthError::Refused),
            _ => Err(AuthError::TokenStatus(Refusal::read(r).await)),
        }
    }

    /// A refresh token for these credentials from the registry at `base` (`http[s]://host`):
    /// the challenge of `GET /v2/` names the token service, which is asked with the password
    /// grant and `access_type=offline`. Refresh-token credentials are returned as they are.
    pub async fn refresh_token(&self, base: &str) -> Result<String, AuthError> {
        let (username, password) = match &self.credentials {
            Credentials::Basic { username, password } if username != NULL_GUID => (username, password),
            Credentials::Basic { password, .. } | Credentials::IdentityToken(password) => return Ok(password.clone()),
            Credentials::Anonymous => return Err(AuthError::Refused),
        };
        let probe = self.http.get(format!("{}/v2/", base.trim_end_matches('/'))).send().await?;
        let header = probe.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let ch = Challenge::parse(header).ok_or_else(|| {
            AuthError::TokenService(format!("the registry sent no Bearer challenge on /v2/ ({})", probe.status()))
        })?;
        let mut form = vec![
            ("grant_type", "password".to_owned()),
            ("username", username.clone()),
            ("password", password.clone()),
            ("client_id", "berth".to_owned()),
            ("access_type", "offline".to_owned()),
        ];
        if let Some(s) = &ch.service {
            form.push(("service", s.clone()));
        }
        let r = self.http.post(&ch.realm).form(&form).send().await?;
        match r.status() {
            s if s.is_success() => {
                let body: Value = r.json().await?;
                body["refresh_token"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| AuthError::TokenService("no refresh_token in the answer".into()))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(AuthError::Refused),
            _ => Err(AuthError::TokenStatus(Refusal::read(r).await)),
        }
    }

    /// The `Authorization` value for `scopes`, from the registry's last challenge: a Bearer
    /// token, or Basic when the registry asked for Basic. For requests that cannot be repeated
    /// (streamed bodies); `None` when the registry never asked for credentials.
    pub async fn authorization(&self, scopes: &[String]) -> Result<Option<String>, AuthError> {
        if *self.basic_mode.lock().unwrap_or_else(|p| p.into_inner()) {
            return Ok(self.basic_value());
        }
        let challenge = self.challenge.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match challenge {
            Some(ch) => Ok(Some(format!("Bearer {}", self.token(&ch, scopes).await?))),
            None => Ok(None),
        }
    }

    fn basic_value(&self) -> Option<String> {
        match &self.credentials {
            Credentials::Basic { username, password } => Some(basic_header(username, password)),
            _ => None,
        }
    }

    /// Sends the request as [`Self::send`] does, but with the username and password as Basic
    /// first, while the registry has not refused that: a registry that takes Basic on its API
    /// (Berth, ACR) then decides with everything the identity may do rather than with one
    /// token's scopes, which a mount without `from` needs to find a blob in the caller's other
    /// repositories. Only a registry whose token service is on its own host (the one that
    /// challenged before) is sent the password this way: one that delegates tokens to another
    /// host never sees it. A registry that answers 401 is asked as [`Self::send`] asks, and
    /// from then on only so (one extra round trip per session at most).
    pub async fn send_as_identity(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, AuthError> {
        use std::sync::atomic::Ordering;
        let basic = match &self.credentials {
            Credentials::Basic { username, password }
                if !self.basic_refused.load(Ordering::Relaxed) && self.issues_own_tokens(url) =>
            {
                basic_header(username, password)
            }
            _ => return self.send(method, url, scopes, build).await,
        };
        let first =
            build(self.http.request(method.clone(), url)).header(reqwest::header::AUTHORIZATION, basic).send().await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        self.basic_refused.store(true, Ordering::Relaxed);
        self.send(method, url, scopes, build).await
    }

    /// Whether the last Bearer challenge named a token service on the same host and port as
    /// `url`.
    fn issues_own_tokens(&self, url: &str) -> bool {
        let origin =
            |u: &str| reqwest::Url::parse(u).ok().map(|u| (u.host_str().map(str::to_owned), u.port_or_known_default()));
        let challenge = self.challenge.lock().unwrap_or_else(|p| p.into_inner());
        challenge.as_ref().is_some_and(|ch| origin(&ch.realm).is_some() && origin(&ch.realm) == origin(url))
    }

    /// Sends the request `build` makes. On a 401 it answers the challenge once: a Bearer
    /// challenge with a token for the challenge's scope (or `scopes`), a Basic challenge with
    /// the username and password (and Basic from then on).
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        scopes: &[String],
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, AuthError> {
        let basic = (*self.basic_mode.lock().unwrap_or_else(|p| p.into_inner())).then(|| self.basic_value()).flatten();
        // Once the registry has challenged, credentials go with the first try: a refused
        // request with a body costs a round trip and, unread, the connection.
        let known = match &basic {
            Some(b) => Some(b.clone()),
            None if !scopes.is_empty() => self.authorization(scopes).await?,
            None => None,
        };
        let mut first = build(self.http.request(method.clone(), url));
        if let Some(value) = &known {
            first = first.header(reqwest::header::AUTHORIZATION, value);
        }
        let first = first.send().await?;
        if first.status() != StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        if known.is_some() && basic.is_none() {
            // The token we had is not enough (expired early, or scoped too narrowly): ask anew.
            self.tokens.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        let header = first.headers().get(reqwest::header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let value = if let Some(ch) = Challenge::parse(header) {
            *self.challenge.lock().unwrap_or_else(|p| p.into_inner()) = Some(ch.clone());
            let wanted: Vec<String> = match &ch.scope {
                Some(s) if scopes.is_empty() => s.split_whitespace().map(str::to_owned).collect(),
                _ => scopes.to_vec(),
            };
            format!("Bearer {}", self.token(&ch, &wanted).await?)
        } else if header.trim_start().to_ascii_lowercase().starts_with("basic") && basic.is_none() {
            let Some(b) = self.basic_value() else { return Ok(first) };
            *self.basic_mode.lock().unwrap_or_else(|p| p.into_inner()) = true;
            b
        } else {
            return if basic.is_some() { Err(AuthError::Refused) } else { Ok(first) };
        };
        let second = build(self.http.request(method, url)).header(reqwest::header::AUTHORIZATION, value).send().await?;
        if second.status() == StatusCode::UNAUTHORIZED && !matches!(self.credentials, Credentials::Anonymous) {
            return Err(AuthError::Refused);
        }
        Ok(second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_goes_first_only_to_a_registry_that_issues_its_own_tokens() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let s = Session::new(Client::new(), Credentials::Basic { username: "u".into(), password: "p".into() });
        let url = "https://r.example:5000/v2/a/blobs/uploads/";
        assert!(!s.issues_own_tokens(url), "no challenge seen yet");
        let challenge = |realm: &str| Some(Challenge { realm: realm.into(), service: None, scope: None, error: None });
        *s.challenge.lock().unwrap() = challenge("https://r.example:5000/oauth2/token");
        assert!(s.issues_own_tokens(url));
        *s.challenge.lock().unwrap() = challenge("https://auth.example/token");
        assert!(!s.issues_own_tokens(url), "a token service elsewhere never gets the password this way");
        *s.challenge.lock().unwrap() = challenge("https://r.example/oauth2/token");
        assert!(!s.issues_own_tokens(url), "another port is another service");
    }

    #[test]
    fn challenges() {
        let c = Challenge::parse(r#"Bearer realm="https://r.io/oauth2/token",service="r.io",scope="repository:a/b:pull,push repository:c:pull""#).unwrap();
        assert_eq!(c.realm, "https://r.io/oauth2/token");
        assert_eq!(c.service.as_deref(), Some("r.io"));
        assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull,push repository:c:pull"));
        let c = Challenge::parse(r#"bearer realm="x", error="insufficient_scope""#).unwrap();
        assert_eq!(c.error.as_deref(), Some("insufficient_scope"));
        assert!(Challenge::parse(r#"Basic realm="x""#).is_none());
        assert!(Challenge::parse("Bearer service=x").is_none(), "no realm");
        assert_eq!(
            format!("{:?}", Credentials::Basic { username: "u".into(), password: "secret".into() }),
            "Basic(u, <redacted>)"
        );
    }
}
