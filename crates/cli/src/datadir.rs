//! The data directory's permissions, and the secret files named in the configuration.
//!
//! Contracts:
//! - [`secure`] makes everything this process creates from then on readable by its owner only
//!   (umask 077, whatever umask it was started with), creates the data directory 0700, and
//!   tightens a directory left readable by group or others (as earlier versions created it)
//!   to 0700 directories and 0600 files throughout, saying so in one log line. The metadata
//!   database holds the token-signing key and the blobs are private images, so nobody but the
//!   registry's user may read them.
//! - [`private_file`] refuses a secret file (the signing key, the owner's password) that group
//!   or others may read, with a sentence that says how to fix it.

use anyhow::{Context, Result};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::Path;

/// Permission bits for group and others.
const SHARED_BITS: u32 = 0o077;

/// Sets the process umask to 077: whatever this process creates from now on is its owner's
/// only.
pub(crate) fn private_umask() {
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(SHARED_BITS));
}

/// Sets the process umask to 077 and creates (or tightens) the data directory `dir`.
pub(crate) fn secure(dir: &Path) -> Result<()> {
    private_umask();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create the data directory {}", dir.display()))?;
    let mode = std::fs::metadata(dir).with_context(|| format!("cannot read {}", dir.display()))?.mode();
    if mode & SHARED_BITS != 0 {
        let tightened =
            tighten(dir).with_context(|| format!("cannot restrict the permissions of {}", dir.display()))?;
        tracing::warn!(
            dir = %dir.display(),
            entries = tightened,
            "the data directory was readable by other users; restricted it to its owner (directories 0700, files 0600)"
        );
    }
    Ok(())
}

/// Removes group and other permissions from `path` and everything under it (symbolic links
/// are neither followed nor changed); how many entries changed.
fn tighten(path: &Path) -> std::io::Result<u64> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(0);
    }
    let mut changed = 0;
    if meta.mode() & SHARED_BITS != 0 {
        let private = if meta.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(private))?;
        changed += 1;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            changed += tighten(&entry?.path())?;
        }
    }
    Ok(changed)
}

/// Refuses `path` (the configuration key `key` names it) when group or others may read or
/// write it: a secret in such a file is no secret.
pub(crate) fn private_file(key: &str, path: &Path) -> Result<()> {
    let mode = std::fs::metadata(path).with_context(|| format!("cannot read {key} {}", path.display()))?.mode();
    if mode & SHARED_BITS != 0 {
        anyhow::bail!(
            "{key} {} may be read by other users (mode {:o}); make it private first: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tightens_a_shared_tree_and_refuses_shared_secrets() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("meta.db"), "x").unwrap();
        for (p, m) in [("", 0o755), ("blobs", 0o755), ("blobs/sha256", 0o775), ("meta.db", 0o644)] {
            std::fs::set_permissions(dir.join(p), std::fs::Permissions::from_mode(m)).unwrap();
        }
        assert_eq!(tighten(&dir).unwrap(), 4);
        for (p, m) in [("", 0o700), ("blobs", 0o700), ("blobs/sha256", 0o700), ("meta.db", 0o600)] {
            assert_eq!(std::fs::metadata(dir.join(p)).unwrap().mode() & 0o777, m, "{p}");
        }
        assert!(private_file("k", &dir.join("meta.db")).is_ok());
        std::fs::set_permissions(dir.join("meta.db"), std::fs::Permissions::from_mode(0o640)).unwrap();
        let e = private_file("auth.signing_key_file", &dir.join("meta.db")).unwrap_err().to_string();
        assert!(e.contains("mode 640") && e.contains("chmod 600"), "{e}");
    }
}
