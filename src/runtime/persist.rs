//! A durable actor's side of its record (runtime.md §7): resuming from it at
//! start, committing its state (grouped with other actors' commits into one
//! redb transaction), holding a `"turn"` actor's outgoing messages until the
//! state they follow from is committed, deleting the record, and the commit
//! of every durable actor when the program ends. The store is `durable.rs`.

use super::durable::{Record, Records};
use super::run::ActorCtx;
use super::*;
use crate::vm::portable::{to_portable, Portable};
use crate::vm::task::{Awaiting, FutureObj};
use crate::vm::value::*;
use crate::vm::Vm;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

/// A message a `"turn"` actor sent, waiting for the commit of the state it
/// was sent from (`ticket`; 0 until a commit covers it).
struct Held {
    ticket: u64,
    cell: Arc<ActorCell>,
    env: Box<Envelope>,
}

/// What a durable actor keeps besides its state.
#[derive(Default)]
pub(crate) struct Durable {
    /// `durability: "turn"`: commit every turn that changed the state before
    /// its reply or sends leave.
    pub turn: bool,
    /// `checkpoint_interval` (ms; 0: none).
    pub interval_ms: u64,
    /// The fields as last committed: what a restart goes back to and what
    /// a turn's state is compared with.
    last: RefCell<Option<Vec<(String, Packet)>>>,
    /// Per sender: the last message applied and the latest asks' replies.
    applied: RefCell<Applied<Arc<str>, Packet>>,
    /// Nodes that keep a copy of each commit (`replicas`).
    pub copies: usize,
    prune_marks_at: Cell<usize>,
    outbox: RefCell<VecDeque<Held>>,
    /// A task is scheduled to commit and release held messages.
    flushing: Cell<bool>,
    /// The last commit submitted, and the last known to be durable.
    submitted: Cell<u64>,
    durable_upto: Cell<u64>,
    /// Commits on their way to the store: ticket and the future its
    /// completion resolves.
    receipts: RefCell<Vec<(u64, Rc<FutureObj>)>>,
    /// An interval timer is running.
    timer: Cell<bool>,
}

impl Durable {
    pub(crate) fn new(turn: bool, interval_ms: u64, copies: usize) -> Durable {
        Durable { turn, interval_ms, copies, prune_marks_at: Cell::new(64), ..Default::default() }
    }
}

use crate::cluster::rules::Applied;

fn error_packet(kind: &str, message: String) -> Packet {
    Packet { root: Portable::Error { kind: kind.into(), message, trace: Vec::new() }, cells: Vec::new(), globals: Vec::new() }
}

impl ActorCtx {
    fn dur(&self) -> &Durable {
        self.dur.as_deref().expect("a durable actor")
    }

    /// The state fields by name, as plain data.
    fn snapshot(&self) -> Result<Vec<(String, Packet)>, Value> {
        let Some(meta) = self.inst.class.actor.as_ref() else { return Ok(Vec::new()) };
        let fields = self.inst.fields.borrow();
        let mut out = Vec::with_capacity(meta.states.len());
        for s in &meta.states {
            let v = fields.get(s).cloned().unwrap_or(Value::None);
            let p = to_portable(&v).map_err(|e| match &e {
                Value::Error(eo) => eo.message.to_string(),
                _ => "it cannot be stored".into(),
            });
            let p = p.and_then(|p| p.plain_data().map(|_| p).map_err(|what| format!("it holds {what}; durable state is plain data")));
            let p = p.map_err(|why| {
                Value::error("TypeError", format!("cannot checkpoint actor {}: state field `{s}`: {why}", self.cell.label()))
            })?;
            out.push((s.to_string(), p));
        }
        Ok(out)
    }

    fn record(&self, node: &Node, fields: Vec<(String, Packet)>) -> Record {
        let d = self.dur();
        let mut applied = d.applied.borrow_mut();
        if applied.marks.len() >= d.prune_marks_at.get() {
            // Senders that ended will send nothing more: forget their marks.
            let reg = lock(registry());
            let Applied { marks, replies } = &mut *applied;
            marks.retain(|s, _| **s == *MAIN_ID || uuid::Uuid::parse_str(s).is_ok_and(|id| reg.by_id.contains_key(&id)));
            replies.retain(|s, _| marks.contains_key(s));
            d.prune_marks_at.set((2 * marks.len()).max(64));
        }
        let replies = applied.replies.iter().flat_map(|(s, q)| q.iter().map(|(n, p)| (s.to_string(), *n, p.clone()))).collect();
        Record {
            class: self.inst.class.name.to_string(),
            generation: self.generation.get(),
            fields,
            marks: applied.marks.iter().map(|(s, n)| (s.to_string(), *n)).collect(),
            committed_at: now_secs(),
            run: node.run_id.to_string(),
            module: node.program_hash(),
            actor: self.cell.id_str.to_string(),
            replies,
        }
    }

    /// Start committing the state. Unless `force`, a state equal to the last
    /// committed one is not written again. Held messages sent so far are
    /// covered by this commit (or by the last one, if nothing changed).
    /// Returns the ticket to wait for.
    pub(super) fn begin_commit(&self, vm: &mut Vm, force: bool) -> Result<u64, Value> {
        let d = self.dur();
        let fields = self.snapshot()?;
        if !force && d.last.borrow().as_ref() == Some(&fields) {
            self.cover(d.submitted.get());
            return Ok(d.submitted.get());
        }
        let node = vm.node();
        let rec = self.record(&node, fields.clone());
        *d.last.borrow_mut() = Some(fields);
        let ticket = d.submitted.get() + 1;
        d.submitted.set(ticket);
        self.cover(ticket);
        let name = self.cell.name.as_deref().unwrap_or_default().to_string();
        let label = self.cell.label();
        let store = match node.records().map_err(|m| Value::error("IOError", m))? {
            Records::Memory(_) => {
                let r = node.records().map_err(|m| Value::error("IOError", m))?.save(vec![(name, rec)]);
                r.map_err(|m| Value::error("IOError", format!("cannot commit actor {label}: {m}")))?;
                d.durable_upto.set(ticket);
                return Ok(ticket);
            }
            Records::Disk(s) => s,
        };
        // The store's thread answers through this worker's message loop; the
        // commit counts as work in flight until then (no false deadlock).
        let fut = FutureObj::new();
        let id = vm.rt.next_pending;
        vm.rt.next_pending += 1;
        vm.rt.pending.insert(id, fut.clone());
        d.receipts.borrow_mut().push((ticket, fut));
        let (worker, n2, path) = (vm.rt.worker, node.clone(), store.path.display().to_string());
        node.in_flight.fetch_add(1, Ordering::SeqCst);
        // Done once the store and every copy on another node have it.
        let gather = super::failover::Gather::new(Box::new(move |r| {
            let result =
                r.map(|_| Packet::none()).map_err(|m| error_packet("IOError", format!("cannot commit actor {label} to {path}: {m}")));
            n2.post(worker, WorkerMsg::Reply { id, result });
            n2.in_flight.fetch_sub(1, Ordering::SeqCst);
        }));
        node.replicate(&self.cell, &rec, d.copies, &gather);
        gather.add();
        let g = gather.clone();
        store.submit(vec![(name, rec)], Box::new(move |r| g.one(r)));
        gather.one(Ok(()));
        Ok(ticket)
    }

    fn cover(&self, ticket: u64) {
        for h in self.dur().outbox.borrow_mut().iter_mut().filter(|h| h.ticket == 0) {
            h.ticket = ticket;
        }
    }

    /// Delete a durable actor's record (`self.stop(forget: true)`).
    pub(super) fn forget_record(&self, node: &Node) -> Result<(), Value> {
        let name = self.cell.name.as_deref().unwrap_or_default();
        let records = node.records().map_err(|m| Value::error("IOError", m))?;
        records.remove(name).map(|_| ()).map_err(|m| Value::error("IOError", format!("cannot forget actor {}: {m}", self.cell.label())))
    }

    /// A durable actor starting: take its state from its newest record, if
    /// there is one (`true`: `init` must not run). Fields the class gained
    /// since keep their defaults; fields it lost are dropped.
    pub(super) fn resume(&self, vm: &mut Vm, brought: Option<Record>) -> Result<bool, Value> {
        if self.dur.is_none() {
            return Ok(false);
        }
        let node = vm.node();
        let name = self.cell.name.as_deref().unwrap_or_default();
        let was_brought = brought.is_some();
        let rec = match brought {
            Some(r) => r,
            None => {
                let records = node.records().map_err(|m| Value::error("IOError", m))?;
                let loaded =
                    records.load(name).map_err(|m| Value::error("IOError", format!("cannot restore actor {}: {m}", self.cell.label())))?;
                if let Some(w) = loaded.warning {
                    crate::ewriteln!("warning: {w}");
                }
                let Some(rec) = loaded.record else { return Ok(false) };
                rec
            }
        };
        let class = &self.inst.class.name;
        if rec.class != **class {
            let e = format!("the record of `{name}` belongs to class {}, not {class}", rec.class);
            if was_brought {
                // Not this actor's: kept here rather than lost.
                let _ = node.records().and_then(|r| r.save(vec![(name.to_string(), rec)]));
            }
            return err("ValueError", e);
        }
        self.put_fields(vm, &rec.fields)?;
        if rec.run == node.run_id.to_string() && rec.actor == *self.cell.id_str {
            // Marks count for the same actor restored in the same run; an
            // earlier run's senders have all ended.
            let mut applied = self.dur().applied.borrow_mut();
            applied.marks.extend(rec.marks.iter().map(|(s, n)| (Arc::from(s.as_str()), *n)));
            for (s, n, p) in &rec.replies {
                applied.replies.entry(Arc::from(s.as_str())).or_default().push_back((*n, p.clone()));
            }
        }
        self.generation.set(rec.generation + 1);
        Ok(true)
    }

    /// Set the state fields the class still has from `fields`.
    fn put_fields(&self, vm: &mut Vm, fields: &[(String, Packet)]) -> Result<(), Value> {
        let Some(meta) = self.inst.class.actor.as_ref() else { return Ok(()) };
        for (field, p) in fields {
            if let Some(s) = meta.states.iter().find(|s| ***s == **field) {
                let v = vm.from_portable(p)?;
                self.inst.fields.borrow_mut().insert(s.clone(), v);
            }
        }
        Ok(())
    }

    /// A restart: back to the last committed state.
    pub(super) fn restore_committed(&self, vm: &mut Vm) -> Result<(), Value> {
        let last = self.dur().last.borrow().clone();
        match last {
            Some(fields) => self.put_fields(vm, &fields),
            None => Ok(()),
        }
    }

    /// A message from `sender` numbered `seq` arrives: `false` if its turn
    /// is already in the state (a duplicate).
    pub(super) fn is_new(&self, sender: &str, seq: u64) -> bool {
        self.dur().applied.borrow().is_new(sender, seq)
    }

    /// The reply an applied ask gave, if it is still kept.
    pub(super) fn kept_reply(&self, sender: &str, seq: u64) -> Option<Packet> {
        self.dur().applied.borrow().kept_reply(sender, seq)
    }

    /// Hold a message a `"turn"` actor sends until its state is committed;
    /// the envelope comes back when it can go at once.
    pub(super) fn hold(self: &Rc<Self>, vm: &Vm, cell: &Arc<ActorCell>, env: Box<Envelope>) -> Option<Box<Envelope>> {
        let Some(d) = self.dur.as_deref().filter(|d| d.turn) else { return Some(env) };
        d.outbox.borrow_mut().push_back(Held { ticket: 0, cell: cell.clone(), env });
        if !d.flushing.replace(true) {
            // Runs once the sending task pauses: a handler awaiting a reply
            // to what it sent must not wait for the end of its own turn.
            let (ctx, rc) = (self.clone(), vm.self_ref.upgrade());
            if let (Some(ex), Some(rc)) = (vm.executor.clone(), rc) {
                ex.spawn(async move {
                    ctx.dur().flushing.set(false);
                    if ctx.dur().outbox.borrow().iter().any(|h| h.ticket == 0) {
                        let r = ctx.begin_commit(&mut rc.borrow_mut(), false);
                        let r = match r {
                            Ok(t) => settle(&rc, &ctx, t).await,
                            Err(e) => Err(e),
                        };
                        if let Err(e) = r {
                            ctx.discard(&mut rc.borrow_mut(), &e);
                        }
                    }
                })
                .detach();
            }
        }
        None
    }

    /// Send the held messages whose commit is durable, in order.
    fn release(&self, vm: &mut Vm) {
        let d = self.dur();
        loop {
            let h = {
                let mut o = d.outbox.borrow_mut();
                match o.front() {
                    Some(h) if h.ticket != 0 && h.ticket <= d.durable_upto.get() => o.pop_front(),
                    _ => None,
                }
            };
            let Some(h) = h else { break };
            vm.deliver_now(&h.cell, h.env);
        }
    }

    /// A failed turn or commit: its held messages are never sent.
    pub(super) fn discard(&self, vm: &mut Vm, why: &Value) {
        let Some(d) = self.dur.as_deref() else { return };
        let held: Vec<Held> = d.outbox.borrow_mut().drain(..).collect();
        let why = Vm::describe_error(why);
        for h in held {
            if let Body::Ask { reply, .. } = h.env.body {
                vm.reply(reply, err("Error", format!("not sent: the turn of actor {} that sent it failed ({why})", self.cell.label())));
            }
        }
    }
}

/// Wait until commit `ticket` (and every one before it) is durable, then
/// send the messages it covers.
pub(super) async fn settle(vm: &Rc<RefCell<Vm>>, ctx: &ActorCtx, ticket: u64) -> Result<(), Value> {
    let d = ctx.dur();
    let waiting: Vec<Rc<FutureObj>> = d.receipts.borrow().iter().filter(|(t, _)| *t <= ticket).map(|(_, f)| f.clone()).collect();
    let mut failed = None;
    for f in waiting {
        if let Err(e) = Awaiting(f).await {
            failed = Some(e);
        }
    }
    d.receipts.borrow_mut().retain(|(t, _)| *t > ticket);
    if let Some(e) = failed {
        return Err(e);
    }
    d.durable_upto.set(d.durable_upto.get().max(ticket));
    ctx.release(&mut vm.borrow_mut());
    Ok(())
}

/// The end of a durable actor's turn (message `sender`/`seq`): a `"turn"`
/// actor commits a changed state; every durable actor waits for the commits
/// the turn started (`self.checkpoint()`, `checkpoint_every`) before the
/// reply leaves. A failed commit fails the turn.
pub(super) async fn end_turn(
    vm: Rc<RefCell<Vm>>,
    ctx: Rc<ActorCtx>,
    result: Result<Value, Value>,
    sender: Arc<str>,
    seq: u64,
    ask: bool,
) -> Result<Value, Value> {
    let d = ctx.dur();
    if result.is_err() {
        ctx.discard(&mut vm.borrow_mut(), result.as_ref().err().unwrap_or(&Value::None));
        return result;
    }
    let reply = if ask { result.as_ref().ok().and_then(|v| to_portable(v).ok()) } else { None };
    d.applied.borrow_mut().apply(sender, seq, reply);
    let ticket = if d.turn { ctx.begin_commit(&mut vm.borrow_mut(), false) } else { Ok(d.submitted.get()) };
    let done = match ticket {
        Ok(t) => settle(&vm, &ctx, t).await,
        Err(e) => Err(e),
    };
    if let Err(e) = done {
        ctx.discard(&mut vm.borrow_mut(), &e);
        return Err(e);
    }
    arm_interval(&vm, &ctx);
    result
}

/// Commit now and wait for it (after `init` or a restore).
pub(super) async fn commit_and_wait(vm: &Rc<RefCell<Vm>>, ctx: &ActorCtx) -> Result<(), Value> {
    let t = ctx.begin_commit(&mut vm.borrow_mut(), true)?;
    settle(vm, ctx, t).await
}

/// `checkpoint_interval`: after a turn, commit the state within that many
/// milliseconds if it changed (one timer at a time).
fn arm_interval(vm: &Rc<RefCell<Vm>>, ctx: &Rc<ActorCtx>) {
    let d = ctx.dur();
    if d.interval_ms == 0 || d.timer.replace(true) {
        return;
    }
    let (vm2, ctx2) = (vm.clone(), ctx.clone());
    let wait = std::time::Duration::from_millis(d.interval_ms);
    let r = vm.borrow_mut().spawn_helper(false, async move {
        smol::Timer::after(wait).await;
        ctx2.dur().timer.set(false);
        if ctx2.cell.mb().stopped.load(Ordering::Acquire) {
            return;
        }
        let t = ctx2.begin_commit(&mut vm2.borrow_mut(), false);
        let r = match t {
            Ok(t) => settle(&vm2, &ctx2, t).await,
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            vm2.borrow_mut().flush();
            crate::ewrite!("actor {} could not commit (checkpoint_interval): {}", ctx2.cell.label(), Vm::describe_error(&e));
        }
    });
    if let Ok(t) = r {
        t.detach();
    }
}

/// Commit every live durable actor of this VM in one transaction (the end
/// of the program).
pub(crate) fn commit_durable(vm: &mut Vm) {
    let live: Vec<Rc<ActorCtx>> = vm.rt.durable.iter().filter_map(|w| w.upgrade()).filter_map(|a| a.downcast::<ActorCtx>().ok()).collect();
    let node = vm.node();
    let mut batch = Vec::new();
    for ctx in live {
        if ctx.cell.mb().stopped.load(Ordering::Acquire) {
            continue;
        }
        match ctx.snapshot() {
            Ok(fields) => {
                let name = ctx.cell.name.as_deref().unwrap_or_default().to_string();
                batch.push((name, ctx.record(&node, fields)));
            }
            Err(e) => crate::ewrite!("actor {} could not commit at the end of the program: {}", ctx.cell.label(), Vm::describe_error(&e)),
        }
    }
    if batch.is_empty() {
        return;
    }
    if let Err(m) = node.records().and_then(|r| r.save(batch)) {
        crate::ewriteln!("durable actors could not commit at the end of the program: {m}");
    }
}
