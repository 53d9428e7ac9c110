//! Shared by the pull-through cache's tests: cache rules through the admin API, pushes to an
//! upstream, and pulls that check every byte.

use berth_testkit::TestServer;
use berth_testkit::image::Image;
use futures_util::StreamExt;
use reqwest::{Client, StatusCode};
use serde_json::json;

/// The `Accept` of a client pulling images and indexes.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json";

/// Creates a credential set (when `login` is given) and a rule through the admin API.
pub async fn rule(s: &TestServer, name: &str, source: &str, target: &str, login: Option<(&str, &str, &str)>) {
    let c = s.client();
    let mut body = json!({ "name": name, "source": source, "target": target });
    if let Some((server, user, password)) = login {
        let set =
            json!({ "name": format!("{name}-login"), "loginServer": server, "username": user, "password": password });
        let r = c.post(format!("{}/admin/v1/credential-sets", s.base)).json(&set).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
        body["credentialSet"] = json!(format!("{name}-login"));
    }
    let r = c.post(format!("{}/admin/v1/cache-rules", s.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
}

/// Pushes an image by tag (distribution ignores `?tag=` on a push by digest).
#[allow(unused_imports)]
pub use berth_testkit::oci::push_by_tag as push;

pub fn with_basic(user: &str, password: &str) -> Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, berth_testkit::basic(user, password).parse().unwrap());
    berth_testkit::http_client().default_headers(headers).build().unwrap()
}

pub async fn get_manifest(c: &Client, base: &str, repo: &str, reference: &str) -> reqwest::Response {
    c.get(format!("{base}/v2/{repo}/manifests/{reference}")).header("accept", ACCEPT).send().await.unwrap()
}

/// Pulls `img` from `repo:reference` of `base` the way a client does (the manifest, then the
/// blobs three at a time, as containerd), checking every byte.
pub async fn pull(c: &Client, base: &str, repo: &str, reference: &str, img: &Image) {
    let r = get_manifest(c, base, repo, reference).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    assert_eq!(r.bytes().await.unwrap(), img.manifest.bytes, "the manifest byte for byte");
    let blobs = img.blobs().into_iter().map(|b| async move {
        let r = c.get(format!("{base}/v2/{repo}/blobs/{}", b.digest)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap(), b.bytes, "{}", b.digest);
    });
    futures_util::stream::iter(blobs).buffer_unordered(3).collect::<Vec<()>>().await;
}
