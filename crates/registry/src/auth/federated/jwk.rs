//! JWKS documents: the RSA and P-256 keys an issuer signs with, and checking a signature
//! with one. Keys of other types, RSA keys under 2048 bits and keys marked for encryption
//! are left out; the algorithm a key verifies is the key's own, never the token's.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

/// Keys a JWKS may contribute at most.
pub const MAX_KEYS: usize = 100;

/// The algorithms Berth verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA P-256 with SHA-256 (fixed-length signature).
    Es256,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }
}

/// One usable key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// `kid`, if the issuer gave one.
    pub kid: Option<String>,
    /// What it verifies.
    pub alg: Alg,
    material: Material,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    Rsa { n: Vec<u8>, e: Vec<u8> },
    Ec { point: Vec<u8> },
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

fn b64(field: &Option<String>) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(field.as_deref()?.trim_end_matches('=')).ok()
}

impl Key {
    fn from_raw(k: RawKey) -> Option<Key> {
        if k.usage.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        let (alg, material) = match (k.kty.as_str(), k.crv.as_deref()) {
            ("RSA", _) => {
                let n = b64(&k.n)?;
                let n: Vec<u8> = n.into_iter().skip_while(|b| *b == 0).collect();
                let e = b64(&k.e)?;
                if n.len() < 256 || e.is_empty() {
                    return None;
                }
                (Alg::Rs256, Material::Rsa { n, e })
            }
            ("EC", Some("P-256")) => {
                let (x, y) = (b64(&k.x)?, b64(&k.y)?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = vec![4u8];
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                (Alg::Es256, Material::Ec { point })
            }
            _ => return None,
        };
        if k.alg.as_deref().is_some_and(|a| a != alg.name()) {
            return None;
        }
        Some(Key { kid: k.kid, alg, material })
    }

    /// Whether `signature` over `message` is this key's.
    pub fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        match &self.material {
            Material::Rsa { n, e } => {
                RsaPublicKeyComponents { n, e }.verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig).is_ok()
            }
            Material::Ec { point } => {
                UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(message, sig).is_ok()
            }
        }
    }
}

/// The usable keys of a JWKS document (at most [`MAX_KEYS`]); `Err` if it is not one.
pub fn parse(doc: &[u8]) -> Result<Vec<Key>, String> {
    let jwks: Jwks = serde_json::from_slice(doc).map_err(|e| format!("the JWKS is not a JSON key set: {e}"))?;
    Ok(jwks
        .keys
        .into_iter()
        .filter_map(|v| serde_json::from_value::<RawKey>(v).ok())
        .filter_map(Key::from_raw)
        .take(MAX_KEYS)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_usable_signing_keys_are_kept() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let n = URL_SAFE_NO_PAD.encode([0xc5u8; 256]);
        let short_n = URL_SAFE_NO_PAD.encode([0xc5u8; 128]);
        let doc = serde_json::json!({ "keys": [
            { "kty": "EC", "crv": "P-256", "kid": "ec", "x": x, "y": x },
            { "kty": "EC", "crv": "P-384", "kid": "p384", "x": x, "y": x },
            { "kty": "RSA", "kid": "rsa", "n": n, "e": "AQAB", "alg": "RS256", "use": "sig" },
            { "kty": "RSA", "kid": "short", "n": short_n, "e": "AQAB" },
            { "kty": "RSA", "kid": "enc", "n": n, "e": "AQAB", "use": "enc" },
            { "kty": "RSA", "kid": "liar", "n": n, "e": "AQAB", "alg": "HS256" },
            { "kty": "oct", "kid": "hmac", "k": "c2VjcmV0" },
            "not a key"
        ]});
        let keys = parse(doc.to_string().as_bytes()).unwrap();
        let kept: Vec<_> = keys.iter().map(|k| (k.kid.clone().unwrap(), k.alg)).collect();
        assert_eq!(kept, vec![("ec".into(), Alg::Es256), ("rsa".into(), Alg::Rs256)]);
        assert!(parse(b"{}").is_err());
        assert!(parse(b"[1,2]").is_err());
    }
}
