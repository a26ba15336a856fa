//! Supervision events (runtime.md §7, the seed's `FailureEvent`):
//! `monitor(ref)` is a future that completes once, at the actor's next
//! restart or stop, with `{actor_id, name, kind, error, time}`. A watcher is
//! the watching VM's worker and pending number, like an ask's reply, so
//! main, tasks and actors on any worker can watch.
//!
//! A node that dies leaves nobody to answer what was asked of its actors.
//! Asks and watches sent to another node are remembered until answered; when
//! membership declares that node down they wait for word of its failover
//! (`failover.rs`): an ask to an actor restored elsewhere is sent again,
//! a watch of one completes with `"restarted"`; any other ask ends with a
//! `NodeDownError` and any other watch with a `"node_down"` event. No wait
//! outlives the node it waits on by more than the failover's bound.

use super::*;
use crate::vm::portable::to_portable;
use crate::vm::task::FutureObj;
use crate::vm::value::*;
use crate::vm::Vm;
use std::rc::Rc;

/// `"restarted"` or `"stopped"`.
#[derive(Clone, Copy)]
pub(crate) enum Event {
    Restarted,
    Stopped,
    NodeDown,
}

impl Vm {
    /// `monitor(ref)`: at once with `"stopped"` if the actor already is.
    pub(crate) fn monitor(&mut self, cell: &Arc<ActorCell>) -> Rc<FutureObj> {
        let fut = FutureObj::new();
        let id = self.rt.next_pending;
        let mut watchers = lock(&cell.mb().monitors);
        // An actor moving away says where before it takes its watchers
        // (both under this lock), so no watch is left behind.
        if cell.mb().at().is_none() {
            if cell.mb().stopped.load(Ordering::Acquire) {
                drop(watchers);
                let reason = lock(&cell.mb().reason).clone().map(|(k, m)| Value::error(&k, m));
                fut.complete(Ok(event_map(cell, Event::Stopped, reason.as_ref())));
                return fut;
            }
            self.rt.next_pending += 1;
            watchers.push(ReplyTo { worker: self.rt.worker, id });
            drop(watchers);
            self.rt.pending.insert(id, fut.clone());
            return fut;
        }
        drop(watchers);
        // The actor's node keeps the watch and sends the event back.
        self.rt.next_pending += 1;
        self.rt.pending.insert(id, fut.clone());
        if let (Some(at), Some(node)) = (cell.mb().at(), self.rt_node().cloned()) {
            if let Some(net) = node.net() {
                let to = lock(&at.node).clone();
                if net.is_down(&to) {
                    self.rt.pending.remove(&id);
                    fut.complete(Ok(node_down_event(cell, down_error(&cell.label(), &to))));
                    return fut;
                }
                let (run, target, worker) = (node.run_id.as_u128(), cell.id.as_u128(), self.rt.worker as u32);
                node.await_remote(self.rt.worker, id, to.clone(), Waited::Watch(cell.clone()));
                net.send(&to, &remote::Wire::Monitor { run, target, worker, id, reply: None });
            }
        }
        fut
    }

    /// Tell every watcher of `cell` about `event` (watchers of a restart
    /// must call `monitor` again for the next one).
    pub(crate) fn notify_watchers(&mut self, cell: &ActorCell, event: Event, error: Option<&Value>) {
        let watchers: Vec<ReplyTo> = std::mem::take(&mut *lock(&cell.mb().monitors));
        if watchers.is_empty() {
            return;
        }
        let packet = to_portable(&event_map(cell, event, error)).map_err(|e| to_portable(&e).unwrap_or(Packet::none()));
        for w in watchers {
            if w.worker == self.rt.worker {
                self.complete_pending(w.id, packet.clone());
            } else {
                self.flush_shared();
                self.node().post(w.worker, WorkerMsg::Reply { id: w.id, result: packet.clone() });
            }
        }
    }
}

fn event_map(cell: &ActorCell, event: Event, error: Option<&Value>) -> Value {
    let mut m = MapInner::default();
    let key = |s: &str| Key::Str(Rc::new(s.to_string()));
    m.insert(key("actor_id"), Value::str(&cell.id_str));
    m.insert(key("name"), cell.name.as_ref().map_or(Value::None, |n| Value::str(n)));
    let kind = match event {
        Event::Restarted => "restarted",
        Event::Stopped => "stopped",
        Event::NodeDown => "node_down",
    };
    m.insert(key("kind"), Value::str(kind));
    m.insert(key("error"), error.cloned().unwrap_or(Value::None));
    m.insert(key("time"), Value::Float(now_secs()));
    Value::map(m)
}

/// The event of a watched actor restored on another node after its node
/// died (`failover.rs`).
#[allow(clippy::result_large_err)]
pub(super) fn restarted_packet(cell: &ActorCell) -> Result<Packet, Packet> {
    to_portable(&event_map(cell, Event::Restarted, None)).map_err(|e| to_portable(&e).unwrap_or(Packet::none()))
}

/// The event of an actor lost with its node.
pub(super) fn node_down_event(cell: &ActorCell, error: Value) -> Value {
    event_map(cell, Event::NodeDown, Some(&error))
}

/// The event of an actor that has stopped already, for a watcher elsewhere
/// (the shape of a reply, as `WorkerMsg::Reply` carries).
#[allow(clippy::result_large_err)]
pub(super) fn stopped_packet(cell: &ActorCell) -> Result<Packet, Packet> {
    let reason = lock(&cell.mb().reason).clone().map(|(k, m)| Value::error(&k, m));
    to_portable(&event_map(cell, Event::Stopped, reason.as_ref())).map_err(|e| to_portable(&e).unwrap_or(Packet::none()))
}

/// What a worker waits for from another node.
pub(crate) struct Awaiting {
    pub(super) node: Arc<str>,
    pub(super) what: Waited,
}

pub(crate) enum Waited {
    /// An ask of the actor with this label and id, as it was sent.
    Ask { label: String, to: u128, delivery: Box<remote::Delivery> },
    /// A watch of this actor.
    Watch(Arc<ActorCell>),
}

impl Node {
    /// Worker `worker`'s pending `id` waits for node `node` (noted before
    /// the message leaves, so the answer cannot come first).
    pub(crate) fn await_remote(&self, worker: usize, id: u64, node: Arc<str>, what: Waited) {
        lock(&self.awaiting).insert((worker as u32, id), Awaiting { node, what });
    }

    /// The answer to worker `worker`'s pending `id` arrived.
    pub(crate) fn answered(&self, worker: u32, id: u64) {
        lock(&self.awaiting).remove(&(worker, id));
    }

    /// A message to an actor on `node`, which is down: an ask fails at once,
    /// a tell is a dead letter.
    pub(crate) fn send_to_down(self: &Arc<Self>, node: &str, cell: &ActorCell, body: Body) {
        match body {
            Body::Ask { reply, .. } => {
                let result = Err(to_portable(&down_error(&cell.label(), node)).unwrap_or(Packet::none()));
                self.post(reply.worker, WorkerMsg::Reply { id: reply.id, result });
            }
            Body::Tell { method, .. } => {
                self.dead_letters.fetch_add(1, Ordering::Relaxed);
                self.report(format!("dead letter: {method}() to {} on node {node}, which is down", cell.label()));
            }
            Body::Raw { .. } => {
                self.dead_letters.fetch_add(1, Ordering::Relaxed);
                self.report(format!("dead letter: message to {} on node {node}, which is down", cell.label()));
            }
            Body::Move { .. } => {}
        }
    }
}

impl Waited {
    #[allow(clippy::result_large_err)]
    pub(crate) fn failure(&self, node: &str) -> Result<Packet, Packet> {
        let packet = |v: &Value| to_portable(v).unwrap_or(Packet::none());
        match self {
            Waited::Ask { label, .. } => Err(packet(&down_error(label, node))),
            Waited::Watch(cell) => Ok(packet(&node_down_event(cell, down_error(&cell.label(), node)))),
        }
    }
}

fn down_error(label: &str, node: &str) -> Value {
    Value::error("NodeDownError", format!("node {node} is down: {label} cannot answer"))
}
