//! Deadlock detection across nodes. Each node keeps its own wait-for graph
//! (`Node::add_wait`) for cycles among its actors; on a cluster every
//! handler's wait for another actor is also reported to the program's node
//! (`home`), which keeps the run's whole graph by actor id. A cycle found
//! there is checked again a moment later — an edge whose end is still on
//! its way (the reply went out, the `Unwait` not yet arrived) must not make
//! a false deadlock; a real one stays — and then the wait that closed it
//! fails with a `DeadlockError` on its node.

use super::remote::Wire;
use super::*;
use crate::vm::task::FutureObj;
use std::rc::Rc;

/// How long a cycle must stay before it is reported.
const SETTLE: std::time::Duration = std::time::Duration::from_millis(300);

/// Actor keys (process-wide) → ids, for the targets of asks on a cluster.
fn keys() -> &'static Mutex<FxHashMap<u64, u128>> {
    static K: LazyLock<Mutex<FxHashMap<u64, u128>>> = LazyLock::new(Default::default);
    &K
}

/// An ask on a cluster: remember the target's id by its key.
pub(crate) fn note_target(cell: &ActorCell) {
    lock(keys()).entry(cell.key).or_insert(cell.id.as_u128());
}

/// The run's graph, kept on its home node: waiter → (awaited, waiter's
/// label, waiter's node).
#[derive(Default)]
pub struct Graph {
    edges: FxHashMap<u128, (u128, String, Arc<str>)>,
}

impl Graph {
    /// The cycle through `from`, if the edges close one.
    fn cycle(&self, from: u128) -> Option<Vec<(u128, String, Arc<str>)>> {
        let mut chain = Vec::new();
        let mut at = from;
        for _ in 0..=self.edges.len() {
            let (next, label, node) = self.edges.get(&at)?;
            chain.push((at, label.clone(), node.clone()));
            if *next == from {
                return Some(chain);
            }
            at = *next;
        }
        None
    }
}

impl Node {
    /// A handler of `waiter` waits for the actor with key `target` (on a
    /// cluster; `fut` is what it awaits).
    pub(crate) fn cluster_wait(self: &Arc<Self>, waiter: &ActorCell, target: u64, vm: &mut crate::vm::Vm, fut: &Rc<FutureObj>) {
        let Some(net) = self.net() else { return };
        let Some(to) = lock(keys()).get(&target).copied() else { return };
        vm.rt.edge_waits.insert(waiter.key, Rc::downgrade(fut));
        let w = Wire::Wait { run: self.run_id.as_u128(), from: waiter.id.as_u128(), to, label: waiter.label() };
        match &self.home {
            Some(home) => net.send(home, &w),
            None => self.receive_wait(net.me(), w),
        }
    }

    /// The wait of `waiter` ended.
    pub(crate) fn cluster_unwait(&self, waiter: &ActorCell, vm: &mut crate::vm::Vm) {
        let Some(net) = self.net() else { return };
        if vm.rt.edge_waits.remove(&waiter.key).is_none() {
            return;
        }
        let from = waiter.id.as_u128();
        match &self.home {
            Some(home) => net.send(home, &Wire::Unwait { run: self.run_id.as_u128(), from }),
            None => drop(lock(&self.graph).edges.remove(&from)),
        }
    }

    /// On the home node: an edge came or went.
    pub(crate) fn receive_wait(self: &Arc<Self>, from_node: &str, w: Wire) {
        match w {
            Wire::Wait { from, to, label, .. } => {
                let found = {
                    let mut g = lock(&self.graph);
                    g.edges.insert(from, (to, label, Arc::from(from_node)));
                    g.cycle(from)
                };
                if let Some(cycle) = found {
                    let node = self.clone();
                    let _ = std::thread::Builder::new().name("noodle-deadlock".into()).spawn(move || {
                        std::thread::sleep(SETTLE);
                        node.confirm(from, cycle);
                    });
                }
            }
            Wire::Unwait { from, .. } => {
                lock(&self.graph).edges.remove(&from);
            }
            _ => {}
        }
    }

    /// The cycle is still there: fail the wait that closed it.
    fn confirm(&self, from: u128, cycle: Vec<(u128, String, Arc<str>)>) {
        let g = lock(&self.graph);
        if g.cycle(from).as_ref() != Some(&cycle) {
            return;
        }
        drop(g);
        let mut labels: Vec<String> = cycle.iter().map(|(_, l, _)| l.clone()).collect();
        labels.push(cycle[0].1.clone());
        let text = format!("ask cycle across nodes: {}", labels.join(" → "));
        let (_, _, node) = &cycle[0];
        let w = Wire::Deadlock { run: self.run_id.as_u128(), waiter: from, cycle: text };
        if let Some(net) = self.net() {
            net.send(node, &w);
        }
    }

    /// On the waiter's node: its wait closed a cycle.
    pub(crate) fn receive_deadlock(self: &Arc<Self>, waiter: u128, cycle: String) {
        let cell = lock(registry()).by_id.get(&uuid::Uuid::from_u128(waiter)).and_then(Weak::upgrade);
        if let Some(c) = cell.filter(|c| c.mb().at().is_none()) {
            self.post(c.mb().worker, WorkerMsg::Deadlock { key: c.key, cycle });
        }
    }
}

impl crate::vm::Vm {
    /// `WorkerMsg::Deadlock`: fail the actor's current wait.
    pub(crate) fn fail_wait(&mut self, key: u64, cycle: String) {
        if let Some(f) = self.rt.edge_waits.remove(&key).and_then(|w| w.upgrade()) {
            if !f.is_done() {
                f.complete(crate::vm::value::err("DeadlockError", cycle));
            }
        }
    }
}
