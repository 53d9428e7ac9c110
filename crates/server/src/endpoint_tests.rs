use super::*;
use proptest::prelude::*;

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn parse(method: Method, path: &str, query: Option<&str>) -> Result<Endpoint, Rejected> {
    Endpoint::parse(&method, OciRoute::parse(path).expect(path), query)
}

fn ok(method: Method, path: &str, query: Option<&str>) -> Endpoint {
    parse(method.clone(), path, query).unwrap_or_else(|r| panic!("{method} {path} {query:?}: {r:?}"))
}

/// Each spec endpoint ID, with its method, parses to its variant and parameters.
#[test]
fn spec_endpoints() {
    let n = RepoName::parse("team/app").unwrap();
    let d = Digest::parse(D).unwrap();
    let id = UploadId::generate();
    let tag = Tag::parse("v1").unwrap();
    let by_tag = Reference::Tag(tag.clone());
    let by_digest = Reference::Digest(d.clone());
    let upload = format!("/v2/team/app/blobs/uploads/{id}");
    let blob = format!("/v2/team/app/blobs/{D}");
    let mount = format!("mount={D}&from=other/repo");
    let (mount_discover, mount_unnamable) = (format!("mount={D}&digest=x"), format!("mount={D}&from=A"));
    let (manifest_d, referrers, q_digest) =
        (format!("/v2/team/app/manifests/{D}"), format!("/v2/team/app/referrers/{D}"), format!("digest={D}"));
    let cases: Vec<(&str, Method, &str, Option<&str>, Endpoint)> = vec![
        ("end-1", Method::GET, "/v2/", None, Endpoint::Base),
        ("end-2", Method::GET, &blob, None, Endpoint::GetBlob { name: n.clone(), digest: d.clone(), head: false }),
        ("end-2", Method::HEAD, &blob, None, Endpoint::GetBlob { name: n.clone(), digest: d.clone(), head: true }),
        (
            "end-3",
            Method::GET,
            "/v2/team/app/manifests/v1",
            None,
            Endpoint::GetManifest { name: n.clone(), reference: by_tag.clone(), head: false },
        ),
        (
            "end-3",
            Method::HEAD,
            "/v2/team/app/manifests/v1",
            None,
            Endpoint::GetManifest { name: n.clone(), reference: by_tag.clone(), head: true },
        ),
        (
            "end-4a",
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            None,
            Endpoint::StartUpload { name: n.clone(), algorithm: Algorithm::Sha256 },
        ),
        (
            "end-4a",
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            Some("digest-algorithm=sha512"),
            Endpoint::StartUpload { name: n.clone(), algorithm: Algorithm::Sha512 },
        ),
        (
            "end-4b",
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            Some(&q_digest),
            Endpoint::UploadWhole { name: n.clone(), digest: d.clone() },
        ),
        ("end-5", Method::PATCH, &upload, None, Endpoint::AppendUpload { name: n.clone(), id: id.clone() }),
        (
            "end-6",
            Method::PUT,
            &upload,
            Some(&q_digest),
            Endpoint::FinishUpload { name: n.clone(), id: id.clone(), digest: d.clone() },
        ),
        (
            "end-7",
            Method::PUT,
            "/v2/team/app/manifests/v1",
            None,
            Endpoint::PutManifest { name: n.clone(), reference: by_tag.clone(), tags: vec![] },
        ),
        (
            "end-7",
            Method::PUT,
            &manifest_d,
            Some("tag=v1&tag=v2"),
            Endpoint::PutManifest {
                name: n.clone(),
                reference: by_digest.clone(),
                tags: vec![tag.clone(), Tag::parse("v2").unwrap()],
            },
        ),
        (
            "end-8a",
            Method::GET,
            "/v2/team/app/tags/list",
            None,
            Endpoint::ListTags { name: n.clone(), page: Paging::default() },
        ),
        (
            "end-8b",
            Method::GET,
            "/v2/team/app/tags/list",
            Some("n=2&last=v1"),
            Endpoint::ListTags { name: n.clone(), page: Paging { n: Some(2), last: Some("v1".into()) } },
        ),
        (
            "end-9",
            Method::DELETE,
            "/v2/team/app/manifests/v1",
            None,
            Endpoint::DeleteManifest { name: n.clone(), reference: by_tag.clone() },
        ),
        (
            "end-9",
            Method::DELETE,
            &manifest_d,
            None,
            Endpoint::DeleteManifest { name: n.clone(), reference: by_digest.clone() },
        ),
        ("end-10", Method::DELETE, &blob, None, Endpoint::DeleteBlob { name: n.clone(), digest: d.clone() }),
        (
            "end-11",
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            Some(&mount),
            Endpoint::Mount {
                name: n.clone(),
                digest: d.clone(),
                from: MountSource::Named(RepoName::parse("other/repo").unwrap()),
            },
        ),
        (
            "end-11",
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            Some(&mount_discover),
            Endpoint::Mount { name: n.clone(), digest: d.clone(), from: MountSource::Discover },
        ),
        (
            "end-11",
            Method::POST,
            "/v2/team/app/blobs/uploads/",
            Some(&mount_unnamable),
            Endpoint::Mount { name: n.clone(), digest: d.clone(), from: MountSource::Unnamable("A".into()) },
        ),
        (
            "end-12a",
            Method::GET,
            &referrers,
            None,
            Endpoint::Referrers { name: n.clone(), digest: d.clone(), artifact_type: None },
        ),
        (
            "end-12b",
            Method::GET,
            &referrers,
            Some("artifactType=a%2Fb"),
            Endpoint::Referrers { name: n.clone(), digest: d.clone(), artifact_type: Some("a/b".into()) },
        ),
        ("end-13", Method::GET, &upload, None, Endpoint::UploadStatus { name: n.clone(), id: id.clone() }),
        ("end-14", Method::DELETE, &upload, None, Endpoint::CancelUpload { name: n.clone(), id: id.clone() }),
        (
            "catalog",
            Method::GET,
            "/v2/_catalog",
            Some("n=0"),
            Endpoint::Catalog { page: Paging { n: Some(0), last: None } },
        ),
        ("acr", Method::GET, "/acr/v1/team/app", None, Endpoint::ShowRepository { name: n.clone() }),
        ("acr", Method::PATCH, "/acr/v1/team/app", None, Endpoint::UpdateRepository { name: n.clone() }),
        ("acr", Method::DELETE, "/acr/v1/team/app", None, Endpoint::DeleteRepository { name: n.clone() }),
        (
            "acr",
            Method::GET,
            "/acr/v1/team/app/_tags/v1",
            None,
            Endpoint::ShowTag { name: n.clone(), tag: tag.clone() },
        ),
        (
            "acr",
            Method::PATCH,
            "/acr/v1/team/app/_tags/v1",
            None,
            Endpoint::UpdateTag { name: n.clone(), tag: tag.clone() },
        ),
    ];
    for (id, method, path, query, want) in cases {
        assert_eq!(ok(method.clone(), path, query), want, "{id}: {method} {path} {query:?}");
    }
}

/// A method a path does not serve is `Unsupported`, keeping the route (and the mount source a
/// request to the uploads path names).
#[test]
fn unsupported_methods() {
    let n = RepoName::parse("team/app").unwrap();
    let cases = [
        (Method::HEAD, "/v2/", OciRoute::Base),
        (Method::POST, "/v2/_catalog", OciRoute::Catalog),
        (Method::POST, "/v2/team/app/tags/list", OciRoute::Tags { name: n.clone() }),
        (
            Method::DELETE,
            "/acr/v1/team/app/_tags/v1",
            OciRoute::RepositoryTag { name: n.clone(), tag: Tag::parse("v1").unwrap() },
        ),
    ];
    for (method, path, route) in cases {
        assert_eq!(ok(method.clone(), path, None), Endpoint::Unsupported { route, method, from: None });
    }
    let uploads = OciRoute::Uploads { name: n };
    let got = ok(Method::GET, "/v2/team/app/blobs/uploads/", Some("mount=x&from=other"));
    let from = Some(MountSource::Named(RepoName::parse("other").unwrap()));
    assert_eq!(got, Endpoint::Unsupported { route: uploads.clone(), method: Method::GET, from });
    let got = ok(Method::GET, "/v2/team/app/blobs/uploads/", Some("from=other"));
    assert_eq!(got, Endpoint::Unsupported { route: uploads, method: Method::GET, from: None });
}

/// Query parameters are validated at parse time, with the error a handler gave before, and the
/// endpoint whose access gates that answer.
#[test]
fn invalid_parameters_are_rejected_at_parse_time() {
    let n = RepoName::parse("a").unwrap();
    let id = UploadId::generate();
    let upload = format!("/v2/a/blobs/uploads/{id}");
    let manifest_d = format!("/v2/a/manifests/{D}");
    let start = Endpoint::StartUpload { name: n.clone(), algorithm: Algorithm::Sha256 };
    let manifest_put = |reference: &str| Endpoint::Unsupported {
        route: OciRoute::Manifest { name: n.clone(), reference: Reference::parse(reference).unwrap() },
        method: Method::PUT,
        from: None,
    };
    let mount_gate =
        |from| Endpoint::Unsupported { route: OciRoute::Uploads { name: n.clone() }, method: Method::POST, from };
    let cases: Vec<(Method, &str, &str, ErrorCode, &str, Endpoint)> = vec![
        (
            Method::POST,
            "/v2/a/blobs/uploads/",
            "mount=sha256:xyz",
            ErrorCode::DigestInvalid,
            "malformed digest \"sha256:xyz\"",
            mount_gate(None),
        ),
        (
            Method::POST,
            "/v2/a/blobs/uploads/",
            "mount=bad&from=b",
            ErrorCode::DigestInvalid,
            "malformed digest \"bad\"",
            mount_gate(Some(MountSource::Named(RepoName::parse("b").unwrap()))),
        ),
        (
            Method::POST,
            "/v2/a/blobs/uploads/",
            "digest=nope",
            ErrorCode::DigestInvalid,
            "malformed digest \"nope\"",
            start.clone(),
        ),
        (
            Method::POST,
            "/v2/a/blobs/uploads/",
            "digest=md5:abc",
            ErrorCode::DigestInvalid,
            "unsupported digest algorithm in \"md5:abc\"",
            start.clone(),
        ),
        (
            Method::POST,
            "/v2/a/blobs/uploads/",
            "digest-algorithm=md5",
            ErrorCode::DigestInvalid,
            "unsupported digest algorithm \"md5\"",
            start,
        ),
        (
            Method::PUT,
            &upload,
            "",
            ErrorCode::DigestInvalid,
            "the digest query parameter is required",
            Endpoint::AppendUpload { name: n.clone(), id: id.clone() },
        ),
        (
            Method::PUT,
            &upload,
            "digest=x",
            ErrorCode::DigestInvalid,
            "malformed digest \"x\"",
            Endpoint::AppendUpload { name: n.clone(), id: id.clone() },
        ),
        (
            Method::PUT,
            "/v2/a/manifests/v1",
            "tag=v2",
            ErrorCode::ManifestInvalid,
            "?tag= is only allowed on a push by digest",
            manifest_put("v1"),
        ),
        (Method::PUT, &manifest_d, "tag=..", ErrorCode::ManifestInvalid, "invalid tag \"..\"", manifest_put(D)),
        (
            Method::GET,
            "/v2/a/tags/list",
            "n=-1",
            ErrorCode::PaginationNumberInvalid,
            "n must be a non-negative integer, not \"-1\"",
            Endpoint::ListTags { name: n.clone(), page: Paging::default() },
        ),
        (
            Method::GET,
            "/v2/_catalog",
            "n=x&last=a",
            ErrorCode::PaginationNumberInvalid,
            "n must be a non-negative integer, not \"x\"",
            Endpoint::Catalog { page: Paging::default() },
        ),
    ];
    for (method, path, query, code, detail, gate) in cases {
        let r = parse(method.clone(), path, Some(query)).expect_err(query);
        assert_eq!((r.error.code, r.error.detail.as_deref()), (code, Some(detail)), "{method} {path}?{query}");
        assert_eq!(*r.gate, gate, "{method} {path}?{query}");
    }
}

proptest! {
    #[test]
    fn never_panics(
        path in "(/v2/|/acr/v1/)[a-z0-9/._:-]{0,60}",
        query in proptest::option::of("[a-zA-Z0-9=&%:._-]{0,60}"),
        method in proptest::sample::select(vec![Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE]),
    ) {
        if let Ok(route) = OciRoute::parse(&path) {
            let _ = Endpoint::parse(&method, route, query.as_deref());
        }
    }
}
