//! Raw OCI pushes and pulls with reqwest, for tests that need exact headers.

use crate::image::{Blob, Image};
use reqwest::{Client, StatusCode};

/// Resolves a `Location` header (relative or absolute) against `base`.
pub fn absolute(base: &str, location: &str) -> String {
    if location.starts_with("http://") || location.starts_with("https://") {
        location.to_owned()
    } else {
        format!("{base}{location}")
    }
}

/// Pushes a blob with POST then PUT; panics unless 201.
pub async fn push_blob(c: &Client, base: &str, repo: &str, blob: &Blob) {
    let r = c.post(format!("{base}/v2/{repo}/blobs/uploads/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "POST upload");
    let loc = absolute(base, r.headers()["location"].to_str().unwrap());
    let sep = if loc.contains('?') { '&' } else { '?' };
    let r = c
        .put(format!("{loc}{sep}digest={}", blob.digest))
        .header("content-type", "application/octet-stream")
        .body(blob.bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "PUT blob {}", blob.digest);
}

/// PATCHes `chunk` at `offset` to the upload at `location` (relative to `base`, or absolute);
/// panics unless 202. The next location, as the server sent it.
pub async fn patch_chunk(c: &Client, base: &str, location: &str, offset: usize, chunk: &[u8]) -> String {
    let r = c
        .patch(absolute(base, location))
        .header("content-type", "application/octet-stream")
        .header("content-range", format!("{offset}-{}", offset + chunk.len() - 1))
        .body(chunk.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "PATCH at {offset} on {base}: {}", r.text().await.unwrap_or_default());
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// PUTs a manifest under `reference`; the response.
pub async fn put_manifest(c: &Client, base: &str, repo: &str, reference: &str, m: &Blob) -> reqwest::Response {
    c.put(format!("{base}/v2/{repo}/manifests/{reference}"))
        .header("content-type", m.media_type.as_str())
        .body(m.bytes.clone())
        .send()
        .await
        .unwrap()
}

/// Pushes every blob of `img` and its manifest by digest, tagged `tag` (`?tag=`, so the tag
/// points at the manifest's own digest whatever its algorithm); panics unless all succeed.
pub async fn push_image(c: &Client, base: &str, repo: &str, img: &Image, tag: &str) {
    for b in img.blobs() {
        push_blob(c, base, repo, b).await;
    }
    let reference = format!("{}?tag={tag}", img.manifest.digest);
    let r = put_manifest(c, base, repo, &reference, &img.manifest).await;
    assert_eq!(r.status(), StatusCode::CREATED, "PUT manifest: {}", r.text().await.unwrap_or_default());
}

/// Pushes every blob of `img` and its manifest by tag `tag` (for registries that, like
/// distribution, ignore `?tag=` on a push by digest); panics unless all succeed.
pub async fn push_by_tag(c: &Client, base: &str, repo: &str, img: &Image, tag: &str) {
    for b in img.blobs() {
        push_blob(c, base, repo, b).await;
    }
    let r = put_manifest(c, base, repo, tag, &img.manifest).await;
    assert_eq!(r.status(), StatusCode::CREATED, "PUT manifest: {}", r.text().await.unwrap_or_default());
}

/// The `code` of the first error of an OCI error body.
pub async fn error_code(r: reqwest::Response) -> String {
    let v: serde_json::Value = r.json().await.expect("OCI error JSON");
    v["errors"][0]["code"].as_str().unwrap_or_default().to_owned()
}
