//! Server-generated secrets: 256 random bits behind a recognisable `berth_` prefix, stored only
//! as SHA-256 and compared in constant time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix that makes a leaked Berth secret recognisable to secret scanners.
pub const PREFIX: &str = "berth_";

/// A fresh secret: `berth_` + 43 base64url characters (32 random bytes).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("the operating system's random source works");
    format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// SHA-256 of a secret, the only form that is stored.
pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Constant-time equality of two hashes.
pub fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_prefixed() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 43);
        assert_ne!(a, b);
        assert!(same(&hash(&a), &hash(&a)) && !same(&hash(&a), &hash(&b)));
    }
}
