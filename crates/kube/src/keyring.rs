//! The kubelet's keyring (`pkg/credentialprovider/keyring.go`): which pull-secret entries apply
//! to an image. Keys are normalised (scheme added then dropped, `/v1/` or `/v2/` stripped),
//! sorted in reverse so longer paths come first, and matched against the image's repository
//! host label by label with globs, with equal label counts, equal ports and a raw path prefix.
//! Every matching key contributes its credentials, in that order; Docker Hub images fall back
//! to `index.docker.io`.

use crate::glob;

/// A credential and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// Username.
    pub username: String,
    /// Password.
    pub password: String,
    /// Where it came from, for reports (`secret team-a/acr-secret, key "host"`).
    pub source: String,
}

/// A schemeless URL as Go's `url.Parse("https://" + s)` splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Url {
    host: String,
    path: String,
}

impl Url {
    /// `None` where Go's parser reports an error (empty host, a port that is not digits).
    fn parse_schemeless(s: &str) -> Option<Url> {
        let end = s.find(['?', '#']).unwrap_or(s.len());
        let s = &s[..end];
        let (host, path) = s.find('/').map_or((s, ""), |i| (&s[..i], &s[i..]));
        if host.chars().any(|c| c.is_control() || c == ' ') {
            return None;
        }
        let (_, port) = split_host_port(host);
        if !port.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some(Url { host: host.to_owned(), path: path.to_owned() })
    }

    /// Host labels and port (`""` when none), as `SplitURL`.
    fn labels_and_port(&self) -> (Vec<&str>, &str) {
        let (host, port) = split_host_port(&self.host);
        (host.split('.').collect(), port)
    }
}

/// Go's `net.SplitHostPort`, with its failure read as "no port" (as `SplitURL` does).
fn split_host_port(host: &str) -> (&str, &str) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((h, p)) => (h, p),
            None => (host, ""),
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, p),
        _ => (host, ""),
    }
}

/// The kubelet's normalised key of an `auths` entry; `None` when the kubelet ignores it.
pub fn key_of(server: &str) -> Option<String> {
    let schemeless = server.strip_prefix("https://").or_else(|| server.strip_prefix("http://")).unwrap_or(server);
    let url = Url::parse_schemeless(schemeless)?;
    let path = if url.path.starts_with("/v2/") || url.path.starts_with("/v1/") { &url.path[3..] } else { &url.path };
    Some(if path.is_empty() || path == "/" { url.host } else { format!("{}{path}", url.host) })
}

/// Why a key does not match an image, in words (for the doctor); `None` when it matches.
pub fn mismatch(key: &str, image: &str) -> Option<String> {
    let (Some(glob), Some(target)) = (Url::parse_schemeless(key), Url::parse_schemeless(image)) else {
        return Some(format!("{key:?} cannot be parsed as a URL"));
    };
    let ((glob_labels, glob_port), (target_labels, target_port)) = (glob.labels_and_port(), target.labels_and_port());
    if glob_port != target_port {
        let show = |p: &str| if p.is_empty() { "no port".to_owned() } else { format!("port {p}") };
        return Some(format!("{key:?} has {} but the image's host has {}", show(glob_port), show(target_port)));
    }
    if glob_labels.len() != target_labels.len() {
        return Some(format!(
            "{key:?} has {} host labels but {:?} has {} (a * matches exactly one label)",
            glob_labels.len(),
            target.host,
            target_labels.len()
        ));
    }
    if !target.path.starts_with(&glob.path) {
        return Some(format!("the image's path {:?} does not start with {:?}", target.path, glob.path));
    }
    for (g, t) in glob_labels.iter().zip(&target_labels) {
        if !glob::matches(g, t) {
            return Some(format!("host label {t:?} does not match {g:?}"));
        }
    }
    None
}

/// Whether the kubelet's `URLsMatchStr(key, image)` holds.
pub fn matches(key: &str, image: &str) -> bool {
    mismatch(key, image).is_none()
}

/// `isDefaultRegistryMatch`: the image lives on Docker Hub.
fn is_docker_hub(image: &str) -> bool {
    match image.split_once('/') {
        _ if image.is_empty() => false,
        None => true,
        Some((first, _)) => first == "docker.io" || first == "index.docker.io" || !first.contains(['.', ':']),
    }
}

/// Credentials by normalised key, in the kubelet's lookup order.
#[derive(Debug, Default, Clone)]
pub struct Keyring {
    keys: Vec<(String, Vec<Credential>)>,
}

impl Keyring {
    /// Adds an `auths` entry; returns `false` (and keeps nothing) when the kubelet would ignore it.
    pub fn add(&mut self, server: &str, credential: Credential) -> bool {
        let Some(key) = key_of(server) else { return false };
        match self.keys.iter_mut().find(|(k, _)| *k == key) {
            Some((_, creds)) => creds.push(credential),
            None => self.keys.push((key, vec![credential])),
        }
        // Reverse lexicographic order: more specific paths first.
        self.keys.sort_by(|a, b| b.0.cmp(&a.0));
        true
    }

    /// The credentials for `image` (its normalised repository, no tag: `docker.io/library/nginx`),
    /// in the order the kubelet tries them.
    pub fn lookup(&self, image: &str) -> Vec<&Credential> {
        let found: Vec<&Credential> =
            self.keys.iter().filter(|(k, _)| matches(k, image)).flat_map(|(_, creds)| creds.iter()).collect();
        if !found.is_empty() || !is_docker_hub(image) {
            return found;
        }
        self.keys.iter().filter(|(k, _)| k == "index.docker.io").flat_map(|(_, creds)| creds.iter()).collect()
    }

    /// The normalised keys, in lookup order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(k, _)| k.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of ../shared/reference/auth-and-kube.md §3.4 and the kubelet's documented rules.
    #[test]
    fn match_table() {
        for (server, image, want) in [
            ("myregistry.azurecr.io", "myregistry.azurecr.io/app", true),
            ("https://myregistry.azurecr.io/v2/", "myregistry.azurecr.io/app", true),
            ("http://myregistry.azurecr.io", "myregistry.azurecr.io/app", true),
            ("*.azurecr.io", "myregistry.azurecr.io/app", true),
            ("*.azurecr.io", "myregistry.eastus2.geo.azurecr.io/app", false),
            ("*.kubernetes.io", "kubernetes.io/x", false),
            ("prefix.*.io", "prefix.kubernetes.io/x", true),
            ("*-good.kubernetes.io", "prefix-good.kubernetes.io/x", true),
            ("*-good.kubernetes.io", "prefix-bad.kubernetes.io/x", false),
            ("reg.example.com", "reg.example.com:5000/app", false),
            ("reg.example.com:443", "reg.example.com/app", false),
            ("reg.example.com:5000/team", "reg.example.com:5000/team/app", true),
            ("reg.example.com:5000/team", "reg.example.com:5000/teamx/app", true),
            ("reg.example.com:5000/team", "reg.example.com:5000/other/app", false),
            ("127.0.0.1:5000", "127.0.0.1:5000/team/app", true),
            ("127.0.0.1:5000", "127.0.0.2:5000/team/app", false),
            ("Reg.example.com", "reg.example.com/app", false),
            ("reg.example.com:abc", "reg.example.com/app", false),
        ] {
            let key = key_of(server);
            let got = key.as_deref().is_some_and(|k| matches(k, image));
            assert_eq!(got, want, "{server} vs {image} (key {key:?})");
        }
    }

    #[test]
    fn keys_are_normalised() {
        assert_eq!(key_of("https://index.docker.io/v1/").as_deref(), Some("index.docker.io"));
        assert_eq!(key_of("myregistry.azurecr.io/team-a").as_deref(), Some("myregistry.azurecr.io/team-a"));
        assert_eq!(key_of("https://r.example/v2/team/").as_deref(), Some("r.example/team/"));
        assert_eq!(key_of("r.example:x"), None);
    }

    fn cred(source: &str) -> Credential {
        Credential { username: "u".into(), password: "p".into(), source: source.into() }
    }

    #[test]
    fn most_specific_first_and_every_match_tried() {
        let mut k = Keyring::default();
        k.add("reg.example.com", cred("host"));
        k.add("reg.example.com/team", cred("path"));
        k.add("*.example.com", cred("glob"));
        k.add("other.example.org", cred("other"));
        let order: Vec<&str> = k.lookup("reg.example.com/team/app").iter().map(|c| c.source.as_str()).collect();
        assert_eq!(order, ["path", "host", "glob"]);
    }

    #[test]
    fn docker_hub_falls_back_to_index_docker_io() {
        let mut k = Keyring::default();
        k.add("https://index.docker.io/v1/", cred("hub"));
        assert_eq!(k.lookup("docker.io/library/nginx").len(), 1);
        assert_eq!(k.lookup("docker.io/team/app").len(), 1);
        assert!(k.lookup("quay.io/team/app").is_empty());
    }
}
