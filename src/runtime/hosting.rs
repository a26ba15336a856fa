//! A node hosting actors of a program whose main runs on another node:
//! starting them (spawns sent here, restores after a failover), sending
//! their program output home, and ending them with the run.

use super::remote::{global_key, SpawnMsg, Wire};
use super::*;
use crate::vm::portable::Packet;
use crate::vm::Value;

impl Node {
    pub(super) fn receive_spawn(self: &Arc<Self>, s: SpawnMsg) {
        let id = uuid::Uuid::from_u128(s.id);
        self.keep_kit(&s);
        if s.failover {
            super::remote::RESTORED.fetch_add(1, Ordering::Relaxed);
        }
        if s.record.is_some() {
            // Restored after a failover (or brought along): references to
            // it made here look for it here again.
            super::migrate::ARRIVED.store(true, Ordering::SeqCst);
        }
        let (tx, rx) = async_channel::unbounded();
        let worker = self.pick_worker();
        let class_name = match &s.class.root {
            crate::vm::portable::Portable::Class { name, .. } => name.clone(),
            _ => "actor".into(),
        };
        let handlers = class_handlers(&s.class);
        let mut cell =
            new_cell(id, s.name.as_deref().map(Arc::from), Arc::from(class_name), handlers, global_key(), worker, DEFAULT_MAILBOX, tx);
        if s.affinity {
            if let Some(mb) = cell.port.downcast_mut::<Mailbox>() {
                mb.traffic = Some(super::migrate::Traffic::new());
            }
        }
        let cell = Arc::new(cell);
        {
            let mut reg = lock(registry());
            if let Some(n) = &cell.name {
                reg.by_name.insert(n.clone(), cell.clone());
            }
            reg.by_id.insert(id, Arc::downgrade(&cell));
        }
        let start = run::Start {
            cell,
            rx,
            class: s.class,
            args: s.init_args,
            opts: run::Options::parse(&Value::None).unwrap_or_else(|_| unreachable!("no options parse")),
            raw_opts: Some(s.opts),
            globals: s.globals,
            program: lock(&self.program).clone(),
            // A record brought along is saved before the actor resumes from it.
            arrived: s
                .record
                .map(|r| Box::new(super::migrate::Arrived { state: None, record: Some(*r), backlog: Vec::new(), restarts: 0 })),
        };
        self.post(worker, WorkerMsg::Start(Box::new(start)));
        self.deliver_early(id.as_u128());
    }

    /// The program this node hosts actors for has ended: commit its durable
    /// actors and stop them all.
    pub fn end_hosted(self: &Arc<Self>) {
        if self.home.is_none() {
            return;
        }
        if self.has_durable.load(Ordering::SeqCst) {
            self.commit_on(&self.started_workers());
        }
        self.shutdown();
        self.close_records();
    }
}

/// An actor class's handler names, from its portable form.
fn class_handlers(p: &Packet) -> Vec<Arc<str>> {
    use crate::vm::portable::Portable;
    let mut out: Vec<Arc<str>> = Vec::new();
    let mut at = Some(&p.root);
    while let Some(Portable::Class { methods, parent, .. }) = at {
        for (m, _) in methods {
            if !m.starts_with('$') && m != "init" && !out.iter().any(|h| **h == **m) {
                out.push(Arc::from(m.as_str()));
            }
        }
        at = parent.as_deref();
    }
    out
}

/// Forward a hosted worker's program output and diagnostics to the
/// program's node.
pub(crate) fn forward_output(vm: &mut crate::vm::Vm, node: &Node) {
    let (Some(home), Some(net)) = (node.home.clone(), node.net.get().cloned()) else { return };
    let run = node.run_id.as_u128();
    let sink = |err: bool| {
        let (home, net) = (home.clone(), net.clone());
        Arc::new(move |b: &[u8]| net.send(&home, &Wire::Output { run, text: serde_bytes::ByteBuf::from(b.to_vec()), err }))
            as crate::OutputFn
    };
    vm.redirect_output(sink(false));
    crate::redirect_stderr(sink(true));
}
