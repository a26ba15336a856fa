//! One simulated node: membership events in, the protocol's messages in
//! and out. Node n000 is the run's home: it places the actors, asks them,
//! and coordinates failover, as a program's node does.

use super::super::membership::{Event, Membership, NodeId, Output};
use super::super::quorum::Quorum;
use super::super::rules::{self, Applied, Newest};
use super::super::{place_actor, ClusterView, NodeView, Request, Resources, Strategy};
use super::name;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

/// What the home saw that the checker judges.
pub enum Seen {
    /// The k-th ask to `actor` was answered `value`; `failed_before` asks
    /// to it failed (each may or may not have been applied).
    Acked {
        actor: Actor,
        k: u64,
        value: i64,
        failed_before: u64,
    },
    Lost {
        actor: Actor,
    },
    RunEnded(String),
}

mod home;

pub type Actor = u32;

/// How long the home waits for one round of a failover's questions.
const CALL_TIME: Duration = Duration::from_secs(5);
const HOME: usize = 0;
/// How often a node that knows nobody announces itself.
pub const ANNOUNCE_EVERY: Duration = Duration::from_secs(5);
/// How long a commit waits for this node to see as many peers as its
/// copies need (a node that just rejoined knows nobody yet) before it
/// makes do with fewer (the cluster shrank).
const PEER_WAIT: Duration = Duration::from_secs(10);
/// Stands in the copies a commit waits for while peers are too few.
const TOO_FEW: usize = usize::MAX;
/// Stands in the home's word on a commit's new copy nodes.
const REGISTERING: usize = usize::MAX - 1;

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
    /// Start (or restore) this actor here from `rec`, committing each
    /// turn to `copies` other nodes (as many as the home saw).
    Spawn {
        actor: Actor,
        rec: Rec,
        copies: usize,
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
    /// To the home: `actor`'s turns of `generation` are now copied to
    /// `holders`.
    CopyNodes {
        actor: Actor,
        generation: u64,
        holders: BTreeSet<usize>,
    },
    /// The home's answer (refused: that generation is not the current one).
    CopyNodesKept {
        actor: Actor,
        holders: BTreeSet<usize>,
        ok: bool,
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
    /// Try a commit that waits for peers again.
    Recommit(Actor),
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

/// A commit in progress.
struct Committing {
    /// Copies not acknowledged yet (or `TOO_FEW`, or `REGISTERING`).
    waiting: BTreeSet<usize>,
    /// The reply (ask number, value) it completes; `None`: a spawn.
    reply: Option<(u64, i64)>,
    /// The nodes that acknowledged a copy.
    holders: BTreeSet<usize>,
}

pub struct Hosted {
    pub rec: Rec,
    /// The commit in progress: copies not acknowledged yet, and the reply
    /// (ask number, value) or spawn it completes.
    commit: Option<Committing>,
    queue: VecDeque<u64>,
    /// Copies each commit needs (fewer only once `PEER_WAIT` is over).
    copies: usize,
    /// Since when a commit waits for this node to see enough peers.
    short_since: Option<Duration>,
    /// The copy nodes the home knows of for this actor.
    registered: Option<BTreeSet<usize>>,
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
    /// Per actor: the newest copy's generation and holder.
    generations: BTreeMap<Actor, (u64, usize)>,
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
    /// Per actor: the nodes holding copies of its acknowledged turns.
    pub copy_nodes: Vec<BTreeSet<usize>>,
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
            copy_nodes: vec![BTreeSet::new(); actors],
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
                Event::Up(id) => self.peer_up(&id, out),
                Event::Down(id) => self.peer_down(&id, now, out),
                Event::Renamed(old, new) => {
                    // A restarted node: its old incarnation is dead.
                    self.peer_down(&old, now, out);
                    self.peer_up(&new, out);
                }
                Event::Rejoined(_) => {
                    // Its verdicts were made cut off: forgotten with a
                    // fresh membership.
                    self.reset = true;
                    self.stop_all("declared dead", out);
                }
            }
        }
    }

    /// Before a datagram: tell members declared down so only while not
    /// cut off itself.
    pub fn before_gossip(&mut self, now: Duration) {
        let healthy = self.quorum.has_majority(&self.name, now, self.m.suspects());
        self.m.set_notify_down(healthy);
    }

    fn peer_up(&mut self, id: &NodeId, out: &mut Out) {
        let i = index(&id.name);
        if i == self.idx || self.dead.get(&i).is_some_and(|d| *d >= id.incarnation) {
            return;
        }
        self.up.insert(i);
        self.quorum.up(&id.name);
        // A node that joins (or rejoins, having forgotten) learns where
        // the run's actors are.
        if let Some(h) = self.home.as_ref().filter(|h| h.started) {
            let moved = h.directory.iter().enumerate().filter(|(_, d)| d.0 != usize::MAX).map(|(a, d)| (a as Actor, d.0, d.1)).collect();
            out.msgs.push((i, Msg::Done { moved }));
        }
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
            self.hosted.iter().filter(|(_, h)| h.commit.as_ref().is_some_and(|c| c.waiting.contains(&i))).map(|(a, _)| *a).collect();
        for a in waiting {
            if let Some(c) = self.hosted.get_mut(&a).and_then(|h| h.commit.as_mut()) {
                c.waiting.remove(&i);
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
            Msg::Spawn { actor, rec, copies } => {
                if self.hosted.get(&actor).is_some_and(|h| h.rec.generation >= rec.generation) {
                    return;
                }
                // A restored actor commits at once too: its copies move to
                // its new copy nodes before it answers anything.
                let h = Hosted { rec, commit: None, queue: VecDeque::new(), copies, short_since: None, registered: None };
                self.hosted.insert(actor, h);
                self.commit(actor, None, now, out);
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
                if let Some(c) = &mut h.commit {
                    if c.waiting.remove(&holder) {
                        c.holders.insert(holder);
                    }
                }
                self.maybe_finish(actor, now, out);
            }
            Msg::Orphans { host, req } => {
                let items =
                    self.copies.iter().filter(|(_, c)| c.host == host).map(|(a, c)| (*a, c.generation, c.rec.committed_at)).collect();
                // Fenced from now on: what `host` still writes would be
                // newer than the copy just reported, and lost in the restore.
                for c in self.copies.values_mut().filter(|c| c.host == host) {
                    c.generation = c.generation.max(c.rec.generation + 1);
                }
                out.msgs.push((from, Msg::OrphanList { req, items }));
            }
            Msg::Fetch { ids, req } => {
                let copies = ids.iter().filter_map(|a| self.copies.get(a).map(|c| (*a, c.rec.clone()))).collect();
                out.msgs.push((from, Msg::Fetched { req, copies }));
            }
            Msg::Done { moved } => self.failed_over(&moved),
            Msg::CopyNodes { actor, generation, holders } => self.register(from, actor, generation, holders, now, out),
            Msg::CopyNodesKept { actor, holders, ok } => self.registered(actor, holders, ok, now, out),
            Msg::OrphanList { req, items } => {
                let Some(h) = &mut self.home else { return };
                let copy_nodes = &h.copy_nodes;
                let Some((host, f)) = h.failovers.iter_mut().find(|(_, f)| f.req == req && !f.fetching) else { return };
                // Only copies the actor's last acknowledged turn went to.
                for (a, g, t) in items.into_iter().filter(|(a, _, _)| copy_nodes[*a as usize].contains(&from)) {
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
        if targets.len() < h.copies.min(self.replicas) && now.saturating_sub(*h.short_since.get_or_insert(now)) < PEER_WAIT {
            h.commit = Some(Committing { waiting: BTreeSet::from([TOO_FEW]), reply, holders: BTreeSet::new() });
            out.wakes.push((Duration::from_millis(500), Wake::Recommit(actor)));
            return;
        }
        h.short_since = None;
        h.rec.committed_at = now.as_secs_f64();
        let rec = h.rec.clone();
        h.commit = Some(Committing { waiting: targets.iter().copied().collect(), reply, holders: BTreeSet::new() });
        for t in targets {
            let req = self.req();
            self.acks.insert(req, (actor, t));
            out.msgs.push((t, Msg::Replica { actor, rec: rec.clone(), req }));
        }
        self.maybe_finish(actor, now, out);
    }

    fn maybe_finish(&mut self, actor: Actor, now: Duration, out: &mut Out) {
        let Some(h) = self.hosted.get_mut(&actor) else { return };
        let Some(c) = &mut h.commit else { return };
        if !c.waiting.is_empty() {
            return;
        }
        // Copies on other nodes than the home knows of: it learns them
        // before the turn is acknowledged, so a failover restores from one
        // of them and never from an older copy elsewhere.
        if h.registered.as_ref() != Some(&c.holders) {
            c.waiting.insert(REGISTERING);
            let (generation, holders) = (h.rec.generation, c.holders.clone());
            return self.register(self.idx, actor, generation, holders, now, out);
        }
        let reply = c.reply;
        h.commit = None;
        match reply {
            Some((seq, v)) => out.msgs.push((HOME, Msg::Reply { actor, seq, value: Ok(v) })),
            None if h.rec.generation == 1 => out.msgs.push((HOME, Msg::Spawned { actor })),
            None => {}
        }
        self.next_queued(actor, now, out);
    }

    fn next_queued(&mut self, actor: Actor, now: Duration, out: &mut Out) {
        if let Some(seq) = self.hosted.get_mut(&actor).and_then(|h| h.queue.pop_front()) {
            self.apply(actor, seq, now, out);
        }
    }

    /// On the home: `host` says `actor`'s copies are on `holders`.
    fn register(&mut self, host: usize, actor: Actor, generation: u64, holders: BTreeSet<usize>, now: Duration, out: &mut Out) {
        let up = host == HOME || self.up.contains(&host);
        let Some(h) = &mut self.home else {
            return out.msgs.push((HOME, Msg::CopyNodes { actor, generation, holders }));
        };
        // Not from a node being failed over: its copies were counted.
        let ok = h.directory[actor as usize] == (host, generation) && up && !h.failovers.contains_key(&host);
        if ok {
            h.copy_nodes[actor as usize] = holders.clone();
        }
        if host != HOME {
            return out.msgs.push((host, Msg::CopyNodesKept { actor, holders, ok }));
        }
        self.registered(actor, holders, ok, now, out)
    }

    /// The home's answer about `actor`'s copy nodes.
    fn registered(&mut self, actor: Actor, holders: BTreeSet<usize>, ok: bool, now: Duration, out: &mut Out) {
        let Some(h) = self.hosted.get_mut(&actor) else { return };
        if !ok {
            out.log.push(format!("{} fenced by the home: stops", actor_name(actor)));
            self.hosted.remove(&actor);
            return;
        }
        let Some(c) = h.commit.as_mut().filter(|c| c.waiting.contains(&REGISTERING)) else { return };
        c.waiting.remove(&REGISTERING);
        h.registered = Some(holders);
        self.maybe_finish(actor, now, out);
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
            Wake::Recommit(a) => {
                let Some(h) = self.hosted.get_mut(&a) else { return };
                if h.commit.as_ref().is_some_and(|c| c.waiting.contains(&TOO_FEW)) {
                    let reply = h.commit.take().and_then(|c| c.reply);
                    self.commit(a, reply, now, out);
                }
            }
            Wake::FailoverDeadline(host, req) => {
                if let Some(f) = self.home.as_mut().and_then(|h| h.failovers.get_mut(&host)).filter(|f| f.req == req) {
                    f.asked.clear();
                    self.advance_failover(host, out);
                }
            }
        }
    }
}
