//! The sending side of the cluster, run by the sender's VM: a spawn placed
//! on another node, and an envelope for an actor elsewhere.

use super::remote::*;
use super::*;
use crate::vm::portable::to_portable;
use crate::vm::Value;
use std::rc::Rc;

impl crate::vm::Vm {
    /// `spawn` on a cluster: ask the placement engine; when it picks another
    /// node, start the actor there and return a reference to it (`None`: it
    /// runs here, its needs reserved).
    pub(crate) fn spawn_elsewhere(
        &mut self,
        node: &Arc<Node>,
        class: &Rc<crate::vm::value::Class>,
        args: &[Value],
        opts: &run::Options,
        raw_opts: &Value,
        carry: &mut Option<super::durable::Record>,
    ) -> Result<Option<Arc<ActorCell>>, Value> {
        let mut req = opts.place.as_deref().cloned().unwrap_or_default().request(&class.name, opts.strategy);
        req.near = opts.near.as_ref().map(|c| cell_node(c).map(|n| n.to_string()).unwrap_or_else(|| node.me_name()));
        let placed = node.place_in_cluster(&mut req).map_err(|m| Value::error("PlacementError", m))?;
        let Some(p) = placed else {
            if let Some(needs) = &opts.place {
                node.reserve(needs);
            }
            return Ok(None);
        };
        let name = opts.name.as_deref().map(Arc::from);
        let handlers = class.methods.keys().filter(|k| !k.starts_with('$') && &***k != "init").map(|k| Arc::from(&**k)).collect();
        let id = uuid::Uuid::new_v4();
        let cell = Arc::new(proxy_cell(id, name.clone(), Arc::from(&*class.name), handlers, Arc::from(p.primary.as_str())));
        {
            let mut reg = lock(registry());
            if let Some(n) = &name {
                if reg.by_name.get(n).is_some_and(|c| !c.mb().stopped.load(Ordering::Acquire)) {
                    return Err(Value::error("ValueError", format!("an actor named \"{n}\" is already running")));
                }
            }
            reg.by_id.insert(id, Arc::downgrade(&cell));
        }
        if let Some(n) = &name {
            let why = format!("strategy {}, score {:.2}: {}", p.strategy.name(), p.score, p.reasons.join("; "));
            node.claim_name(n, &cell, &p.primary, why)?;
        }
        let refs = self.actor_globals(class);
        let msg = SpawnMsg {
            info: node.run_info(),
            id: id.as_u128(),
            name: opts.name.clone(),
            class: to_portable(&Value::Class(class.clone()))?,
            init_args: self.portable_args_for_worker(args)?,
            opts: to_portable(raw_opts)?,
            globals: self.globals_for(&refs),
            record: carry.take().map(Box::new),
            affinity: opts.strategy == "affinity",
            failover: false,
            copies: if opts.durable {
                node.net().map_or(0, |n| n.view().nodes.len().saturating_sub(1).min(opts.copies())) as u32
            } else {
                0
            },
        };
        self.flush();
        if let Some(net) = node.net() {
            net.send(&p.primary, &Wire::Spawn(Box::new(msg)));
        }
        Ok(Some(cell))
    }

    /// Send an envelope to an actor on another node.
    pub(crate) fn deliver_remote(&mut self, cell: &ActorCell, at: &RemoteAt, env: Box<Envelope>) -> Result<(), Box<Envelope>> {
        let Some(node) = self.rt_node().cloned() else { return Err(env) };
        let Some(net) = node.net.get() else { return Err(env) };
        // Output printed before the send reaches the program's stdout first.
        self.flush();
        // An actor that arrived here since this reference was made.
        if super::migrate::ARRIVED.load(Ordering::Relaxed) {
            let here = lock(registry()).by_id.get(&cell.id).and_then(Weak::upgrade);
            if let Some(here) = here.filter(|h| !std::ptr::eq(&**h, cell) && h.mb().at().is_none()) {
                return self.try_deliver(&here, env);
            }
        }
        let to = {
            let node = lock(&at.node);
            at.sent.fetch_add(1, Ordering::Relaxed);
            node.clone()
        };
        node.send_remote(net, to, cell, env);
        Ok(())
    }
}

impl Node {
    /// Send an envelope to actor `cell` on node `to`: an ask is remembered
    /// until answered (with what it takes to send it again after a
    /// failover); a send to a node that is down waits for word of its
    /// failover, or fails.
    pub(crate) fn send_remote(self: &Arc<Self>, net: &Arc<dyn Net>, to: Arc<str>, cell: &ActorCell, env: Box<Envelope>) {
        if net.is_down(&to) {
            if let Some(env) = self.hold_for_failover(&to, cell, env) {
                self.send_to_down(&to, cell, env.body);
            }
            return;
        }
        let (body, reply) = match env.body {
            Body::Ask { method, args, reply } => (WireBody::Ask { method, args, worker: reply.worker as u32, id: reply.id }, Some(reply)),
            Body::Tell { method, args } => (WireBody::Tell { method, args }, None),
            Body::Raw { kind, payload } => (WireBody::Raw { kind, payload }, None),
            Body::Move { .. } => return,
        };
        let d = Box::new(Delivery {
            run: self.run_id.as_u128(),
            to: cell.id.as_u128(),
            sender: env.sender,
            seq: env.seq,
            timestamp: env.timestamp,
            body,
            reply: None,
            hops: 0,
        });
        if let Some(reply) = reply {
            let what = super::monitor::Waited::Ask { label: cell.label(), to: cell.id.as_u128(), delivery: d.clone() };
            self.await_remote(reply.worker, reply.id, to.clone(), what);
        }
        net.send(&to, &Wire::Deliver(d));
    }
}
