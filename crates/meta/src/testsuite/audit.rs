//! Searching the audit log ([`berth_core::principals::AuditLog::audit_search`]): each filter
//! given must match (actor whole, action by its beginning, target containing), letters in
//! either case, with LIKE's wildcards in a filter taken literally.

use berth_core::principals::{AuditEvent, AuditQuery, IdentityStore};

fn event(at: i64, actor: &str, action: &str, target: &str) -> AuditEvent {
    AuditEvent { at, actor: actor.into(), action: action.into(), target: target.into(), remote: "10.0.0.1".into() }
}

fn query(actor: Option<&str>, action: Option<&str>, target: Option<&str>) -> AuditQuery {
    AuditQuery { actor: actor.map(Into::into), action: action.map(Into::into), target: target.map(Into::into) }
}

/// Runs the search checks; `ids` may hold other events, all older than `at` 1,000,000.
/// Leaves the events it adds behind (prune them with `prune_audit`).
pub(super) async fn run(ids: &dyn IdentityStore) {
    let events = [
        event(1_000_001, "ci-push", "sp.create", "shop-pull"),
        event(1_000_002, "ci-push", "sp.credential.reset", "shop-pull"),
        event(1_000_003, "owner", "manifest.delete", "shop/web@sha256:ab"),
        event(1_000_004, "owner", "tag.delete", "100%_off\\x:v1"),
    ];
    for e in &events {
        ids.audit(e).await.unwrap();
    }
    let found = |q: AuditQuery, n| async move {
        ids.audit_search(&q, n).await.unwrap().into_iter().map(|e| e.at).collect::<Vec<_>>()
    };
    assert_eq!(found(query(Some("ci-push"), None, None), 10).await, [1_000_002, 1_000_001], "newest first");
    assert_eq!(found(query(Some("CI-PUSH"), None, None), 10).await, [1_000_002, 1_000_001], "either case");
    assert!(found(query(Some("ci-"), None, None), 10).await.is_empty(), "the actor is matched whole");
    assert_eq!(found(query(None, Some("sp."), None), 10).await, [1_000_002, 1_000_001]);
    assert_eq!(found(query(None, Some("sp.credential"), Some("shop")), 10).await, [1_000_002]);
    assert_eq!(found(query(None, None, Some("shop/web")), 10).await, [1_000_003]);
    assert_eq!(found(query(None, None, Some("%_off\\")), 10).await, [1_000_004], "wildcards are literal");
    assert!(found(query(None, None, Some("_")), 10).await.iter().all(|at| *at == 1_000_004));
    assert!(found(query(Some("owner"), Some("sp."), None), 10).await.is_empty(), "every filter applies");
    assert_eq!(found(query(None, None, None), 2).await, [1_000_004, 1_000_003], "bounded by the limit");
}
