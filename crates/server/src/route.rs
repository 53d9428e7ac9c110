//! The OCI path grammar: one pure parser for everything under `/v2/`, and for the one ACR
//! endpoint Berth serves beside it (`/acr/v1/<name>`).
//!
//! Repository names contain `/`, so the route is recognised by its suffix, matched from the
//! right, and whatever precedes the suffix must be a valid name. The raw (still
//! percent-encoded) path is parsed, so `%2F` is never a separator and `..` is never resolved:
//! both make the name invalid. [`OciRoute::path`] renders the URL of a route (for `Location`
//! headers and tests) and `parse(route.path()) == route`.

use berth_core::{Digest, NameError, Reference, RepoName, Tag, UploadId};

/// A request target under `/v2/`. Each variant names the spec endpoints it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciRoute {
    /// end-1: `GET /v2/`.
    Base,
    /// `GET /v2/_catalog` (distribution's extension).
    Catalog,
    /// end-3 (GET/HEAD), end-7 (PUT), end-9 (DELETE): `/v2/<name>/manifests/<reference>`.
    Manifest {
        /// Repository.
        name: RepoName,
        /// Tag or digest.
        reference: Reference,
    },
    /// end-2 (GET/HEAD), end-10 (DELETE): `/v2/<name>/blobs/<digest>`.
    Blob {
        /// Repository.
        name: RepoName,
        /// Blob digest.
        digest: Digest,
    },
    /// end-4a, end-4b, end-11: `POST /v2/<name>/blobs/uploads/`.
    Uploads {
        /// Repository.
        name: RepoName,
    },
    /// end-5 (PATCH), end-6 (PUT), end-13 (GET), end-14 (DELETE):
    /// `/v2/<name>/blobs/uploads/<id>`.
    Upload {
        /// Repository.
        name: RepoName,
        /// Session id.
        id: UploadId,
    },
    /// end-8a, end-8b: `GET /v2/<name>/tags/list`.
    Tags {
        /// Repository.
        name: RepoName,
    },
    /// end-12a, end-12b: `GET /v2/<name>/referrers/<digest>`.
    Referrers {
        /// Repository.
        name: RepoName,
        /// Subject digest.
        digest: Digest,
    },
    /// ACR's repository endpoint, `/acr/v1/<name>` (outside `/v2/`): GET its attributes,
    /// PATCH its locks, DELETE the whole repository.
    Repository {
        /// Repository.
        name: RepoName,
    },
    /// ACR's tag endpoint, `/acr/v1/<name>/_tags/<tag>`: GET its attributes, PATCH its locks.
    RepositoryTag {
        /// Repository.
        name: RepoName,
        /// Tag.
        tag: Tag,
    },
}

/// Why a path is not a valid route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// No OCI endpoint has this shape.
    NotFound,
    /// The repository name breaks the grammar.
    NameInvalid,
    /// A digest in the path is malformed or of an unsupported algorithm.
    DigestInvalid,
    /// A manifest reference is neither a tag nor a digest.
    ReferenceInvalid,
    /// The upload id is not one Berth issues.
    UploadUnknown,
}

fn name(segments: &[&str]) -> Result<RepoName, RouteError> {
    if segments.is_empty() {
        return Err(RouteError::NotFound);
    }
    RepoName::parse(&segments.join("/")).map_err(|_| RouteError::NameInvalid)
}

impl OciRoute {
    /// Parses the raw path of a request (including the `/v2/` or `/acr/v1/` prefix).
    pub fn parse(path: &str) -> Result<Self, RouteError> {
        if let Some(rest) = path.strip_prefix("/acr/v1/") {
            let s: Vec<&str> = rest.split('/').collect();
            let n = s.len();
            if n >= 3 && s[n - 2] == "_tags" && !s[..n - 2].iter().any(|seg| seg.starts_with('_')) {
                let tag = Tag::parse(s[n - 1]).map_err(|_| RouteError::ReferenceInvalid)?;
                return Ok(OciRoute::RepositoryTag { name: name(&s[..n - 2])?, tag });
            }
            // ACR's other endpoints (`_catalog`, `<name>/_manifests`, …) are not served.
            if rest.is_empty() || s.iter().any(|seg| seg.starts_with('_')) {
                return Err(RouteError::NotFound);
            }
            return Ok(OciRoute::Repository { name: name(&s)? });
        }
        let rest = path.strip_prefix("/v2").ok_or(RouteError::NotFound)?;
        if rest.is_empty() || rest == "/" {
            return Ok(OciRoute::Base);
        }
        let rest = rest.strip_prefix('/').ok_or(RouteError::NotFound)?;
        if rest == "_catalog" {
            return Ok(OciRoute::Catalog);
        }
        let s: Vec<&str> = rest.split('/').collect();
        let n = s.len();
        let tail = |k: usize| &s[n.saturating_sub(k)..];
        // Name validation comes first: a bad name is NAME_INVALID whatever the suffix holds.
        if n >= 3 && tail(3)[..2] == ["blobs", "uploads"] {
            let name = name(&s[..n - 3])?;
            let last = s[n - 1];
            return if last.is_empty() {
                Ok(OciRoute::Uploads { name })
            } else {
                let id = UploadId::parse(last).ok_or(RouteError::UploadUnknown)?;
                Ok(OciRoute::Upload { name, id })
            };
        }
        if n >= 3 && tail(2) == ["blobs", "uploads"] {
            return Ok(OciRoute::Uploads { name: name(&s[..n - 2])? });
        }
        if n >= 3 && tail(2) == ["tags", "list"] {
            return Ok(OciRoute::Tags { name: name(&s[..n - 2])? });
        }
        if n >= 3 {
            let (kind, last) = (s[n - 2], s[n - 1]);
            let digest = || Digest::parse(last).map_err(|_| RouteError::DigestInvalid);
            match kind {
                "manifests" => {
                    let name = name(&s[..n - 2])?;
                    let reference = Reference::parse(last).map_err(|e| match e {
                        NameError::Digest(_) => RouteError::DigestInvalid,
                        _ => RouteError::ReferenceInvalid,
                    })?;
                    return Ok(OciRoute::Manifest { name, reference });
                }
                "blobs" => {
                    let name = name(&s[..n - 2])?;
                    return Ok(OciRoute::Blob { name, digest: digest()? });
                }
                "referrers" => {
                    let name = name(&s[..n - 2])?;
                    return Ok(OciRoute::Referrers { name, digest: digest()? });
                }
                _ => {}
            }
        }
        Err(RouteError::NotFound)
    }

    /// The path of this route.
    pub fn path(&self) -> String {
        match self {
            OciRoute::Base => "/v2/".into(),
            OciRoute::Catalog => "/v2/_catalog".into(),
            OciRoute::Manifest { name, reference } => format!("/v2/{name}/manifests/{reference}"),
            OciRoute::Blob { name, digest } => format!("/v2/{name}/blobs/{digest}"),
            OciRoute::Uploads { name } => format!("/v2/{name}/blobs/uploads/"),
            OciRoute::Upload { name, id } => format!("/v2/{name}/blobs/uploads/{id}"),
            OciRoute::Tags { name } => format!("/v2/{name}/tags/list"),
            OciRoute::Referrers { name, digest } => format!("/v2/{name}/referrers/{digest}"),
            OciRoute::Repository { name } => format!("/acr/v1/{name}"),
            OciRoute::RepositoryTag { name, tag } => format!("/acr/v1/{name}/_tags/{tag}"),
        }
    }

    /// The repository the route addresses, if any.
    pub fn repo(&self) -> Option<&RepoName> {
        match self {
            OciRoute::Base | OciRoute::Catalog => None,
            OciRoute::Manifest { name, .. }
            | OciRoute::Blob { name, .. }
            | OciRoute::Uploads { name }
            | OciRoute::Upload { name, .. }
            | OciRoute::Tags { name }
            | OciRoute::Referrers { name, .. }
            | OciRoute::Repository { name }
            | OciRoute::RepositoryTag { name, .. } => Some(name),
        }
    }

    /// A stable label for metrics and logs.
    pub fn label(&self) -> &'static str {
        match self {
            OciRoute::Base => "base",
            OciRoute::Catalog => "catalog",
            OciRoute::Manifest { .. } => "manifest",
            OciRoute::Blob { .. } => "blob",
            OciRoute::Uploads { .. } => "uploads",
            OciRoute::Upload { .. } => "upload",
            OciRoute::Tags { .. } => "tags",
            OciRoute::Referrers { .. } => "referrers",
            OciRoute::Repository { .. } => "repository",
            OciRoute::RepositoryTag { .. } => "repository_tag",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn table() {
        let n = |s| RepoName::parse(s).unwrap();
        let d = Digest::parse(D).unwrap();
        let id = UploadId::generate();
        let cases = [
            ("/v2/", Ok(OciRoute::Base)),
            ("/v2", Ok(OciRoute::Base)),
            ("/v2/_catalog", Ok(OciRoute::Catalog)),
            (
                "/v2/a/b/manifests/latest",
                Ok(OciRoute::Manifest { name: n("a/b"), reference: Reference::parse("latest").unwrap() }),
            ),
            (&format!("/v2/a/blobs/{D}"), Ok(OciRoute::Blob { name: n("a"), digest: d.clone() })),
            ("/v2/a/blobs/uploads/", Ok(OciRoute::Uploads { name: n("a") })),
            ("/v2/a/blobs/uploads", Ok(OciRoute::Uploads { name: n("a") })),
            (&format!("/v2/a/blobs/uploads/{id}"), Ok(OciRoute::Upload { name: n("a"), id: id.clone() })),
            ("/v2/x/blobs/blobs/uploads/", Ok(OciRoute::Uploads { name: n("x/blobs") })),
            ("/v2/a/tags/list", Ok(OciRoute::Tags { name: n("a") })),
            (&format!("/v2/a/referrers/{D}"), Ok(OciRoute::Referrers { name: n("a"), digest: d.clone() })),
            ("/v2/A/tags/list", Err(RouteError::NameInvalid)),
            ("/v2/a/../b/tags/list", Err(RouteError::NameInvalid)),
            ("/v2/a//b/tags/list", Err(RouteError::NameInvalid)),
            ("/v2/a%2Fb/tags/list", Err(RouteError::NameInvalid)),
            ("/v2/a/blobs/sha256:xyz", Err(RouteError::DigestInvalid)),
            ("/v2/a/manifests/md5:d41d8cd98f00b204e9800998ecf8427e", Err(RouteError::DigestInvalid)),
            ("/v2/a/manifests/..", Err(RouteError::ReferenceInvalid)),
            ("/v2/a/blobs/uploads/../../etc", Err(RouteError::NotFound)),
            ("/v2/a/blobs/uploads/not-a-uuid", Err(RouteError::UploadUnknown)),
            ("/v2/a/nothing", Err(RouteError::NotFound)),
            ("/acr/v1/team/app", Ok(OciRoute::Repository { name: n("team/app") })),
            ("/acr/v1/team/App", Err(RouteError::NameInvalid)),
            ("/acr/v1/team/app/_tags", Err(RouteError::NotFound)),
            (
                "/acr/v1/team/app/_tags/v1.0",
                Ok(OciRoute::RepositoryTag { name: n("team/app"), tag: Tag::parse("v1.0").unwrap() }),
            ),
            ("/acr/v1/team/app/_tags/..", Err(RouteError::ReferenceInvalid)),
            ("/acr/v1/_x/_tags/v1", Err(RouteError::NotFound)),
            ("/acr/v1/team/app/_manifests/x", Err(RouteError::NotFound)),
            ("/acr/v1/_catalog", Err(RouteError::NotFound)),
            ("/acr/v1/", Err(RouteError::NotFound)),
            ("/v3/a/tags/list", Err(RouteError::NotFound)),
        ];
        for (path, want) in cases {
            assert_eq!(OciRoute::parse(path), want, "{path}");
            if let Ok(route) = &want {
                assert_eq!(OciRoute::parse(&route.path()).as_ref(), Ok(route));
            }
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in "(/v2/|/acr/v1/)[a-zA-Z0-9/._:%-]{0,80}") {
            if let Ok(route) = OciRoute::parse(&s) {
                prop_assert_eq!(OciRoute::parse(&route.path()), Ok(route));
            }
        }
    }
}
