//! Identities in the web UI, in headless Chromium against a real `berth serve`: an Owner
//! creates a service principal whose name is hostile markup (shown as text, never run), sees
//! its secret once with a copy button, resets the credential (the new secret works, the old
//! one stops, and neither appears on any page again), assigns and removes a role, turns
//! anonymous pull on and off, and filters the audit log. Screenshots go to `artifact_dir()`.

mod common;

use berth_testkit::TestServer;
use berth_testkit::browser::Browser;
use common::ui::{shot, sign_in, v2_status};
use serde_json::json;

/// A principal name that would inject markup and script if it reached a page unescaped.
const HOSTILE: &str = "<script>window.pwned=1</script>\"><img src=x onerror=\"window.pwned=1\">";

/// Waits up to 5 s for `css` to match exactly `n` elements (a page a click or a confirmed
/// dialog navigated to may not have replaced the old one yet).
async fn until_count(b: &Browser, css: &str, n: usize) {
    for _ in 0..50 {
        if b.find_all(css).await.len() == n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{css} never matched {n} elements; it matches {}", b.find_all(css).await.len());
}

/// Whether a visitor without a session may browse (`GET /ui/` answers the list rather than
/// sending it to sign in) within 5 s: settings are cached for up to 2 s.
async fn anonymous_browses(s: &TestServer) -> bool {
    for _ in 0..50 {
        if common::anonymous().get(format!("{}/ui/", s.base)).send().await.unwrap().status() == 200 {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// The username and password shown on a secret page, after checking their copy buttons.
async fn shown_secret(b: &Browser) -> (String, String) {
    let user = b.find("dl.secret code.username").await.text().await;
    let password = b.find("dl.secret code.password").await.text().await;
    let buttons = b.find_all("dl.secret button.copy").await;
    assert_eq!(buttons[1].attr("data-copy").await.as_deref(), Some(password.as_str()), "copy gives the password");
    assert!(password.len() >= 32, "a real secret: {password:?}");
    (user, password)
}

/// Whether `secret` appears on any page the UI shows of identities.
async fn pages_show(b: &Browser, s: &TestServer, app_id: &str, secret: &str) -> bool {
    for path in ["/ui/identities".to_owned(), format!("/ui/principal?key={app_id}"), "/ui/audit".to_owned()] {
        b.goto(&format!("{}{path}", s.base)).await;
        if b.page_source().await.contains(secret) {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_manages_principals_roles_and_settings_and_sees_each_secret_once() {
    let s = common::server(&[]);
    let b = Browser::start().await;
    sign_in(&b, &s).await;
    b.find("#nav-identities").await.click().await;
    b.find("#create-principal").await;
    shot(&b, "identities").await;

    // Create a principal with a hostile name and a pull role on a prefix.
    b.find("#new-name").await.send_keys(HOSTILE).await;
    let scope = b.find("#new-scope").await;
    scope.clear().await;
    scope.send_keys("repositories/shop/*").await;
    b.find("#create-principal button[type=submit]").await.click().await;
    let (app_id, first) = shown_secret(&b).await;
    shot(&b, "secret").await;
    assert_eq!(v2_status(&s, &app_id, &first).await, 200, "the shown secret signs in");

    b.find("#done").await.click().await;
    b.find("#principal-name").await;
    assert_eq!(b.find("#principal-name").await.text().await, HOSTILE, "the name is shown as text");
    assert!(b.try_find("main img").await.is_none(), "no element was injected");
    assert_eq!(b.find_all("#credentials tbody tr").await.len(), 1);
    assert!(b.find("#roles").await.text().await.contains("repositories/shop/*"));
    shot(&b, "principal").await;

    // Reset: a new secret, shown once; the old one stops working.
    b.find("#reset-button").await.click().await;
    b.accept_alert().await;
    let (same_id, second) = shown_secret(&b).await;
    assert_eq!(same_id, app_id);
    assert_ne!(second, first);
    assert_eq!(v2_status(&s, &app_id, &second).await, 200, "the new secret signs in");
    assert_eq!(v2_status(&s, &app_id, &first).await, 401, "the old one no longer does");
    assert!(!pages_show(&b, &s, &app_id, &second).await, "the secret is never shown again");
    assert!(!pages_show(&b, &s, &app_id, &first).await);

    // Assign a role, then remove it.
    b.goto(&format!("{}/ui/principal?key={app_id}", s.base)).await;
    b.find("#assign-role option[value=AcrPush]").await.click().await;
    let scope = b.find("#assign-scope").await;
    scope.clear().await;
    scope.send_keys("repositories/shop/web").await;
    b.find("#assign button[type=submit]").await.click().await;
    b.wait_text("#roles", "AcrPush").await;
    assert_eq!(b.find_all("#roles tbody tr").await.len(), 2);
    let pushed = b.find_all("#roles tbody tr").await;
    let mut removed = false;
    for row in pushed {
        if row.text().await.contains("AcrPush") {
            row.find("button.danger").await.click().await;
            b.accept_alert().await;
            removed = true;
            break;
        }
    }
    assert!(removed);
    until_count(&b, "#roles tbody tr", 1).await;

    // Anonymous pull on, then off again.
    b.goto(&format!("{}/ui/identities", s.base)).await;
    assert_eq!(b.find("#anonymous-pull").await.text().await, "off");
    b.find("#toggle-anonymous").await.click().await;
    b.accept_alert().await;
    b.wait_text("#anonymous-pull", "on").await;
    assert!(anonymous_browses(&s).await, "anonymous pull is on (once the settings cache turns over)");
    b.find("#toggle-anonymous").await.click().await;
    b.wait_text("#anonymous-pull", "off").await;

    // The hostile name is inert in the list, and nothing ran anywhere.
    let names: Vec<String> = {
        let mut v = Vec::new();
        for e in b.find_all("#principals a.principal-name").await {
            v.push(e.text().await);
        }
        v
    };
    assert!(names.iter().any(|n| n == HOSTILE), "listed as text: {names:?}");
    assert_eq!(b.execute("return typeof window.pwned;", vec![]).await, json!("undefined"));

    // The audit log, filtered.
    b.goto(&format!("{}/ui/audit?action=sp.", s.base)).await;
    let rows = b.find_all("#events tr.event").await;
    let mut actions = Vec::new();
    for r in &rows {
        actions.push(r.text().await);
    }
    assert!(actions.iter().any(|a| a.contains("sp.create")), "{actions:?}");
    assert!(actions.iter().any(|a| a.contains("sp.credential.reset")), "{actions:?}");
    assert!(actions.iter().all(|a| a.contains("sp.")), "only service-principal actions: {actions:?}");
    shot(&b, "audit").await;
    b.goto(&format!("{}/ui/audit?action=registry.&actor={}", s.base, s.owner.0)).await;
    assert!(!b.find_all("#events tr.event").await.is_empty(), "the settings changes are audited");
    b.goto(&format!("{}/ui/audit?actor=nobody-at-all", s.base)).await;
    b.find("#empty").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_the_stores_storage_maintenance_and_request_rates() {
    let s = common::server(&[]);
    let owner = s.client();
    let img = berth_testkit::image::Image::oci(berth_core::Algorithm::Sha256, 91, &[20_000, 30_000], "amd64");
    berth_testkit::oci::push_image(&owner, &s.base, "status/app", &img, "v1").await;
    for (path, body) in [("gc", json!({ "dryRun": false })), ("purge", json!({ "agoSecs": 0 }))] {
        let r = owner.post(format!("{}/admin/v1/{path}", s.base)).json(&body).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let b = Browser::start().await;
    sign_in(&b, &s).await;
    b.find("#nav-status").await.click().await;
    b.find("#stores tr.store").await;
    let stores = b.find_all("#stores tr.store").await;
    assert_eq!(stores.len(), 2);
    for row in &stores {
        assert!(row.text().await.contains("ok"), "{}", row.text().await);
    }
    let usage = b.find("#usage").await.text().await;
    assert!(usage.contains("Repositories\n1") || usage.contains("Repositories 1"), "{usage}");
    let stored: u64 = b.find("#stored").await.attr("title").await.unwrap().trim_end_matches(" bytes").parse().unwrap();
    assert!(stored >= 50_000, "the layers and config are stored: {stored}");
    let runs = b.find("#runs").await.text().await;
    assert!(runs.contains("gc") && runs.contains("purge"), "{runs}");
    // A second view, after more requests, shows rates over the span between the two.
    for _ in 0..5 {
        owner.get(format!("{}/v2/status/app/manifests/v1", s.base)).send().await.unwrap();
    }
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    b.goto(&format!("{}/ui/status", s.base)).await;
    assert!(b.find("#rate-span").await.text().await.starts_with("Over the last"));
    assert!(b.find("#routes").await.text().await.contains("manifest"), "the manifest route is counted");
    shot(&b, "status").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_owner_manages_repository_tokens_and_scope_maps() {
    let s = common::server(&[]);
    let b = Browser::start().await;
    sign_in(&b, &s).await;
    b.goto(&format!("{}/ui/identities", s.base)).await;
    let system_maps = b.find_all("#scope-maps tr.scope-map").await.len();
    b.find("#map-name").await.send_keys("shop-read").await;
    b.find("#map-actions").await.send_keys("repositories/shop/*/content/read").await;
    b.find("#create-scope-map button[type=submit]").await.click().await;
    b.wait_text("#scope-maps", "shop-read").await;

    b.find("#token-name").await.send_keys("ci-reader").await;
    b.find("#token-map option[value=shop-read]").await.click().await;
    b.find("#create-token button[type=submit]").await.click().await;
    b.find("dl.secret code.password").await;
    let shown = b.find_all("dl.secret code.password").await;
    assert_eq!(shown.len(), 2, "both passwords, once");
    let first = shown[0].text().await;
    assert_eq!(b.find("dl.secret code.username").await.text().await, "ci-reader");
    assert_eq!(v2_status(&s, "ci-reader", &first).await, 200, "the token signs in");
    shot(&b, "token-secret").await;

    // A new password1: the old one stops, and the page shows it once.
    b.goto(&format!("{}/ui/identities", s.base)).await;
    b.find("#tokens tr.token button.new-password").await.click().await;
    b.accept_alert().await;
    let renewed = b.find("dl.secret code.password").await.text().await;
    assert_ne!(renewed, first);
    assert_eq!(v2_status(&s, "ci-reader", &first).await, 401);
    assert_eq!(v2_status(&s, "ci-reader", &renewed).await, 200);
    b.goto(&format!("{}/ui/identities", s.base)).await;
    assert!(!b.page_source().await.contains(&renewed), "never shown again");

    // Disabled: refused; then deleted with its map.
    b.find("#tokens tr.token button.token-toggle").await.click().await;
    b.wait_text("#tokens tr.token .token-status", "disabled").await;
    assert_ne!(v2_status(&s, "ci-reader", &renewed).await, 200, "a disabled token is refused");
    b.find("#tokens tr.token button.danger").await.click().await;
    b.accept_alert().await;
    until_count(&b, "#tokens tr.token", 0).await;
    for row in b.find_all("#scope-maps tr.scope-map").await {
        if row.text().await.contains("shop-read") {
            row.find("button.danger").await.click().await;
            b.accept_alert().await;
            break;
        }
    }
    until_count(&b, "#scope-maps tr.scope-map", system_maps).await;
    assert!(!b.find("#scope-maps").await.text().await.contains("shop-read"), "the scope map is gone");
}
