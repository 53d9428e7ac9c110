//! The credentials the kubelet offers for a pod's images (`kubelet_pods.go:
//! getPullSecretsForPod`, `secrets.MakeDockerKeyring`): the pod's own `imagePullSecrets`,
//! else its ServiceAccount's (copied at admission, only when the pod lists none); empty names
//! skipped; secrets from the pod's namespace only; types `kubernetes.io/dockerconfigjson` and
//! `kubernetes.io/dockercfg` (others ignored); one unreadable secret fails the whole pull.

use crate::dockercfg::{self, Entry};
use crate::keyring::{Credential, Keyring, normalise};
use crate::objects::{Objects, Workload};

/// The legacy pull-secret type.
pub const DOCKERCFG: &str = "kubernetes.io/dockercfg";

/// Reads one secret type's content.
type Parser = fn(&[u8]) -> Result<Vec<Entry>, dockercfg::ParseError>;

/// What the kubelet would hold for one pod.
#[derive(Debug, Default, Clone)]
pub struct PodCredentials {
    /// The keyring of every usable secret.
    pub keyring: Keyring,
    /// The secret names consulted, and whether they came from the ServiceAccount.
    pub secret_names: Vec<String>,
    /// Whether the names came from the ServiceAccount.
    pub from_service_account: bool,
    /// What the kubelet would log or ignore (missing, wrong type, ignored entries).
    pub warnings: Vec<String>,
    /// A secret the kubelet cannot read: every pull of the pod fails with this.
    pub error: Option<String>,
}

/// The credentials for workload `w`, from the secrets and service accounts in `objects`.
///
/// The names are the pod's `imagePullSecrets`, else its ServiceAccount's: the ServiceAccount
/// admission plugin copies them only into a pod whose list is empty (`len(...) == 0`), so a
/// list holding only an empty name keeps them out. Empty names are then skipped, as
/// `kubelet_pods.go: getPullSecretsForPod` skips them.
pub fn for_workload(w: &Workload, objects: &Objects) -> PodCredentials {
    let mut out = PodCredentials::default();
    let sa = objects.service_accounts.iter().find(|sa| sa.namespace == w.namespace && sa.name == w.service_account);
    if w.pull_secrets.is_empty() {
        if let Some(sa) = sa {
            out.secret_names = sa.pull_secrets.clone();
            out.from_service_account = !sa.pull_secrets.is_empty();
        }
    } else {
        out.secret_names = w.pull_secrets.clone();
        if w.pull_secrets.iter().all(String::is_empty)
            && let Some(sa) = sa.filter(|sa| sa.pull_secrets.iter().any(|n| !n.is_empty()))
        {
            out.warnings.push(format!(
                "the ServiceAccount {}'s imagePullSecrets are not added: the pod's list holds only an empty name, and admission copies them only into a pod whose list is empty; drop the empty entry",
                sa.name
            ));
        }
    }
    let whose = if out.from_service_account { "the ServiceAccount's" } else { "the pod's" };
    for (i, _) in out.secret_names.iter().enumerate().filter(|(_, n)| n.is_empty()) {
        out.warnings.push(format!("{whose} imagePullSecrets[{i}] has an empty name, which the kubelet skips"));
    }
    for name in out.secret_names.clone().into_iter().filter(|n| !n.is_empty()) {
        let Some(secret) = objects.secrets.iter().find(|s| s.namespace == w.namespace && s.name == name) else {
            let elsewhere: Vec<&str> =
                objects.secrets.iter().filter(|s| s.name == name).map(|s| s.namespace.as_str()).collect();
            out.warnings.push(if elsewhere.is_empty() {
                format!("secret {}/{name} was not found; the kubelet pulls without it", w.namespace)
            } else {
                format!(
                    "secret {name} is in namespace {}, not {}: the kubelet reads pull secrets from the pod's own namespace only",
                    elsewhere.join(", "),
                    w.namespace
                )
            });
            continue;
        };
        let id = format!("{}/{}", secret.namespace, secret.name);
        let (key, parse): (&str, Parser) = match secret.type_.as_str() {
            crate::secret::DOCKER_CONFIG_JSON => (".dockerconfigjson", dockercfg::parse_docker_config_json),
            DOCKERCFG => (".dockercfg", dockercfg::parse_dockercfg),
            other => {
                out.warnings.push(format!(
                    "secret {id} has type {other}; the kubelet ignores it (pull secrets are of type {} or {DOCKERCFG})",
                    crate::secret::DOCKER_CONFIG_JSON
                ));
                continue;
            }
        };
        let Some(bytes) = secret.data.get(key).filter(|b| !b.is_empty()) else {
            out.warnings.push(format!("secret {id} has no {key} key; the kubelet ignores it"));
            continue;
        };
        let entries = match parse(bytes) {
            Ok(e) => e,
            Err(e) => {
                out.error = Some(format!(
                    "{}, field data[{key}]: {e}; the kubelet fails every pull of this pod",
                    secret.origin
                ));
                return out;
            }
        };
        for e in entries {
            if e.identity_token_only {
                out.warnings.push(format!(
                    "secret {id}, server {:?}: only an identitytoken, which the kubelet ignores (it sends the username with an empty password); put the username and password in the secret",
                    e.server
                ));
            }
            if e.unpadded_auth {
                out.warnings.push(format!(
                    "secret {id}, server {:?}: auth is base64 without its = padding; this kubelet reads it, older kubelets fail with \"illegal base64 data\"",
                    e.server
                ));
            }
            if let Some((scheme, _)) = e.server.split_once("://").filter(|(s, _)| *s != "https" && *s != "http") {
                out.warnings.push(format!(
                    "secret {id}, server {:?} has the scheme {scheme}://, which the kubelet does not strip (only http:// and https://); write the bare registry host",
                    e.server
                ));
            }
            if let Err(why) = normalise(&e.server) {
                out.warnings.push(format!(
                    "secret {id}, server {:?} is not a URL to the kubelet (Go's url.Parse: {why}); the kubelet ignores it",
                    e.server
                ));
                continue;
            }
            let source = format!("secret {id}, server {:?}", e.server);
            out.keyring.add(&e.server, Credential { username: e.username, password: e.password, source });
        }
    }
    out
}
