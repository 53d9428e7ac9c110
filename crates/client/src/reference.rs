//! Image references as `docker` reads them: `[HOST[:PORT]/]NAME[:TAG][@DIGEST]`.
//!
//! The first path component is a registry host when it contains `.` or `:` or is `localhost`;
//! otherwise the image is on Docker Hub (`docker.io`), where a single-component name gets the
//! `library/` prefix. With neither tag nor digest the tag is `latest`.

use berth_core::{Digest, RepoName, Tag};
use std::fmt;

/// Docker Hub's name in references.
pub const DOCKER_HUB: &str = "docker.io";
/// The host Docker Hub's registry API answers on.
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Why a reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefError {
    /// Empty, or an empty part.
    #[error("empty image reference")]
    Empty,
    /// The repository name breaks the grammar (lowercase letters, digits, separators).
    #[error("invalid repository name {0:?}: use lowercase letters, digits, '.', '_', '-' and '/'")]
    Name(String),
    /// The tag breaks the grammar.
    #[error("invalid tag {0:?}")]
    Tag(String),
    /// The digest is malformed or of an unsupported algorithm.
    #[error("invalid digest {0:?}")]
    Digest(String),
}

/// A normalised image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host, with port when given (`docker.io` for Docker Hub).
    pub registry: String,
    /// Repository within the registry.
    pub repository: RepoName,
    /// Tag, if any.
    pub tag: Option<Tag>,
    /// Digest, if any (wins over the tag when pulling).
    pub digest: Option<Digest>,
}

fn is_host(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

impl ImageRef {
    /// Parses and normalises a reference.
    pub fn parse(s: &str) -> Result<Self, RefError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (r, Some(Digest::parse(d).map_err(|_| RefError::Digest(d.to_owned()))?)),
            None => (s, None),
        };
        let (name, tag) = berth_core::name::split_tag(rest);
        let tag = tag.map(|t| Tag::parse(t).map_err(|_| RefError::Tag(t.to_owned()))).transpose()?;
        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if is_host(first) => (first.to_owned(), path.to_owned()),
            _ => (DOCKER_HUB.to_owned(), name.to_owned()),
        };
        let registry = if registry == "index.docker.io" { DOCKER_HUB.to_owned() } else { registry };
        let path = if registry == DOCKER_HUB && !path.contains('/') { format!("library/{path}") } else { path };
        if path.is_empty() {
            return Err(RefError::Empty);
        }
        let repository = RepoName::parse(&path).map_err(|_| RefError::Name(path.clone()))?;
        let tag = match (&tag, &digest) {
            (None, None) => Some(Tag::parse("latest").expect("latest is a tag")),
            _ => tag,
        };
        Ok(ImageRef { registry, repository, tag, digest })
    }

    /// The host to send API requests to (Docker Hub's API lives elsewhere).
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB { DOCKER_HUB_API } else { &self.registry }
    }

    /// What to ask the registry for: the digest when known, else the tag.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.to_string(),
            (None, None) => "latest".to_owned(),
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn normalises_like_docker() {
        let cases = [
            ("ubuntu", "docker.io/library/ubuntu:latest"),
            ("ubuntu:22.04", "docker.io/library/ubuntu:22.04"),
            ("bitnami/redis", "docker.io/bitnami/redis:latest"),
            ("index.docker.io/library/alpine:3", "docker.io/library/alpine:3"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/team/app:v1", "localhost:5000/team/app:v1"),
            ("127.0.0.1:5000/app", "127.0.0.1:5000/app:latest"),
            ("registry.example.com/a/b/c:1.0", "registry.example.com/a/b/c:1.0"),
        ];
        for (input, want) in cases {
            assert_eq!(ImageRef::parse(input).unwrap().to_string(), want, "{input}");
        }
        let by_digest = ImageRef::parse(&format!("r.example:5000/app@{D}")).unwrap();
        assert_eq!(by_digest.tag, None);
        assert_eq!(by_digest.reference(), D);
        let both = ImageRef::parse(&format!("app:v1@{D}")).unwrap();
        assert_eq!(both.reference(), D, "a digest wins over a tag");
        assert_eq!(ImageRef::parse("ubuntu").unwrap().api_host(), DOCKER_HUB_API);
    }

    #[test]
    fn refusals() {
        assert_eq!(ImageRef::parse(""), Err(RefError::Empty));
        assert!(matches!(ImageRef::parse("Ubuntu"), Err(RefError::Name(_))));
        assert!(matches!(ImageRef::parse("app:"), Err(RefError::Tag(_))));
        assert!(matches!(ImageRef::parse("app@sha256:xyz"), Err(RefError::Digest(_))));
        assert!(matches!(ImageRef::parse("r.example:5000/"), Err(RefError::Empty)));
    }

    proptest! {
        #[test]
        fn never_panics_and_round_trips(s in "[a-zA-Z0-9./:@_-]{0,60}") {
            if let Ok(r) = ImageRef::parse(&s) {
                prop_assert_eq!(ImageRef::parse(&r.to_string()), Ok(r));
            }
        }
    }
}
