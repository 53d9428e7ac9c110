//! The web UI in a real browser: headless Chromium (Debian's `chromium` and
//! `chromium-driver`, driven over WebDriver by testkit's `browser`) against a real `berth
//! serve`, with a multi-arch image pushed by skopeo and a signature pushed beside it. The
//! journey: `/` sends the browser to sign in; sign in; the repository list; the tag with both
//! platforms and a pull command to copy; the index with its platforms and its referrer; the
//! image with its config; sign out, after which the old cookie opens nothing. Hostile text in
//! labels and annotations is shown as text and never runs. Screenshots of each page go to
//! `target/ui-screenshots` (or `$BERTH_ARTIFACTS`).

mod common;

use berth_core::Algorithm;
use berth_testkit::browser::Browser;
use berth_testkit::image::{self, Blob, Image};
use common::ui::shot;
use serde_json::json;
use std::process::Command;

/// Text that would run if it reached the page unescaped.
const SCRIPT: &str = "<script>window.pwned=1</script>";
const IMG: &str = "\"><img src=x onerror=\"window.pwned=1\">";

/// An amd64 image whose config carries hostile labels, an entrypoint and history.
fn hostile_image() -> Image {
    let layer = Blob::new(Algorithm::Sha256, "application/vnd.oci.image.layer.v1.tar", image::random_bytes(61, 40_000));
    let config = json!({
        "architecture": "amd64", "os": "linux", "created": "2026-11-30T10:00:00Z",
        "rootfs": { "type": "layers", "diff_ids": [layer.digest.to_string()] },
        "config": { "Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "Labels": { "title": SCRIPT, "note": IMG } },
        "history": [{ "created": "2026-11-30T10:00:00Z", "created_by": format!("RUN echo '{SCRIPT}'") }]
    });
    let config =
        Blob::new(Algorithm::Sha256, "application/vnd.oci.image.config.v1+json", config.to_string().into_bytes());
    Image::with_parts(Algorithm::Sha256, config, vec![layer], None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_browse_a_multi_arch_tag_and_sign_out() {
    let s = common::server(&[]);
    let amd = hostile_image();
    let arm = Image::oci(Algorithm::Sha256, 62, &[30_000], "arm64");
    let index = image::index(Algorithm::Sha256, &[(&amd, "amd64"), (&arm, "arm64")]);
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("src");
    let mut blobs = amd.blobs();
    blobs.extend(arm.blobs());
    blobs.extend([&amd.manifest, &arm.manifest]);
    image::write_layout(&layout, &blobs, &index, "v1");
    let creds = format!("{}:{}", s.owner.0, s.owner.1);
    let out = Command::new("skopeo")
        .args(["copy", "--quiet", "--all", "--preserve-digests", "--dest-tls-verify=false", "--dest-creds", &creds])
        .arg(format!("oci:{}:v1", layout.display()))
        .arg(format!("docker://{}/ui/multi:v1", s.addr))
        .output()
        .expect("skopeo runs (scripts/install-test-deps installs it)");
    assert!(out.status.success(), "skopeo: {}", String::from_utf8_lossy(&out.stderr));
    // A signature referring to the index, with hostile annotations.
    let owner = s.client();
    let annotations = json!({ "org.example.signer": SCRIPT, "org.example.note": IMG });
    let (parts, sig) =
        image::artifact(Algorithm::Sha256, "application/vnd.example.signature", &index, b"sig", annotations);
    for p in &parts {
        berth_testkit::oci::push_blob(&owner, &s.base, "ui/multi", p).await;
    }
    let r = berth_testkit::oci::put_manifest(&owner, &s.base, "ui/multi", &sig.digest.to_string(), &sig).await;
    assert_eq!(r.status(), 201);

    let b = Browser::start().await;
    b.goto(&format!("{}/", s.base)).await;
    assert!(b.current_url().await.ends_with("/ui/sign-in"), "a browser at / is sent to sign in");
    shot(&b, "sign-in").await;
    b.find("#username").await.send_keys(&s.owner.0).await;
    b.find("#password").await.send_keys(&s.owner.1).await;
    b.find("#sign-in button[type=submit]").await.click().await;
    b.wait_text("#who", &s.owner.0).await;
    let cookies = b.cookies().await;
    let session = cookies.iter().find(|c| c.name == "berth_session").expect("a session cookie");
    assert!(session.http_only, "HttpOnly");
    assert_eq!(session.same_site.as_deref(), Some("Strict"));
    assert!(session.expiry.is_some(), "it expires");
    let old_cookie = session.value.clone();

    let repo = b.wait_text("#repos a.repo", "ui/multi").await;
    shot(&b, "repositories").await;
    repo.click().await;
    b.wait_text("#repo-name", "ui/multi").await;
    let row = b.find("#tags tr.tag").await;
    assert_eq!(row.find(".tag-name").await.text().await, "v1");
    let platforms = row.find(".platforms").await.text().await;
    assert!(platforms.contains("linux/amd64") && platforms.contains("linux/arm64"), "both platforms: {platforms}");
    let copy = row.find("button.copy").await;
    assert_eq!(copy.attr("data-copy").await.as_deref(), Some(format!("docker pull {}/ui/multi:v1", s.addr).as_str()));
    copy.click().await;
    shot(&b, "tags").await;

    // Lock the tag: the chips say so and the registry refuses its delete; then unlock.
    row.find("form.lock button").await.click().await;
    b.wait_text("#tags tr.tag", "write-locked").await;
    let delete = owner.delete(format!("{}/v2/ui/multi/manifests/v1", s.base)).send().await.unwrap();
    assert!(!delete.status().is_success(), "a locked tag is not deleted: {}", delete.status());
    b.find("#tags tr.tag form.lock button").await.click().await;
    b.wait_text("#tags tr.tag form.lock button", "Lock").await;
    assert!(!b.find("#tags tr.tag").await.text().await.contains("locked"), "unlocked");

    let row = b.find("#tags tr.tag").await;
    row.find("a.digest").await.click().await;
    b.wait_text("#digest", &index.digest.to_string()).await;
    assert_eq!(b.find_all("#platforms tr.platform").await.len(), 2);
    let referrer = b.find("#referrers tr.referrer").await;
    let text = referrer.text().await;
    assert!(text.contains("application/vnd.example.signature"), "the signature is grouped under it: {text}");
    assert!(text.contains(SCRIPT) && text.contains(IMG), "hostile annotations shown as text: {text}");
    shot(&b, "manifest-index").await;
    assert!(b.try_find("#referrers img").await.is_none(), "no element was injected");

    b.find("#platforms tr.platform a").await.click().await;
    b.wait_text("#config", "linux/amd64").await;
    assert!(b.find("#config").await.text().await.contains("/bin/app"));
    let labels = b.find("#labels").await.text().await;
    assert!(labels.contains(SCRIPT) && labels.contains(IMG), "hostile labels shown as text: {labels}");
    assert_eq!(b.find_all("#layers tbody tr").await.len(), 1);
    let pwned = b.execute("return typeof window.pwned;", vec![]).await;
    assert_eq!(pwned, json!("undefined"), "nothing injected ran");
    shot(&b, "manifest-image").await;

    b.find("#sign-out").await.click().await;
    b.find("#sign-in").await;
    assert!(b.current_url().await.ends_with("/ui/sign-in"));
    // The cookie the browser held opens nothing any more.
    let r = common::anonymous()
        .get(format!("{}/ui/", s.base))
        .header("cookie", format!("berth_session={old_cookie}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/ui/sign-in");
}

/// Every form control a page shows, as the accessibility checks see it: unlabelled or
/// unfocusable controls, and whether the page is wider than the window.
const A11Y: &str = "const bad = [];
for (const c of document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href]')) {
  const named = (c.labels && c.labels.length > 0) || c.getAttribute('aria-label') || c.textContent.trim() !== '';
  if (!named) { bad.push('unlabelled ' + c.outerHTML); }
  if (c.tabIndex < 0) { bad.push('unfocusable ' + c.outerHTML); }
}
return { bad: bad, scroll: document.documentElement.scrollWidth, inner: window.innerWidth };";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_is_labelled_keyboard_usable_and_fits_a_phone() {
    let s = common::server(&[]);
    let owner = s.client();
    let img = Image::oci(Algorithm::Sha256, 63, &[10_000], "arm64");
    berth_testkit::oci::push_image(&owner, &s.base, "narrow/app", &img, "v1").await;
    let (app_id, _) = s.create_sp(&owner, "narrow-pull", Some(("AcrPull", "repositories/narrow/*"))).await;
    let b = Browser::start().await;
    b.set_window_size(390, 844).await;
    b.goto(&format!("{}/ui/sign-in", s.base)).await;
    // Signing in needs no mouse: type, then Enter submits the form.
    b.find("#username").await.send_keys(&s.owner.0).await;
    b.find("#password").await.send_keys(&format!("{}\u{E007}", s.owner.1)).await;
    b.wait_text("#who", &s.owner.0).await;
    let pages = [
        "/ui/sign-in".to_owned(),
        "/ui/".to_owned(),
        "/ui/repo?name=narrow/app".to_owned(),
        format!("/ui/manifest?name=narrow/app&digest={}", img.manifest.digest),
        "/ui/identities".to_owned(),
        format!("/ui/principal?key={app_id}"),
        "/ui/audit".to_owned(),
        "/ui/status".to_owned(),
        "/ui/connect".to_owned(),
        "/ui/doctor".to_owned(),
    ];
    for page in &pages {
        b.goto(&format!("{}{page}", s.base)).await;
        b.find("main h1").await;
        let found = b.execute(A11Y, vec![]).await;
        assert_eq!(found["bad"], json!([]), "{page}: every control is labelled and focusable");
        let (scroll, inner) = (found["scroll"].as_u64().unwrap(), found["inner"].as_u64().unwrap());
        assert!(inner <= 400 && scroll <= inner, "{page} is {scroll}px wide in a {inner}px window");
    }
    shot(&b, "narrow-status").await;
}
