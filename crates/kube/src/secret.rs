//! The Secret `kubectl create secret docker-registry NAME … --dry-run=client -o yaml|json`
//! prints, byte for byte (kubectl's `create_secret_docker.go`, its JSON and YAML printers).

use crate::gostr::{json_string, yaml_scalar};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// kubectl's `--docker-server` default.
pub const DEFAULT_SERVER: &str = "https://index.docker.io/v1/";
/// The Secret type the kubelet reads `auths` from.
pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";

/// The flags of `kubectl create secret docker-registry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerRegistrySecret {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace` (`-n`), omitted when not given.
    pub namespace: Option<String>,
    /// `--docker-server`, copied verbatim as the `auths` key.
    pub server: String,
    /// `--docker-username`.
    pub username: String,
    /// `--docker-password`.
    pub password: String,
    /// `--docker-email`, omitted when empty.
    pub email: Option<String>,
}

/// Why the flags cannot make a Secret (kubectl's own sentence).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "either --from-file or the combination of --docker-username, --docker-password and --docker-server is required"
)]
pub struct MissingFlags;

impl DockerRegistrySecret {
    /// The `.dockerconfigjson` content: `{"auths":{SERVER:{username,password,email?,auth}}}`
    /// as Go's `json.Marshal` writes it (fields in struct order, empty ones omitted).
    pub fn docker_config_json(&self) -> String {
        let auth = STANDARD.encode(format!("{}:{}", self.username, self.password));
        let mut fields = Vec::new();
        for (key, value) in [
            ("username", self.username.as_str()),
            ("password", self.password.as_str()),
            ("email", self.email.as_deref().unwrap_or("")),
            ("auth", auth.as_str()),
        ] {
            if !value.is_empty() {
                fields.push(format!("\"{key}\":{}", json_string(value)));
            }
        }
        format!("{{\"auths\":{{{}:{{{}}}}}}}", json_string(&self.server), fields.join(","))
    }

    fn check(&self) -> Result<(), MissingFlags> {
        if self.username.is_empty() || self.password.is_empty() || self.server.is_empty() {
            return Err(MissingFlags);
        }
        Ok(())
    }

    /// `-o json`: Go's `json.MarshalIndent` of the Secret with four spaces, and a newline.
    pub fn to_json(&self) -> Result<String, MissingFlags> {
        self.check()?;
        let data = STANDARD.encode(self.docker_config_json());
        let namespace = self
            .namespace
            .as_deref()
            .map(|ns| format!("        \"namespace\": {},\n", json_string(ns)))
            .unwrap_or_default();
        Ok(format!(
            "{{\n    \"kind\": \"Secret\",\n    \"apiVersion\": \"v1\",\n    \"metadata\": {{\n        \"name\": {},\n{namespace}        \"creationTimestamp\": null\n    }},\n    \"data\": {{\n        \".dockerconfigjson\": \"{data}\"\n    }},\n    \"type\": \"{DOCKER_CONFIG_JSON}\"\n}}\n",
            json_string(&self.name)
        ))
    }

    /// `-o yaml`: the same object through `sigs.k8s.io/yaml` (keys sorted, go-yaml quoting).
    pub fn to_yaml(&self) -> Result<String, MissingFlags> {
        self.check()?;
        let data = STANDARD.encode(self.docker_config_json());
        let namespace =
            self.namespace.as_deref().map(|ns| format!("  namespace: {}\n", yaml_scalar(ns))).unwrap_or_default();
        Ok(format!(
            "apiVersion: v1\ndata:\n  .dockerconfigjson: {data}\nkind: Secret\nmetadata:\n  creationTimestamp: null\n  name: {}\n{namespace}type: {DOCKER_CONFIG_JSON}\n",
            yaml_scalar(&self.name)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> DockerRegistrySecret {
        DockerRegistrySecret {
            name: "acr-secret".into(),
            namespace: None,
            server: "myregistry.azurecr.io".into(),
            username: "00000000-aaaa-bbbb-cccc-111111111111".into(),
            password: "p@ss:w0rd".into(),
            email: None,
        }
    }

    #[test]
    fn the_reference_run_of_kubectl() {
        // kubectl v1.32.4, ../shared/reference/auth-and-kube.md §3.1.
        assert_eq!(
            secret().docker_config_json(),
            r#"{"auths":{"myregistry.azurecr.io":{"username":"00000000-aaaa-bbbb-cccc-111111111111","password":"p@ss:w0rd","auth":"MDAwMDAwMDAtYWFhYS1iYmJiLWNjY2MtMTExMTExMTExMTExOnBAc3M6dzByZA=="}}}"#
        );
        let yaml = secret().to_yaml().unwrap();
        assert!(yaml.contains("  .dockerconfigjson: eyJhdXRocyI6eyJteXJlZ2lzdHJ5LmF6dXJlY3IuaW8iOnsidXNlcm5hbWUiOiIwMDAwMDAwMC1hYWFhLWJiYmItY2NjYy0xMTExMTExMTExMTEiLCJwYXNzd29yZCI6InBAc3M6dzByZCIsImF1dGgiOiJNREF3TURBd01EQXRZV0ZoWVMxaVltSmlMV05qWTJNdE1URXhNVEV4TVRFeE1URXhPbkJBYzNNNmR6QnlaQT09In19fQ==\n"));
        let with_email = DockerRegistrySecret { email: Some("me@example.com".into()), ..secret() };
        assert!(with_email.docker_config_json().contains(r#""password":"p@ss:w0rd","email":"me@example.com","auth""#));
        let missing = DockerRegistrySecret { password: String::new(), ..secret() };
        assert_eq!(missing.to_json(), Err(MissingFlags));
    }
}
