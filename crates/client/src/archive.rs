//! Docker archives (`docker-archive:FILE[:REF]`, the `docker save` format), read and written
//! as skopeo does.
//!
//! An archive holds `manifest.json` (a list of `{Config, RepoTags, Layers}`), each image's
//! config and its layers as uncompressed tars; it holds no registry manifest. Reading
//! [`unpack`]s the chosen image into a staging [`Layout`] with the manifest skopeo synthesises
//! (Docker schema 2, layers named by their diff IDs), so an archive read by Berth and by
//! skopeo has one digest. Writing [`pack`]s an image from a layout: gzip layers are
//! decompressed, every layer is checked against the config's diff IDs, and the tar appears
//! at its final name only complete.

use crate::layout::{Layout, LayoutError, sha256};
use crate::reference::ImageRef;
use berth_core::{Digest, media};
use flate2::read::GzDecoder;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};

/// The largest `manifest.json` or config read into memory.
const MAX_JSON: u64 = 16 << 20;
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// The layer media type skopeo gives archive layers (they are uncompressed all the same).
const LAYER_MEDIA_TYPE: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Why an archive cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The file is not a readable docker archive.
    #[error("{file} is not a valid docker archive: {why}")]
    Corrupt {
        /// The archive.
        file: PathBuf,
        /// What is wrong, in words.
        why: String,
    },
    /// The archive holds no image of that reference, or several and none was named.
    #[error("{0}")]
    NoSuchImage(String),
    /// The image cannot be put in an archive.
    #[error("{0}")]
    Unsupported(String),
    /// The staging layout failed.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// Reading or writing failed.
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// One member of the tar: where its bytes are, or what it links to.
#[derive(Debug, Clone)]
struct Member {
    offset: u64,
    size: u64,
    link: Option<String>,
}

/// A tar's members by normalised path, so any one can be read without another pass.
struct Members {
    file: PathBuf,
    by_path: HashMap<String, Member>,
}

/// `./a/../b/c` → `b/c`; `None` for a path that climbs out of the archive.
fn normalise(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            Component::ParentDir => {
                parts.pop()?;
            }
            Component::CurDir | Component::RootDir => {}
            Component::Prefix(_) => return None,
        }
    }
    Some(parts.join("/"))
}

impl Members {
    fn scan(file: &Path, shown: &Path) -> Result<Self, ArchiveError> {
        let corrupt = |why: String| ArchiveError::Corrupt { file: shown.to_owned(), why };
        let mut archive = tar::Archive::new(BufReader::new(File::open(file)?));
        let mut by_path = HashMap::new();
        let entries = archive.entries().map_err(|e| corrupt(format!("cannot read the tar ({e})")))?;
        for entry in entries {
            let entry = entry.map_err(|e| corrupt(format!("cannot read the tar ({e})")))?;
            let path = entry.path().map_err(|e| corrupt(format!("bad member name ({e})")))?;
            let Some(name) = path.to_str().and_then(normalise) else { continue };
            let link = match entry.header().entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    let target = entry.link_name().ok().flatten().and_then(|t| t.to_str().map(str::to_owned));
                    let Some(target) = target else { continue };
                    Some(if entry.header().entry_type() == tar::EntryType::Symlink {
                        let dir = Path::new(&name).parent().and_then(Path::to_str).unwrap_or("");
                        format!("{dir}/{target}")
                    } else {
                        target
                    })
                }
                _ => None,
            };
            by_path.insert(name, Member { offset: entry.raw_file_position(), size: entry.size(), link });
        }
        let len = std::fs::metadata(file)?.len();
        if let Some((name, _)) = by_path.iter().find(|(_, m)| m.link.is_none() && m.offset + m.size > len) {
            return Err(corrupt(format!("{name} is cut short")));
        }
        Ok(Members { file: file.to_owned(), by_path })
    }

    /// The member at `path`, following up to eight links.
    fn get(&self, path: &str, shown: &Path) -> Result<Member, ArchiveError> {
        let mut name = normalise(path).unwrap_or_default();
        for _ in 0..8 {
            let m = self.by_path.get(&name).ok_or_else(|| ArchiveError::Corrupt {
                file: shown.to_owned(),
                why: format!("{path} is listed in manifest.json but not in the archive"),
            })?;
            match &m.link {
                Some(target) => name = normalise(target).unwrap_or_default(),
                None => return Ok(m.clone()),
            }
        }
        Err(ArchiveError::Corrupt { file: shown.to_owned(), why: format!("{path} is a loop of links") })
    }

    fn open(&self, m: &Member) -> io::Result<io::Take<File>> {
        let mut f = File::open(&self.file)?;
        f.seek(SeekFrom::Start(m.offset))?;
        Ok(f.take(m.size))
    }

    fn read_small(&self, path: &str, shown: &Path) -> Result<Vec<u8>, ArchiveError> {
        let m = self.get(path, shown)?;
        if m.size > MAX_JSON {
            return Err(ArchiveError::Corrupt { file: shown.to_owned(), why: format!("{path} is too large") });
        }
        let mut out = Vec::with_capacity(m.size as usize);
        self.open(&m)?.read_to_end(&mut out)?;
        Ok(out)
    }
}

/// The manifest skopeo synthesises for an archived image, byte for byte (Go's field order).
fn synthesise(config: &[u8], layers: &[(Digest, u64)]) -> Vec<u8> {
    let layers: Vec<String> = layers
        .iter()
        .map(|(d, size)| format!(r#"{{"mediaType":"{LAYER_MEDIA_TYPE}","size":{size},"digest":"{d}"}}"#))
        .collect();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"{}","size":{},"digest":"{}"}},"layers":[{}]}}"#,
        media::DOCKER_MANIFEST,
        media::DOCKER_CONFIG,
        config.len(),
        sha256(config),
        layers.join(",")
    )
    .into_bytes()
}

/// Whether two references name the same image once normalised (`app:v1` = `docker.io/library/app:v1`).
fn same_image(a: &str, b: &str) -> bool {
    match (ImageRef::parse(a), ImageRef::parse(b)) {
        (Ok(x), Ok(y)) => x.to_string() == y.to_string(),
        _ => a == b,
    }
}

/// The diff IDs a config lists.
fn diff_ids(config: &[u8]) -> Result<Vec<Digest>, String> {
    let v: Value = serde_json::from_slice(config).map_err(|e| format!("the config is not JSON ({e})"))?;
    v["rootfs"]["diff_ids"]
        .as_array()
        .ok_or("the config lists no rootfs.diff_ids")?
        .iter()
        .map(|d| d.as_str().and_then(|s| Digest::parse(s).ok()).ok_or_else(|| format!("bad diff ID {d}")))
        .collect()
}

/// Reads the image `reference` names (a `RepoTags` entry or `@N`; the only image when `None`)
/// from archive `file` into a new layout in `staging`, verifying every layer against the
/// config's diff IDs. Returns the layout, holding one untagged image.
pub fn unpack(file: &Path, reference: Option<&str>, staging: &Path) -> Result<Layout, ArchiveError> {
    let corrupt = |why: String| ArchiveError::Corrupt { file: file.to_owned(), why };
    let mut head = [0u8; 4];
    let n = File::open(file)?.read(&mut head)?;
    let tar_path = if head[..n].starts_with(GZIP_MAGIC) {
        // `docker save | gzip`: decompress once, then read members in place.
        let plain = staging.join("archive.tar");
        let mut out = File::create(&plain)?;
        io::copy(&mut GzDecoder::new(BufReader::new(File::open(file)?)), &mut out)
            .map_err(|e| corrupt(format!("cannot decompress it ({e})")))?;
        plain
    } else {
        file.to_owned()
    };
    let members = Members::scan(&tar_path, file)?;
    let manifest = members.read_small("manifest.json", file).map_err(|e| match e {
        ArchiveError::Corrupt { .. } => corrupt("it has no manifest.json".into()),
        other => other,
    })?;
    let items: Vec<Value> =
        serde_json::from_slice(&manifest).map_err(|e| corrupt(format!("manifest.json is not a JSON list ({e})")))?;
    let item = pick(&items, reference, file)?;
    let config_path =
        item["Config"].as_str().ok_or_else(|| corrupt("an image in manifest.json has no Config".into()))?;
    let config = members.read_small(config_path, file)?;
    let ids = diff_ids(&config).map_err(|why| corrupt(format!("{config_path}: {why}")))?;
    let paths: Vec<&str> = item["Layers"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if paths.len() != ids.len() {
        return Err(corrupt(format!("{} layers are listed but the config names {}", paths.len(), ids.len())));
    }
    let layout = Layout::create(&staging.join("layout"))?;
    layout.write_blob(&sha256(&config), &config[..])?;
    let mut layers = Vec::new();
    for (path, id) in paths.iter().zip(&ids) {
        let member = members.get(path, file)?;
        let mut reader = BufReader::new(members.open(&member)?);
        let compressed = reader.fill_buf()?.starts_with(GZIP_MAGIC);
        let written =
            if compressed { layout.write_blob(id, GzDecoder::new(reader)) } else { layout.write_blob(id, reader) };
        let size = written.map_err(|e| match e {
            LayoutError::DigestMismatch { actual, .. } => {
                corrupt(format!("layer {path} has the digest {actual}, but the config names {id}"))
            }
            LayoutError::Io(e) => corrupt(format!("layer {path} cannot be read ({e})")),
            other => other.into(),
        })?;
        layers.push((id.clone(), size));
    }
    let bytes = synthesise(&config, &layers);
    let digest = sha256(&bytes);
    layout.write_blob(&digest, &bytes[..])?;
    layout.add_manifest(
        &json!({ "mediaType": media::DOCKER_MANIFEST, "digest": digest.to_string(), "size": bytes.len() }),
        None,
    )?;
    Ok(layout)
}

fn pick<'v>(items: &'v [Value], reference: Option<&str>, file: &Path) -> Result<&'v Value, ArchiveError> {
    let tags = |v: &Value| -> Vec<String> {
        v["RepoTags"].as_array().into_iter().flatten().filter_map(|t| t.as_str().map(str::to_owned)).collect()
    };
    match reference {
        None if items.len() == 1 => Ok(&items[0]),
        None => Err(ArchiveError::NoSuchImage(format!(
            "{} holds {} images; name one with docker-archive:{}:REF or :@N",
            file.display(),
            items.len(),
            file.display()
        ))),
        Some(r) => {
            let by_index = r.strip_prefix('@').and_then(|n| n.parse::<usize>().ok()).and_then(|n| items.get(n));
            by_index.or_else(|| items.iter().find(|i| tags(i).iter().any(|t| same_image(t, r)))).ok_or_else(|| {
                let known: Vec<String> = items.iter().flat_map(tags).collect();
                ArchiveError::NoSuchImage(format!(
                    "{} holds no image {r:?} (it holds {})",
                    file.display(),
                    if known.is_empty() { "only untagged images".to_owned() } else { known.join(", ") }
                ))
            })
        }
    }
}

/// Appends a regular file member of `size` bytes read from `data`.
fn append(tar: &mut tar::Builder<impl Write>, name: &str, size: u64, data: impl Read) -> io::Result<()> {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o444);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    tar.append_data(&mut h, name, data)
}

/// Writes the image manifest `digest` of `layout` to archive `file` as `docker save` does,
/// tagged `repo_tag` if given. Gzip layers are decompressed (into `staging`) and every layer
/// must match the config's diff IDs. The archive is replaced atomically. Returns the digest
/// of the manifest the archive reads back as.
pub fn pack(
    layout: &Layout,
    digest: &Digest,
    repo_tag: Option<&str>,
    file: &Path,
    staging: &Path,
) -> Result<Digest, ArchiveError> {
    let unsupported = |why: String| ArchiveError::Unsupported(why);
    let manifest: Value = serde_json::from_slice(&layout.read_blob(digest)?)
        .map_err(|e| unsupported(format!("manifest {digest} is not JSON ({e})")))?;
    if manifest["manifests"].is_array() {
        return Err(unsupported("a docker archive holds single-platform images; pick one with --platform".into()));
    }
    let config_digest = Digest::parse(manifest["config"]["digest"].as_str().unwrap_or_default())
        .map_err(|_| unsupported(format!("manifest {digest} names no config")))?;
    let config = layout.read_blob(&config_digest)?;
    let ids = diff_ids(&config).map_err(|why| unsupported(format!("config {config_digest}: {why}")))?;
    let layers: Vec<Digest> = manifest["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["digest"].as_str().and_then(|d| Digest::parse(d).ok()))
        .collect();
    if layers.len() != ids.len() {
        return Err(unsupported(format!(
            "manifest {digest} has {} layers but its config names {} diff IDs",
            layers.len(),
            ids.len()
        )));
    }
    // Each layer as an uncompressed tar named by its diff ID.
    let plain = Layout::create(&staging.join("plain"))?;
    let mut sources = Vec::new();
    for (layer, id) in layers.iter().zip(&ids) {
        let path = layout.blob_path(layer);
        let mut head = [0u8; 4];
        let n = File::open(&path).map_err(|_| LayoutError::MissingBlob(layer.clone()))?.read(&mut head)?;
        let source = if head[..n].starts_with(GZIP_MAGIC) {
            if !plain.has_blob(id) {
                plain.write_blob(id, GzDecoder::new(BufReader::new(File::open(&path)?))).map_err(|e| match e {
                    LayoutError::DigestMismatch { actual, .. } => {
                        unsupported(format!("layer {layer} decompresses to {actual}, but the config names {id}"))
                    }
                    other => other.into(),
                })?;
            }
            plain.blob_path(id)
        } else if head[..n].starts_with(ZSTD_MAGIC) {
            return Err(unsupported(format!("layer {layer} is zstd-compressed; docker archives hold tar or gzip")));
        } else if layer != id {
            return Err(unsupported(format!("layer {layer} is uncompressed but its config names {id}")));
        } else {
            path
        };
        sources.push((id.clone(), source));
    }
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = tempfile::NamedTempFile::new_in(parent)?;
    let mut tar = tar::Builder::new(io::BufWriter::new(tmp.as_file()));
    let config_name = format!("{}.json", config_digest.hex());
    append(&mut tar, &config_name, config.len() as u64, &config[..])?;
    let mut written = std::collections::HashSet::new();
    let mut names = Vec::new();
    let mut sizes = Vec::new();
    for (id, source) in &sources {
        let name = format!("{}.tar", id.hex());
        let size = std::fs::metadata(source)?.len();
        if written.insert(id.clone()) {
            append(&mut tar, &name, size, File::open(source)?)?;
        }
        names.push(name);
        sizes.push((id.clone(), size));
    }
    let tags: Vec<&str> = repo_tag.into_iter().collect();
    let list = json!([{ "Config": config_name, "RepoTags": tags, "Layers": names }]);
    let list = serde_json::to_vec(&list).map_err(io::Error::other)?;
    append(&mut tar, "manifest.json", list.len() as u64, &list[..])?;
    tar.into_inner()?.flush()?;
    tmp.as_file().sync_all()?;
    tmp.persist(file).map_err(|e| e.error)?;
    Ok(sha256(&synthesise(&config, &sizes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalise_and_never_climb_out() {
        assert_eq!(normalise("./a/../b/c").as_deref(), Some("b/c"));
        assert_eq!(normalise("x/layer.tar").as_deref(), Some("x/layer.tar"));
        assert_eq!(normalise("../etc/passwd"), None);
    }

    #[test]
    fn synthesised_manifest_matches_skopeo() {
        // skopeo 1.9.3 `inspect --raw docker-archive:` of a one-layer archive.
        let config = br#"{"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let id = sha256(b"layer");
        let m = String::from_utf8(synthesise(config, &[(id.clone(), 5)])).unwrap();
        assert!(m.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":42,"#), "{m}");
        assert!(m.ends_with(&format!(r#""layers":[{{"mediaType":"{LAYER_MEDIA_TYPE}","size":5,"digest":"{id}"}}]}}"#)));
    }
}
