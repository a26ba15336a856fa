//! Which module-level values an actor's code can read: its handlers, the
//! functions they create, and (transitively) the top-level functions and
//! classes they name. Only these are copied into the actor when it is
//! spawned (language.md §7), so a big module-level list the actor never
//! touches costs nothing per spawn.

use crate::bytecode::Op;
use crate::vm::value::*;
use crate::vm::Vm;
use rustc_hash::FxHashSet;
use std::rc::Rc;

impl Vm {
    /// The (module, slot) globals reachable from `class`'s methods; cached
    /// per class.
    pub(crate) fn actor_globals(&mut self, class: &Rc<Class>) -> Rc<Vec<(u32, u32)>> {
        let key = Rc::as_ptr(class) as usize;
        if let Some((_, v)) = self.reach_cache.get(&key) {
            return v.clone();
        }
        let v = Rc::new(self.reach_of(class.methods.values().map(|m| m.func_index).collect()));
        self.reach_cache.insert(key, (class.clone(), v.clone()));
        v
    }

    /// The globals function `f` (and what it reaches) reads; cached.
    pub(crate) fn func_globals(&self, f: u32) -> Rc<Vec<(u32, u32)>> {
        if let Some(v) = self.func_reach.borrow().get(&f) {
            return v.clone();
        }
        let v = Rc::new(self.reach_of(vec![f]));
        self.func_reach.borrow_mut().insert(f, v.clone());
        v
    }

    /// The (module, slot) globals read by `funcs`, the functions they
    /// create, and the top-level functions and classes they name.
    fn reach_of(&self, mut funcs: Vec<u32>) -> Vec<(u32, u32)> {
        let mut seen_f: FxHashSet<u32> = funcs.iter().copied().collect();
        let mut out: Vec<(u32, u32)> = Vec::new();
        let mut seen_g: FxHashSet<(u32, u32)> = FxHashSet::default();
        while let Some(fi) = funcs.pop() {
            let Some(f) = self.functions.get(fi as usize).cloned() else { continue };
            for ins in &f.code {
                match ins.op {
                    Op::LoadGlobal | Op::StoreGlobal => {
                        let g = (f.module, ins.c);
                        if !seen_g.insert(g) {
                            continue;
                        }
                        out.push(g);
                        let v = self.modules.get(g.0 as usize).and_then(|m| m.globals.get(g.1 as usize));
                        let mut more = Vec::new();
                        match v {
                            Some(Value::Func(c)) => more.push(c.func_index),
                            Some(Value::Class(c)) => collect_methods(c, &mut more),
                            _ => {}
                        }
                        for m in more {
                            if seen_f.insert(m) {
                                funcs.push(m);
                            }
                        }
                    }
                    Op::Closure if seen_f.insert(ins.c) => funcs.push(ins.c),
                    _ => {}
                }
            }
        }
        out
    }
}

fn collect_methods(c: &Class, out: &mut Vec<u32>) {
    out.extend(c.methods.values().map(|m| m.func_index));
    if let Some(p) = &c.parent {
        collect_methods(p, out);
    }
}

/// Values an actor must have its own copy of (they can change in place).
pub(crate) fn is_mutable_container(v: &Value) -> bool {
    match v {
        Value::List(_) | Value::Map(_) | Value::Instance(_) | Value::Cell(_) | Value::Bound(_) => true,
        Value::Func(c) => !c.upvals.is_empty(),
        _ => false,
    }
}
