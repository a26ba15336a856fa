//! What a node knows of the cluster — its own identity and its table of
//! peers with their states — and the structured event log. Shared by the
//! connection handling (`node.rs`) and membership (`gossip.rs`).

use super::Resources;
use serde::{Deserialize, Serialize};

/// A node as others know it: identity (name, address, incarnation) and
/// what it offers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub incarnation: u64,
    pub capacity: Resources,
}

/// A program's own node (`noodle run --cluster`) logs only what went
/// wrong: the routine events would mix with the program's stderr.
pub(crate) static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
const ROUTINE: &[&str] = &["join", "connect", "leave", "run", "renamed", "rejoined", "suspect", "migration", "migration-skipped"];

/// One structured line per event on stderr: `noodle node NAME: event=E k=v ...`.
pub(crate) fn log(me: &str, event: &str, fields: &[(&str, &str)]) {
    if QUIET.load(std::sync::atomic::Ordering::Relaxed) && ROUTINE.contains(&event) {
        return;
    }
    let mut line = format!("noodle node {me}: event={event}");
    for (k, v) in fields {
        if v.contains(' ') || v.contains('"') || v.is_empty() {
            line.push_str(&format!(" {k}={v:?}"));
        } else {
            line.push_str(&format!(" {k}={v}"));
        }
    }
    // The node's own stderr, even from a worker whose program output goes
    // to the program's node.
    line.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), line.as_bytes());
}

/// What a node reports of its load to the others (every second), for
/// placement and `noodle cluster status`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Load {
    /// Actors running there.
    pub actors: u64,
    /// Share of its cores' time the process was busy over the last period.
    pub busy: f64,
    pub free_memory: u64,
    /// What its actors reserved of its capacity.
    pub reserved: Resources,
    /// Being drained: takes no new actors.
    #[serde(default)]
    pub draining: bool,
    /// Actors restored here after their node died (since it started).
    #[serde(default)]
    pub restored: u64,
}

/// The node's view of the cluster: shared by the node's event loop and,
/// through the agent, by the runtime's worker threads (placement).
pub struct State {
    pub me: Member,
    /// This node's incarnation now (renewed when it was declared dead
    /// and rejoined).
    pub incarnation: std::sync::atomic::AtomicU64,
    pub secret: Vec<u8>,
    pub peers: std::sync::Mutex<Vec<(Member, String)>>,
    /// The latest load report of each peer, and actors this node placed
    /// there since.
    pub loads: std::sync::Mutex<rustc_hash::FxHashMap<String, (Load, u64)>>,
}

impl State {
    pub fn new(me: Member, secret: Vec<u8>) -> State {
        let incarnation = std::sync::atomic::AtomicU64::new(me.incarnation);
        State { me, incarnation, secret, peers: Default::default(), loads: Default::default() }
    }

    /// This node as it introduces itself now.
    pub fn me_now(&self) -> Member {
        Member { incarnation: self.incarnation.load(std::sync::atomic::Ordering::SeqCst), ..self.me.clone() }
    }

    /// The peers and their states, as now.
    pub fn peers(&self) -> Vec<(Member, String)> {
        crate::contain::lock(&self.peers).clone()
    }

    /// A peer's address, if it is known and not down.
    pub fn addr_of(&self, name: &str) -> Option<String> {
        crate::contain::lock(&self.peers).iter().find(|(m, st)| m.name == name && st != "down" && st != "left").map(|(m, _)| m.addr.clone())
    }

    pub fn set_load(&self, name: &str, l: Load) {
        crate::contain::lock(&self.loads).insert(name.to_string(), (l, 0));
    }
    pub fn set_peer(&self, m: Member, state: &str) {
        let mut p = crate::contain::lock(&self.peers);
        match p.iter_mut().find(|(x, _)| x.name == m.name) {
            Some(e) => *e = (m, state.to_string()),
            None => p.push((m, state.to_string())),
        }
    }

    /// Membership's news of a peer: its state, keeping what a direct
    /// connection told of it (capacity).
    pub(super) fn peer_state(&self, m: Member, state: &str) {
        let mut p = crate::contain::lock(&self.peers);
        match p.iter_mut().find(|(x, _)| x.name == m.name) {
            Some(e) => {
                e.0.addr = m.addr;
                e.0.incarnation = e.0.incarnation.max(m.incarnation);
                e.1 = state.to_string();
            }
            None => p.push((m, state.to_string())),
        }
    }

    /// A peer another node told of: added as alive if unknown; its
    /// capacity taken if ours was not known yet.
    pub fn learn(&self, m: Member) {
        let mut p = crate::contain::lock(&self.peers);
        match p.iter_mut().find(|(x, _)| x.name == m.name) {
            Some(e) if e.0.capacity == Resources::default() => e.0.capacity = m.capacity,
            Some(_) => {}
            None => p.push((m, "alive".into())),
        }
    }

    /// A connection to the peer broke: suspect it, unless membership has
    /// already declared it down.
    pub fn suspect(&self, m: Member) {
        let mut p = crate::contain::lock(&self.peers);
        match p.iter_mut().find(|(x, _)| x.name == m.name) {
            Some(e) if e.1 == "alive" => e.1 = "suspect".into(),
            Some(_) => {}
            None => p.push((m, "suspect".into())),
        }
    }

    pub(super) fn forget(&self, name: &str) {
        crate::contain::lock(&self.peers).retain(|(m, _)| m.name != name);
    }
}

/// What a drain did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Drained {
    /// Actors that moved to other nodes.
    pub moved: u64,
    /// Actors still here, each with why.
    pub left: Vec<String>,
}

/// How long a drain waits for the actors to move.
pub const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(30);
