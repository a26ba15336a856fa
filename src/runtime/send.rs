//! The sending side: spawn, ask, tell and raw messages, run by the sender's
//! VM. Arguments are deep-copied into a `Packet` (shared nothing). A send that
//! leaves the mailbox full suspends the sending task until the actor has taken
//! a message (backpressure); where the task cannot suspend (inside a callback
//! from a built-in) the send goes through and the mailbox runs over.

use super::run::{Options, Start};
use super::*;
use crate::vm::portable::{to_portable, to_portable_args};
use crate::vm::task::FutureObj;
use crate::vm::value::*;
use crate::vm::Vm;
use std::rc::Rc;

impl Vm {
    /// The next sequence number from the current sender to actor `to`.
    fn next_seq(&mut self, to: u64) -> u64 {
        let mut main = std::mem::take(&mut self.rt.main_seqs);
        let n = match &self.actor() {
            Some(a) => bump(&mut a.seqs.borrow_mut(), to),
            None => bump(&mut main, to),
        };
        self.rt.main_seqs = main;
        n
    }

    fn envelope(&mut self, cell: &ActorCell, body: Body) -> Box<Envelope> {
        // Only raw messages show their timestamp; reading the clock for
        // every ask and tell would cost more than the rest of the envelope.
        let timestamp = if matches!(body, Body::Raw { .. }) { now_secs() } else { 0.0 };
        let sender = match self.actor() {
            Some(a) => {
                if a.counts_traffic {
                    a.count_send(cell);
                }
                a.cell.id_str.clone()
            }
            None => self.rt.main_id.clone(),
        };
        Box::new(Envelope { sender, seq: self.next_seq(cell.key), timestamp, body })
    }

    /// Put an envelope in the mailbox; `Err` when the actor has stopped. A
    /// `"turn"` actor's message waits for the commit of its state first.
    fn deliver(&mut self, cell: &Arc<ActorCell>, env: Box<Envelope>) -> Result<(), Box<Envelope>> {
        if cell.mb().stopped.load(Ordering::Acquire) {
            return Err(env);
        }
        let env = match self.actor().is_some_and(|a| a.dur.is_some()).then(|| self.actor_rc()).flatten() {
            Some(a) => match a.hold(self, cell, env) {
                Some(env) => env,
                None => return Ok(()),
            },
            None => env,
        };
        self.try_deliver(cell, env)
    }

    /// A held message whose commit is durable: send it now (to a stopped
    /// actor: the ask fails, a tell is a dead letter).
    pub(crate) fn deliver_now(&mut self, cell: &Arc<ActorCell>, env: Box<Envelope>) {
        if let Err(env) = self.try_deliver(cell, env) {
            match env.body {
                Body::Ask { reply, .. } => self.reply(reply, stopped_error(cell)),
                Body::Tell { method, .. } => self.dead_letter(cell, &format!("{method}()")),
                Body::Raw { .. } => self.dead_letter(cell, "message"),
                Body::Move { .. } => {}
            }
        }
    }

    pub(crate) fn try_deliver(&mut self, cell: &ActorCell, env: Box<Envelope>) -> Result<(), Box<Envelope>> {
        if cell.mb().stopped.load(Ordering::Acquire) {
            return Err(env);
        }
        if let Some(at) = cell.mb().at() {
            return self.deliver_remote(cell, at, env);
        }
        self.flush_shared();
        if self.rt_node().is_none() {
            self.node();
        }
        let Some(node) = self.rt_node() else { return Err(env) };
        node.in_flight.fetch_add(1, Ordering::SeqCst);
        match cell.mb().tx.try_send(env) {
            Ok(()) => Ok(()),
            Err(e) => {
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
                // It moved to another node meanwhile (`migrate.rs`).
                match cell.mb().at() {
                    Some(at) => self.deliver_remote(cell, at, e.into_inner()),
                    None => Err(e.into_inner()),
                }
            }
        }
    }

    /// Write buffered output before another thread can act on a message, so
    /// that output follows the order of cause and effect.
    pub(crate) fn flush_shared(&mut self) {
        if !self.out.buffer().is_empty() && self.rt_node().is_some_and(|n| n.has_threads()) {
            let _ = std::io::Write::flush(&mut self.out);
        }
    }

    /// Backpressure: when `cell`'s mailbox is full, suspend the current task
    /// (after the instruction that sent) until the actor takes a message.
    fn wait_for_room(&mut self, cell: &Arc<ActorCell>) -> Result<(), Value> {
        if self.native_depth > 0 || !cell.mb().is_full() || self.executor.is_none() {
            return Ok(());
        }
        let fut = FutureObj::new();
        fut.set_target(cell.key);
        let (f2, c2) = (fut.clone(), cell.clone());
        let me = self.rt.worker;
        c2.mb().room_wait(me, true);
        self.spawn_helper(false, async move {
            struct Done(Arc<ActorCell>, usize);
            impl Drop for Done {
                fn drop(&mut self) {
                    self.0.mb().room_wait(self.1, false);
                }
            }
            let _done = Done(c2.clone(), me);
            loop {
                if !c2.mb().is_full() || c2.mb().stopped.load(Ordering::Acquire) {
                    break;
                }
                let l = c2.mb().room.listen();
                if !c2.mb().is_full() || c2.mb().stopped.load(Ordering::Acquire) {
                    break;
                }
                l.await;
            }
            f2.complete(Ok(Value::None));
        })?
        .detach();
        self.halt = Some(crate::vm::Halt::Await { fut, after: true });
        Ok(())
    }

    /// The handler's interned name (no allocation per message).
    fn check_handler(cell: &ActorCell, method: &str) -> Result<Arc<str>, Value> {
        if let Some(h) = cell.handlers.iter().find(|h| &***h == method) {
            return Ok(h.clone());
        }
        // A reference to an actor that no longer runs here (read back from a
        // checkpoint) knows no handlers: the send fails as "stopped" instead.
        // Nor does one to an actor on another node whose class this node
        // has not seen: that node checks.
        if cell.handlers.is_empty() && (cell.mb().at().is_some() || cell.mb().stopped.load(Ordering::Acquire)) {
            return Ok(Arc::from(method));
        }
        err("TypeError", format!("actor {} has no handler `{method}`", cell.class_name))
    }

    /// `ref.method(args)`: send an ask; the result is a future of the reply.
    pub(crate) fn ask(&mut self, cell: &Arc<ActorCell>, method: &str, args: &[Value]) -> Result<Value, Value> {
        let method = Vm::check_handler(cell, method)?;
        let fut = FutureObj::new();
        fut.set_target(cell.key);
        if self.rt_node().is_some_and(|n| n.net().is_some()) {
            super::waits::note_target(cell);
        }
        let packet = self.args_for(cell, args)?;
        let id = self.rt.next_pending;
        self.rt.next_pending += 1;
        let reply = ReplyTo { worker: self.rt.worker, id };
        let env = self.envelope(cell, Body::Ask { method, args: packet, reply });
        match self.deliver(cell, env) {
            Ok(()) => {
                self.rt.pending.insert(id, fut.clone());
                self.wait_for_room(cell)?;
            }
            Err(_) => {
                fut.complete(stopped_error(cell));
            }
        }
        Ok(Value::Future(fut))
    }

    /// `send ref.method(args)`: a tell.
    pub(crate) fn tell(&mut self, target: &Value, method: &str, args: &[Value]) -> Result<(), Value> {
        let Value::Actor(cell) = target else {
            return err("TypeError", format!("`send` needs an actor, not {}", target.type_name()));
        };
        let handler = Vm::check_handler(cell, method)?;
        let packet = self.args_for(cell, args)?;
        let env = self.envelope(cell, Body::Tell { method: handler, args: packet });
        match self.deliver(cell, env) {
            Ok(()) => self.wait_for_room(cell),
            Err(_) => {
                self.dead_letter(cell, &format!("{method}()"));
                Ok(())
            }
        }
    }

    /// `send_message(ref_or_name, {type: ..., payload: ...})`.
    pub(crate) fn send_raw(&mut self, target: &Value, msg: &Value) -> Result<(), Value> {
        let cell = match target {
            Value::Actor(c) => c.clone(),
            Value::Str(name) => match self.node().find_name(name.as_str()) {
                Some(c) => c,
                None => return err("NameError", format!("no actor is registered as \"{name}\"")),
            },
            other => return err("TypeError", format!("send_message needs an actor or a registered name, not {}", other.type_name())),
        };
        let Value::Map(m) = msg else {
            return err("TypeError", format!("send_message needs a map with `type` and `payload`, not {}", msg.type_name()));
        };
        let (kind, payload) = {
            let m = m.borrow();
            let get = |k: &str| m.get(&Key::Str(Rc::new(k.to_string()))).cloned().unwrap_or(Value::None);
            (get("type"), get("payload"))
        };
        let (kind_p, payload) = if cell.mb().worker == self.rt.worker {
            (to_portable(&kind)?, to_portable(&payload)?)
        } else {
            (self.portable_for_worker(&kind)?, self.portable_for_worker(&payload)?)
        };
        let env = self.envelope(&cell, Body::Raw { kind: kind_p, payload });
        match self.deliver(&cell, env) {
            Ok(()) => self.wait_for_room(&cell),
            Err(_) => {
                let what = format!("message {}", crate::vm::format::to_display(&kind));
                self.dead_letter(&cell, &what);
                Ok(())
            }
        }
    }

    pub(crate) fn dead_letter(&mut self, cell: &ActorCell, what: &str) {
        self.flush();
        let node = self.node();
        node.dead_letters.fetch_add(1, Ordering::Relaxed);
        crate::ewriteln!("dead letter: {what} to stopped actor {} from {}", cell.label(), self.sender_label());
    }

    fn sender_label(&self) -> String {
        match &self.actor() {
            Some(a) => a.cell.label(),
            None => MAIN_ID.into(),
        }
    }

    /// `spawn A(args) with {options}`: register the actor, start it on a
    /// worker and return its reference at once; `init` runs there first.
    pub(crate) fn spawn_actor(&mut self, slot: usize, argc: usize, names: &[String]) -> Result<Value, Value> {
        let class = match &self.stack[slot] {
            Value::Class(c) if c.actor.is_some() => c.clone(),
            Value::Class(c) => return err("TypeError", format!("`{}` is a class, not an actor: create it without `spawn`", c.name)),
            other => return err("TypeError", format!("cannot spawn {}", other.type_name())),
        };
        let args = self.spawn_args(&class, slot, argc, names)?;
        let mut opts = Options::parse(&self.stack[slot + 1 + argc])?;
        let node = self.node();
        let mut carry = node.find_durable_record(&mut opts);
        if node.net().is_some() && (opts.strategy != "local" || opts.place.is_some()) {
            let raw = std::mem::take(&mut self.stack[slot + 1 + argc]);
            if let Some(cell) = self.spawn_elsewhere(&node, &class, &args, &opts, &raw, &mut carry)? {
                return Ok(Value::Actor(cell));
            }
        } else if let Some(needs) = &opts.place {
            node.place(&class.name, opts.strategy, needs).map_err(|m| Value::error("PlacementError", m))?;
        }
        if let (Some(rec), Some(name)) = (carry, &opts.name) {
            let saved = node.records().and_then(|r| r.save(vec![(name.clone(), rec)]));
            saved.map_err(|m| Value::error("IOError", format!("cannot keep the record of \"{name}\" here: {m}")))?;
        }
        let worker = if opts.spread { node.pick_worker() } else { self.rt.worker };
        let (tx, rx) = async_channel::unbounded();
        let id = uuid::Uuid::new_v4();
        let handlers = class.methods.keys().filter(|k| !k.starts_with('$') && &***k != "init").map(|k| Arc::from(&**k)).collect();
        let mut cell =
            new_cell(id, opts.name.as_deref().map(Arc::from), Arc::from(&*class.name), handlers, node.new_key(), worker, opts.mailbox, tx);
        if node.net().is_some() {
            super::migrate::watch_traffic(&mut cell, &opts);
        }
        let cell = Arc::new(cell);
        {
            let mut reg = lock(registry());
            if let Some(n) = &cell.name {
                // A reference to an actor elsewhere is only a cache: the
                // cluster's directory decides (below).
                if reg.by_name.get(n).is_some_and(|c| c.mb().at().is_none()) {
                    if let Some(needs) = &opts.place {
                        node.release(needs);
                    }
                    return err("ValueError", format!("an actor named \"{n}\" is already running"));
                }
                reg.by_name.insert(n.clone(), cell.clone());
            }
            reg.by_id.insert(id, Arc::downgrade(&cell));
        }
        if let (Some(n), Some(_)) = (&cell.name, node.net()) {
            let why = format!("strategy {}: the spawner's node", opts.strategy);
            if let Err(e) = node.claim_name(n, &cell, &node.me_name(), why) {
                let mut reg = lock(registry());
                reg.by_name.remove(n);
                reg.by_id.remove(&id);
                if let Some(needs) = &opts.place {
                    node.release(needs);
                }
                return Err(e);
            }
        }
        let args = if worker == self.rt.worker { to_portable_args(&args)? } else { self.portable_args_for_worker(&args)? };
        let refs = self.actor_globals(&class);
        if worker == self.rt.worker {
            let private = self.private_globals(&refs);
            let class = Value::Class(class);
            self.start_actor(cell.clone(), rx, class, args, opts, private, None)?;
        } else {
            let start = Start {
                cell: cell.clone(),
                rx,
                class: to_portable(&Value::Class(class))?,
                args,
                opts,
                raw_opts: None,
                globals: self.globals_for(&refs),
                program: self.program.clone().unwrap_or_default(),
                arrived: None,
            };
            self.flush_shared();
            node.post(worker, WorkerMsg::Start(Box::new(start)));
        }
        Ok(Value::Actor(cell))
    }

    /// Spawn arguments in `init`'s parameter order (named ones placed by name).
    fn spawn_args(&mut self, class: &Class, slot: usize, argc: usize, names: &[String]) -> Result<Vec<Value>, Value> {
        let positional = argc - names.len();
        let mut args: Vec<Value> = (0..positional).map(|i| std::mem::take(&mut self.stack[slot + 1 + i])).collect();
        if names.is_empty() {
            return Ok(args);
        }
        let Some(init) = class.find_method("init") else {
            return err("TypeError", format!("`{}` has no `init`, so it takes no arguments", class.name));
        };
        for (i, n) in names.iter().enumerate() {
            let Some(p) = init.func.params.iter().position(|p| p.name == *n) else {
                return err("TypeError", format!("`{}` has no parameter `{n}`", class.name));
            };
            if args.len() <= p {
                args.resize(p + 1, Value::Undefined);
            }
            args[p] = std::mem::take(&mut self.stack[slot + 1 + positional + i]);
        }
        Ok(args)
    }

    /// Module-level values the actor's code reads, as sent to another worker:
    /// each defined non-`var` one (values that cannot travel, such as futures,
    /// stay behind; an actor naming one finds it undefined).
    pub(crate) fn globals_for(&self, refs: &[(u32, u32)]) -> Vec<(u32, u32, crate::vm::portable::Packet)> {
        let mut out = Vec::new();
        for &(m, s) in refs {
            let Some(md) = self.modules.get(m as usize) else { continue };
            let Some(v) = md.globals.get(s as usize) else { continue };
            if matches!(v, Value::Undefined) || md.mutable.get(s as usize).copied().unwrap_or(false) {
                continue;
            }
            if let Ok(p) = to_portable(v) {
                out.push((m, s, p));
            }
        }
        out
    }

    /// `lookup(name)`: the running actor registered under `name`, or `none`.
    pub fn lookup_actor(name: &str) -> Value {
        match lock(registry()).by_name.get(name) {
            Some(c) if !c.mb().stopped.load(Ordering::Acquire) => Value::Actor(c.clone()),
            _ => Value::None,
        }
    }
}

fn bump(m: &mut FxHashMap<u64, u64>, to: u64) -> u64 {
    let n = m.entry(to).or_insert(0);
    *n += 1;
    *n
}

/// Promises travel: the original stays with the worker that made it. A copy
/// on another worker forwards `resolve`/`reject` to the original, and asks
/// the owner (`WorkerMsg::Watch`) to pass the original's completion back to
/// it — so a promise completes everywhere, whoever completes it.
static NEXT_PROMISE: AtomicU64 = AtomicU64::new(1);

impl Vm {
    pub(crate) fn register_promise(&mut self, f: &Rc<FutureObj>) {
        let id = NEXT_PROMISE.fetch_add(1, Ordering::Relaxed);
        f.promise.set((id, self.rt.worker));
        self.remember_promise(id, f);
    }

    fn remember_promise(&self, id: u64, f: &Rc<FutureObj>) {
        let mut map = self.rt.promises.borrow_mut();
        if map.len() >= 64 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        map.insert(id, Rc::downgrade(f));
    }

    /// The promise numbered `id` as seen on this worker.
    pub(crate) fn promise_copy(&self, id: u64, owner: usize) -> Rc<FutureObj> {
        if let Some(f) = self.rt.promises.borrow().get(&id).and_then(std::rc::Weak::upgrade) {
            return f;
        }
        let f = FutureObj::new();
        f.promise.set((id, owner));
        if owner != self.rt.worker {
            self.remember_promise(id, &f);
            if let Some(node) = self.rt_node() {
                node.post(owner, WorkerMsg::Watch { id, worker: self.rt.worker });
            }
        }
        f
    }

    /// A message's arguments, with globals when they cross workers.
    fn args_for(&self, cell: &ActorCell, args: &[Value]) -> Result<Packet, Value> {
        if cell.mb().worker == self.rt.worker {
            to_portable_args(args)
        } else {
            self.portable_args_for_worker(args)
        }
    }

    pub(crate) fn forward_promise(&mut self, id: u64, owner: usize, r: &Result<Value, Value>) -> Result<(), Value> {
        let result = match r {
            Ok(v) => Ok(self.portable_for_worker(v)?),
            Err(e) => Err(to_portable(e)?),
        };
        self.flush_shared();
        self.node().post(owner, WorkerMsg::Resolve { id, result });
        Ok(())
    }

    /// Another worker holds a copy of promise `id` (owned here): when the
    /// original completes (at once if it has), send it the result. The
    /// watcher does not count as pending work: a copy nobody can complete
    /// still ends in a DeadlockError.
    pub(crate) fn watch_promise(&mut self, id: u64, worker: usize) {
        let Some(f) = self.rt.promises.borrow().get(&id).and_then(std::rc::Weak::upgrade) else { return };
        let node = self.node();
        let watcher = self.spawn_helper(false, async move {
            let r = crate::vm::task::Awaiting(f).await;
            let result = match &r {
                Ok(v) => to_portable(v).map(Ok),
                Err(e) => to_portable(e).map(Err),
            };
            // A result that cannot travel (it holds a task's future) fails
            // the copy with the reason instead.
            let result = match result {
                Ok(r) => r,
                Err(e) => match to_portable(&e) {
                    Ok(p) => Err(p),
                    Err(_) => return,
                },
            };
            node.post(worker, WorkerMsg::Resolve { id, result });
        });
        if let Ok(t) = watcher {
            t.detach();
        }
    }

    pub(crate) fn resolve_promise(&mut self, id: u64, result: Result<crate::vm::portable::Packet, crate::vm::portable::Packet>) {
        let Some(f) = self.rt.promises.borrow().get(&id).and_then(std::rc::Weak::upgrade) else { return };
        f.complete(self.from_portable_result(result));
    }
}
