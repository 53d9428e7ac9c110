//! Web UI sessions: who signed in with which credential, until when. Only the SHA-256 of a
//! session's secret is stored; the secret itself lives in the browser's cookie alone, so a
//! copy of the database opens no session.

use crate::store::MetaError;
use async_trait::async_trait;

/// One signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UiSession {
    /// SHA-256 of the cookie's secret (32 bytes).
    pub id_hash: Vec<u8>,
    /// Who signed in: an application ID, a token name, or the admin user.
    pub subject: String,
    /// The credential used, as refresh tokens name it: revalidated on every request, so a
    /// reset credential or a deleted principal ends the session at once.
    pub credential: String,
    /// When it started, seconds since the epoch.
    pub created_at: i64,
    /// When it ends, seconds since the epoch.
    pub expires_at: i64,
}

/// The sessions, kept with the identities (replicas sharing a database share them).
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores a new session.
    async fn create_session(&self, s: &UiSession) -> Result<(), MetaError>;
    /// The session whose secret hashes to `id_hash`, read through the writer (a signed-out
    /// session must be refused at once on every replica).
    async fn session(&self, id_hash: &[u8]) -> Result<Option<UiSession>, MetaError>;
    /// Ends a session; false if there was none.
    async fn delete_session(&self, id_hash: &[u8]) -> Result<bool, MetaError>;
    /// Deletes sessions that ended before `now`; how many.
    async fn expire_sessions(&self, now: i64) -> Result<u64, MetaError>;
}
