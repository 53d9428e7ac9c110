//! Repository-scoped tokens and their scope maps, as ACR has them: a token (a name and two
//! passwords) holds exactly one scope map, a list of `repositories/<pattern>/<action>` rules
//! that add up per repository. Tokens never list the catalog and never use the admin API.

use crate::access::Action;
use crate::roles::{Permissions, RepoPattern};
use std::fmt;
use std::str::FromStr;

/// A scope-map action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScopeAction {
    /// Pull manifests and blobs.
    ContentRead,
    /// Push (with `content/read`).
    ContentWrite,
    /// Delete manifests and blobs.
    ContentDelete,
    /// List tags and referrers.
    MetadataRead,
    /// Untag.
    MetadataWrite,
}

impl ScopeAction {
    const ALL: [ScopeAction; 5] = [
        ScopeAction::ContentRead,
        ScopeAction::ContentWrite,
        ScopeAction::ContentDelete,
        ScopeAction::MetadataRead,
        ScopeAction::MetadataWrite,
    ];

    /// The wire name, `content/read` and so on.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeAction::ContentRead => "content/read",
            ScopeAction::ContentWrite => "content/write",
            ScopeAction::ContentDelete => "content/delete",
            ScopeAction::MetadataRead => "metadata/read",
            ScopeAction::MetadataWrite => "metadata/write",
        }
    }

    /// The registry action it grants.
    pub fn action(self) -> Action {
        match self {
            ScopeAction::ContentRead => Action::Pull,
            ScopeAction::ContentWrite => Action::Push,
            ScopeAction::ContentDelete => Action::Delete,
            ScopeAction::MetadataRead => Action::MetadataRead,
            ScopeAction::MetadataWrite => Action::MetadataWrite,
        }
    }
}

impl FromStr for ScopeAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ScopeAction::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| {
            format!("unknown action {s:?}; actions are content/read, content/write, content/delete, metadata/read, metadata/write")
        })
    }
}

/// One rule: `repositories/<pattern>/<action>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScopeRule {
    /// Which repositories.
    pub pattern: RepoPattern,
    /// What may be done there.
    pub action: ScopeAction,
}

impl FromStr for ScopeRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "invalid scope-map action {s:?}: use repositories/NAME/content/read (NAME may be name, prefix/* or *)"
            )
        };
        let rest = s.strip_prefix("repositories/").ok_or_else(bad)?;
        let mut parts = rest.rsplitn(3, '/');
        let (verb, kind, repo) =
            (parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?, parts.next().ok_or_else(bad)?);
        Ok(ScopeRule { pattern: RepoPattern::parse(repo)?, action: format!("{kind}/{verb}").parse()? })
    }
}

impl fmt::Display for ScopeRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "repositories/{}/{}", self.pattern, self.action.as_str())
    }
}

/// Rules for `repository` with each of `actions` (as `--repository REPO ACTION…` takes them).
pub fn rules_for(repository: &str, actions: &[String]) -> Result<Vec<ScopeRule>, String> {
    let pattern = RepoPattern::parse(repository)?;
    actions.iter().map(|a| Ok(ScopeRule { pattern: pattern.clone(), action: a.parse()? })).collect()
}

/// A named set of rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeMap {
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The rules, additive.
    pub rules: Vec<ScopeRule>,
    /// Built in and read-only (`_repositories_*`).
    pub system: bool,
}

impl ScopeMap {
    /// What the rules add up to. Never the catalog, never the admin API.
    pub fn permissions(&self) -> Permissions {
        Permissions {
            rules: self.rules.iter().map(|r| (r.pattern.clone(), vec![r.action.action()])).collect(),
            catalog: false,
            admin: false,
        }
    }
}

/// The built-in scope maps ACR provides.
pub fn system_scope_maps() -> Vec<ScopeMap> {
    use ScopeAction::*;
    let map = |name: &str, description: &str, actions: &[ScopeAction]| ScopeMap {
        name: name.into(),
        description: Some(description.into()),
        rules: actions.iter().map(|a| ScopeRule { pattern: RepoPattern::All, action: *a }).collect(),
        system: true,
    };
    vec![
        map(
            "_repositories_admin",
            "Can perform all read, write and delete operations on the registry",
            &ScopeAction::ALL,
        ),
        map("_repositories_pull", "Can pull any repository of the registry", &[ContentRead]),
        map(
            "_repositories_pull_metadata_read",
            "Can pull and read metadata of any repository",
            &[ContentRead, MetadataRead],
        ),
        map("_repositories_push", "Can push to any repository of the registry", &[ContentRead, ContentWrite]),
        map(
            "_repositories_push_metadata_write",
            "Can push and write metadata to any repository",
            &[ContentRead, ContentWrite, MetadataRead, MetadataWrite],
        ),
    ]
}

/// Whether `name` is a valid token or scope-map name: 5 to 50 letters, digits and `-`, not
/// `admin` (the admin user) and not shaped like an application ID (which would make Basic
/// usernames ambiguous).
pub fn valid_name(name: &str) -> bool {
    (5..=50).contains(&name.len())
        && !name.eq_ignore_ascii_case("admin")
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && uuid::Uuid::try_parse(name).is_err()
}

/// One of a token's two passwords (or of the admin user's). Only the hash is kept.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenPassword {
    /// A random ID (a UUID v4) drawn anew with every password: refresh tokens issued with the
    /// password name it, so a new password in the slot revokes them, however soon it comes.
    pub id: String,
    /// 1 or 2.
    pub slot: u8,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// Seconds since the epoch.
    pub created: i64,
    /// Expiry, if any.
    pub expiry: Option<i64>,
}

impl fmt::Debug for TokenPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPassword")
            .field("id", &self.id)
            .field("slot", &self.slot)
            .field("created", &self.created)
            .field("expiry", &self.expiry)
            .finish_non_exhaustive()
    }
}

/// A repository-scoped token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The username it presents.
    pub name: String,
    /// Its scope map.
    pub scope_map: String,
    /// Disabled tokens are refused (403) even with a right password.
    pub enabled: bool,
    /// Seconds since the epoch.
    pub created: i64,
    /// Up to two passwords.
    pub passwords: Vec<TokenPassword>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_render_and_add_up() {
        for text in [
            "repositories/team/app/content/read",
            "repositories/team/*/metadata/write",
            "repositories/*/content/delete",
        ] {
            assert_eq!(text.parse::<ScopeRule>().unwrap().to_string(), text);
        }
        for bad in [
            "repositories/a/content/steal",
            "repos/a/content/read",
            "repositories/a/*/b/content/read",
            "repositories/content/read",
        ] {
            assert!(bad.parse::<ScopeRule>().is_err(), "{bad}");
        }
        let m = ScopeMap {
            name: "m".into(),
            description: None,
            rules: [
                "repositories/sample/*/content/read",
                "repositories/sample/team-a/*/content/write",
                "repositories/sample/team-a/project-b/content/delete",
            ]
            .iter()
            .map(|r| r.parse().unwrap())
            .collect(),
            system: false,
        };
        let p = m.permissions();
        assert_eq!(p.actions_on("sample/team-a/project-b"), [Action::Pull, Action::Push, Action::Delete]);
        assert_eq!(p.actions_on("sample/team-a/project-c"), [Action::Pull, Action::Push]);
        assert!(!p.catalog && !p.admin);
        assert!(
            valid_name("ci-token")
                && !valid_name("abc")
                && !valid_name("admin")
                && !valid_name("00000000-0000-0000-0000-000000000000")
        );
    }
}
