use super::*;
use proptest::prelude::*;

fn rule(name: &str, source: &str, target: &str) -> CacheRule {
    CacheRule::new(name, source, target, None, false).unwrap()
}

fn repo(s: &str) -> RepoName {
    RepoName::parse(s).unwrap()
}

#[test]
fn sources_normalise_as_docker_reads_image_names() {
    let cases = [
        ("nginx", "docker.io/library/nginx"),
        ("library/nginx", "docker.io/library/nginx"),
        ("docker.io/nginx", "docker.io/library/nginx"),
        ("index.docker.io/library/nginx", "docker.io/library/nginx"),
        ("registry-1.docker.io/bitnami/redis", "docker.io/bitnami/redis"),
        ("docker.io/*", "docker.io/*"),
        ("bitnami/*", "docker.io/bitnami/*"),
        ("GHCR.io/org/*", "ghcr.io/org/*"),
        ("localhost:5000/team/app", "localhost:5000/team/app"),
        ("127.0.0.1:5001/*", "127.0.0.1:5001/*"),
        ("registry.k8s.io/pause", "registry.k8s.io/pause"),
    ];
    for (input, want) in cases {
        assert_eq!(CacheSource::parse(input).unwrap().to_string(), want, "{input}");
    }
    assert_eq!(CacheSource::parse("docker.io/*").unwrap().registry.api_host(), DOCKER_HUB_API);
    assert_eq!(CacheSource::parse("ghcr.io/org/*").unwrap().registry.api_host(), "ghcr.io");
}

#[test]
fn bad_sources_are_refused_with_a_sentence() {
    for (input, says) in [
        ("https://docker.io/library/nginx", "without a scheme"),
        ("docker.io/library/nginx:1.27", "not a tag"),
        ("docker.io/library/nginx@sha256:abc", "without a digest"),
        ("docker.io/../etc/passwd", "'..'"),
        ("docker.io/library/./nginx", "'.'"),
        ("docker.io/Library/Nginx", "lowercase"),
        ("docker.io//nginx", "not a repository name"),
        ("docker.io/lib*", "whole last component"),
        ("docker.io/*/nginx", "may only end"),
        ("ghcr.io:99999/org/*", "not a registry host"),
        ("", "empty source"),
        ("docker.io/nginx?x=1", "query"),
    ] {
        let e = CacheSource::parse(input).unwrap_err().0;
        assert!(e.contains(says), "{input}: {e}");
    }
}

#[test]
fn rules_pair_static_with_static_and_wildcard_with_wildcard() {
    assert!(CacheRule::new("hub", "docker.io/*", "hub/*", None, false).is_ok());
    let e = CacheRule::new("r", "docker.io/*", "hub", None, false).unwrap_err().0;
    assert!(e.contains("must be one too"), "{e}");
    let e = CacheRule::new("r", "nginx", "hub/*", None, false).unwrap_err().0;
    assert!(e.contains("must be one too"), "{e}");
    let e = CacheRule::new("r", "docker.io/*", "*", None, false).unwrap_err().0;
    assert!(e.contains("every repository"), "{e}");
    let e = CacheRule::new("bad name!", "nginx", "nginx", None, false).unwrap_err().0;
    assert!(e.contains("invalid cache rule name"), "{e}");
    let e = CacheRule::new("r", "nginx", "nginx", Some("no/slash".into()), false).unwrap_err().0;
    assert!(e.contains("invalid credential set name"), "{e}");
}

#[test]
fn overlap_rules_are_acrs() {
    let rules = CacheRules::new(vec![rule("hub", "docker.io/*", "hub/*"), rule("org", "ghcr.io/org/*", "org/*")]);
    // A static rule may sit inside a wildcard, in its source and in its target.
    rules.check(&rule("nginx", "docker.io/library/nginx", "hub/library/nginx"), false).unwrap();
    rules.check(&rule("nginx2", "docker.io/library/nginx", "nginx"), false).unwrap();
    // Two wildcards may not overlap in their sources...
    let e = rules.check(&rule("lib", "docker.io/library/*", "lib/*"), false).unwrap_err().0;
    assert!(e.contains("wildcard rules may not overlap"), "{e}");
    let e = rules.check(&rule("all", "ghcr.io/*", "gh/*"), false).unwrap_err().0;
    assert!(e.contains("rule org"), "{e}");
    // ...nor in their targets.
    let e = rules.check(&rule("quay", "quay.io/*", "hub/quay/*"), false).unwrap_err().0;
    assert!(e.contains("target hub/quay/* overlaps"), "{e}");
    // The same prefix on another registry is no overlap.
    rules.check(&rule("org2", "quay.io/org/*", "quay/*"), false).unwrap();
    // A name is unique, unless the rule replaces itself.
    let e = rules.check(&rule("hub", "quay.io/*", "q/*"), false).unwrap_err().0;
    assert!(e.contains("exists already"), "{e}");
    rules.check(&rule("hub", "docker.io/*", "dockerhub/*"), true).unwrap();
    // Two static rules may share neither source nor target.
    let statics = CacheRules::new(vec![rule("nginx", "nginx", "nginx")]);
    let e = statics.check(&rule("again", "docker.io/library/nginx", "web"), false).unwrap_err().0;
    assert!(e.contains("caches docker.io/library/nginx already"), "{e}");
    let e = statics.check(&rule("other", "ghcr.io/x/nginx", "nginx"), false).unwrap_err().0;
    assert!(e.contains("overlaps the target nginx"), "{e}");
}

#[test]
fn names_map_both_ways_and_static_wins() {
    let rules = CacheRules::new(vec![
        rule("hub", "docker.io/*", "hub/*"),
        rule("nginx", "docker.io/library/nginx", "hub/library/nginx"),
        rule("k8s", "registry.k8s.io/pause", "pause"),
    ]);
    let m = rules.for_target(&repo("hub/library/alpine")).unwrap();
    assert_eq!((m.rule.name.as_str(), m.upstream.as_str()), ("hub", "library/alpine"));
    let m = rules.for_target(&repo("hub/library/nginx")).unwrap();
    assert_eq!((m.rule.name.as_str(), m.upstream.as_str()), ("nginx", "library/nginx"));
    assert_eq!(rules.for_target(&repo("pause")).unwrap().upstream.as_str(), "pause");
    assert!(rules.for_target(&repo("hub")).is_none(), "a wildcard's prefix itself is not covered");
    assert!(rules.for_target(&repo("team/app")).is_none());

    let hub = RegistryHost::parse("docker.io").unwrap();
    let m = rules.for_upstream(&hub, &repo("library/alpine")).unwrap();
    assert_eq!(m.target.as_str(), "hub/library/alpine");
    let k8s = RegistryHost::parse("registry.k8s.io").unwrap();
    assert_eq!(rules.for_upstream(&k8s, &repo("pause")).unwrap().target.as_str(), "pause");
    assert!(rules.for_upstream(&k8s, &repo("coredns")).is_none());
    assert!(rules.for_upstream(&RegistryHost::parse("quay.io").unwrap(), &repo("x")).is_none());
    assert_eq!(rules.registries().iter().map(|h| h.as_str()).collect::<Vec<_>>(), ["docker.io", "registry.k8s.io"]);
}

#[test]
fn registry_hosts() {
    assert_eq!(RegistryHost::parse("Registry-1.Docker.IO").unwrap().as_str(), "docker.io");
    assert_eq!(RegistryHost::parse("localhost:5000").unwrap().api_host(), "localhost:5000");
    for bad in ["", "http://x", "a/b", "x:0", "x:", "-a.io", "a..b", "user@host"] {
        assert!(RegistryHost::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn import_sources_name_one_image() {
    let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let s = ImageSource::parse("nginx:1.27").unwrap();
    assert_eq!(
        (s.registry.as_str(), s.repository.as_str(), s.reference.to_string()),
        ("docker.io", "library/nginx", "1.27".into())
    );
    let s = ImageSource::parse(&format!("127.0.0.1:5001/team/app:v1@{d}")).unwrap();
    assert_eq!((s.registry.as_str(), s.repository.as_str()), ("127.0.0.1:5001", "team/app"));
    assert_eq!(s.reference.to_string(), d, "a digest wins");
    assert_eq!(s.tag.unwrap().as_str(), "v1");
    assert_eq!(ImageSource::parse("ghcr.io/org/tool").unwrap().reference.to_string(), "latest");
    for (bad, says) in [
        ("docker.io/*", "not a wildcard"),
        ("https://ghcr.io/x:1", "without a scheme"),
        ("ghcr.io/../x:1", "'..'"),
        ("x@sha256:12", "not a digest"),
        ("x:bad tag!", "not a tag"),
    ] {
        let e = ImageSource::parse(bad).unwrap_err().0;
        assert!(e.contains(says), "{bad}: {e}");
    }
}

proptest! {
    #[test]
    fn parsing_never_panics_and_a_parsed_source_reparses(s in "\\PC{0,60}") {
        if let Ok(src) = CacheSource::parse(&s) {
            prop_assert_eq!(CacheSource::parse(&src.to_string()).unwrap(), src);
        }
        let _ = RegistryHost::parse(&s);
        let _ = NamePattern::parse(&s);
    }

    #[test]
    fn a_wildcard_maps_names_both_ways(rest in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}") {
        let rules = CacheRules::new(vec![rule("hub", "docker.io/*", "hub/*")]);
        let target = repo(&format!("hub/{rest}"));
        let m = rules.for_target(&target).unwrap();
        let back = rules.for_upstream(&m.rule.source.registry, &m.upstream).unwrap();
        prop_assert_eq!(back.target, target);
    }
}
