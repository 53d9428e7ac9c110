//! What a cluster needs so that its pods pull from Berth with their own service-account tokens
//! (KEP-4412), in kubectl's layout (`-o yaml`: keys sorted, lists at their key's indent,
//! go-yaml's quoting): the ServiceAccount naming its principal, the ClusterRole and binding
//! that let nodes request a token for the registry's audience, and the kubelet's
//! `CredentialProviderConfig` with the `berth kube credential-provider` entry.

use crate::gostr::yaml_scalar;
use crate::provider::{API_VERSION, CLIENT_ID_ANNOTATION};

/// The API version of the kubelet's `CredentialProviderConfig` file.
pub const CONFIG_API_VERSION: &str = "kubelet.config.k8s.io/v1";
/// The verb nodes need to request a service-account token for an audience.
pub const AUDIENCE_VERB: &str = "request-serviceaccounts-token-audience";
/// How long the kubelet caches an answer that names no duration.
pub const DEFAULT_CACHE_DURATION: &str = "10m0s";

/// One service account's workload identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadIdentity {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account's name.
    pub service_account: String,
    /// The principal's appId (the [`CLIENT_ID_ANNOTATION`]).
    pub app_id: String,
    /// The audience the kubelet requests tokens for.
    pub audience: String,
    /// The registry host the provider answers for (`HOST[:PORT]`).
    pub registry: String,
}

/// The name `berth kube connect --workload-identity` gives the federated credential trusting
/// service account `ns`/`sa`: `kube-NS-SA` (a character other than an ASCII letter, digit or
/// `-` written `-`, at most 110 characters), or the first of `…-2`, `…-3`, … not `taken`
/// (names are unique per principal, and one account may be trusted from several issuers).
pub fn federated_credential_name(ns: &str, sa: &str, taken: impl Fn(&str) -> bool) -> String {
    let base: String = format!("kube-{ns}-{sa}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .take(110)
        .collect();
    std::iter::once(base.clone()).chain((2..).map(|i| format!("{base}-{i}"))).find(|n| !taken(n)).unwrap_or(base)
}

/// The description of that federated credential.
pub fn federated_credential_description(ns: &str, sa: &str) -> String {
    format!("pods of service account {ns}/{sa}, by berth kube connect --workload-identity")
}

/// The subject of service account `ns`/`sa`'s tokens.
pub fn service_account_subject(ns: &str, sa: &str) -> String {
    format!("system:serviceaccount:{ns}:{sa}")
}

/// `- item` lines, at `indent` spaces, for a list of scalars.
fn list(indent: usize, items: &[&str]) -> String {
    items.iter().map(|i| format!("{:indent$}- {}\n", "", yaml_scalar(i))).collect()
}

impl WorkloadIdentity {
    /// The name of the ClusterRole and of its binding.
    pub fn role_name(&self) -> String {
        format!("berth-token-audience-{}-{}", self.namespace, self.service_account)
    }

    /// The ServiceAccount, annotated with its principal's appId.
    pub fn service_account_yaml(&self) -> String {
        format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  annotations:\n    {CLIENT_ID_ANNOTATION}: {}\n  name: {}\n  namespace: {}\n",
            yaml_scalar(&self.app_id),
            yaml_scalar(&self.service_account),
            yaml_scalar(&self.namespace)
        )
    }

    /// The ClusterRole that lets its holder request tokens of this service account for the
    /// audience.
    pub fn cluster_role_yaml(&self) -> String {
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {}\nrules:\n- apiGroups:\n{}  resourceNames:\n{}  resources:\n{}  verbs:\n{}",
            yaml_scalar(&self.role_name()),
            list(2, &[""]),
            list(2, &[&self.service_account]),
            list(2, &[&self.audience]),
            list(2, &[AUDIENCE_VERB])
        )
    }

    /// The ClusterRoleBinding of that role to every node (`system:nodes`).
    pub fn binding_yaml(&self) -> String {
        let name = yaml_scalar(&self.role_name());
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: {name}\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: {name}\nsubjects:\n- apiGroup: rbac.authorization.k8s.io\n  kind: Group\n  name: system:nodes\n"
        )
    }

    /// The kubelet's `CredentialProviderConfig` (its `--image-credential-provider-config`)
    /// with one provider, the `berth` binary in `--image-credential-provider-bin-dir`.
    pub fn provider_config_yaml(&self) -> String {
        format!(
            "apiVersion: {CONFIG_API_VERSION}\nkind: CredentialProviderConfig\nproviders:\n- apiVersion: {API_VERSION}\n  args:\n{}  defaultCacheDuration: {DEFAULT_CACHE_DURATION}\n  matchImages:\n{}  name: berth\n  tokenAttributes:\n    cacheType: ServiceAccount\n    optionalServiceAccountAnnotationKeys:\n{}    requireServiceAccount: true\n    serviceAccountTokenAudience: {}\n",
            list(2, &["kube", "credential-provider", "--registry", &self.registry]),
            list(2, &[&self.registry]),
            list(4, &[CLIENT_ID_ANNOTATION]),
            yaml_scalar(&self.audience)
        )
    }

    /// All four, `---`-separated: the three objects for `kubectl apply`, then the kubelet's file.
    pub fn to_yaml(&self) -> String {
        [self.service_account_yaml(), self.cluster_role_yaml(), self.binding_yaml(), self.provider_config_yaml()]
            .join("---\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn identity() -> WorkloadIdentity {
        WorkloadIdentity {
            namespace: "team-a".into(),
            service_account: "web".into(),
            app_id: "0c1d2e3f-0000-4000-8000-000000000001".into(),
            audience: "registry.example:5000".into(),
            registry: "registry.example:5000".into(),
        }
    }

    fn documents(text: &str) -> Vec<Value> {
        serde_saphyr::from_multiple::<Value>(text).unwrap()
    }

    #[test]
    fn the_objects_read_back_as_kubernetes_reads_them() {
        let docs = documents(&identity().to_yaml());
        assert_eq!(docs.len(), 4);
        assert_eq!(
            docs[0],
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
                "annotations": {"berth.dev/client-id": "0c1d2e3f-0000-4000-8000-000000000001"},
                "name": "web", "namespace": "team-a"}})
        );
        assert_eq!(
            docs[1],
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "berth-token-audience-team-a-web"},
                "rules": [{"apiGroups": [""], "resourceNames": ["web"], "resources": ["registry.example:5000"],
                    "verbs": ["request-serviceaccounts-token-audience"]}]})
        );
        assert_eq!(
            docs[2],
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "berth-token-audience-team-a-web"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "berth-token-audience-team-a-web"},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "system:nodes"}]})
        );
        assert_eq!(
            docs[3],
            json!({"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig", "providers": [{
                "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
                "args": ["kube", "credential-provider", "--registry", "registry.example:5000"],
                "defaultCacheDuration": "10m0s",
                "matchImages": ["registry.example:5000"],
                "name": "berth",
                "tokenAttributes": {"cacheType": "ServiceAccount",
                    "optionalServiceAccountAnnotationKeys": ["berth.dev/client-id"],
                    "requireServiceAccount": true,
                    "serviceAccountTokenAudience": "registry.example:5000"}}]})
        );
    }

    #[test]
    fn the_service_account_reads_as_berth_reads_objects() {
        let text = identity().service_account_yaml();
        let mut objects = crate::objects::Objects::default();
        crate::objects::parse("connect.yaml", &text, &mut objects).unwrap();
        assert_eq!(objects.service_accounts[0].name, "web");
        assert_eq!(objects.service_accounts[0].namespace, "team-a");
    }

    #[test]
    fn scalars_that_would_read_as_other_types_are_quoted() {
        let odd = WorkloadIdentity { audience: "1234".into(), service_account: "true".into(), ..identity() };
        let docs = documents(&odd.to_yaml());
        assert_eq!(docs[0]["metadata"]["name"], "true");
        assert_eq!(docs[1]["rules"][0]["resources"][0], "1234");
        assert_eq!(docs[3]["providers"][0]["tokenAttributes"]["serviceAccountTokenAudience"], "1234");
    }
}
