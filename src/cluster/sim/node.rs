//! One simulated node: membership events in, the protocol's messages in
//! and out. Node n000 is the run's home: it places the actors, asks them,
//! and coordinates failover, as a program's node does.

use super::super::membership::{Event, Membership, NodeId, Output};
use super::super::quorum::Quorum;
use super::super::rules::{self, Applied, Newest};
use super::super::{place_actor, ClusterView, NodeView, Request, Resources, Strategy};
use super::check::Seen;
use super::name;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

pub type Actor = u32;

/// How long the home waits for one round of a failover's questions.
const CALL_TIME: Duration = Duration::from_secs(5);
const HOME: usize = 0;
/// How often a node that knows nobody announces itself.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);

/// A durable counter's record: what a commit writes and a copy keeps.
#[derive(Clone, Debug)]
pub struct Rec {
    pub generation: u64,
    pub committed_at: f64,
    pub value: i64,
    pub applied: Applied<String, i64>,
}

#[derive(Clone, Debug)]
pub enum Msg {
    /// Start (or restore) this actor here from `rec`.
    Spawn {
        actor: Actor,
        rec: Rec,
    },
    Spawned {
        actor: Actor,
    },
    /// The k-th ask to `actor`, numbered `seq` by the home: add one.
    Ask {
        actor: Actor,
        seq: u64,
    },
    Reply {
        actor: Actor,
        seq: u64,
        value: Result<i64, String>,
    },
    Replica {
        actor: Actor,
        rec: Rec,
        req: u64,
    },
    ReplicaAck {
        req: u64,
        ok: bool,
    },
    Orphans {
        host: usize,
        req: u64,
    },
    OrphanList {
        req: u64,
        items: Vec<(Actor, u64, f64)>,
    },
    Fetch {
        ids: Vec<Actor>,
        req: u64,
    },
    Fetched {
        req: u64,
        copies: Vec<(Actor, Rec)>,
    },
    /// Where the actors of a dead node went (actor, node, generation).
    Done {
        moved: Vec<(Actor, usize, u64)>,
    },
}

#[derive(Clone, Debug)]
pub enum Wake {
    Start,
    Announce(Vec<usize>),
    Client(Actor),
    FailoverDeadline(usize, u64),
}

/// What a handler asks the world to do.
#[derive(Default)]
pub struct Out {
    pub send: Vec<(SocketAddr, Vec<u8>)>,
    pub timers: Vec<(Duration, foca::Timer<NodeId>)>,
    pub msgs: Vec<(usize, Msg)>,
    pub wakes: Vec<(Duration, Wake)>,
    pub log: Vec<String>,
    pub checks: Vec<Seen>,
}

pub struct Gossip {
    pub send: Vec<(SocketAddr, Vec<u8>)>,
    pub timers: Vec<(Duration, foca::Timer<NodeId>)>,
}

/// Copies not acknowledged yet, and the reply (ask number, value) or
/// spawn the commit completes.
type Committing = (BTreeSet<usize>, Option<(u64, i64)>);

pub struct Hosted {
    pub rec: Rec,
    /// The commit in progress: copies not acknowledged yet, and the reply
    /// (ask number, value) or spawn it completes.
    commit: Option<Committing>,
    queue: VecDeque<u64>,
}

/// A copy kept: whose it is, the record, and the generation it is fenced at.
pub struct Copy {
    pub host: usize,
    pub rec: Rec,
    pub generation: u64,
}

pub struct Ask {
    pub seq: u64,
    pub k: u64,
    pub to: usize,
    pub since: Duration,
}

struct Failover {
    req: u64,
    asked: BTreeSet<usize>,
    newest: Newest<Actor, usize>,
    /// The generation of the copy each actor is restored from.
    generations: BTreeMap<Actor, u64>,
    fetching: bool,
    copies: BTreeMap<Actor, Rec>,
}

/// The program's side, on the home.
#[derive(Default)]
pub struct Home {
    pub nodes: usize,
    pub actors: usize,
    pub started: bool,
    pub spawned: usize,
    pub directory: Vec<(usize, u64)>,
    /// Per actor: the number of the latest ask that ended, and the value
    /// the latest acknowledged one returned.
    pub acked: Vec<u64>,
    pub last_ok: Vec<i64>,
    pub failed_on: Vec<u64>,
    pub asks: Vec<Option<Ask>>,
    pub lost: Vec<bool>,
    pub ended: bool,
    seq: u64,
    placed: FxHashMap<String, u64>,
    failovers: BTreeMap<usize, Failover>,
    pub done: u64,
    pub failed: u64,
    pub restored: u64,
}

pub struct SimNode {
    pub idx: usize,
    pub name: String,
    pub m: Membership,
    /// Which membership instance `m` is (its timers carry it).
    pub membership: u64,
    pub life: u64,
    pub crashed: bool,
    pub paused_until: Option<Duration>,
    quorum: Quorum,
    settle: Duration,
    /// Peers alive in this node's view.
    pub up: BTreeSet<usize>,
    /// Peer → the newest incarnation declared dead (fenced off).
    dead: FxHashMap<usize, u64>,
    pub hosted: BTreeMap<Actor, Hosted>,
    /// Copies kept: on disk, they survive a crash.
    pub copies: BTreeMap<Actor, Copy>,
    pub directory: BTreeMap<Actor, (usize, u64)>,
    acks: FxHashMap<u64, (Actor, usize)>,
    next_req: u64,
    replicas: usize,
    pub home: Option<Home>,
    /// Found itself on the smaller side: the world gives it a fresh
    /// membership (a new incarnation that knows nobody yet).
    pub reset: bool,
}

fn index(name: &str) -> usize {
    name.trim_start_matches('n').parse().unwrap_or(usize::MAX)
}

fn actor_name(a: Actor) -> String {
    format!("acct-{a}")
}

impl SimNode {
    /// `home`: (nodes, actors) on the run's home.
    pub fn new(idx: usize, name: String, m: Membership, settle: Duration, home: Option<(usize, usize)>, replicas: usize) -> SimNode {
        let home = home.map(|(nodes, actors)| Home {
            nodes,
            actors,
            directory: vec![(usize::MAX, 0); actors],
            acked: vec![0; actors],
            last_ok: vec![0; actors],
            failed_on: vec![0; actors],
            asks: (0..actors).map(|_| None).collect(),
            lost: vec![false; actors],
            ..Home::default()
        });
        SimNode {
            idx,
            name,
            m,
            membership: 1,
            life: 1,
            crashed: false,
            paused_until: None,
            quorum: Quorum::new(settle),
            settle,
            up: BTreeSet::new(),
            dead: FxHashMap::default(),
            hosted: BTreeMap::new(),
            copies: BTreeMap::new(),
            directory: BTreeMap::new(),
            acks: FxHashMap::default(),
            next_req: 0,
            replicas,
            home,
            reset: false,
        }
    }

    /// The process dies: everything but its disk (the copies) is gone.
    pub fn crash(&mut self) {
        self.crashed = true;
        self.life += 1;
        self.hosted.clear();
        self.directory.clear();
        self.acks.clear();
        self.up.clear();
        self.dead.clear();
    }

    /// Started again as a new incarnation with the same disk.
    pub fn restart(&mut self, m: Membership, life: u64) {
        self.crashed = false;
        self.life = life;
        self.renew(m);
    }

    /// A new membership (a restart, or leaving the smaller side of a
    /// split): it knows nobody until its announcements are answered.
    pub fn renew(&mut self, m: Membership) {
        self.m = m;
        self.membership += 1;
        self.quorum = Quorum::new(self.settle);
        self.up.clear();
        // Its view of who died was the smaller side's: forgotten.
        self.dead.clear();
        self.reset = false;
    }

    fn req(&mut self) -> u64 {
        self.next_req += 1;
        self.next_req
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        self.up.iter().copied()
    }

    /// Stop every actor of the run here without committing.
    fn stop_all(&mut self, why: &str, out: &mut Out) {
        out.log.push(format!("stops everything: {why}"));
        self.hosted.clear();
        self.directory.clear();
        self.acks.clear();
        if let Some(h) = &mut self.home {
            if !h.ended {
                h.ended = true;
                out.checks.push(Seen::RunEnded(why.to_string()));
            }
        }
    }

    pub fn membership(&mut self, o: Output, now: Duration, out: &mut Out) {
        out.send.extend(o.send);
        out.timers.extend(o.timers);
        for e in o.events {
            match e {
                Event::Up(id) => self.peer_up(&id),
                Event::Down(id) => self.peer_down(&id, now, out),
                Event::Renamed(old, new) => {
                    // A restarted node: its old incarnation is dead.
                    self.peer_down(&old, now, out);
                    self.peer_up(&new);
                }
                Event::Rejoined(_) => self.stop_all("declared dead", out),
            }
        }
    }

    fn peer_up(&mut self, id: &NodeId) {
        let i = index(&id.name);
        if i == self.idx || self.dead.get(&i).is_some_and(|d| *d >= id.incarnation) {
            return;
        }
        self.up.insert(i);
        self.quorum.up(&id.name);
    }

    fn peer_down(&mut self, id: &NodeId, now: Duration, out: &mut Out) {
        let i = index(&id.name);
        let d = self.dead.entry(i).or_insert(0);
        *d = (*d).max(id.incarnation);
        if !self.up.remove(&i) {
            return;
        }
        out.log.push(format!("declares {} down", id.name));
        if !self.quorum.down(&self.name, &id.name, now) {
            self.reset = true;
            return self.stop_all("cut off from the majority", out);
        }
        // Copies on it are not waited for.
        let waiting: Vec<Actor> =
            self.hosted.iter().filter(|(_, h)| h.commit.as_ref().is_some_and(|c| c.0.contains(&i))).map(|(a, _)| *a).collect();
        for a in waiting {
            if let Some((w, _)) = self.hosted.get_mut(&a).and_then(|h| h.commit.as_mut()) {
                w.remove(&i);
            }
            self.maybe_finish(a, now, out);
        }
        if i == HOME && self.home.is_none() {
            // The run's home is gone: its actors here stop.
            self.hosted.clear();
            self.directory.clear();
        }
        if self.home.as_ref().is_some_and(|h| !h.ended) {
            self.start_failover(i, out);
        }
        let asked: Vec<usize> =
            self.home.iter().flat_map(|h| h.failovers.iter()).filter(|(_, f)| f.asked.contains(&i)).map(|(k, _)| *k).collect();
        for host in asked {
            if let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)) {
                f.asked.remove(&i);
            }
            self.advance_failover(host, out);
        }
    }

    pub fn message(&mut self, from: usize, from_inc: u64, msg: Msg, now: Duration, out: &mut Out) {
        if self.dead.get(&from).is_some_and(|d| from_inc <= *d) {
            out.log.push(format!("refuses {msg:?} from dead {}", name(from)));
            return;
        }
        match msg {
            Msg::Spawn { actor, rec } => {
                if self.hosted.get(&actor).is_some_and(|h| h.rec.generation >= rec.generation) {
                    return;
                }
                let fresh = rec.generation == 1;
                self.hosted.insert(actor, Hosted { rec, commit: None, queue: VecDeque::new() });
                if fresh {
                    self.commit(actor, None, now, out);
                }
            }
            Msg::Ask { actor, seq } => match self.hosted.get_mut(&actor) {
                None => out.msgs.push((from, Msg::Reply { actor, seq, value: Err("not here".into()) })),
                Some(h) if h.commit.is_some() => h.queue.push_back(seq),
                Some(_) => self.apply(actor, seq, now, out),
            },
            Msg::Replica { actor, rec, req } => {
                let ok = rules::accepts_copy(self.copies.get(&actor).map(|c| c.generation), rec.generation);
                if ok {
                    let generation = rec.generation;
                    self.copies.insert(actor, Copy { host: from, rec, generation });
                } else {
                    out.log.push(format!("fences {} of {} from {}", rec.generation, actor_name(actor), name(from)));
                }
                out.msgs.push((from, Msg::ReplicaAck { req, ok }));
            }
            Msg::ReplicaAck { req, ok } => {
                let Some((actor, holder)) = self.acks.remove(&req) else { return };
                let Some(h) = self.hosted.get_mut(&actor) else { return };
                if !ok {
                    out.log.push(format!("{} fenced: stops", actor_name(actor)));
                    self.hosted.remove(&actor);
                    return;
                }
                if let Some((w, _)) = &mut h.commit {
                    w.remove(&holder);
                }
                self.maybe_finish(actor, now, out);
            }
            Msg::Orphans { host, req } => {
                let items =
                    self.copies.iter().filter(|(_, c)| c.host == host).map(|(a, c)| (*a, c.generation, c.rec.committed_at)).collect();
                out.msgs.push((from, Msg::OrphanList { req, items }));
            }
            Msg::Fetch { ids, req } => {
                let copies = ids.iter().filter_map(|a| self.copies.get(a).map(|c| (*a, c.rec.clone()))).collect();
                out.msgs.push((from, Msg::Fetched { req, copies }));
            }
            Msg::Done { moved } => self.failed_over(&moved),
            Msg::OrphanList { req, items } => {
                let Some(h) = &mut self.home else { return };
                let Some((host, f)) = h.failovers.iter_mut().find(|(_, f)| f.req == req && !f.fetching) else { return };
                for (a, g, t) in items {
                    f.newest.offer(a, from, g, t);
                }
                f.asked.remove(&from);
                let host = *host;
                self.advance_failover(host, out);
            }
            Msg::Fetched { req, copies } => {
                let Some(h) = &mut self.home else { return };
                let Some((host, f)) = h.failovers.iter_mut().find(|(_, f)| f.req == req && f.fetching) else { return };
                f.copies.extend(copies);
                f.asked.remove(&from);
                let host = *host;
                self.advance_failover(host, out);
            }
            Msg::Spawned { actor } => {
                let Some(h) = &mut self.home else { return };
                h.spawned += 1;
                out.wakes.push((Duration::from_millis(u64::from(actor % 100)), Wake::Client(actor)));
            }
            Msg::Reply { actor, seq, value } => self.reply(actor, seq, value, out),
        }
    }

    /// Apply ask `seq` to `actor` (hosted here, not committing).
    fn apply(&mut self, actor: Actor, seq: u64, now: Duration, out: &mut Out) {
        let Some(h) = self.hosted.get_mut(&actor) else { return };
        if !h.rec.applied.is_new("main", seq) {
            // Applied before (a retry after a failover): the kept reply.
            let value = h.rec.applied.kept_reply("main", seq).ok_or_else(|| "reply no longer kept".to_string());
            out.msgs.push((HOME, Msg::Reply { actor, seq, value }));
            return self.next_queued(actor, now, out);
        }
        h.rec.value += 1;
        let v = h.rec.value;
        h.rec.applied.apply("main".into(), seq, Some(v));
        self.commit(actor, Some((seq, v)), now, out);
    }

    /// Commit `actor`'s state: on this node's disk at once, and on its copy
    /// nodes; the reply (or the spawn's word) leaves when all have it.
    fn commit(&mut self, actor: Actor, reply: Option<(u64, i64)>, now: Duration, out: &mut Out) {
        let names: Vec<String> = self.live().map(name).collect();
        let targets: Vec<usize> =
            rules::copy_nodes(&actor_name(actor), names.iter().map(String::as_str), self.replicas).into_iter().map(index).collect();
        let Some(h) = self.hosted.get_mut(&actor) else { return };
        h.rec.committed_at = now.as_secs_f64();
        let rec = h.rec.clone();
        h.commit = Some((targets.iter().copied().collect(), reply));
        for t in targets {
            let req = self.req();
            self.acks.insert(req, (actor, t));
            out.msgs.push((t, Msg::Replica { actor, rec: rec.clone(), req }));
        }
        self.maybe_finish(actor, now, out);
    }

    fn maybe_finish(&mut self, actor: Actor, now: Duration, out: &mut Out) {
        let Some(h) = self.hosted.get_mut(&actor) else { return };
        let Some((waiting, reply)) = &h.commit else { return };
        if !waiting.is_empty() {
            return;
        }
        let reply = *reply;
        h.commit = None;
        match reply {
            Some((seq, v)) => out.msgs.push((HOME, Msg::Reply { actor, seq, value: Ok(v) })),
            None => out.msgs.push((HOME, Msg::Spawned { actor })),
        }
        self.next_queued(actor, now, out);
    }

    fn next_queued(&mut self, actor: Actor, now: Duration, out: &mut Out) {
        if let Some(seq) = self.hosted.get_mut(&actor).and_then(|h| h.queue.pop_front()) {
            self.apply(actor, seq, now, out);
        }
    }

    /// The home's word on where a dead node's actors went.
    fn failed_over(&mut self, moved: &[(Actor, usize, u64)]) {
        for &(a, node, generation) in moved {
            self.directory.insert(a, (node, generation));
            if let Some(c) = self.copies.get_mut(&a) {
                c.generation = c.generation.max(generation);
                c.host = node;
            }
        }
    }

    pub fn wake(&mut self, what: Wake, now: Duration, out: &mut Out) {
        match what {
            Wake::Start => self.start(now, out),
            Wake::Announce(to) => {
                // Until someone answers (the split healed), try again.
                if self.m.members().is_empty() {
                    for &t in &to {
                        if let Ok(o) = self.m.join(super::addr(t)) {
                            self.membership(o, now, out);
                        }
                    }
                    out.wakes.push((ANNOUNCE_EVERY, Wake::Announce(to)));
                }
            }
            Wake::Client(a) => self.ask(a, now, out),
            Wake::FailoverDeadline(host, req) => {
                if let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)).filter(|f| f.req == req) {
                    f.asked.clear();
                    self.advance_failover(host, out);
                }
            }
        }
    }

    fn view(&self) -> ClusterView {
        let h = self.home.as_ref();
        let nodes = std::iter::once(self.idx)
            .chain(self.live())
            .map(|i| NodeView {
                name: name(i),
                capacity: Resources { cpus: 8, memory: 1 << 34, gpus: 0 },
                reserved: Resources::default(),
                actors: h.and_then(|h| h.placed.get(&name(i))).copied().unwrap_or(0),
                busy: 0.0,
                free_memory: 1 << 34,
                draining: false,
            })
            .collect();
        ClusterView { nodes, local: self.name.clone() }
    }

    fn place(&mut self) -> Result<usize, String> {
        let view = self.view();
        let mut req = Request::new("Counter", Strategy::Balanced);
        req.stateful = true;
        // The ticket draws the two candidates (a node draws it at random).
        let n = self.home.as_ref().map_or(0, |h| h.placed.values().sum::<u64>());
        req.ticket = (n + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 11;
        let to = place_actor(&req, &view)?.primary;
        if let Some(h) = &mut self.home {
            *h.placed.entry(to.clone()).or_default() += 1;
        }
        Ok(index(&to))
    }

    /// The home places every actor once it sees every node.
    fn start(&mut self, now: Duration, out: &mut Out) {
        let n = self.home.as_ref().map_or(0, |h| h.actors);
        let everyone = self.up.len() + 1 >= self.home.as_ref().map_or(0, |h| h.nodes);
        if !everyone && now < Duration::from_secs(8) {
            out.wakes.push((Duration::from_millis(200), Wake::Start));
            return;
        }
        out.log.push(format!("starts the program: {} nodes seen, {n} actors", self.up.len() + 1));
        for a in 0..n as Actor {
            let Ok(to) = self.place() else { continue };
            let rec = Rec { generation: 1, committed_at: 0.0, value: 0, applied: Applied::default() };
            if let Some(h) = &mut self.home {
                h.directory[a as usize] = (to, 1);
                h.started = true;
            }
            self.directory.insert(a, (to, 1));
            out.msgs.push((to, Msg::Spawn { actor: a, rec }));
        }
        if let Some(h) = &self.home {
            let mut placed: Vec<(&String, &u64)> = h.placed.iter().collect();
            placed.sort();
            out.log.push(format!("placed {placed:?}"));
        }
    }

    /// The client: the next ask to actor `a`.
    fn ask(&mut self, a: Actor, now: Duration, out: &mut Out) {
        let Some(h) = &mut self.home else { return };
        let ai = a as usize;
        if h.ended || h.lost[ai] || h.asks[ai].is_some() {
            return;
        }
        h.seq += 1;
        let (seq, k, to) = (h.seq, h.acked[ai] + 1, h.directory[ai].0);
        h.asks[ai] = Some(Ask { seq, k, to, since: now });
        // An ask to a node being failed over waits for the failover.
        if !h.failovers.contains_key(&to) {
            out.msgs.push((to, Msg::Ask { actor: a, seq }));
        }
    }

    fn reply(&mut self, a: Actor, seq: u64, value: Result<i64, String>, out: &mut Out) {
        let Some(h) = &mut self.home else { return };
        let ai = a as usize;
        let Some(ask) = h.asks[ai].as_ref().filter(|x| x.seq == seq) else { return };
        let k = ask.k;
        h.asks[ai] = None;
        match value {
            Ok(v) => {
                h.done += 1;
                h.acked[ai] = k;
                h.last_ok[ai] = v;
                out.checks.push(Seen::Acked { actor: a, k, value: v, failed_before: h.failed_on[ai] });
                let think = Duration::from_millis(20 + (seq * 7919 % 280));
                out.wakes.push((think, Wake::Client(a)));
            }
            Err(e) => {
                // The outcome is unknown: the next ask may see it applied.
                h.failed += 1;
                h.failed_on[ai] += 1;
                h.acked[ai] = k;
                out.log.push(format!("ask {seq} to {} failed: {e}", actor_name(a)));
                out.wakes.push((Duration::from_millis(500), Wake::Client(a)));
            }
        }
    }

    fn start_failover(&mut self, host: usize, out: &mut Out) {
        let req = self.req();
        let asked: BTreeSet<usize> = self.live().collect();
        let mut newest = Newest::default();
        for (a, c) in self.copies.iter().filter(|(_, c)| c.host == host) {
            newest.offer(*a, self.idx, c.generation, c.rec.committed_at);
        }
        for &n in &asked {
            out.msgs.push((n, Msg::Orphans { host, req }));
        }
        out.wakes.push((CALL_TIME, Wake::FailoverDeadline(host, req)));
        out.log.push(format!("fails over {}", name(host)));
        let f = Failover { req, asked, newest, generations: BTreeMap::new(), fetching: false, copies: BTreeMap::new() };
        if let Some(h) = &mut self.home {
            h.failovers.insert(host, f);
        }
    }

    /// A failover's round is complete (or timed out): fetch, then restore.
    fn advance_failover(&mut self, host: usize, out: &mut Out) {
        let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)) else { return };
        if !f.asked.is_empty() {
            out.log.push(format!("failover of {} waits for {:?}", name(host), f.asked));
            return;
        }
        if !f.fetching {
            f.fetching = true;
            let req = self.next_req + 1;
            self.next_req = req;
            let newest = std::mem::take(&mut f.newest).into_map();
            f.req = req;
            let mut by_holder: BTreeMap<usize, Vec<Actor>> = BTreeMap::new();
            for (a, (holder, generation, _)) in newest {
                by_holder.entry(holder).or_default().push(a);
                f.generations.insert(a, generation);
            }
            for (holder, mut ids) in by_holder {
                ids.sort_unstable();
                if holder == self.idx {
                    let local: Vec<(Actor, Rec)> = ids.iter().filter_map(|a| self.copies.get(a).map(|c| (*a, c.rec.clone()))).collect();
                    if let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)) {
                        f.copies.extend(local);
                    }
                } else {
                    if let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)) {
                        f.asked.insert(holder);
                    }
                    out.msgs.push((holder, Msg::Fetch { ids, req }));
                }
            }
            out.wakes.push((CALL_TIME, Wake::FailoverDeadline(host, req)));
            return self.advance_failover(host, out);
        }
        let Some(f) = self.home.as_mut().and_then(|h| h.failovers.remove(&host)) else { return };
        let mut moved = Vec::new();
        for (a, mut rec) in f.copies {
            // Only actors the directory still places on the dead node.
            let here = self.home.as_ref().is_some_and(|h| h.directory[a as usize].0 == host);
            if !here {
                continue;
            }
            let Ok(to) = self.place() else { continue };
            rec.generation = f.generations.get(&a).copied().unwrap_or(rec.generation).max(rec.generation) + 1;
            out.log.push(format!("restores {} on {} as generation {}", actor_name(a), name(to), rec.generation));
            moved.push((a, to, rec.generation));
            out.msgs.push((to, Msg::Spawn { actor: a, rec }));
        }
        for n in self.live().collect::<Vec<_>>() {
            out.msgs.push((n, Msg::Done { moved: moved.clone() }));
        }
        self.failed_over(&moved);
        let Some(h) = &mut self.home else { return };
        h.restored += moved.len() as u64;
        for &(a, to, g) in &moved {
            h.directory[a as usize] = (to, g);
        }
        // Asks waiting on the dead node: sent again where their actor went;
        // the rest fail (their actors had no copy).
        let restored: BTreeSet<Actor> = moved.iter().map(|m| m.0).collect();
        for ai in 0..h.actors {
            if h.directory[ai].0 == host && !h.lost[ai] && !restored.contains(&(ai as Actor)) {
                h.lost[ai] = true;
                out.log.push(format!("{} is lost: no copy", actor_name(ai as Actor)));
                out.checks.push(Seen::Lost { actor: ai as Actor });
            }
            let Some(ask) = &mut h.asks[ai] else { continue };
            if ask.to != host {
                continue;
            }
            // (Restored on the same node's new incarnation: sent again too.)
            if h.lost[ai] {
                h.asks[ai] = None;
                h.failed += 1;
                h.failed_on[ai] += 1;
                continue;
            }
            ask.to = h.directory[ai].0;
            out.msgs.push((ask.to, Msg::Ask { actor: ai as Actor, seq: ask.seq }));
        }
    }
}
