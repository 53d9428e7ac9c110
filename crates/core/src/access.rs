//! What a request needs (`Access`) and the pure policy function that decides it.
//!
//! The grammar is the Docker token scope: `type:name:action[,action]`. The name may contain
//! `:` (a registry host with a port), so the type is split off the front and the actions off
//! the back.

use crate::roles::Permissions;
use std::fmt;

/// An action on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and manifests, tag.
    Push,
    /// Delete manifests and blobs.
    Delete,
    /// List tags and referrers (granted with `pull` when allowed).
    MetadataRead,
    /// Untag (granted with `delete` when allowed).
    MetadataWrite,
    /// `registry:catalog:*`.
    All,
}

impl Action {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::MetadataRead => "metadata_read",
            Action::MetadataWrite => "metadata_write",
            Action::All => "*",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pull" => Action::Pull,
            "push" => Action::Push,
            "delete" => Action::Delete,
            "metadata_read" => Action::MetadataRead,
            "metadata_write" => Action::MetadataWrite,
            "*" => Action::All,
            _ => return None,
        })
    }
}

/// Access to one resource: `repository:team/app:pull,push` or `registry:catalog:*`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    /// `repository` or `registry`.
    pub resource_type: String,
    /// Repository name, or `catalog`.
    pub name: String,
    /// Sorted, without duplicates.
    pub actions: Vec<Action>,
}

impl Access {
    /// Access on a repository.
    pub fn repository(name: &str, actions: &[Action]) -> Self {
        let mut actions = actions.to_vec();
        actions.sort();
        actions.dedup();
        Access { resource_type: "repository".into(), name: name.into(), actions }
    }

    /// `admin:api:*`: the admin API (Owner at registry scope).
    pub fn admin() -> Self {
        Access { resource_type: "admin".into(), name: "api".into(), actions: vec![Action::All] }
    }

    /// `registry:catalog:*`.
    pub fn catalog() -> Self {
        Access { resource_type: "registry".into(), name: "catalog".into(), actions: vec![Action::All] }
    }

    /// The same access in the words docker clients use to ask for it (`metadata_read` is
    /// asked as `pull`, `metadata_write` as `delete`), for challenges.
    pub fn as_requested(&self) -> Access {
        let mut actions: Vec<Action> = self
            .actions
            .iter()
            .map(|a| match a {
                Action::MetadataRead => Action::Pull,
                Action::MetadataWrite => Action::Delete,
                other => *other,
            })
            .collect();
        actions.sort();
        actions.dedup();
        Access { resource_type: self.resource_type.clone(), name: self.name.clone(), actions }
    }

    /// Parses one scope; unknown actions are dropped (a grant never includes them).
    pub fn parse(scope: &str) -> Option<Self> {
        let (resource_type, rest) = scope.split_once(':')?;
        let (name, actions) = rest.rsplit_once(':')?;
        if resource_type.is_empty() || name.is_empty() {
            return None;
        }

        let mut actions: Vec<Action> = actions.split(',').filter_map(Action::parse).collect();
        actions.sort();
        actions.dedup();
        Some(Access { resource_type: resource_type.into(), name: name.into(), actions })
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let actions: Vec<&str> = self.actions.iter().map(|a| a.as_str()).collect();
        write!(f, "{}:{}:{}", self.resource_type, self.name, actions.join(","))
    }
}

/// The metadata action that comes with a content action: docker clients ask for `pull` before
/// listing tags and for `delete` before untagging, and know no other words.
fn companion(a: Action) -> Option<Action> {
    match a {
        Action::Pull => Some(Action::MetadataRead),
        Action::Delete => Some(Action::MetadataWrite),
        _ => None,
    }
}

/// The part of `wanted` that `permissions` allow: the intersection, never an error. A request
/// for `pull` (or `delete`) also receives `metadata_read` (or `metadata_write`) when allowed.
/// Entries left with no action are dropped, as distribution's token server does.
pub fn grant(permissions: &Permissions, wanted: &[Access]) -> Vec<Access> {
    wanted
        .iter()
        .filter_map(|w| {
            let allowed: Vec<Action> = match (w.resource_type.as_str(), w.name.as_str()) {
                // Only a valid repository name (at most 255 characters) is granted, so a
                // grant (and the token carrying it) stays small whatever a client asks for.
                ("repository", name) if crate::name::RepoName::parse(name).is_ok() => {
                    let on = permissions.actions_on(name);
                    let mut asked: Vec<Action> =
                        w.actions.iter().copied().chain(w.actions.iter().filter_map(|a| companion(*a))).collect();
                    asked.sort();
                    asked.dedup();
                    asked.into_iter().filter(|a| on.contains(a)).collect()
                }
                ("registry", "catalog") if permissions.catalog => {
                    w.actions.iter().copied().filter(|a| *a == Action::All).collect()
                }
                ("admin", "api") if permissions.admin => {
                    w.actions.iter().copied().filter(|a| *a == Action::All).collect()
                }
                _ => Vec::new(),
            };
            (!allowed.is_empty()).then(|| Access {
                resource_type: w.resource_type.clone(),
                name: w.name.clone(),
                actions: allowed,
            })
        })
        .collect()
}

/// Whether `granted` covers every action of every access in `wanted`.
pub fn covers(granted: &[Access], wanted: &[Access]) -> bool {
    wanted.iter().all(|w| {
        w.actions.iter().all(|a| {
            granted.iter().any(|g| g.resource_type == w.resource_type && g.name == w.name && g.actions.contains(a))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        let a = Access::parse("repository:localhost:5000/team/app:push,pull,bogus").unwrap();
        assert_eq!(a.name, "localhost:5000/team/app");
        assert_eq!(a.actions, vec![Action::Pull, Action::Push]);
        assert_eq!(a.to_string(), "repository:localhost:5000/team/app:pull,push");
        assert_eq!(Access::parse("registry:catalog:*").unwrap(), Access::catalog());
        assert!(Access::parse("nonsense").is_none());
    }

    #[test]
    fn only_valid_repository_names_are_granted() {
        let p = Permissions::pull_everything();
        let long = format!("repository:{}:pull", "a".repeat(60_000));
        let want: Vec<Access> = [long.as_str(), "repository:Upper:pull", "repository:ok/name:pull"]
            .iter()
            .filter_map(|s| Access::parse(s))
            .collect();
        let granted = grant(&p, &want);
        assert_eq!(granted.len(), 1);
        assert_eq!(granted[0].name, "ok/name");
    }

    #[test]
    fn grant_is_the_intersection() {
        use crate::roles::{Role, RoleScope};
        let scope: RoleScope = "repositories/team/*".parse().unwrap();
        let p = Permissions::from_roles([(Role::AcrPull, &scope)]);
        let want = vec![
            Access::repository("team/app", &[Action::Pull, Action::Push]),
            Access::repository("other", &[Action::Pull]),
            Access::catalog(),
        ];
        let granted = grant(&p, &want);
        assert_eq!(
            granted,
            vec![Access::repository("team/app", &[Action::Pull, Action::MetadataRead]), Access::catalog()]
        );
        assert!(!covers(&granted, &want[..1]));
        assert!(covers(&granted, &[Access::repository("team/app", &[Action::Pull])]));
        assert!(grant(&Permissions::default(), &want).is_empty());
    }
}
