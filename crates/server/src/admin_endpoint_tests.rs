use super::*;
use proptest::prelude::*;

fn parse(method: Method, path: &str, query: Option<&str>) -> AdminEndpoint {
    AdminEndpoint::parse(&method, path, query)
}

/// Every admin route, with its method, parses to its variant and parameters.
#[test]
fn every_admin_endpoint_parses() {
    let s = |v: &str| v.to_owned();
    let t = AdminEndpoint::Tokens;
    let c = AdminEndpoint::Cache;
    let cases: Vec<(Method, &str, Option<&str>, AdminEndpoint)> = vec![
        (Method::POST, "/admin/v1/service-principals", None, AdminEndpoint::CreatePrincipal),
        (Method::GET, "/admin/v1/service-principals", None, AdminEndpoint::ListPrincipals),
        (Method::GET, "/admin/v1/service-principals/", None, AdminEndpoint::ListPrincipals),
        (Method::GET, "/admin/v1/service-principals/ci", None, AdminEndpoint::ShowPrincipal { key: s("ci") }),
        (
            Method::GET,
            "/admin/v1/service-principals/http:%2F%2Fname",
            None,
            AdminEndpoint::ShowPrincipal { key: s("http://name") },
        ),
        (Method::DELETE, "/admin/v1/service-principals/ci", None, AdminEndpoint::DeletePrincipal { key: s("ci") }),
        (
            Method::POST,
            "/admin/v1/service-principals/ci/credential-reset",
            None,
            AdminEndpoint::ResetCredential { key: s("ci") },
        ),
        (
            Method::GET,
            "/admin/v1/service-principals/ci/credentials",
            None,
            AdminEndpoint::ListCredentials { key: s("ci") },
        ),
        (
            Method::DELETE,
            "/admin/v1/service-principals/ci/credentials/k1",
            None,
            AdminEndpoint::DeleteCredential { key: s("ci"), key_id: s("k1") },
        ),
        (
            Method::POST,
            "/admin/v1/service-principals/ci/federated-credentials",
            None,
            AdminEndpoint::CreateFederatedCredential { key: s("ci") },
        ),
        (
            Method::GET,
            "/admin/v1/service-principals/http:%2F%2Fci/federated-credentials/",
            None,
            AdminEndpoint::ListFederatedCredentials { key: s("http://ci") },
        ),
        (
            Method::GET,
            "/admin/v1/service-principals/ci/federated-credentials/github-main",
            None,
            AdminEndpoint::ShowFederatedCredential { key: s("ci"), name: s("github-main") },
        ),
        (
            Method::DELETE,
            "/admin/v1/service-principals/ci/federated-credentials/github-main",
            None,
            AdminEndpoint::DeleteFederatedCredential { key: s("ci"), name: s("github-main") },
        ),
        (Method::POST, "/admin/v1/role-assignments", None, AdminEndpoint::AssignRole),
        (Method::GET, "/admin/v1/role-assignments", None, AdminEndpoint::ListRoleAssignments { assignee: None }),
        (
            Method::GET,
            "/admin/v1/role-assignments",
            Some("assignee=ci"),
            AdminEndpoint::ListRoleAssignments { assignee: Some(s("ci")) },
        ),
        (
            Method::DELETE,
            "/admin/v1/role-assignments",
            Some("assignee=ci&role=AcrPull&scope=repositories%2Fa"),
            AdminEndpoint::UnassignRole {
                assignee: Some(s("ci")),
                role: Some(s("AcrPull")),
                scope: Some(s("repositories/a")),
            },
        ),
        (
            Method::DELETE,
            "/admin/v1/role-assignments",
            None,
            AdminEndpoint::UnassignRole { assignee: None, role: None, scope: None },
        ),
        (Method::GET, "/admin/v1/registry", None, AdminEndpoint::ShowRegistry),
        (Method::PATCH, "/admin/v1/registry", None, AdminEndpoint::UpdateRegistry),
        (Method::POST, "/admin/v1/registry/credential-renew", None, AdminEndpoint::RenewAdminPassword),
        (Method::GET, "/admin/v1/audit", None, AdminEndpoint::AuditLog { limit: 100 }),
        (Method::GET, "/admin/v1/audit", Some("limit=7"), AdminEndpoint::AuditLog { limit: 7 }),
        (Method::GET, "/admin/v1/audit", Some("limit=-1"), AdminEndpoint::AuditLog { limit: 100 }),
        (Method::POST, "/admin/v1/gc", None, AdminEndpoint::CollectGarbage),
        (Method::POST, "/admin/v1/purge", None, AdminEndpoint::Purge),
        (Method::POST, "/admin/v1/import", None, AdminEndpoint::Import),
        (Method::GET, "/admin/v1/scope-maps", None, t(TokenEndpoint::ListScopeMaps)),
        (Method::GET, "/admin/v1/scope-maps/m", None, t(TokenEndpoint::ShowScopeMap { name: s("m") })),
        (Method::POST, "/admin/v1/scope-maps", None, t(TokenEndpoint::CreateScopeMap)),
        (Method::PATCH, "/admin/v1/scope-maps/m", None, t(TokenEndpoint::UpdateScopeMap { name: s("m") })),
        (Method::DELETE, "/admin/v1/scope-maps/m", None, t(TokenEndpoint::DeleteScopeMap { name: s("m") })),
        (Method::GET, "/admin/v1/tokens", None, t(TokenEndpoint::ListTokens)),
        (Method::GET, "/admin/v1/tokens/tk", None, t(TokenEndpoint::ShowToken { name: s("tk") })),
        (Method::POST, "/admin/v1/tokens", None, t(TokenEndpoint::CreateToken)),
        (Method::PATCH, "/admin/v1/tokens/tk", None, t(TokenEndpoint::UpdateToken { name: s("tk") })),
        (Method::DELETE, "/admin/v1/tokens/tk", None, t(TokenEndpoint::DeleteToken { name: s("tk") })),
        (
            Method::POST,
            "/admin/v1/tokens/tk/credentials",
            None,
            t(TokenEndpoint::GenerateTokenPasswords { name: s("tk") }),
        ),
        (Method::GET, "/admin/v1/credential-sets", None, c(CacheEndpoint::ListCredentialSets)),
        (Method::GET, "/admin/v1/credential-sets/hub", None, c(CacheEndpoint::ShowCredentialSet { name: s("hub") })),
        (Method::POST, "/admin/v1/credential-sets", None, c(CacheEndpoint::CreateCredentialSet)),
        (
            Method::PATCH,
            "/admin/v1/credential-sets/hub",
            None,
            c(CacheEndpoint::UpdateCredentialSet { name: s("hub") }),
        ),
        (
            Method::DELETE,
            "/admin/v1/credential-sets/hub",
            None,
            c(CacheEndpoint::DeleteCredentialSet { name: s("hub") }),
        ),
        (Method::GET, "/admin/v1/cache-rules", None, c(CacheEndpoint::ListCacheRules)),
        (Method::GET, "/admin/v1/cache-rules/nginx", None, c(CacheEndpoint::ShowCacheRule { name: s("nginx") })),
        (Method::POST, "/admin/v1/cache-rules/", None, c(CacheEndpoint::CreateCacheRule)),
        (Method::PATCH, "/admin/v1/cache-rules/nginx", None, c(CacheEndpoint::UpdateCacheRule { name: s("nginx") })),
        (Method::DELETE, "/admin/v1/cache-rules/a%2Fb", None, c(CacheEndpoint::DeleteCacheRule { name: s("a/b") })),
    ];
    for (method, path, query, want) in cases {
        assert_eq!(parse(method.clone(), path, query), want, "{method} {path} {query:?}");
    }
}

/// A path or method the admin API does not serve is `Unknown`, keeping what was asked.
#[test]
fn unknown_admin_endpoints() {
    let cases: Vec<(Method, &str, Vec<&str>)> = vec![
        (Method::GET, "/admin/v1/nope", vec!["nope"]),
        (Method::PUT, "/admin/v1/service-principals", vec!["service-principals"]),
        (Method::PATCH, "/admin/v1/service-principals/ci", vec!["service-principals", "ci"]),
        (
            Method::GET,
            "/admin/v1/service-principals/ci/credentials/k1",
            vec!["service-principals", "ci", "credentials", "k1"],
        ),
        (
            Method::PATCH,
            "/admin/v1/service-principals/ci/federated-credentials/f1",
            vec!["service-principals", "ci", "federated-credentials", "f1"],
        ),
        (
            Method::POST,
            "/admin/v1/service-principals/ci/federated-credentials/f1",
            vec!["service-principals", "ci", "federated-credentials", "f1"],
        ),
        (
            Method::DELETE,
            "/admin/v1/service-principals/ci/federated-credentials",
            vec!["service-principals", "ci", "federated-credentials"],
        ),
        (Method::GET, "/admin/v1/gc", vec!["gc"]),
        (Method::DELETE, "/admin/v1/registry", vec!["registry"]),
        (Method::GET, "/admin/v1/registry/credential-renew", vec!["registry", "credential-renew"]),
        (Method::GET, "/admin/v1/tokens/tk/credentials", vec!["tokens", "tk", "credentials"]),
        (Method::POST, "/admin/v1/scope-maps/m", vec!["scope-maps", "m"]),
        (Method::GET, "/admin/v1/tokens/a/b/c", vec!["tokens", "a", "b", "c"]),
        (Method::HEAD, "/admin/v1/audit", vec!["audit"]),
        (Method::PUT, "/admin/v1/credential-sets/hub", vec!["credential-sets", "hub"]),
        (Method::POST, "/admin/v1/cache-rules/nginx", vec!["cache-rules", "nginx"]),
        (Method::GET, "/admin/v1/cache-rules/a/b", vec!["cache-rules", "a", "b"]),
    ];
    for (method, path, segments) in cases {
        let segments = segments.into_iter().map(str::to_owned).collect();
        assert_eq!(parse(method.clone(), path, None), AdminEndpoint::Unknown { method, segments }, "{path}");
    }
}

proptest! {
    #[test]
    fn never_panics(
        path in "/admin/v1/[a-z0-9/%._:-]{0,60}",
        query in proptest::option::of("[a-zA-Z0-9=&%:._-]{0,60}"),
        method in proptest::sample::select(vec![Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE]),
    ) {
        // What is not served keeps the method asked for, to be answered once authorised.
        if let AdminEndpoint::Unknown { method: asked, .. } = AdminEndpoint::parse(&method, &path, query.as_deref()) {
            prop_assert_eq!(asked, method);
        }
    }
}
