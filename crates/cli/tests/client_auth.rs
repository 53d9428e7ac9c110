//! berth-client's token flow against a real `berth serve`: Basic (POST form), refresh tokens
//! (identity token and the null GUID), anonymous, and a wrong password.

mod common;

use berth_client::auth::{AuthError, Credentials, NULL_GUID, Session};
use berth_core::Algorithm;
use berth_testkit::image::Image;
use berth_testkit::oci::push_image;
use common::started;
use reqwest::{Method, StatusCode};

fn session(credentials: Credentials) -> Session {
    Session::new(berth_testkit::http_client().build().unwrap(), credentials)
}

#[tokio::test]
async fn every_credential_kind_gets_through_the_token_flow() {
    let (s, owner) = started();
    let img = Image::oci(Algorithm::Sha256, 1, &[10], "amd64");
    push_image(&owner, &s.base, "team/app", &img, "v1").await;
    let url = format!("{}/v2/team/app/manifests/v1", s.base);
    let get = |session: Session| {
        let url = url.clone();
        async move { session.send(Method::GET, &url, &[], |r| r).await }
    };

    let basic = Credentials::Basic { username: s.owner.0.clone(), password: s.owner.1.clone() };
    let session_basic = session(basic);
    for _ in 0..2 {
        let r = session_basic.send(Method::GET, &url, &[], |r| r).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.bytes().await.unwrap().as_ref(), img.manifest.bytes.as_slice());
    }

    let wrong = Credentials::Basic { username: s.owner.0.clone(), password: "berth_wrong".into() };
    assert!(matches!(get(session(wrong)).await, Err(AuthError::Refused)));

    let t: serde_json::Value = owner
        .get(format!("{}/oauth2/token?service={}&offline_token=true", s.base, s.addr))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();
    let r = get(session(Credentials::IdentityToken(refresh.clone()))).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "identity token (refresh grant)");
    let guid = Credentials::Basic { username: NULL_GUID.into(), password: refresh };
    assert_eq!(get(session(guid)).await.unwrap().status(), StatusCode::OK, "null GUID");

    let r = get(session(Credentials::Anonymous)).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "anonymous pull is off");
    let r = owner
        .patch(format!("{}/admin/v1/registry", s.base))
        .json(&serde_json::json!({"anonymousPullEnabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(get(session(Credentials::Anonymous)).await.unwrap().status(), StatusCode::OK, "anonymous pull is on");
}
