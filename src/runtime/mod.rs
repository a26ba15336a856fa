//! The runtime (runtime.md §4–§5): the scheduler that drives tasks, and the
//! actors — shared-nothing units of state that live on worker threads and
//! talk only by message (language.md §7). The VM reaches it through
//! `vm::host::Host`, which `Worker` (worker.rs) implements.
//!
//! - `Mailbox` is the runtime's side of an actor handle (`vm::host::ActorCell`):
//!   the mailbox (an `async-channel`), capacity and the "room" event senders
//!   wait on.
//! - `Node` is one process's runtime: the worker links, the wait-for graph,
//!   activity counters (for deadlock detection) and the checkpoint store.
//! - `task.rs` runs tasks on a worker's executor; `send.rs` is the sending
//!   side (spawn, ask, tell, raw messages), run by the VM of the sender;
//!   `run.rs` the receiving side: the actor loop, handlers as VM tasks,
//!   supervision; `worker.rs` the worker threads.

mod checkpoint;
pub mod durable;
pub mod failover;
mod hosting;
pub(crate) mod migrate;
mod monitor;
mod options;
mod persist;
pub mod remote;
mod remote_send;
pub(crate) mod run;
pub(crate) mod send;
pub(crate) mod task;
mod waits;
pub mod wire_codec;
pub(crate) mod worker;

pub use checkpoint::{CheckpointStore, MemoryStore};
pub use remote::local_actors;
pub use task::{catch_interrupts, INTERRUPTED};

use crate::bytecode::Verified;
pub use crate::vm::host::{ActorCell, MAIN_ID};
use crate::vm::portable::Packet;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};

/// Default mailbox capacity (messages); `spawn ... with {mailbox: N}` changes it.
pub const DEFAULT_MAILBOX: usize = 1024;

/// The runtime's side of an actor handle.
pub struct Mailbox {
    pub worker: usize,
    pub cap: usize,
    tx: async_channel::Sender<Box<Envelope>>,
    /// Notified whenever the actor takes a message (room for one more).
    pub room: event_listener::Event,
    /// The workers of the senders waiting for room (one entry per waiter).
    room_waiters: Mutex<Vec<usize>>,
    room_waiting: std::sync::atomic::AtomicUsize,
    pub stopped: AtomicBool,
    /// Why the actor stopped, when asks should raise that rather than
    /// `ActorStoppedError` (a failed restore): kind and message.
    pub reason: Mutex<Option<(String, String)>>,
    /// Who waits for the actor's next restart or stop (`monitor.rs`).
    pub monitors: Mutex<Vec<ReplyTo>>,
    /// Set for an actor on another node (a reference, or an actor that
    /// moved away): messages go over the network.
    pub remote: std::sync::OnceLock<Box<remote::RemoteAt>>,
    /// For an actor that may move next to its peers (`migrate.rs`).
    pub traffic: Option<Box<migrate::Traffic>>,
}

/// The mailbox behind an actor handle.
pub(crate) trait CellExt {
    fn mb(&self) -> &Mailbox;
}

impl CellExt for ActorCell {
    fn mb(&self) -> &Mailbox {
        // Every cell is made by `new_cell` below.
        self.port.downcast_ref::<Mailbox>().expect("an actor cell made by the runtime")
    }
}

impl Mailbox {
    /// Where the actor runs when not here.
    pub fn at(&self) -> Option<&remote::RemoteAt> {
        self.remote.get().map(|b| &**b)
    }

    pub fn is_full(&self) -> bool {
        self.tx.len() >= self.cap
    }

    /// A sender on `worker` starts or stops waiting for room.
    pub(crate) fn room_wait(&self, worker: usize, waiting: bool) {
        let mut w = lock(&self.room_waiters);
        if waiting {
            w.push(worker);
            self.room_waiting.fetch_add(1, Ordering::SeqCst);
        } else if let Some(i) = w.iter().position(|x| *x == worker) {
            w.swap_remove(i);
            self.room_waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// There is room (or the actor stopped): wake `n` waiting senders. A
    /// wake-up crossing threads is work in flight, so the node is not taken
    /// for quiet (and main's wait for a deadlock) while it travels: each
    /// waiter's worker also gets a counted `Wake` message, sent after the
    /// notification, so it is taken only once the waiter is runnable there.
    pub(crate) fn make_room(&self, n: usize, node: Option<&Node>) {
        self.room.notify(n);
        if self.room_waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        let Some(node) = node else { return };
        let mut workers = lock(&self.room_waiters).clone();
        workers.sort_unstable();
        workers.dedup();
        for w in workers {
            node.post_wake(w);
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn new_cell(
    id: uuid::Uuid,
    name: Option<Arc<str>>,
    class_name: Arc<str>,
    handlers: Vec<Arc<str>>,
    key: u64,
    worker: usize,
    cap: usize,
    tx: async_channel::Sender<Box<Envelope>>,
) -> ActorCell {
    let port = Mailbox {
        worker,
        cap,
        tx,
        room: event_listener::Event::new(),
        room_waiters: Mutex::new(Vec::new()),
        room_waiting: Default::default(),
        stopped: AtomicBool::new(false),
        reason: Mutex::new(None),
        monitors: Mutex::new(Vec::new()),
        remote: Default::default(),
        traffic: None,
    };
    ActorCell { id, id_str: Arc::from(id.to_string()), name, class_name, handlers, key, port: Box::new(port) }
}

/// The actor with an id, or a stopped handle for one that no longer runs
/// here (`vm::host::ACTOR_BY_ID`).
fn actor_by_id(id: uuid::Uuid) -> Arc<ActorCell> {
    match lock(registry()).by_id.get(&id).and_then(Weak::upgrade) {
        Some(c) => c,
        None => Arc::new(dead_cell(id)),
    }
}

fn dead_cell(id: uuid::Uuid) -> ActorCell {
    let (tx, _) = async_channel::bounded::<Box<Envelope>>(1);
    let c = new_cell(id, None, Arc::from("actor"), Vec::new(), 0, 0, 0, tx);
    c.mb().stopped.store(true, Ordering::Release);
    c
}

/// One message. Asks, tells and raw messages share the mailbox, so one
/// sender's messages to one actor stay in order.
pub struct Envelope {
    pub sender: Arc<str>,
    pub seq: u64,
    pub timestamp: f64,
    pub body: Body,
}

pub enum Body {
    Ask {
        method: Arc<str>,
        args: Packet,
        reply: ReplyTo,
    },
    Tell {
        method: Arc<str>,
        args: Packet,
    },
    /// From `send_message`: the map's `type` and `payload`.
    Raw {
        kind: Packet,
        payload: Packet,
    },
    /// Not a message: the node asks the actor to move to another node
    /// once what is ahead of this in its mailbox has run (`migrate.rs`).
    Move {
        to: Arc<str>,
    },
}

/// Where an ask's reply goes: the asker's worker and its pending-reply number.
#[derive(Clone, Copy)]
pub struct ReplyTo {
    pub worker: usize,
    pub id: u64,
}

/// Messages between workers (not between actors).
pub enum WorkerMsg {
    Start(Box<run::Start>),
    Reply {
        id: u64,
        result: Result<Packet, Packet>,
    },
    /// A copy of a promise was completed: complete the original.
    Resolve {
        id: u64,
        result: Result<Packet, Packet>,
    },
    /// `worker` holds a copy of promise `id`, owned by the receiver: send
    /// the original's completion there.
    Watch {
        id: u64,
        worker: usize,
    },
    /// `exit(code)` called on another worker.
    Exit(i32),
    /// Wake the main thread to look for a deadlock.
    Check,
    /// An actor's wait closed a cycle across nodes: fail it.
    Deadlock {
        key: u64,
        cycle: String,
    },
    /// A sender waiting for room here was woken (counted in flight until
    /// taken; see `ActorCell::make_room`).
    Wake,
    /// Commit every durable actor of the worker, then say so (the program
    /// is ending).
    Commit(std::sync::mpsc::Sender<()>),
    Shutdown,
}

/// Process-wide name and id tables (one node per process).
#[derive(Default)]
pub struct Registry {
    pub by_id: FxHashMap<uuid::Uuid, Weak<ActorCell>>,
    pub by_name: FxHashMap<Arc<str>, Arc<ActorCell>>,
    /// Actors that ran here and stopped (on a cluster, a message for an id
    /// never seen may be ahead of its spawn; one for these is undeliverable).
    pub gone: rustc_hash::FxHashSet<uuid::Uuid>,
    /// Handles of actors that moved to another node, kept so what still
    /// comes here for them is forwarded.
    pub moved: FxHashMap<uuid::Uuid, Arc<ActorCell>>,
}

pub fn registry() -> &'static Mutex<Registry> {
    static R: LazyLock<Mutex<Registry>> = LazyLock::new(Default::default);
    &R
}

pub use crate::contain::lock;

/// The runtime of one process: its workers and what they share.
pub struct Node {
    pub workers: usize,
    links: Vec<async_channel::Sender<WorkerMsg>>,
    receivers: Mutex<Vec<Option<async_channel::Receiver<WorkerMsg>>>>,
    threads: Mutex<Vec<Option<std::thread::JoinHandle<()>>>>,
    next_worker: AtomicUsize,
    next_key: AtomicU64,
    /// Messages, replies and starts sent but not yet taken.
    pub in_flight: AtomicI64,
    /// Worker threads (not main's) that have work or pending timers.
    pub active: AtomicI64,
    busy: Vec<AtomicBool>,
    /// Who awaits whom: actor key → (awaited actor key, waiter label).
    waits: Mutex<FxHashMap<u64, (u64, String)>>,
    pub program: Mutex<Arc<Verified>>,
    pub args: Vec<String>,
    pub max_depth: usize,
    /// The library modules worker VMs can import.
    pub library: &'static [&'static crate::vm::native::LibraryModule],
    pub store: Box<dyn CheckpointStore>,
    /// Where durable actors' records live: a data directory, or `None` for
    /// memory only (`--ephemeral`). Opened on first need.
    pub data: Option<std::path::PathBuf>,
    records: std::sync::OnceLock<Result<Arc<durable::Records>, String>>,
    pub dead_letters: AtomicU64,
    /// This run's id: durable records note it (senders are identified per run).
    pub run_id: uuid::Uuid,
    /// A durable actor has run here (a signal then commits before exiting).
    pub has_durable: AtomicBool,
    /// What this node offers (read on first need) and what the actors
    /// running here reserved of it (`cpus`, `memory`, `gpus` options).
    capacity: std::sync::OnceLock<crate::cluster::Resources>,
    reserved: Mutex<crate::cluster::Resources>,
    program_hash: std::sync::OnceLock<String>,
    /// The cluster, when this node is part of one (`remote.rs`).
    net: std::sync::OnceLock<Arc<dyn remote::Net>>,
    /// For a node hosting actors of a program whose main runs elsewhere:
    /// that node's name.
    pub home: Option<Arc<str>>,
    /// Asks from other nodes being answered here: slot → (node, worker, id).
    remote_replies: Mutex<FxHashMap<u64, remote::OwedReply>>,
    /// On a program's home node: the run's wait-for graph across nodes.
    graph: Mutex<waits::Graph>,
    /// Messages for actors whose spawn has not arrived yet (it may come on
    /// another link): id → (since, the messages and their senders).
    early: Mutex<FxHashMap<u128, (std::time::Instant, remote::Early)>>,
    /// The program as shipped to other nodes: content hash and NBC bytes.
    shipped: std::sync::OnceLock<(String, Arc<Vec<u8>>)>,
    /// Actors moving to or from this node.
    pub(crate) moves: migrate::Moves,
    /// Asks and watches waiting for another node (`monitor.rs`).
    awaiting: Mutex<FxHashMap<(u32, u64), monitor::Awaiting>>,
    /// Copies of durable records and failover (`failover.rs`).
    failover: failover::State,
}

impl Node {
    /// A node running actors for the program run `run_id` whose main runs on
    /// `home`; their output and `exit()` go there.
    pub fn hosted(
        workers: usize,
        program: Arc<Verified>,
        vm: &crate::vm::Vm,
        run_id: uuid::Uuid,
        home: Arc<str>,
        data: Option<std::path::PathBuf>,
    ) -> Arc<Node> {
        let mut n = Node::build(workers + 1, program, vm);
        n.run_id = run_id;
        n.home = Some(home);
        n.data = data;
        Arc::new(n)
    }

    /// The program's content hash and NBC encoding (what other nodes are sent).
    pub fn shipped(&self) -> (String, Arc<Vec<u8>>) {
        self.shipped
            .get_or_init(|| {
                use sha2::Digest;
                let bytes = crate::bytecode::nbc::encode(lock(&self.program).program());
                let hash = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect::<String>();
                (hash, Arc::new(bytes))
            })
            .clone()
    }

    /// Keep durable records in `r` (a node's store, shared by the runs it hosts).
    pub fn share_records(&self, r: Arc<durable::Records>) {
        let _ = self.records.set(Ok(r));
    }

    /// What the actors running here reserved.
    pub fn reserved(&self) -> crate::cluster::Resources {
        *lock(&self.reserved)
    }

    /// Reserve what an actor placed here by another node needs.
    pub(crate) fn reserve(&self, needs: &run::Needs) {
        let mut reserved = lock(&self.reserved);
        *reserved = reserved.add(&needs.resources);
    }

    /// A node whose durable records live in `data` (`None`: in memory).
    pub fn with_data(workers: usize, program: Arc<Verified>, vm: &crate::vm::Vm, data: Option<std::path::PathBuf>) -> Arc<Node> {
        let mut n = Node::build(workers, program, vm);
        n.data = data;
        Arc::new(n)
    }

    /// A node that keeps durable records in memory.
    pub fn new(workers: usize, program: Arc<Verified>, vm: &crate::vm::Vm) -> Arc<Node> {
        Arc::new(Node::build(workers, program, vm))
    }

    /// The durable record store, opened (or made) on first use.
    /// The record store, shared (for the cluster's record questions).
    pub fn records_shared(&self) -> Result<Arc<durable::Records>, String> {
        self.records.get_or_init(|| open_records(self.data.as_deref())).clone()
    }

    pub(crate) fn records(&self) -> Result<&durable::Records, String> {
        let r = self.records.get_or_init(|| open_records(self.data.as_deref()));
        r.as_ref().map(|r| &**r).map_err(|e| e.clone())
    }

    /// The placement engine's answer for an actor with needs, on this node
    /// (a cluster of one named `local`): reserve them, or say what is missing.
    pub(crate) fn place(&self, class: &str, strategy: &str, needs: &run::Needs) -> Result<(), String> {
        use crate::cluster::{place_actor, ClusterView, NodeView};
        let mut reserved = lock(&self.reserved);
        let capacity = *self.capacity.get_or_init(crate::cluster::machine_capacity);
        let free_memory = if needs.stateful { crate::cluster::free_memory() } else { capacity.memory };
        let me = NodeView { name: "local".into(), capacity, reserved: *reserved, free_memory, ..Default::default() };
        let view = ClusterView { nodes: vec![me], local: "local".into() };
        place_actor(&needs.request(class, strategy), &view)?;
        *reserved = reserved.add(&needs.resources);
        Ok(())
    }

    /// An actor with needs stopped: give back what it reserved.
    pub(crate) fn release(&self, needs: &run::Needs) {
        let mut reserved = lock(&self.reserved);
        *reserved = reserved.saturating_sub(&needs.resources);
    }

    /// A hash of the program's source (records note what code wrote them).
    pub(crate) fn program_hash(&self) -> String {
        self.program_hash
            .get_or_init(|| {
                let mut h = crc32fast::Hasher::new();
                for f in &lock(&self.program).files {
                    h.update(f.name.as_bytes());
                    h.update(&[0]);
                    h.update(f.text.as_bytes());
                }
                format!("{:08x}", h.finalize())
            })
            .clone()
    }

    /// Have `workers` commit their durable actors, and wait for them (each
    /// gets a few seconds to finish the turn it is in; after that its actors
    /// keep their last commit).
    pub(crate) fn commit_on(self: &Arc<Self>, workers: &[usize]) {
        let (tx, rx) = std::sync::mpsc::channel();
        for &w in workers {
            self.post(w, WorkerMsg::Commit(tx.clone()));
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        for _ in workers {
            if rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())).is_err() {
                break;
            }
        }
    }

    /// Close the durable store cleanly, if it was opened (the end of the
    /// process: a file left open needs a repair scan at the next open).
    pub fn close_records(&self) {
        // A hosting node's store is the node's, shared by its runs.
        if self.home.is_some() {
            return;
        }
        if let Some(Ok(r)) = self.records.get() {
            r.close();
        }
    }

    fn build(workers: usize, program: Arc<Verified>, vm: &crate::vm::Vm) -> Node {
        let _ = crate::vm::host::ACTOR_BY_ID.set(actor_by_id);
        let (args, max_depth, library) = (vm.args.clone(), vm.max_depth, vm.library);
        let workers = workers.max(1);
        let mut links = Vec::new();
        let mut receivers = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = async_channel::unbounded();
            links.push(tx);
            receivers.push(Some(rx));
        }
        Node {
            workers,
            links,
            receivers: Mutex::new(receivers),
            threads: Mutex::new((0..workers).map(|_| None).collect()),
            // Main runs on worker 0; spreading starts with the others.
            next_worker: AtomicUsize::new(1),
            next_key: AtomicU64::new(1),
            in_flight: AtomicI64::new(0),
            active: AtomicI64::new(0),
            busy: (0..workers).map(|_| AtomicBool::new(false)).collect(),
            waits: Mutex::new(FxHashMap::default()),
            program: Mutex::new(program),
            args,
            max_depth,
            library,
            store: Box::new(MemoryStore::default()),
            data: None,
            records: std::sync::OnceLock::new(),
            dead_letters: AtomicU64::new(0),
            run_id: uuid::Uuid::new_v4(),
            has_durable: AtomicBool::new(false),
            capacity: std::sync::OnceLock::new(),
            reserved: Mutex::new(Default::default()),
            program_hash: std::sync::OnceLock::new(),
            net: std::sync::OnceLock::new(),
            home: None,
            remote_replies: Mutex::new(FxHashMap::default()),
            awaiting: Mutex::new(FxHashMap::default()),
            failover: Default::default(),
            graph: Mutex::new(Default::default()),
            early: Mutex::new(FxHashMap::default()),
            shipped: std::sync::OnceLock::new(),
            moves: Default::default(),
        }
    }

    /// Worker 0 is the main thread; it takes its receiver once.
    pub(crate) fn take_receiver(&self, worker: usize) -> Option<async_channel::Receiver<WorkerMsg>> {
        lock(&self.receivers).get_mut(worker).and_then(Option::take)
    }

    /// Round-robin over the workers, for `strategy: "balanced"` (the
    /// placement engine is a later issue).
    pub(crate) fn pick_worker(&self) -> usize {
        let w = self.next_worker.fetch_add(1, Ordering::Relaxed) % self.workers;
        // A hosting node has no main: worker 0 stays unused.
        if w == 0 && self.home.is_some() {
            return self.pick_worker();
        }
        w
    }

    pub(crate) fn new_key(&self) -> u64 {
        remote::global_key()
    }

    /// Send to a worker, starting its thread on first use.
    pub(crate) fn post(self: &Arc<Self>, worker: usize, msg: WorkerMsg) {
        if worker >= self.links.len() || (worker == 0 && self.home.is_some()) {
            // A reply owed to another node, `exit()` of a program whose main
            // runs elsewhere; otherwise a malformed packet (a promise from a
            // bigger node).
            return self.post_remote(worker, msg);
        }
        if worker != 0 {
            self.ensure_thread(worker);
        }
        if !matches!(msg, WorkerMsg::Shutdown | WorkerMsg::Exit(_) | WorkerMsg::Check) {
            self.in_flight.fetch_add(1, Ordering::SeqCst);
        }
        if self.links[worker].try_send(msg).is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// A counted `Wake` for a worker that is running (it has a waiter).
    pub(crate) fn post_wake(&self, worker: usize) {
        let Some(link) = self.links.get(worker) else { return };
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if link.try_send(WorkerMsg::Wake).is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// The workers (other than main's) whose threads have started.
    pub(crate) fn started_workers(&self) -> Vec<usize> {
        lock(&self.threads).iter().enumerate().filter(|(i, t)| *i != 0 && t.is_some()).map(|(i, _)| i).collect()
    }

    fn ensure_thread(self: &Arc<Self>, worker: usize) {
        let mut threads = lock(&self.threads);
        if threads[worker].is_some() {
            return;
        }
        let Some(rx) = self.take_receiver(worker) else { return };
        self.mark_busy(worker);
        let node = self.clone();
        let h = std::thread::Builder::new()
            .name(format!("noodle-worker-{worker}"))
            .stack_size(crate::vm::VM_STACK)
            .spawn(move || worker::run_worker(node, worker, rx));
        match h {
            Ok(h) => threads[worker] = Some(h),
            Err(e) => {
                self.mark_idle(worker);
                crate::ewriteln!("noodle: cannot start worker thread {worker}: {e}");
            }
        }
    }

    /// A worker thread has something to do. Called before a message is
    /// counted as taken, so work is never invisible to `quiet`.
    pub(crate) fn mark_busy(&self, worker: usize) {
        if worker != 0 && !self.busy[worker].swap(true, Ordering::SeqCst) {
            self.active.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A worker thread ran out of work and timers. If that leaves the whole
    /// node quiet, the main thread is told, so it can report a deadlock.
    pub(crate) fn mark_idle(&self, worker: usize) {
        if worker != 0 && self.busy[worker].swap(false, Ordering::SeqCst) {
            self.active.fetch_sub(1, Ordering::SeqCst);
            if self.quiet() {
                let _ = self.links[0].try_send(WorkerMsg::Check);
            }
        }
    }

    /// Nothing anywhere can make progress: no worker thread is busy or has
    /// timers, and nothing is in flight between them.
    pub(crate) fn quiet(&self) -> bool {
        // On a cluster, work may be under way on other nodes: only the
        // wait-for graph reports deadlocks there.
        if self.net.get().is_some() {
            return false;
        }
        self.in_flight.load(Ordering::SeqCst) <= 0 && self.active.load(Ordering::SeqCst) <= 0
    }

    pub(crate) fn has_threads(&self) -> bool {
        lock(&self.threads).iter().any(Option::is_some)
    }

    /// Stop the worker threads: each finishes its current step, flushes its
    /// output and exits; wait a little for them (a handler stuck in a loop
    /// must not keep the process alive).
    pub fn shutdown(&self) {
        let handles: Vec<_> = lock(&self.threads).iter_mut().filter_map(Option::take).collect();
        for (i, l) in self.links.iter().enumerate() {
            if i != 0 {
                let _ = l.try_send(WorkerMsg::Shutdown);
            }
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(500);
        for h in handles {
            while !h.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }

    /// Record that actor `from` waits for `to`. If that closes a cycle, the
    /// edge is not added and the cycle is described (for a `DeadlockError`).
    pub(crate) fn add_wait(&self, from: u64, to: u64, from_label: String) -> Result<(), String> {
        let mut w = lock(&self.waits);
        let mut chain = vec![from_label.clone()];
        let mut at = to;
        let mut steps = 0;
        while let Some((next, label)) = w.get(&at) {
            chain.push(label.clone());
            if *next == from {
                chain.push(from_label);
                return Err(chain.join(" → "));
            }
            at = *next;
            steps += 1;
            if steps > w.len() {
                break;
            }
        }
        if to == from {
            return Err(format!("{from_label} → {from_label}"));
        }
        w.insert(from, (to, from_label));
        Ok(())
    }

    pub(crate) fn remove_wait(&self, from: u64) {
        lock(&self.waits).remove(&from);
    }
}

/// The durable record store in `dir` (`None`: in memory).
pub fn open_records(dir: Option<&std::path::Path>) -> Result<Arc<durable::Records>, String> {
    match dir {
        Some(dir) => durable::Store::open(dir).map(|s| Arc::new(durable::Records::Disk(s))),
        None => Ok(Arc::new(durable::Records::Memory(Default::default()))),
    }
}

/// `noodle run`: on SIGINT or SIGTERM, every durable actor commits its state
/// (each worker gets a few seconds to finish its turn) and the process exits
/// with 128 + the signal's number. Without durable actors it exits at once.
pub fn commit_on_signals(node: Arc<Node>) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else { return };
    let r = std::thread::Builder::new().name("noodle-signals".into()).spawn(move || {
        let Some(sig) = signals.forever().next() else { return };
        if node.has_durable.load(Ordering::SeqCst) {
            // A second signal while committing ends the process at once.
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    std::process::exit(128 + sig);
                }
            });
            let mut workers = node.started_workers();
            workers.push(0);
            node.commit_on(&workers);
        }
        node.close_records();
        std::process::exit(128 + sig);
    });
    if let Err(e) = r {
        crate::ewriteln!("noodle: cannot watch for signals: {e}");
    }
}

/// Number of worker threads to use by default: one per core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub(crate) fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// The runtime as one VM sees it: its node (`vm::host::Host`).
pub struct Worker {
    pub node: Arc<Node>,
}

/// Give `vm` the runtime of `node`.
pub fn attach(vm: &mut crate::vm::Vm, node: Arc<Node>) {
    vm.host = Some(std::rc::Rc::new(Worker { node }));
}

impl crate::vm::Vm {
    /// The node of the runtime this VM is attached to.
    pub(crate) fn rt_node(&self) -> Option<&Arc<Node>> {
        let host: &dyn std::any::Any = self.host.as_deref()?;
        host.downcast_ref::<Worker>().map(|w| &w.node)
    }
}

/// The node a VM is attached to (the REPL updates its program).
pub fn node_of(vm: &crate::vm::Vm) -> Option<Arc<Node>> {
    vm.rt_node().cloned()
}

impl crate::vm::Vm {
    /// This VM's node, created on first use with one worker when the driver
    /// did not set one up (library use, tests).
    pub(crate) fn node(&mut self) -> Arc<Node> {
        if let Some(n) = self.rt_node() {
            return n.clone();
        }
        let program = self.program.clone().unwrap_or_default();
        let n = Node::new(1, program, self);
        attach(self, n.clone());
        n
    }
}

pub(crate) fn stopped_error(cell: &ActorCell) -> Result<crate::vm::Value, crate::vm::Value> {
    if let Some((kind, message)) = lock(&cell.mb().reason).clone() {
        return crate::vm::value::err(&kind, message);
    }
    crate::vm::value::err("ActorStoppedError", format!("actor {} has stopped", cell.label()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> Arc<Node> {
        Node::new(1, Arc::default(), &crate::vm::Vm::new())
    }

    #[test]
    fn wait_graph_refuses_the_edge_that_closes_a_cycle() {
        let n = node();
        assert!(n.add_wait(1, 2, "A".into()).is_ok());
        assert!(n.add_wait(2, 3, "B".into()).is_ok());
        assert_eq!(n.add_wait(3, 1, "C".into()), Err("C → A → B → C".to_string()));
        // The refused edge was not recorded; removing one edge breaks the chain.
        n.remove_wait(2);
        assert!(n.add_wait(3, 1, "C".into()).is_ok());
    }

    #[test]
    fn waiting_on_yourself_is_a_cycle() {
        let n = node();
        assert_eq!(n.add_wait(7, 7, "A".into()), Err("A → A".to_string()));
    }

    /// On one node the spreading strategies (`"balanced"`, `"round_robin"`,
    /// `"spread"`) place actors round-robin over the workers, starting with
    /// the ones main does not run on.
    #[test]
    fn spreading_visits_every_worker() {
        let n = Node::new(3, Arc::default(), &crate::vm::Vm::new());
        let picks: Vec<usize> = (0..6).map(|_| n.pick_worker()).collect();
        assert_eq!(picks, [1, 2, 0, 1, 2, 0]);
    }

    #[test]
    fn quiet_counts_messages_in_flight_and_busy_workers() {
        let n = Node::new(2, Arc::default(), &crate::vm::Vm::new());
        assert!(n.quiet());
        n.in_flight.fetch_add(1, Ordering::SeqCst);
        assert!(!n.quiet());
        n.in_flight.fetch_sub(1, Ordering::SeqCst);
        n.mark_busy(1);
        assert!(!n.quiet());
        n.mark_busy(1); // idempotent
        n.mark_idle(1);
        assert!(n.quiet());
        n.mark_busy(0); // the main thread is not counted
        assert!(n.quiet());
    }
}
