//! Failed-authentication limiting per client address: guessing passwords gets slow, while
//! callers who authenticate successfully are never counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failures per address in fixed windows.
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

/// Addresses remembered at most; older windows are dropped first when full.
const MAX_ADDRESSES: usize = 100_000;

impl FailureLimiter {
    /// At most `max_failures` failed attempts per address per `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        FailureLimiter { max_failures, window, seen: Mutex::new(HashMap::new()) }
    }

    /// `Err(wait)` when `addr` is over its limit for `wait` more.
    pub fn check(&self, addr: IpAddr) -> Result<(), Duration> {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        match seen.get(&addr) {
            Some((start, n)) if *n >= self.max_failures && start.elapsed() < self.window => {
                Err(self.window - start.elapsed())
            }
            _ => Ok(()),
        }
    }

    /// Records a failed attempt by `addr`.
    pub fn failed(&self, addr: IpAddr) {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() >= MAX_ADDRESSES {
            let window = self.window;
            seen.retain(|_, (start, _)| start.elapsed() < window);
        }
        let entry = seen.entry(addr).or_insert((Instant::now(), 0));
        if entry.0.elapsed() >= self.window {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_only() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
            l.failed(a);
        }
        assert!(l.check(a).is_err());
        assert!(l.check("10.0.0.2".parse().unwrap()).is_ok(), "per address");
    }
}
