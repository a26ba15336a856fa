//! The receiving side: an actor's loop on its worker. One message at a time:
//! each handler runs as a VM task (`TaskRun`) that the loop awaits, so while a
//! handler awaits, the actor takes nothing else. Failures are supervised here:
//! the failing message is dropped, the state restored from the last
//! checkpoint, and the asker's future fails after that has happened.

use super::monitor::Event;
pub use super::options::{Needs, Options, Restart};
use super::task::{TaskOwner, TaskRun};
use super::*;
use crate::vm::portable::{to_portable, Packet};
use crate::vm::task::{FutureObj, TaskState};
use crate::vm::value::*;
use crate::vm::{FrameKind, Vm};
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Everything a worker needs to start an actor spawned elsewhere.
pub struct Start {
    pub cell: Arc<ActorCell>,
    pub rx: async_channel::Receiver<Box<Envelope>>,
    pub class: Packet,
    pub args: Packet,
    pub opts: Options,
    /// The options as sent by another node (read here, replacing `opts`).
    pub raw_opts: Option<Packet>,
    pub globals: Vec<(u32, u32, Packet)>,
    pub program: Arc<crate::bytecode::Verified>,
    /// An actor that moved here from another node (`migrate.rs`).
    pub arrived: Option<Box<super::migrate::Arrived>>,
}

/// An actor as its worker's VM sees it.
pub(crate) struct ActorCtx {
    pub cell: Arc<ActorCell>,
    pub inst: Rc<Instance>,
    /// The actor's own copies of module-level containers, swapped into the
    /// globals while its tasks run.
    pub private: RefCell<Vec<(u32, u32, Value)>>,
    pub seqs: RefCell<FxHashMap<u64, u64>>,
    pub stop_requested: Cell<bool>,
    /// Tasks its handlers started: cancelled when the actor restarts or stops.
    pub tasks: RefCell<Vec<std::rc::Weak<FutureObj>>>,
    /// Prune finished tasks from `tasks` when it reaches this length (twice
    /// what survived the last pruning, so tracking stays O(1) amortised).
    prune_at: std::cell::Cell<usize>,
    pub(super) opts: Options,
    pub(super) restarts: Cell<u32>,
    since_checkpoint: Cell<u32>,
    /// For a durable actor: bumped at every restore from its record.
    pub(super) generation: Cell<u64>,
    /// `self.stop(forget: true)`: delete the record as the actor stops.
    pub(super) forget: Cell<bool>,
    /// A durable actor's commits and held messages (`persist.rs`).
    pub(super) dur: Option<Box<super::persist::Durable>>,
    /// Its handle counts its traffic (`migrate.rs`; read once, not per message).
    pub(super) counts_traffic: bool,
}

impl TaskOwner for ActorCtx {
    fn cell(&self) -> &ActorCell {
        &self.cell
    }

    fn swap_globals(&self, vm: &mut Vm) {
        for (m, s, v) in self.private.borrow_mut().iter_mut() {
            if let Some(g) = vm.modules.get_mut(*m as usize).and_then(|m| m.globals.get_mut(*s as usize)) {
                std::mem::swap(g, v);
            }
        }
    }
}

impl ActorCtx {
    /// Remember a task a handler started (dropping finished ones).
    pub(crate) fn track(&self, f: &Rc<FutureObj>) {
        let mut t = self.tasks.borrow_mut();
        if t.len() >= self.prune_at.get() {
            t.retain(|w| w.upgrade().is_some_and(|f| !f.is_done()));
            self.prune_at.set((2 * t.len()).max(16));
        }
        t.push(Rc::downgrade(f));
    }

    pub(super) fn cancel_tasks(&self) {
        for w in self.tasks.borrow_mut().drain(..) {
            if let Some(f) = w.upgrade() {
                f.cancel();
                f.complete(err("ActorStoppedError", format!("actor {} restarted or stopped", self.cell.label())));
            }
        }
    }

    /// `self.checkpoint()`: store the state fields (a durable actor's are
    /// committed to its record; the turn's reply waits for that).
    pub(crate) fn checkpoint(&self, vm: &mut Vm) -> Result<(), Value> {
        self.since_checkpoint.set(0);
        if self.dur.is_some() {
            return self.begin_commit(vm, true).map(|_| ());
        }
        let Some(meta) = self.inst.class.actor.as_ref() else { return Ok(()) };
        let states = &meta.states;
        if states.is_empty() {
            // Nothing to restore.
            return Ok(());
        }
        let fields = self.inst.fields.borrow();
        let vals: Vec<Value> = states.iter().map(|s| fields.get(s).cloned().unwrap_or(Value::None)).collect();
        drop(fields);
        let p = to_portable(&Value::list(vals)).map_err(|e| match e {
            Value::Error(eo) => Value::error("TypeError", format!("cannot checkpoint actor {}: {}", self.cell.label(), eo.message)),
            e => e,
        })?;
        vm.node().store.save(self.cell.id, p).map_err(|m| Value::error("IOError", m))
    }

    /// Put the state fields back as the last checkpoint has them.
    fn restore(&self, vm: &mut Vm) -> Result<(), Value> {
        if self.dur.is_some() {
            return self.restore_committed(vm);
        }
        let Some(p) = vm.node().store.load(self.cell.id).map_err(|m| Value::error("IOError", m))? else {
            return Ok(());
        };
        let Value::List(vals) = vm.from_portable(&p)? else {
            return err("ValueError", "malformed checkpoint");
        };
        let Some(meta) = self.inst.class.actor.as_ref() else { return Ok(()) };
        let states = &meta.states;
        let mut fields = self.inst.fields.borrow_mut();
        fields.clear();
        for (s, v) in states.iter().zip(vals.borrow().iter()) {
            fields.insert(s.clone(), v.clone());
        }
        Ok(())
    }
}

impl Vm {
    /// Start an actor on this worker.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start_actor(
        &mut self,
        cell: Arc<ActorCell>,
        rx: async_channel::Receiver<Box<Envelope>>,
        class: Value,
        args: Packet,
        opts: Options,
        private: Vec<(u32, u32, Value)>,
        arrived: Option<Box<super::migrate::Arrived>>,
    ) -> Result<(), Value> {
        let class = match class {
            Value::Class(c) if c.actor.is_some() => c,
            _ => return err("TypeError", "internal: spawn of something that is not an actor"),
        };
        let args = self.from_portable_args(&args)?;
        let inst = Rc::new(Instance { class, fields: Default::default() });
        let counts_traffic = cell.mb().traffic.is_some();
        let ctx = Rc::new(ActorCtx {
            cell,
            inst,
            private: RefCell::new(private),
            seqs: Default::default(),
            stop_requested: Cell::new(false),
            tasks: Default::default(),
            prune_at: std::cell::Cell::new(16),
            restarts: Cell::new(arrived.as_ref().map_or(0, |a| a.restarts)),
            since_checkpoint: Cell::new(0),
            generation: Cell::new(1),
            forget: Cell::new(false),
            dur: opts.durable.then(|| Box::new(super::persist::Durable::new(opts.turn, opts.interval_ms, opts.copies()))),
            counts_traffic,
            opts,
        });
        let (Some(ex), Some(vm)) = (self.executor.clone(), self.self_ref.upgrade()) else {
            return err("Error", "actors need the scheduler (internal: no executor)");
        };
        if ctx.opts.durable {
            self.node().has_durable.store(true, Ordering::SeqCst);
            let any: Rc<dyn std::any::Any> = ctx.clone();
            self.rt.durable.retain(|w| w.strong_count() > 0);
            self.rt.durable.push(Rc::downgrade(&any));
        }
        let fut = actor_loop(vm, ctx, rx, args, arrived);
        // Read once: looking up the environment per spawn cost ~2% of bench/spawn.nd.
        static DEBUG_SIZES: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| std::env::var_os("NOODLE_DEBUG_SIZES").is_some());
        if *DEBUG_SIZES {
            crate::ewriteln!(
                "actor_loop future: {} bytes, Envelope {}, ActorCell {}, ActorCtx {}, TaskRun {}",
                std::mem::size_of_val(&fut),
                std::mem::size_of::<Envelope>(),
                std::mem::size_of::<ActorCell>(),
                std::mem::size_of::<ActorCtx>(),
                std::mem::size_of::<TaskRun>()
            );
        }
        ex.spawn(fut).detach();
        Ok(())
    }

    /// Start an actor sent from another worker.
    pub(crate) fn start_remote(&mut self, s: Start) {
        if s.program.functions.len() > self.functions.len() || s.program.modules.len() > self.modules.len() {
            self.load(&s.program);
        }
        let mut private = Vec::new();
        for (m, slot, p) in &s.globals {
            let Some(undefined) =
                self.modules.get(*m as usize).and_then(|md| md.globals.get(*slot as usize)).map(|v| matches!(v, Value::Undefined))
            else {
                continue;
            };
            let Ok(v) = self.from_portable(p) else { continue };
            if crate::vm::reach::is_mutable_container(&v) {
                private.push((*m, *slot, v));
            } else if undefined {
                self.modules[*m as usize].globals[*slot as usize] = v;
            }
        }
        for m in self.modules.iter_mut() {
            m.state = crate::vm::ModState::Done;
        }
        let cell = s.cell.clone();
        let opts = match &s.raw_opts {
            None => Ok(s.opts),
            Some(p) => self.from_portable(p).and_then(|v| Options::parse(&v)).inspect(|o| {
                if let (Some(needs), Some(node)) = (&o.place, self.rt_node()) {
                    node.reserve(needs);
                }
            }),
        };
        let arrived = s.arrived;
        let r = opts.and_then(|opts| {
            self.from_portable(&s.class).and_then(|class| self.start_actor(s.cell, s.rx, class, s.args, opts, private, arrived))
        });
        if let Err(e) = r {
            self.flush();
            crate::ewrite!("actor {} could not start: {}", cell.label(), Vm::describe_error(&e));
            stop_cell(&cell, self.rt_node().map(|n| &**n));
            self.notify_watchers(&cell, Event::Stopped, Some(&e));
        }
    }

    /// Copies of the module-level containers an actor reads (shared nothing:
    /// an actor that appends to a module-level list changes its own copy).
    pub(crate) fn private_globals(&self, refs: &[(u32, u32)]) -> Vec<(u32, u32, Value)> {
        let mut out = Vec::new();
        for &(m, s) in refs {
            let Some(md) = self.modules.get(m as usize) else { continue };
            let Some(v) = md.globals.get(s as usize) else { continue };
            if !crate::vm::reach::is_mutable_container(v) || md.mutable.get(s as usize).copied().unwrap_or(false) {
                continue;
            }
            if let Ok(copy) = to_portable(v).and_then(|p| self.from_portable(&p)) {
                out.push((m, s, copy));
            }
        }
        out
    }

    /// Frames that call handler `method` of the actor with `args`.
    fn handler_state(&mut self, ctx: &ActorCtx, method: &str, args: Vec<Value>) -> Result<(TaskState, bool), Value> {
        let Some(m) = ctx.inst.class.find_method(method).cloned() else {
            return err("TypeError", format!("actor {} has no handler `{method}`", ctx.cell.class_name));
        };
        let mut state = self.rt.spare_tasks.pop().unwrap_or_default();
        state.frames.clear();
        state.handlers.clear();
        self.swap_task(&mut state);
        self.stack.clear();
        self.stack.push(Value::None);
        self.stack.push(Value::Instance(ctx.inst.clone()));
        let argc = args.len();
        let is_async = m.func.is_async;
        self.stack.extend(args);
        let r = self.bind_args(&m, 1, argc, None).and_then(|_| self.push_frame(m, 1, 0, FrameKind::Normal));
        self.swap_task(&mut state);
        r.map(|_| (state, is_async))
    }

    /// Send an ask's reply, copying the value for the asker.
    pub(crate) fn reply(&mut self, to: ReplyTo, result: Result<Value, Value>) {
        let packet =
            match &result {
                Ok(v) if to.worker != self.rt.worker => self.portable_for_worker(v).map_err(|e| match e {
                    Value::Error(eo) => to_portable(&Value::error("TypeError", format!("the reply cannot be sent: {}", eo.message)))
                        .unwrap_or(Packet::none()),
                    _ => Packet::none(),
                }),
                Ok(v) => to_portable(v).map_err(|e| match e {
                    Value::Error(eo) => to_portable(&Value::error("TypeError", format!("the reply cannot be sent: {}", eo.message)))
                        .unwrap_or(Packet::none()),
                    _ => Packet::none(),
                }),
                Err(e) => Err(to_portable(e).unwrap_or(Packet::none())),
            };
        if to.worker == self.rt.worker {
            self.complete_pending(to.id, packet);
        } else {
            self.flush_shared();
            self.node().post(to.worker, WorkerMsg::Reply { id: to.id, result: packet });
        }
    }

    /// An ask's reply arrived: complete the asker's future with a copy.
    pub(crate) fn complete_pending(&mut self, id: u64, result: Result<Packet, Packet>) {
        let Some(fut) = self.rt.pending.remove(&id) else { return };
        fut.complete(self.from_portable_result(result));
    }

    /// A result that crossed workers (a reply or a promise's completion),
    /// rebuilt here; a malformed error becomes the decoding error itself.
    #[allow(clippy::wrong_self_convention)]
    pub(crate) fn from_portable_result(&self, result: Result<Packet, Packet>) -> Result<Value, Value> {
        match result {
            Ok(p) => self.from_portable(&p),
            Err(p) => Err(self.from_portable(&p).unwrap_or_else(|e| e)),
        }
    }
}

/// Run one handler to completion as a task of the actor.
async fn run_handler(vm: &Rc<RefCell<Vm>>, ctx: &Rc<ActorCtx>, method: &str, args: Vec<Value>) -> Result<Value, Value> {
    let (state, is_async) = vm.borrow_mut().handler_state(ctx, method, args)?;
    let fut = FutureObj::new();
    let mut run = TaskRun::new(vm.clone(), state, fut.clone(), Some(ctx.clone() as Rc<dyn TaskOwner>), true);
    (&mut run).await;
    let exiting = vm.borrow().exit_code.is_some();
    if exiting {
        // `exit()` ends the program: this actor answers nothing more.
        std::future::pending::<()>().await;
    }
    let spare = run.take_state();
    {
        let mut v = vm.borrow_mut();
        if v.rt.spare_tasks.len() < 16 && spare.stack.capacity() <= 1024 {
            v.rt.spare_tasks.push(spare);
        }
    }
    match fut.result() {
        // An async handler returned its body's future: the actor waits for
        // the body (one message at a time, awaits included).
        Some(Ok(Value::Future(body))) if is_async => crate::vm::task::Awaiting(body).await,
        r => r.unwrap_or(Ok(Value::None)),
    }
}

fn log_failure(vm: &Rc<RefCell<Vm>>, ctx: &ActorCtx, what: &str, e: &Value) {
    vm.borrow_mut().flush();
    crate::ewrite!("actor {} failed in {what}: {}", ctx.cell.label(), Vm::describe_error(e));
}

/// Mark an actor stopped and forget its name.
pub(crate) fn stop_cell(cell: &ActorCell, node: Option<&Node>) {
    cell.mb().stopped.store(true, Ordering::Release);
    cell.mb().tx.close();
    cell.mb().make_room(usize::MAX, node);
    let mut reg = lock(registry());
    if let Some(n) = &cell.name {
        if reg.by_name.get(n).is_some_and(|c| c.id == cell.id) {
            reg.by_name.remove(n);
        }
    }
    reg.by_id.remove(&cell.id);
    if node.is_some_and(|n| n.net().is_some()) {
        reg.gone.insert(cell.id);
    }
    drop(reg);
    // Not under the registry's lock: the directory's owner is chosen from
    // the cluster's view, which counts the actors here.
    if let (Some(n), Some(net)) = (&cell.name, node.and_then(|n| n.net())) {
        net.release(n, cell.id.as_u128());
    }
}

async fn actor_loop(
    vm: Rc<RefCell<Vm>>,
    ctx: Rc<ActorCtx>,
    rx: async_channel::Receiver<Box<Envelope>>,
    args: Vec<Value>,
    arrived: Option<Box<super::migrate::Arrived>>,
) {
    let node = vm.borrow_mut().node();
    // A moved or restored actor: its messages from before the move come
    // first; a durable one resumes from the record it brought (committed
    // here right after). (Kept boxed: the loop's future stays small for
    // every other actor.)
    let mut arrived = arrived;
    let brought = arrived.as_mut().and_then(|a| {
        a.backlog.reverse();
        a.record.take()
    });
    let mut ok = run_handler(&vm, &ctx, crate::bytecode::tables::STATE_INIT, Vec::new()).await;
    let resumed = ok.as_ref().map_err(|e| e.clone()).and_then(|_| ctx.resume(&mut vm.borrow_mut(), brought));
    match resumed {
        Ok(false) if arrived.as_ref().is_some_and(|a| a.state.is_some()) => {
            let state = arrived.as_mut().and_then(|a| a.state.take());
            ok = state.map_or(Ok(()), |p| super::migrate::put_state(&mut vm.borrow_mut(), &ctx, &p)).map(|_| Value::None)
        }
        Ok(false) if ctx.inst.class.find_method("init").is_some() => ok = run_handler(&vm, &ctx, "init", args).await,
        Ok(_) => {}
        Err(e) => {
            // A failed restore: the actor stops, and its asks raise why.
            *lock(&ctx.cell.mb().reason) = match &e {
                Value::Error(eo) => Some((eo.kind.to_string(), eo.message.to_string())),
                _ => None,
            };
            ok = Err(e);
        }
    }
    // The implicit checkpoint right after `init` (or the restore).
    let ok = match ok {
        Ok(_) if ctx.dur.is_some() => Box::pin(super::persist::commit_and_wait(&vm, &ctx)).await,
        Ok(_) => ctx.checkpoint(&mut vm.borrow_mut()),
        Err(e) => Err(e),
    };
    if let Err(e) = ok {
        log_failure(&vm, &ctx, "init", &e);
        finish(&vm, &ctx, &rx, &node, Some(&e));
        return;
    }
    let worker = vm.borrow().rt.worker;
    loop {
        let env = match arrived.as_mut().and_then(|a| a.backlog.pop()) {
            Some(env) => env,
            None => match rx.recv().await {
                Ok(env) => env,
                Err(_) => break,
            },
        };
        node.mark_busy(worker);
        node.in_flight.fetch_sub(1, Ordering::SeqCst);
        ctx.cell.mb().make_room(1, Some(&node));
        if ctx.counts_traffic {
            if let Some(t) = &ctx.cell.mb().traffic {
                t.count();
            }
        }
        if let Body::Move { to } = &env.body {
            if Box::pin(super::migrate::move_out(&vm, &ctx, &rx, &node, to.clone())).await {
                return;
            }
            continue;
        }
        // Unpack the envelope before awaiting, so the loop's future stays small.
        let Some(job) = prepare(&vm, &ctx, env) else { continue };
        let mut result = match job.args {
            Ok(a) => run_handler(&vm, &ctx, &job.method, a).await,
            Err(e) => Err(e),
        };
        let (reply, what) = (job.reply, job.method);
        let was_ok = result.is_ok();
        let (mut keep_going, mut restarted) = (true, false);
        if let Err(e) = &result {
            if reply.is_none() {
                log_failure(&vm, &ctx, &what, e);
            }
        } else if ctx.stop_requested.get() {
            ctx.stop_requested.set(false);
            keep_going = supervise(&vm, &ctx, true);
            restarted = keep_going;
            // `self.stop()` keeps a durable actor's record, with its last
            // state; `self.stop(forget: true)` deletes it.
            if !keep_going && ctx.dur.is_some() {
                let r = if ctx.forget.get() { ctx.forget_record(&node) } else { ctx.checkpoint(&mut vm.borrow_mut()) };
                if let Err(e) = r {
                    log_failure(&vm, &ctx, "stop", &e);
                }
            }
        } else if ctx.opts.checkpoint_every > 0 {
            let n = ctx.since_checkpoint.get() + 1;
            ctx.since_checkpoint.set(n);
            if n >= ctx.opts.checkpoint_every {
                if let Err(e) = ctx.checkpoint(&mut vm.borrow_mut()) {
                    log_failure(&vm, &ctx, "checkpoint", &e);
                }
            }
        }
        if ctx.dur.is_some() {
            // The turn's commits are durable before its reply leaves.
            result = Box::pin(super::persist::end_turn(vm.clone(), ctx.clone(), result, job.sender, job.seq, reply.is_some())).await;
            if let (true, Err(e), None) = (was_ok, &result, &reply) {
                log_failure(&vm, &ctx, &what, e);
            }
        }
        if result.is_err() && keep_going {
            keep_going = supervise(&vm, &ctx, false);
            restarted = keep_going;
        }
        // Watchers hear of a restart or stop before the asker's await returns.
        if restarted {
            vm.borrow_mut().notify_watchers(&ctx.cell, Event::Restarted, result.as_ref().err());
        }
        if !keep_going {
            stop_cell(&ctx.cell, Some(&node));
            vm.borrow_mut().notify_watchers(&ctx.cell, Event::Stopped, result.as_ref().err());
        }
        if let Some(to) = reply {
            vm.borrow_mut().reply(to, result);
        }
        if !keep_going {
            break;
        }
    }
    finish(&vm, &ctx, &rx, &node, None);
}

/// One message, ready to run.
struct Job {
    sender: Arc<str>,
    seq: u64,
    method: Arc<str>,
    args: Result<Vec<Value>, Value>,
    reply: Option<ReplyTo>,
}

fn prepare(vm: &Rc<RefCell<Vm>>, ctx: &ActorCtx, env: Box<Envelope>) -> Option<Job> {
    let env = *env;
    let (sender, seq) = (env.sender, env.seq);
    if ctx.dur.is_some() && !ctx.is_new(&sender, seq) {
        // Its turn is already in the state (a redelivery): not applied twice.
        if let Body::Ask { reply, .. } = env.body {
            // The original reply when it is kept (an ask redelivered after
            // a failover whose turn was committed before the node died).
            let kept = ctx.kept_reply(&sender, seq).map(|p| vm.borrow_mut().from_portable(&p));
            let result = match kept {
                Some(Ok(v)) => Ok(v),
                _ => err("Error", format!("message {seq} from {sender} was already applied")),
            };
            vm.borrow_mut().reply(reply, result);
        }
        return None;
    }
    Some(match env.body {
        Body::Ask { method, args, reply } => Job { sender, seq, method, args: decode_args(vm, &args), reply: Some(reply) },
        Body::Tell { method, args } => Job { sender, seq, method, args: decode_args(vm, &args), reply: None },
        Body::Raw { kind, payload } => {
            if ctx.inst.class.find_method("handle_message").is_none() {
                let mut v = vm.borrow_mut();
                let k = v.from_portable(&kind).unwrap_or(Value::None);
                let what = format!("message {} (it has no handle_message)", crate::vm::format::to_display(&k));
                v.dead_letter(&ctx.cell, &what);
                return None;
            }
            let msg = raw_message(vm, &sender, seq, env.timestamp, &kind, &payload);
            Job { sender, seq, method: Arc::from("handle_message"), args: msg.map(|m| vec![m]), reply: None }
        }
        Body::Move { .. } => return None,
    })
}

/// After a failure (or `self.stop()`): restart from the last checkpoint if
/// the policy and the restart budget allow it; `false` means stop.
fn supervise(vm: &Rc<RefCell<Vm>>, ctx: &ActorCtx, stopping: bool) -> bool {
    let allowed = match ctx.opts.restart {
        Restart::Never => false,
        Restart::OnFailure => !stopping,
        Restart::Always => true,
    };
    if !allowed || ctx.restarts.get() >= ctx.opts.max_restarts {
        return false;
    }
    ctx.restarts.set(ctx.restarts.get() + 1);
    ctx.cancel_tasks();
    match ctx.restore(&mut vm.borrow_mut()) {
        Ok(()) => true,
        Err(e) => {
            log_failure(vm, ctx, "restart", &e);
            false
        }
    }
}

/// The actor has stopped: asks still queued fail, tells become dead letters.
fn finish(vm: &Rc<RefCell<Vm>>, ctx: &ActorCtx, rx: &async_channel::Receiver<Box<Envelope>>, node: &Node, error: Option<&Value>) {
    stop_cell(&ctx.cell, Some(node));
    if let Some(needs) = &ctx.opts.place {
        node.release(needs);
    }
    vm.borrow_mut().notify_watchers(&ctx.cell, Event::Stopped, error);
    ctx.cancel_tasks();
    node.remove_wait(ctx.cell.key);
    node.store.remove(ctx.cell.id);
    while let Ok(env) = rx.try_recv() {
        let env = *env;
        node.in_flight.fetch_sub(1, Ordering::SeqCst);
        let mut v = vm.borrow_mut();
        match env.body {
            Body::Ask { reply, .. } => v.reply(reply, stopped_error(&ctx.cell)),
            Body::Tell { method, .. } => v.dead_letter(&ctx.cell, &format!("{method}()")),
            Body::Raw { kind, .. } => {
                let k = v.from_portable(&kind).unwrap_or(Value::None);
                v.dead_letter(&ctx.cell, &format!("message {}", crate::vm::format::to_display(&k)));
            }
            Body::Move { .. } => {}
        }
    }
}

fn decode_args(vm: &Rc<RefCell<Vm>>, p: &Packet) -> Result<Vec<Value>, Value> {
    vm.borrow().from_portable_args(p)
}

/// The map `handle_message` receives.
fn raw_message(vm: &Rc<RefCell<Vm>>, sender: &str, seq: u64, ts: f64, kind: &Packet, payload: &Packet) -> Result<Value, Value> {
    let v = vm.borrow();
    let mut m = MapInner::default();
    let key = |s: &str| Key::Str(Rc::new(s.to_string()));
    m.insert(key("sender_id"), Value::str(sender));
    m.insert(key("type"), v.from_portable(kind)?);
    m.insert(key("payload"), v.from_portable(payload)?);
    m.insert(key("timestamp"), Value::Float(ts));
    m.insert(key("seq"), Value::Int(seq as i64));
    Ok(Value::map(m))
}

impl Vm {
    /// The actor whose task is running, if any.
    pub(crate) fn actor(&self) -> Option<&ActorCtx> {
        self.rt.current_actor.as_deref()?.downcast_ref::<ActorCtx>()
    }

    pub(crate) fn actor_rc(&self) -> Option<Rc<ActorCtx>> {
        self.rt.current_actor.clone()?.downcast::<ActorCtx>().ok()
    }

    /// `self.id` and `self.name` inside an actor.
    pub(crate) fn actor_self_field(&self, name: &str) -> Option<Value> {
        let a = self.actor()?;
        match name {
            "id" => Some(Value::str(&a.cell.id_str)),
            "name" => Some(a.cell.name.as_ref().map_or(Value::None, |n| Value::str(n))),
            // For built-ins given `self` (not a field users can name).
            "$ref" => Some(Value::Actor(a.cell.clone())),
            _ => None,
        }
    }

    /// `self.stop(forget: false)` and `self.checkpoint()` inside an actor.
    pub(crate) fn actor_self_call(&mut self, name: &str, args: &[Value], kw: &[(Rc<str>, Value)]) -> Result<Value, Value> {
        if !args.is_empty() {
            return err("TypeError", format!("`{name}` takes no positional arguments"));
        }
        let allowed: &[&str] = if name == "stop" { &["forget"] } else { &[] };
        let kw = crate::vm::args::kwarg(name, kw, allowed)?;
        let forget = match kw.first().copied().flatten() {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => return err("TypeError", format!("`forget` takes bool, not {}", other.type_name())),
        };
        let Some(a) = self.actor_rc() else {
            return err("TypeError", format!("`{name}` is only available inside the actor"));
        };
        match name {
            "stop" => {
                a.stop_requested.set(true);
                a.forget.set(forget);
            }
            _ => a.checkpoint(self)?,
        }
        Ok(Value::None)
    }
}

/// Start `state` as a new task of `vm` completing `fut`.
#[inline(never)]
pub(crate) fn spawn_task(vm: &mut Vm, state: TaskState, fut: Rc<FutureObj>) -> Result<(), Value> {
    let (Some(ex), Some(rc)) = (vm.executor.clone(), vm.self_ref.upgrade()) else {
        return err("Error", "async calls need the scheduler (internal: no executor)");
    };
    let actor = vm.actor_rc();
    // The body of an actor's async handler (its frame was the handler
    // task's only one): the actor loop awaits it, so its waits block the
    // actor. Other tasks of the actor run in the background.
    let handler = vm.rt.handler_task && vm.frames.is_empty();
    if let (Some(a), false) = (&actor, handler) {
        a.track(&fut);
    }
    // A task started while its creator runs adds to the creator's depth
    // for as long as the creator lives (it usually awaits the new task),
    // so `return await f(n + 1)` meets the same limit as plain calls.
    let depth = vm.task_depth + vm.frames.len();
    if depth >= vm.max_depth {
        return err("StackOverflowError", format!("maximum call depth of {} exceeded (in a chain of async calls)", vm.max_depth));
    }
    let mut run = TaskRun::new(rc, state, fut.clone(), actor.map(|a| a as Rc<dyn TaskOwner>), handler);
    run.depth = depth;
    run.parent = vm.task_fut.clone();
    let t = ex.spawn(run);
    fut.set_task(t);
    Ok(())
}
