//! A durable actor's side of its record (runtime.md §7): resuming from it at
//! start, committing its state, deleting it, and the commit of every durable
//! actor when the program ends. The store itself is `durable.rs`.

use super::run::ActorCtx;
use super::*;
use crate::vm::portable::to_portable;
use crate::vm::value::*;
use crate::vm::Vm;
use std::rc::Rc;

impl ActorCtx {
    /// Write a durable actor's record: its state fields by name.
    pub(super) fn commit(&self, node: &Node) -> Result<(), Value> {
        let Some(meta) = self.inst.class.actor.as_ref() else { return Ok(()) };
        let name = self.cell.name.as_deref().unwrap_or_default();
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
        drop(fields);
        let rec = super::durable::Record {
            class: self.inst.class.name.to_string(),
            generation: self.generation.get(),
            fields: out,
            marks: Vec::new(),
            committed_at: now_secs(),
        };
        let records = node.records().map_err(|m| Value::error("IOError", m))?;
        records
            .save(vec![(name.to_string(), rec)])
            .map_err(|m| Value::error("IOError", format!("cannot commit actor {}: {m}", self.cell.label())))
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
    pub(super) fn resume(&self, vm: &mut Vm) -> Result<bool, Value> {
        if !self.opts.durable {
            return Ok(false);
        }
        let node = vm.node();
        let name = self.cell.name.as_deref().unwrap_or_default();
        let records = node.records().map_err(|m| Value::error("IOError", m))?;
        let loaded = records.load(name).map_err(|m| Value::error("IOError", format!("cannot restore actor {}: {m}", self.cell.label())))?;
        if let Some(w) = loaded.warning {
            crate::ewriteln!("warning: {w}");
        }
        let Some(rec) = loaded.record else { return Ok(false) };
        let class = &self.inst.class.name;
        if rec.class != **class {
            return err("ValueError", format!("the record of `{name}` belongs to class {}, not {class}", rec.class));
        }
        let Some(meta) = self.inst.class.actor.as_ref() else { return Ok(false) };
        for (field, p) in &rec.fields {
            if let Some(s) = meta.states.iter().find(|s| ***s == **field) {
                let v = vm.from_portable(p)?;
                self.inst.fields.borrow_mut().insert(s.clone(), v);
            }
        }
        self.generation.set(rec.generation + 1);
        Ok(true)
    }
}

/// Commit every live durable actor of this VM (the end of the program).
pub(crate) fn commit_durable(vm: &mut Vm) {
    let live: Vec<Rc<ActorCtx>> = vm.rt.durable.iter().filter_map(|w| w.upgrade()).filter_map(|a| a.downcast::<ActorCtx>().ok()).collect();
    for ctx in live {
        if ctx.cell.mb().stopped.load(Ordering::Acquire) {
            continue;
        }
        if let Err(e) = ctx.checkpoint(vm) {
            crate::ewrite!("actor {} could not commit at the end of the program: {}", ctx.cell.label(), Vm::describe_error(&e));
        }
    }
}
