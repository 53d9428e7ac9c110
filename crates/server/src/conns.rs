//! Who may hold a connection: a bounded share per client address, a global cap, and the
//! registry of idle connections that are shed, the one idle longest first, to make room for a
//! new connection when the cap is full.
//!
//! The contract, as the accept loop ([`crate::serve`]) uses it:
//! - [`Conns::admit`] counts a freshly accepted connection against its address's share (an
//!   IPv4 address, or the /64 prefix of an IPv6 address, since one host commonly holds a whole
//!   /64). Over the share it answers `None`, and the caller closes the socket.
//! - [`Conns::slot`] waits until the admitted connection fits under the global cap. While the
//!   cap is full it asks the connection that has been idle longest to close, one at a time, and
//!   waits for it to go; a connection with a request in flight is never asked.
//! - A connection is idle from the moment it gets its slot (TLS handshake, waiting for its
//!   first request) and whenever no request is in flight: [`Conn::request`] returns a guard that
//!   marks one in flight until it is dropped (the server holds it until the response body is
//!   sent). A connection that was asked to close and then starts a request leaves the
//!   accept loop to ask another.
//! - Memory is bounded: an address is remembered only while it has a connection open or
//!   waiting for a slot, so every map holds at most `max_open + 1` entries (the `+ 1` is the
//!   connection that waits in [`Conns::slot`]).

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Connection counts and the idle registry. One task (the accept loop) calls
/// [`Conns::slot`] at a time.
pub struct Conns {
    max_open: usize,
    per_address: usize,
    state: Mutex<State>,
    /// Woken when a slot may be within reach: a connection ended, went idle, or started a
    /// request after it was asked to close.
    changed: Notify,
}

#[derive(Default)]
struct State {
    /// Admitted connections per address key; no entry holds 0.
    addresses: HashMap<IpAddr, usize>,
    /// Connections that hold a slot, by id.
    open: HashMap<u64, Entry>,
    /// Idle connections not yet asked to close, by the moment they went idle (a sequence
    /// number), so the first is the one idle longest.
    idle: BTreeMap<u64, u64>,
    /// Connections asked to close with no request in flight: slots about to come free.
    closing: usize,
    /// The next id or idle moment.
    next: u64,
}

struct Entry {
    in_flight: usize,
    /// This connection's key in `State::idle`, while it is there.
    idle_since: Option<u64>,
    /// Asked to close.
    shed: bool,
    /// Notified once when the connection is asked to close.
    shed_signal: Arc<Notify>,
}

/// The key an address's share is counted under: IPv4 (also when mapped into IPv6) as it
/// is, IPv6 by its /64 prefix.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

impl State {
    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// `id` has no request in flight (any more): it joins the idle registry, or, when it was
    /// asked to close, counts as closing.
    fn go_idle(&mut self, id: u64) {
        let since = self.tick();
        let Some(e) = self.open.get_mut(&id) else { return };
        if e.shed {
            self.closing += 1;
        } else {
            e.idle_since = Some(since);
            self.idle.insert(since, id);
        }
    }

    /// `id` started its only request in flight.
    fn go_busy(&mut self, id: u64) {
        let Some(e) = self.open.get_mut(&id) else { return };
        if let Some(since) = e.idle_since.take() {
            self.idle.remove(&since);
        }
        if e.shed {
            self.closing -= 1;
        }
    }

    /// Asks the connection idle longest to close; false when none is idle.
    fn shed_oldest(&mut self) -> bool {
        let Some((_, id)) = self.idle.pop_first() else { return false };
        let Some(e) = self.open.get_mut(&id) else { return false };
        e.idle_since = None;
        e.shed = true;
        e.shed_signal.notify_one();
        self.closing += 1;
        true
    }
}

impl Conns {
    /// At most `max_open` connections served at once, at most `per_address` of them (plus one
    /// waiting for a slot) from one address key.
    pub fn new(max_open: usize, per_address: usize) -> Arc<Self> {
        Arc::new(Conns { max_open, per_address, state: Mutex::default(), changed: Notify::new() })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new connection from `ip` against its address's share; `None` when that share
    /// is taken (the caller closes the connection).
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Admitted> {
        let key = address_key(ip);
        let mut st = self.lock();
        let count = st.addresses.get(&key).copied().unwrap_or(0);
        if count >= self.per_address {
            return None;
        }
        st.addresses.insert(key, count + 1);
        Some(Admitted { conns: self.clone(), key })
    }

    /// Waits for a slot under the global cap for `admitted`, shedding idle connections (idle
    /// longest first, one at a time) while the cap is full. Cancelling the wait drops
    /// `admitted`. The connection starts idle.
    pub async fn slot(self: &Arc<Self>, admitted: Admitted) -> Arc<Conn> {
        loop {
            {
                let mut st = self.lock();
                if st.open.len() < self.max_open {
                    let id = st.tick();
                    let shed_signal = Arc::new(Notify::new());
                    let entry = Entry { in_flight: 0, idle_since: None, shed: false, shed_signal: shed_signal.clone() };
                    st.open.insert(id, entry);
                    st.go_idle(id);
                    return Arc::new(Conn { admitted, id, shed_signal });
                }
                if st.closing == 0 {
                    st.shed_oldest();
                }
            }
            self.changed.notified().await;
        }
    }
}

/// A connection counted against its address's share, not yet holding a slot.
pub struct Admitted {
    conns: Arc<Conns>,
    key: IpAddr,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut st = self.conns.lock();
        if let Some(count) = st.addresses.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                st.addresses.remove(&self.key);
            }
        }
    }
}

/// A connection holding a slot; dropping it frees the slot and its share.
pub struct Conn {
    admitted: Admitted,
    id: u64,
    shed_signal: Arc<Notify>,
}

impl Conn {
    /// Marks a request in flight on this connection until the guard is dropped.
    pub fn request(self: &Arc<Self>) -> InFlight {
        let mut st = self.admitted.conns.lock();
        if let Some(e) = st.open.get_mut(&self.id) {
            e.in_flight += 1;
            if e.in_flight == 1 {
                st.go_busy(self.id);
                drop(st);
                self.admitted.conns.changed.notify_one();
            }
        }
        InFlight(self.clone())
    }

    /// Whether a request is in flight.
    pub fn in_flight(&self) -> bool {
        self.admitted.conns.lock().open.get(&self.id).is_some_and(|e| e.in_flight > 0)
    }

    /// Completes once the accept loop has asked this connection to close, which it does only
    /// while no request is in flight.
    pub async fn shed_requested(&self) {
        self.shed_signal.notified().await;
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let conns = &self.admitted.conns;
        let mut st = conns.lock();
        if let Some(e) = st.open.remove(&self.id) {
            if let Some(since) = e.idle_since {
                st.idle.remove(&since);
            }
            if e.shed && e.in_flight == 0 {
                st.closing -= 1;
            }
        }
        drop(st);
        conns.changed.notify_one();
    }
}

/// A request in flight on a connection (see [`Conn::request`]).
pub struct InFlight(Arc<Conn>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let conns = &self.0.admitted.conns;
        let mut st = conns.lock();
        if let Some(e) = st.open.get_mut(&self.0.id) {
            e.in_flight -= 1;
            if e.in_flight == 0 {
                st.go_idle(self.0.id);
                drop(st);
                conns.changed.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Polls `f` once.
    fn poll<F: Future>(f: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    fn ready<T>(p: Poll<T>) -> T {
        match p {
            Poll::Ready(t) => t,
            Poll::Pending => panic!("pending"),
        }
    }

    /// A slot for a connection from `addr`, which must be free at once.
    fn open(conns: &Arc<Conns>, addr: &str) -> Arc<Conn> {
        let admitted = conns.admit(ip(addr)).expect("within the share");
        ready(poll(pin!(conns.slot(admitted))))
    }

    /// Whether `c` has been asked to close.
    fn asked_to_close(c: &Conn) -> bool {
        poll(pin!(c.shed_requested())).is_ready()
    }

    #[test]
    fn an_address_holds_its_share_and_no_more() {
        let conns = Conns::new(100, 2);
        let a = conns.admit(ip("192.0.2.1")).unwrap();
        let b = conns.admit(ip("::ffff:192.0.2.1")).unwrap();
        assert!(conns.admit(ip("192.0.2.1")).is_none(), "IPv4-mapped IPv6 is the same address");
        assert!(conns.admit(ip("192.0.2.2")).is_some(), "another address has a share of its own");
        drop(a);
        let c = conns.admit(ip("192.0.2.1")).expect("a share comes back when a connection goes");
        drop(b);
        drop(c);
        assert!(conns.lock().addresses.is_empty(), "an address with no connection is forgotten");
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64_prefix() {
        let conns = Conns::new(100, 2);
        let _held = [conns.admit(ip("2001:db8:1:2::1")).unwrap(), conns.admit(ip("2001:db8:1:2:ffff::9")).unwrap()];
        assert!(conns.admit(ip("2001:db8:1:2:abcd::1")).is_none());
        assert!(conns.admit(ip("2001:db8:1:3::1")).is_some());
    }

    #[test]
    fn a_full_cap_sheds_the_connection_idle_longest_and_never_one_in_flight() {
        let conns = Conns::new(3, 10);
        let busy = open(&conns, "192.0.2.1");
        let _upload = busy.request();
        let older = open(&conns, "192.0.2.2");
        let newer = open(&conns, "192.0.2.3");
        let admitted = conns.admit(ip("192.0.2.4")).unwrap();
        let mut waiting = pin!(conns.slot(admitted));
        assert!(poll(waiting.as_mut()).is_pending());
        assert!(asked_to_close(&older));
        assert!(!asked_to_close(&busy) && !asked_to_close(&newer));
        assert!(poll(waiting.as_mut()).is_pending(), "one at a time, and the slot is free only once it goes");
        assert!(!asked_to_close(&newer));
        drop(older);
        let fourth = ready(poll(waiting.as_mut()));
        assert!(!asked_to_close(&busy) && !asked_to_close(&fourth));
    }

    #[test]
    fn with_every_connection_busy_a_new_one_waits() {
        let conns = Conns::new(1, 10);
        let only = open(&conns, "192.0.2.1");
        let request = only.request();
        let admitted = conns.admit(ip("192.0.2.2")).unwrap();
        let mut waiting = pin!(conns.slot(admitted));
        assert!(poll(waiting.as_mut()).is_pending());
        assert!(!asked_to_close(&only), "a request in flight is never shed");
        drop(request);
        assert!(poll(waiting.as_mut()).is_pending(), "idle again, it is asked to close");
        assert!(asked_to_close(&only));
        drop(only);
        assert!(poll(waiting.as_mut()).is_ready());
    }

    #[test]
    fn a_shed_connection_that_starts_a_request_lets_another_be_shed() {
        let conns = Conns::new(2, 10);
        let (first, second) = (open(&conns, "192.0.2.1"), open(&conns, "192.0.2.2"));
        let admitted = conns.admit(ip("192.0.2.3")).unwrap();
        let mut waiting = pin!(conns.slot(admitted));
        assert!(poll(waiting.as_mut()).is_pending());
        assert!(asked_to_close(&first) && !asked_to_close(&second));
        let late = first.request();
        assert!(poll(waiting.as_mut()).is_pending());
        assert!(asked_to_close(&second), "the next idle one is asked instead");
        drop(second);
        let _third = ready(poll(waiting.as_mut()));
        drop(late);
        assert_eq!(conns.lock().closing, 1, "the first, idle again, is still on its way out");
        drop(first);
        let st = conns.lock();
        assert_eq!((st.closing, st.idle.len(), st.open.len()), (0, 1, 1));
    }
}
