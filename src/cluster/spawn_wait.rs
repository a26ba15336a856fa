//! A durable actor is started only once its host sees as many live peers
//! as its commits need copies on. A node that just rejoined (a new
//! incarnation) knows few peers at first: were an actor started on it at
//! once, its first turns would be acknowledged with fewer copies than
//! `replicas`, and lost should the node die soon after. The spawn says how
//! many the sender saw; the host waits for as many, at most `PEER_WAIT`
//! (past it the cluster shrank, and fewer copies is all there can be).
//! Messages that come for the actor meanwhile wait for it (`early` in
//! `runtime/remote.rs` keeps them longer than this).

use super::agent::Agent;
use super::table::log;
use crate::contain::lock;
use crate::runtime::remote::Wire;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a spawn waits for its host to see enough peers.
pub const PEER_WAIT: Duration = Duration::from_secs(10);
/// How often held spawns look again.
const RECHECK: Duration = Duration::from_millis(50);

/// Spawns held until their host sees enough peers.
#[derive(Default)]
pub struct SpawnWait {
    held: Mutex<Vec<(Instant, String, Wire)>>,
    /// A thread is looking after the held spawns.
    watching: AtomicBool,
}

impl Agent {
    /// Whether a spawn must wait for this node to see more peers; if so it
    /// is held (and let go later), and `None` is returned.
    pub(super) fn hold_spawn(self: &Arc<Self>, from: &str, w: Wire) -> Option<Wire> {
        let needs = match &w {
            Wire::Spawn(s) => s.copies as usize,
            _ => 0,
        };
        if needs == 0 || self.live_peer_count() >= needs {
            return Some(w);
        }
        lock(&self.spawn_wait.held).push((Instant::now(), from.to_string(), w));
        if !self.spawn_wait.watching.swap(true, Ordering::SeqCst) {
            let agent = self.clone();
            let started = std::thread::Builder::new().name("noodle-spawn-wait".into()).spawn(move || agent.watch_held());
            if started.is_err() {
                self.spawn_wait.watching.store(false, Ordering::SeqCst);
                self.release_held(true);
            }
        }
        None
    }

    fn watch_held(self: Arc<Self>) {
        loop {
            std::thread::sleep(RECHECK);
            let _one_at_a_time = lock(&self.dispatching);
            if self.release_held(false) {
                self.spawn_wait.watching.store(false, Ordering::SeqCst);
                return;
            }
        }
    }

    /// Start the held spawns whose wait is over (all of them if `all`);
    /// whether none is left. Called while dispatching is held.
    fn release_held(self: &Arc<Self>, all: bool) -> bool {
        let peers = self.live_peer_count();
        let ready: Vec<(Instant, String, Wire)> = {
            let mut held = lock(&self.spawn_wait.held);
            let (ready, wait) = std::mem::take(&mut *held).into_iter().partition(|(since, _, w)| {
                all || since.elapsed() >= PEER_WAIT || matches!(w, Wire::Spawn(s) if peers >= s.copies as usize)
            });
            *held = wait;
            ready
        };
        for (since, from, mut w) in ready {
            if let Wire::Spawn(s) = &mut w {
                if peers < s.copies as usize {
                    let waited = since.elapsed().as_millis().to_string();
                    let fields = [("peers", peers.to_string()), ("copies", s.copies.to_string()), ("waited_ms", waited)];
                    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
                    log(crate::runtime::remote::Net::me(&**self), "spawn-few-peers", &fields);
                }
                s.copies = 0;
            }
            self.dispatch(&from, w);
        }
        lock(&self.spawn_wait.held).is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::table::{Member, State};
    use crate::runtime::remote::{RunInfo, SpawnMsg};
    use crate::vm::portable::Packet;

    fn member(name: &str) -> Member {
        Member { name: name.into(), addr: "127.0.0.1:1".into(), incarnation: 1, capacity: Default::default() }
    }

    fn spawn(copies: u32) -> Wire {
        let info = RunInfo { run: 7, home: "home".into(), hash: "h".into(), args: Vec::new(), max_depth: 100 };
        let (class, init_args, opts) = (Packet::none(), Packet::none(), Packet::none());
        let s = SpawnMsg {
            info,
            id: 9,
            name: None,
            class,
            init_args,
            opts,
            globals: Vec::new(),
            record: None,
            affinity: false,
            failover: false,
            copies,
        };
        Wire::Spawn(Box::new(s))
    }

    /// A node that knows no peer holds a spawn needing one copy, and lets
    /// it go (to fetch the program, here) once it sees a peer.
    #[test]
    fn a_spawn_waits_for_enough_peers() {
        let state = Arc::new(State::new(member("lonely"), b"secret".to_vec()));
        let (agent, _dials) = Agent::new(state.clone(), None, 1, Duration::from_secs(1));
        assert!(agent.hold_spawn("home", spawn(0)).is_some(), "no copies needed: no wait");
        assert!(agent.hold_spawn("home", spawn(1)).is_none(), "held while no peer is known");
        std::thread::sleep(RECHECK * 4);
        assert_eq!(lock(&agent.spawn_wait.held).len(), 1, "still held");
        lock(&state.peers).push((member("home"), "alive".into()));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !lock(&agent.spawn_wait.held).is_empty() {
            assert!(Instant::now() < deadline, "the spawn was not let go");
            std::thread::sleep(RECHECK);
        }
        assert!(agent.is_parked(7), "the let-go spawn waits for its program");
    }
}
