//! Deterministic simulation of the cluster's fault handling (runtime.md §8).
//!
//! Many nodes in one thread, on a simulated network and a virtual clock,
//! all randomness from one seed: a seed that fails replays exactly. Each
//! node runs the real membership (`membership.rs`, SWIM by foca), the real
//! keep-majority (`quorum.rs`), placement (`placement.rs`) and the real
//! decisions of `rules.rs` (where copies go, which copy a failover takes,
//! which copy a holder refuses, which asks an actor already applied), and
//! around them the protocol the nodes speak: asks and replies, copies of
//! every commit and their acknowledgements, the home's failover (which
//! copies are kept, fetch, place, restore, tell everyone), fencing of dead
//! incarnations. The program's node (n000, the "home") asks durable
//! counters to add one, each ask numbered: the reply to the k-th ask to an
//! actor must be k — a turn lost or applied twice shows at once.
//!
//! Faults come from the seed: crashes (with or without a restart that
//! keeps the disk), pauses, partitions, delays, dropped and reordered
//! datagrams. Between nodes, a message is a TCP-like stream: in order,
//! delayed, held across a partition until it heals, and lost only when
//! the connection is reset (a node crashed, or the receiver declared the
//! sender dead). Membership datagrams are UDP: dropped, reordered.
//!
//! After every step (`check.rs`): no actor runs twice in one generation,
//! no acknowledged turn is lost or applied twice, every ask ends within
//! its bound; at the end, after faults stop, membership and the directory
//! have converged.

mod check;
mod node;

use super::membership::{Membership, NodeId, Preset};
use node::{Msg, SimNode};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::Duration;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Config {
    pub nodes: usize,
    /// Durable actors per node.
    pub actors_per_node: usize,
    /// Virtual time to run, faults included (the last stretch is quiet).
    pub seconds: u64,
    /// Nodes that keep a copy of each commit.
    pub replicas: usize,
    /// Keep a trace of every step (for replaying a seed).
    pub trace: bool,
    /// Inject faults (off: a calm run, the baseline).
    pub faults: bool,
}

impl Config {
    /// The small clusters CI runs many of: 5–20 nodes picked by the seed.
    pub fn small(seed: u64) -> Config {
        let nodes = 5 + (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 60) as usize % 16;
        Config { nodes, actors_per_node: 2, seconds: 60, replicas: 1, trace: false, faults: true }
    }

    /// A large cluster.
    pub fn large() -> Config {
        Config { nodes: 100, actors_per_node: 1, seconds: 60, replicas: 1, trace: false, faults: true }
    }
}

/// What a seed did.
#[derive(Debug, Default)]
pub struct Report {
    pub steps: u64,
    pub datagrams: u64,
    pub messages: u64,
    pub asks_done: u64,
    pub asks_failed: u64,
    pub failovers: u64,
    pub faults: Vec<String>,
    /// The run ended before the end (its home was cut off or declared dead).
    pub run_ended: Option<String>,
    pub trace: Vec<String>,
}

/// An invariant broken: when, which, and the trace's tail.
#[derive(Debug)]
pub struct Violation {
    pub seed: u64,
    pub at: Duration,
    pub what: String,
    pub trace: Vec<String>,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "seed {}: at {:.3} s: {}", self.seed, self.at.as_secs_f64(), self.what)?;
        for l in self.trace.iter().rev().take(60).rev() {
            writeln!(f, "  {l}")?;
        }
        Ok(())
    }
}

/// What happens at a moment of virtual time.
enum Ev {
    Datagram { to: usize, data: Vec<u8> },
    Timer { node: usize, membership: u64, timer: foca::Timer<NodeId> },
    Msg { to: usize, from: usize, from_life: u64, to_life: u64, from_inc: u64, msg: Msg },
    Wake { node: usize, life: u64, what: node::Wake },
    Fault(Fault),
}

#[derive(Clone, Debug)]
enum Fault {
    Crash(usize),
    Restart(usize),
    Pause(usize, Duration),
    Partition(Vec<usize>),
    Heal,
    Delay(Duration),
    Drop(f64),
    Calm,
}

struct Pending {
    at: Duration,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// The network's state: who is cut off, how slow, how lossy.
#[derive(Default)]
struct Net {
    /// Nodes on the far side of a partition (empty: none).
    cut: Vec<bool>,
    extra_delay: Duration,
    drop: f64,
    /// The last delivery time on each (from, to) stream: in order.
    last: rustc_hash::FxHashMap<(usize, usize), Duration>,
    /// Stream messages held by a partition until it heals.
    held: Vec<(usize, usize, u64, u64, u64, Msg)>,
}

pub(crate) struct World {
    now: Duration,
    queue: BinaryHeap<Pending>,
    seq: u64,
    rng: SmallRng,
    nodes: Vec<SimNode>,
    net: Net,
    cfg: Config,
    report: Report,
    check: check::Checker,
}

const SECRET: &[u8] = b"simulated cluster";
/// When faults may start, and how long the end stays quiet.
const WARMUP: Duration = Duration::from_secs(10);
const QUIET: Duration = Duration::from_secs(30);

pub(super) fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10_000 + i as u16))
}

pub fn name(i: usize) -> String {
    format!("n{i:03}")
}

/// Run one seed.
pub fn run(seed: u64, cfg: &Config) -> Result<Report, Violation> {
    let mut w = World::new(seed, cfg.clone());
    let end = Duration::from_secs(cfg.seconds);
    if cfg.faults {
        w.schedule_faults(end);
    }
    while let Some(p) = w.queue.pop() {
        if p.at > end {
            break;
        }
        w.now = p.at;
        w.report.steps += 1;
        w.step(p.ev);
        if let Err(what) = w.check.after_step(w.now, &w.nodes) {
            return Err(w.violation(seed, what));
        }
    }
    if let Err(what) = w.check.at_end(w.now, &w.nodes) {
        return Err(w.violation(seed, what));
    }
    w.report.trace = std::mem::take(&mut w.check.trace);
    let home = &w.nodes[0];
    w.report.asks_done = home.home.as_ref().map_or(0, |h| h.done);
    w.report.asks_failed = home.home.as_ref().map_or(0, |h| h.failed);
    w.report.failovers = home.home.as_ref().map_or(0, |h| h.restored);
    w.report.run_ended = w.check.run_ended.clone();
    Ok(w.report)
}

impl World {
    fn new(seed: u64, cfg: Config) -> World {
        let mut rng = SmallRng::seed_from_u64(seed);
        let actors = cfg.nodes * cfg.actors_per_node;
        let nodes: Vec<SimNode> = (0..cfg.nodes)
            .map(|i| {
                let m = Membership::new(id(i, 1), SECRET, Preset::Lan, rng.random());
                SimNode::new(i, name(i), m, Preset::Lan.settle(), (i == 0).then_some((cfg.nodes, actors)), cfg.replicas)
            })
            .collect();
        let mut w = World {
            now: Duration::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            rng,
            net: Net { cut: vec![false; cfg.nodes], ..Default::default() },
            check: check::Checker::new(actors, cfg.trace),
            nodes,
            cfg,
            report: Report::default(),
        };
        // Everyone joins the home, a little apart; the home starts its
        // program once it sees everyone.
        for i in 1..w.nodes.len() {
            let at = Duration::from_millis(w.rng.random_range(0..500));
            let o = w.nodes[i].m.join(addr(0)).unwrap_or_default();
            w.absorb(i, o, at);
        }
        w.push(Duration::from_millis(100), Ev::Wake { node: 0, life: 1, what: node::Wake::Start });
        w
    }

    fn violation(&mut self, seed: u64, what: String) -> Violation {
        Violation { seed, at: self.now, what, trace: std::mem::take(&mut self.check.trace) }
    }

    fn push(&mut self, after: Duration, ev: Ev) {
        self.seq += 1;
        self.queue.push(Pending { at: self.now + after, seq: self.seq, ev });
    }

    fn trace(&mut self, line: String) {
        self.check.note(self.now, line);
    }

    fn step(&mut self, ev: Ev) {
        // A paused node handles nothing until it runs again.
        let target = match &ev {
            Ev::Datagram { to, .. } | Ev::Msg { to, .. } => Some(*to),
            Ev::Timer { node, .. } | Ev::Wake { node, .. } => Some(*node),
            Ev::Fault(_) => None,
        };
        if let Some(t) = target {
            if let Some(until) = self.nodes[t].paused_until.filter(|u| *u > self.now) {
                self.seq += 1;
                self.queue.push(Pending { at: until, seq: self.seq, ev });
                return;
            }
            if self.nodes[t].crashed {
                return;
            }
        }
        let mut out = node::Out::default();
        match ev {
            Ev::Datagram { to, data } => {
                self.report.datagrams += 1;
                self.nodes[to].before_gossip(self.now);
                if let Ok(o) = self.nodes[to].m.datagram(&data) {
                    self.nodes[to].membership(o, self.now, &mut out);
                }
                self.flush(to, out);
            }
            Ev::Timer { node, membership, timer } => {
                // Timers of a membership since replaced are void.
                if membership == self.nodes[node].membership {
                    if let Ok(o) = self.nodes[node].m.timer(timer) {
                        self.nodes[node].membership(o, self.now, &mut out);
                    }
                    self.flush(node, out);
                }
            }
            Ev::Msg { to, from, from_life, to_life, from_inc, msg } => {
                // A reset connection loses what was on it.
                if to_life == self.nodes[to].life && from_life == self.nodes[from].life {
                    self.report.messages += 1;
                    self.nodes[to].message(from, from_inc, msg, self.now, &mut out);
                    self.flush(to, out);
                }
            }
            Ev::Wake { node, life, what } => {
                if life == self.nodes[node].life {
                    self.nodes[node].wake(what, self.now, &mut out);
                    self.flush(node, out);
                }
            }
            Ev::Fault(f) => self.fault(f),
        }
    }

    /// Send what a node's handler produced.
    fn flush(&mut self, from: usize, out: node::Out) {
        if self.nodes[from].reset {
            // Off the smaller side of a split: a fresh membership, so its
            // view (everyone else down) never reaches the others.
            let m = self.nodes[from].m.fresh(self.rng.random());
            let inc = m.me().incarnation;
            let known: Vec<usize> = (0..self.nodes.len()).filter(|j| *j != from).collect();
            let pick = vec![known[self.rng.random_range(0..known.len())], known[self.rng.random_range(0..known.len())]];
            self.nodes[from].renew(m);
            self.trace(format!("{}: leaves the smaller side as incarnation {inc}", self.nodes[from].name));
            let life = self.nodes[from].life;
            self.push(Duration::from_millis(10), Ev::Wake { node: from, life, what: node::Wake::Announce(pick) });
        }
        for line in out.log {
            self.trace(format!("{}: {line}", self.nodes[from].name));
        }
        for e in out.checks {
            self.check.event(self.now, from, e);
        }
        let o = node::Gossip { send: out.send, timers: out.timers };
        self.absorb_gossip(from, o, Duration::ZERO);
        for (to, msg) in out.msgs {
            self.send(from, to, msg);
        }
        for (after, what) in out.wakes {
            let life = self.nodes[from].life;
            self.push(after, Ev::Wake { node: from, life, what });
        }
    }

    fn absorb(&mut self, from: usize, o: super::membership::Output, at: Duration) {
        self.absorb_gossip(from, node::Gossip { send: o.send, timers: o.timers }, at);
    }

    fn absorb_gossip(&mut self, from: usize, o: node::Gossip, at: Duration) {
        let membership = self.nodes[from].membership;
        for (after, timer) in o.timers {
            self.push(at + after, Ev::Timer { node: from, membership, timer });
        }
        for (to, data) in o.send {
            let Some(to) = (to.port() as usize).checked_sub(10_000).filter(|t| *t < self.nodes.len()) else { continue };
            if self.net.cut[from] != self.net.cut[to] || self.rng.random_bool(self.net.drop) {
                continue;
            }
            // Datagrams may overtake each other.
            let delay = Duration::from_micros(self.rng.random_range(100..3_000)) + self.net.extra_delay;
            self.push(at + delay, Ev::Datagram { to, data });
        }
    }

    /// A stream message: in order per (from, to), held across a partition.
    fn send(&mut self, from: usize, to: usize, msg: Msg) {
        let (fl, tl) = (self.nodes[from].life, self.nodes[to].life);
        let from_inc = self.nodes[from].m.me().incarnation;
        if from == to {
            self.push(Duration::ZERO, Ev::Msg { to, from, from_life: fl, to_life: tl, from_inc, msg });
            return;
        }
        if self.net.cut[from] != self.net.cut[to] {
            self.net.held.push((from, to, fl, tl, from_inc, msg));
            return;
        }
        let delay = Duration::from_micros(self.rng.random_range(200..2_000)) + self.net.extra_delay;
        let last = self.net.last.get(&(from, to)).copied().unwrap_or_default();
        let at = (self.now + delay).max(last);
        self.net.last.insert((from, to), at);
        self.seq += 1;
        self.queue.push(Pending { at, seq: self.seq, ev: Ev::Msg { to, from, from_life: fl, to_life: tl, from_inc, msg } });
    }

    /// Draw the faults of this seed: at most one node down (crashed,
    /// paused or cut off) at a time — the failures `replicas: 1` covers —
    /// with time to recover between; slow and lossy spells anywhere.
    fn schedule_faults(&mut self, end: Duration) {
        let n = self.nodes.len();
        let mut t = WARMUP + Duration::from_millis(self.rng.random_range(0..5_000));
        let stop = end.saturating_sub(QUIET);
        while t < stop {
            let victim = self.rng.random_range(1..n);
            let lasting = Duration::from_millis(self.rng.random_range(1_000..12_000));
            let (begin, finish) = match self.rng.random_range(0..10) {
                0..=2 => {
                    let back = self.rng.random_bool(0.7);
                    (Fault::Crash(victim), back.then_some(Fault::Restart(victim)))
                }
                3..=4 => (Fault::Pause(victim, lasting), None),
                5..=6 => {
                    let mut side = vec![victim];
                    if self.cfg.replicas >= 2 && n >= 7 {
                        side.push(1 + (victim % (n - 1)));
                    }
                    side.dedup();
                    (Fault::Partition(side), Some(Fault::Heal))
                }
                7 => (Fault::Delay(Duration::from_millis(self.rng.random_range(20..400))), Some(Fault::Calm)),
                _ => (Fault::Drop(self.rng.random_range(0.02..0.12)), Some(Fault::Calm)),
            };
            let at = t;
            self.report.faults.push(format!("{:.1}s {begin:?} for {:.1}s", at.as_secs_f64(), lasting.as_secs_f64()));
            self.queue.push(Pending { at, seq: u64::MAX - self.queue.len() as u64, ev: Ev::Fault(begin) });
            if let Some(f) = finish {
                self.queue.push(Pending { at: at + lasting, seq: u64::MAX - self.queue.len() as u64, ev: Ev::Fault(f) });
            }
            t = at + lasting + Duration::from_millis(self.rng.random_range(12_000..20_000));
        }
    }

    fn fault(&mut self, f: Fault) {
        self.trace(format!("FAULT {f:?}"));
        match f {
            Fault::Crash(i) => {
                self.nodes[i].crash();
            }
            Fault::Restart(i) => {
                let life = self.nodes[i].life + 1;
                let inc = self.nodes[i].m.me().incarnation.max(life) + 1;
                let m = Membership::new(id(i, inc), SECRET, Preset::Lan, self.rng.random());
                self.nodes[i].restart(m, life);
                let o = self.nodes[i].m.join(addr(0)).unwrap_or_default();
                self.absorb(i, o, Duration::ZERO);
            }
            Fault::Pause(i, d) => self.nodes[i].paused_until = Some(self.now + d),
            Fault::Partition(side) => {
                for s in side {
                    self.net.cut[s] = true;
                }
            }
            Fault::Heal => {
                self.net.cut.iter_mut().for_each(|c| *c = false);
                for (from, to, fl, tl, from_inc, msg) in std::mem::take(&mut self.net.held) {
                    if fl == self.nodes[from].life && tl == self.nodes[to].life {
                        self.seq += 1;
                        let at = (self.now + Duration::from_millis(1)).max(self.net.last.get(&(from, to)).copied().unwrap_or_default());
                        self.net.last.insert((from, to), at);
                        let ev = Ev::Msg { to, from, from_life: fl, to_life: tl, from_inc, msg };
                        self.queue.push(Pending { at, seq: self.seq, ev });
                    }
                }
            }
            Fault::Delay(d) => self.net.extra_delay = d,
            Fault::Drop(p) => self.net.drop = p,
            Fault::Calm => {
                self.net.extra_delay = Duration::ZERO;
                self.net.drop = 0.0;
            }
        }
    }
}

fn id(i: usize, incarnation: u64) -> NodeId {
    NodeId { name: name(i), addr: addr(i), incarnation }
}
