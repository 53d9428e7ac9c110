//! The web UI under attack, over plain HTTP against a real `berth serve`: cross-site and
//! token-less posts refused (sign-in included), a pull-only principal seeing only its
//! repository and refused everything else, sessions refused after sign-out and after expiry,
//! wrong credentials refused without a session, the security headers on every page, and a
//! repository token and the admin user signing in to see what they may pull.

mod common;

use berth_core::Algorithm;
use berth_testkit::TestServer;
use berth_testkit::image::Image;
use reqwest::{Client, Response};

/// The value of hidden field `csrf` in a page.
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("the page has a CSRF field") + 19;
    html[at..].split('"').next().unwrap().to_owned()
}

/// `name=value` of cookie `name` set by `r`.
fn set_cookie(r: &Response, name: &str) -> Option<String> {
    r.headers().get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
        let pair = v.split(';').next()?.trim();
        (pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1).then(|| pair.to_owned())
    })
}

/// A browser-like client: its session cookie and the CSRF token of its pages.
struct Session {
    cookie: String,
    csrf: String,
}

/// Signs in as `user`; `None` if refused (the sign-in page's text then says why).
async fn sign_in(s: &TestServer, user: &str, password: &str) -> Result<Session, String> {
    let c = common::anonymous();
    let form = c.get(format!("{}/ui/sign-in", s.base)).send().await.unwrap();
    let nonce = set_cookie(&form, "berth_signin").expect("the form sets its double-submit cookie");
    let csrf = csrf_of(&form.text().await.unwrap());
    let r = c
        .post(format!("{}/ui/sign-in", s.base))
        .header("cookie", nonce)
        .form(&[("username", user), ("password", password), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    let Some(cookie) = set_cookie(&r, "berth_session") else { return Err(r.text().await.unwrap()) };
    assert_eq!(r.status(), 303);
    let page = get(&c, s, "/ui/", &cookie).await.text().await.unwrap();
    Ok(Session { csrf: csrf_of(&page), cookie })
}

async fn get(c: &Client, s: &TestServer, path: &str, cookie: &str) -> Response {
    c.get(format!("{}{path}", s.base)).header("cookie", cookie).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_and_tokenless_posts_are_refused() {
    let s = common::server(&[]);
    let owner = s.client();
    let img = Image::oci(Algorithm::Sha256, 71, &[1000], "amd64");
    berth_testkit::oci::push_image(&owner, &s.base, "attack/app", &img, "v1").await;
    let me = sign_in(&s, &s.owner.0, &s.owner.1).await.unwrap();
    let c = common::anonymous();
    let delete = [("name", "attack/app"), ("digest", &img.manifest.digest.to_string())];
    let post = |extra: Vec<(&'static str, String)>, csrf: Option<&str>| {
        let mut form: Vec<(&str, String)> = delete.iter().map(|(k, v)| (*k, v.to_string())).collect();
        if let Some(t) = csrf {
            form.push(("csrf", t.to_owned()));
        }
        let mut rb = c.post(format!("{}/ui/delete", s.base)).header("cookie", &me.cookie).form(&form);
        for (k, v) in extra {
            rb = rb.header(k, v);
        }
        rb.send()
    };
    for (why, r) in [
        ("no CSRF token", post(vec![], None).await.unwrap()),
        ("a wrong CSRF token", post(vec![], Some("forged")).await.unwrap()),
        ("another origin", post(vec![("origin", "http://evil.example".into())], Some(&me.csrf)).await.unwrap()),
        ("a cross-site fetch", post(vec![("sec-fetch-site", "cross-site".into())], Some(&me.csrf)).await.unwrap()),
    ] {
        assert_eq!(r.status(), 403, "{why}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{why}");
    }
    let m = owner.get(format!("{}/v2/attack/app/manifests/v1", s.base)).send().await.unwrap();
    assert_eq!(m.status(), 200, "the refused posts deleted nothing");

    // Signing in needs the form's own token too (no login CSRF).
    let r = c
        .post(format!("{}/ui/sign-in", s.base))
        .form(&[("username", s.owner.0.as_str()), ("password", s.owner.1.as_str()), ("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(set_cookie(&r, "berth_session").is_none());

    // With the token, the same delete works, after a confirmation that lists the tag.
    let confirm = get(&c, &s, &format!("/ui/delete?name=attack/app&digest={}", img.manifest.digest), &me.cookie).await;
    assert_eq!(confirm.status(), 200);
    assert!(confirm.text().await.unwrap().contains("<li class=\"sharing-tag\">v1</li>"));
    let r = post(vec![("origin", format!("http://{}", s.addr))], Some(&me.csrf)).await.unwrap();
    assert_eq!(r.status(), 303);
    let m = owner.get(format!("{}/v2/attack/app/manifests/v1", s.base)).send().await.unwrap();
    assert_eq!(m.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_only_principal_sees_its_repository_and_nothing_else() {
    let s = common::server(&[]);
    let owner = s.client();
    for (i, repo) in ["team/a", "team/b"].iter().enumerate() {
        let img = Image::oci(Algorithm::Sha256, 80 + i as u64, &[500], "amd64");
        berth_testkit::oci::push_image(&owner, &s.base, repo, &img, "v1").await;
    }
    let (id, password) = s.create_sp(&owner, "reader", Some(("AcrPull", "repositories/team/a"))).await;
    let me = sign_in(&s, &id, &password).await.unwrap();
    let c = common::anonymous();
    let list = get(&c, &s, "/ui/", &me.cookie).await;
    assert_eq!(list.status(), 200);
    let html = list.text().await.unwrap();
    assert!(html.contains(">team/a</a>"), "its repository is listed");
    assert!(!html.contains("team/b"), "no other repository is named");
    let search = get(&c, &s, "/ui/?q=team", &me.cookie).await.text().await.unwrap();
    assert!(search.contains(">team/a</a>") && !search.contains("team/b"), "nor found by a search");
    let tags = get(&c, &s, "/ui/repo?name=team/a", &me.cookie).await.text().await.unwrap();
    assert!(tags.contains("v1") && !tags.contains("Untag"), "a reader gets no delete action");
    assert_eq!(get(&c, &s, "/ui/repo?name=team/b", &me.cookie).await.status(), 403);
    let d = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
    assert_eq!(get(&c, &s, &format!("/ui/manifest?name=team/b&digest={d}"), &me.cookie).await.status(), 403);
    assert_eq!(get(&c, &s, &format!("/ui/delete?name=team/a&digest={d}"), &me.cookie).await.status(), 403);
    // No management page, link or action.
    assert!(!html.contains("/ui/identities"), "no management link");
    let pages = [
        "/ui/identities".to_owned(),
        "/ui/audit".to_owned(),
        "/ui/status".to_owned(),
        format!("/ui/principal?key={id}"),
    ];
    for page in pages {
        assert_eq!(get(&c, &s, &page, &me.cookie).await.status(), 403, "{page}");
    }
    let post = |path: &'static str, fields: Vec<(&'static str, String)>| {
        let (c, cookie, base) = (c.clone(), me.cookie.clone(), s.base.clone());
        async move { c.post(format!("{base}{path}")).header("cookie", cookie).form(&fields).send().await.unwrap() }
    };
    let csrf = me.csrf.clone();
    let tries = [
        ("/ui/principals", vec![("csrf", csrf.clone()), ("name", "sneaky".to_owned())]),
        ("/ui/principal/reset", vec![("csrf", csrf.clone()), ("key", id.clone())]),
        ("/ui/principal/delete", vec![("csrf", csrf.clone()), ("key", id.clone())]),
        ("/ui/settings", vec![("csrf", csrf.clone()), ("anonymous_pull", "on".to_owned())]),
        ("/ui/connect", vec![("csrf", csrf.clone()), ("namespace", "sneaky".to_owned())]),
        ("/ui/tokens", vec![("csrf", csrf.clone()), ("name", "sneaky-token".to_owned())]),
        (
            "/ui/roles",
            vec![("csrf", csrf.clone()), ("assignee", id.clone()), ("role", "owner".into()), ("scope", "/".into())],
        ),
    ];
    for (path, fields) in tries {
        assert_eq!(post(path, fields).await.status(), 403, "{path}");
    }
    let sps = owner.get(format!("{}/admin/v1/service-principals", s.base)).send().await.unwrap();
    let sps = sps.text().await.unwrap();
    assert!(!sps.contains("sneaky"), "nothing was created: {sps}");
    let anon = common::anonymous().get(format!("{}/v2/", s.base)).send().await.unwrap();
    assert_eq!(anon.status(), 401, "anonymous pull stayed off");
    assert_eq!(get(&c, &s, "/ui/", &me.cookie).await.status(), 200, "and its session still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_end_at_sign_out_and_expiry_and_wrong_credentials_open_none() {
    let s = TestServer::start_with_env(
        std::path::Path::new(env!("CARGO_BIN_EXE_berth")),
        &[],
        "info",
        &[("BERTH__UI__SESSION_SECS", "2")],
    );
    let c = common::anonymous();
    let refused = sign_in(&s, &s.owner.0, "berth_wrong").await.err().expect("a wrong password opens no session");
    assert!(refused.contains("invalid username or password"), "{refused}");
    assert!(!refused.contains("berth_wrong"), "the password is not echoed");

    let first = sign_in(&s, &s.owner.0, &s.owner.1).await.unwrap();
    let page = get(&c, &s, "/ui/", &first.cookie).await;
    assert_eq!(page.status(), 200);
    let h = page.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>") && !html.contains("onclick"), "no inline script");

    let r = c
        .post(format!("{}/ui/sign-out", s.base))
        .header("cookie", &first.cookie)
        .form(&[("csrf", first.csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let after = get(&c, &s, "/ui/", &first.cookie).await;
    assert_eq!((after.status().as_u16(), after.headers()["location"].to_str().unwrap()), (303, "/ui/sign-in"));

    let second = sign_in(&s, &s.owner.0, &s.owner.1).await.unwrap();
    assert_eq!(get(&c, &s, "/ui/", &second.cookie).await.status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    assert_eq!(get(&c, &s, "/ui/", &second.cookie).await.status(), 303, "refused once expired");

    // No session and anonymous pull off: sign in first. `/` sends only browsers to the UI.
    assert_eq!(c.get(format!("{}/ui/", s.base)).send().await.unwrap().status(), 303);
    let api = c.get(format!("{}/", s.base)).header("accept", "application/json").send().await.unwrap();
    assert_eq!(api.status(), 404);
    let browser = c.get(format!("{}/", s.base)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(browser.headers()["location"], "/ui/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_token_and_the_admin_user_sign_in_and_see_what_they_may_pull() {
    let s = common::server(&[]);
    let owner = s.client();
    for (i, repo) in ["team/a", "team/b"].iter().enumerate() {
        let img = Image::oci(Algorithm::Sha256, 85 + i as u64, &[500], "amd64");
        berth_testkit::oci::push_image(&owner, &s.base, repo, &img, "v1").await;
    }
    let actions = ["repositories/team/a/content/read", "repositories/team/a/metadata/read"];
    let body = serde_json::json!({ "name": "ci-reader", "actions": actions });
    let r = owner.post(format!("{}/admin/v1/tokens", s.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await.unwrap();
    let token_password = v["credentials"]["passwords"][0]["value"].as_str().unwrap().to_owned();
    let c = common::anonymous();
    let me = sign_in(&s, "ci-reader", &token_password).await.expect("a repository token signs in");
    let html = get(&c, &s, "/ui/repo?name=team/a", &me.cookie).await.text().await.unwrap();
    assert!(html.contains("v1"), "its repository's tags: {html}");
    assert_eq!(get(&c, &s, "/ui/repo?name=team/b", &me.cookie).await.status(), 403, "no other repository");
    assert_eq!(get(&c, &s, "/ui/identities", &me.cookie).await.status(), 403);

    let on = serde_json::json!({ "adminUserEnabled": true });
    let r = owner.patch(format!("{}/admin/v1/registry", s.base)).json(&on).send().await.unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    let admin_password = v["credentials"]["passwords"][0]["value"].as_str().unwrap().to_owned();
    let admin = sign_in(&s, "admin", &admin_password).await.expect("the admin user signs in");
    for repo in ["team/a", "team/b"] {
        let page = get(&c, &s, &format!("/ui/repo?name={repo}"), &admin.cookie).await;
        assert_eq!(page.status(), 200, "the admin user pulls everything: {repo}");
    }
    assert!(sign_in(&s, "ci-reader", "berth_wrong").await.is_err(), "a wrong token password opens nothing");
}
