//! Who may do what: roles at a scope (service principals), and the permissions they add up to.
//!
//! The model is Azure Container Registry's: a service principal holds role assignments, each
//! a role (AcrPull, AcrPush, AcrDelete, Reader, Contributor, Owner) at a scope written as
//! `az --scopes` takes it: `/` (the registry), `repositories/team/app` (one repository) or
//! `repositories/team/*` (every repository under a prefix). [`Permissions`] is what a caller's
//! assignments add up to; [`crate::access::grant`] intersects it with what a request asks.

use crate::access::Action;
use std::fmt;
use std::str::FromStr;

/// A built-in role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Pull, read tags and referrers, list repositories.
    AcrPull,
    /// AcrPull plus push and tag.
    AcrPush,
    /// Delete manifests, tags and blobs.
    AcrDelete,
    /// Pull and list.
    Reader,
    /// Everything on the data plane.
    Contributor,
    /// Everything, and managing identities.
    Owner,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 6] =
        [Role::AcrPull, Role::AcrPush, Role::AcrDelete, Role::Reader, Role::Contributor, Role::Owner];

    /// The name `az` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::AcrPull => "AcrPull",
            Role::AcrPush => "AcrPush",
            Role::AcrDelete => "AcrDelete",
            Role::Reader => "Reader",
            Role::Contributor => "Contributor",
            Role::Owner => "Owner",
        }
    }

    /// Repository actions the role grants.
    pub fn actions(self) -> &'static [Action] {
        match self {
            Role::AcrPull | Role::Reader => &[Action::Pull, Action::MetadataRead],
            Role::AcrPush => &[Action::Pull, Action::Push, Action::MetadataRead, Action::MetadataWrite],
            Role::AcrDelete => &[Action::Delete, Action::MetadataWrite],
            Role::Contributor | Role::Owner => {
                &[Action::Pull, Action::Push, Action::Delete, Action::MetadataRead, Action::MetadataWrite]
            }
        }
    }

    /// Whether the role may list repositories (filtered to what it can see).
    pub fn lists_catalog(self) -> bool {
        !matches!(self, Role::AcrDelete)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    /// Case-insensitive, as `az role assignment create --role acrpull` accepts.
    fn from_str(s: &str) -> Result<Self, String> {
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s)).ok_or_else(|| {
            format!("unknown role {s:?}; roles are AcrPull, AcrPush, AcrDelete, Reader, Contributor, Owner")
        })
    }
}

/// Which repositories an assignment or rule covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RepoPattern {
    /// Every repository.
    All,
    /// Repositories whose name starts with `prefix/` (the prefix itself excluded).
    Prefix(String),
    /// One repository.
    Exact(String),
}

impl RepoPattern {
    /// Whether `repo` is covered.
    pub fn matches(&self, repo: &str) -> bool {
        match self {
            RepoPattern::All => true,
            RepoPattern::Exact(name) => name == repo,
            RepoPattern::Prefix(p) => {
                repo.len() > p.len() + 1 && repo.starts_with(p.as_str()) && repo.as_bytes()[p.len()] == b'/'
            }
        }
    }

    /// Parses a repository pattern: `*`, `team/*` or `team/app`. Only a single trailing `/*`
    /// or a lone `*` is a wildcard, as in ACR scope maps.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "*" {
            return Ok(RepoPattern::All);
        }
        let bad = || format!("invalid repository pattern {s:?}: use a name, name/*, or *");
        if let Some(prefix) = s.strip_suffix("/*") {
            crate::name::RepoName::parse(prefix).map_err(|_| bad())?;
            return Ok(RepoPattern::Prefix(prefix.to_owned()));
        }
        crate::name::RepoName::parse(s).map_err(|_| bad())?;
        Ok(RepoPattern::Exact(s.to_owned()))
    }
}

impl fmt::Display for RepoPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RepoPattern::All => f.write_str("*"),
            RepoPattern::Prefix(p) => write!(f, "{p}/*"),
            RepoPattern::Exact(n) => f.write_str(n),
        }
    }
}

/// The scope of a role assignment, as `--scopes` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RoleScope(pub RepoPattern);

impl RoleScope {
    /// The whole registry (`/`).
    pub fn registry() -> Self {
        RoleScope(RepoPattern::All)
    }
}

impl FromStr for RoleScope {
    type Err = String;
    /// `/` (or empty) for the registry, `repositories/<name>` or `repositories/<prefix>/*`.
    /// `repositories/*` is refused: it would mean the registry scope, which also carries the
    /// registry-wide abilities (the catalog, and the admin API for Owner), so that scope must
    /// be written as `/` on purpose.
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() || s == "/" {
            return Ok(RoleScope::registry());
        }
        let rest = s.trim_start_matches('/').strip_prefix("repositories/").ok_or_else(|| {
            format!("invalid scope {s:?}: use / for the registry, repositories/NAME or repositories/PREFIX/*")
        })?;
        if rest == "*" {
            return Err(format!(
                "invalid scope {s:?}: a role on every repository is a role on the whole registry \
                 (with its catalog and, for Owner, the admin API); write --scopes / if that is what you mean"
            ));
        }
        RepoPattern::parse(rest).map(RoleScope)
    }
}

impl fmt::Display for RoleScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            RepoPattern::All => f.write_str("/"),
            other => write!(f, "repositories/{other}"),
        }
    }
}

/// What a caller may do: repository rules (additive) and two registry-wide abilities.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    /// (repositories, actions) pairs; a repository gets the union of every matching rule.
    pub rules: Vec<(RepoPattern, Vec<Action>)>,
    /// May list the catalog (filtered to repositories it can pull).
    pub catalog: bool,
    /// May use the admin API (manage identities and settings).
    pub admin: bool,
}

impl Permissions {
    /// What a set of role assignments adds up to.
    pub fn from_roles<'a>(assignments: impl IntoIterator<Item = (Role, &'a RoleScope)>) -> Self {
        let mut p = Permissions::default();
        for (role, scope) in assignments {
            p.rules.push((scope.0.clone(), role.actions().to_vec()));
            p.catalog |= role.lists_catalog();
            p.admin |= role == Role::Owner && scope.0 == RepoPattern::All;
        }
        p
    }

    /// Everything (the anonymous-pull case adds only pull).
    pub fn pull_everything() -> Self {
        Permissions {
            rules: vec![(RepoPattern::All, vec![Action::Pull, Action::MetadataRead])],
            catalog: false,
            admin: false,
        }
    }

    /// The actions allowed on `repo`: the union over matching rules.
    pub fn actions_on(&self, repo: &str) -> Vec<Action> {
        let mut out: Vec<Action> =
            self.rules.iter().filter(|(p, _)| p.matches(repo)).flat_map(|(_, a)| a.iter().copied()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Whether `repo` is visible (pullable) to this caller, for the catalog.
    pub fn can_see(&self, repo: &str) -> bool {
        self.actions_on(repo).contains(&Action::Pull)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_and_render() {
        for (text, rendered) in [
            ("/", "/"),
            ("", "/"),
            ("repositories/team/app", "repositories/team/app"),
            ("repositories/team/*", "repositories/team/*"),
            ("/repositories/a", "repositories/a"),
        ] {
            assert_eq!(text.parse::<RoleScope>().unwrap().to_string(), rendered);
        }
        for bad in [
            "repos/a",
            "repositories/",
            "repositories/*",
            "/repositories/*",
            "repositories/a/*/b",
            "repositories/a*",
            "repositories/A",
        ] {
            assert!(bad.parse::<RoleScope>().is_err(), "{bad}");
        }
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let p = RepoPattern::parse("backend/*").unwrap();
        assert!(p.matches("backend/api") && p.matches("backend/a/b"));
        assert!(!p.matches("backend") && !p.matches("backend-infra/k8s") && !p.matches("backendsvc/x"));
    }

    #[test]
    fn roles_add_up() {
        let team: RoleScope = "repositories/team/*".parse().unwrap();
        let one: RoleScope = "repositories/team/app".parse().unwrap();
        let p = Permissions::from_roles([(Role::AcrPull, &team), (Role::AcrDelete, &one)]);
        assert_eq!(
            p.actions_on("team/app"),
            [Action::Pull, Action::Delete, Action::MetadataRead, Action::MetadataWrite]
        );
        assert_eq!(p.actions_on("team/web"), [Action::Pull, Action::MetadataRead]);
        assert!(p.actions_on("other").is_empty());
        assert!(p.catalog && !p.admin);
        let owner = Permissions::from_roles([(Role::Owner, &RoleScope::registry())]);
        assert!(owner.admin);
        assert_eq!("acrpush".parse::<Role>(), Ok(Role::AcrPush));
    }
}
