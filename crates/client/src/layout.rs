//! OCI image layouts (`oci:DIR[:TAG]`): `oci-layout`, `index.json` and `blobs/<alg>/<hex>`.
//!
//! Blobs are written to a temporary file beside their final place, hashed as they are
//! written, and renamed into place only when the digest matches, so a layout never holds a
//! blob whose bytes differ from its name. `index.json` is replaced atomically.

use berth_core::{Algorithm, Digest, Hasher};
use serde_json::{Value, json};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The annotation that names an image in `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// Why a layout operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The path exists and is not a directory.
    #[error("{0} exists and is not a directory; an OCI layout is a directory")]
    NotADirectory(PathBuf),
    /// No `oci-layout` file or no readable `index.json`.
    #[error("{0} is not an OCI image layout ({1})")]
    NotALayout(PathBuf, String),
    /// The tag is not in `index.json`, or no tag was given and the index holds several images.
    #[error("{0}")]
    NoSuchImage(String),
    /// A blob's bytes do not match its digest.
    #[error("blob {expected} has the digest {actual}; the source is corrupt")]
    DigestMismatch {
        /// The digest it was named by.
        expected: Digest,
        /// The digest of the bytes.
        actual: Digest,
    },
    /// A blob is missing.
    #[error("blob {0} is missing from the layout")]
    MissingBlob(Digest),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Layout {
    dir: PathBuf,
}

/// A manifest descriptor from `index.json` (kept as JSON so unknown fields survive).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The manifest's digest.
    pub digest: Digest,
    /// The whole descriptor.
    pub descriptor: Value,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)
}

impl Layout {
    /// Opens an existing layout.
    pub fn open(dir: &Path) -> Result<Self, LayoutError> {
        let not = |why: &str| LayoutError::NotALayout(dir.to_owned(), why.to_owned());
        if dir.exists() && !dir.is_dir() {
            return Err(LayoutError::NotADirectory(dir.to_owned()));
        }
        if !dir.join("oci-layout").is_file() {
            return Err(not("no oci-layout file"));
        }
        let layout = Layout { dir: dir.to_owned() };
        layout.index().map_err(|e| not(&e.to_string()))?;
        Ok(layout)
    }

    /// Opens `dir` as a layout, creating it (and its parents) when absent.
    pub fn create(dir: &Path) -> Result<Self, LayoutError> {
        if dir.exists() && !dir.is_dir() {
            return Err(LayoutError::NotADirectory(dir.to_owned()));
        }
        fs::create_dir_all(dir.join("blobs"))?;
        if !dir.join("oci-layout").exists() {
            write_atomically(&dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        if !dir.join("index.json").exists() {
            write_atomically(&dir.join("index.json"), br#"{"schemaVersion":2,"manifests":[]}"#)?;
        }
        Ok(Layout { dir: dir.to_owned() })
    }

    fn index(&self) -> Result<Value, LayoutError> {
        let text = fs::read(self.dir.join("index.json"))?;
        let v: Value = serde_json::from_slice(&text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("index.json: {e}")))?;
        if !v["manifests"].is_array() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "index.json has no manifests list").into());
        }
        Ok(v)
    }

    /// The manifests listed in `index.json`.
    pub fn entries(&self) -> Result<Vec<Entry>, LayoutError> {
        let index = self.index()?;
        let mut out = Vec::new();
        for d in index["manifests"].as_array().into_iter().flatten() {
            let text = d["digest"].as_str().unwrap_or_default();
            let digest = Digest::parse(text)
                .map_err(|_| LayoutError::NotALayout(self.dir.clone(), format!("bad digest {text:?} in index.json")))?;
            out.push(Entry { digest, descriptor: d.clone() });
        }
        Ok(out)
    }

    /// The image named `tag`, or the only image when no tag is given.
    pub fn resolve(&self, tag: Option<&str>) -> Result<Entry, LayoutError> {
        let entries = self.entries()?;
        match tag {
            Some(t) => entries
                .into_iter()
                .find(|e| e.descriptor["annotations"][REF_NAME] == t)
                .ok_or_else(|| LayoutError::NoSuchImage(format!("no image tagged {t:?} in {}", self.dir.display()))),
            None if entries.len() == 1 => Ok(entries.into_iter().next().expect("one entry")),
            None => Err(LayoutError::NoSuchImage(format!(
                "{} holds {} images; name one with oci:{}:TAG",
                self.dir.display(),
                entries.len(),
                self.dir.display()
            ))),
        }
    }

    /// Where blob `digest` lives.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs").join(digest.algorithm().as_str()).join(digest.hex())
    }

    /// Whether the layout holds blob `digest` (by name; [`Layout::read_blob`] verifies).
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// A whole (small) blob, verified against its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, LayoutError> {
        let bytes = fs::read(self.blob_path(digest)).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => LayoutError::MissingBlob(digest.clone()),
            _ => e.into(),
        })?;
        let actual = Digest::of(digest.algorithm(), &bytes);
        if &actual != digest {
            return Err(LayoutError::DigestMismatch { expected: digest.clone(), actual });
        }
        Ok(bytes)
    }

    /// Copies `source` into the layout as blob `digest`, verifying every byte; the blob
    /// appears only complete and correct. Returns the number of bytes.
    pub fn write_blob(&self, digest: &Digest, mut source: impl Read) -> Result<u64, LayoutError> {
        let final_path = self.blob_path(digest);
        let dir = final_path.parent().expect("blob paths have a parent");
        fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{}.partial", digest.hex()));
        let mut file = File::create(&tmp)?;
        let mut hasher = Hasher::new(digest.algorithm());
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = match source.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e.into());
                }
            };
            hasher.update(&buf[..n]);
            file.write_all(&buf[..n])?;
            total += n as u64;
        }
        let actual = hasher.finish();
        if &actual != digest {
            let _ = fs::remove_file(&tmp);
            return Err(LayoutError::DigestMismatch { expected: digest.clone(), actual });
        }
        file.sync_all()?;
        fs::rename(&tmp, &final_path)?;
        Ok(total)
    }

    /// Lists `descriptor` in `index.json`, tagged `tag` (replacing an image of that tag).
    pub fn add_manifest(&self, descriptor: &Value, tag: Option<&str>) -> Result<(), LayoutError> {
        let mut index = self.index()?;
        let mut d = descriptor.clone();
        if let Some(t) = tag {
            d["annotations"][REF_NAME] = json!(t);
        }
        let list = index["manifests"].as_array_mut().expect("checked by index()");
        list.retain(|e| match tag {
            Some(t) => e["annotations"][REF_NAME] != t,
            None => e["digest"] != d["digest"],
        });
        list.push(d);
        write_atomically(
            &self.dir.join("index.json"),
            serde_json::to_string(&index).map_err(io::Error::other)?.as_bytes(),
        )?;
        Ok(())
    }
}

/// The sha256 digest of `bytes` (what a manifest written to a layout is named by).
pub fn sha256(bytes: &[u8]) -> Digest {
    Digest::of(Algorithm::Sha256, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_and_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(&dir.path().join("out")).unwrap();
        let blob = b"layer bytes".to_vec();
        let d = sha256(&blob);
        assert_eq!(l.write_blob(&d, &blob[..]).unwrap(), blob.len() as u64);
        assert_eq!(l.read_blob(&d).unwrap(), blob);
        let wrong = sha256(b"other");
        assert!(matches!(l.write_blob(&wrong, &blob[..]), Err(LayoutError::DigestMismatch { .. })));
        assert!(!l.has_blob(&wrong), "a mismatched blob never appears");

        let m = json!({ "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": d.to_string(), "size": blob.len() });
        l.add_manifest(&m, Some("v1")).unwrap();
        l.add_manifest(&m, Some("v2")).unwrap();
        l.add_manifest(&m, Some("v1")).unwrap();
        let reopened = Layout::open(l.dir.as_path()).unwrap();
        assert_eq!(reopened.entries().unwrap().len(), 2);
        assert_eq!(reopened.resolve(Some("v2")).unwrap().digest, d);
        assert!(matches!(reopened.resolve(None), Err(LayoutError::NoSuchImage(_))));
        assert!(matches!(reopened.resolve(Some("v3")), Err(LayoutError::NoSuchImage(_))));
    }

    #[test]
    fn refusals() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        fs::write(&file, b"x").unwrap();
        assert!(matches!(Layout::create(&file), Err(LayoutError::NotADirectory(_))));
        assert!(matches!(Layout::open(dir.path()), Err(LayoutError::NotALayout(..))));
        let l = Layout::create(&dir.path().join("l")).unwrap();
        let d = sha256(b"absent");
        assert!(matches!(l.read_blob(&d), Err(LayoutError::MissingBlob(_))));
        fs::create_dir_all(l.blob_path(&d).parent().unwrap()).unwrap();
        fs::write(l.blob_path(&d), b"tampered").unwrap();
        assert!(matches!(l.read_blob(&d), Err(LayoutError::DigestMismatch { .. })));
    }
}
