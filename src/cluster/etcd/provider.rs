//! A node's membership kept in etcd. The node holds a lease and keeps its
//! key `nodes/NAME` (its address, incarnation and capacity) attached to it;
//! every node lists `nodes/` a few times a second: a key that appears is a
//! member up, a key gone (its lease expired: the node stopped renewing) is
//! a member down, a key with a newer incarnation is a restart.
//!
//! Self-fencing: a node that has not renewed its lease for half its time
//! to live stops everything it runs (without committing) before etcd can
//! let the lease expire and the others restore its actors; it then takes
//! a new lease under a new incarnation. A node that finds its lease gone
//! (it was paused) does the same. So two incarnations of one actor never
//! run at once, whatever the clocks and the network do — etcd's lease is
//! the single verdict.
//!
//! The name directory and the claims on failed-over actors live beside
//! (`directory.rs`).

use super::Etcd;
use crate::cluster::agent::Agent;
use crate::cluster::membership::Preset;
use crate::cluster::table::{log, Member};
use crate::contain::lock;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long directory and ownership calls may take.
const CALL_TIME: Duration = Duration::from_secs(5);

/// A preset's lease timing.
#[derive(Clone, Copy, Debug)]
pub struct Times {
    /// The lease's time to live, in seconds (a dead node is declared so
    /// after this, plus one listing).
    pub ttl: u64,
    pub renew: Duration,
    /// Unrenewed this long, a node fences itself.
    pub fence: Duration,
    pub poll: Duration,
}

impl Times {
    pub fn of(p: Preset) -> Times {
        let ttl = match p {
            Preset::Fast => 2,
            Preset::Lan => 6,
            Preset::Wan => 20,
        };
        let ms = ttl * 1000;
        Times {
            ttl,
            renew: Duration::from_millis(ms / 6),
            fence: Duration::from_millis(ms / 2),
            poll: Duration::from_millis((ms / 10).min(500)),
        }
    }
}

pub struct Provider {
    /// Lease and membership calls (bounded well inside the fence time).
    members: Etcd,
    /// Directory and ownership calls.
    pub(crate) dir: Etcd,
    times: Times,
    lease: AtomicI64,
    epoch: Instant,
    /// Milliseconds after `epoch` until which the lease is surely alive.
    until: AtomicU64,
    fenced: AtomicBool,
    stopped: AtomicBool,
    /// The lease of every member listed, by name.
    leases: Mutex<FxHashMap<String, i64>>,
}

impl Provider {
    /// Register the agent's node in etcd at `url` and keep it there (a
    /// thread of its own); fails if etcd cannot be reached.
    pub fn start(agent: &Arc<Agent>, url: &str, preset: Preset) -> Result<Arc<Provider>, String> {
        let times = Times::of(preset);
        let p = Arc::new(Provider {
            members: Etcd::new(url, times.fence / 2)?,
            dir: Etcd::new(url, CALL_TIME)?,
            times,
            lease: AtomicI64::new(0),
            epoch: Instant::now(),
            until: AtomicU64::new(0),
            fenced: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            leases: Default::default(),
        });
        p.register(agent, agent.state.me_now())?;
        agent.use_provider(p.clone());
        let (a, q) = (agent.clone(), p.clone());
        std::thread::Builder::new().name("noodle-etcd".into()).spawn(move || q.run(&a)).map_err(|e| e.to_string())?;
        Ok(p)
    }

    /// Take a lease and put this node's key on it.
    fn register(&self, agent: &Agent, me: Member) -> Result<(), String> {
        let sent = Instant::now();
        let lease = self.members.grant(self.times.ttl)?;
        let value = serde_json::to_vec(&me).map_err(|e| e.to_string())?;
        if let Err(e) = self.members.put(&format!("nodes/{}", me.name), &value, lease) {
            let _ = self.members.revoke(lease);
            return Err(e);
        }
        let old = self.lease.swap(lease, SeqCst);
        if old != 0 {
            let _ = self.members.revoke(old);
        }
        self.renewed(sent);
        self.fenced.store(false, SeqCst);
        lock(&self.leases).insert(me.name.clone(), lease);
        log(&agent.state.me.name, "lease", &[("etcd", &self.members.addr), ("ttl", &self.times.ttl.to_string())]);
        Ok(())
    }

    fn renewed(&self, sent: Instant) {
        let until = sent.saturating_duration_since(self.epoch) + self.times.fence;
        self.until.store(until.as_millis() as u64, SeqCst);
    }

    /// Whether this node may still act: its lease is surely alive. If not,
    /// it fences itself (once) before answering.
    pub fn may_act(&self, agent: &Agent) -> bool {
        if self.epoch.elapsed().as_millis() as u64 <= self.until.load(SeqCst) {
            return true;
        }
        if !self.fenced.swap(true, SeqCst) {
            agent.lost_lease(&self.members.addr);
        }
        false
    }

    /// The lease of node `name` (0 if unknown).
    pub fn lease_of(&self, name: &str) -> i64 {
        lock(&self.leases).get(name).copied().unwrap_or(0)
    }

    /// Leave the cluster: the lease ends, and with it this node's key.
    pub fn leave(&self) {
        self.stopped.store(true, SeqCst);
        let _ = self.members.revoke(self.lease.load(SeqCst));
    }

    /// Renew, fence, list, until the node leaves.
    fn run(&self, agent: &Arc<Agent>) {
        let me = agent.state.me.name.clone();
        let mut known: FxHashMap<String, Member> = FxHashMap::default();
        let (mut next_renew, mut next_poll) = (Instant::now() + self.times.renew, Instant::now());
        let mut unreachable = false;
        while !self.stopped.load(SeqCst) {
            let now = Instant::now();
            if now >= next_renew {
                next_renew = now + self.times.renew;
                match self.members.keep_alive(self.lease.load(SeqCst)) {
                    Ok(ttl) if ttl > 0 => {
                        self.renewed(now);
                        unreachable = false;
                    }
                    Ok(_) if !self.fenced.load(SeqCst) => {
                        // Expired: the others saw this node's key go.
                        self.fenced.store(true, SeqCst);
                        agent.declared_dead();
                    }
                    Ok(_) => {}
                    Err(e) if !unreachable => {
                        unreachable = true;
                        log(&me, "etcd-unreachable", &[("reason", &e)]);
                    }
                    Err(_) => {}
                }
            }
            self.may_act(agent);
            if agent.take_renew() {
                let inc = crate::cluster::now_millis().max(agent.state.incarnation.load(SeqCst) + 1);
                match self.register(agent, Member { incarnation: inc, ..agent.state.me_now() }) {
                    Ok(()) => {
                        agent.state.incarnation.store(inc, SeqCst);
                        agent.renewed();
                        log(&me, "renewed", &[("incarnation", &inc.to_string())]);
                    }
                    // Tried again on the next round.
                    Err(_) => agent.renew_later(),
                }
            }
            if now >= next_poll {
                next_poll = now + self.times.poll;
                if let Ok(kvs) = self.members.list("nodes/") {
                    self.seen(agent, &mut known, kvs);
                }
            }
            let wake = next_renew.min(next_poll).min(Instant::now() + self.times.fence / 4);
            std::thread::sleep(wake.saturating_duration_since(Instant::now()));
        }
    }

    /// The members etcd lists now, against those known before.
    fn seen(&self, agent: &Arc<Agent>, known: &mut FxHashMap<String, Member>, kvs: Vec<super::Kv>) {
        let state = &agent.state;
        let me = &state.me.name;
        let mut listed: FxHashMap<String, Member> = FxHashMap::default();
        let mut leases = FxHashMap::default();
        for kv in kvs {
            match serde_json::from_slice::<Member>(&kv.value) {
                Ok(m) if kv.key.ends_with(&format!("/nodes/{}", m.name)) => {
                    leases.insert(m.name.clone(), kv.lease);
                    if m.name != *me {
                        listed.insert(m.name.clone(), m);
                    }
                }
                _ => log(me, "bad-member", &[("etcd", &self.members.addr), ("key", &kv.key)]),
            }
        }
        let mine = self.lease.load(SeqCst);
        leases.insert(me.clone(), mine);
        *lock(&self.leases) = leases;
        for (name, m) in &listed {
            match known.get(name) {
                Some(old) if old.incarnation >= m.incarnation => continue,
                // Restarted: the old incarnation is dead, the new one up.
                Some(old) => down(agent, old),
                None => {}
            }
            log(me, "join", &[("peer", name), ("addr", &m.addr), ("incarnation", &m.incarnation.to_string())]);
            state.peer_state(m.clone(), "alive");
            agent.peer_up(name, m.incarnation);
            // Linked at once: loads flow, capacity is confirmed.
            drop(agent.link(name));
            known.insert(name.clone(), m.clone());
        }
        let gone: Vec<String> = known.keys().filter(|n| !listed.contains_key(*n)).cloned().collect();
        for name in gone {
            if let Some(m) = known.remove(&name) {
                down(agent, &m);
            }
        }
    }
}

fn down(agent: &Agent, m: &Member) {
    let left = agent.state.peers().iter().any(|(p, s)| p.name == m.name && s == "left");
    log(&agent.state.me.name, "down", &[("peer", &m.name), ("addr", &m.addr)]);
    if !left {
        agent.state.peer_state(m.clone(), "down");
    }
    agent.peer_down(&m.name, m.incarnation);
}
