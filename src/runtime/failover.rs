//! Failover of durable actors (runtime.md §7–§8). Every commit of a durable
//! actor hosted on a node is copied to `replicas` other nodes before it
//! counts as done (`Gather`); the first copy also carries how to start the
//! actor again (its spawn: the "kit"). When membership declares a node
//! down, the run's home — the one node that is certainly alive while the
//! run is — asks every live node which of the dead node's durable actors
//! it keeps copies of, restores each from its newest copy on a node the
//! placement engine picks (same id, bumped generation), registers its name
//! there and tells every node where it went. Until then, what waits on the
//! dead node (asks, watches) and what is sent to it waits too; then asks
//! to restored actors are sent again (the actor's per-sender marks drop a
//! duplicate and its kept reply answers it) and the rest fails with
//! `NodeDownError`. Every wait is bounded by `FAILOVER_WAIT`.

use super::durable::{Done, Record};
use super::monitor::Waited;
use super::remote::{SpawnMsg, Wire};
use super::*;
use crate::vm::portable::{PKey, Packet, Portable};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a node waits for the home's word on a dead node's actors
/// before failing what waits on them.
pub const FAILOVER_WAIT: Duration = Duration::from_secs(15);

/// Between nodes, about copies of durable records and failover.
#[derive(Debug, Serialize, Deserialize)]
pub enum FailoverMsg {
    /// Keep this commit of actor `id` (of `run`, whose main runs on `home`).
    Replica {
        run: u128,
        home: String,
        id: u128,
        name: String,
        record: Box<Record>,
        kit: Option<Box<SpawnMsg>>,
        req: u64,
    },
    /// The copy is durable (or refused: `error`).
    ReplicaAck {
        req: u64,
        error: Option<String>,
    },
    /// Which durable actors of `run` hosted on `host` do you keep copies of?
    Orphans {
        run: u128,
        host: String,
        req: u64,
    },
    OrphanList {
        req: u64,
        items: Vec<Orphan>,
    },
    /// Send me your copies of these actors (read in one transaction).
    Fetch {
        ids: Vec<u128>,
        req: u64,
    },
    Fetched {
        req: u64,
        copies: Vec<Copy>,
    },
    /// To the run's home: the turns of actor `id` in `generation` are
    /// copied to `holders` from now on (sent before a turn whose copies
    /// went to other nodes than before is acknowledged).
    CopyNodes {
        run: u128,
        id: u128,
        generation: u64,
        holders: Vec<String>,
        req: u64,
    },
    /// The home's answer (refused: that incarnation is being failed over,
    /// or the actor lives on in a newer generation).
    CopyNodesKept {
        req: u64,
        ok: bool,
    },
    /// The home's word on the actors of `run` that ran on `host`: these
    /// were restored, each on the node and in the generation given; the
    /// rest are lost.
    Done {
        run: u128,
        host: String,
        moved: Vec<(u128, String, u64)>,
    },
}

impl FailoverMsg {
    pub fn run(&self) -> Option<u128> {
        match self {
            FailoverMsg::Done { run, .. } => Some(*run),
            _ => None,
        }
    }
}

/// A copy handed over: actor id, record, and how to start it if kept.
pub type Copy = (u128, Option<Record>, Option<Box<SpawnMsg>>);

/// A copy kept of a durable actor's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Orphan {
    pub id: u128,
    pub name: String,
    pub generation: u64,
    pub committed_at: f64,
    pub kit: bool,
}

/// Waits for several parts of one commit (the local store and each copy);
/// calls `done` once, when the last is in, with the first error if any.
pub struct Gather {
    left: AtomicUsize,
    error: Mutex<Option<String>>,
    done: Mutex<Option<Done>>,
}

impl Gather {
    /// Starts with one part: the caller's, ended by `one` once every other
    /// part was `add`ed.
    pub fn new(done: Done) -> Arc<Gather> {
        Arc::new(Gather { left: AtomicUsize::new(1), error: Mutex::new(None), done: Mutex::new(Some(done)) })
    }

    pub fn add(&self) {
        self.left.fetch_add(1, Ordering::SeqCst);
    }

    pub fn one(&self, r: Result<(), String>) {
        if let Err(e) = r {
            lock(&self.error).get_or_insert(e);
        }
        if self.left.fetch_sub(1, Ordering::SeqCst) == 1 {
            let done = lock(&self.done).take();
            if let Some(done) = done {
                done(lock(&self.error).take().map_or(Ok(()), Err));
            }
        }
    }
}

type Held = Vec<(Arc<ActorCell>, Box<Envelope>)>;

/// A run's side of failover on one node.
#[derive(Default)]
pub(crate) struct State {
    /// Dead nodes: `Some` with what was sent to them meanwhile while the
    /// run waits for word of their actors, `None` once it came (sends to
    /// them fail at once then).
    waiting: Mutex<FxHashMap<Arc<str>, Option<Held>>>,
    /// How to start the durable actors hosted here again (their spawn).
    kits: Mutex<FxHashMap<u128, Arc<SpawnMsg>>>,
    /// On the home: per durable actor, the generation and the nodes that
    /// hold copies of its acknowledged turns. A failover restores only
    /// from those: an older copy elsewhere would lose turns.
    copy_nodes: Mutex<FxHashMap<u128, (u64, Vec<String>)>>,
}

impl Node {
    /// A named actor starts here from `s`: keep its spawn, in case it is
    /// durable and its record's copies need it.
    pub(crate) fn keep_kit(&self, s: &SpawnMsg) {
        if s.name.is_some() {
            let kit = SpawnMsg { record: None, failover: false, ..s.clone() };
            lock(&self.failover.kits).insert(s.id, Arc::new(kit));
        }
    }

    /// Copy a commit of the durable actor `cell` to `copies` other nodes;
    /// each copy is a part of `gather`.
    pub(crate) fn replicate(&self, cell: &ActorCell, rec: &Record, copies: usize, gather: &Arc<Gather>) {
        let (Some(net), Some(name)) = (self.net.get(), cell.name.as_deref()) else { return };
        if copies == 0 {
            return;
        }
        let id = cell.id.as_u128();
        let kit = lock(&self.failover.kits).get(&id).cloned();
        let home = self.home.as_deref().map_or_else(|| self.me_name(), str::to_string);
        net.replicate(self.run_id.as_u128(), &home, id, name, rec, kit, copies, gather);
    }

    /// Node `name` is down: what waits on it waits for the home's word on
    /// its actors (bounded); on the home, failover starts.
    pub fn node_down(self: &Arc<Self>, name: &str) {
        let name: Arc<str> = Arc::from(name);
        {
            let mut waiting = lock(&self.failover.waiting);
            if waiting.contains_key(&name) {
                return;
            }
            waiting.insert(name.clone(), Some(Vec::new()));
        }
        let (n, host) = (self.clone(), name.clone());
        let coordinate = self.home.is_none();
        let started = std::thread::Builder::new().name("noodle-failover".into()).spawn(move || {
            let net = n.net.get().cloned();
            match net.filter(|_| coordinate) {
                Some(net) => {
                    let moved = n.fail_over(&net, &host);
                    let word = || {
                        Wire::Failover(Box::new(FailoverMsg::Done {
                            run: n.run_id.as_u128(),
                            host: host.to_string(),
                            moved: moved.clone(),
                        }))
                    };
                    for node in net.view().nodes.iter().filter(|v| *v.name != **net.me()) {
                        net.send(&node.name, &word());
                    }
                    n.failed_over(&host, &moved);
                }
                None => {
                    std::thread::sleep(FAILOVER_WAIT);
                    n.failed_over(&host, &[]);
                }
            }
        });
        if started.is_err() {
            self.failed_over(&name, &[]);
        }
    }

    /// The word on the actors of dead node `host`: `moved` were restored
    /// elsewhere. Asks waiting on them are sent again, sends held for them
    /// go out; the rest fails. Only the first word counts.
    pub(crate) fn failed_over(self: &Arc<Self>, host: &str, moved: &[(u128, String, u64)]) {
        // Later sends to `host` fail at once.
        let Some(held) = lock(&self.failover.waiting).get_mut(host).and_then(Option::take) else { return };
        let to: FxHashMap<u128, Arc<str>> = moved.iter().map(|(id, n, _)| (*id, Arc::from(n.as_str()))).collect();
        if !to.is_empty() {
            super::migrate::relocated(&to);
        }
        let net = self.net.get().cloned();
        if let Some(net) = &net {
            // Copies kept here refuse what the old incarnation still writes.
            for (id, node, generation) in moved {
                net.restored(*id, node, *generation);
            }
        }
        let ended: Vec<((u32, u64), monitor::Awaiting)> = {
            let mut waiting = lock(&self.awaiting);
            let keys: Vec<(u32, u64)> = waiting.iter().filter(|(_, a)| &*a.node == host).map(|(k, _)| *k).collect();
            keys.into_iter().filter_map(|k| waiting.remove(&k).map(|a| (k, a))).collect()
        };
        for ((worker, id), a) in ended {
            match (&a.what, net.as_ref()) {
                (Waited::Ask { to: target, delivery, .. }, Some(net)) if to.contains_key(target) => {
                    let node = to[target].clone();
                    let d = delivery.clone();
                    lock(&self.awaiting).insert((worker, id), monitor::Awaiting { node: node.clone(), what: a.what });
                    net.send(&node, &Wire::Deliver(d));
                }
                (Waited::Watch(cell), _) if to.contains_key(&cell.id.as_u128()) => {
                    self.post(worker as usize, WorkerMsg::Reply { id, result: monitor::restarted_packet(cell) });
                }
                _ => self.post(worker as usize, WorkerMsg::Reply { id, result: a.what.failure(host) }),
            }
        }
        for (cell, env) in held {
            match (to.get(&cell.id.as_u128()), net.as_ref()) {
                (Some(node), Some(net)) => self.send_remote(net, node.clone(), &cell, env),
                _ => self.send_to_down(host, &cell, env.body),
            }
        }
    }

    /// This node was declared dead (it was paused or cut off) or is on the
    /// smaller side of a split (`why`): what it ran for the run is restored
    /// elsewhere, so it stops without committing anything; a program whose
    /// node this is ends with an error.
    pub fn abandon(self: &Arc<Self>, why: &str) {
        if self.home.is_none() {
            crate::ewriteln!("error: {why}; the program's actors on other nodes were stopped");
            self.post(0, WorkerMsg::Exit(3));
            return;
        }
        self.shutdown();
    }

    /// On the home: `host` copies actor `id`'s turns of `generation` to
    /// `holders` from now on. Refused while `host` is failed over (its
    /// copies were already counted) and for an older generation.
    pub(crate) fn register_copies(&self, host: &str, id: u128, generation: u64, holders: Vec<String>) -> bool {
        if lock(&self.failover.waiting).contains_key(host) {
            return false;
        }
        let mut m = lock(&self.failover.copy_nodes);
        if m.get(&id).is_some_and(|(g, _)| generation < *g) {
            return false;
        }
        m.insert(id, (generation, holders));
        true
    }

    /// Node `name` is back (a new incarnation): should it die again, its
    /// actors fail over again.
    pub fn node_up(&self, name: &str) {
        let mut waiting = lock(&self.failover.waiting);
        if waiting.get(name).is_some_and(Option::is_none) {
            waiting.remove(name);
        }
    }

    /// A send to an actor on `node`, which is down: held while the run
    /// waits for word of its failover (`None`), else handed back.
    pub(crate) fn hold_for_failover(&self, node: &str, cell: &ActorCell, env: Box<Envelope>) -> Option<Box<Envelope>> {
        let mut waiting = lock(&self.failover.waiting);
        match waiting.get_mut(node) {
            Some(Some(q)) => {
                let cell = lock(registry()).by_id.get(&cell.id).and_then(Weak::upgrade);
                match cell {
                    Some(c) => {
                        q.push((c, env));
                        None
                    }
                    None => Some(env),
                }
            }
            _ => Some(env),
        }
    }
}

/// What `spawn ... with {...}` asked of a node, read from the portable
/// options a kit carries (no VM needed).
fn needs_of(opts: &Packet) -> super::options::Needs {
    let mut n = super::options::Needs::default();
    let Portable::Map(items) = &opts.root else { return n };
    for (k, v) in items {
        let PKey::Str(k) = k else { continue };
        let count = |v: &Portable| match v {
            Portable::Int(i) => (*i).max(0) as u64,
            _ => 0,
        };
        match (k.as_str(), v) {
            ("require_node", Portable::Str(s)) => n.require_node = Some(s.clone()),
            ("avoid_node", Portable::Str(s)) => n.avoid_node = Some(s.clone()),
            ("cpus", v) => n.resources.cpus = count(v),
            ("gpus", v) => n.resources.gpus = count(v),
            ("memory", v) => n.resources.memory = count(v),
            ("state_size", v) => n.state_size = count(v),
            ("constraints", Portable::List(l)) => n.stateful = l.iter().any(|c| matches!(c, Portable::Str(s) if s == "stateful")),
            _ => {}
        }
    }
    n
}

impl Node {
    /// On the run's home: restore the durable actors that ran on the dead
    /// node `host` from their newest copies, each on a node the placement
    /// engine picks; where each went.
    fn fail_over(self: &Arc<Self>, net: &Arc<dyn remote::Net>, host: &str) -> Vec<(u128, String, u64)> {
        let (run, started) = (self.run_id.as_u128(), std::time::Instant::now());
        let mut pick = crate::cluster::rules::Newest::default();
        let mut kit_at: FxHashMap<u128, String> = FxHashMap::default();
        let mut names: FxHashMap<u128, String> = FxHashMap::default();
        let registered = lock(&self.failover.copy_nodes).clone();
        for (holder, o) in net.orphans(run, host) {
            if o.kit {
                kit_at.entry(o.id).or_insert_with(|| holder.clone());
            }
            // Only from the nodes its acknowledged turns went to (when known).
            if registered.get(&o.id).is_none_or(|(_, hs)| hs.contains(&holder)) {
                pick.offer(o.id, holder, o.generation, o.committed_at);
            }
            names.insert(o.id, o.name);
        }
        let newest = pick.into_map();
        // One question per node keeping copies, not one per actor.
        let mut by_holder: FxHashMap<String, Vec<u128>> = FxHashMap::default();
        for (id, (holder, _, _)) in &newest {
            by_holder.entry(holder.clone()).or_default().push(*id);
        }
        let mut copies: FxHashMap<u128, (Option<Record>, Option<Box<SpawnMsg>>)> = FxHashMap::default();
        for (holder, ids) in by_holder {
            copies.extend(net.fetch(&holder, &ids).into_iter().map(|(id, r, k)| (id, (r, k))));
        }
        // Spawns kept elsewhere, for copies whose holder kept none.
        let mut kits_from: FxHashMap<String, Vec<u128>> = FxHashMap::default();
        for (id, (_, kit)) in &copies {
            if let (None, Some(at)) = (kit, kit_at.get(id)) {
                kits_from.entry(at.clone()).or_default().push(*id);
            }
        }
        for (at, ids) in kits_from {
            for (id, _, kit) in net.fetch(&at, &ids) {
                if let (Some(c), Some(k)) = (copies.get_mut(&id), kit) {
                    c.1 = Some(k);
                }
            }
        }
        let mut moved = Vec::new();
        // One view of the cluster, kept up to date with what is placed here.
        let mut view = net.view();
        let mut placed = Vec::new();
        for (id, (_, generation, _)) in newest {
            let copy = copies.remove(&id).unwrap_or((None, None));
            let name = names.remove(&id).unwrap_or_default();
            match self.place_restored(&mut view, id, copy) {
                Ok((to, entry, kit)) => placed.push((id, generation + 1, name, to, entry, kit)),
                Err(why) => net.event("failover-failed", &[("actor", &name), ("from", host), ("reason", &why)]),
            }
        }
        // Each restore goes ahead only if its claim on the generation won.
        let claims: Vec<(u128, u64, String)> = placed.iter().map(|(id, g, _, to, _, _)| (*id, *g, to.clone())).collect();
        let t = std::time::Instant::now();
        let won = net.own(self.run_id.as_u128(), &claims);
        let own_ms = t.elapsed().as_millis().to_string();
        let mut claims = Vec::new();
        for ((id, generation, name, to, entry, kit), claim) in placed.into_iter().zip(won) {
            if let Err(why) = claim {
                net.event("failover-failed", &[("actor", &name), ("from", host), ("reason", &why)]);
                continue;
            }
            net.send(&to, &Wire::Spawn(kit));
            net.placed(&to);
            if let Some(e) = lock(&self.failover.copy_nodes).get_mut(&id) {
                e.0 = generation;
            }
            net.event("failover", &[("actor", &name), ("from", host), ("to", &to), ("generation", &generation.to_string())]);
            moved.push((id, to, generation));
            claims.push((name, remote::Entry { why: format!("failover from {host}, generation {generation}"), ..entry }));
        }
        let t = std::time::Instant::now();
        for (name, e) in net.claim_many(self.run_id.as_u128(), &claims) {
            net.event("failover-claim", &[("actor", &name), ("reason", &e)]);
        }
        let (names_ms, ms) = (t.elapsed().as_millis().to_string(), started.elapsed().as_millis().to_string());
        let restored = moved.len().to_string();
        net.event(
            "failover-done",
            &[("from", host), ("restored", &restored), ("ms", &ms), ("claims_ms", &own_ms), ("names_ms", &names_ms)],
        );
        moved
    }

    /// Where actor `id` starts again from its newest copy (a node
    /// placement picks), its directory entry there, and its spawn.
    fn place_restored(
        &self,
        view: &mut crate::cluster::ClusterView,
        id: u128,
        copy: (Option<Record>, Option<Box<SpawnMsg>>),
    ) -> Result<(String, remote::Entry, Box<SpawnMsg>), String> {
        let (Some(record), Some(mut kit)) = copy else {
            return Err("no copy of its record, or of how to start it, could be fetched".into());
        };
        let class = match &kit.class.root {
            Portable::Class { name, .. } => name.clone(),
            _ => "actor".into(),
        };
        let needs = needs_of(&kit.opts);
        let req = needs.request(&class, "balanced");
        let to = crate::cluster::place_actor(&req, view)?.primary;
        if let Some(n) = view.nodes.iter_mut().find(|n| n.name == to) {
            n.actors += 1;
            n.reserved = n.reserved.add(&needs.resources);
        }
        kit.record = Some(Box::new(record));
        kit.failover = true;
        // The copies it had, as many as the survivors allow.
        kit.copies = kit.copies.min(view.nodes.len().saturating_sub(1) as u32);
        Ok((to.clone(), remote::Entry { id, class, node: to, why: String::new() }, kit))
    }
}
