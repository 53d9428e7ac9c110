//! Content digests (`algorithm:encoded`) and the resumable hashers that produce them.
//!
//! Grammar from the OCI image spec (descriptor.md): `algorithm ":" encoded`, algorithm
//! components `[a-z0-9]+` joined by `[+._-]`, encoded `[a-zA-Z0-9=_-]+`. Berth verifies the two
//! registered algorithms, sha256 (64 lowercase hex) and sha512 (128 lowercase hex); any other
//! well-formed algorithm is refused as unsupported rather than stored unverified.

use sha2::digest::common::hazmat::{SerializableState, SerializedState};
use sha2::{Digest as _, Sha256, Sha512};
use std::fmt;
use std::str::FromStr;

/// A digest algorithm Berth can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the default of every client.
    Sha256,
    /// SHA-512, exercised by the v1.1 conformance suite.
    Sha512,
}

impl Algorithm {
    /// The name used in digests and storage paths.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// Length of the hex-encoded hash.
    pub const fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Parses an algorithm name; well-formed but unknown names are `Unsupported`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        match s {
            "sha256" => Ok(Algorithm::Sha256),
            "sha512" => Ok(Algorithm::Sha512),
            other if valid_algorithm_grammar(other) => Err(DigestError::Unsupported),
            _ => Err(DigestError::Invalid),
        }
    }
}

/// Why a digest string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not a digest by the grammar, or the encoded part has the wrong form for its algorithm.
    #[error("invalid digest")]
    Invalid,
    /// Grammatical, but an algorithm Berth does not verify.
    #[error("unsupported digest algorithm")]
    Unsupported,
}

/// A validated digest of a supported algorithm. The encoded part is lowercase hex.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

fn valid_algorithm_grammar(s: &str) -> bool {
    !s.is_empty()
        && s.split(['+', '.', '_', '-'])
            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

impl Digest {
    /// Parses and validates `algorithm:hex`.
    pub fn parse(s: &str) -> Result<Self, DigestError> {
        let (alg, enc) = s.split_once(':').ok_or(DigestError::Invalid)?;
        if enc.is_empty() || !enc.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'=' || b == b'_' || b == b'-') {
            return Err(DigestError::Invalid);
        }
        let algorithm = Algorithm::parse(alg)?;
        if enc.len() != algorithm.hex_len() || !enc.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(DigestError::Invalid);
        }
        Ok(Digest { algorithm, hex: enc.to_owned() })
    }

    /// The digest of `bytes` under `algorithm`.
    pub fn of(algorithm: Algorithm, bytes: &[u8]) -> Self {
        let mut h = Hasher::new(algorithm);
        h.update(bytes);
        h.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hex encoding.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

/// An incremental hasher whose state can be saved between requests (and replicas) and
/// restored, so a chunked upload never re-reads what it already received.
#[derive(Clone)]
pub enum Hasher {
    /// SHA-256 state.
    Sha256(Sha256),
    /// SHA-512 state.
    Sha512(Sha512),
}

/// First byte of a serialized hash state: bump it if the layout ever changes.
const STATE_FORMAT: u8 = 1;

impl Hasher {
    /// A fresh hasher.
    pub fn new(algorithm: Algorithm) -> Self {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Hasher::Sha256(_) => Algorithm::Sha256,
            Hasher::Sha512(_) => Algorithm::Sha512,
        }
    }

    /// Feeds bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(bytes),
            Hasher::Sha512(h) => h.update(bytes),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, hex) = match self {
            Hasher::Sha256(h) => (Algorithm::Sha256, hex::encode(h.finalize())),
            Hasher::Sha512(h) => (Algorithm::Sha512, hex::encode(h.finalize())),
        };
        Digest { algorithm, hex }
    }

    /// Serializes the internal state: a format byte, then the hash's own state.
    pub fn save(&self) -> Vec<u8> {
        let mut out = vec![STATE_FORMAT];
        match self {
            Hasher::Sha256(h) => out.extend_from_slice(&h.serialize()),
            Hasher::Sha512(h) => out.extend_from_slice(&h.serialize()),
        }
        out
    }

    /// Restores a state written by [`Hasher::save`]; `None` if it is not one.
    pub fn restore(algorithm: Algorithm, state: &[u8]) -> Option<Self> {
        let (&format, body) = state.split_first()?;
        if format != STATE_FORMAT {
            return None;
        }
        match algorithm {
            Algorithm::Sha256 => {
                let s = SerializedState::<Sha256>::try_from(body).ok()?;
                Sha256::deserialize(&s).ok().map(Hasher::Sha256)
            }
            Algorithm::Sha512 => {
                let s = SerializedState::<Sha512>::try_from(body).ok()?;
                Sha512::deserialize(&s).ok().map(Hasher::Sha512)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EMPTY256: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_refuses() {
        assert_eq!(Digest::parse(EMPTY256).unwrap().to_string(), EMPTY256);
        assert_eq!(Digest::of(Algorithm::Sha256, b"").to_string(), EMPTY256);
        for bad in [
            "",
            "sha256",
            "sha256:",
            "sha256:abc",
            ":abc",
            "SHA256:00",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:../../etc",
        ] {
            assert_eq!(Digest::parse(bad), Err(DigestError::Invalid), "{bad}");
        }
        assert_eq!(Digest::parse("md5:d41d8cd98f00b204e9800998ecf8427e"), Err(DigestError::Unsupported));
        assert_eq!(Digest::parse("sha512:00"), Err(DigestError::Invalid));
    }

    proptest! {
        #[test]
        fn saved_state_resumes(a in proptest::collection::vec(any::<u8>(), 0..300), b in proptest::collection::vec(any::<u8>(), 0..300), sha512 in any::<bool>()) {
            let alg = if sha512 { Algorithm::Sha512 } else { Algorithm::Sha256 };
            let mut h = Hasher::new(alg);
            h.update(&a);
            let mut resumed = Hasher::restore(alg, &h.save()).unwrap();
            resumed.update(&b);
            let whole: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            prop_assert_eq!(resumed.finish(), Digest::of(alg, &whole));
        }

        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = Digest::parse(&s);
        }
    }
}
