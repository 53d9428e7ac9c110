//! The time [`crate::RegistryService`] goes by: when an upload started, which uploads are idle
//! long enough to expire, which links and blobs are past garbage collection's grace, which
//! untagged manifests are old enough to purge. The system clock by default; a [`ManualClock`]
//! lets a test move time on instead of sleeping.
//!
//! The metadata store stamps its rows (links, uploads, manifests) with the real time, so a
//! clock set ahead of it makes them look older by as much.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system's real-time clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    }
}

/// A clock that stands still until told to move: for tests of expiry and grace periods.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    /// A clock showing `now` (seconds since the epoch).
    pub fn at(now: i64) -> Self {
        ManualClock { now: AtomicI64::new(now) }
    }

    /// A clock showing the system's time now.
    pub fn starting_now() -> Self {
        ManualClock::at(SystemClock.now())
    }

    /// Moves the clock `by` forward.
    pub fn advance(&self, by: Duration) {
        self.now.fetch_add(by.as_secs() as i64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_advanced() {
        let clock = ManualClock::at(1_000);
        assert_eq!(clock.now(), 1_000);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.now(), 1_090);
        assert!(ManualClock::starting_now().now() >= SystemClock.now() - 1);
    }
}
