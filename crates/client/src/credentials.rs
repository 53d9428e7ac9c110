//! Which credentials to present to a registry: `--creds USER:PASS`, or docker's `config.json`
//! (`--authfile FILE`, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`) with
//! its `credHelpers`, `auths` (`auth`, `username`/`password`, `identitytoken`) and `credsStore`,
//! in the order docker consults them. Credential helpers are run as `docker-credential-NAME
//! get` with the server on stdin; a `Username` of `<token>` means the secret is an identity
//! (refresh) token.

use crate::auth::Credentials;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// `--creds` without a `:`.
    #[error("--creds takes USER:PASSWORD")]
    CredsFormat,
    /// The config file cannot be read or is not JSON.
    #[error("cannot read {0}: {1}")]
    Config(PathBuf, String),
    /// A credential helper failed.
    #[error("the credential helper docker-credential-{0} failed: {1}")]
    Helper(String, String),
}

/// `--creds USER:PASSWORD` (the password may contain `:`).
pub fn from_creds(creds: &str) -> Result<Credentials, CredentialsError> {
    let (username, password) = creds.split_once(':').ok_or(CredentialsError::CredsFormat)?;
    Ok(Credentials::Basic { username: username.to_owned(), password: password.to_owned() })
}

/// The default config path: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn default_config_path() -> Option<PathBuf> {
    match (std::env::var_os("DOCKER_CONFIG"), std::env::var_os("HOME")) {
        (Some(dir), _) => Some(PathBuf::from(dir).join("config.json")),
        (None, Some(home)) => Some(PathBuf::from(home).join(".docker/config.json")),
        (None, None) => None,
    }
}

/// Credentials for `registry` from the config at `path` (or the default); anonymous when the
/// file or an entry is absent.
pub fn from_config(path: Option<&Path>, registry: &str) -> Result<Credentials, CredentialsError> {
    let Some(path) = path.map(Path::to_path_buf).or_else(default_config_path) else {
        return Ok(Credentials::Anonymous);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::Anonymous),
        Err(e) => return Err(CredentialsError::Config(path, e.to_string())),
    };
    let config: Value =
        serde_json::from_str(&text).map_err(|e| CredentialsError::Config(path.clone(), e.to_string()))?;
    lookup(&config, registry)
}

/// The keys a registry may be stored under (Docker Hub has several spellings).
fn keys(registry: &str) -> Vec<String> {
    let mut keys = vec![registry.to_owned(), format!("https://{registry}"), format!("http://{registry}")];
    if matches!(registry, "docker.io" | "index.docker.io" | "registry-1.docker.io") {
        keys.extend(["https://index.docker.io/v1/", "index.docker.io", "docker.io"].map(String::from));
    }
    keys
}

fn entry<'a>(map: &'a Value, registry: &str) -> Option<&'a Value> {
    keys(registry).iter().find_map(|k| map.get(k).or_else(|| map.get(format!("{k}/"))))
}

/// Credentials for `registry` from a parsed config.
pub fn lookup(config: &Value, registry: &str) -> Result<Credentials, CredentialsError> {
    lookup_with(config, registry, None)
}

/// As [`lookup`], finding credential helpers on `helper_path` instead of `$PATH`.
pub fn lookup_with(
    config: &Value,
    registry: &str,
    helper_path: Option<&OsStr>,
) -> Result<Credentials, CredentialsError> {
    if let Some(helper) = entry(&config["credHelpers"], registry).and_then(Value::as_str) {
        return helper_get(helper, registry, helper_path);
    }
    if let Some(auth) = entry(&config["auths"], registry) {
        if let Some(t) = auth["identitytoken"].as_str().filter(|t| !t.is_empty()) {
            return Ok(Credentials::IdentityToken(t.to_owned()));
        }
        if let Some(encoded) = auth["auth"].as_str().filter(|a| !a.is_empty()) {
            let decoded = STANDARD.decode(encoded).ok().and_then(|b| String::from_utf8(b).ok()).ok_or_else(|| {
                CredentialsError::Config(
                    PathBuf::from("config.json"),
                    format!("the auth of {registry} is not base64 of user:password"),
                )
            })?;
            return from_creds(&decoded);
        }
        if let (Some(u), Some(p)) = (auth["username"].as_str(), auth["password"].as_str()) {
            return Ok(Credentials::Basic { username: u.to_owned(), password: p.to_owned() });
        }
    }
    if let Some(store) = config["credsStore"].as_str().filter(|s| !s.is_empty()) {
        return helper_get(store, registry, helper_path);
    }
    Ok(Credentials::Anonymous)
}

/// Runs `docker-credential-NAME get`; "credentials not found" means anonymous.
fn helper_get(name: &str, registry: &str, helper_path: Option<&OsStr>) -> Result<Credentials, CredentialsError> {
    let fail = |why: String| CredentialsError::Helper(name.to_owned(), why);
    let program = format!("docker-credential-{name}");
    let program = match helper_path {
        Some(dirs) => std::env::split_paths(dirs)
            .map(|d| d.join(&program))
            .find(|p| p.is_file())
            .unwrap_or_else(|| program.into()),
        None => program.into(),
    };
    let mut child = Command::new(program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    child.stdin.take().expect("piped stdin").write_all(registry.as_bytes()).map_err(|e| fail(e.to_string()))?;
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        if stdout.contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        return Err(fail(format!("{}{}", stdout.trim(), String::from_utf8_lossy(&out.stderr).trim())));
    }
    let v: Value = serde_json::from_str(&stdout).map_err(|e| fail(format!("unreadable answer: {e}")))?;
    let (user, secret) = (v["Username"].as_str().unwrap_or_default(), v["Secret"].as_str().unwrap_or_default());
    Ok(if user == "<token>" {
        Credentials::IdentityToken(secret.to_owned())
    } else {
        Credentials::Basic { username: user.to_owned(), password: secret.to_owned() }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn basic(u: &str, p: &str) -> Credentials {
        Credentials::Basic { username: u.into(), password: p.into() }
    }

    #[test]
    fn config_entries_in_docker_order() {
        let auth = STANDARD.encode("user:pa:ss");
        let config = json!({
            "auths": {
                "r.example:5000": { "auth": auth },
                "https://index.docker.io/v1/": { "auth": STANDARD.encode("hub:pw") },
                "tok.example": { "auth": STANDARD.encode("00000000-0000-0000-0000-000000000000:"), "identitytoken": "refresh" },
                "plain.example": { "username": "u", "password": "p" },
            }
        });
        assert_eq!(lookup(&config, "r.example:5000").unwrap(), basic("user", "pa:ss"));
        assert_eq!(lookup(&config, "docker.io").unwrap(), basic("hub", "pw"));
        assert_eq!(lookup(&config, "tok.example").unwrap(), Credentials::IdentityToken("refresh".into()));
        assert_eq!(lookup(&config, "plain.example").unwrap(), basic("u", "p"));
        assert_eq!(lookup(&config, "other.example").unwrap(), Credentials::Anonymous);
        assert_eq!(from_creds("a:b:c").unwrap(), basic("a", "b:c"));
        assert!(from_creds("nocolon").is_err());
    }

    #[test]
    fn credential_helpers_by_protocol() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("docker-credential-berthtest");
        std::fs::write(
            &helper,
            "#!/bin/sh\nread server\ncase \"$server\" in\n  tok.example) echo '{\"ServerURL\":\"tok.example\",\"Username\":\"<token>\",\"Secret\":\"refresh\"}';;\n  r.example) echo '{\"ServerURL\":\"r.example\",\"Username\":\"u\",\"Secret\":\"s\"}';;\n  *) echo 'credentials not found in native keychain'; exit 1;;\nesac\n",
        )
        .unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = json!({ "credsStore": "berthtest", "credHelpers": { "tok.example": "berthtest" } });
        let run = |registry: &str| lookup_with(&config, registry, Some(dir.path().as_os_str()));
        assert_eq!(run("tok.example").unwrap(), Credentials::IdentityToken("refresh".into()));
        assert_eq!(run("r.example").unwrap(), basic("u", "s"));
        assert_eq!(run("none.example").unwrap(), Credentials::Anonymous);
    }
}
