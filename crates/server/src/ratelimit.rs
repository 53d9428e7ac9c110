//! Failed-authentication limiting: guessing gets answered with 429, while the right
//! credentials always pass.
//!
//! Contract: credentials are always checked first, and a caller who authenticates is never
//! counted and never refused, so no number of failures by others (behind the same NAT, proxy
//! or node SNAT) locks out the right credentials. A failure is counted twice, against two
//! budgets per window: one per (presented username, address), one per address (larger, for
//! guessing across many usernames). Past either budget the failure is answered 429 with
//! `Retry-After` instead of 401, and only the first such failure per window is audited, so a
//! guesser cannot flood the audit log. Known and unknown usernames take the same path here.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A fixed window's start and the failures counted in it.
type Window = (Instant, u32);

/// Keys remembered at most per map; windows that are over are dropped first when full, and
/// the map starts over if that is not enough.
const MAX_KEYS: usize = 100_000;

/// What a failed attempt amounts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Within both budgets: answer 401.
    Counted,
    /// Over a budget for `wait` more: answer 429. `first` is set on the failure that went over.
    Throttled {
        /// Until the window ends.
        wait: Duration,
        /// Whether this failure is the first over the budget in this window.
        first: bool,
    },
}

#[derive(Default)]
struct Counts {
    users: HashMap<(IpAddr, u64), Window>,
    addresses: HashMap<IpAddr, Window>,
}

/// Counts failures per (username, address) and per address in fixed windows.
pub struct FailureLimiter {
    per_user: u32,
    per_address: u32,
    window: Duration,
    /// Keys usernames (of any length) into a fixed-size, per-process secret hash.
    hasher: RandomState,
    counts: Mutex<Counts>,
}

/// Counts one failure under `key`; the count in the current window.
fn bump<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Window>, key: K, window: Duration) -> (u32, Duration) {
    if map.len() >= MAX_KEYS {
        map.retain(|_, (start, _)| start.elapsed() < window);
        if map.len() >= MAX_KEYS {
            map.clear();
        }
    }
    let entry = map.entry(key).or_insert((Instant::now(), 0));
    if entry.0.elapsed() >= window {
        *entry = (Instant::now(), 0);
    }
    entry.1 = entry.1.saturating_add(1);
    (entry.1, window.saturating_sub(entry.0.elapsed()))
}

impl FailureLimiter {
    /// At most `per_user` failures per (username, address) and `per_address` per address in
    /// each `window`.
    pub fn new(per_user: u32, per_address: u32, window: Duration) -> Self {
        FailureLimiter {
            per_user,
            per_address,
            window,
            hasher: RandomState::new(),
            counts: Mutex::new(Counts::default()),
        }
    }

    /// Records a failed attempt by `addr` presenting `username`.
    pub fn failed(&self, addr: IpAddr, username: &str) -> Failure {
        let user = self.hasher.hash_one(username);
        let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (by_user, wait_user) = bump(&mut counts.users, (addr, user), self.window);
        let (by_addr, wait_addr) = bump(&mut counts.addresses, addr, self.window);
        let user_over = by_user > self.per_user;
        let addr_over = by_addr > self.per_address;
        if !user_over && !addr_over {
            return Failure::Counted;
        }
        let wait = match (user_over, addr_over) {
            (true, true) => wait_user.max(wait_addr),
            (true, false) => wait_user,
            _ => wait_addr,
        };
        let first = (user_over && by_user == self.per_user + 1) || (addr_over && by_addr == self.per_address + 1);
        Failure::Throttled { wait, first }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttled(f: Failure) -> bool {
        matches!(f, Failure::Throttled { .. })
    }

    #[test]
    fn budgets_per_user_and_per_address() {
        let l = FailureLimiter::new(3, 5, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(l.failed(a, "alice"), Failure::Counted);
        }
        assert!(matches!(l.failed(a, "alice"), Failure::Throttled { first: true, .. }));
        assert!(matches!(l.failed(a, "alice"), Failure::Throttled { first: false, .. }));
        assert!(throttled(l.failed(a, "bob")), "the address is over its budget of 5 now");
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(l.failed(b, "alice"), Failure::Counted, "per address");
    }

    #[test]
    fn windows_end() {
        let l = FailureLimiter::new(1, 10, Duration::from_millis(50));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(l.failed(a, "u"), Failure::Counted);
        assert!(throttled(l.failed(a, "u")));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(l.failed(a, "u"), Failure::Counted);
    }
}
