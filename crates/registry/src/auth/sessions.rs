//! Web UI sessions: a browser that signed in with any credential Berth knows holds a random
//! secret in a cookie; the identity store keeps only its hash, who signed in with which
//! credential, and when the session ends. Every use revalidates that credential (as a refresh
//! token is), so a reset, a deleted principal or a disabled token ends the session at once,
//! and the permissions are always today's.

use super::{AuthError, AuthService, Authenticated, now, secret};
use berth_core::sessions::UiSession;

/// A session just started: the cookie's secret (shown to the browser once) and its end.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The secret the cookie carries.
    pub secret: String,
    /// When the session ends, seconds since the epoch.
    pub expires_at: i64,
}

impl AuthService {
    /// Starts a session for `caller`, who just authenticated, lasting `ttl_secs` at most
    /// (never beyond its credential). Sessions that ended are pruned here.
    pub async fn start_session(&self, caller: &Authenticated, ttl_secs: u64) -> Result<NewSession, AuthError> {
        let t = now();
        if let Err(e) = self.ids.expire_sessions(t).await {
            tracing::warn!(error = %e, "could not prune ended web sessions");
        }
        let secret = secret::generate();
        let expires_at = t.saturating_add(ttl_secs as i64).min(caller.valid_until);
        let s = UiSession {
            id_hash: secret::hash(&secret).to_vec(),
            subject: caller.subject.clone(),
            credential: caller.credential.clone(),
            created_at: t,
            expires_at,
        };
        self.ids.create_session(&s).await?;
        Ok(NewSession { secret, expires_at })
    }

    /// The caller a session's `secret` stands for, revalidated now; refused once it ended,
    /// was signed out, or its credential stopped being valid.
    pub async fn session(&self, secret: &str) -> Result<Authenticated, AuthError> {
        let hash = secret::hash(secret);
        let s = self.ids.session(&hash).await?.ok_or(AuthError::BadCredentials)?;
        if s.expires_at <= now() {
            self.ids.delete_session(&hash).await?;
            return Err(AuthError::BadCredentials);
        }
        self.revalidate(s.subject, s.credential, s.expires_at).await
    }

    /// Ends the session of `secret` (sign-out); false if there was none.
    pub async fn end_session(&self, secret: &str) -> Result<bool, AuthError> {
        Ok(self.ids.delete_session(&secret::hash(secret)).await?)
    }
}

/// The token a signed-in page puts in every form it posts, derived from the session's secret
/// (so a page of another site, which cannot read the cookie, cannot make it).
pub fn csrf_token(session_secret: &str) -> String {
    use base64::Engine;
    let h = secret::hash(&format!("berth-ui-csrf\0{session_secret}"));
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h)
}

/// Whether `presented` is [`csrf_token`] of `session_secret`, compared in constant time.
pub fn csrf_matches(session_secret: &str, presented: &str) -> bool {
    secret::same(&secret::hash(&csrf_token(session_secret)), &secret::hash(presented))
}

#[cfg(test)]
mod tests {
    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let (a, b) = (super::secret::generate(), super::secret::generate());
        assert!(super::csrf_matches(&a, &super::csrf_token(&a)));
        assert!(!super::csrf_matches(&a, &super::csrf_token(&b)));
        assert!(!super::csrf_matches(&a, ""));
        assert_ne!(super::csrf_token(&a), a, "the token is not the secret");
    }
}
