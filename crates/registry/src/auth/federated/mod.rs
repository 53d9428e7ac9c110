//! Verifying JWTs from external OIDC issuers (Kubernetes service-account tokens, CI jobs'
//! tokens): the signature with the issuer's key chosen by `kid`, and the times.
//!
//! Contracts:
//! - Only RS256 and ES256, and the header's `alg` must be the algorithm of the key the `kid`
//!   selects: `alg: none`, HMAC (a public key used as a secret) and every mismatch are refused
//!   before any signature check. `jku`, `x5u`, `x5c` and `jwk` headers are never used or
//!   fetched; a `crit` header is refused.
//! - `exp` is required and checked with `clock_skew_secs`, as are `nbf` and `iat` when present;
//!   a token living longer than `max_lifetime_secs` (from `iat`, else `nbf`) is refused.
//! - The issuer's keys come from a per-issuer cache (`keys.rs`); the caller decides which issuers may be
//!   dialled, and checks subject and audience against its federated credentials itself.

mod jwk;
mod keys;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use berth_core::federation::{IssuerKeys, KeySource};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub use jwk::Alg;

/// Bytes a federated token may have at most.
pub const MAX_TOKEN: usize = 16 * 1024;

/// How strictly tokens are checked and how often keys are fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederationPolicy {
    /// Seconds of clock difference tolerated.
    pub clock_skew_secs: i64,
    /// Longest lifetime accepted, seconds.
    pub max_lifetime_secs: i64,
    /// An unknown `kid` or a failed fetch refetches an issuer's keys at most this often.
    pub refetch_interval: Duration,
    /// Keys are used this long, then fetched again.
    pub keys_max_age: Duration,
}

impl Default for FederationPolicy {
    fn default() -> Self {
        FederationPolicy {
            clock_skew_secs: 60,
            max_lifetime_secs: 24 * 3600,
            refetch_interval: Duration::from_secs(60),
            keys_max_age: Duration::from_secs(3600),
        }
    }
}

/// Why a federated token was refused; its `Display` is a sentence the caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not a compact JWS of JSON, or too large.
    #[error("the federated token is not a JWT: {0}")]
    Malformed(String),
    /// A required claim is missing or of the wrong type.
    #[error("the federated token has no valid {0:?} claim")]
    MissingClaim(&'static str),
    /// An algorithm Berth does not accept, or one that is not the key's.
    #[error("the federated token's algorithm {0:?} is not accepted: its issuer's key verifies RS256 or ES256")]
    Algorithm(String),
    /// A header that changes how the token must be read (`crit`).
    #[error("the federated token carries a critical header Berth does not understand")]
    Critical,
    /// No key of the issuer has this `kid` (after at most one refetch).
    #[error("no signing key of issuer {issuer:?} has kid {kid:?}")]
    UnknownKey {
        /// The issuer.
        issuer: String,
        /// The `kid` (or `(none)`).
        kid: String,
    },
    /// The issuer's keys could not be had.
    #[error("the signing keys of issuer {issuer:?} are not reachable: {why}")]
    KeysUnavailable {
        /// The issuer.
        issuer: String,
        /// The fetcher's sentence.
        why: String,
    },
    /// The signature is not the key's.
    #[error("the federated token's signature does not verify with its issuer's key")]
    Signature,
    /// Past `exp`.
    #[error("the federated token expired at {0} (seconds since the epoch); get a fresh one")]
    Expired(i64),
    /// Before `nbf` or `iat`.
    #[error("the federated token is not valid before {0} (seconds since the epoch): check the clocks")]
    NotYetValid(i64),
    /// Lives longer than allowed.
    #[error("the federated token lives {secs} s, more than the {max} s this registry accepts")]
    Lifetime {
        /// Its lifetime.
        secs: i64,
        /// The maximum.
        max: i64,
    },
}

impl Refusal {
    /// A short fixed label, for audit lines and tests.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "malformed",
            Refusal::MissingClaim(_) => "missing_claim",
            Refusal::Algorithm(_) => "algorithm",
            Refusal::Critical => "critical_header",
            Refusal::UnknownKey { .. } => "unknown_key",
            Refusal::KeysUnavailable { .. } => "keys_unavailable",
            Refusal::Signature => "signature",
            Refusal::Expired(_) => "expired",
            Refusal::NotYetValid(_) => "not_yet_valid",
            Refusal::Lifetime { .. } => "lifetime",
        }
    }
}

/// The issuer and subject a token claims, read without verifying anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnverifiedClaims {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
}

/// A verified token's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// `aud`, as a list.
    pub audiences: Vec<String>,
    /// `exp`.
    pub expires_at: i64,
    /// `iat` (or `nbf`, or the moment of verification).
    pub issued_at: i64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    nbf: Option<i64>,
    iat: Option<i64>,
}

/// A token split into its parts, decoded.
struct Parsed<'a> {
    header: Header,
    claims: Claims,
    signed: &'a str,
    signature: Vec<u8>,
}

fn part<T: serde::de::DeserializeOwned>(text: &str, what: &str) -> Result<T, Refusal> {
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| Refusal::Malformed(format!("its {what} is not base64url")))?;
    serde_json::from_slice(&bytes).map_err(|_| Refusal::Malformed(format!("its {what} is not the JSON a JWT holds")))
}

fn parse(token: &str) -> Result<Parsed<'_>, Refusal> {
    if token.len() > MAX_TOKEN {
        return Err(Refusal::Malformed(format!("it is longer than {MAX_TOKEN} bytes")));
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(Refusal::Malformed("it is not three dot-separated parts".into()));
    };
    let header: Header = part(h, "header")?;
    let claims: Claims = part(c, "payload")?;
    let signature =
        URL_SAFE_NO_PAD.decode(s).map_err(|_| Refusal::Malformed("its signature is not base64url".into()))?;
    Ok(Parsed { header, claims, signed: &token[..h.len() + 1 + c.len()], signature })
}

/// The `iss` and `sub` a token claims, read without verifying anything (for the store
/// look-up and the audit log).
pub fn peek(token: &str) -> Result<UnverifiedClaims, Refusal> {
    let p = parse(token)?;
    Ok(UnverifiedClaims {
        issuer: p.claims.iss.ok_or(Refusal::MissingClaim("iss"))?,
        subject: p.claims.sub.ok_or(Refusal::MissingClaim("sub"))?,
    })
}

/// Whether `s` is shaped like a compact JWS (three base64url parts, a JSON header with
/// `alg`): cheap, to tell a federated token from a Berth secret.
pub fn is_jwt(s: &str) -> bool {
    s.len() <= MAX_TOKEN
        && s.split('.').count() == 3
        && s.split('.').next().is_some_and(|h| part::<Header>(h, "header").is_ok())
}

/// Verifies federated tokens with their issuers' keys.
pub struct Verifier {
    keys: keys::KeyCache,
    policy: FederationPolicy,
}

impl Verifier {
    /// Verifies with keys from `fetcher`: from `sources` for the issuers named there, by OIDC
    /// discovery for the others.
    pub fn new(fetcher: Arc<dyn IssuerKeys>, sources: HashMap<String, KeySource>, policy: FederationPolicy) -> Self {
        Verifier { keys: keys::KeyCache::new(fetcher, sources, policy.clone()), policy }
    }

    /// Checks the signature (key by `kid`, algorithm from the key), `exp`, `nbf`, `iat` and
    /// the lifetime at `now` (seconds since the epoch). The caller has already decided the
    /// token's issuer may be dialled; subject and audience are its to check.
    pub async fn verify(&self, token: &str, now: i64) -> Result<VerifiedToken, Refusal> {
        let p = parse(token)?;
        if p.header.crit.is_some() {
            return Err(Refusal::Critical);
        }
        let alg = match p.header.alg.as_str() {
            "RS256" => Alg::Rs256,
            "ES256" => Alg::Es256,
            other => return Err(Refusal::Algorithm(other.to_owned())),
        };
        let issuer = p.claims.iss.clone().ok_or(Refusal::MissingClaim("iss"))?;
        let key = self.keys.key(&issuer, p.header.kid.as_deref()).await?;
        if key.alg != alg {
            return Err(Refusal::Algorithm(p.header.alg));
        }
        if !key.verifies(p.signed.as_bytes(), &p.signature) {
            return Err(Refusal::Signature);
        }
        self.times(issuer, p.claims, now)
    }

    fn times(&self, issuer: String, c: Claims, now: i64) -> Result<VerifiedToken, Refusal> {
        let skew = self.policy.clock_skew_secs;
        let subject = c.sub.ok_or(Refusal::MissingClaim("sub"))?;
        let audiences = match c.aud {
            Some(Audience::One(a)) => vec![a],
            Some(Audience::Many(a)) => a,
            None => return Err(Refusal::MissingClaim("aud")),
        };
        let exp = c.exp.ok_or(Refusal::MissingClaim("exp"))?;
        if exp <= now - skew {
            return Err(Refusal::Expired(exp));
        }
        for t in [c.nbf, c.iat].into_iter().flatten() {
            if t > now + skew {
                return Err(Refusal::NotYetValid(t));
            }
        }
        let issued_at = c.iat.or(c.nbf).unwrap_or(now);
        let secs = exp - issued_at;
        if secs > self.policy.max_lifetime_secs {
            return Err(Refusal::Lifetime { secs, max: self.policy.max_lifetime_secs });
        }
        Ok(VerifiedToken { issuer, subject, audiences, expires_at: exp, issued_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: serde_json::Value, claims: serde_json::Value) -> String {
        let e = |v: serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!("{}.{}.", e(header), e(claims))
    }

    #[test]
    fn peek_and_shape() {
        let t = token(serde_json::json!({ "alg": "none" }), serde_json::json!({ "iss": "https://i", "sub": "s" }));
        assert!(is_jwt(&t));
        assert_eq!(peek(&t).unwrap(), UnverifiedClaims { issuer: "https://i".into(), subject: "s".into() });
        let no_sub = token(serde_json::json!({ "alg": "RS256" }), serde_json::json!({ "iss": "https://i" }));
        assert_eq!(peek(&no_sub), Err(Refusal::MissingClaim("sub")));
        for s in ["berth_abc", "a.b", "a.b.c.d", "", &"x".repeat(MAX_TOKEN + 1)] {
            assert!(!is_jwt(s), "{s:.20}");
        }
        assert!(matches!(peek("a.b.c"), Err(Refusal::Malformed(_))));
    }
}
