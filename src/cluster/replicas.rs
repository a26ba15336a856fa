//! Copies of durable records on other nodes (runtime.md §8), the network's
//! side of `runtime/failover.rs`: sending a commit to the nodes that keep
//! copies and waiting for their acknowledgements, keeping copies sent here
//! (refusing one older than the copy kept: a fenced, stale incarnation),
//! and answering the run's home when it looks for the copies of a dead
//! node's actors.

use super::agent::Agent;
use super::table::log;
use crate::contain::lock;
use crate::runtime::durable::{Record, Records};
use crate::runtime::failover::{Copy, FailoverMsg, Gather, Orphan};
use crate::runtime::remote::{Net, SpawnMsg, Wire};
use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::{Arc, Mutex};

/// How long the run's home waits for a live node to say which copies of a
/// dead node's actors it keeps (within `FAILOVER_WAIT`, which the other
/// nodes wait for the home's word).
const ORPHANS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A node's bookkeeping of copies, sent and kept.
#[derive(Default)]
pub struct Replicas {
    /// Copies kept here, by actor id.
    kept: Mutex<FxHashMap<u128, Kept>>,
    /// Copies sent and not yet acknowledged: request → (node, commit).
    acks: Mutex<FxHashMap<u64, (String, Arc<Gather>)>>,
    /// (actor, node): that node has been sent the actor's spawn.
    kits_sent: Mutex<FxHashSet<(u128, String)>>,
    /// Per actor hosted here: the generation and copy nodes the run's home
    /// knows of.
    registered: Mutex<FxHashMap<u128, (u64, Vec<String>)>>,
    /// Copy nodes told to a home and not yet answered, by request.
    registering: Mutex<FxHashMap<u64, Registering>>,
}

/// A commit whose copies went to other nodes than before, waiting for the
/// run's home to learn them before it counts as done.
struct Registering {
    home: String,
    id: u128,
    generation: u64,
    holders: Vec<String>,
    gather: Arc<Gather>,
}

/// What is known of a copy kept here (the record itself is in the store).
struct Kept {
    run: u128,
    /// The node that sent it: where the actor ran.
    host: String,
    name: String,
    generation: u64,
    committed_at: f64,
    kit: Option<Box<SpawnMsg>>,
}

impl Agent {
    /// The `copies` live nodes (not this one) that keep copies of `name`'s
    /// records: the first by rendezvous hash, so the choice stays put while
    /// membership does.
    fn copy_nodes(&self, name: &str, copies: usize) -> Vec<String> {
        let live = self.live_peers();
        super::rules::copy_nodes(name, live.iter().map(String::as_str), copies).into_iter().map(str::to_string).collect()
    }

    /// The peers that may keep copies: alive, and not declared down.
    fn live_peers(&self) -> Vec<String> {
        let peers = self.state.peers();
        peers
            .into_iter()
            .filter(|(m, s)| s == "alive" && *m.name != **Net::me(self) && !self.is_down(&m.name))
            .map(|(m, _)| m.name)
            .collect()
    }

    pub(super) fn live_peer_count(&self) -> usize {
        self.live_peers().len()
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_copies(
        &self,
        run: u128,
        home: &str,
        id: u128,
        name: &str,
        record: &Record,
        kit: Option<Arc<SpawnMsg>>,
        copies: usize,
        gather: &Arc<Gather>,
    ) {
        let targets = self.copy_nodes(name, copies);
        let mut holders = targets.clone();
        holders.sort();
        let known = lock(&self.replicas.registered).get(&id).is_some_and(|(g, h)| *g == record.generation && *h == holders);
        let gather = if known {
            gather.clone()
        } else {
            // New copy nodes: once they acknowledge, the run's home learns
            // them, and only then does the commit count as done.
            gather.add();
            let (agent, outer, home, generation) = (self.this.clone(), gather.clone(), home.to_string(), record.generation);
            Gather::new(Box::new(move |r| match (r, agent.upgrade()) {
                (Ok(()), Some(a)) => a.register_copies(run, home, id, generation, holders, outer),
                (r, _) => outer.one(r.and(Err("the node is stopping".into()))),
            }))
        };
        for node in targets {
            let req = self.next_req();
            let kit = kit.as_ref().filter(|_| lock(&self.replicas.kits_sent).insert((id, node.clone()))).map(|k| Box::new((**k).clone()));
            gather.add();
            lock(&self.replicas.acks).insert(req, (node.clone(), gather.clone()));
            let m = FailoverMsg::Replica {
                run,
                home: home.to_string(),
                id,
                name: name.to_string(),
                record: Box::new(record.clone()),
                kit,
                req,
            };
            self.send(&node, &Wire::Failover(Box::new(m)));
        }
        if !known {
            gather.one(Ok(()));
        }
    }

    /// Tell the run's home that actor `id`'s turns of `generation` are
    /// copied to `holders`; `gather`'s part ends with its answer.
    fn register_copies(&self, run: u128, home: String, id: u128, generation: u64, holders: Vec<String>, gather: Arc<Gather>) {
        if home == **Net::me(self) {
            let node = self.runs().into_iter().find(|n| n.run_id.as_u128() == run);
            let ok = node.is_some_and(|n| n.register_copies(&home, id, generation, holders.clone()));
            return self.copies_registered(Registering { home, id, generation, holders, gather }, ok);
        }
        let req = self.next_req();
        let m = FailoverMsg::CopyNodes { run, id, generation, holders: holders.clone(), req };
        lock(&self.replicas.registering).insert(req, Registering { home: home.clone(), id, generation, holders, gather });
        self.send(&home, &Wire::Failover(Box::new(m)));
    }

    fn copies_registered(&self, r: Registering, ok: bool) {
        if ok {
            lock(&self.replicas.registered).insert(r.id, (r.generation, r.holders));
            r.gather.one(Ok(()));
        } else {
            r.gather.one(Err(format!("the run's home {} refused the copy nodes: this actor was failed over", r.home)));
        }
    }

    /// The store copies are kept in: the node's own, or on a program's
    /// node without one, the program's.
    fn copy_store(&self) -> Result<Arc<Records>, String> {
        if self.data.is_none() {
            if let Some(n) = self.runs().into_iter().find(|n| n.home.is_none()) {
                return n.records_shared();
            }
        }
        self.record_store()
    }

    /// A failover message (the home's word goes to its run).
    pub(super) fn failover_msg(self: &Arc<Self>, from: &str, m: FailoverMsg) {
        match m {
            FailoverMsg::Replica { run, id, name, record, kit, req, .. } => self.keep_copy(from, run, id, name, *record, kit, req),
            FailoverMsg::ReplicaAck { req, error } => {
                if let Some((node, g)) = lock(&self.replicas.acks).remove(&req) {
                    g.one(error.map_or(Ok(()), |e| Err(format!("node {node} refused the copy: {e}"))));
                }
            }
            FailoverMsg::OrphanList { req, .. } | FailoverMsg::Fetched { req, .. } => self.answered(req, Wire::Failover(Box::new(m))),
            FailoverMsg::CopyNodes { run, id, generation, holders, req } => {
                let node = self.runs().into_iter().find(|n| n.run_id.as_u128() == run);
                let ok = node.is_some_and(|n| n.register_copies(from, id, generation, holders));
                self.send(from, &Wire::Failover(Box::new(FailoverMsg::CopyNodesKept { req, ok })));
            }
            FailoverMsg::CopyNodesKept { req, ok } => {
                if let Some(r) = lock(&self.replicas.registering).remove(&req) {
                    self.copies_registered(r, ok);
                }
            }
            FailoverMsg::Done { run, host, moved } => {
                let node = self.runs().into_iter().find(|n| n.run_id.as_u128() == run);
                if let Some(n) = node {
                    n.failed_over(&host, &moved);
                }
            }
            q @ (FailoverMsg::Orphans { .. } | FailoverMsg::Fetch { .. }) => {
                if let Some(a) = self.answer_copies(q) {
                    self.send(from, &a);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn keep_copy(self: &Arc<Self>, from: &str, run: u128, id: u128, name: String, record: Record, kit: Option<Box<SpawnMsg>>, req: u64) {
        let ack = |a: &Arc<Agent>, error: Option<String>| {
            a.send(from, &Wire::Failover(Box::new(FailoverMsg::ReplicaAck { req, error })));
        };
        {
            let mut kept = lock(&self.replicas.kept);
            if let Some(k) = kept.get(&id).filter(|k| !super::rules::accepts_copy(Some(k.generation), record.generation)) {
                // A stale incarnation writing: fenced off.
                let why = format!("generation {} of {name} is older than the copy kept ({})", record.generation, k.generation);
                log(Net::me(&**self), "fenced", &[("peer", from), ("actor", &name), ("reason", &why)]);
                drop(kept);
                return ack(self, Some(why));
            }
            let k = kept.entry(id).or_insert_with(|| Kept {
                run,
                host: String::new(),
                name: name.clone(),
                generation: 0,
                committed_at: 0.0,
                kit: None,
            });
            k.host = from.to_string();
            k.generation = record.generation;
            k.committed_at = record.committed_at;
            if kit.is_some() {
                k.kit = kit;
            }
        }
        match self.copy_store() {
            Ok(store) => match &*store {
                Records::Disk(s) => {
                    let (a, from) = (self.clone(), from.to_string());
                    s.submit(
                        vec![(name, record)],
                        Box::new(move |r| a.send(&from, &Wire::Failover(Box::new(FailoverMsg::ReplicaAck { req, error: r.err() })))),
                    );
                }
                Records::Memory(_) => ack(self, store.save(vec![(name, record)]).err()),
            },
            Err(e) => ack(self, Some(e)),
        }
    }

    /// Answer the home's questions about the copies kept here.
    pub(super) fn answer_copies(&self, q: FailoverMsg) -> Option<Wire> {
        let a = match q {
            FailoverMsg::Orphans { run, host, req } => {
                let mut kept = lock(&self.replicas.kept);
                let items = kept
                    .iter()
                    .filter(|(_, k)| k.run == run && k.host == host)
                    .map(|(id, k)| Orphan {
                        id: *id,
                        name: k.name.clone(),
                        generation: k.generation,
                        committed_at: k.committed_at,
                        kit: k.kit.is_some(),
                    })
                    .collect();
                // Fenced from now on: what `host` still writes would be
                // newer than the copy just reported, and lost in the
                // restore (found by the simulation).
                for k in kept.values_mut().filter(|k| k.run == run && k.host == host) {
                    k.generation += 1;
                }
                FailoverMsg::OrphanList { req, items }
            }
            FailoverMsg::Fetch { ids, req } => {
                let wanted: Vec<(u128, String, Option<Box<SpawnMsg>>)> = {
                    let kept = lock(&self.replicas.kept);
                    ids.iter().filter_map(|id| kept.get(id).map(|k| (*id, k.name.clone(), k.kit.clone()))).collect()
                };
                // One read of the store for all of them (a read per actor
                // would wait behind the commits of those already restored).
                let mut records: FxHashMap<String, Record> = match self.copy_store().and_then(|s| s.list()) {
                    Ok(all) => all.into_iter().collect(),
                    Err(_) => FxHashMap::default(),
                };
                let copies = wanted.into_iter().map(|(id, name, kit)| (id, records.remove(&name), kit)).collect();
                FailoverMsg::Fetched { req, copies }
            }
            _ => return None,
        };
        Some(Wire::Failover(Box::new(a)))
    }

    /// Actor `id` runs again as `generation`: older writes are refused.
    pub(super) fn fence_copies(&self, id: u128, node: &str, generation: u64) {
        if let Some(k) = lock(&self.replicas.kept).get_mut(&id) {
            k.generation = k.generation.max(generation);
            k.host = node.to_string();
        }
    }

    /// Peer `node` is gone: copies it has not acknowledged count as done
    /// (the actor runs under-replicated until its next commit finds
    /// another node), and it has no spawn of anything any more.
    pub(super) fn copies_lost(&self, node: &str) {
        let lost: Vec<Arc<Gather>> = {
            let mut acks = lock(&self.replicas.acks);
            let reqs: Vec<u64> = acks.iter().filter(|(_, (n, _))| n == node).map(|(r, _)| *r).collect();
            reqs.iter().filter_map(|r| acks.remove(r)).map(|(_, g)| g).collect()
        };
        for g in lost {
            g.one(Ok(()));
        }
        // The run's home gone: its run ends here too.
        let unanswered: Vec<Registering> = {
            let mut r = lock(&self.replicas.registering);
            let reqs: Vec<u64> = r.iter().filter(|(_, x)| x.home == node).map(|(q, _)| *q).collect();
            reqs.iter().filter_map(|q| r.remove(q)).collect()
        };
        for r in unanswered {
            r.gather.one(Err(format!("the run's home {node} is down")));
        }
        lock(&self.replicas.kits_sent).retain(|(_, n)| n != node);
    }

    /// Every live node's copies of the durable actors of `run` that ran on
    /// `host`. Every node is asked at once, and each is waited for until it
    /// answers or is declared down (bounded by `ORPHANS_WAIT`): a node that
    /// is merely slow may hold the newest copy. Not asked twice: a node
    /// asked fences `host`'s copies, once.
    pub(super) fn find_orphans(&self, run: u128, host: &str) -> Vec<(String, Orphan)> {
        let mut out = Vec::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let mut asked: FxHashMap<u64, String> = FxHashMap::default();
        for node in self.live_nodes() {
            let q = |req| FailoverMsg::Orphans { run, host: host.to_string(), req };
            if node == **Net::me(self) {
                if let Some(Wire::Failover(m)) = self.answer_copies(q(0)) {
                    if let FailoverMsg::OrphanList { items, .. } = *m {
                        out.extend(items.into_iter().map(|o| (node.clone(), o)));
                    }
                }
                continue;
            }
            let req = self.next_req();
            self.wait_for(req, tx.clone());
            self.send(&node, &Wire::Failover(Box::new(q(req))));
            asked.insert(req, node);
        }
        let deadline = std::time::Instant::now() + ORPHANS_WAIT;
        while !asked.is_empty() && std::time::Instant::now() < deadline {
            match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                Ok(Wire::Failover(m)) => {
                    if let FailoverMsg::OrphanList { req, items } = *m {
                        if let Some(node) = asked.remove(&req) {
                            out.extend(items.into_iter().map(|o| (node.clone(), o)));
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => asked.retain(|req, node| {
                    let down = self.is_down(node);
                    if down {
                        self.stop_waiting(*req);
                    }
                    !down
                }),
            }
        }
        for (req, node) in asked {
            self.stop_waiting(req);
            log(Net::me(self), "orphans-unanswered", &[("peer", &node), ("host", host)]);
        }
        out
    }

    pub(super) fn fetch_copies(&self, holder: &str, ids: &[u128]) -> Vec<Copy> {
        match self.call(holder, |req| Wire::Failover(Box::new(FailoverMsg::Fetch { ids: ids.to_vec(), req }))) {
            Some(Wire::Failover(m)) => match *m {
                FailoverMsg::Fetched { copies, .. } => copies,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }
}
