//! Federated identity credentials (Entra's "federated identity credential"): a service
//! principal trusts tokens from an external OIDC issuer, for one subject and one audience, as
//! its credential, so pods, nodes and CI jobs need no long-lived secret.
//!
//! Contracts:
//! - A [`FederatedCredential`] belongs to exactly one principal; the principal's roles apply
//!   unchanged to whoever presents a matching token. Deleting the principal deletes its
//!   federated credentials, and with them every refresh token they produced.
//! - Berth dials only issuers some federated credential names: a token from any other issuer
//!   is refused without a fetch, so Berth can never be made to fetch an attacker's URL.
//! - Keys come from an [`IssuerKeys`] implementation (I/O, wired by `cli`); `registry` parses,
//!   caches and verifies.

use crate::store::MetaError;
use async_trait::async_trait;

/// Characters a federated credential's subject, audience or issuer may have at most (Entra's
/// limit for subjects is 600).
pub const MAX_CLAIM_TEXT: usize = 600;
/// Characters a federated credential's description may have at most.
pub const MAX_DESCRIPTION: usize = 600;

/// A principal's trust in one external issuer, subject and audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FederatedCredential {
    /// Its own ID (a UUID); refresh tokens obtained through it carry it, so deleting the
    /// credential revokes them.
    pub id: String,
    /// The principal's application ID.
    pub app_id: String,
    /// Unique per principal: 3 to 120 of `A-Z a-z 0-9 - _`, starting with a letter or digit.
    pub name: String,
    /// The `iss` a token must carry, exactly (`https://…`, or `http://` on a loopback host).
    pub issuer: String,
    /// The `sub` a token must carry, exactly.
    pub subject: String,
    /// An `aud` the token must carry (one of its audiences).
    pub audience: String,
    /// Free text.
    pub description: Option<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// What [`FederationStore::create_federated_credential`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FederatedCreate {
    /// Stored.
    Created,
    /// No principal has that application ID.
    NoPrincipal,
    /// The principal already has a federated credential of that name.
    NameTaken,
    /// The principal already has a federated credential for that issuer and subject.
    SubjectTaken,
}

/// Why a federated credential's fields are refused, in a sentence for the caller.
pub fn validate(fc: &FederatedCredential) -> Result<(), String> {
    validate_name(&fc.name)?;
    validate_issuer(&fc.issuer)?;
    claim_text("subject", &fc.subject)?;
    claim_text("audience", &fc.audience)?;
    if let Some(d) = &fc.description
        && (d.chars().count() > MAX_DESCRIPTION || d.chars().any(char::is_control))
    {
        return Err(format!("the description must be at most {MAX_DESCRIPTION} characters without control characters"));
    }
    Ok(())
}

/// A federated credential's name: 3 to 120 of `A-Z a-z 0-9 - _`, starting with a letter or
/// digit (Entra's rule).
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = (3..=120).contains(&name.len())
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the federated credential name {name:?} is invalid: use 3 to 120 letters, digits, '-' or '_', starting with a letter or digit"
        ))
    }
}

/// An issuer URL: `https://HOST[:PORT][/PATH]`, or `http://` on a loopback host (a test issuer,
/// a port-forwarded API server); no query, fragment or user info; no trailing `/` (OIDC
/// compares issuers as exact strings, and discovery appends `/.well-known/…`).
pub fn validate_issuer(issuer: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("the issuer {issuer:?} is invalid: {why}"));
    if issuer.chars().count() > MAX_CLAIM_TEXT || issuer.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad("it must be a URL of at most 600 characters without spaces");
    }
    let (rest, loopback_only) = if let Some(r) = issuer.strip_prefix("https://") {
        (r, false)
    } else if let Some(r) = issuer.strip_prefix("http://") {
        (r, true)
    } else {
        return bad("it must start with https://");
    };
    if rest.contains(['?', '#', '@']) {
        return bad("it must not carry a query, a fragment or user info");
    }
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    if host.is_empty() {
        return bad("it names no host");
    }
    if issuer.ends_with('/') {
        return bad("leave out the trailing '/' (issuers are compared exactly)");
    }
    if loopback_only && !matches!(host, "127.0.0.1" | "localhost" | "::1") {
        return bad("plain http:// is accepted only on a loopback host; use https://");
    }
    Ok(())
}

fn claim_text(what: &str, text: &str) -> Result<(), String> {
    if text.is_empty() || text.chars().count() > MAX_CLAIM_TEXT || text.chars().any(char::is_control) {
        return Err(format!("the {what} must be 1 to {MAX_CLAIM_TEXT} characters without control characters"));
    }
    Ok(())
}

/// Where an issuer's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// OIDC discovery: `<issuer>/.well-known/openid-configuration`, whose `issuer` must equal
    /// the issuer, then its `jwks_uri`.
    Discovery,
    /// A JWKS at this URL (no discovery).
    JwksUrl(String),
    /// A JWKS in this file, read again on every refresh (`kubectl get --raw /openid/v1/jwks`).
    JwksFile(std::path::PathBuf),
}

/// Fetches an issuer's JWKS (I/O only: the caller parses, caches and bounds how often it asks).
#[async_trait]
pub trait IssuerKeys: Send + Sync + 'static {
    /// The JWKS document of `issuer` from `source`: at most 1 MiB, within a bounded time.
    /// `Err` is a sentence naming what failed (`GET https://…/openid/v1/jwks: 503`), never a
    /// token.
    async fn jwks(&self, issuer: &str, source: &KeySource) -> Result<Vec<u8>, String>;
}

/// Federated credentials, kept beside the principals.
#[async_trait]
pub trait FederationStore: Send + Sync + 'static {
    /// Stores `fc` (already validated) unless its principal is missing or it clashes with one
    /// of the principal's others.
    async fn create_federated_credential(&self, fc: &FederatedCredential) -> Result<FederatedCreate, MetaError>;
    /// The federated credentials of `app_id`, or of every principal; ordered by application ID
    /// then name.
    async fn federated_credentials(&self, app_id: Option<&str>) -> Result<Vec<FederatedCredential>, MetaError>;
    /// Every federated credential (of any principal) for exactly this issuer and subject.
    async fn federated_matches(&self, issuer: &str, subject: &str) -> Result<Vec<FederatedCredential>, MetaError>;
    /// Whether any federated credential names `issuer` (so its keys may be fetched).
    async fn issuer_trusted(&self, issuer: &str) -> Result<bool, MetaError>;
    /// Deletes `app_id`'s federated credential `name`; false if there was none.
    async fn delete_federated_credential(&self, app_id: &str, name: &str) -> Result<bool, MetaError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers() {
        for ok in [
            "https://token.actions.githubusercontent.com",
            "https://kubernetes.default.svc.cluster.local",
            "https://oidc.example.com:8443/tenant/x",
            "http://127.0.0.1:43111",
            "http://localhost:8080/issuer",
            "http://[::1]:9000",
        ] {
            assert_eq!(validate_issuer(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("ftp://x", "https://"),
            ("http://example.com", "loopback"),
            ("https://example.com/", "trailing"),
            ("https://example.com?x=1", "query"),
            ("https://u@example.com", "user info"),
            ("https://", "no host"),
            ("https://exa mple.com", "spaces"),
        ] {
            let e = validate_issuer(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn names_and_claims() {
        let fc = FederatedCredential {
            id: "1".into(),
            app_id: "a".into(),
            name: "github-main".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            subject: "repo:org/app:ref:refs/heads/main".into(),
            audience: "berth".into(),
            description: None,
            created_at: 0,
        };
        assert_eq!(validate(&fc), Ok(()));
        for name in ["ab", "-ab", "a b", "a/b", &"x".repeat(121)] {
            assert!(validate(&FederatedCredential { name: name.into(), ..fc.clone() }).is_err(), "{name}");
        }
        assert!(validate(&FederatedCredential { subject: String::new(), ..fc.clone() }).is_err());
        assert!(validate(&FederatedCredential { audience: "a\nb".into(), ..fc.clone() }).is_err());
        assert!(validate(&FederatedCredential { description: Some("\u{1b}[2J".into()), ..fc }).is_err());
    }
}
