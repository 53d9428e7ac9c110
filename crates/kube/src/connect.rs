//! What `berth kube connect` prints for a namespace whose pods pull with a secret, as text
//! both the CLI and the web UI show, so the two are the same bytes: the pull Secret (as
//! `kubectl create secret docker-registry … -o yaml` writes it, [`crate::secret`]) and the
//! ServiceAccount carrying it, one YAML stream for `kubectl apply -f -`; the same as `kubectl`
//! commands; and the kubelet's `CredentialProviderConfig` for nodes that pull with
//! `berth kube credential-provider` and the principal's credentials in a file instead.
//! (Without any secret, with the pods' own tokens, see [`crate::workload`].)

use crate::gostr::{json_string, yaml_scalar};
use crate::provider::API_VERSION;
use crate::secret::{DockerRegistrySecret, MissingFlags};
use crate::workload::{CONFIG_API_VERSION, DEFAULT_CACHE_DURATION};

/// Where the credential-provider configuration expects the principal's credentials on a node.
pub const NODE_CREDENTIALS_FILE: &str = "/etc/berth/node-pull.json";

/// A namespace pulling from a registry as one principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullConnection {
    /// The pods' namespace.
    pub namespace: String,
    /// The ServiceAccount that carries the secret (`default` for every pod that names none).
    pub service_account: String,
    /// The Secret's name.
    pub secret_name: String,
    /// The registry host, `HOST[:PORT]`, as images name it.
    pub registry: String,
    /// The principal's appId.
    pub username: String,
    /// Its password.
    pub password: String,
}

/// `s` as one word for a POSIX shell: as it is when it holds only characters no shell
/// treats specially, else in single quotes (a `'` written `'\''`).
pub fn shell_word(s: &str) -> String {
    let plain = !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if plain { s.to_owned() } else { format!("'{}'", s.replace('\'', r"'\''")) }
}

impl PullConnection {
    /// The pull Secret.
    pub fn secret(&self) -> DockerRegistrySecret {
        DockerRegistrySecret {
            name: self.secret_name.clone(),
            namespace: Some(self.namespace.clone()),
            server: self.registry.clone(),
            username: self.username.clone(),
            password: self.password.clone(),
            email: None,
        }
    }

    /// The ServiceAccount naming the Secret under `imagePullSecrets`.
    pub fn service_account_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nimagePullSecrets:\n- name: {}\nkind: ServiceAccount\nmetadata:\n  name: {}\n  namespace: {}\n",
            yaml_scalar(&self.secret_name),
            yaml_scalar(&self.service_account),
            yaml_scalar(&self.namespace)
        )
    }

    /// The Secret and the ServiceAccount, `---`-separated: what `berth kube connect` prints.
    pub fn to_yaml(&self) -> Result<String, MissingFlags> {
        Ok(format!("{}---\n{}", self.secret().to_yaml()?, self.service_account_yaml()))
    }

    /// The same objects made with `kubectl` alone: the Secret, then the ServiceAccount
    /// patched to carry it (which keeps the account's other pull secrets out of the way only
    /// if it had none; `kubectl apply` of [`Self::to_yaml`] sets the list whole).
    pub fn kubectl_commands(&self) -> String {
        let ns = shell_word(&self.namespace);
        let patch = format!("{{\"imagePullSecrets\":[{{\"name\":{}}}]}}", json_string(&self.secret_name));
        format!(
            "kubectl create secret docker-registry {} --namespace {ns} --docker-server {} --docker-username {} --docker-password {}\nkubectl patch serviceaccount {} --namespace {ns} -p {}\n",
            shell_word(&self.secret_name),
            shell_word(&self.registry),
            shell_word(&self.username),
            shell_word(&self.password),
            shell_word(&self.service_account),
            shell_word(&patch)
        )
    }

    /// The credentials file [`Self::provider_config_yaml`] points at, as `berth sp
    /// create-for-rbac` prints it (the fields the provider reads).
    pub fn node_credentials_json(&self) -> String {
        format!("{{\"appId\":{},\"password\":{}}}\n", json_string(&self.username), json_string(&self.password))
    }

    /// The kubelet's `CredentialProviderConfig` for `berth kube credential-provider` with the
    /// principal's credentials in [`NODE_CREDENTIALS_FILE`] on each node (mode 0600): nodes
    /// then pull with short-lived tokens and pods need no secret.
    pub fn provider_config_yaml(&self) -> String {
        let args =
            ["kube", "credential-provider", "--registry", &self.registry, "--credentials-file", NODE_CREDENTIALS_FILE];
        let args: String = args.iter().map(|a| format!("  - {}\n", yaml_scalar(a))).collect();
        format!(
            "apiVersion: {CONFIG_API_VERSION}\nkind: CredentialProviderConfig\nproviders:\n- apiVersion: {API_VERSION}\n  args:\n{args}  defaultCacheDuration: {DEFAULT_CACHE_DURATION}\n  matchImages:\n  - {}\n  name: berth\n",
            yaml_scalar(&self.registry)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn connection() -> PullConnection {
        PullConnection {
            namespace: "shop".into(),
            service_account: "default".into(),
            secret_name: "berth-pull".into(),
            registry: "registry.example:5000".into(),
            username: "0c1d2e3f-0000-4000-8000-000000000001".into(),
            password: "berth_s3cr'et".into(),
        }
    }

    #[test]
    fn the_stream_reads_back_as_kubernetes_reads_it() {
        let docs: Vec<Value> = serde_saphyr::from_multiple(&connection().to_yaml().unwrap()).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["type"], "kubernetes.io/dockerconfigjson");
        assert_eq!(docs[0]["metadata"], json!({"creationTimestamp": null, "name": "berth-pull", "namespace": "shop"}));
        assert_eq!(
            docs[1],
            json!({"apiVersion": "v1", "imagePullSecrets": [{"name": "berth-pull"}], "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": "shop"}})
        );
        let config: Value = serde_saphyr::from_str(&connection().provider_config_yaml()).unwrap();
        assert_eq!(
            config["providers"][0]["args"],
            json!([
                "kube",
                "credential-provider",
                "--registry",
                "registry.example:5000",
                "--credentials-file",
                NODE_CREDENTIALS_FILE
            ])
        );
        let creds: Value = serde_json::from_str(&connection().node_credentials_json()).unwrap();
        assert_eq!(creds["password"], "berth_s3cr'et");
    }

    #[test]
    fn shell_words_survive_the_shell() {
        assert_eq!(shell_word("berth-pull"), "berth-pull");
        assert_eq!(shell_word("a b"), "'a b'");
        assert_eq!(shell_word("it's"), r"'it'\''s'");
        assert_eq!(shell_word(""), "''");
        assert_eq!(shell_word("$(rm -rf /)"), "'$(rm -rf /)'");
        let commands = connection().kubectl_commands();
        assert!(commands.contains("--docker-password 'berth_s3cr'\\''et'"), "{commands}");
        assert!(commands.contains(r#"-p '{"imagePullSecrets":[{"name":"berth-pull"}]}'"#), "{commands}");
    }
}
