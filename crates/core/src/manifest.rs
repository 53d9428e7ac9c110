//! Manifest parsing and validation: OCI image manifest and index, Docker schema 2 manifest
//! and manifest list, and artifacts. The bytes are never rewritten; this module only reads
//! what a manifest references so the registry can check it and index it.

use crate::digest::Digest;
use crate::media;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Largest manifest accepted (distribution, zot, trow and ACR all use 4 MiB).
pub const MAX_MANIFEST_BYTES: usize = 4 * 1024 * 1024;

/// Why a manifest was refused before any lookup.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Malformed, of the wrong shape, or inconsistent with its `Content-Type`.
    #[error("{0}")]
    Invalid(String),
    /// `Content-Type` is not a manifest media type Berth stores.
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDescriptor {
    media_type: Option<String>,
    digest: String,
    size: i64,
    #[serde(default)]
    urls: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawManifest {
    schema_version: Option<i64>,
    media_type: Option<String>,
    artifact_type: Option<String>,
    config: Option<RawDescriptor>,
    layers: Option<Vec<RawDescriptor>>,
    manifests: Option<Vec<RawDescriptor>>,
    subject: Option<RawDescriptor>,
    annotations: Option<Map<String, Value>>,
}

/// What a valid manifest references and how it describes itself.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedManifest {
    /// The media type it is stored and served under.
    pub media_type: String,
    /// Blobs that must be present in the repository (config and distributable layers).
    pub blobs: Vec<Digest>,
    /// Manifests that must be present in the repository (children of an index).
    pub children: Vec<Digest>,
    /// Layers that may live elsewhere (`urls`, non-distributable): not required here.
    pub foreign: Vec<Digest>,
    /// The manifest this one refers to (may be absent from the registry).
    pub subject: Option<Digest>,
    /// `artifactType`, else the config's media type (what referrers report).
    pub artifact_type: Option<String>,
    /// The manifest's annotations, as JSON text.
    pub annotations: Option<String>,
}

fn descriptor(d: &RawDescriptor, field: &str) -> Result<Digest, ManifestError> {
    if d.size < 0 {
        return Err(ManifestError::Invalid(format!("{field}: negative size")));
    }
    if d.media_type.as_deref().is_some_and(str::is_empty) {
        return Err(ManifestError::Invalid(format!("{field}: empty mediaType")));
    }
    Digest::parse(&d.digest).map_err(|e| ManifestError::Invalid(format!("{field}: {e} {:?}", d.digest)))
}

/// Whether a layer is pushed elsewhere (a foreign or non-distributable layer with URLs) and so
/// need not be present here, as distribution decides.
fn is_foreign(d: &RawDescriptor) -> bool {
    !d.urls.is_empty()
        || d.media_type.as_deref().is_some_and(|m| m.contains(".nondistributable.") || m.contains(".foreign."))
}

/// Parses `bytes` pushed with `Content-Type: content_type` (parameters ignored).
///
/// The body's `mediaType`, when present, must equal the `Content-Type`; when absent the
/// `Content-Type` decides. Every descriptor digest must be well formed.
pub fn parse(content_type: &str, bytes: &[u8]) -> Result<ParsedManifest, ManifestError> {
    let ct = media::essence(content_type);
    let raw: RawManifest =
        serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(format!("malformed manifest JSON: {e}")))?;
    let media_type = match (&raw.media_type, ct) {
        (Some(body), ct) if !ct.is_empty() && body != ct => {
            return Err(ManifestError::Invalid(format!("mediaType {body:?} does not match Content-Type {ct:?}")));
        }
        (Some(body), _) => body.clone(),
        (None, ct) if !ct.is_empty() => ct.to_owned(),
        (None, _) => {
            return Err(ManifestError::Invalid("no mediaType and no Content-Type".into()));
        }
    };
    if !media::is_manifest(&media_type) {
        return Err(ManifestError::UnsupportedMediaType(media_type));
    }
    if raw.schema_version != Some(2) {
        return Err(ManifestError::Invalid("schemaVersion must be 2".into()));
    }
    let mut blobs = Vec::new();
    let mut children = Vec::new();
    let mut foreign = Vec::new();
    let mut artifact_type = raw.artifact_type.clone();
    if media::is_index(&media_type) {
        let list = raw.manifests.as_ref().ok_or_else(|| ManifestError::Invalid("index without manifests".into()))?;
        for (i, d) in list.iter().enumerate() {
            children.push(descriptor(d, &format!("manifests[{i}]"))?);
        }
    } else {
        let config = raw.config.as_ref().ok_or_else(|| ManifestError::Invalid("manifest without config".into()))?;
        blobs.push(descriptor(config, "config")?);
        if artifact_type.is_none() {
            artifact_type = config.media_type.clone();
        }
        let layers = raw.layers.as_ref().ok_or_else(|| ManifestError::Invalid("manifest without layers".into()))?;
        for (i, d) in layers.iter().enumerate() {
            let digest = descriptor(d, &format!("layers[{i}]"))?;
            if is_foreign(d) {
                foreign.push(digest);
            } else {
                blobs.push(digest);
            }
        }
    }
    let subject = raw.subject.as_ref().map(|d| descriptor(d, "subject")).transpose()?;
    let annotations = raw.annotations.filter(|m| !m.is_empty()).map(|m| Value::Object(m).to_string());
    Ok(ParsedManifest { media_type, blobs, children, foreign, subject, artifact_type, annotations })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn image(extra: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{D}","size":0}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D}","size":0}}]{extra}}}"#,
            media::OCI_MANIFEST
        )
    }

    #[test]
    fn image_manifest() {
        let p = parse(media::OCI_MANIFEST, image("").as_bytes()).unwrap();
        assert_eq!(p.blobs.len(), 2);
        assert_eq!(p.artifact_type.as_deref(), Some("application/vnd.oci.image.config.v1+json"));
        assert!(p.subject.is_none());
        let with_subject = image(&format!(
            r#","subject":{{"mediaType":"{}","digest":"{D}","size":1}},"annotations":{{"a":"b"}}"#,
            media::OCI_MANIFEST
        ));
        let p = parse(&format!("{}; charset=utf-8", media::OCI_MANIFEST), with_subject.as_bytes()).unwrap();
        assert_eq!(p.subject.unwrap().to_string(), D);
        assert_eq!(p.annotations.as_deref(), Some(r#"{"a":"b"}"#));
    }

    #[test]
    fn refusals() {
        assert!(matches!(parse(media::OCI_MANIFEST, b"{"), Err(ManifestError::Invalid(_))));
        assert!(matches!(parse(media::OCI_INDEX, image("").as_bytes()), Err(ManifestError::Invalid(_))));
        assert!(matches!(parse("text/plain", br#"{"schemaVersion":2}"#), Err(ManifestError::UnsupportedMediaType(_))));
        let bad_digest = image("").replace(&D[10..20], "XYZ");
        assert!(matches!(parse(media::OCI_MANIFEST, bad_digest.as_bytes()), Err(ManifestError::Invalid(_))));
    }

    #[test]
    fn index() {
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","digest":"{D}","size":3}}]}}"#,
            media::OCI_INDEX,
            media::OCI_MANIFEST
        );
        let p = parse("", idx.as_bytes()).unwrap();
        assert_eq!(p.children.len(), 1);
        assert!(p.blobs.is_empty());
    }
}
