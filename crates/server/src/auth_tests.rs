use super::*;
use berth_core::roles::{Role, RoleScope};
use berth_core::{Algorithm, Digest, Tag, UploadId};

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

fn s(v: Vec<Access>) -> Vec<String> {
    v.iter().map(|a| a.to_string()).collect()
}

#[test]
fn access_table() {
    let name = RepoName::parse("team/app").unwrap();
    let mount = Endpoint::Mount {
        name: name.clone(),
        digest: Digest::parse(D).unwrap(),
        from: MountSource::Named(RepoName::parse("other").unwrap()),
    };
    let tags = Endpoint::ListTags { name: name.clone(), page: Default::default() };
    assert_eq!(s(required_access(&tags)), ["repository:team/app:metadata_read"]);
    assert_eq!(s(required_access(&mount)), ["repository:team/app:pull,push", "repository:other:pull"]);
    assert_eq!(s(required_access(&Endpoint::Catalog { page: Default::default() })), ["registry:catalog:*"]);
    let whole = |e: fn(RepoName) -> Endpoint| s(required_access(&e(name.clone())));
    assert_eq!(whole(|name| Endpoint::DeleteRepository { name }), ["repository:team/app:delete"]);
    assert_eq!(whole(|name| Endpoint::ShowRepository { name }), ["repository:team/app:metadata_read"]);
    assert_eq!(whole(|name| Endpoint::UpdateRepository { name }), ["repository:team/app:delete,metadata_write"]);
    assert!(required_access(&Endpoint::Base).is_empty());
}

/// Every variant of the endpoint table with what it needs: a new endpoint is added here with
/// its rule (`required_access` matches the variants with no fallback, so it cannot compile
/// without one).
#[test]
fn every_endpoint_has_its_access() {
    let n = RepoName::parse("team/app").unwrap();
    let d = Digest::parse(D).unwrap();
    let id = UploadId::generate();
    let tag = Tag::parse("v1").unwrap();
    let by_tag = Reference::Tag(tag.clone());
    let by_digest = Reference::Digest(d.clone());
    let other = || MountSource::Named(RepoName::parse("other").unwrap());
    let unsupported = |route: OciRoute, method: Method| Endpoint::Unsupported { route, method, from: None };
    let (pull, pull_push) = ("repository:team/app:pull", "repository:team/app:pull,push");
    let (delete, read) = ("repository:team/app:delete", "repository:team/app:metadata_read");
    let cases: Vec<(Endpoint, Vec<&str>)> = vec![
        (Endpoint::Base, vec![]),
        (Endpoint::Catalog { page: Default::default() }, vec!["registry:catalog:*"]),
        (Endpoint::GetBlob { name: n.clone(), digest: d.clone(), head: false }, vec![pull]),
        (Endpoint::GetBlob { name: n.clone(), digest: d.clone(), head: true }, vec![pull]),
        (Endpoint::GetManifest { name: n.clone(), reference: by_tag.clone(), head: false }, vec![pull]),
        (Endpoint::StartUpload { name: n.clone(), algorithm: Algorithm::Sha512 }, vec![pull_push]),
        (Endpoint::UploadWhole { name: n.clone(), digest: d.clone() }, vec![pull_push]),
        (Endpoint::AppendUpload { name: n.clone(), id: id.clone() }, vec![pull_push]),
        (Endpoint::FinishUpload { name: n.clone(), id: id.clone(), digest: d.clone() }, vec![pull_push]),
        (
            Endpoint::PutManifest { name: n.clone(), reference: by_digest.clone(), tags: vec![tag.clone()] },
            vec![pull_push],
        ),
        (Endpoint::ListTags { name: n.clone(), page: Default::default() }, vec![read]),
        (
            Endpoint::DeleteManifest { name: n.clone(), reference: by_tag.clone() },
            vec!["repository:team/app:metadata_write"],
        ),
        (Endpoint::DeleteManifest { name: n.clone(), reference: by_digest.clone() }, vec![delete]),
        (Endpoint::DeleteBlob { name: n.clone(), digest: d.clone() }, vec![delete]),
        (
            Endpoint::Mount { name: n.clone(), digest: d.clone(), from: other() },
            vec![pull_push, "repository:other:pull"],
        ),
        (Endpoint::Mount { name: n.clone(), digest: d.clone(), from: MountSource::Discover }, vec![pull_push]),
        (
            Endpoint::Mount { name: n.clone(), digest: d.clone(), from: MountSource::Unnamable("A/..".into()) },
            vec![pull_push, "repository:A/..:pull"],
        ),
        (Endpoint::Referrers { name: n.clone(), digest: d.clone(), artifact_type: None }, vec![read]),
        (Endpoint::UploadStatus { name: n.clone(), id: id.clone() }, vec![pull]),
        (Endpoint::CancelUpload { name: n.clone(), id: id.clone() }, vec![pull_push]),
        (Endpoint::ShowRepository { name: n.clone() }, vec![read]),
        (Endpoint::ShowTag { name: n.clone(), tag: tag.clone() }, vec![read]),
        (Endpoint::UpdateRepository { name: n.clone() }, vec!["repository:team/app:delete,metadata_write"]),
        (Endpoint::UpdateTag { name: n.clone(), tag: tag.clone() }, vec!["repository:team/app:delete,metadata_write"]),
        (Endpoint::DeleteRepository { name: n.clone() }, vec![delete]),
        (unsupported(OciRoute::Base, Method::POST), vec![]),
        (unsupported(OciRoute::Catalog, Method::DELETE), vec!["registry:catalog:*"]),
        (unsupported(OciRoute::Tags { name: n.clone() }, Method::HEAD), vec![pull]),
        (unsupported(OciRoute::Tags { name: n.clone() }, Method::DELETE), vec![delete]),
        (unsupported(OciRoute::Manifest { name: n.clone(), reference: by_tag }, Method::PATCH), vec![pull_push]),
        (
            Endpoint::Unsupported {
                route: OciRoute::Uploads { name: n.clone() },
                method: Method::GET,
                from: Some(other()),
            },
            vec![pull, "repository:other:pull"],
        ),
    ];
    for (endpoint, want) in cases {
        assert_eq!(s(required_access(&endpoint)), want, "{endpoint:?}");
    }
}

#[test]
fn refusals_carry_the_right_challenge() {
    let ch = Challenge { realm: "http://r/oauth2/token".into(), service: "r".into() };
    let tags = Endpoint::ListTags { name: RepoName::parse("a").unwrap(), page: Default::default() };
    let anon = Caller::Anonymous { permissions: Permissions::default() };
    let e = authorize(anon, tags.clone(), &ch).unwrap_err();
    assert_eq!(e.headers[0].1, "Bearer realm=\"http://r/oauth2/token\",service=\"r\",scope=\"repository:a:pull\"");
    let scope: RoleScope = "repositories/b".parse().unwrap();
    let basic = Caller::Basic(Authenticated {
        subject: "s".into(),
        permissions: Permissions::from_roles([(Role::AcrPull, &scope)]),
        credential: "k".into(),
        valid_until: i64::MAX,
    });
    let e = authorize(basic.clone(), tags, &ch).unwrap_err();
    assert!(e.headers[0].1.to_str().unwrap().ends_with(",error=\"insufficient_scope\""));
    let e = authorize_admin(basic, AdminEndpoint::ListPrincipals, &ch).unwrap_err();
    assert!(e.headers[0].1.to_str().unwrap().ends_with(",scope=\"admin:api:*\",error=\"insufficient_scope\""));
    let everything = || Caller::Anonymous { permissions: Permissions::pull_everything() };
    assert!(authorize(everything(), Endpoint::Base, &ch).is_err());
    let head_base = Endpoint::Unsupported { route: OciRoute::Base, method: Method::HEAD, from: None };
    assert!(authorize(everything(), head_base, &ch).is_err());
}

/// `Authorized` carries the endpoint it authorised, mount source included.
#[test]
fn authorized_carries_the_endpoint() {
    let ch = Challenge { realm: "r".into(), service: "r".into() };
    let mount = Endpoint::Mount {
        name: RepoName::parse("b").unwrap(),
        digest: Digest::parse(D).unwrap(),
        from: MountSource::Named(RepoName::parse("c").unwrap()),
    };
    let owner = Caller::Basic(Authenticated {
        subject: "s".into(),
        permissions: Permissions::from_roles([(Role::Owner, &RoleScope::registry())]),
        credential: "k".into(),
        valid_until: i64::MAX,
    });
    assert_eq!(authorize(owner, mount.clone(), &ch).unwrap().endpoint(), &mount);
}

/// Every variant of the admin endpoint table with what it needs (today `admin:api:*`, Owner
/// at registry scope, for all of them and for what the admin API does not serve): a new admin
/// endpoint is added here with its rule.
#[test]
fn every_admin_endpoint_has_its_access() {
    let k = || "ci".to_owned();
    let t = AdminEndpoint::Tokens;
    let c = AdminEndpoint::Cache;
    let endpoints = [
        AdminEndpoint::CreatePrincipal,
        AdminEndpoint::ListPrincipals,
        AdminEndpoint::ShowPrincipal { key: k() },
        AdminEndpoint::DeletePrincipal { key: k() },
        AdminEndpoint::ResetCredential { key: k() },
        AdminEndpoint::ListCredentials { key: k() },
        AdminEndpoint::DeleteCredential { key: k(), key_id: k() },
        AdminEndpoint::CreateFederatedCredential { key: k() },
        AdminEndpoint::ListFederatedCredentials { key: k() },
        AdminEndpoint::ShowFederatedCredential { key: k(), name: k() },
        AdminEndpoint::DeleteFederatedCredential { key: k(), name: k() },
        AdminEndpoint::AssignRole,
        AdminEndpoint::ListRoleAssignments { assignee: None },
        AdminEndpoint::UnassignRole { assignee: Some(k()), role: None, scope: None },
        AdminEndpoint::ShowRegistry,
        AdminEndpoint::UpdateRegistry,
        AdminEndpoint::RenewAdminPassword,
        AdminEndpoint::AuditLog { limit: 100 },
        AdminEndpoint::CollectGarbage,
        AdminEndpoint::Purge,
        AdminEndpoint::Import,
        t(TokenEndpoint::ListScopeMaps),
        t(TokenEndpoint::ShowScopeMap { name: k() }),
        t(TokenEndpoint::CreateScopeMap),
        t(TokenEndpoint::UpdateScopeMap { name: k() }),
        t(TokenEndpoint::DeleteScopeMap { name: k() }),
        t(TokenEndpoint::ListTokens),
        t(TokenEndpoint::ShowToken { name: k() }),
        t(TokenEndpoint::CreateToken),
        t(TokenEndpoint::UpdateToken { name: k() }),
        t(TokenEndpoint::DeleteToken { name: k() }),
        t(TokenEndpoint::GenerateTokenPasswords { name: k() }),
        c(CacheEndpoint::ListCredentialSets),
        c(CacheEndpoint::ShowCredentialSet { name: k() }),
        c(CacheEndpoint::CreateCredentialSet),
        c(CacheEndpoint::UpdateCredentialSet { name: k() }),
        c(CacheEndpoint::DeleteCredentialSet { name: k() }),
        c(CacheEndpoint::ListCacheRules),
        c(CacheEndpoint::ShowCacheRule { name: k() }),
        c(CacheEndpoint::CreateCacheRule),
        c(CacheEndpoint::UpdateCacheRule { name: k() }),
        c(CacheEndpoint::DeleteCacheRule { name: k() }),
        AdminEndpoint::Unknown { method: Method::GET, segments: vec!["nope".into()] },
    ];
    for endpoint in endpoints {
        assert_eq!(s(required_admin_access(&endpoint)), ["admin:api:*"], "{endpoint:?}");
    }
}

/// `AdminAuthorized` carries the admin endpoint it authorised; only an Owner at registry scope
/// gets one, even for a path the admin API does not serve.
#[test]
fn admin_authorized_carries_the_endpoint() {
    let ch = Challenge { realm: "r".into(), service: "r".into() };
    let with = |role: Role, scope: &RoleScope| {
        Caller::Basic(Authenticated {
            subject: "s".into(),
            permissions: Permissions::from_roles([(role, scope)]),
            credential: "k".into(),
            valid_until: i64::MAX,
        })
    };
    let delete = AdminEndpoint::Tokens(TokenEndpoint::DeleteToken { name: "t".into() });
    let owner = with(Role::Owner, &RoleScope::registry());
    assert_eq!(authorize_admin(owner.clone(), delete.clone(), &ch).unwrap().endpoint(), &delete);
    let unknown = AdminEndpoint::Unknown { method: Method::GET, segments: vec!["nope".into()] };
    assert_eq!(authorize_admin(owner, unknown.clone(), &ch).unwrap().endpoint(), &unknown);
    let repo_owner = with(Role::Owner, &"repositories/a".parse().unwrap());
    assert!(authorize_admin(repo_owner, unknown, &ch).is_err());
    let anon = Caller::Anonymous { permissions: Permissions::pull_everything() };
    let e = authorize_admin(anon, delete, &ch).unwrap_err();
    assert_eq!(e.headers[0].1, "Bearer realm=\"r\",service=\"r\",scope=\"admin:api:*\"");
}
