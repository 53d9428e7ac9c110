//! Media types Berth recognises.

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// OCI empty descriptor's media type (artifacts without config).
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";

/// Whether `mt` is a manifest type Berth accepts on manifest PUT.
pub fn is_manifest(mt: &str) -> bool {
    matches!(mt, OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST)
}

/// Whether `mt` is an index (its descriptors are manifests, not blobs).
pub fn is_index(mt: &str) -> bool {
    matches!(mt, OCI_INDEX | DOCKER_MANIFEST_LIST)
}

/// The media type without parameters (`; charset=…`) and surrounding space.
pub fn essence(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}
