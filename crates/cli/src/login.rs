//! `berth login` / `berth logout`: credentials in the docker `config.json` that skopeo,
//! containerd and docker read, plus the last login server for admin commands.

use anyhow::{Context, Result, bail};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use berth_client::auth::{Credentials, NULL_GUID};
use berth_client::{credentials, endpoint};
use serde_json::{Value, json};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (berth-client's rule).
pub fn docker_config_path() -> Result<PathBuf> {
    credentials::default_config_path().context("HOME is not set; set DOCKER_CONFIG to choose where credentials go")
}

/// Berth's own CLI state (the last login server): `$BERTH_CONFIG_DIR`, else
/// `$XDG_CONFIG_HOME/berth`, else `~/.config/berth`.
fn state_path() -> Result<PathBuf> {
    let dir = match (std::env::var_os("BERTH_CONFIG_DIR"), std::env::var_os("XDG_CONFIG_HOME")) {
        (Some(d), _) => PathBuf::from(d),
        (None, Some(x)) => PathBuf::from(x).join("berth"),
        (None, None) => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".config/berth"),
    };
    Ok(dir.join("cli.json"))
}

fn read_json(path: &Path) -> Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Writes `value` to `path` readable by this user only, replacing it atomically.
fn write_private(path: &Path, value: &Value) -> Result<()> {
    let dir = path.parent().context("config path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(serde_json::to_string_pretty(value)?.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Splits `SERVER` into the host key docker uses and the URLs to try, https first; plain
/// http only for an explicit `http://` or a loopback host ([`endpoint::is_loopback`]).
pub fn server_urls(server: &str) -> (String, Vec<String>) {
    let trimmed = server.trim_end_matches('/');
    if let Some(host) = trimmed.strip_prefix("https://") {
        return (host.to_owned(), vec![trimmed.to_owned()]);
    }
    if let Some(host) = trimmed.strip_prefix("http://") {
        return (host.to_owned(), vec![trimmed.to_owned()]);
    }
    let mut urls = vec![format!("https://{trimmed}")];
    if endpoint::is_loopback(trimmed) {
        urls.push(format!("http://{trimmed}"));
    }
    (trimmed.to_owned(), urls)
}

/// Stores `user:password` for `host` in the docker config, keeping everything else there.
pub fn store(host: &str, user: &str, password: &str) -> Result<PathBuf> {
    store_entry(host, json!({ "auth": STANDARD.encode(format!("{user}:{password}")) }))
}

/// Stores a refresh token for `host` as docker stores an identity token: `identitytoken`, with
/// `auth` the base64 of `00000000-0000-0000-0000-000000000000:` (docker keeps the username
/// and an empty password there; containers/image, skopeo's library, drops an entry whose
/// `auth` has no `:`, identity token included, and then sends the token as a `refresh_token`
/// grant).
pub fn store_identity_token(host: &str, refresh_token: &str) -> Result<PathBuf> {
    let auth = STANDARD.encode(format!("{NULL_GUID}:"));
    store_entry(host, json!({ "auth": auth, "identitytoken": refresh_token }))
}

/// Replaces `host`'s entry under `auths` with `entry`, keeping everything else (0600).
fn store_entry(host: &str, entry: Value) -> Result<PathBuf> {
    let path = docker_config_path()?;
    let mut config = read_json(&path)?;
    if !config.is_object() {
        bail!("{} does not hold a JSON object", path.display());
    }
    config["auths"][host] = entry;
    write_private(&path, &config)?;
    Ok(path)
}

/// Removes `host` from the docker config; whether it was there.
pub fn remove(host: &str) -> Result<bool> {
    let path = docker_config_path()?;
    let mut config = read_json(&path)?;
    let removed = config.get_mut("auths").and_then(Value::as_object_mut).and_then(|a| a.remove(host)).is_some();
    if removed {
        write_private(&path, &config)?;
    }
    Ok(removed)
}

/// The username and password the docker config holds for `host`, read as every other command
/// reads it ([`credentials::from_config`]): an identity token (a federated login's refresh
/// token) is the password of the null-GUID username, which Berth takes as Basic; `None` when
/// it holds none.
pub fn credentials(host: &str) -> Result<Option<(String, String)>> {
    match credentials::from_config(Some(&docker_config_path()?), host)? {
        Credentials::Basic { username, password } => Ok(Some((username, password))),
        Credentials::IdentityToken(token) => Ok(Some((NULL_GUID.to_owned(), token))),
        Credentials::Anonymous => Ok(None),
    }
}

/// Remembers `url` as the default `--registry`.
pub fn remember(url: &str) -> Result<()> {
    write_private(&state_path()?, &json!({ "registry": url }))
}

/// The registry of the last `berth login`.
pub fn remembered() -> Result<Option<String>> {
    Ok(read_json(&state_path()?)?["registry"].as_str().map(str::to_owned))
}

/// Forgets the default registry if it is `host`'s.
pub fn forget(host: &str) -> Result<()> {
    if let Some(url) = remembered()?
        && server_urls(&url).0 == host
    {
        std::fs::remove_file(state_path()?).ok();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls() {
        assert_eq!(super::server_urls("127.0.0.1:5000").1, ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]);
        assert_eq!(super::server_urls("registry.example.com").1, ["https://registry.example.com"]);
        assert_eq!(super::server_urls("http://r:1/").0, "r:1");
        assert_eq!(super::server_urls("[::1]:5000").1, ["https://[::1]:5000", "http://[::1]:5000"]);
        assert_eq!(super::server_urls("[::1]").1, ["https://[::1]", "http://[::1]"]);
    }
}
