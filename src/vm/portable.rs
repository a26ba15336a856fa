//! Values that leave their VM: a deep copy into a plain-data, `Send`,
//! serialisable form (`Portable`) and back. Actors exchange messages this way
//! (shared nothing: the receiver gets its own copy), and checkpoints store
//! actor state in it. Sharing and cycles inside the value are kept: a container
//! seen twice is encoded once and referred to by its number (`Seen`).
//! Functions travel as their prototype index plus copies of what they captured,
//! so both sides must run the same program. Futures, modules, iterators and
//! built-in library functions do not travel (a `TypeError`); modules travel by
//! index or name, actor references as the handle itself.

use super::value::*;
use super::Vm;
use crate::bytecode::BUILTINS;
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PKey {
    Int(i64),
    Bool(bool),
    Str(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Portable {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Range(i64, i64, i64),
    /// The `n`th container of this value, already encoded (sharing, cycles).
    Seen(u32),
    List(Vec<Portable>),
    Map(Vec<(PKey, Portable)>),
    /// A captured variable; its content is `Packet::cells[n]`, decoded after
    /// the rest so that cycles through closures close over finished objects.
    Cell(u32),
    Func {
        func: u32,
        upvals: Vec<Portable>,
    },
    Builtin(u32),
    Bound {
        receiver: Box<Portable>,
        method: Box<Portable>,
    },
    /// `states` is `Some` for an actor class.
    Class {
        name: String,
        parent: Option<Box<Portable>>,
        methods: Vec<(String, Portable)>,
        states: Option<Vec<String>>,
    },
    Instance {
        class: Box<Portable>,
        fields: Vec<(String, Portable)>,
    },
    Error {
        kind: String,
        message: String,
        trace: Vec<String>,
    },
    /// An actor reference: the same actor on the other side.
    Actor(super::host::ActorRef),
    /// A database handle, by path (opened again on the other side: one
    /// handle per file).
    /// A library module's object: the module and what it revives from.
    Object {
        module: String,
        data: String,
    },
    /// A matrix: shared, not copied (it is immutable).
    Matrix(super::matrix::Shared),
    /// A `promise()`: its number and owning worker.
    Promise {
        id: u64,
        owner: u32,
    },
    /// A module: compiled ones by index, library ones by name.
    Module {
        index: Option<u32>,
        name: String,
    },
    Set(Vec<PKey>),
}

/// One value in portable form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Packet {
    pub root: Portable,
    pub cells: Vec<Portable>,
    /// Module-level `let` values that the functions in the value read, by
    /// (module, slot), for a receiver that may not have run that module's
    /// top level (another worker). Each is a packet of its own.
    #[serde(default)]
    pub globals: Vec<(u32, u32, Packet)>,
}

impl Packet {
    /// A packet of `none` (a stand-in where a value could not be encoded).
    pub fn none() -> Packet {
        Packet { root: Portable::None, cells: Vec::new(), globals: Vec::new() }
    }
}

/// Encode a message's arguments (as one list, so sharing between them is
/// kept; the list itself is not numbered: decode with `from_portable_args`).
pub fn to_portable_args(args: &[Value]) -> Result<Packet, Value> {
    let mut e = Encoder::default();
    let mut items = Vec::with_capacity(args.len());
    for a in args {
        items.push(e.enc(a, 1)?);
    }
    e.finish(Portable::List(items))
}

/// Encode `v` for another VM running the same program.
pub fn to_portable(v: &Value) -> Result<Packet, Value> {
    let mut e = Encoder::default();
    let root = e.enc(v, 0)?;
    e.finish(root)
}

#[derive(Default)]
struct Encoder {
    seen: FxHashMap<usize, u32>,
    /// Cells numbered so far, whose contents are encoded after the root.
    pending: Vec<Rc<RefCell<Value>>>,
    /// The functions met, whose module-level reads may have to travel too.
    funcs: Vec<u32>,
}

const MAX_DEPTH: u32 = 10_000;

impl Encoder {
    /// Encode the captured variables met so far, after the root.
    fn finish(&mut self, root: Portable) -> Result<Packet, Value> {
        let mut cells = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let c = self.pending[i].clone();
            let content = c.borrow().clone();
            cells.push(self.enc(&content, 0)?);
            i += 1;
        }
        Ok(Packet { root, cells, globals: Vec::new() })
    }

    /// Number a container on first sight; `Err(n)` when it was seen before.
    fn first(&mut self, addr: usize) -> Result<(), u32> {
        let n = self.seen.len() as u32;
        match self.seen.entry(addr) {
            std::collections::hash_map::Entry::Occupied(e) => Err(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(n);
                Ok(())
            }
        }
    }

    fn enc(&mut self, v: &Value, depth: u32) -> Result<Portable, Value> {
        if depth > MAX_DEPTH {
            return err("ValueError", "value is nested too deeply to send");
        }
        let d = depth + 1;
        macro_rules! once {
            ($rc:expr) => {
                if let Err(n) = self.first(Rc::as_ptr($rc) as *const () as usize) {
                    return Ok(Portable::Seen(n));
                }
            };
        }
        Ok(match v {
            Value::None | Value::Undefined => Portable::None,
            Value::Bool(b) => Portable::Bool(*b),
            Value::Int(i) => Portable::Int(*i),
            Value::Float(f) => Portable::Float(*f),
            Value::Str(s) => Portable::Str(s.to_string()),
            Value::Range(r) => Portable::Range(r.start, r.end, r.step),
            Value::List(l) => {
                once!(l);
                let items = l.borrow().iter().map(|x| self.enc(x, d)).collect::<Result<_, _>>()?;
                Portable::List(items)
            }
            Value::Map(m) => {
                once!(m);
                let mut out = Vec::new();
                for (k, x) in m.borrow().iter() {
                    let k = match k {
                        Key::Int(i) => PKey::Int(*i),
                        Key::Bool(b) => PKey::Bool(*b),
                        Key::Str(s) => PKey::Str(s.to_string()),
                    };
                    out.push((k, self.enc(x, d)?));
                }
                Portable::Map(out)
            }
            Value::Cell(c) => {
                let addr = Rc::as_ptr(c) as *const () as usize;
                if let Err(n) = self.first(addr) {
                    return Ok(Portable::Seen(n));
                }
                self.pending.push(c.clone());
                Portable::Cell(self.pending.len() as u32 - 1)
            }
            Value::Func(c) => {
                once!(c);
                let upvals = c.upvals.iter().map(|u| self.enc(&Value::Cell(u.clone()), d)).collect::<Result<_, _>>()?;
                self.funcs.push(c.func_index);
                Portable::Func { func: c.func_index, upvals }
            }
            Value::Native(n) => match BUILTINS.iter().position(|b| *b == n.name) {
                Some(i) if std::ptr::eq(&super::builtins::BUILTIN_FNS[i], *n) => Portable::Builtin(i as u32),
                _ => return err("TypeError", format!("the library function `{}` cannot be sent", n.name)),
            },
            Value::Bound(b) => Portable::Bound { receiver: Box::new(self.enc(&b.receiver, d)?), method: Box::new(self.enc(&b.method, d)?) },
            Value::Class(c) => {
                once!(c);
                self.class(c, d)?
            }
            Value::Instance(i) => {
                once!(i);
                let class = Box::new(self.enc(&Value::Class(i.class.clone()), d)?);
                let mut fields = Vec::new();
                for (k, x) in i.fields.borrow().iter() {
                    fields.push((k.to_string(), self.enc(x, d)?));
                }
                Portable::Instance { class, fields }
            }
            Value::Error(e) => {
                Portable::Error { kind: e.kind.to_string(), message: e.message.to_string(), trace: e.trace.borrow().clone() }
            }
            Value::Future(f) if f.promise.get().0 != 0 => {
                let (id, owner) = f.promise.get();
                Portable::Promise { id, owner: owner as u32 }
            }
            Value::Future(_) => return err("TypeError", "a future cannot be sent (send its result instead)"),
            Value::Module(m) => Portable::Module { index: m.index, name: m.name.to_string() },
            Value::Actor(a) => Portable::Actor(super::host::ActorRef(a.clone())),
            Value::Matrix(m) => Portable::Matrix(super::matrix::Shared(m.clone())),
            Value::Object(o) => {
                let (module, data) = o.portable()?;
                Portable::Object { module: module.to_string(), data }
            }
            Value::Iter(_) => return err("TypeError", "an iterator cannot be sent"),
            Value::Set(s) => Portable::Set(s.borrow().iter().map(pkey).collect()),
        })
    }

    fn class(&mut self, c: &Rc<Class>, d: u32) -> Result<Portable, Value> {
        let parent = match &c.parent {
            Some(p) => Some(Box::new(self.enc(&Value::Class(p.clone()), d)?)),
            None => None,
        };
        let mut methods = Vec::new();
        for (name, m) in &c.methods {
            methods.push((name.to_string(), self.enc(&Value::Func(m.clone()), d)?));
        }
        let states = c.actor.as_ref().map(|a| a.states.iter().map(|s| s.to_string()).collect());
        Ok(Portable::Class { name: c.name.to_string(), parent, methods, states })
    }
}

impl Vm {
    /// Encode `v` for another worker: also the module-level `let` values its
    /// functions read, which that worker may not have (it did not run the
    /// module's top level), so a lambda sent to an actor there works.
    pub(crate) fn portable_for_worker(&self, v: &Value) -> Result<Packet, Value> {
        let mut e = Encoder::default();
        let root = e.enc(v, 0)?;
        let mut p = e.finish(root)?;
        self.attach_globals(&mut p, std::mem::take(&mut e.funcs));
        Ok(p)
    }

    /// `to_portable_args` with the globals (see `portable_for_worker`).
    pub(crate) fn portable_args_for_worker(&self, args: &[Value]) -> Result<Packet, Value> {
        let mut e = Encoder::default();
        let mut items = Vec::with_capacity(args.len());
        for a in args {
            items.push(e.enc(a, 1)?);
        }
        let mut p = e.finish(Portable::List(items))?;
        self.attach_globals(&mut p, std::mem::take(&mut e.funcs));
        Ok(p)
    }

    fn attach_globals(&self, p: &mut Packet, mut work: Vec<u32>) {
        let mut done: rustc_hash::FxHashSet<(u32, u32)> = Default::default();
        while let Some(f) = work.pop() {
            for &(m, s) in self.func_globals(f).iter() {
                if !done.insert((m, s)) {
                    continue;
                }
                let Some(md) = self.modules.get(m as usize) else { continue };
                let Some(v) = md.globals.get(s as usize) else { continue };
                // `var`s are not shared between actors; values that cannot
                // travel (futures) stay behind and read as undefined there.
                if matches!(v, Value::Undefined) || md.mutable.get(s as usize).copied().unwrap_or(false) {
                    continue;
                }
                let mut e = Encoder::default();
                let Ok(gp) = e.enc(v, 0).and_then(|root| e.finish(root)) else { continue };
                work.append(&mut e.funcs);
                p.globals.push((m, s, gp));
            }
        }
    }

    /// Rebuild a value received from another VM running the same program.
    pub fn from_portable(&self, p: &Packet) -> Result<Value, Value> {
        let mut d = Decoder { vm: self, seen: Vec::new(), cells: Vec::new(), depth: 0 };
        let root = d.dec(&p.root)?;
        d.finish_cells(p)?;
        self.receive_globals(p)?;
        Ok(root)
    }

    /// Module-level values that came with a packet and are not defined here
    /// yet: installed before the next task step (`install_received_globals`).
    fn receive_globals(&self, p: &Packet) -> Result<(), Value> {
        for (m, s, gp) in &p.globals {
            let undefined =
                self.modules.get(*m as usize).and_then(|md| md.globals.get(*s as usize)).is_some_and(|v| matches!(v, Value::Undefined));
            if undefined {
                let v = self.from_portable(gp)?;
                self.received_globals.borrow_mut().push((*m, *s, v));
            }
        }
        Ok(())
    }

    pub(crate) fn install_received_globals(&mut self) {
        for (m, s, v) in self.received_globals.take() {
            if let Some(g) = self.modules.get_mut(m as usize).and_then(|md| md.globals.get_mut(s as usize)) {
                if matches!(g, Value::Undefined) {
                    *g = v;
                }
            }
        }
    }
}

impl Vm {
    /// Rebuild a message's arguments (encoded by `to_portable_args`).
    pub fn from_portable_args(&self, p: &Packet) -> Result<Vec<Value>, Value> {
        let Portable::List(items) = &p.root else {
            return Err(bad("message arguments are not a list"));
        };
        let mut d = Decoder { vm: self, seen: Vec::new(), cells: Vec::new(), depth: 0 };
        let mut out = Vec::with_capacity(items.len());
        for x in items {
            out.push(d.dec(x)?);
        }
        d.finish_cells(p)?;
        self.receive_globals(p)?;
        Ok(out)
    }
}

struct Decoder<'a> {
    vm: &'a Vm,
    seen: Vec<Value>,
    cells: Vec<Rc<RefCell<Value>>>,
    depth: u32,
}

fn bad(what: &str) -> Value {
    Value::error("ValueError", format!("malformed value received: {what}"))
}

impl Decoder<'_> {
    /// Fill the captured variables met while decoding.
    fn finish_cells(&mut self, p: &Packet) -> Result<(), Value> {
        let mut i = 0;
        while i < self.cells.len() {
            let content = p.cells.get(i).ok_or_else(|| bad("missing captured variable"))?;
            let v = self.dec(content)?;
            *self.cells[i].borrow_mut() = v;
            i += 1;
        }
        Ok(())
    }

    /// Decode with a nesting limit: packets may come from the network.
    fn dec(&mut self, p: &Portable) -> Result<Value, Value> {
        if self.depth > MAX_DEPTH {
            return Err(bad("nested too deeply"));
        }
        self.depth += 1;
        let r = self.dec_inner(p);
        self.depth -= 1;
        r
    }

    fn dec_inner(&mut self, p: &Portable) -> Result<Value, Value> {
        Ok(match p {
            Portable::None => Value::None,
            Portable::Bool(b) => Value::Bool(*b),
            Portable::Int(i) => Value::Int(*i),
            Portable::Float(f) => Value::Float(*f),
            Portable::Str(s) => Value::str(s),
            Portable::Range(a, b, c) => Value::Range(Rc::new(RangeObj { start: *a, end: *b, step: *c })),
            Portable::Seen(n) => self.seen.get(*n as usize).cloned().ok_or_else(|| bad("dangling reference"))?,
            Portable::List(items) => {
                let l = Rc::new(RefCell::new(ListVec::new()));
                self.seen.push(Value::List(l.clone()));
                for x in items {
                    let v = self.dec(x)?;
                    l.borrow_mut().push(v);
                }
                Value::List(l)
            }
            Portable::Set(keys) => Value::Set(Rc::new(RefCell::new(keys.iter().map(key_of).collect()))),
            Portable::Map(entries) => {
                let m = Rc::new(RefCell::new(MapInner::default()));
                self.seen.push(Value::Map(m.clone()));
                for (k, x) in entries {
                    let k = match k {
                        PKey::Int(i) => Key::Int(*i),
                        PKey::Bool(b) => Key::Bool(*b),
                        PKey::Str(s) => Key::Str(Rc::new(s.clone())),
                    };
                    let v = self.dec(x)?;
                    m.borrow_mut().insert(k, v);
                }
                Value::Map(m)
            }
            Portable::Cell(n) => {
                if *n as usize != self.cells.len() {
                    return Err(bad("captured variables out of order"));
                }
                let c = Rc::new(RefCell::new(Value::None));
                self.seen.push(Value::Cell(c.clone()));
                self.cells.push(c.clone());
                Value::Cell(c)
            }
            Portable::Func { func, upvals } => {
                let proto = self.vm.functions.get(*func as usize).ok_or_else(|| bad("unknown function"))?.clone();
                if proto.upvals.len() != upvals.len() {
                    return Err(bad("captured variables do not match the function"));
                }
                // Number the closure before its upvalues, as the encoder did.
                let slot = self.seen.len();
                self.seen.push(Value::None);
                let mut cells = Vec::with_capacity(upvals.len());
                for u in upvals {
                    match self.dec(u)? {
                        Value::Cell(c) => cells.push(c),
                        _ => return Err(bad("a captured variable is not a cell")),
                    }
                }
                let f = Value::Func(Rc::new(Closure::new(proto, *func, cells)));
                self.seen[slot] = f.clone();
                f
            }
            Portable::Builtin(i) => Value::Native(super::builtins::BUILTIN_FNS.get(*i as usize).ok_or_else(|| bad("unknown built-in"))?),
            Portable::Bound { receiver, method } => {
                let receiver = self.dec(receiver)?;
                let method = self.dec(method)?;
                Value::Bound(Rc::new(BoundMethod { receiver, method }))
            }
            Portable::Class { name, parent, methods, states } => {
                let slot = self.seen.len();
                self.seen.push(Value::None);
                let parent = match parent {
                    Some(p) => match self.dec(p)? {
                        Value::Class(c) => Some(c),
                        _ => return Err(bad("a parent that is not a class")),
                    },
                    None => None,
                };
                let mut table = indexmap::IndexMap::with_hasher(Default::default());
                for (n, m) in methods {
                    match self.dec(m)? {
                        Value::Func(c) => {
                            table.insert(Rc::from(n.as_str()), c);
                        }
                        _ => return Err(bad("a method that is not a function")),
                    }
                }
                let actor = states.as_ref().map(|s| Rc::new(ActorMeta { states: s.iter().map(|x| Rc::from(x.as_str())).collect() }));
                let cls = Rc::new(Class { name: Rc::from(name.as_str()), parent, methods: table, actor });
                for m in cls.methods.values() {
                    *m.owner.borrow_mut() = Some(Rc::downgrade(&cls));
                }
                let v = Value::Class(cls);
                self.seen[slot] = v.clone();
                v
            }
            Portable::Instance { class, fields } => {
                let slot = self.seen.len();
                self.seen.push(Value::None);
                let Value::Class(class) = self.dec(class)? else {
                    return Err(bad("an instance of something that is not a class"));
                };
                let inst = Rc::new(Instance { class, fields: Default::default() });
                self.seen[slot] = Value::Instance(inst.clone());
                for (k, x) in fields {
                    let v = self.dec(x)?;
                    inst.fields.borrow_mut().insert(Rc::from(k.as_str()), v);
                }
                Value::Instance(inst)
            }
            Portable::Actor(a) => Value::Actor(a.0.clone()),
            Portable::Matrix(m) => Value::Matrix(m.0.clone()),
            Portable::Object { module, data } => self.vm.revive_object(module, data)?,
            Portable::Promise { id, owner } => {
                Value::Future(self.vm.host("receiving a promise")?.receive_promise(self.vm, *id, *owner as usize))
            }
            Portable::Module { index: Some(i), .. } => match self.vm.modules.get(*i as usize) {
                Some(m) => Value::Module(m.obj.clone()),
                None => return Err(bad("unknown module")),
            },
            Portable::Module { index: None, name } => match self.vm.library.iter().find(|m| m.name == name) {
                Some(m) => super::native::build_module(m),
                None => return Err(bad("unknown library module")),
            },
            Portable::Error { kind, message, trace } => {
                let e = Value::error(kind, message);
                if let Value::Error(eo) = &e {
                    *eo.trace.borrow_mut() = trace.clone();
                }
                e
            }
        })
    }
}

impl Packet {
    /// Whether the value is plain data, which outlives the program that made
    /// it (a `db` value, a durable actor's state): no functions, futures,
    /// actors, instances or handles. The error names what is not.
    pub fn plain_data(&self) -> Result<(), String> {
        storable(&self.root).and_then(|_| self.cells.iter().try_for_each(storable))
    }
}

/// Only plain data is stored: no functions, futures, actors or handles.
fn pkey(k: &Key) -> PKey {
    match k {
        Key::Int(i) => PKey::Int(*i),
        Key::Bool(b) => PKey::Bool(*b),
        Key::Str(s) => PKey::Str(s.to_string()),
    }
}

fn key_of(k: &PKey) -> Key {
    match k {
        PKey::Int(i) => Key::Int(*i),
        PKey::Bool(b) => Key::Bool(*b),
        PKey::Str(s) => Key::Str(Rc::new(s.clone())),
    }
}

fn storable(p: &Portable) -> Result<(), String> {
    match p {
        Portable::None
        | Portable::Bool(_)
        | Portable::Int(_)
        | Portable::Float(_)
        | Portable::Str(_)
        | Portable::Range(..)
        | Portable::Seen(_)
        | Portable::Set(_)
        | Portable::Matrix(_) => Ok(()),
        Portable::List(items) => items.iter().try_for_each(storable),
        Portable::Map(entries) => entries.iter().try_for_each(|(_, v)| storable(v)),
        Portable::Func { .. } | Portable::Builtin(_) | Portable::Bound { .. } | Portable::Cell(_) => Err("a function".into()),
        Portable::Class { .. } | Portable::Instance { .. } => Err("a class instance (store a map instead)".into()),
        Portable::Error { .. } => Err("an error".into()),
        Portable::Actor(_) => Err("an actor reference".into()),
        Portable::Promise { .. } => Err("a future".into()),
        Portable::Module { .. } => Err("a module".into()),
        Portable::Object { module, .. } => Err(format!("a {module} handle")),
    }
}
