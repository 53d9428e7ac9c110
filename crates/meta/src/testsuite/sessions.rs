//! Web UI sessions ([`berth_core::sessions::SessionStore`]): found by the hash of their
//! secret, ended one by one, and pruned once expired.

use berth_core::principals::IdentityStore;
use berth_core::sessions::UiSession;

fn session(hash: u8, expires_at: i64) -> UiSession {
    UiSession {
        id_hash: vec![hash; 32],
        subject: "5f0c1a52-0000-4d7b-9c51-2b7e1f0a9d13".into(),
        credential: "key-1".into(),
        created_at: 100,
        expires_at,
    }
}

/// Runs the session checks; `ids` must hold no session. Leaves none behind.
pub(super) async fn run(ids: &dyn IdentityStore) {
    let (live, old) = (session(1, 5000), session(2, 150));
    ids.create_session(&live).await.unwrap();
    ids.create_session(&old).await.unwrap();
    assert_eq!(ids.session(&[1; 32]).await.unwrap(), Some(live.clone()));
    assert_eq!(ids.session(&[3; 32]).await.unwrap(), None);
    assert_eq!(ids.expire_sessions(200).await.unwrap(), 1, "only the expired one");
    assert_eq!(ids.session(&[2; 32]).await.unwrap(), None);
    assert!(ids.delete_session(&[1; 32]).await.unwrap());
    assert!(!ids.delete_session(&[1; 32]).await.unwrap(), "a session ends once");
    assert_eq!(ids.session(&[1; 32]).await.unwrap(), None);
}
