//! Access and refresh tokens: compact JWTs signed with ES256 (ECDSA P-256) by `ring`, the one
//! crypto provider the server already uses for TLS.
//!
//! Verification accepts exactly one header algorithm (`ES256`) and exactly one key (by `kid`):
//! `alg: none`, HMAC confusion and foreign keys fail before any claim is read. Then the
//! signature, issuer, audience and validity window are checked. No database is consulted.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `iss` of every Berth token.
pub const ISSUER: &str = "berth";

/// One `access` entry (distribution's `ResourceActions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaim {
    /// `repository` or `registry`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Repository name or `catalog`.
    pub name: String,
    /// `pull`, `push`, `delete`, `*`.
    pub actions: Vec<String>,
}

/// The claims of a Berth token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: an application ID, or `""` for anonymous.
    pub sub: String,
    /// Audience: the registry's service name.
    pub aud: String,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Not before.
    pub nbf: i64,
    /// Issued at.
    pub iat: i64,
    /// Unique ID.
    pub jti: String,
    /// Granted access (access tokens).
    #[serde(default)]
    pub access: Vec<AccessClaim>,
    /// `refresh_token` for refresh tokens, `access_token` for access tokens.
    pub grant_type: String,
    /// For refresh tokens: the credential that authenticated, so resetting it revokes them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    #[error("malformed token")]
    Malformed,
    /// Another algorithm or another key.
    #[error("token not signed by this registry")]
    ForeignKey,
    /// The signature does not match.
    #[error("bad token signature")]
    Signature,
    /// Wrong issuer, audience or kind.
    #[error("token not meant for this registry")]
    WrongAudience,
    /// Outside its validity window.
    #[error("token expired")]
    Expired,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    typ: Option<String>,
    #[serde(default)]
    kid: Option<String>,
}

/// The signing key pair and what verification needs.
pub struct TokenKeys {
    pair: EcdsaKeyPair,
    public: Vec<u8>,
    kid: String,
    header: String,
    rng: SystemRandom,
}

/// Clock skew tolerated on `nbf`, in seconds.
const LEEWAY: i64 = 30;

impl TokenKeys {
    /// A new PKCS#8 P-256 key.
    pub fn generate_pkcs8() -> Vec<u8> {
        let rng = SystemRandom::new();
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("P-256 key generation works")
            .as_ref()
            .to_vec()
    }

    /// Loads a PKCS#8 P-256 key.
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, String> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| format!("the token-signing key is not a P-256 PKCS#8 key: {e}"))?;
        let public = pair.public_key().as_ref().to_vec();
        let kid = hex(&Sha256::digest(&public)[..12]);
        let header =
            serde_json::to_vec(&Header { alg: "ES256".into(), typ: Some("JWT".into()), kid: Some(kid.clone()) })
                .expect("a header serializes");
        Ok(TokenKeys { pair, public, kid, header: URL_SAFE_NO_PAD.encode(header), rng })
    }

    /// The key ID in token headers.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs `claims` into a compact JWT.
    pub fn sign(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).expect("claims serialize"));
        let input = format!("{}.{body}", self.header);
        let sig = self.pair.sign(&self.rng, input.as_bytes()).expect("ECDSA signing works");
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
    }

    /// Verifies a token's header, signature, issuer, audience, kind and validity at `now`.
    pub fn verify(&self, token: &str, audience: &str, grant_type: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(b), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| TokenError::Malformed)?)
            .map_err(|_| TokenError::Malformed)?;
        if header.alg != "ES256" || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenError::ForeignKey);
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| TokenError::Malformed)?;
        let input = &token[..h.len() + 1 + b.len()];
        UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, &self.public)
            .verify(input.as_bytes(), &sig)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b).map_err(|_| TokenError::Malformed)?)
            .map_err(|_| TokenError::Malformed)?;
        if claims.iss != ISSUER || claims.aud != audience || claims.grant_type != grant_type {
            return Err(TokenError::WrongAudience);
        }
        if now >= claims.exp || now + LEEWAY < claims.nbf {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: ISSUER.into(),
            sub: "app".into(),
            aud: "registry.local".into(),
            exp: now + 300,
            nbf: now,
            iat: now,
            jti: "j".into(),
            access: vec![AccessClaim { kind: "repository".into(), name: "a".into(), actions: vec!["pull".into()] }],
            grant_type: "access_token".into(),
            credential: None,
        }
    }

    fn keys() -> TokenKeys {
        TokenKeys::from_pkcs8(&TokenKeys::generate_pkcs8()).unwrap()
    }

    #[test]
    fn round_trip_and_every_refusal() {
        let k = keys();
        let now = 1_000_000;
        let t = k.sign(&claims(now));
        assert_eq!(k.verify(&t, "registry.local", "access_token", now), Ok(claims(now)));
        assert_eq!(k.verify(&t, "other", "access_token", now), Err(TokenError::WrongAudience));
        assert_eq!(k.verify(&t, "registry.local", "refresh_token", now), Err(TokenError::WrongAudience));
        assert_eq!(k.verify(&t, "registry.local", "access_token", now + 300), Err(TokenError::Expired));
        assert_eq!(keys().verify(&t, "registry.local", "access_token", now), Err(TokenError::ForeignKey));

        let parts: Vec<&str> = t.split('.').collect();
        let none = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","kid":"{}"}}"#, k.kid()));
        assert_eq!(
            k.verify(&format!("{none}.{}.", parts[1]), "registry.local", "access_token", now),
            Err(TokenError::ForeignKey)
        );
        let mut edited = claims(now);
        edited.access[0].name = "b".into();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&edited).unwrap());
        let forged = format!("{}.{body}.{}", parts[0], parts[2]);
        assert_eq!(k.verify(&forged, "registry.local", "access_token", now), Err(TokenError::Signature));
        assert_eq!(k.verify("a.b", "registry.local", "access_token", now), Err(TokenError::Malformed));
    }
}
