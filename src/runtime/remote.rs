//! The runtime's side of the cluster (runtime.md §8): what crosses between
//! nodes for actors (`Wire`), references to actors on other nodes (a cell
//! whose mailbox forwards over the network), and what a node does with what
//! arrives. The network itself is the cluster's (`cluster/agent.rs`), seen
//! here only as `Net`, so the runtime imports no sockets.

use super::*;
use crate::cluster::{ClusterView, Placement, Request};
use crate::vm::host::{RemoteRefs, REMOTE_REFS};
use crate::vm::portable::to_portable;
use crate::vm::Value;
use serde::{Deserialize, Serialize};

/// `ReplyTo::worker` of an ask that came from another node: the reply goes
/// back over the network (`Node::remote_replies`).
pub const REMOTE_WORKER: usize = usize::MAX / 2;
/// How long messages wait for an actor whose spawn has not come (it may
/// be held while its host learns its peers).
const EARLY_WAIT: std::time::Duration = crate::cluster::SPAWN_PEER_WAIT.saturating_add(std::time::Duration::from_secs(5));

/// An ask from another node being answered here: its node, and the
/// asker's worker and pending-reply number there.
pub(crate) type OwedReply = (Arc<str>, u32, u64);

/// Messages that came before their actor's spawn, with their senders.
pub(crate) type Early = Vec<(Arc<str>, Delivery)>;

/// The network as the runtime sees it.
pub trait Net: Send + Sync {
    /// This node's name.
    fn me(&self) -> &Arc<str>;
    /// Send to a node (queued; the order of one sender's sends to one node
    /// is kept).
    fn send(&self, to: &str, w: &Wire);
    /// The live nodes as the placement engine sees them.
    fn view(&self) -> ClusterView;
    /// An actor was placed on `node` by this node (counted until that
    /// node's next load report).
    fn placed(&self, node: &str);
    /// Register `name` cluster-wide for the actor `id` running on `node`
    /// (waits for the directory); an error says who holds it.
    fn claim(&self, run: u128, name: &str, entry: &Entry) -> Result<(), String>;
    /// The actor registered under `name` anywhere in the cluster.
    fn find(&self, name: &str) -> Option<Entry>;
    /// The actor `id` no longer holds `name`.
    fn release(&self, name: &str, id: u128);
    /// Log a cluster event (a migration) on this node's stderr.
    fn event(&self, kind: &str, fields: &[(&str, &str)]);
    /// The live node keeping the newest record of the durable actor `name`.
    fn find_record(&self, name: &str) -> Option<String>;
    /// Take the record of `name` from `node` (it keeps no copy).
    fn take_record(&self, node: &str, name: &str) -> Option<super::durable::Record>;
    /// Membership declared `node` down (and it has not come back).
    fn is_down(&self, node: &str) -> bool;
    /// Copy a commit of durable actor `id` to `copies` other live nodes
    /// (fewer when fewer live), each copy a part of `gather`.
    #[allow(clippy::too_many_arguments)]
    fn replicate(
        &self,
        run: u128,
        home: &str,
        id: u128,
        name: &str,
        record: &super::durable::Record,
        kit: Option<Arc<SpawnMsg>>,
        copies: usize,
        gather: &Arc<super::failover::Gather>,
    );
    /// Every live node's copies of the durable actors of `run` that ran
    /// on `host`, with the node keeping each.
    fn orphans(&self, run: u128, host: &str) -> Vec<(String, super::failover::Orphan)>;
    /// Actor `id` was restored on `node` as `generation`: copies kept
    /// here refuse older generations from now on, and count as that
    /// node's (should it die before its first commit, they are found).
    fn restored(&self, id: u128, node: &str, generation: u64);
    /// `holder`'s copies of these actors: records, and spawns if kept.
    fn fetch(&self, holder: &str, ids: &[u128]) -> Vec<super::failover::Copy>;
    /// Register many names at once (a failover's); the names refused, why.
    fn claim_many(&self, run: u128, names: &[(String, Entry)]) -> Vec<(String, String)>;
    /// Failover: claim each (durable actor id, generation, node); each
    /// claim's result (refused if another claim won it).
    fn own(&self, run: u128, claims: &[(u128, u64, String)]) -> Vec<Result<(), String>>;
}

/// A name directory entry: the actor, its class, and where it runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: u128,
    pub class: String,
    pub node: String,
    /// Why it runs there: the strategy, score and reasons of its placement.
    #[serde(default)]
    pub why: String,
}

/// What nodes send each other about a program's actors. Ids are UUIDs as
/// numbers; `run` is the program run's id.
#[derive(Debug, Serialize, Deserialize)]
pub enum Wire {
    Spawn(Box<SpawnMsg>),
    Deliver(Box<Delivery>),
    Reply {
        run: u128,
        worker: u32,
        id: u64,
        result: Result<Packet, Packet>,
    },
    /// Program output from an actor hosted elsewhere (`err`: its stderr).
    Output {
        run: u128,
        text: serde_bytes::ByteBuf,
        err: bool,
    },
    /// `exit(code)` called by an actor hosted elsewhere.
    Exit {
        run: u128,
        code: i32,
    },
    /// The program ended: stop its actors.
    End {
        run: u128,
    },
    /// Send me the program with this hash (I have none yet).
    NeedProgram {
        hash: String,
    },
    Program {
        hash: String,
        bytes: serde_bytes::ByteBuf,
    },
    /// Watch an actor here (`monitor(ref)` elsewhere): the event goes back
    /// as the reply to (`worker`, `id`).
    Monitor {
        run: u128,
        target: u128,
        worker: u32,
        id: u64,
        /// The watcher's node, when not the sender's (forwarded after a move).
        #[serde(default)]
        reply: Option<String>,
    },
    /// Deadlock detection across nodes (`waits.rs`): a handler's wait for
    /// another actor begins or ends (sent to the run's home), and a wait
    /// that closed a cycle (sent to the waiter's node).
    Wait {
        run: u128,
        from: u128,
        to: u128,
        label: String,
    },
    Unwait {
        run: u128,
        from: u128,
    },
    Deadlock {
        run: u128,
        waiter: u128,
        cycle: String,
    },
    /// The name directory (kept by the node a name hashes to): register a
    /// name, look one up, let one go, and the answers (`req` pairs them).
    Claim {
        run: u128,
        name: String,
        entry: Entry,
        req: u64,
    },
    Claimed {
        req: u64,
        result: Result<(), String>,
    },
    Find {
        name: String,
        req: u64,
    },
    Found {
        req: u64,
        entry: Option<Entry>,
    },
    Release {
        name: String,
        id: u128,
    },
    /// Durable records kept on a node (`cluster/records.rs`): when was the
    /// newest record of `name` committed here, and hand it over (deleted here).
    RecordQuery {
        name: String,
        req: u64,
    },
    RecordAt {
        req: u64,
        committed_at: Option<f64>,
        /// The newest record's generation (a restored actor's records beat
        /// what a stale incarnation of it wrote later).
        #[serde(default)]
        generation: u64,
    },
    TakeRecord {
        name: String,
        req: u64,
    },
    Taken {
        req: u64,
        record: Option<Box<super::durable::Record>>,
    },
    /// Moving an actor (`migrate.rs`): get ready to take it (its handle
    /// here catches what is sent meanwhile), ready or not, and the actor.
    MovePrepare(Box<super::migrate::Arrival>),
    MoveReady {
        run: u128,
        id: u128,
        ok: bool,
    },
    MoveIn(Box<super::migrate::Moved>),
    /// Copies of durable records and failover (`failover.rs`).
    Failover(Box<super::failover::FailoverMsg>),
    /// The actor `id` now runs on `node` (told to a node whose messages
    /// for it were forwarded).
    Moved {
        run: u128,
        id: u128,
        node: String,
    },
    /// Before `origin` sends to a moved actor directly: this goes the way
    /// its earlier messages went, and where it ends the actor's node
    /// answers `Fenced` — everything sent before has arrived there.
    Fence {
        run: u128,
        id: u128,
        origin: String,
        hops: u8,
        /// The origin's count of messages sent to the actor (`RemoteAt::sent`).
        mark: u64,
    },
    Fenced {
        run: u128,
        id: u128,
        node: String,
        mark: u64,
    },
}

/// The program run an actor belongs to, for a node that may not host it yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub run: u128,
    pub home: String,
    pub hash: String,
    pub args: Vec<String>,
    pub max_depth: u64,
}

impl Wire {
    /// The lane it travels on: everything for one actor on one lane, in
    /// order (its spawn, messages, watches, moves and fences); the rest on
    /// lane 0. Lanes may pass each other when one carries a large item.
    pub fn lane(&self) -> u64 {
        let of = |id: u128| (id as u64 ^ (id >> 64) as u64) | 1;
        match self {
            Wire::Deliver(d) => of(d.to),
            Wire::Spawn(s) => of(s.id),
            Wire::MovePrepare(a) => of(a.id),
            Wire::MoveIn(m) => of(m.id),
            Wire::Monitor { target, .. } => of(*target),
            // A target's `MoveReady` stays behind its actors' earlier
            // messages to the actor (migrate.rs relies on it).
            Wire::Fence { id, .. } | Wire::Fenced { id, .. } | Wire::Moved { id, .. } | Wire::MoveReady { id, .. } => of(*id),
            _ => 0,
        }
    }

    /// Someone waits for it: an ask, a reply, a directory question or answer.
    pub fn urgent(&self) -> bool {
        match self {
            Wire::Deliver(d) => matches!(d.body, WireBody::Ask { .. }),
            Wire::Reply { .. } | Wire::Find { .. } | Wire::Found { .. } | Wire::Claim { .. } | Wire::Claimed { .. } => true,
            // A commit waits for its copies.
            Wire::Failover(m) => {
                matches!(**m, super::failover::FailoverMsg::Replica { .. } | super::failover::FailoverMsg::ReplicaAck { .. })
            }
            _ => false,
        }
    }

    /// What a node needs to start hosting the run this message is for.
    pub fn hosting(&self) -> Option<&RunInfo> {
        match self {
            Wire::Spawn(s) => Some(&s.info),
            Wire::MovePrepare(a) => Some(&a.info),
            _ => None,
        }
    }

    pub fn run(&self) -> Option<u128> {
        match self {
            Wire::Spawn(s) => Some(s.info.run),
            Wire::MovePrepare(a) => Some(a.info.run),
            Wire::MoveIn(m) => Some(m.run),
            Wire::Deliver(d) => Some(d.run),
            Wire::MoveReady { run, .. } | Wire::Moved { run, .. } | Wire::Fence { run, .. } | Wire::Fenced { run, .. } => Some(*run),
            Wire::Reply { run, .. }
            | Wire::Output { run, .. }
            | Wire::Exit { run, .. }
            | Wire::End { run }
            | Wire::Monitor { run, .. }
            | Wire::Wait { run, .. }
            | Wire::Unwait { run, .. }
            | Wire::Deadlock { run, .. } => Some(*run),
            // Not about one run (every variant named: a new one must choose).
            Wire::NeedProgram { .. }
            | Wire::Program { .. }
            | Wire::Claim { .. }
            | Wire::Claimed { .. }
            | Wire::Find { .. }
            | Wire::Found { .. }
            | Wire::Release { .. }
            | Wire::RecordQuery { .. }
            | Wire::RecordAt { .. }
            | Wire::TakeRecord { .. }
            | Wire::Taken { .. } => None,
            Wire::Failover(m) => m.run(),
        }
    }
}

/// Start an actor here for a program whose main runs on `home`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SpawnMsg {
    pub info: RunInfo,
    pub id: u128,
    pub name: Option<String>,
    pub class: Packet,
    pub init_args: Packet,
    pub opts: Packet,
    pub globals: Vec<(u32, u32, Packet)>,
    /// A durable actor's record, brought from the node that kept it.
    #[serde(default)]
    pub record: Option<Box<super::durable::Record>>,
    /// `strategy: "affinity"`: count its traffic (it may move).
    #[serde(default)]
    pub affinity: bool,
    /// A restore after its node died (`failover.rs`): counted for
    /// `noodle cluster status`.
    #[serde(default)]
    pub failover: bool,
    /// A durable actor's copies per commit: `replicas`, or fewer if the
    /// sender saw fewer other live nodes. The host starts it once it sees
    /// as many peers (`cluster/spawn_wait.rs`).
    #[serde(default)]
    pub copies: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub run: u128,
    pub to: u128,
    pub sender: Arc<str>,
    pub seq: u64,
    pub timestamp: f64,
    pub body: WireBody,
    /// Where an ask's reply goes, when not to the node that sent this (a
    /// message forwarded after its actor moved).
    #[serde(default)]
    pub reply: Option<String>,
    /// Times forwarded (bounded: a stale chain of moves ends in an error).
    #[serde(default)]
    pub hops: u8,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum WireBody {
    Ask { method: Arc<str>, args: Packet, worker: u32, id: u64 },
    Tell { method: Arc<str>, args: Packet },
    Raw { kind: Packet, payload: Packet },
}

/// The runtime's side of a reference to an actor on another node.
pub struct RemoteAt {
    /// Where messages for the actor go: where it ran when this reference
    /// was made (a node it left forwards them, keeping each sender's order).
    pub node: Mutex<Arc<str>>,
    /// Where it runs now, when a node it left said so (`node_of`).
    pub seen: Mutex<Option<Arc<str>>>,
    /// A fence is on its way (`migrate.rs`): sends still go to `node`.
    pub fencing: AtomicBool,
    /// Messages sent through this reference (changed with `node` locked).
    pub sent: AtomicU64,
}

impl RemoteAt {
    pub fn new(node: Arc<str>) -> Box<RemoteAt> {
        Box::new(RemoteAt { node: Mutex::new(node), seen: Mutex::new(None), fencing: AtomicBool::new(false), sent: AtomicU64::new(0) })
    }

    /// Where the actor runs, as far as this node knows.
    pub fn now(&self) -> Arc<str> {
        lock(&self.seen).clone().unwrap_or_else(|| lock(&self.node).clone())
    }
}

/// Install the hooks that let actor references cross nodes.
pub fn install() {
    let _ = REMOTE_REFS.set(RemoteRefs { node_of: cell_node, remote: remote_cell });
}

pub(super) fn cell_node(c: &ActorCell) -> Option<Arc<str>> {
    c.mb().at().map(RemoteAt::now)
}

/// The handle of an actor on `node`: the one this process knows, or a new
/// forwarding one.
fn remote_cell(id: uuid::Uuid, class: &str, name: Option<&str>, node: &str) -> Arc<ActorCell> {
    let mut reg = lock(registry());
    if let Some(c) = reg.by_id.get(&id).and_then(Weak::upgrade) {
        return c;
    }
    let c = Arc::new(proxy_cell(id, name.map(Arc::from), Arc::from(class), Vec::new(), Arc::from(node)));
    reg.by_id.insert(id, Arc::downgrade(&c));
    c
}

pub(crate) fn proxy_cell(id: uuid::Uuid, name: Option<Arc<str>>, class: Arc<str>, handlers: Vec<Arc<str>>, node: Arc<str>) -> ActorCell {
    let (tx, _) = async_channel::bounded::<Box<Envelope>>(1);
    let mut c = new_cell(id, name, class, handlers, global_key(), 0, usize::MAX, tx);
    if let Some(mb) = c.port.downcast_mut::<Mailbox>() {
        let _ = mb.remote.set(RemoteAt::new(node));
    }
    c
}

impl Node {
    /// On a cluster: register a named actor's name in the directory
    /// (unique cluster-wide), and here. A `ValueError` if it is taken.
    pub(crate) fn claim_name(&self, name: &Arc<str>, cell: &Arc<ActorCell>, at: &str, why: String) -> Result<(), Value> {
        if let Some(net) = self.net.get() {
            let entry = Entry { id: cell.id.as_u128(), class: cell.class_name.to_string(), node: at.to_string(), why };
            net.claim(self.run_id.as_u128(), name, &entry).map_err(|m| Value::error("ValueError", m))?;
        }
        lock(registry()).by_name.insert(name.clone(), cell.clone());
        Ok(())
    }

    /// `lookup(name)` on a cluster: here first, then the directory.
    pub(crate) fn find_name(&self, name: &str) -> Option<Arc<ActorCell>> {
        let here = lock(registry()).by_name.get(name).filter(|c| !c.mb().stopped.load(Ordering::Acquire)).cloned();
        if here.as_ref().is_some_and(|c| c.mb().at().is_none()) {
            return here;
        }
        let net = self.net.get()?;
        let e = net.find(name)?;
        let id = uuid::Uuid::from_u128(e.id);
        Some(remote_cell(id, &e.class, Some(name), &e.node))
    }

    /// This run, as a node that does not host it yet needs to know it.
    pub(crate) fn run_info(&self) -> RunInfo {
        let (hash, _) = self.shipped();
        let home = self.home.as_deref().map(str::to_string).unwrap_or_else(|| self.me_name());
        RunInfo { run: self.run_id.as_u128(), home, hash, args: self.args.clone(), max_depth: self.max_depth as u64 }
    }

    /// This node's name in the cluster (`local` alone).
    pub(crate) fn me_name(&self) -> String {
        self.net.get().map(|n| n.me().to_string()).unwrap_or_else(|| "local".into())
    }

    /// The cluster this node belongs to, if any.
    pub fn net(&self) -> Option<&Arc<dyn Net>> {
        self.net.get()
    }

    /// Join this node's runtime to a cluster.
    pub fn set_net(&self, net: Arc<dyn Net>) {
        install();
        let _ = self.net.set(net);
    }

    /// Where to start an actor: this node (`None`) or another one, by the
    /// placement engine over the cluster's live nodes.
    pub(crate) fn place_in_cluster(&self, req: &mut Request) -> Result<Option<Placement>, String> {
        let Some(net) = self.net.get() else { return Ok(None) };
        let view = net.view();
        req.ticket = self.next_key.fetch_add(1, Ordering::Relaxed);
        let p = crate::cluster::place_actor(req, &view)?;
        if p.primary == **net.me() {
            return Ok(None);
        }
        net.placed(&p.primary);
        Ok(Some(p))
    }

    /// A message for the network on behalf of `post` (a reply owed to
    /// another node, or `exit()` of a program whose main runs elsewhere).
    pub(crate) fn post_remote(&self, worker: usize, msg: WorkerMsg) {
        let Some(net) = self.net.get() else { return };
        let run = self.run_id.as_u128();
        match msg {
            WorkerMsg::Reply { id, result } if worker == REMOTE_WORKER => {
                let Some((to, worker, id)) = lock(&self.remote_replies).remove(&id) else { return };
                net.send(&to, &Wire::Reply { run, worker, id, result });
            }
            WorkerMsg::Exit(code) => {
                if let Some(home) = &self.home {
                    net.send(home, &Wire::Exit { run, code });
                }
            }
            _ => {}
        }
    }

    /// Text for the program's stderr from this node.
    pub(crate) fn report(&self, text: String) {
        match (&self.home, self.net.get()) {
            (Some(home), Some(net)) => {
                net.send(home, &Wire::Output { run: self.run_id.as_u128(), text: serde_bytes::ByteBuf::from(text + "\n"), err: true })
            }
            _ => crate::ewriteln!("{text}"),
        }
    }

    /// Something arrived from node `from` for this node's run.
    pub fn receive(self: &Arc<Self>, from: &str, w: Wire) {
        match w {
            Wire::Deliver(d) => self.receive_delivery(from, *d),
            Wire::Reply { worker, id, result, .. } => {
                self.answered(worker, id);
                self.post(worker as usize, WorkerMsg::Reply { id, result })
            }
            Wire::Spawn(s) => self.receive_spawn(*s),
            Wire::Monitor { target, worker, id, reply, .. } => self.receive_monitor(reply.as_deref().unwrap_or(from), target, worker, id),
            Wire::MovePrepare(a) => self.prepare_arrival(from, *a),
            Wire::MoveReady { id, ok, .. } => self.target_ready(id, ok),
            Wire::MoveIn(m) => self.arrive(from, *m),
            Wire::Moved { id, node, .. } => self.moved(id, node),
            Wire::Fence { id, origin, hops, mark, .. } => self.fence(id, origin, hops, mark),
            Wire::Fenced { id, node, mark, .. } => self.fenced(id, node, mark),
            w @ (Wire::Wait { .. } | Wire::Unwait { .. }) => self.receive_wait(from, w),
            Wire::Deadlock { waiter, cycle, .. } => self.receive_deadlock(waiter, cycle),
            Wire::Output { text, err, .. } => {
                use std::io::Write;
                if err {
                    let _ = std::io::stderr().write_all(&text);
                } else {
                    let mut out = std::io::stdout().lock();
                    let _ = out.write_all(&text);
                    let _ = out.flush();
                }
            }
            Wire::Exit { code, .. } => self.post(0, WorkerMsg::Exit(code)),
            Wire::End { .. } => {
                let n = self.clone();
                let _ = std::thread::Builder::new().name("noodle-run-end".into()).spawn(move || n.end_hosted());
            }
            _ => {}
        }
    }

    fn receive_delivery(self: &Arc<Self>, from: &str, mut d: Delivery) {
        let id = uuid::Uuid::from_u128(d.to);
        let (cell, gone) = {
            let reg = lock(registry());
            (reg.by_id.get(&id).and_then(Weak::upgrade), reg.gone.contains(&id))
        };
        let run = self.run_id.as_u128();
        if cell.is_none() && !gone {
            return self.early(from, d);
        }
        // It moved on: pass the message after it (replies go to the asker);
        // if it ran on a node now down, it is being restored here.
        if let Some(at) = cell.as_ref().and_then(|c| c.mb().at()) {
            let to = lock(&at.node).clone();
            if self.net.get().is_some_and(|n| n.is_down(&to)) {
                return self.early(from, d);
            }
            return self.forward(from, d, to);
        }
        let origin: Arc<str> = Arc::from(d.reply.take().as_deref().unwrap_or(from));
        let from = &*origin;
        let Some(cell) = cell.filter(|c| !c.mb().stopped.load(Ordering::Acquire)) else {
            return self.undeliverable(from, id, d.body, None);
        };
        if let Some(t) = &cell.mb().traffic {
            t.with(from);
        }
        let body = match d.body {
            WireBody::Ask { method, args, worker, id: ask } => {
                if !cell.has_handler(&method) {
                    let e = to_portable(&Value::error("TypeError", format!("actor {} has no handler `{method}`", cell.class_name)));
                    net_reply(self, from, run, worker, ask, Err(e.unwrap_or(Packet::none())));
                    return;
                }
                let slot = self.next_key.fetch_add(1, Ordering::Relaxed);
                lock(&self.remote_replies).insert(slot, (origin.clone(), worker, ask));
                Body::Ask { method, args, reply: ReplyTo { worker: REMOTE_WORKER, id: slot } }
            }
            WireBody::Tell { method, args } => {
                if !cell.has_handler(&method) {
                    self.report(format!(
                        "error in tell {}.{method}(): TypeError: actor {} has no handler `{method}`",
                        cell.label(),
                        cell.class_name
                    ));
                    return;
                }
                Body::Tell { method, args }
            }
            WireBody::Raw { kind, payload } => Body::Raw { kind, payload },
        };
        let env = Box::new(Envelope { sender: d.sender, seq: d.seq, timestamp: d.timestamp, body });
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if let Err(e) = cell.mb().tx.try_send(env) {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            let env = e.into_inner();
            let body = match env.body {
                Body::Ask { method, args, reply } => {
                    let (_, worker, ask) = lock(&self.remote_replies).remove(&reply.id).unwrap_or((Arc::from(from), 0, 0));
                    WireBody::Ask { method, args, worker, id: ask }
                }
                Body::Tell { method, args } => WireBody::Tell { method, args },
                Body::Raw { kind, payload } => WireBody::Raw { kind, payload },
                Body::Move { .. } => return,
            };
            // It moved away while this came (`migrate.rs`).
            if let Some(at) = cell.mb().at() {
                let (timestamp, seq) = (env.timestamp, env.seq);
                let d = Delivery { run, to: id.as_u128(), sender: env.sender, seq, timestamp, body, reply: None, hops: 0 };
                return self.forward(from, d, lock(&at.node).clone());
            }
            self.undeliverable(from, id, body, Some(&cell));
        }
    }

    /// A message for an actor that moved on, sent after it (a bounded
    /// number of times: a stale chain of moves ends as undeliverable).
    fn forward(&self, from: &str, mut d: Delivery, to: Arc<str>) {
        let id = uuid::Uuid::from_u128(d.to);
        let Some(net) = self.net.get().filter(|n| d.hops < 8 && **n.me() != *to) else {
            let from = d.reply.clone().unwrap_or_else(|| from.to_string());
            return self.undeliverable(&from, id, d.body, None);
        };
        d.hops += 1;
        let origin = d.reply.get_or_insert_with(|| from.to_string()).clone();
        let (run, id) = (d.run, d.to);
        net.send(&to, &Wire::Deliver(Box::new(d)));
        if origin != *to && self.moves.first_forward(id, &origin) {
            net.send(&origin, &Wire::Moved { run, id, node: to.to_string() });
        }
    }

    fn receive_monitor(&self, from: &str, target: u128, worker: u32, id: u64) {
        let run = self.run_id.as_u128();
        let cell = lock(registry()).by_id.get(&uuid::Uuid::from_u128(target)).and_then(Weak::upgrade);
        if let (Some(at), Some(net)) = (cell.as_ref().and_then(|c| c.mb().at()), self.net.get()) {
            // It moved on: the watch goes after it.
            let to = lock(&at.node).clone();
            return net.send(&to, &Wire::Monitor { run, target, worker, id, reply: Some(from.to_string()) });
        }
        let Some(cell) = cell else {
            // Not here (any more): stopped, as a monitor of a stopped actor says.
            let gone = dead_cell(uuid::Uuid::from_u128(target));
            return net_reply(self, from, run, worker, id, super::monitor::stopped_packet(&gone));
        };
        let slot = self.next_key.fetch_add(1, Ordering::Relaxed);
        lock(&self.remote_replies).insert(slot, (Arc::from(from), worker, id));
        let mut watchers = lock(&cell.mb().monitors);
        if cell.mb().stopped.load(Ordering::Acquire) || cell.mb().at().is_some() {
            drop(watchers);
            lock(&self.remote_replies).remove(&slot);
            return net_reply(self, from, run, worker, id, super::monitor::stopped_packet(&cell));
        }
        watchers.push(ReplyTo { worker: REMOTE_WORKER, id: slot });
    }

    /// A message for an actor never seen here: its spawn may still be on
    /// its way (on another link). Kept for it, in order, for up to 5 s.
    fn early(self: &Arc<Self>, from: &str, d: Delivery) {
        let mut early = lock(&self.early);
        let first = early.is_empty();
        let id = d.to;
        early.entry(id).or_insert_with(|| (std::time::Instant::now(), Vec::new())).1.push((Arc::from(from), d));
        drop(early);
        // The spawn may have come in meanwhile (a send from this process).
        let here = lock(registry()).by_id.get(&uuid::Uuid::from_u128(id)).and_then(Weak::upgrade);
        if here.is_some_and(|c| c.mb().at().is_none()) {
            self.deliver_early(id);
        }
        if first {
            let node = self.clone();
            let _ = std::thread::Builder::new().name("noodle-early".into()).spawn(move || node.expire_early());
        }
    }

    /// The actor `id` started here: what came for it early, now.
    pub(super) fn deliver_early(self: &Arc<Self>, id: u128) {
        let waiting = lock(&self.early).remove(&id);
        for (from, d) in waiting.map(|(_, v)| v).unwrap_or_default() {
            self.receive_delivery(&from, d);
        }
    }

    /// Messages kept for actors whose spawn never came: undeliverable.
    fn expire_early(self: &Arc<Self>) {
        loop {
            std::thread::sleep(std::time::Duration::from_millis(250));
            let expired: Vec<(u128, Early)> = {
                let mut early = lock(&self.early);
                let old: Vec<u128> = early.iter().filter(|(_, (t, _))| t.elapsed() > EARLY_WAIT).map(|(k, _)| *k).collect();
                old.into_iter().filter_map(|k| early.remove(&k).map(|(_, v)| (k, v))).collect()
            };
            for (id, items) in expired {
                for (from, d) in items {
                    self.undeliverable(&from, uuid::Uuid::from_u128(id), d.body, None);
                }
            }
            if lock(&self.early).is_empty() {
                return;
            }
        }
    }

    /// A message for an actor that does not run here (any more): an ask
    /// fails, anything else is a dead letter.
    fn undeliverable(&self, from: &str, id: uuid::Uuid, body: WireBody, cell: Option<&Arc<ActorCell>>) {
        let run = self.run_id.as_u128();
        let label = cell.map(|c| c.label()).unwrap_or_else(|| format!("actor {id}"));
        match body {
            WireBody::Ask { worker, id: ask, .. } => {
                let e = match cell {
                    Some(c) => stopped_error(c),
                    None => crate::vm::value::err("ActorStoppedError", format!("{label} has stopped")),
                };
                let p = e.err().map(|e| to_portable(&e).unwrap_or(Packet::none())).unwrap_or(Packet::none());
                net_reply(self, from, run, worker, ask, Err(p));
            }
            WireBody::Tell { method, .. } => {
                self.dead_letters.fetch_add(1, Ordering::Relaxed);
                self.report(format!("dead letter: {method}() to stopped actor {label}"));
            }
            WireBody::Raw { .. } => {
                self.dead_letters.fetch_add(1, Ordering::Relaxed);
                self.report(format!("dead letter: message to stopped actor {label}"));
            }
        }
    }
}

fn net_reply(node: &Node, to: &str, run: u128, worker: u32, id: u64, result: Result<Packet, Packet>) {
    if let Some(net) = node.net.get() {
        net.send(to, &Wire::Reply { run, worker, id, result });
    }
}

/// Actors restored in this process after their node died (for load reports).
pub static RESTORED: AtomicU64 = AtomicU64::new(0);

/// Actors running in this process (for load reports).
pub fn local_actors() -> usize {
    lock(registry())
        .by_id
        .values()
        .filter_map(Weak::upgrade)
        .filter(|c| c.mb().at().is_none() && !c.mb().stopped.load(Ordering::Relaxed))
        .count()
}

/// Actor keys are unique in the process (references from other nodes get
/// theirs here too).
pub(crate) fn global_key() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
