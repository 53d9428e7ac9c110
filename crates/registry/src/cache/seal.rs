//! Sealing credential-set passwords: AES-256-GCM with the registry's credential key (a key
//! file, shared by every replica), a fresh random nonce per seal, and the set's name as
//! associated data, so a sealed password moved to another set's row does not open.
//!
//! Sealed form: `1` (format version), 12 bytes of nonce, then ciphertext and tag.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Bytes of a credential key.
pub const KEY_LEN: usize = 32;
const VERSION: u8 = 1;

/// The key that seals and opens credential-set passwords. `Debug` never shows it.
pub struct CredentialKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialKey(<redacted>)")
    }
}

/// Why a sealed password did not open: another key, another set's row, or damage.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sealed password does not open with this credential key")]
pub struct SealError;

impl CredentialKey {
    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, bytes).expect("AES-256 takes 32 bytes");
        CredentialKey { key: LessSafeKey::new(key), rng: SystemRandom::new() }
    }

    /// 32 fresh random bytes for a new key file.
    pub fn generate() -> [u8; KEY_LEN] {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new().fill(&mut bytes).expect("the system's random source works");
        bytes
    }

    /// Seals `password` for the set `name`.
    pub fn seal(&self, name: &str, password: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).expect("the system's random source works");
        let mut sealed = password.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(name.as_bytes()), &mut sealed)
            .expect("a password is far below AES-GCM's length limit");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Opens what [`Self::seal`] sealed for the set `name`.
    pub fn open(&self, name: &str, sealed: &[u8]) -> Result<String, SealError> {
        let (&version, rest) = sealed.split_first().ok_or(SealError)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(SealError);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealError)?;
        let mut buf = ciphertext.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(name.as_bytes()), &mut buf).map_err(|_| SealError)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_password_opens_only_with_its_key_and_its_set() {
        let key = CredentialKey::from_bytes(&CredentialKey::generate());
        let sealed = key.seal("hub", "s3cret-token");
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"), "the password is not in the clear");
        assert_eq!(key.open("hub", &sealed).unwrap(), "s3cret-token");
        assert_ne!(key.seal("hub", "s3cret-token"), sealed, "every seal has its own nonce");
        assert_eq!(key.open("other", &sealed), Err(SealError), "bound to the set's name");
        let other = CredentialKey::from_bytes(&CredentialKey::generate());
        assert_eq!(other.open("hub", &sealed), Err(SealError));
        let mut damaged = sealed.clone();
        *damaged.last_mut().unwrap() ^= 1;
        assert_eq!(key.open("hub", &damaged), Err(SealError));
        assert_eq!(key.open("hub", &[]), Err(SealError));
        assert_eq!(key.open("hub", &sealed[..5]), Err(SealError));
    }
}
