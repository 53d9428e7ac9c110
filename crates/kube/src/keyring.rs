//! The kubelet's keyring (`pkg/credentialprovider/keyring.go`): which pull-secret entries apply
//! to an image. Keys are normalised (scheme added then dropped, `/v1/` or `/v2/` stripped),
//! sorted in reverse so longer paths come first, and matched against the image's repository
//! host label by label with globs, with equal label counts, equal ports and a raw path prefix.
//! Every matching key contributes its credentials, in that order; Docker Hub images fall back
//! to `index.docker.io`.

use crate::glob;
use crate::gourl::{self, Url, UrlError};

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

/// `ParseSchemelessURL`: `s` parsed as Go's `url.Parse("https://" + s)` ([`gourl`]).
fn parse_schemeless(s: &str) -> Result<Url, UrlError> {
    gourl::parse_after_scheme(s)
}

/// `SplitURL`: the host's labels and its port (`""` when `net.SplitHostPort` fails, which
/// leaves the whole host, port included, to be split into labels).
fn labels_and_port(url: &Url) -> (Vec<&str>, &str) {
    let (host, port) = gourl::split_host_port(&url.host).unwrap_or((&url.host, ""));
    (host.split('.').collect(), port)
}

/// The kubelet's normalised key of an `auths` entry, or why it ignores the entry
/// (`BasicDockerKeyring.Add`): `https://` is put before a key without `https://` or `http://`,
/// the result parsed by Go's `url.Parse` (so userinfo is dropped and the path percent-decoded;
/// a key it rejects is ignored), a leading `/v1/` or `/v2/` cut to `/`, and the key is the host
/// alone when the path is empty or `/`, else host and path.
pub fn normalise(server: &str) -> Result<String, UrlError> {
    let rest = server.strip_prefix("https://").or_else(|| server.strip_prefix("http://")).unwrap_or(server);
    let url = gourl::parse_after_scheme(rest)?;
    let path = if url.path.starts_with("/v2/") || url.path.starts_with("/v1/") { &url.path[3..] } else { &url.path };
    Ok(if path.is_empty() || path == "/" { url.host } else { format!("{}{path}", url.host) })
}

/// [`normalise`], `None` when the kubelet ignores the entry.
pub fn key_of(server: &str) -> Option<String> {
    normalise(server).ok()
}

/// Why a key does not match an image, in words (for the doctor); `None` when it matches.
/// The kubelet's `URLsMatchStr(key, image)` (both parsed again as schemeless URLs, so a
/// key's decoded path is decoded once more): equal ports, equal label counts, the key's path
/// a prefix of the image's, each label matched by `filepath.Match`.
pub fn mismatch(key: &str, image: &str) -> Option<String> {
    let glob = match parse_schemeless(key) {
        Ok(u) => u,
        Err(e) => return Some(format!("{key:?} cannot be parsed as a URL ({e})")),
    };
    let target = match parse_schemeless(image) {
        Ok(u) => u,
        Err(e) => return Some(format!("{image:?} cannot be parsed as a URL ({e})")),
    };
    let ((glob_labels, glob_port), (target_labels, target_port)) = (labels_and_port(&glob), labels_and_port(&target));
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

    /// The keys that apply to `image` (its normalised repository, no tag:
    /// `docker.io/library/nginx`), in lookup order (`BasicDockerKeyring.Lookup`): every key
    /// that matches; when none does and the image is on Docker Hub, `index.docker.io`.
    pub fn matching_keys(&self, image: &str) -> Vec<&str> {
        let found: Vec<&str> = self.keys().filter(|k| matches(k, image)).collect();
        if !found.is_empty() || !is_docker_hub(image) {
            return found;
        }
        self.keys().filter(|k| *k == "index.docker.io").collect()
    }

    /// The credentials for `image`, in the order the kubelet tries them: those of each
    /// [`Keyring::matching_keys`] key, in the order they were added.
    pub fn lookup(&self, image: &str) -> Vec<&Credential> {
        let keys = self.matching_keys(image);
        self.keys.iter().filter(|(k, _)| keys.contains(&k.as_str())).flat_map(|(_, creds)| creds.iter()).collect()
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
            ("puller:pw@reg.example.com", "reg.example.com/app", true),
            ("reg.example.com/te%61m", "reg.example.com/team/app", true),
            ("reg.example.com/a%2Fb", "reg.example.com/a/b/app", true),
            ("[::1]:5000", "[::1]:5000/app", true),
            ("[::1]:5000", "[::2]:5000/app", false),
        ] {
            let key = key_of(server);
            let got = key.as_deref().is_some_and(|k| matches(k, image));
            assert_eq!(got, want, "{server} vs {image} (key {key:?})");
        }
    }

    /// `BasicDockerKeyring.Add`: `url.Parse` drops userinfo, decodes the path, and a key it
    /// rejects is ignored (`[` only opens an IPv6 literal, as current Go has it).
    #[test]
    fn keys_are_normalised() {
        for (server, want) in [
            ("https://index.docker.io/v1/", Some("index.docker.io")),
            ("myregistry.azurecr.io/team-a", Some("myregistry.azurecr.io/team-a")),
            ("https://r.example/v2/team/", Some("r.example/team/")),
            ("http://r.example/v1/", Some("r.example")),
            ("user:secret@r.example", Some("r.example")),
            ("https://user@r.example:5000/v2/", Some("r.example:5000")),
            ("r.example/team%2Fa%20b", Some("r.example/team/a b")),
            ("r.example/%76%32/team", Some("r.example/team")),
            ("r.example/team?tag=x#frag", Some("r.example/team")),
            ("[::1]:5000/team", Some("[::1]:5000/team")),
            ("caf%C3%A9.example", Some("café.example")),
            ("r.example:x", None),
            ("r.example/team%zz", None),
            ("r.example#%zz", None),
            ("r.example/a\tb", None),
            ("us er@r.example", None),
            ("a[b.example", None),
            ("r.example[::1]", None),
            ("[127.0.0.1]:5000", None),
            ("[r.example]", None),
        ] {
            assert_eq!(key_of(server).as_deref(), want, "{server:?}");
        }
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
    fn matching_keys_name_what_applies() {
        let mut k = Keyring::default();
        k.add("reg.example.com", cred("host"));
        k.add("reg.example.com/team", cred("path"));
        k.add("other.example.org", cred("other"));
        k.add("https://index.docker.io/v1/", cred("hub"));
        assert_eq!(k.matching_keys("reg.example.com/team/app"), ["reg.example.com/team", "reg.example.com"]);
        assert_eq!(k.matching_keys("docker.io/library/nginx"), ["index.docker.io"]);
        assert!(k.matching_keys("quay.io/x/y").is_empty());
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
