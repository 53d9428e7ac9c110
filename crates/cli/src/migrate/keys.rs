//! The token-signing key of `berth migrate`: the one the source signs with (its
//! `auth.signing_key_file` when set, else the key in its database) becomes the one the
//! destination signs with (its `auth.signing_key_file` when set, written there if the file is
//! absent; else its database), so access and refresh tokens issued before the move verify
//! after it.

use crate::serve::read_signing_key;
use anyhow::{Context, Result};
use berth_core::principals::SettingsStore;
use berth_registry::auth::generate_signing_key;
use berth_server::Config;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Moves the key; warns when the destination keeps another one.
pub(super) async fn carry(from: &Config, to: &Config, src: &dyn SettingsStore, dst: &dyn SettingsStore) -> Result<()> {
    let key = match &from.auth.signing_key_file {
        Some(file) => read_signing_key(file)?,
        None => src.signing_key(&generate_signing_key()).await?,
    };
    let Some(file) = &to.auth.signing_key_file else {
        if dst.signing_key(&key).await? != key {
            eprintln!(
                "berth: warning: the destination already has another token-signing key; tokens issued before the move end"
            );
        }
        return Ok(());
    };
    match std::fs::symlink_metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_pem(file, &key)?;
            eprintln!("berth: wrote the source's token-signing key to auth.signing_key_file {}", file.display());
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read auth.signing_key_file {}", file.display())),
        Ok(_) if read_signing_key(file)? == key => {}
        Ok(_) => eprintln!(
            "berth: warning: auth.signing_key_file {} holds another token-signing key than the source's, so tokens \
             issued before the move will be refused; to keep them valid, remove the file and run the migration again \
             (it writes the source's key there)",
            file.display()
        ),
    }
    Ok(())
}

/// Writes the PKCS#8 `key` as a `BEGIN PRIVATE KEY` PEM file readable by this user only; never
/// over an existing file.
fn write_pem(path: &Path, key: &[u8]) -> Result<()> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(key);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(pem.as_bytes()).and_then(|()| f.sync_all()));
    written.with_context(|| format!("cannot write auth.signing_key_file {}", path.display()))
}
