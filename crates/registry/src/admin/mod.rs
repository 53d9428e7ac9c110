//! Identity administration as a domain service: [`IdentityAdmin`] creates, changes and deletes
//! service principals, their credentials and role assignments (`principals.rs`), their
//! federated credentials (`federation.rs`), tokens and scope maps (`tokens.rs`), and the
//! registry's settings and admin user (`settings.rs`), for one acting caller.
//!
//! Contracts, for every operation:
//! - It validates its input here (not in the HTTP layer) and answers a typed [`AdminError`],
//!   which the server maps to an HTTP status in one place.
//! - A change that takes several records is one store transaction where the store offers one
//!   (a token and the scope map made for it); otherwise each write leaves a consistent state.
//! - After a successful change it forgets what this process cached about identities (and,
//!   for settings, the settings), so the next request sees the change.
//! - It records the audit event of the change, naming the actor and the remote address given
//!   to [`AuthService::admin`]; reads record nothing.

mod federation;
mod principals;
mod settings;
mod tokens;

pub use principals::{NamedAssignment, PrincipalDetail};
pub use settings::RegistryChange;

use crate::auth::AuthService;
use berth_core::MetaError;
use berth_core::principals::{Principal, principal_key};

/// Why an admin operation was refused or failed; nothing was changed unless it says so.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The thing named does not exist; the text names it (`service principal`, `token`).
    #[error("{0} not found")]
    NotFound(String),
    /// A create would take a name that exists, or the change raced another one.
    #[error("{0}")]
    Conflict(String),
    /// The request breaks a rule; the text says which.
    #[error("{0}")]
    Invalid(String),
    /// A lock forbids the change; the text names what is locked.
    #[error("{0} is locked (writeEnabled or deleteEnabled is false); unlock it first")]
    Locked(String),
    /// The identity store failed or is unreachable: the client may retry (503).
    #[error("{0}")]
    Unavailable(String),
    /// This registry runs without what the request needs (a pull-through cache without its
    /// credential key): 503, with the text, which says what to configure.
    #[error("{0}")]
    NotConfigured(String),
    /// A stored record is damaged or breaks an invariant: not an outage, so the client must
    /// not retry (500). The text is for the log only.
    #[error("{0}")]
    Internal(String),
}

impl From<MetaError> for AdminError {
    fn from(e: MetaError) -> Self {
        match e {
            MetaError::Conflict => {
                AdminError::Conflict("another change to the same record won the race; nothing was changed".into())
            }
            MetaError::Locked(what) => AdminError::Locked(what),
            MetaError::InUse(what) => AdminError::Conflict(format!("{what} still uses it")),
            MetaError::Unavailable(s) => AdminError::Unavailable(s),
            MetaError::Corrupt(s) => AdminError::Internal(s),
            e @ MetaError::MissingReferences(_) => AdminError::Internal(e.to_string()),
        }
    }
}

fn no_principal() -> AdminError {
    AdminError::NotFound("service principal".into())
}

fn invalid(detail: impl Into<String>) -> AdminError {
    AdminError::Invalid(detail.into())
}

/// The admin operations, acting as one caller from one address (both recorded in the audit
/// log). Made by [`AuthService::admin`]; cheap, one per request.
pub struct IdentityAdmin<'a> {
    auth: &'a AuthService,
    actor: &'a str,
    remote: &'a str,
}

impl AuthService {
    /// The admin operations for `actor` (an application ID) calling from `remote`. The caller
    /// must already have been authorised to administer the registry.
    pub fn admin<'a>(&'a self, actor: &'a str, remote: &'a str) -> IdentityAdmin<'a> {
        IdentityAdmin { auth: self, actor, remote }
    }
}

impl IdentityAdmin<'_> {
    /// Records an audit event by this caller (also for changes made outside this service,
    /// such as garbage collection).
    pub async fn audit(&self, action: &str, target: &str) {
        self.auth.audit(self.actor, action, target, self.remote).await;
    }

    /// The principal named `key` (application ID, display name or `http://NAME`).
    async fn principal(&self, key: &str) -> Result<Principal, AdminError> {
        let found = self.auth.identities().principal(principal_key(key)).await?;
        found.ok_or_else(no_principal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_meaning() {
        assert!(matches!(AdminError::from(MetaError::Conflict), AdminError::Conflict(_)));
        assert!(matches!(AdminError::from(MetaError::Locked("tag v1".into())), AdminError::Locked(w) if w == "tag v1"));
        assert!(matches!(AdminError::from(MetaError::InUse("tag v1".into())), AdminError::Conflict(_)));
        let down = AdminError::from(MetaError::Unavailable("no route".into()));
        assert!(matches!(down, AdminError::Unavailable(ref s) if s.contains("no route")));
        let damaged = AdminError::from(MetaError::Corrupt("principals row 7".into()));
        assert!(matches!(damaged, AdminError::Internal(ref s) if s == "principals row 7"));
        assert_eq!(AdminError::NotFound("scope map".into()).to_string(), "scope map not found");
    }
}
