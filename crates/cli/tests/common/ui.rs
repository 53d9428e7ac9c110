//! Shared by the web UI's browser tests: signing in as the Owner, screenshots, and the
//! registry's answer to a credential.

use berth_testkit::TestServer;
use berth_testkit::browser::{Browser, artifact_dir};

/// Saves a screenshot as `ui-NAME.png` in the artifact directory.
pub async fn shot(b: &Browser, name: &str) {
    b.screenshot(&artifact_dir().join(format!("ui-{name}.png"))).await;
}

/// Signs the browser in as the server's Owner through the sign-in form.
pub async fn sign_in(b: &Browser, s: &TestServer) {
    b.goto(&format!("{}/ui/sign-in", s.base)).await;
    b.find("#username").await.send_keys(&s.owner.0).await;
    b.find("#password").await.send_keys(&s.owner.1).await;
    b.find("#sign-in button[type=submit]").await.click().await;
    b.wait_text("#who", &s.owner.0).await;
}

/// The status of `GET /v2/` with Basic `user:password`.
pub async fn v2_status(s: &TestServer, user: &str, password: &str) -> u16 {
    let r = super::anonymous().get(format!("{}/v2/", s.base)).basic_auth(user, Some(password)).send().await.unwrap();
    r.status().as_u16()
}
