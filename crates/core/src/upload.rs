//! Upload sessions: the state that lets any request (or replica) continue an upload.

use crate::digest::Algorithm;
use crate::name::RepoName;
use std::fmt;

/// An upload session id: a UUID, the only thing a `Location` carries.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// A new random id.
    pub fn generate() -> Self {
        UploadId(uuid::Uuid::new_v4().to_string())
    }

    /// The id `seed` names: the same seed, the same id. For a caller that must find its upload
    /// again after a crash without having stored the id (`berth migrate`, one upload per blob).
    pub fn from_seed(seed: [u8; 16]) -> Self {
        UploadId(uuid::Builder::from_random_bytes(seed).into_uuid().hyphenated().to_string())
    }

    /// Accepts only the canonical hyphenated UUID form, so an id is always a safe file name.
    pub fn parse(s: &str) -> Option<Self> {
        let u = uuid::Uuid::try_parse(s).ok()?;
        (u.hyphenated().to_string() == s).then(|| UploadId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A persisted upload: where it is, how far it got, and the hash of what it received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// Session id.
    pub id: UploadId,
    /// Repository the blob will be linked into.
    pub repo: RepoName,
    /// Who opened it: the authenticated subject (an application ID, a token name or `admin`);
    /// empty for sessions opened before Berth recorded it.
    pub owner: String,
    /// Bytes received and durable.
    pub offset: u64,
    /// Algorithm of `hash_state`.
    pub algorithm: Algorithm,
    /// [`crate::Hasher::save`] output covering exactly `offset` bytes.
    pub hash_state: Vec<u8>,
    /// Seconds since the Unix epoch of the session's start.
    pub started_at: i64,
}
