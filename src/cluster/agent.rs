//! The bridge between a node's network and the runtimes of the program runs
//! it takes part in: the runtime's `Net` (send to a node, the cluster as
//! placement sees it), the links to peers (opened on first need), the runs
//! hosted here with the programs they run (fetched by content hash from the
//! node that asked, then cached), and what arrives for them.

use super::link::{self, Link};
use super::node::Msg;
use super::table::{log, Load, State};
use super::{ClusterView, NodeView, Resources};
use crate::bytecode::Verified;
use crate::contain::lock;
use crate::runtime::remote::{Entry, Net, Wire};
use crate::runtime::{wire_codec, Node};
use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex};

/// Messages parked for a run that has no node here yet (its program is on
/// the way); beyond this many, later ones are dropped and logged.
const MAX_PARKED: usize = 100_000;

/// A program as run and as shipped (NBC bytes).
type Shipped = (Arc<Verified>, Arc<Vec<u8>>);

/// The program hash a run waits for, and the messages that came for it
/// meanwhile (with their senders), in order.
type Parked = (String, Vec<(String, Wire)>);

/// A link to open: the peer, and the link that waits for the connection.
pub type Dial = (String, Arc<Link>);

pub struct Agent {
    pub state: Arc<State>,
    me: Arc<str>,
    links: Mutex<FxHashMap<String, Arc<Link>>>,
    /// Peers to connect to, with the queue their link will write.
    dial: async_channel::Sender<Dial>,
    runs: Mutex<FxHashMap<u128, Arc<Node>>>,
    programs: Mutex<FxHashMap<String, Shipped>>,
    /// Run → (program hash awaited, messages in arrival order).
    parked: Mutex<FxHashMap<u128, Parked>>,
    /// Where hosted runs keep durable records.
    pub data: Option<std::path::PathBuf>,
    pub workers: usize,
    /// The share of the cores this process kept busy lately (as f64 bits).
    busy: std::sync::atomic::AtomicU64,
    /// The part of the name directory this node keeps: name → (run, entry).
    pub(super) directory: Mutex<FxHashMap<String, (u128, Entry)>>,
    /// Directory questions waiting for their answer, by request number.
    calls: Mutex<FxHashMap<u64, std::sync::mpsc::Sender<Wire>>>,
    next_req: std::sync::atomic::AtomicU64,
    /// Being drained: no new actors are placed here.
    pub draining: std::sync::atomic::AtomicBool,
    /// Peers membership declared down (and not back since); `any_down`
    /// spares the lock on every send while there are none.
    down: Mutex<FxHashMap<String, u64>>,
    /// The newest incarnation of each peer seen up.
    up: Mutex<FxHashMap<String, u64>>,
    any_down: std::sync::atomic::AtomicBool,
    /// Peers that left in good order (nothing of theirs is waited for).
    left: Mutex<rustc_hash::FxHashSet<String>>,
    /// Held while what a link read is handled (see `receive`).
    pub(super) dispatching: Mutex<()>,
    /// The durable record store of the runs hosted here (opened on first need).
    records: std::sync::OnceLock<Result<Arc<crate::runtime::durable::Records>, String>>,
    /// Copies of durable records sent and kept (`replicas.rs`).
    pub(super) replicas: super::replicas::Replicas,
    /// Who counts for keep-majority, and since when (`quorum.rs`).
    quorum: Mutex<super::quorum::Quorum>,
    settle: std::time::Duration,
    born: std::time::Instant,
    /// Cut off or declared dead: membership starts afresh (`gossip.rs`).
    renew: std::sync::atomic::AtomicBool,
    /// Itself, for work finished later (a commit's copies acknowledged).
    pub(super) this: std::sync::Weak<Agent>,
    /// Membership, directory and ownership kept in etcd (`etcd/`).
    provider: std::sync::OnceLock<Arc<super::etcd::provider::Provider>>,
    /// Spawns waiting until this node sees enough peers (`spawn_wait.rs`).
    pub(super) spawn_wait: super::spawn_wait::SpawnWait,
}

/// How long a directory question may take.
const CALL_TIME: std::time::Duration = std::time::Duration::from_secs(5);

impl Agent {
    pub fn busy(&self) -> f64 {
        f64::from_bits(self.busy.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn set_busy(&self, b: f64) {
        self.busy.store(b.to_bits(), std::sync::atomic::Ordering::Relaxed)
    }

    /// `settle`: how long a member declared down counts against this
    /// node's side (keep-majority).
    pub fn new(
        state: Arc<State>,
        data: Option<std::path::PathBuf>,
        workers: usize,
        settle: std::time::Duration,
    ) -> (Arc<Agent>, async_channel::Receiver<Dial>) {
        crate::runtime::remote::install();
        let (dial, dials) = async_channel::unbounded();
        let me = Arc::from(state.me.name.as_str());
        let a = |this: &std::sync::Weak<Agent>| Agent {
            this: this.clone(),
            state,
            me,
            links: Default::default(),
            dial,
            runs: Default::default(),
            programs: Default::default(),
            parked: Default::default(),
            data,
            workers,
            busy: Default::default(),
            directory: Default::default(),
            calls: Default::default(),
            next_req: Default::default(),
            records: Default::default(),
            draining: Default::default(),
            dispatching: Mutex::new(()),
            down: Default::default(),
            up: Default::default(),
            any_down: Default::default(),
            left: Default::default(),
            replicas: Default::default(),
            quorum: Mutex::new(super::quorum::Quorum::new(settle)),
            settle,
            born: std::time::Instant::now(),
            renew: Default::default(),
            provider: Default::default(),
            spawn_wait: Default::default(),
        };
        (Arc::new_cyclic(a), dials)
    }

    /// The queue to `peer`, opening a link on first need.
    pub fn link(&self, peer: &str) -> Arc<Link> {
        let mut links = lock(&self.links);
        if let Some(l) = links.get(peer) {
            if !l.is_closed() {
                return l.clone();
            }
        }
        let l = Link::new();
        links.insert(peer.to_string(), l.clone());
        let _ = self.dial.try_send((peer.to_string(), l.clone()));
        l
    }

    /// A connection from `peer` came up: it carries our traffic too, unless
    /// we already have a link. `true` if it was taken.
    pub fn offer_link(&self, peer: &str, tx: &Arc<Link>) -> bool {
        let mut links = lock(&self.links);
        match links.get(peer) {
            Some(l) if !l.is_closed() => false,
            _ => {
                links.insert(peer.to_string(), tx.clone());
                true
            }
        }
    }

    /// A link went down: forget it (the next send opens a new one).
    pub fn drop_link(&self, peer: &str, tx: &Arc<Link>) {
        let mut links = lock(&self.links);
        if links.get(peer).is_some_and(|l| Arc::ptr_eq(l, tx)) {
            links.remove(peer);
        }
    }

    /// Send a control message to every linked peer.
    pub fn broadcast(&self, m: &Msg) {
        let links: Vec<_> = lock(&self.links).values().cloned().collect();
        for l in links {
            l.push(link::msg(m));
        }
    }

    /// The program run whose main runs here.
    pub fn add_run(&self, node: &Arc<Node>) {
        lock(&self.runs).insert(node.run_id.as_u128(), node.clone());
    }

    /// The program run `node` ended: tell every node that may host its actors.
    pub fn end_run(&self, node: &Arc<Node>) {
        let run = node.run_id.as_u128();
        lock(&self.runs).remove(&run);
        self.forget_names(run);
        if let Some(p) = self.provider() {
            p.forget_run(run);
        }
        let peers: Vec<String> = self.state.peers().into_iter().filter(|(_, s)| s == "alive").map(|(m, _)| m.name).collect();
        for p in peers {
            self.send(&p, &Wire::End { run });
        }
    }

    /// Wait (bounded) until every queue to a peer has been written.
    pub fn drain(&self, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if lock(&self.links).values().all(|l| l.is_empty()) {
                // The last batch may still be in its write.
                std::thread::sleep(std::time::Duration::from_millis(20));
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// The node is stopping: close the record store of the runs hosted here.
    pub fn close(&self) {
        let runs: Vec<Arc<Node>> = lock(&self.runs).values().cloned().collect();
        for n in runs.iter().filter(|n| n.home.is_some() && n.has_durable.load(std::sync::atomic::Ordering::SeqCst)) {
            n.commit_on(&n.started_workers());
        }
        if let Some(Ok(r)) = self.records.get() {
            r.close();
        }
    }

    /// `drain` for the node's own event loop (which runs the writers).
    pub async fn drained(&self, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline && !lock(&self.links).values().all(|l| l.is_empty()) {
            smol::Timer::after(std::time::Duration::from_millis(2)).await;
        }
        smol::Timer::after(std::time::Duration::from_millis(5)).await;
    }

    /// Tell the linked peers this node's load now.
    pub fn broadcast_load(&self) {
        self.broadcast(&Msg::Load(self.load(self.busy())));
    }

    /// The runs with actors on this node (its own program's too).
    pub fn runs(&self) -> Vec<Arc<Node>> {
        lock(&self.runs).values().cloned().collect()
    }

    /// This node's load, as reported to the others.
    pub fn load(&self, busy: f64) -> Load {
        let runs: Vec<Arc<Node>> = lock(&self.runs).values().cloned().collect();
        let reserved = runs.iter().fold(Resources::default(), |r, n| r.add(&n.reserved()));
        let draining = self.draining.load(std::sync::atomic::Ordering::SeqCst);
        let restored = crate::runtime::remote::RESTORED.load(std::sync::atomic::Ordering::Relaxed);
        Load { actors: crate::runtime::local_actors() as u64, busy, free_memory: super::free_memory(), reserved, draining, restored }
    }

    /// A batch of actor traffic from `from`.
    pub fn receive(self: &Arc<Self>, from: &str, items: &[&[u8]]) {
        // Links read on threads of their own; what they read is handled one
        // batch at a time, as on one thread: a spawn and the messages that
        // overtook it on another link, a program and what waited for it,
        // are put in order without racing each other.
        let _one_at_a_time = lock(&self.dispatching);
        if self.provider().is_some_and(|p| !p.may_act(self)) {
            return;
        }
        for b in items {
            match wire_codec::decode(b) {
                Ok(w) => {
                    if let Some(w) = self.hold_spawn(from, w) {
                        self.dispatch(from, w);
                    }
                }
                Err(e) => log(&self.me, "bad-frame", &[("peer", from), ("reason", &format!("malformed actor message: {e}"))]),
            }
        }
    }

    pub(super) fn dispatch(self: &Arc<Self>, from: &str, w: Wire) {
        match w {
            Wire::NeedProgram { hash } => match self.program(&hash) {
                Some((_, bytes)) => self.send(from, &Wire::Program { hash, bytes: serde_bytes::ByteBuf::from((*bytes).clone()) }),
                None => log(&self.me, "no-program", &[("peer", from), ("hash", &hash)]),
            },
            Wire::Program { hash, bytes } => self.program_arrived(from, hash, bytes.into_vec()),
            Wire::Claimed { req, .. } | Wire::Found { req, .. } | Wire::RecordAt { req, .. } | Wire::Taken { req, .. } => {
                if let Some(tx) = lock(&self.calls).remove(&req) {
                    let _ = tx.send(w);
                }
            }
            w @ (Wire::RecordQuery { .. } | Wire::TakeRecord { .. }) => {
                if let Some(answer) = self.answer_records(w) {
                    self.send(from, &answer);
                }
            }
            w @ (Wire::Claim { .. } | Wire::Find { .. } | Wire::Release { .. }) => {
                if let Some(answer) = self.answer(w) {
                    self.send(from, &answer);
                }
            }
            Wire::Failover(m) => self.failover_msg(from, *m),
            Wire::End { run } if !lock(&self.runs).contains_key(&run) => self.forget_names(run),
            w => {
                let Some(run) = w.run() else { return };
                let node = lock(&self.runs).get(&run).cloned();
                match (node, w) {
                    (Some(n), Wire::End { .. }) => {
                        lock(&self.runs).remove(&run);
                        self.forget_names(run);
                        // Committing and stopping takes a while: not on the event loop.
                        let _ = std::thread::Builder::new().name("noodle-run-end".into()).spawn(move || n.end_hosted());
                    }
                    (Some(n), w) => n.receive(from, w),
                    (None, w @ (Wire::Spawn(_) | Wire::MovePrepare(_))) => self.host(from, w),
                    // Messages that overtook their actor's spawn (another
                    // link) or came while its program is fetched wait for it.
                    (None, w @ (Wire::Deliver(_) | Wire::Monitor { .. } | Wire::MoveIn(_))) => self.park(from, run, None, w),
                    // Replies, output and ends of runs that are gone.
                    (None, _) => {}
                }
            }
        }
    }

    /// A spawn for a run not hosted here yet: start hosting it, or fetch
    /// its program first.
    fn host(self: &Arc<Self>, from: &str, w: Wire) {
        let Some(info) = w.hosting() else { return };
        let run = info.run;
        match self.program(&info.hash) {
            Some((program, _)) => {
                let node = self.start_run(run, program, &info.args, info.max_depth, &info.home);
                self.unpark(run, &node);
                node.receive(from, w);
            }
            None => {
                let hash = info.hash.clone();
                let first = !lock(&self.parked).values().any(|(h, _)| *h == hash);
                self.park(from, run, Some(hash.clone()), w);
                if first {
                    self.send(from, &Wire::NeedProgram { hash });
                }
            }
        }
    }

    #[cfg(test)]
    pub(super) fn is_parked(&self, run: u128) -> bool {
        lock(&self.parked).contains_key(&run)
    }

    fn park(&self, from: &str, run: u128, hash: Option<String>, w: Wire) {
        let mut parked = lock(&self.parked);
        let e = parked.entry(run).or_insert_with(|| (String::new(), Vec::new()));
        if let Some(h) = hash {
            e.0 = h;
        }
        if e.1.len() >= MAX_PARKED {
            return log(&self.me, "dropped", &[("peer", from), ("reason", "too many messages for a run not started here")]);
        }
        e.1.push((from.to_string(), w));
    }

    fn unpark(&self, run: u128, node: &Arc<Node>) {
        let waiting = lock(&self.parked).remove(&run);
        for (from, w) in waiting.map(|(_, v)| v).unwrap_or_default() {
            node.receive(&from, w);
        }
    }

    fn program_arrived(self: &Arc<Self>, from: &str, hash: String, bytes: Vec<u8>) {
        use sha2::Digest;
        let got: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        if got != hash {
            return log(&self.me, "bad-program", &[("peer", from), ("reason", "its content does not match its hash")]);
        }
        let program = match crate::bytecode::nbc::decode(&bytes) {
            Ok(p) => Arc::new(p),
            Err(e) => return log(&self.me, "bad-program", &[("peer", from), ("reason", &e)]),
        };
        lock(&self.programs).insert(hash.clone(), (program, Arc::new(bytes)));
        let runs: Vec<u128> = lock(&self.parked).iter().filter(|(_, (h, _))| *h == hash).map(|(r, _)| *r).collect();
        for run in runs {
            let Some((_, items)) = lock(&self.parked).remove(&run) else { continue };
            for (from, w) in items {
                self.dispatch(&from, w);
            }
        }
    }

    /// A program by content hash: fetched before, or run here.
    fn program(&self, hash: &str) -> Option<Shipped> {
        if let Some(p) = lock(&self.programs).get(hash) {
            return Some(p.clone());
        }
        let runs: Vec<Arc<Node>> = lock(&self.runs).values().cloned().collect();
        for n in runs {
            let (h, bytes) = n.shipped();
            if h == hash {
                return Some((lock(&n.program).clone(), bytes));
            }
        }
        None
    }

    fn start_run(self: &Arc<Self>, run: u128, program: Arc<Verified>, args: &[String], max_depth: u64, home: &str) -> Arc<Node> {
        let mut vm = crate::vm::Vm::new();
        vm.library = crate::library::MODULES;
        vm.args = args.to_vec();
        vm.max_depth = (max_depth as usize).max(1);
        let id = uuid::Uuid::from_u128(run);
        let node = Node::hosted(self.workers, program, &vm, id, Arc::from(home), self.data.clone());
        node.set_net(self.clone());
        match self.record_store() {
            Ok(r) => node.share_records(r),
            Err(e) => log(&self.me, "no-records", &[("reason", &e)]),
        }
        lock(&self.runs).insert(run, node.clone());
        log(&self.me, "run", &[("run", &id.to_string()), ("home", home)]);
        node
    }

    /// The record store of the runs hosted here (opened on first need).
    pub(super) fn record_store(&self) -> Result<Arc<crate::runtime::durable::Records>, String> {
        self.records.get_or_init(|| crate::runtime::open_records(self.data.as_deref())).clone()
    }

    /// A peer is down (membership says so): the runs whose main ran there
    /// end here, and — unless it left in good order — what the others wait
    /// for from it ends with an error.
    pub fn peer_down(&self, name: &str, incarnation: u64) {
        let left = lock(&self.left).contains(name);
        if !self.gone(name, incarnation) || left {
            return;
        }
        // With etcd, its lease is the verdict: no side to count.
        if self.provider().is_none() && !lock(&self.quorum).down(&self.me, name, self.born.elapsed()) {
            log(&self.me, "minority", &[("lost", name)]);
            self.stop_all("this node is cut off from the majority of the cluster");
            self.renew.store(true, std::sync::atomic::Ordering::SeqCst);
            return;
        }
        for n in self.runs() {
            n.node_down(name);
        }
    }

    /// A peer left in good order (its actors moved away first).
    pub fn peer_left(&self, name: &str, incarnation: u64) {
        lock(&self.left).insert(name.to_string());
        lock(&self.quorum).left(name);
        self.gone(name, incarnation);
    }

    /// Nothing can be sent to `name` (as of `incarnation`) any more; `false`
    /// if news of a later incarnation came first.
    fn gone(&self, name: &str, incarnation: u64) -> bool {
        {
            let mut down = lock(&self.down);
            if lock(&self.up).get(name).is_some_and(|&i| i > incarnation) {
                return false;
            }
            down.insert(name.to_string(), incarnation);
            self.any_down.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        crate::runtime::migrate::route_around(name);
        self.copies_lost(name);
        if let Some(l) = lock(&self.links).remove(name) {
            l.close();
        }
        let ended: Vec<Arc<Node>> = {
            let mut runs = lock(&self.runs);
            let gone: Vec<u128> = runs.iter().filter(|(_, n)| n.home.as_deref() == Some(name)).map(|(r, _)| *r).collect();
            gone.iter().filter_map(|r| runs.remove(r)).collect()
        };
        for n in ended {
            let _ = std::thread::Builder::new().name("noodle-run-end".into()).spawn(move || n.end_hosted());
        }
        true
    }

    /// A peer is up as `incarnation`: sends to it go out again (unless that
    /// incarnation is the one known gone).
    pub fn peer_up(&self, name: &str, incarnation: u64) {
        let mut down = lock(&self.down);
        let mut up = lock(&self.up);
        if up.get(name).is_some_and(|&i| i >= incarnation) {
            return;
        }
        up.insert(name.to_string(), incarnation);
        lock(&self.quorum).up(name);
        if down.get(name).is_some_and(|&i| i < incarnation) {
            down.remove(name);
            lock(&self.left).remove(name);
        }
        self.any_down.store(!down.is_empty(), std::sync::atomic::Ordering::SeqCst);
        drop((down, up));
        for n in self.runs() {
            n.node_up(name);
        }
    }

    /// Incarnation `incarnation` of `name` was declared dead.
    pub fn is_dead(&self, name: &str, incarnation: u64) -> bool {
        self.any_down.load(std::sync::atomic::Ordering::SeqCst) && lock(&self.down).get(name).is_some_and(|&d| incarnation <= d)
    }

    /// This node learnt that the others declared it dead (it was paused or
    /// cut off): what it ran has been restored elsewhere, so it stops all of
    /// it — without committing — before it serves anything under its new
    /// incarnation. A program whose node this is ends with an error.
    pub fn declared_dead(&self) {
        log(&self.me, "declared-dead", &[("incarnation", &self.state.incarnation.load(std::sync::atomic::Ordering::SeqCst).to_string())]);
        self.stop_all("the cluster declared this node dead (paused or cut off longer than failure detection allows)");
        self.renew.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// This node could not renew its etcd lease in time: others may soon
    /// restore what it runs, so it stops all of it first (self-fencing).
    pub(super) fn lost_lease(&self, etcd: &str) {
        log(&self.me, "fenced-self", &[("etcd", etcd)]);
        self.stop_all("this node could not renew its lease in etcd in time (self-fenced)");
        self.renew.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// A renewal that failed: tried again later.
    pub(super) fn renew_later(&self) {
        self.renew.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn use_provider(&self, p: Arc<super::etcd::provider::Provider>) {
        let _ = self.provider.set(p);
    }

    pub(super) fn provider(&self) -> Option<&Arc<super::etcd::provider::Provider>> {
        self.provider.get()
    }

    /// The node where run `run`'s main runs.
    pub(super) fn home_of(&self, run: u128) -> String {
        let home = lock(&self.runs).get(&run).and_then(|n| n.home.as_deref().map(str::to_string));
        home.unwrap_or_else(|| self.me.to_string())
    }

    /// Whether membership should start afresh (asked once).
    pub fn take_renew(&self) -> bool {
        self.renew.swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// Membership started afresh: the verdicts made while cut off are
    /// forgotten (the nodes they named are alive to the majority).
    pub fn renewed(&self) {
        lock(&self.down).clear();
        self.any_down.store(false, std::sync::atomic::Ordering::SeqCst);
        *lock(&self.quorum) = super::quorum::Quorum::new(self.settle);
    }

    /// Not cut off, by what membership shows (`suspects` members not
    /// answering yet): only then are members declared down told so.
    pub fn healthy(&self, suspects: usize) -> bool {
        lock(&self.quorum).has_majority(&self.me, self.born.elapsed(), suspects)
    }

    /// Stop every run here without committing (what they ran is restored
    /// elsewhere) and close every link; `why` ends a program whose node
    /// this is.
    fn stop_all(&self, why: &'static str) {
        let runs: Vec<Arc<Node>> = lock(&self.runs).drain().map(|(_, n)| n).collect();
        for n in runs {
            let _ = std::thread::Builder::new().name("noodle-fenced".into()).spawn(move || n.abandon(why));
        }
        let links: Vec<Arc<Link>> = lock(&self.links).drain().map(|(_, l)| l).collect();
        for l in links {
            l.close();
        }
    }

    /// Answers to question `req` go to `tx`.
    pub(super) fn wait_for(&self, req: u64, tx: std::sync::mpsc::Sender<Wire>) {
        lock(&self.calls).insert(req, tx);
    }

    pub(super) fn stop_waiting(&self, req: u64) {
        lock(&self.calls).remove(&req);
    }

    /// The directory's answer to a claim made here.
    pub(super) fn answer_claim(&self, w: Wire) -> Option<Wire> {
        self.answer(w)
    }

    pub(super) fn next_req(&self) -> u64 {
        self.next_req.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// The answer to question `req` arrived.
    pub(super) fn answered(&self, req: u64, w: Wire) {
        if let Some(tx) = lock(&self.calls).remove(&req) {
            let _ = tx.send(w);
        }
    }

    /// This node and the peers membership has alive.
    pub(super) fn live_nodes(&self) -> Vec<String> {
        let peers = self.state.peers();
        std::iter::once(self.me.to_string()).chain(peers.into_iter().filter(|(_, s)| s == "alive").map(|(m, _)| m.name)).collect()
    }
}

impl Net for Agent {
    fn me(&self) -> &Arc<str> {
        &self.me
    }

    fn send(&self, to: &str, w: &Wire) {
        let bytes = match crate::vm::host::for_wire(&self.me, || wire_codec::encode(w)) {
            Ok(b) => b,
            Err(e) => return log(&self.me, "send-failed", &[("peer", to), ("reason", &e.to_string())]),
        };
        if to == &*self.me {
            // To ourselves (a reference that came back home): as if received.
            if let Ok(w) = wire_codec::decode(&bytes) {
                self.dispatch_local(w);
            }
            return;
        }
        if bytes.len() > link::MAX_MESSAGE {
            log(&self.me, "send-failed", &[("peer", to), ("reason", "message larger than 256 MB")]);
            return self.refuse_ask(to, w, bytes.len());
        }
        self.link(to).send(w.lane(), bytes, w.urgent());
    }

    fn view(&self) -> ClusterView {
        let mut nodes = Vec::new();
        let me = &self.state.me;
        let mine = self.load(0.0);
        nodes.push(NodeView {
            name: me.name.clone(),
            capacity: me.capacity,
            reserved: mine.reserved,
            actors: mine.actors,
            busy: self.busy(),
            free_memory: mine.free_memory,
            draining: mine.draining,
        });
        let loads = lock(&self.state.loads);
        for (m, st) in self.state.peers() {
            if st != "alive" {
                continue;
            }
            let (l, placed) = loads.get(&m.name).cloned().unwrap_or_default();
            nodes.push(NodeView {
                name: m.name.clone(),
                capacity: m.capacity,
                reserved: l.reserved,
                actors: l.actors + placed,
                busy: l.busy,
                free_memory: l.free_memory,
                draining: l.draining,
            });
        }
        // By name: the same order on every node (round-robin, messages).
        nodes.sort_by(|a, b| a.name.cmp(&b.name));
        ClusterView { nodes, local: me.name.clone() }
    }

    fn placed(&self, node: &str) {
        lock(&self.state.loads).entry(node.to_string()).or_default().1 += 1;
    }

    fn claim(&self, run: u128, name: &str, entry: &Entry) -> Result<(), String> {
        self.claim_name(run, name, entry)
    }

    fn find(&self, name: &str) -> Option<Entry> {
        self.find_name(name)
    }

    fn release(&self, name: &str, id: u128) {
        self.release_name(name, id)
    }

    fn own(&self, run: u128, claims: &[(u128, u64, String)]) -> Vec<Result<(), String>> {
        self.own_actors(run, claims)
    }

    fn event(&self, kind: &str, fields: &[(&str, &str)]) {
        log(&self.me, kind, fields);
    }

    fn find_record(&self, name: &str) -> Option<String> {
        self.newest_record(name)
    }

    fn take_record(&self, node: &str, name: &str) -> Option<crate::runtime::durable::Record> {
        self.take_record_from(node, name)
    }

    fn is_down(&self, node: &str) -> bool {
        self.any_down.load(std::sync::atomic::Ordering::SeqCst) && lock(&self.down).contains_key(node)
    }

    fn replicate(
        &self,
        run: u128,
        home: &str,
        id: u128,
        name: &str,
        record: &crate::runtime::durable::Record,
        kit: Option<Arc<crate::runtime::remote::SpawnMsg>>,
        copies: usize,
        gather: &Arc<crate::runtime::failover::Gather>,
    ) {
        self.send_copies(run, home, id, name, record, kit, copies, gather)
    }

    fn restored(&self, id: u128, node: &str, generation: u64) {
        self.fence_copies(id, node, generation)
    }

    fn orphans(&self, run: u128, host: &str) -> Vec<(String, crate::runtime::failover::Orphan)> {
        self.find_orphans(run, host)
    }

    fn fetch(&self, holder: &str, ids: &[u128]) -> Vec<crate::runtime::failover::Copy> {
        self.fetch_copies(holder, ids)
    }

    fn claim_many(&self, run: u128, names: &[(String, Entry)]) -> Vec<(String, String)> {
        self.claim_names(run, names)
    }
}

impl Agent {
    /// Ask `to` a directory question and wait (bounded) for the answer.
    pub(super) fn call(&self, to: &str, make: impl FnOnce(u64) -> Wire) -> Option<Wire> {
        let req = self.next_req.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let w = make(req);
        if to == &*self.me {
            return match w {
                w @ (Wire::RecordQuery { .. } | Wire::TakeRecord { .. }) => self.answer_records(w),
                Wire::Failover(m) => self.answer_copies(*m),
                w => self.answer(w),
            };
        }
        let (tx, rx) = std::sync::mpsc::channel();
        lock(&self.calls).insert(req, tx);
        self.send(to, &w);
        let r = rx.recv_timeout(CALL_TIME).ok();
        lock(&self.calls).remove(&req);
        r
    }

    /// An ask that could not be sent fails at once (rather than waiting).
    fn refuse_ask(&self, to: &str, w: &Wire, size: usize) {
        use crate::runtime::remote::WireBody;
        let Wire::Deliver(d) = w else { return };
        let WireBody::Ask { worker, id, .. } = &d.body else { return };
        let why = format!("the message is too large to send to node {to}: {} MB (at most {} MB)", size >> 20, link::MAX_MESSAGE >> 20);
        let e = crate::vm::portable::to_portable(&crate::vm::Value::error("ValueError", why));
        let reply = Wire::Reply { run: d.run, worker: *worker, id: *id, result: Err(e.unwrap_or(crate::vm::portable::Packet::none())) };
        match &d.reply {
            Some(node) => self.send(node, &reply),
            None => self.dispatch_local(reply),
        }
    }

    fn dispatch_local(&self, w: Wire) {
        if let Some(run) = w.run() {
            let node = lock(&self.runs).get(&run).cloned();
            if let Some(n) = node {
                let me = self.me.clone();
                n.receive(&me, w);
            }
        }
    }
}
