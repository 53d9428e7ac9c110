//! What a request needs (`Access`) and the pure policy function that decides it.
//!
//! The grammar is the Docker token scope: `type:name:action[,action]`. The name may contain
//! `:` (a registry host with a port), so the type is split off the front and the actions off
//! the back.

use std::fmt;

/// An action on a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    /// Read manifests, blobs, tags and referrers.
    Pull,
    /// Upload blobs and manifests, tag.
    Push,
    /// Delete manifests, tags and blobs.
    Delete,
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
            Action::All => "*",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pull" => Action::Pull,
            "push" => Action::Push,
            "delete" => Action::Delete,
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

    /// `registry:catalog:*`.
    pub fn catalog() -> Self {
        Access { resource_type: "registry".into(), name: "catalog".into(), actions: vec![Action::All] }
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

/// The policy in force. Until identities exist (issue #3) it allows everything; the shape of
/// [`grant`] is the one the role-based policy will keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Policy {
    /// Every request is allowed.
    #[default]
    AllowAll,
}

/// The part of `wanted` that `policy` allows: the intersection, never an error.
pub fn grant(policy: &Policy, wanted: &[Access]) -> Vec<Access> {
    match policy {
        Policy::AllowAll => wanted.to_vec(),
    }
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
    fn allow_all_covers() {
        let want = vec![Access::repository("a", &[Action::Pull, Action::Push])];
        assert!(covers(&grant(&Policy::AllowAll, &want), &want));
        assert!(!covers(&[], &want));
    }
}
