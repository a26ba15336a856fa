//! Moving a running actor to another node (runtime.md §6: checkpoint, stop,
//! restore on the target, forward what was queued; per-sender order kept,
//! nothing lost). Affinity moves actors that exchange most of their messages
//! with another node there; `noodle cluster drain` moves everything off one.
//!
//! The protocol relies on each link between two nodes keeping order:
//! 1. The node puts `Body::Move` in the actor's mailbox: what is ahead of it
//!    runs here first.
//! 2. The actor, between turns, takes its checkpoint (a state that cannot be
//!    copied keeps it here) and asks the target to get ready
//!    (`MovePrepare`); it takes no message meanwhile.
//! 3. The target makes the actor's new handle and mailbox — from then on
//!    its own actors' sends wait there — and answers `MoveReady`, behind
//!    everything they sent to the old place.
//! 4. The old handle becomes a reference to the target; the old mailbox is
//!    closed and emptied into `MoveIn` with the state and the watchers.
//!    Whatever comes to the old place later is forwarded.
//! 5. The target starts the actor from that state: the moved messages
//!    first, then what waited in the new mailbox.

use super::persist::commit_and_wait;
use super::remote::{Delivery, RunInfo, Wire, WireBody, REMOTE_WORKER};
use super::run::{ActorCtx, Options, Start};
use super::*;
use crate::cluster::{place_actor, Request, Strategy};
use crate::vm::value::Value;
use crate::vm::Vm;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

/// How long an actor waits for its target to get ready before it stays.
const READY_TIME: Duration = Duration::from_secs(10);
/// Messages in one window below which an actor's traffic says nothing.
const MIN_TALK: u32 = 16;
/// Windows in a row one node must have most of an actor's messages.
const STREAK: u32 = 2;
/// An actor that just arrived stays at least this long.
const SETTLE: Duration = Duration::from_secs(1);

/// The target's part of a move: get ready for this actor.
#[derive(Debug, Serialize, Deserialize)]
pub struct Arrival {
    pub info: RunInfo,
    pub id: u128,
    pub name: Option<String>,
    pub class: String,
    pub handlers: Vec<String>,
    pub opts: Options,
}

/// The actor itself: its class, state and what was queued for it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Moved {
    pub run: u128,
    pub id: u128,
    pub class: Packet,
    /// The state fields in the class's order (a durable actor: its record).
    pub state: Option<Packet>,
    pub record: Option<durable::Record>,
    pub globals: Vec<(u32, u32, Packet)>,
    pub queued: Vec<Delivery>,
    /// Who watches it: each monitor's reply address (node, worker, id).
    pub watchers: Vec<(String, u32, u64)>,
    pub restarts: u32,
}

/// What the worker starting a moved actor gets with it.
pub struct Arrived {
    pub state: Option<Packet>,
    pub record: Option<durable::Record>,
    /// Boxed as the mailbox holds them (no copy into it).
    #[allow(clippy::vec_box)]
    pub backlog: Vec<Box<Envelope>>,
    pub restarts: u32,
}

/// An actor leaving: its target, and where to say the target is ready.
type Leaving = (Arc<str>, async_channel::Sender<bool>);
/// An actor arriving: its new handle, mailbox and options.
type Arriving = (Arc<ActorCell>, async_channel::Receiver<Box<Envelope>>, Options);

/// Actors moving to or from a node.
#[derive(Default)]
pub(crate) struct Moves {
    /// Leaving, waiting for the target: id → (target, where to say it is ready).
    outgoing: Mutex<FxHashMap<u128, Leaving>>,
    /// Arriving, waiting for their state: id → new handle, mailbox, options.
    incoming: Mutex<FxHashMap<u128, Arriving>>,
    /// Nodes told where an actor that left went: (id, node).
    told: Mutex<rustc_hash::FxHashSet<(u128, Arc<str>)>>,
    /// Why actors asked to move stayed: id → reason.
    stayed: Mutex<FxHashMap<uuid::Uuid, String>>,
}

impl Moves {
    /// The first message from `origin` forwarded for actor `id`.
    pub(super) fn first_forward(&self, id: u128, origin: &str) -> bool {
        lock(&self.told).insert((id, Arc::from(origin)))
    }
}

/// Some actor has arrived in this process: an older reference to it may
/// point elsewhere while it is here (`deliver_remote` looks first).
pub(crate) static ARRIVED: AtomicBool = AtomicBool::new(false);

/// Whom an affinity actor exchanges messages with, over one-second windows.
pub struct Traffic {
    /// Messages it took and sent this window.
    total: AtomicU32,
    /// Messages exchanged with other nodes this window: node → count.
    peers: Mutex<Vec<(Arc<str>, u32)>>,
    /// The node that had most of its messages, and for how many windows.
    streak: Mutex<(Option<Arc<str>>, u32)>,
    since: Mutex<Instant>,
}

impl Traffic {
    pub(crate) fn new() -> Box<Traffic> {
        Box::new(Traffic {
            total: AtomicU32::new(0),
            peers: Mutex::new(Vec::new()),
            streak: Mutex::new((None, 0)),
            since: Mutex::new(Instant::now()),
        })
    }

    /// A message taken or sent.
    pub(crate) fn count(&self) {
        self.total.fetch_add(1, Ordering::Relaxed);
    }

    /// A message exchanged with an actor on `node`.
    pub(crate) fn with(&self, node: &str) {
        let mut p = lock(&self.peers);
        match p.iter_mut().find(|(n, _)| **n == *node) {
            Some((_, c)) => *c += 1,
            None => p.push((Arc::from(node), 1)),
        }
    }

    /// The window's counts (and a new window).
    fn window(&self) -> (u32, Vec<(Arc<str>, u32)>) {
        (self.total.swap(0, Ordering::Relaxed), std::mem::take(&mut *lock(&self.peers)))
    }
}

impl ActorCtx {
    /// The actor sends to `to`: counted for affinity.
    pub(super) fn count_send(&self, to: &ActorCell) {
        if let Some(t) = &self.cell.mb().traffic {
            t.count();
            if let Some(at) = to.mb().at() {
                t.with(&lock(&at.node));
            }
        }
    }
}

/// The handle of an actor spawned here with `strategy: "affinity"` on a
/// cluster counts its traffic.
pub(crate) fn watch_traffic(cell: &mut ActorCell, opts: &Options) {
    if opts.strategy == "affinity" {
        if let Some(mb) = cell.port.downcast_mut::<Mailbox>() {
            mb.traffic = Some(Traffic::new());
        }
    }
}

impl Node {
    /// Ask the actor `id` running here to move to `to` (`None`: wherever
    /// the placement engine puts it, not here) once its queue ahead has run.
    pub(crate) fn request_move(&self, id: uuid::Uuid, to: Option<&str>) -> bool {
        lock(&self.moves.stayed).remove(&id);
        let Some(cell) = lock(registry()).by_id.get(&id).and_then(Weak::upgrade) else { return false };
        if cell.mb().at().is_some() || cell.mb().stopped.load(Ordering::Acquire) {
            return false;
        }
        let env =
            Box::new(Envelope { sender: Arc::from(MAIN_ID), seq: 0, timestamp: 0.0, body: Body::Move { to: Arc::from(to.unwrap_or("")) } });
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        if cell.mb().tx.try_send(env).is_err() {
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Why the actor `id`, asked to move, stayed (none: it has not, yet).
    pub(crate) fn move_skipped(&self, id: uuid::Uuid) -> Option<String> {
        lock(&self.moves.stayed).get(&id).cloned()
    }

    /// The actors running here (for drain and affinity).
    pub(crate) fn local_cells(&self) -> Vec<Arc<ActorCell>> {
        let reg = lock(registry());
        reg.by_id.values().filter_map(Weak::upgrade).filter(|c| c.mb().at().is_none() && !c.mb().stopped.load(Ordering::Acquire)).collect()
    }

    /// Once a second: affinity actors that exchanged most of their messages
    /// with one other node for a while move there (the placement engine
    /// decides, so their constraints hold).
    pub fn affinity_tick(&self) {
        let Some(net) = self.net.get() else { return };
        let me = net.me().clone();
        let mut view = None;
        for cell in self.local_cells() {
            let Some(t) = cell.mb().traffic.as_deref() else { continue };
            let (total, peers) = t.window();
            let top = peers.iter().max_by_key(|(_, c)| *c).filter(|(_, c)| *c >= MIN_TALK && 2 * *c > total);
            let mut streak = lock(&t.streak);
            match top {
                Some((n, _)) if streak.0.as_ref() == Some(n) => streak.1 += 1,
                Some((n, _)) => *streak = (Some(n.clone()), 1),
                None => *streak = (None, 0),
            }
            if streak.1 < STREAK || lock(&t.since).elapsed() < SETTLE {
                continue;
            }
            let view = view.get_or_insert_with(|| net.view());
            let mut req = Request::new(&cell.class_name, Strategy::Affinity);
            let local = total.saturating_sub(peers.iter().map(|(_, c)| *c).sum());
            req.talks_to = peers.iter().map(|(n, c)| (n.to_string(), u64::from(*c))).collect();
            req.talks_to.push((me.to_string(), u64::from(local)));
            if let Ok(p) = place_actor(&req, view) {
                if p.primary != *me && self.request_move(cell.id, Some(&p.primary)) {
                    *streak = (None, 0);
                }
            }
        }
    }

    /// `MovePrepare`: make the arriving actor's handle and mailbox.
    pub(super) fn prepare_arrival(&self, from: &str, a: Arrival) {
        let run = self.run_id.as_u128();
        let answer = |ok: bool| {
            if let Some(net) = self.net.get() {
                net.send(from, &Wire::MoveReady { run, id: a.id, ok });
            }
        };
        // Two actors of a chatty pair moving towards each other at once:
        // the one with the smaller id goes, the other stays.
        if lock(&self.moves.outgoing).iter().any(|(id, (to, _))| **to == *from && *id < a.id) {
            return answer(false);
        }
        let id = uuid::Uuid::from_u128(a.id);
        let (tx, rx) = async_channel::unbounded();
        let handlers = a.handlers.iter().map(|h| Arc::from(h.as_str())).collect();
        let worker = self.pick_worker();
        let mut cell = new_cell(
            id,
            a.name.as_deref().map(Arc::from),
            Arc::from(a.class.as_str()),
            handlers,
            remote::global_key(),
            worker,
            a.opts.mailbox,
            tx,
        );
        watch_traffic(&mut cell, &a.opts);
        let cell = Arc::new(cell);
        {
            let mut reg = lock(registry());
            if let Some(n) = &cell.name {
                reg.by_name.insert(n.clone(), cell.clone());
            }
            reg.by_id.insert(id, Arc::downgrade(&cell));
            reg.gone.remove(&id);
            reg.moved.remove(&id);
        }
        ARRIVED.store(true, Ordering::SeqCst);
        lock(&self.moves.incoming).insert(a.id, (cell, rx, a.opts));
        answer(true);
    }

    /// `MoveReady` from the target: the leaving actor may go (or stays).
    pub(super) fn target_ready(&self, id: u128, ok: bool) {
        if let Some((_, tx)) = lock(&self.moves.outgoing).get(&id) {
            let _ = tx.try_send(ok);
        }
    }

    /// `MoveIn`: start the actor that moved here.
    pub(super) fn arrive(self: &Arc<Self>, from: &str, m: Moved) {
        let Some((cell, rx, opts)) = lock(&self.moves.incoming).remove(&m.id) else {
            return self.report(format!("actor {} moved here unannounced; dropped", uuid::Uuid::from_u128(m.id)));
        };
        let mut backlog = Vec::with_capacity(m.queued.len());
        for d in m.queued {
            let reply_to = d.reply.as_deref().unwrap_or(from);
            let body = match d.body {
                WireBody::Ask { method, args, worker, id } => {
                    let slot = self.owe(reply_to, worker, id);
                    Body::Ask { method, args, reply: ReplyTo { worker: REMOTE_WORKER, id: slot } }
                }
                WireBody::Tell { method, args } => Body::Tell { method, args },
                WireBody::Raw { kind, payload } => Body::Raw { kind, payload },
            };
            backlog.push(Box::new(Envelope { sender: d.sender, seq: d.seq, timestamp: d.timestamp, body }));
        }
        self.in_flight.fetch_add(backlog.len() as i64, Ordering::SeqCst);
        let watchers: Vec<ReplyTo> =
            m.watchers.iter().map(|(n, w, id)| ReplyTo { worker: REMOTE_WORKER, id: self.owe(n, *w, *id) }).collect();
        lock(&cell.mb().monitors).extend(watchers);
        if let Some(needs) = &opts.place {
            self.reserve(needs);
        }
        let arrived = Arrived { state: m.state, record: m.record, backlog, restarts: m.restarts };
        let worker = cell.mb().worker;
        let start = Start {
            cell,
            rx,
            class: m.class,
            args: crate::vm::portable::to_portable_args(&[]).unwrap_or(Packet::none()),
            opts,
            raw_opts: None,
            globals: m.globals,
            program: lock(&self.program).clone(),
            arrived: Some(Box::new(arrived)),
        };
        self.post(worker, WorkerMsg::Start(Box::new(start)));
    }

    /// A reply owed to (`node`, `worker`, `id`): its slot here.
    fn owe(&self, node: &str, worker: u32, id: u64) -> u64 {
        let slot = self.next_key.fetch_add(1, Ordering::Relaxed);
        lock(&self.remote_replies).insert(slot, (Arc::from(node), worker, id));
        slot
    }

    /// Where a reply goes, as another node can address it.
    fn owed(&self, r: ReplyTo) -> (String, u32, u64) {
        if r.worker == REMOTE_WORKER {
            let owed = lock(&self.remote_replies).remove(&r.id);
            return owed.map(|(n, w, id)| (n.to_string(), w, id)).unwrap_or_default();
        }
        (self.me_name(), r.worker as u32, r.id)
    }

    /// A queued envelope as it travels to the actor's new node.
    fn to_delivery(&self, env: Box<Envelope>, to: u128) -> Option<Delivery> {
        let env = *env;
        let (body, reply) = match env.body {
            Body::Ask { method, args, reply } => {
                let (node, worker, id) = self.owed(reply);
                (WireBody::Ask { method, args, worker, id }, Some(node))
            }
            Body::Tell { method, args } => (WireBody::Tell { method, args }, None),
            Body::Raw { kind, payload } => (WireBody::Raw { kind, payload }, None),
            Body::Move { .. } => return None,
        };
        let run = self.run_id.as_u128();
        Some(Delivery { run, to, sender: env.sender, seq: env.seq, timestamp: env.timestamp, body, reply, hops: 0 })
    }
}

impl Node {
    /// A node the actor `id` left says where it went: references here show
    /// it at once (`node_of`) and send there directly after a fence.
    pub(super) fn moved(&self, id: u128, node: String) {
        with_proxy(id, |at| {
            *lock(&at.seen) = Some(Arc::from(node.as_str()));
            if !at.fencing.swap(true, Ordering::SeqCst) {
                self.send_fence(id, at);
            }
        });
    }

    /// The fence goes the way the messages went; it carries how many were sent.
    fn send_fence(&self, id: u128, at: &remote::RemoteAt) {
        let Some(net) = self.net.get() else { return };
        let (to, mark) = {
            let node = lock(&at.node);
            (node.clone(), at.sent.load(Ordering::Relaxed))
        };
        net.send(&to, &Wire::Fence { run: self.run_id.as_u128(), id, origin: net.me().to_string(), hops: 0, mark });
    }

    /// A fence for the actor `id`: after it if it moved on, else answered.
    pub(super) fn fence(&self, id: u128, origin: String, hops: u8, mark: u64) {
        let Some(net) = self.net.get() else { return };
        let run = self.run_id.as_u128();
        let cell = lock(registry()).by_id.get(&uuid::Uuid::from_u128(id)).and_then(Weak::upgrade);
        match cell.as_ref().map(|c| c.mb().at()) {
            Some(Some(at)) if hops < 8 => {
                let to = lock(&at.node).clone();
                net.send(&to, &Wire::Fence { run, id, origin, hops: hops + 1, mark });
            }
            Some(None) => net.send(&origin, &Wire::Fenced { run, id, node: net.me().to_string(), mark }),
            _ => {}
        }
    }

    /// Everything sent to the actor `id` before the fence has arrived at
    /// `node`: send there directly, unless more went the old way since
    /// (then fence again).
    pub(super) fn fenced(&self, id: u128, node: String, mark: u64) {
        with_proxy(id, |at| {
            let mut route = lock(&at.node);
            if at.sent.load(Ordering::Relaxed) == mark {
                *route = Arc::from(node.as_str());
                drop(route);
                *lock(&at.seen) = None;
                at.fencing.store(false, Ordering::SeqCst);
            } else {
                drop(route);
                self.send_fence(id, at);
            }
        });
    }
}

/// Node `gone` left or died: references that still send through it to an
/// actor it said has moved send to the actor's new node from now on (no
/// fence can come back through a node that is gone; what it had to forward
/// it flushed before leaving, or lost with it).
pub(crate) fn route_around(gone: &str) {
    let cells: Vec<Arc<ActorCell>> = lock(registry()).by_id.values().filter_map(Weak::upgrade).collect();
    for c in cells {
        let Some(at) = c.mb().at() else { continue };
        let mut route = lock(&at.node);
        if &**route != gone {
            continue;
        }
        if let Some(now) = lock(&at.seen).take() {
            *route = now;
            at.fencing.store(false, Ordering::SeqCst);
        }
    }
}

/// Actors restored on other nodes after theirs died (`failover.rs`):
/// references here send to where each runs now.
pub(crate) fn relocated(to: &FxHashMap<u128, Arc<str>>) {
    let cells: Vec<Arc<ActorCell>> = lock(registry()).by_id.values().filter_map(Weak::upgrade).collect();
    for c in cells {
        let (Some(at), Some(node)) = (c.mb().at(), to.get(&c.id.as_u128())) else { continue };
        *lock(&at.node) = node.clone();
        *lock(&at.seen) = None;
        at.fencing.store(false, Ordering::SeqCst);
    }
}

/// Run `f` on this process's reference to the actor `id` running elsewhere.
fn with_proxy(id: u128, f: impl FnOnce(&remote::RemoteAt)) {
    let cell = lock(registry()).by_id.get(&uuid::Uuid::from_u128(id)).and_then(Weak::upgrade);
    if let Some(at) = cell.as_ref().and_then(|c| c.mb().at()) {
        f(at);
    }
}

impl Node {
    /// A durable named actor spawned on a cluster resumes its newest record
    /// wherever it is kept: on that node when its options allow (they are
    /// made to require it), else the record is taken from there and brought
    /// along (returned).
    pub(crate) fn find_durable_record(&self, opts: &mut Options) -> Option<durable::Record> {
        let (true, Some(name), Some(net)) = (opts.durable, opts.name.clone(), self.net.get()) else { return None };
        let holder = net.find_record(&name)?;
        let needs = opts.place.get_or_insert_with(Default::default);
        let fits = needs.require_node.as_ref().is_none_or(|r| *r == holder) && needs.avoid_node.as_ref() != Some(&holder);
        if fits {
            needs.require_node = Some(holder);
            return None;
        }
        net.take_record(&holder, &name)
    }
}

/// The target of a move asked with no node: where the placement engine
/// puts the actor among the other nodes.
fn choose_target(node: &Node, ctx: &ActorCtx, me: &str) -> Result<Arc<str>, String> {
    let net = node.net().ok_or("not on a cluster")?;
    let mut view = net.view();
    view.nodes.retain(|n| n.name != me);
    if view.nodes.is_empty() {
        return Err("no other node".into());
    }
    let mut req = ctx.opts.place.as_deref().cloned().unwrap_or_default().request(&ctx.cell.class_name, "balanced");
    req.strategy = Strategy::Balanced;
    if req.require_node.as_deref() == Some(me) {
        return Err(format!("it requires node {me}"));
    }
    view.local = view.nodes[0].name.clone();
    let p = place_actor(&req, &view)?;
    // Counted until its next load report, so actors leaving together spread.
    net.placed(&p.primary);
    Ok(Arc::from(p.primary.as_str()))
}

/// Between turns, `Body::Move` came: move the actor to `to` (empty: choose).
/// `true` when it has left (its loop ends without stopping it).
pub(super) async fn move_out(
    vm: &Rc<RefCell<Vm>>,
    ctx: &Rc<ActorCtx>,
    rx: &async_channel::Receiver<Box<Envelope>>,
    node: &Arc<Node>,
    to: Arc<str>,
) -> bool {
    let Some(net) = node.net().cloned() else { return false };
    let me = net.me().clone();
    let label = ctx.cell.label();
    let stay = |why: &str| {
        net.event("migration-skipped", &[("actor", &label), ("reason", why)]);
        lock(&node.moves.stayed).insert(ctx.cell.id, why.to_string());
        false
    };
    let to = if to.is_empty() {
        match choose_target(node, ctx, &me) {
            Ok(t) => t,
            Err(why) => return stay(&why),
        }
    } else {
        to
    };
    if to == me {
        return false;
    }
    // 1. The checkpoint: the state as it will be restored there.
    let (state, record) = if ctx.dur.is_some() {
        if let Err(e) = commit_and_wait(vm, ctx).await {
            return stay(&Vm::describe_error(&e));
        }
        let name = ctx.cell.name.as_deref().unwrap_or_default();
        match node.records().and_then(|r| r.load(name)) {
            Ok(l) => (None, l.record),
            Err(e) => return stay(&e),
        }
    } else {
        match state_packet(&mut vm.borrow_mut(), ctx) {
            Ok(p) => (Some(p), None),
            Err(e) => return stay(&Vm::describe_error(&e)),
        }
    };
    let globals = {
        let v = vm.borrow();
        let private = ctx.private.borrow();
        let packed: Result<Vec<_>, Value> = private.iter().map(|(m, s, val)| v.portable_for_worker(val).map(|p| (*m, *s, p))).collect();
        match packed {
            Ok(g) => g,
            Err(e) => return stay(&Vm::describe_error(&e)),
        }
    };
    let class = match crate::vm::portable::to_portable(&Value::Class(ctx.inst.class.clone())) {
        Ok(c) => c,
        Err(e) => return stay(&Vm::describe_error(&e)),
    };
    // 2. The target gets ready; nothing runs here meanwhile.
    let id = ctx.cell.id.as_u128();
    let (tx, ready) = async_channel::bounded(1);
    lock(&node.moves.outgoing).insert(id, (to.clone(), tx));
    let arrival = Arrival {
        info: node.run_info(),
        id,
        name: ctx.cell.name.as_deref().map(str::to_string),
        class: ctx.cell.class_name.to_string(),
        handlers: ctx.cell.handlers.iter().map(|h| h.to_string()).collect(),
        opts: ctx.opts.clone(),
    };
    vm.borrow_mut().flush();
    net.send(&to, &Wire::MovePrepare(Box::new(arrival)));
    let answer = smol::future::or(async { ready.recv().await.unwrap_or(false) }, async {
        smol::Timer::after(READY_TIME).await;
        false
    })
    .await;
    lock(&node.moves.outgoing).remove(&id);
    if !answer {
        return stay(&format!("node {to} did not take it"));
    }
    // 3. From now on this handle forwards; what was queued goes along.
    let mb = ctx.cell.mb();
    let watching = {
        let mut w = lock(&mb.monitors);
        let _ = mb.remote.set(remote::RemoteAt::new(to.clone()));
        std::mem::take(&mut *w)
    };
    let watchers: Vec<(String, u32, u64)> = watching.into_iter().map(|r| node.owed(r)).collect();
    mb.tx.close();
    let mut queued = Vec::new();
    while let Ok(env) = rx.try_recv() {
        node.in_flight.fetch_sub(1, Ordering::SeqCst);
        queued.extend(node.to_delivery(env, id));
    }
    mb.make_room(usize::MAX, Some(node));
    lock(registry()).moved.insert(ctx.cell.id, ctx.cell.clone());
    // 4. Nothing of it stays here.
    if let Some(needs) = &ctx.opts.place {
        node.release(needs);
    }
    node.remove_wait(ctx.cell.key);
    node.store.remove(ctx.cell.id);
    ctx.cancel_tasks();
    if let (Some(name), true) = (&ctx.cell.name, record.is_some()) {
        if let Ok(r) = node.records() {
            let _ = r.remove(name);
        }
    }
    let moved = Moved { run: node.run_id.as_u128(), id, class, state, record, globals, queued, watchers, restarts: ctx.restarts.get() };
    net.send(&to, &Wire::MoveIn(Box::new(moved)));
    // Every node that may hold a reference learns where it went (and
    // fences before sending there directly), so none depends on this one.
    let run = node.run_id.as_u128();
    for n in net.view().nodes.iter().filter(|n| *n.name != *me && *n.name != *to) {
        net.send(&n.name, &Wire::Moved { run, id, node: to.to_string() });
    }
    net.event("migration", &[("actor", &label), ("from", &me), ("to", &to)]);
    if let Some(name) = ctx.cell.name.clone() {
        let entry = remote::Entry { id, class: ctx.cell.class_name.to_string(), node: to.to_string(), why: format!("moved from {me}") };
        let (net, run) = (net.clone(), node.run_id.as_u128());
        let _ = std::thread::Builder::new().name("noodle-move".into()).spawn(move || net.claim(run, &name, &entry));
    }
    true
}

/// The state fields, in the class's order, as they travel.
fn state_packet(vm: &mut Vm, ctx: &ActorCtx) -> Result<Packet, Value> {
    let states = ctx.inst.class.actor.as_ref().map(|m| m.states.clone()).unwrap_or_default();
    let fields = ctx.inst.fields.borrow();
    let vals: Vec<Value> = states.iter().map(|s| fields.get(s).cloned().unwrap_or(Value::None)).collect();
    drop(fields);
    vm.portable_for_worker(&Value::list(vals))
}

/// A moved actor's state fields back in place.
pub(super) fn put_state(vm: &mut Vm, ctx: &ActorCtx, state: &Packet) -> Result<(), Value> {
    let Value::List(vals) = vm.from_portable(state)? else {
        return crate::vm::value::err("ValueError", "malformed moved state");
    };
    let Some(meta) = ctx.inst.class.actor.as_ref() else { return Ok(()) };
    let mut fields = ctx.inst.fields.borrow_mut();
    for (s, v) in meta.states.iter().zip(vals.borrow().iter()) {
        fields.insert(s.clone(), v.clone());
    }
    Ok(())
}
