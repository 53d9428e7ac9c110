//! Images with known digests: random layers, a config, a manifest (or an index of several),
//! and writing them as OCI image layouts that skopeo can read.

use berth_core::{Algorithm, Digest, media};
use serde_json::{Value, json};
use std::path::Path;

/// A blob and its digest.
#[derive(Debug, Clone)]
pub struct Blob {
    /// Digest of `bytes`.
    pub digest: Digest,
    /// Media type it is referenced with.
    pub media_type: String,
    /// Content.
    pub bytes: Vec<u8>,
}

impl Blob {
    /// A blob of `bytes` hashed with `alg`.
    pub fn new(alg: Algorithm, media_type: &str, bytes: Vec<u8>) -> Self {
        Blob { digest: Digest::of(alg, &bytes), media_type: media_type.into(), bytes }
    }

    /// Its descriptor.
    pub fn descriptor(&self) -> Value {
        json!({ "mediaType": self.media_type, "digest": self.digest.to_string(), "size": self.bytes.len() })
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a seed names the content.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A single-platform image.
#[derive(Debug, Clone)]
pub struct Image {
    /// Config blob.
    pub config: Blob,
    /// Layer blobs.
    pub layers: Vec<Blob>,
    /// The manifest as a blob (its bytes are what is pushed).
    pub manifest: Blob,
}

impl Image {
    /// An OCI image with `layer_sizes` random layers, for `arch`, hashed with `alg`.
    pub fn oci(alg: Algorithm, seed: u64, layer_sizes: &[usize], arch: &str) -> Self {
        let layers: Vec<Blob> = layer_sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                Blob::new(alg, "application/vnd.oci.image.layer.v1.tar", random_bytes(seed * 1000 + i as u64, n))
            })
            .collect();
        let diff_ids: Vec<String> = layers.iter().map(|l| l.digest.to_string()).collect();
        let config = json!({
            "architecture": arch, "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "config": { "Labels": { "seed": seed.to_string() } }
        });
        let config = Blob::new(alg, "application/vnd.oci.image.config.v1+json", config.to_string().into_bytes());
        Self::with_parts(alg, config, layers, None)
    }

    /// A runnable-shaped image: each `(path, size)` becomes one gzip layer holding a real tar
    /// with that file of seeded random bytes, so umoci can unpack it and a docker archive
    /// holds it uncompressed. The config's diff IDs name the uncompressed tars.
    pub fn tarball(seed: u64, files: &[(&str, usize)], arch: &str) -> Self {
        let mut layers = Vec::new();
        let mut diff_ids = Vec::new();
        for (i, (path, size)) in files.iter().enumerate() {
            let mut tar = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_ustar();
            h.set_size(*size as u64);
            h.set_mode(0o644);
            h.set_mtime(0);
            tar.append_data(&mut h, path, &random_bytes(seed * 1000 + i as u64, *size)[..]).unwrap();
            let plain = tar.into_inner().unwrap();
            diff_ids.push(Digest::of(Algorithm::Sha256, &plain).to_string());
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            std::io::Write::write_all(&mut gz, &plain).unwrap();
            layers.push(Blob::new(
                Algorithm::Sha256,
                "application/vnd.oci.image.layer.v1.tar+gzip",
                gz.finish().unwrap(),
            ));
        }
        let config = json!({
            "architecture": arch, "os": "linux",
            "rootfs": { "type": "layers", "diff_ids": diff_ids },
            "config": { "Labels": { "seed": seed.to_string() } }
        });
        let config =
            Blob::new(Algorithm::Sha256, "application/vnd.oci.image.config.v1+json", config.to_string().into_bytes());
        Self::with_parts(Algorithm::Sha256, config, layers, None)
    }

    /// An image from given parts, optionally with a `subject`.
    pub fn with_parts(alg: Algorithm, config: Blob, layers: Vec<Blob>, subject: Option<&Blob>) -> Self {
        let mut m = json!({
            "schemaVersion": 2,
            "mediaType": media::OCI_MANIFEST,
            "config": config.descriptor(),
            "layers": layers.iter().map(Blob::descriptor).collect::<Vec<_>>(),
        });
        if let Some(s) = subject {
            m["subject"] = s.descriptor();
        }
        let manifest = Blob::new(alg, media::OCI_MANIFEST, m.to_string().into_bytes());
        Image { config, layers, manifest }
    }

    /// Config then layers.
    pub fn blobs(&self) -> Vec<&Blob> {
        std::iter::once(&self.config).chain(self.layers.iter()).collect()
    }
}

/// An artifact manifest (empty config, `artifactType`) referring to `subject`.
pub fn artifact(
    alg: Algorithm,
    artifact_type: &str,
    subject: &Blob,
    payload: &[u8],
    annotations: Value,
) -> (Vec<Blob>, Blob) {
    let empty = Blob::new(alg, media::OCI_EMPTY, b"{}".to_vec());
    let layer = Blob::new(alg, "application/vnd.example.payload", payload.to_vec());
    let m = json!({
        "schemaVersion": 2,
        "mediaType": media::OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": empty.descriptor(),
        "layers": [layer.descriptor()],
        "subject": subject.descriptor(),
        "annotations": annotations,
    });
    (vec![empty, layer], Blob::new(alg, media::OCI_MANIFEST, m.to_string().into_bytes()))
}

/// An OCI index of `images`, one per platform (`linux/<arch>` from each config).
pub fn index(alg: Algorithm, images: &[(&Image, &str)]) -> Blob {
    let manifests: Vec<Value> = images
        .iter()
        .map(|(img, arch)| {
            let mut d = img.manifest.descriptor();
            d["platform"] = json!({ "os": "linux", "architecture": arch });
            d
        })
        .collect();
    let idx = json!({ "schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": manifests });
    Blob::new(alg, media::OCI_INDEX, idx.to_string().into_bytes())
}

/// Writes an OCI image layout at `dir` holding `blobs`, with `top` tagged `tag` in index.json.
pub fn write_layout(dir: &Path, blobs: &[&Blob], top: &Blob, tag: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    for b in blobs.iter().copied().chain(std::iter::once(top)) {
        let d = dir.join("blobs").join(b.digest.algorithm().as_str());
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(b.digest.hex()), &b.bytes).unwrap();
    }
    let mut desc = top.descriptor();
    desc["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    let index = json!({ "schemaVersion": 2, "manifests": [desc] });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
}
