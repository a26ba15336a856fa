//! A node that dies leaves nobody to answer what was asked of its actors.
//! Asks and watches sent to another node are remembered until answered; when
//! membership declares that node down they end — an ask with a
//! `NodeDownError`, a watch (`monitor`) with a `"node_down"` event — and what
//! is sent to a node known to be down fails at once. No wait outlives the
//! node it waits on.

use super::*;
use crate::vm::portable::to_portable;
use crate::vm::Value;

/// What a worker waits for from another node.
pub(crate) struct Awaiting {
    node: Arc<str>,
    what: Waited,
}

pub(crate) enum Waited {
    /// An ask of the actor with this label.
    Ask(String),
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

    /// Node `name` is down: what waits on it ends now.
    pub fn node_down(self: &Arc<Self>, name: &str) {
        let ended: Vec<((u32, u64), Awaiting)> = {
            let mut waiting = lock(&self.awaiting);
            let keys: Vec<(u32, u64)> = waiting.iter().filter(|(_, a)| &*a.node == name).map(|(k, _)| *k).collect();
            keys.into_iter().filter_map(|k| waiting.remove(&k).map(|a| (k, a))).collect()
        };
        for ((worker, id), a) in ended {
            self.post(worker as usize, WorkerMsg::Reply { id, result: a.what.failure(name) });
        }
    }

    /// A message to an actor on `node`, which is down: an ask fails at once,
    /// a tell is a dead letter.
    pub(crate) fn send_to_down(self: &Arc<Self>, node: &str, cell: &ActorCell, body: Body) {
        match body {
            Body::Ask { reply, .. } => {
                let result = Waited::Ask(cell.label()).failure(node);
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
            Waited::Ask(label) => Err(packet(&down_error(label, node))),
            Waited::Watch(cell) => Ok(packet(&super::monitor::node_down_event(cell, down_error(&cell.label(), node)))),
        }
    }
}

pub(super) fn down_error(label: &str, node: &str) -> Value {
    Value::error("NodeDownError", format!("node {node} is down: {label} cannot answer"))
}
