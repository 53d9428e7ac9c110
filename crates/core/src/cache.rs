//! Pull-through cache rules: what upstream repository a repository of this registry caches.
//!
//! A rule maps a *source* (an upstream registry and a repository there, or a wildcard under
//! it: `docker.io/library/nginx`, `docker.io/*`, `ghcr.io/org/*`) to a *target* in this
//! registry (`nginx`, `hub/*`, `org/*`). Names are mapped component for component: the rule
//! `docker.io/*` → `hub/*` makes `hub/library/nginx` the cache of
//! `docker.io/library/nginx`. Sources normalise as the docker CLI reads image names
//! (`nginx` → `docker.io/library/nginx`; Docker Hub's API host is `registry-1.docker.io`).
//!
//! Overlap rules (ACR's): two wildcard rules may not overlap, neither in their sources nor in
//! their targets; a static rule may sit inside a wildcard (it wins there), but two static rules
//! may not share a source or a target. [`CacheRules::check`] says why a rule cannot join.

use crate::name::RepoName;
use std::fmt;

/// Docker Hub's name in image references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API answers on.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Why a rule, a source, a target or a name was refused: a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CacheRuleError(pub String);

fn refuse(s: impl Into<String>) -> CacheRuleError {
    CacheRuleError(s.into())
}

/// Checks the name of a cache rule or a credential set: 1 to 50 ASCII letters, digits,
/// `-` and `_`, as ACR's resource names.
pub fn check_name(what: &str, name: &str) -> Result<(), CacheRuleError> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(refuse(format!("invalid {what} name {name:?}: use 1 to 50 letters, digits, '-' and '_'")))
    }
}

/// An upstream registry's host, `name[:port]`, lowercase. Docker Hub's other names
/// (`index.docker.io`, `registry-1.docker.io`) are `docker.io`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistryHost(String);

impl RegistryHost {
    /// Parses a host as given in a source, a credential set's login server or a mirror
    /// request's `ns` parameter. A scheme, a path, credentials or a query are refused.
    pub fn parse(s: &str) -> Result<Self, CacheRuleError> {
        if s.contains("://") {
            return Err(refuse(format!(
                "{s:?}: give the registry without a scheme (docker.io, not https://docker.io)"
            )));
        }
        let host = s.to_ascii_lowercase();
        let (name, port) = match host.rsplit_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host.as_str(), None),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        let name_ok = !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok);
        let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0));
        if !name_ok || !port_ok {
            return Err(refuse(format!("{s:?} is not a registry host (name[:port], like docker.io or ghcr.io)")));
        }
        let host = match host.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_owned(),
            _ => host,
        };
        Ok(RegistryHost(host))
    }

    /// The host as written in image names (`docker.io`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host its registry API answers on (`registry-1.docker.io` for Docker Hub).
    pub fn api_host(&self) -> &str {
        if self.0 == DOCKER_HUB { DOCKER_HUB_API } else { &self.0 }
    }
}

impl fmt::Display for RegistryHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RegistryHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegistryHost({})", self.0)
    }
}

/// A repository name, or every name under a prefix (`prefix/*`; a bare `*` for every name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    /// The name, or the wildcard's prefix (empty for a bare `*`).
    prefix: String,
    wildcard: bool,
}

impl NamePattern {
    /// Parses `name`, `prefix/*` or `*`. Each component must follow the repository-name
    /// grammar; `.`, `..` and empty components are refused.
    pub fn parse(s: &str) -> Result<Self, CacheRuleError> {
        let (prefix, wildcard) = match s.strip_suffix('*') {
            Some("") => ("", true),
            Some(p) => match p.strip_suffix('/') {
                Some(prefix) => (prefix, true),
                None => return Err(refuse(format!("{s:?}: a wildcard is a whole last component (prefix/*)"))),
            },
            None => (s, false),
        };
        if prefix.contains('*') {
            return Err(refuse(format!("{s:?}: '*' may only end a name, as prefix/*")));
        }
        if prefix.split('/').any(|c| c == "." || c == "..") {
            return Err(refuse(format!("{s:?}: '.' and '..' are not name components")));
        }
        if !prefix.is_empty() && RepoName::parse(prefix).is_err() {
            return Err(refuse(format!(
                "{s:?} is not a repository name: use lowercase letters, digits, '.', '_', '-' and '/'"
            )));
        }
        if prefix.is_empty() && !wildcard {
            return Err(refuse("an empty repository name"));
        }
        Ok(NamePattern { prefix: prefix.to_owned(), wildcard })
    }

    /// Whether this is a wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    /// The name, or the wildcard's prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// What `name` adds to the pattern: `Some("")` for the static name itself, the rest
    /// after the prefix for a wildcard, `None` when the pattern does not cover `name`.
    pub fn rest<'a>(&self, name: &'a str) -> Option<&'a str> {
        if !self.wildcard {
            return (name == self.prefix).then_some("");
        }
        if self.prefix.is_empty() {
            return (!name.is_empty()).then_some(name);
        }
        name.strip_prefix(self.prefix.as_str())?.strip_prefix('/').filter(|r| !r.is_empty())
    }

    /// The name this pattern gives to `rest` (from [`Self::rest`] of its counterpart).
    pub fn apply(&self, rest: &str) -> Option<RepoName> {
        let name = match (self.wildcard, self.prefix.is_empty()) {
            (false, _) => self.prefix.clone(),
            (true, true) => rest.to_owned(),
            (true, false) => format!("{}/{rest}", self.prefix),
        };
        RepoName::parse(&name).ok()
    }

    /// Whether some name matches both patterns.
    pub fn overlaps(&self, other: &NamePattern) -> bool {
        let under = |w: &NamePattern, name: &str| {
            w.prefix.is_empty() || name == w.prefix || name.starts_with(&format!("{}/", w.prefix))
        };
        match (self.wildcard, other.wildcard) {
            (false, false) => self.prefix == other.prefix,
            (true, false) => self.rest(&other.prefix).is_some(),
            (false, true) => other.rest(&self.prefix).is_some(),
            (true, true) => under(self, &other.prefix) || under(other, &self.prefix),
        }
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.wildcard, self.prefix.is_empty()) {
            (false, _) => f.write_str(&self.prefix),
            (true, true) => f.write_str("*"),
            (true, false) => write!(f, "{}/*", self.prefix),
        }
    }
}

/// Where a rule's content comes from: an upstream registry and a name pattern there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSource {
    /// The upstream registry.
    pub registry: RegistryHost,
    /// The repository (or wildcard) on it.
    pub path: NamePattern,
}

impl CacheSource {
    /// Parses and normalises a source as the docker CLI reads an image name: the first
    /// component is a registry when it contains `.` or `:` or is `localhost`, else the
    /// source is on Docker Hub, where a one-component name gets `library/`. A tag, a digest,
    /// a scheme or a path with `..` is refused.
    pub fn parse(s: &str) -> Result<Self, CacheRuleError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(refuse("an empty source: name an upstream repository, like docker.io/library/nginx"));
        }
        if s.contains("://") {
            return Err(refuse(format!(
                "source {s:?}: give it without a scheme, as an image name (docker.io/library/nginx)"
            )));
        }
        if s.contains('@') || s.chars().any(|c| c.is_whitespace() || c == '?' || c == '#' || c == '\\') {
            return Err(refuse(format!("source {s:?}: a source is a repository name, without a digest or a query")));
        }
        let (registry, path) = match s.split_once('/') {
            Some((first, rest)) if first.contains('.') || first.contains(':') || first == "localhost" => {
                (RegistryHost::parse(first)?, rest)
            }
            _ => (RegistryHost(DOCKER_HUB.to_owned()), s),
        };
        if path.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            return Err(refuse(format!("source {s:?}: a source names a repository, not a tag")));
        }
        let path = if registry.as_str() == DOCKER_HUB && !path.contains('/') && path != "*" {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        let path = NamePattern::parse(&path).map_err(|e| refuse(format!("source {s:?}: {e}")))?;
        Ok(CacheSource { registry, path })
    }
}

impl fmt::Display for CacheSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)
    }
}

/// A cache rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheRule {
    /// Its name.
    pub name: String,
    /// What it caches.
    pub source: CacheSource,
    /// Where the cached repositories live in this registry.
    pub target: NamePattern,
    /// The credential set used upstream; `None` for anonymous pulls.
    pub credential_set: Option<String>,
    /// Whether clients may also push into the target repositories.
    pub allow_push: bool,
}

impl CacheRule {
    /// A rule from its parts as the user gave them: the name checked, the source normalised,
    /// a static source with a static target and a wildcard with a wildcard (a bare `*`
    /// target, which would cover every repository, is refused).
    pub fn new(
        name: &str,
        source: &str,
        target: &str,
        credential_set: Option<String>,
        allow_push: bool,
    ) -> Result<Self, CacheRuleError> {
        check_name("cache rule", name)?;
        if let Some(set) = &credential_set {
            check_name("credential set", set)?;
        }
        let source = CacheSource::parse(source)?;
        let target = NamePattern::parse(target.trim()).map_err(|e| refuse(format!("target: {e}")))?;
        match (source.path.is_wildcard(), target.is_wildcard()) {
            (true, true) if target.prefix().is_empty() => {
                return Err(refuse("target \"*\" would make every repository a cache: give a prefix, like hub/*"));
            }
            (true, false) => {
                return Err(refuse(format!(
                    "source {source} is a wildcard: its target must be one too, like {target}/*"
                )));
            }
            (false, true) => {
                return Err(refuse(format!(
                    "source {source} is one repository: its target must be one too, not {target}"
                )));
            }
            _ => {}
        }
        Ok(CacheRule { name: name.to_owned(), source, target, credential_set, allow_push })
    }
}

/// A target repository matched to its rule and the upstream repository it caches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheMatch<'a> {
    /// The rule.
    pub rule: &'a CacheRule,
    /// The repository in this registry.
    pub target: RepoName,
    /// The repository upstream.
    pub upstream: RepoName,
}

/// Every cache rule of a registry, for look-ups both ways.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheRules(Vec<CacheRule>);

impl CacheRules {
    /// The rules, as stored (they are assumed to have passed [`Self::check`]).
    pub fn new(rules: Vec<CacheRule>) -> Self {
        CacheRules(rules)
    }

    /// The rules.
    pub fn iter(&self) -> impl Iterator<Item = &CacheRule> {
        self.0.iter()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `candidate` may join the rules (replacing the rule of the same name when
    /// `replacing`): the overlap rules of the module documentation, and a unique name.
    pub fn check(&self, candidate: &CacheRule, replacing: bool) -> Result<(), CacheRuleError> {
        for r in &self.0 {
            if r.name == candidate.name {
                if replacing {
                    continue;
                }
                return Err(refuse(format!("a cache rule named {} exists already", r.name)));
            }
            let both_wild = r.source.path.is_wildcard() && candidate.source.path.is_wildcard();
            let same_registry = r.source.registry == candidate.source.registry;
            if both_wild && same_registry && r.source.path.overlaps(&candidate.source.path) {
                return Err(refuse(format!(
                    "source {} overlaps the wildcard source {} of rule {}: wildcard rules may not overlap",
                    candidate.source, r.source, r.name
                )));
            }
            if !r.source.path.is_wildcard() && r.source == candidate.source {
                return Err(refuse(format!("rule {} caches {} already", r.name, r.source)));
            }
            let targets_clash = match (r.target.is_wildcard(), candidate.target.is_wildcard()) {
                (true, true) | (false, false) => r.target.overlaps(&candidate.target),
                _ => false,
            };
            if targets_clash {
                return Err(refuse(format!(
                    "target {} overlaps the target {} of rule {}: only a single repository may sit inside a wildcard",
                    candidate.target, r.target, r.name
                )));
            }
        }
        Ok(())
    }

    /// The rule covering repository `repo` of this registry, with the upstream name: a
    /// static rule for exactly `repo` wins over a wildcard.
    pub fn for_target(&self, repo: &RepoName) -> Option<CacheMatch<'_>> {
        self.best(|r| {
            let rest = r.target.rest(repo.as_str())?;
            Some((repo.clone(), r.source.path.apply(rest)?))
        })
    }

    /// The rule whose source covers `path` on `registry` (a mirror request's `ns`), with
    /// the repository of this registry that caches it.
    pub fn for_upstream(&self, registry: &RegistryHost, path: &RepoName) -> Option<CacheMatch<'_>> {
        self.best(|r| {
            if &r.source.registry != registry {
                return None;
            }
            let rest = r.source.path.rest(path.as_str())?;
            Some((r.target.apply(rest)?, path.clone()))
        })
    }

    fn best(&self, map: impl Fn(&CacheRule) -> Option<(RepoName, RepoName)>) -> Option<CacheMatch<'_>> {
        let mut found: Option<CacheMatch<'_>> = None;
        for rule in &self.0 {
            if let Some((target, upstream)) = map(rule) {
                let m = CacheMatch { rule, target, upstream };
                if !rule.target.is_wildcard() {
                    return Some(m);
                }
                found.get_or_insert(m);
            }
        }
        found
    }

    /// The upstream registries some rule caches, each once, in order.
    pub fn registries(&self) -> Vec<&RegistryHost> {
        let mut hosts: Vec<&RegistryHost> = self.0.iter().map(|r| &r.source.registry).collect();
        hosts.sort();
        hosts.dedup();
        hosts
    }
}

/// An image on another registry, as `berth import --source` names it:
/// `[registry/]repository[:tag][@digest]`, normalised as [`CacheSource`] (with neither tag
/// nor digest the tag is `latest`; a digest wins over a tag).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSource {
    /// The registry.
    pub registry: RegistryHost,
    /// The repository there.
    pub repository: RepoName,
    /// The tag given, if any.
    pub tag: Option<crate::name::Tag>,
    /// What to fetch: the digest when given, else the tag.
    pub reference: crate::name::Reference,
}

impl ImageSource {
    /// Parses an image reference on another registry.
    pub fn parse(s: &str) -> Result<Self, CacheRuleError> {
        use crate::name::{Reference, Tag};
        let s = s.trim();
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => {
                (r, Some(crate::Digest::parse(d).map_err(|_| refuse(format!("source {s:?}: {d:?} is not a digest")))?))
            }
            None => (s, None),
        };
        let (name, tag) = crate::name::split_tag(rest);
        let tag =
            tag.map(|t| Tag::parse(t).map_err(|_| refuse(format!("source {s:?}: {t:?} is not a tag")))).transpose()?;
        let source = CacheSource::parse(name)?;
        if source.path.is_wildcard() {
            return Err(refuse(format!("source {s:?}: an import names one image, not a wildcard")));
        }
        let repository =
            RepoName::parse(source.path.prefix()).map_err(|_| refuse(format!("source {s:?}: bad name")))?;
        let reference = match (&digest, &tag) {
            (Some(d), _) => Reference::Digest(d.clone()),
            (None, Some(t)) => Reference::Tag(t.clone()),
            (None, None) => Reference::Tag(Tag::parse("latest").expect("latest is a tag")),
        };
        Ok(ImageSource { registry: source.registry, repository, tag, reference })
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
