//! The pull-through cache `berth serve` runs: its credential key, from
//! `cache.credential_key_file` or (on SQLite, whose data directory no replica shares)
//! `<data dir>/credential.key`, created on the first start; and the [`PullThrough`] built with
//! it and `[cache]`'s settings over [`HttpConnector`].
//!
//! Contracts:
//! - A key file holds 64 hex digits (32 bytes, surrounding whitespace ignored) and must be
//!   readable by its owner only ([`crate::datadir::private_file`]); anything else is refused
//!   with a sentence that says how to make one.
//! - The created `credential.key` is 0600 and written once (`create_new`); later starts reuse
//!   it. It is never created for a server on PostgreSQL: replicas must share one key, so they
//!   are given the same file, and without one there is no pull-through cache.

use anyhow::{Context, Result};
use berth_client::upstream::{HttpConnector, UpstreamTimeouts};
use berth_core::cache::RegistryHost;
use berth_registry::cache::seal::{CredentialKey, KEY_LEN};
use berth_registry::cache::{CacheObserver, CacheSettings, PullThrough};
use berth_server::Config;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The key file `berth serve` creates in the data directory when none is configured.
pub(crate) const KEY_FILE: &str = "credential.key";

/// 64 hex digits as the key's bytes.
fn decode(text: &str) -> Option<[u8; KEY_LEN]> {
    let text = text.trim().as_bytes();
    if text.len() != 2 * KEY_LEN || !text.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut key = [0u8; KEY_LEN];
    for (byte, pair) in key.iter_mut().zip(text.chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(key)
}

/// Reads the key in `path`, which the configuration key `what` names.
fn read_key(what: &str, path: &Path) -> Result<CredentialKey> {
    crate::datadir::private_file(what, path)?;
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))?;
    let bytes = decode(&text).with_context(|| {
        format!(
            "{what} {} must hold 64 hex digits (make one: openssl rand -hex 32 > FILE; chmod 600 FILE)",
            path.display()
        )
    })?;
    Ok(CredentialKey::from_bytes(&bytes))
}

/// Writes a new random key to `path` (which must not exist), readable by its owner only.
fn create_key(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let hex: String = CredentialKey::generate().iter().map(|b| format!("{b:02x}")).collect();
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the credential key {}", path.display()))?;
    f.write_all(format!("{hex}\n").as_bytes())?;
    f.sync_all()?;
    tracing::info!(path = %path.display(), "created the key that encrypts credential-set passwords; back it up with the data");
    Ok(())
}

/// The credential key: the configured file's, else (`shared` false: no replica uses these
/// stores) the data directory's, created when missing; `None` for replicas without a file.
pub(crate) fn credential_key(config: &Config, shared: bool) -> Result<Option<CredentialKey>> {
    if let Some(file) = &config.cache.credential_key_file {
        return read_key("cache.credential_key_file", file).map(Some);
    }
    if shared {
        tracing::warn!(
            "no cache.credential_key_file: the pull-through cache is off; give every replica the same key file \
             (openssl rand -hex 32) to turn it on"
        );
        return Ok(None);
    }
    let path = config.server.data_dir.join(KEY_FILE);
    if !path.exists() {
        crate::datadir::secure(&config.server.data_dir)?;
        create_key(&path)?;
    }
    read_key("the credential key", &path).map(Some)
}

/// The pull-through cache `berth serve` runs, as `config.cache` says: sealing with `key`,
/// reaching upstreams over HTTP (redirects followed, as blobs are often sent to storage),
/// counting in `observer`.
pub(crate) fn pull_through(
    config: &Config,
    key: CredentialKey,
    observer: Arc<dyn CacheObserver>,
) -> Result<PullThrough> {
    let c = &config.cache;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(5))
        .build()
        .context("cannot make the HTTP client for upstream registries")?;
    let timeouts = UpstreamTimeouts {
        request: Duration::from_secs(c.upstream_timeout_secs),
        idle: Duration::from_secs(c.upstream_idle_secs),
    };
    let mut connector = HttpConnector::new(http, timeouts);
    for (registry, base) in &c.endpoints {
        let registry = RegistryHost::parse(registry).map_err(|e| anyhow::anyhow!("cache.endpoints: {e}"))?;
        connector = connector.with_endpoint(registry, base);
    }
    let settings = CacheSettings {
        revalidate_after: Duration::from_secs(c.revalidate_after_secs),
        fill_lease: Duration::from_secs(c.fill_lease_secs),
        upstream_timeout: timeouts.request,
        ..CacheSettings::default()
    };
    Ok(PullThrough::new(Arc::new(connector), key, settings).with_observer(observer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn key_files_are_64_hex_digits() {
        assert!(decode(&format!("{}\n", "ab".repeat(32))).is_some());
        assert!(decode(&"AB".repeat(32)).is_some());
        assert!(decode(&"ab".repeat(31)).is_none());
        assert!(decode(&"zz".repeat(32)).is_none());
        assert!(decode(&format!("+{}", "a".repeat(63))).is_none());
    }

    #[test]
    fn a_created_key_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.server.data_dir = dir.path().join("data");
        let first = credential_key(&config, false).unwrap().unwrap();
        let path = config.server.data_dir.join(KEY_FILE);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let sealed = first.seal("hub", "pw");
        let again = credential_key(&config, false).unwrap().unwrap();
        assert_eq!(again.open("hub", &sealed).unwrap(), "pw", "the second start reads the same key");
        assert!(credential_key(&config, true).unwrap().is_none(), "replicas get no key unless configured");

        config.cache.credential_key_file = Some(path.clone());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = credential_key(&config, true).err().unwrap().to_string();
        assert!(e.contains("cache.credential_key_file") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not a key").unwrap();
        let e = credential_key(&config, true).err().unwrap().to_string();
        assert!(e.contains("64 hex digits"), "{e}");
    }
}
