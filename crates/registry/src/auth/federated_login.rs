//! Federated tokens as credentials: a JWT from an external issuer, matched against the
//! federated credentials of the principals, becomes an [`Authenticated`] caller of the one
//! principal it matches (then a refresh token, through [`AuthService::issue_refresh`]).
//!
//! Contracts:
//! - The store is asked first (by the unverified `iss` and `sub`): an issuer no federated
//!   credential names is refused without a fetch, so a forged token cannot make Berth dial.
//! - Then the signature and times ([`federated::Verifier`]), then the audience; a token that
//!   matches several principals needs `client_id`.
//! - Every acceptance and every refusal is audited with issuer and subject, never the token;
//!   a refusal says why in a sentence the caller can act on.
//! - The credential an accepted token stands for is `federated:<federated credential ID>`, so
//!   deleting the federated credential (or its principal) revokes every refresh token it gave.

use super::federated::{self, Verifier};
use super::{AuthError, AuthService, Authenticated, now};
use berth_core::federation::FederatedCredential;

/// How the credential of a federated login is named in refresh tokens.
pub const FEDERATED_PREFIX: &str = "federated:";

/// Federated logins: the verifier and the life of the refresh tokens they get.
pub struct Federation {
    pub(super) verifier: Verifier,
    pub(super) refresh_ttl: u64,
}

impl Federation {
    /// Accepts tokens `verifier` verifies; refresh tokens obtained with them live
    /// `refresh_ttl` seconds (at least 60).
    pub fn new(verifier: Verifier, refresh_ttl: u64) -> Self {
        Federation { verifier, refresh_ttl: refresh_ttl.max(60) }
    }
}

/// A federated token refused: what it claimed (unverified, for the audit log) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedRefusal {
    /// The `iss` it claimed, if it could be read.
    pub issuer: Option<String>,
    /// The `sub` it claimed, if it could be read.
    pub subject: Option<String>,
    /// A fixed label (`no_credential`, `audience`, `expired`, …) for metrics and tests.
    pub reason: &'static str,
    /// Why, in a sentence for the caller.
    pub sentence: String,
}

impl FederatedRefusal {
    /// The audit target: `issuer=… subject=…: reason`.
    pub fn audit_target(&self) -> String {
        let or_none = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unreadable)".into());
        format!("issuer={} subject={}: {}", or_none(&self.issuer), or_none(&self.subject), self.reason)
    }
}

impl AuthService {
    /// Accepts federated tokens as described by `federation`.
    pub fn with_federation(mut self, federation: Federation) -> Self {
        self.federation = Some(federation);
        self
    }

    /// Whether federated tokens are accepted at all.
    pub fn federation_enabled(&self) -> bool {
        self.federation.is_some()
    }

    /// Seconds the refresh token [`AuthService::issue_refresh`] gives `caller` lives.
    pub fn refresh_ttl_for(&self, caller: &Authenticated) -> u64 {
        match &self.federation {
            Some(f) if caller.credential.starts_with(FEDERATED_PREFIX) => f.refresh_ttl,
            _ => self.refresh_ttl,
        }
    }

    /// Whether `password` is shaped like a federated token (and federation is on), so Basic
    /// with an application ID hands it to [`AuthService::federated_login`].
    pub(super) fn federated_password(&self, password: &str) -> bool {
        self.federation.is_some() && federated::is_jwt(password)
    }

    /// Checks a federated token (for the principal `client_id` when given) and audits the
    /// outcome from `remote`. [`AuthError::Federated`] says why it was refused.
    pub async fn federated_login(
        &self,
        token: &str,
        client_id: Option<&str>,
        remote: &str,
    ) -> Result<Authenticated, AuthError> {
        match self.federated_check(token, client_id).await {
            Ok((caller, fc)) => {
                let target = format!("issuer={} subject={} credential={}", fc.issuer, fc.subject, fc.name);
                self.audit(&caller.subject, "federation.login", &target, remote).await;
                Ok(caller)
            }
            Err(AuthError::Federated(r)) => {
                self.audit(client_id.unwrap_or("anonymous"), "federation.refused", &r.audit_target(), remote).await;
                Err(AuthError::Federated(r))
            }
            Err(e) => Err(e),
        }
    }

    async fn federated_check(
        &self,
        token: &str,
        client_id: Option<&str>,
    ) -> Result<(Authenticated, FederatedCredential), AuthError> {
        let refuse = |issuer: Option<&str>, subject: Option<&str>, reason: &'static str, sentence: String| {
            AuthError::Federated(FederatedRefusal {
                issuer: issuer.map(str::to_owned),
                subject: subject.map(str::to_owned),
                reason,
                sentence,
            })
        };
        let Some(federation) = &self.federation else {
            return Err(refuse(None, None, "disabled", "this registry accepts no federated tokens".into()));
        };
        let claimed = federated::peek(token).map_err(|r| refuse(None, None, r.reason(), r.to_string()))?;
        let (iss, sub) = (Some(claimed.issuer.as_str()), Some(claimed.subject.as_str()));
        let mut matches = self.federated_matches(&claimed.issuer, &claimed.subject).await?;
        if let Some(id) = client_id {
            matches.retain(|m| m.app_id == id);
        }
        if matches.is_empty() {
            let whose = client_id.map_or(String::new(), |id| format!(" of principal {id}"));
            return Err(refuse(
                iss,
                sub,
                "no_credential",
                format!(
                    "no federated credential{whose} matches issuer {:?} and subject {:?}",
                    claimed.issuer, claimed.subject
                ),
            ));
        }
        let verified =
            federation.verifier.verify(token, now()).await.map_err(|r| refuse(iss, sub, r.reason(), r.to_string()))?;
        matches.retain(|m| verified.audiences.contains(&m.audience));
        let Some(fc) = matches.first().cloned() else {
            return Err(refuse(
                iss,
                sub,
                "audience",
                format!(
                    "the token's audience {:?} is not the audience of a federated credential for issuer {:?} and \
                     subject {:?}",
                    verified.audiences, claimed.issuer, claimed.subject
                ),
            ));
        };
        if matches.iter().any(|m| m.app_id != fc.app_id) {
            return Err(refuse(
                iss,
                sub,
                "ambiguous",
                "the token matches federated credentials of several principals: name one with client_id (the \
                 username, for Basic)"
                    .into(),
            ));
        }
        let permissions = self.permissions(&fc.app_id).await?;
        let caller = Authenticated {
            subject: fc.app_id.clone(),
            permissions,
            credential: format!("{FEDERATED_PREFIX}{}", fc.id),
            valid_until: verified.expires_at,
        };
        Ok((caller, fc))
    }

    /// The federated credentials naming `issuer` and `subject` (cached like permissions).
    async fn federated_matches(&self, issuer: &str, subject: &str) -> Result<Vec<FederatedCredential>, AuthError> {
        let generation = match self.cache.federated(issuer, subject) {
            Ok(hit) => return Ok(hit),
            Err(generation) => generation,
        };
        let matches = self.ids.federated_matches(issuer, subject).await?;
        self.cache.store_federated(generation, issuer, subject, &matches);
        Ok(matches)
    }

    /// The validity of a refresh token bound to the federated credential `id` of `app_id`:
    /// the credential must still exist (deleting it or its principal revokes the token).
    pub(super) async fn federated_refresh(&self, app_id: &str, id: &str, exp: i64) -> Result<Authenticated, AuthError> {
        let all = self.ids.federated_credentials(Some(app_id)).await?;
        if !all.iter().any(|fc| fc.id == id) {
            return Err(AuthError::BadCredentials);
        }
        let permissions = self.permissions(app_id).await?;
        Ok(Authenticated {
            subject: app_id.to_owned(),
            permissions,
            credential: format!("{FEDERATED_PREFIX}{id}"),
            valid_until: exp,
        })
    }
}
