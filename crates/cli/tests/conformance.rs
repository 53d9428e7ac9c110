//! A mirror of the OCI distribution-spec conformance suite's workflows (pull, push, content
//! discovery, content management), run against a real `berth serve` for both sha256 and
//! sha512 content. Each test is named after the endpoint ID it exercises.

mod common;

use berth_core::{Algorithm, Digest, media};
use berth_testkit::image::{Blob, Image, artifact, random_bytes};
use berth_testkit::oci::{absolute, error_code, push_blob, push_image, put_manifest};
use common::started;
use reqwest::StatusCode;
use serde_json::{Value, json};

const REPO: &str = "conformance/app";
const OTHER: &str = "conformance/other";

fn image(alg: Algorithm, seed: u64) -> Image {
    Image::oci(alg, seed, &[1000, 2000], "amd64")
}

/// Pushes manifest `m` by digest and tags it (end-7b), so the tag points at `m`'s own digest.
async fn tag(c: &reqwest::Client, base: &str, m: &Blob, tag: &str) -> StatusCode {
    put_manifest(c, base, REPO, &format!("{}?tag={tag}", m.digest), m).await.status()
}

fn hdr(r: &reqwest::Response, name: &str) -> String {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// Generates one `#[tokio::test]` per algorithm for each workflow function.
macro_rules! for_both_algorithms {
    ($($name:ident),* $(,)?) => {
        mod sha256 {
            $( #[tokio::test] async fn $name() { super::$name(berth_core::Algorithm::Sha256).await } )*
        }
        mod sha512 {
            $( #[tokio::test] async fn $name() { super::$name(berth_core::Algorithm::Sha512).await } )*
        }
    };
}

for_both_algorithms!(
    end_1_base_answers_with_api_version,
    end_2_blob_get_head_and_missing,
    end_2_blob_range_is_206_and_416,
    end_3_manifest_get_head_by_tag_and_digest,
    end_4a_end_6_post_then_put,
    end_4b_monolithic_post_with_digest,
    end_4c_post_with_digest_algorithm,
    end_5_end_13_chunked_upload_in_order_only,
    end_5_streamed_patch_without_content_range,
    end_7_manifest_put_with_and_without_layers,
    end_7_index_and_docker_manifest_list,
    end_8_tags_list_paginates,
    end_9_delete_tag_and_manifest,
    end_10_delete_blob,
    end_11_mount_from_other_repository,
    end_12_referrers_and_artifact_type_filter,
    end_14_cancel_upload,
    catalog_paginates,
);

async fn end_1_base_answers_with_api_version(_: Algorithm) {
    let (s, c) = started();
    let r = c.get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hdr(&r, "docker-distribution-api-version"), "registry/2.0");
    let r = common::anonymous().get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "the registry is private");
    assert_eq!(hdr(&r, "www-authenticate"), format!("Bearer realm=\"{}/oauth2/token\",service=\"{}\"", s.base, s.addr));
    assert_eq!(hdr(&r, "docker-distribution-api-version"), "registry/2.0");
}

async fn end_2_blob_get_head_and_missing(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(2, 3000));
    let url = format!("{}/v2/{REPO}/blobs/{}", s.base, blob.digest);
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
    push_blob(&c, &s.base, REPO, &blob).await;
    let r = c.head(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hdr(&r, "docker-content-digest"), blob.digest.to_string());
    assert_eq!(hdr(&r, "content-length"), "3000");
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(hdr(&r, "docker-content-digest"), blob.digest.to_string());
    assert_eq!(r.bytes().await.unwrap().as_ref(), blob.bytes.as_slice());
    let other = format!("{}/v2/{OTHER}/blobs/{}", s.base, blob.digest);
    assert_eq!(c.get(&other).send().await.unwrap().status(), StatusCode::NOT_FOUND, "blobs are visible per repository");
}

async fn end_2_blob_range_is_206_and_416(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(3, 1000));
    push_blob(&c, &s.base, REPO, &blob).await;
    let url = format!("{}/v2/{REPO}/blobs/{}", s.base, blob.digest);
    let r = c.get(&url).header("range", "bytes=100-199").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(hdr(&r, "content-range"), "bytes 100-199/1000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &blob.bytes[100..200]);
    let r = c.get(&url).header("range", "bytes=900-").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &blob.bytes[900..]);
    let r = c.get(&url).header("range", "bytes=1000-").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(hdr(&r, "content-range"), "bytes */1000");
}

async fn end_3_manifest_get_head_by_tag_and_digest(alg: Algorithm) {
    let (s, c) = started();
    let img = image(alg, 4);
    let missing = format!("{}/v2/{REPO}/manifests/latest", s.base);
    let r = c.get(&missing).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
    push_image(&c, &s.base, REPO, &img, "latest").await;
    for reference in ["latest".to_owned(), img.manifest.digest.to_string()] {
        let url = format!("{}/v2/{REPO}/manifests/{reference}", s.base);
        let r = c.head(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(hdr(&r, "docker-content-digest"), img.manifest.digest.to_string());
        assert_eq!(hdr(&r, "content-length"), img.manifest.bytes.len().to_string());
        assert_eq!(hdr(&r, "content-type"), media::OCI_MANIFEST);
        let r = c.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(hdr(&r, "content-type"), media::OCI_MANIFEST);
        assert_eq!(r.bytes().await.unwrap().as_ref(), img.manifest.bytes.as_slice(), "stored byte for byte");
    }
}

async fn end_4a_end_6_post_then_put(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(5, 5000));
    let r = c.post(format!("{}/v2/{REPO}/blobs/uploads/", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = absolute(&s.base, &hdr(&r, "location"));
    assert!(!hdr(&r, "docker-upload-uuid").is_empty());
    let r = c.put(format!("{loc}?digest={}", blob.digest)).body(blob.bytes.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(hdr(&r, "docker-content-digest"), blob.digest.to_string());
    let pulled = c.get(absolute(&s.base, &hdr(&r, "location"))).send().await.unwrap();
    assert_eq!(pulled.bytes().await.unwrap().as_ref(), blob.bytes.as_slice());
}

async fn end_4b_monolithic_post_with_digest(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(6, 4096));
    let r = c
        .post(format!("{}/v2/{REPO}/blobs/uploads/?digest={}", s.base, blob.digest))
        .header("content-type", "application/octet-stream")
        .body(blob.bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(hdr(&r, "location"), format!("/v2/{REPO}/blobs/{}", blob.digest));
    let r = c.get(format!("{}/v2/{REPO}/blobs/{}", s.base, blob.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn end_4c_post_with_digest_algorithm(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(7, 777));
    let r =
        c.post(format!("{}/v2/{REPO}/blobs/uploads/?digest-algorithm={}", s.base, alg.as_str())).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = absolute(&s.base, &hdr(&r, "location"));
    let r = c.put(format!("{loc}?digest={}", blob.digest)).body(blob.bytes.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c.post(format!("{}/v2/{REPO}/blobs/uploads/?digest-algorithm=md5", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
}

async fn end_5_end_13_chunked_upload_in_order_only(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(8, 3000));
    let (a, b) = blob.bytes.split_at(1200);
    let r = c.post(format!("{}/v2/{REPO}/blobs/uploads/", s.base)).header("content-length", "0").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let loc = absolute(&s.base, &hdr(&r, "location"));
    let patch = |range: String, body: Vec<u8>, url: String| {
        let c = c.clone();
        async move {
            c.patch(url)
                .header("content-type", "application/octet-stream")
                .header("content-range", range)
                .header("content-length", body.len().to_string())
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let r = patch(format!("1200-{}", blob.bytes.len() - 1), b.to_vec(), loc.clone()).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "out-of-order chunk");
    assert_eq!(error_code(r).await, "RANGE_INVALID");
    let r = patch("0-1199".into(), a.to_vec(), loc.clone()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(hdr(&r, "range"), "0-1199");
    let loc = absolute(&s.base, &hdr(&r, "location"));
    let r = patch("0-1199".into(), a.to_vec(), loc.clone()).await;
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE, "repeated chunk");
    let r = c.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(hdr(&r, "range"), "0-1199");
    assert!(!hdr(&r, "location").is_empty());
    let r = patch(format!("1200-{}", blob.bytes.len() - 1), b.to_vec(), loc.clone()).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = c.put(format!("{loc}?digest={}", blob.digest)).header("content-length", "0").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let pulled = c.get(format!("{}/v2/{REPO}/blobs/{}", s.base, blob.digest)).send().await.unwrap();
    assert_eq!(pulled.bytes().await.unwrap().as_ref(), blob.bytes.as_slice());
}

async fn end_5_streamed_patch_without_content_range(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(9, 70_000));
    let r = c.post(format!("{}/v2/{REPO}/blobs/uploads/", s.base)).send().await.unwrap();
    let loc = absolute(&s.base, &hdr(&r, "location"));
    let r =
        c.patch(&loc).header("content-type", "application/octet-stream").body(blob.bytes.clone()).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(hdr(&r, "range"), "0-69999");
    let loc = absolute(&s.base, &hdr(&r, "location"));
    let r = c.put(format!("{loc}?digest={}", blob.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

async fn end_7_manifest_put_with_and_without_layers(alg: Algorithm) {
    let (s, c) = started();
    let img = image(alg, 10);
    push_image(&c, &s.base, REPO, &img, "v1").await;
    let empty = Image::with_parts(alg, img.config.clone(), vec![], None);
    let r = put_manifest(&c, &s.base, REPO, &empty.manifest.digest.to_string(), &empty.manifest).await;
    assert_eq!(r.status(), StatusCode::CREATED, "manifest without layers");
    assert_eq!(hdr(&r, "docker-content-digest"), empty.manifest.digest.to_string());
    assert_eq!(hdr(&r, "location"), format!("/v2/{REPO}/manifests/{}", empty.manifest.digest));
    let r = c.get(format!("{}/v2/{REPO}/manifests/{}", s.base, empty.manifest.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

async fn end_7_index_and_docker_manifest_list(alg: Algorithm) {
    let (s, c) = started();
    let (amd, arm) = (image(alg, 11), image(alg, 12));
    let index = berth_testkit::image::index(alg, &[(&amd, "amd64"), (&arm, "arm64")]);
    let r = put_manifest(&c, &s.base, REPO, "multi", &index).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "children must exist first");
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    for (img, d) in [(&amd, "amd"), (&arm, "arm")] {
        push_image(&c, &s.base, REPO, img, d).await;
    }
    let r = put_manifest(&c, &s.base, REPO, "multi", &index).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = c.get(format!("{}/v2/{REPO}/manifests/multi", s.base)).send().await.unwrap();
    assert_eq!(hdr(&r, "content-type"), media::OCI_INDEX);

    let docker_config =
        Blob::new(alg, "application/vnd.docker.container.image.v1+json", b"{\"os\":\"linux\"}".to_vec());
    push_blob(&c, &s.base, REPO, &docker_config).await;
    let m = json!({ "schemaVersion": 2, "mediaType": media::DOCKER_MANIFEST, "config": docker_config.descriptor(), "layers": [] });
    let dm = Blob::new(alg, media::DOCKER_MANIFEST, m.to_string().into_bytes());
    assert_eq!(tag(&c, &s.base, &dm, "docker").await, StatusCode::CREATED);
    let list = json!({ "schemaVersion": 2, "mediaType": media::DOCKER_MANIFEST_LIST, "manifests": [dm.descriptor()] });
    let list = Blob::new(alg, media::DOCKER_MANIFEST_LIST, list.to_string().into_bytes());
    assert_eq!(put_manifest(&c, &s.base, REPO, "dockerlist", &list).await.status(), StatusCode::CREATED);
    let r = c.get(format!("{}/v2/{REPO}/manifests/dockerlist", s.base)).send().await.unwrap();
    assert_eq!(hdr(&r, "content-type"), media::DOCKER_MANIFEST_LIST);
}

async fn end_8_tags_list_paginates(alg: Algorithm) {
    let (s, c) = started();
    let r = c.get(format!("{}/v2/{REPO}/tags/list", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
    let img = image(alg, 13);
    push_image(&c, &s.base, REPO, &img, "c").await;
    for t in ["a", "B", "b", "d"] {
        assert_eq!(put_manifest(&c, &s.base, REPO, t, &img.manifest).await.status(), StatusCode::CREATED);
    }
    let tags = |q: &'static str| {
        let (c, base) = (c.clone(), s.base.clone());
        async move {
            let r = c.get(format!("{base}/v2/{REPO}/tags/list{q}")).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let link = hdr(&r, "link");
            let v: Value = r.json().await.unwrap();
            assert_eq!(v["name"], REPO);
            (v["tags"].as_array().unwrap().iter().map(|t| t.as_str().unwrap().to_owned()).collect::<Vec<_>>(), link)
        }
    };
    assert_eq!(tags("").await.0, ["B", "a", "b", "c", "d"]);
    let (first, link) = tags("?n=2").await;
    assert_eq!(first, ["B", "a"]);
    assert_eq!(link, format!("</v2/{REPO}/tags/list?n=2&last=a>; rel=\"next\""));
    assert_eq!(tags("?n=2&last=a").await.0, ["b", "c"]);
    let (last_page, link) = tags("?n=2&last=c").await;
    assert_eq!((last_page, link), (vec!["d".to_owned()], String::new()));
    assert_eq!(tags("?n=0").await, (vec![], String::new()));
    let r = c.get(format!("{}/v2/{REPO}/tags/list?n=-1", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn end_9_delete_tag_and_manifest(alg: Algorithm) {
    let (s, c) = started();
    let img = image(alg, 14);
    push_image(&c, &s.base, REPO, &img, "one").await;
    let r = put_manifest(&c, &s.base, REPO, &format!("{}?tag=two&tag=three", img.manifest.digest), &img.manifest).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let echoed: Vec<&str> = r.headers().get_all("oci-tag").iter().map(|v| v.to_str().unwrap()).collect();
    assert_eq!(echoed, ["two", "three"]);
    let url = |r: &str| format!("{}/v2/{REPO}/manifests/{r}", s.base);
    assert_eq!(c.delete(url("one")).send().await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(c.get(url("one")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(c.get(url("two")).send().await.unwrap().status(), StatusCode::OK, "other tags stay");
    let r = c.get(format!("{}/v2/{REPO}/tags/list", s.base)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["tags"], json!(["three", "two"]));
    let digest = img.manifest.digest.to_string();
    assert_eq!(c.delete(url(&digest)).send().await.unwrap().status(), StatusCode::ACCEPTED);
    for r in [digest.as_str(), "two", "three"] {
        let resp = c.get(url(r)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{r} after manifest delete");
    }
    let r = c.delete(url(&digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");
}

async fn end_10_delete_blob(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(15, 100));
    push_blob(&c, &s.base, REPO, &blob).await;
    let url = format!("{}/v2/{REPO}/blobs/{}", s.base, blob.digest);
    assert_eq!(c.delete(&url).send().await.unwrap().status(), StatusCode::ACCEPTED);
    assert_eq!(c.get(&url).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let r = c.delete(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

async fn end_11_mount_from_other_repository(alg: Algorithm) {
    let (s, c) = started();
    let blob = Blob::new(alg, "application/octet-stream", random_bytes(16, 2048));
    push_blob(&c, &s.base, OTHER, &blob).await;
    let r =
        c.post(format!("{}/v2/{REPO}/blobs/uploads/?mount={}&from={OTHER}", s.base, blob.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(hdr(&r, "location"), format!("/v2/{REPO}/blobs/{}", blob.digest));
    assert_eq!(hdr(&r, "docker-content-digest"), blob.digest.to_string());
    let got = c.get(format!("{}/v2/{REPO}/blobs/{}", s.base, blob.digest)).send().await.unwrap();
    assert_eq!(got.bytes().await.unwrap().as_ref(), blob.bytes.as_slice());
    // No `from`: the spec's automatic content discovery, in the repositories the caller may
    // read (the Owner reads all; identity.rs covers a caller who may not).
    let r = c.post(format!("{}/v2/third/blobs/uploads/?mount={}", s.base, blob.digest)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "no from: mounted from a repository that holds it");
    assert_eq!(hdr(&r, "location"), format!("/v2/third/blobs/{}", blob.digest));
    let missing_anywhere = Digest::of(alg, b"held by no repository");
    let r = c.post(format!("{}/v2/third/blobs/uploads/?mount={missing_anywhere}", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "no from and nowhere held: an upload session");
    assert!(hdr(&r, "location").contains("/v2/third/blobs/uploads/"));
    let missing = Digest::of(alg, b"not pushed anywhere");
    let r = c.post(format!("{}/v2/{REPO}/blobs/uploads/?mount={missing}&from={OTHER}", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "unknown blob: an upload session");
}

async fn end_12_referrers_and_artifact_type_filter(alg: Algorithm) {
    let (s, c) = started();
    let img = image(alg, 17);
    let url = |d: &Digest, q: &str| format!("{}/v2/{REPO}/referrers/{d}{q}", s.base);
    let r = c.get(url(&img.manifest.digest, "")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "unknown subject: empty index, not 404");
    assert_eq!(hdr(&r, "content-type"), media::OCI_INDEX);
    assert_eq!(r.json::<Value>().await.unwrap()["manifests"], json!([]));
    let (sig_blobs, sig) = artifact(alg, "application/vnd.example.sig", &img.manifest, b"sig", json!({"k": "v"}));
    for b in &sig_blobs {
        push_blob(&c, &s.base, REPO, b).await;
    }
    let r = put_manifest(&c, &s.base, REPO, &sig.digest.to_string(), &sig).await;
    assert_eq!(r.status(), StatusCode::CREATED, "the subject may be pushed later");
    assert_eq!(hdr(&r, "oci-subject"), img.manifest.digest.to_string());
    push_image(&c, &s.base, REPO, &img, "v1").await;
    let (sbom_blobs, sbom) = artifact(alg, "application/vnd.example.sbom", &img.manifest, b"sbom", json!({}));
    for b in &sbom_blobs {
        push_blob(&c, &s.base, REPO, b).await;
    }
    assert_eq!(put_manifest(&c, &s.base, REPO, &sbom.digest.to_string(), &sbom).await.status(), StatusCode::CREATED);

    let r = c.get(url(&img.manifest.digest, "")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(hdr(&r, "oci-filters-applied").is_empty());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["mediaType"], media::OCI_INDEX);
    let listed = v["manifests"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let entry = listed.iter().find(|m| m["digest"] == sig.digest.to_string()).unwrap();
    assert_eq!(entry["artifactType"], "application/vnd.example.sig");
    assert_eq!(entry["size"], sig.bytes.len());
    assert_eq!(entry["annotations"], json!({"k": "v"}));
    let r = c.get(url(&img.manifest.digest, "?artifactType=application/vnd.example.sbom")).send().await.unwrap();
    assert_eq!(hdr(&r, "oci-filters-applied"), "artifactType");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(v["manifests"][0]["digest"], sbom.digest.to_string());
    let r = c.get(format!("{}/v2/{REPO}/referrers/sha256:nothex", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

async fn end_14_cancel_upload(alg: Algorithm) {
    let (s, c) = started();
    let r =
        c.post(format!("{}/v2/{REPO}/blobs/uploads/?digest-algorithm={}", s.base, alg.as_str())).send().await.unwrap();
    let loc = absolute(&s.base, &hdr(&r, "location"));
    let r = c.patch(&loc).body(random_bytes(18, 500)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(c.delete(&loc).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let r = c.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");
    assert_eq!(c.delete(&loc).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

async fn catalog_paginates(alg: Algorithm) {
    let (s, c) = started();
    for (i, repo) in ["zeta", "alpha/one", "alpha/two"].iter().enumerate() {
        push_image(&c, &s.base, repo, &image(alg, 20 + i as u64), "v1").await;
    }
    let r = c.get(format!("{}/v2/_catalog", s.base)).send().await.unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["repositories"], json!(["alpha/one", "alpha/two", "zeta"]));
    let r = c.get(format!("{}/v2/_catalog?n=1&last=alpha/one", s.base)).send().await.unwrap();
    assert_eq!(hdr(&r, "link"), "</v2/_catalog?n=1&last=alpha%2Ftwo>; rel=\"next\"");
    assert_eq!(r.json::<Value>().await.unwrap()["repositories"], json!(["alpha/two"]));
}
