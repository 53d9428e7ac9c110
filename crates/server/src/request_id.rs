//! Request IDs: every response carries `X-Request-Id`, and the log line of a server error
//! names the same ID, so a user's report of a 500 leads to its cause.
//!
//! An ID is 16 hex digits: a random 32-bit prefix chosen when the process starts (so replicas
//! behind one load balancer do not repeat each other) and a 32-bit counter. It is set for the
//! request's task by the `observe` middleware and read with [`current`].

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// The response header that carries the ID.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static CURRENT: RequestId;
}

/// One request's ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(u64);

impl RequestId {
    /// A fresh ID, unique within this process for 2^32 requests.
    pub fn next() -> Self {
        static PREFIX: OnceLock<u32> = OnceLock::new();
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        // The standard library seeds each RandomState from the operating system's randomness.
        let prefix = *PREFIX.get_or_init(|| RandomState::new().hash_one(std::process::id()) as u32);
        RequestId((u64::from(prefix) << 32) | u64::from(COUNTER.fetch_add(1, Ordering::Relaxed)))
    }

    /// Runs `f` with this ID as the task's current one.
    pub async fn scope<F: Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The ID of the request this task serves, if it serves one.
pub fn current() -> Option<RequestId> {
    CURRENT.try_with(|id| *id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn ids_differ_and_are_seen_only_inside_their_scope() {
        let (a, b) = (RequestId::next(), RequestId::next());
        assert_ne!(a, b);
        assert_eq!(a.to_string().len(), 16);
        assert_eq!(a.to_string()[..8], b.to_string()[..8], "one process prefix");
        assert_eq!(current(), None);
        assert_eq!(a.scope(async { current() }).await, Some(a));
    }
}
