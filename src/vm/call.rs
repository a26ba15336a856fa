//! Calls: binding arguments to parameters, pushing frames, methods, classes,
//! and re-entrant calls from native code.

use super::value::*;
use super::*;
use crate::bytecode::Instr;

type NativeArgs = smallvec::SmallVec<[Value; 4]>;

pub(crate) enum CallOutcome {
    /// A Noodle frame was pushed; the dispatch loop continues in it.
    Pushed,
    /// The call completed (native); its result is in the callee slot.
    Done,
}

impl Vm {
    pub(crate) fn push_frame(&mut self, closure: Rc<Closure>, base: usize, ret: usize, kind: FrameKind) -> Result<(), Value> {
        if self.frames.len() >= self.depth_limit {
            return err("StackOverflowError", format!("maximum call depth of {} exceeded", self.max_depth));
        }
        let need = base + closure.func.num_regs as usize + 1;
        if self.stack.len() < need {
            self.stack.resize(need.max(self.stack.len() * 2), Value::None);
        }
        self.frames.push(Frame { closure, pc: 0, base, ret, kind });
        Ok(())
    }

    /// `frames.push`, but reserving first so the frame is written field by
    /// field in place rather than built on the stack and copied, which stalls
    /// store forwarding on every call (measured: ~25% on `bench/fib.nd`).
    #[inline(always)]
    pub(crate) fn push_frame_in_place(&mut self, closure: Rc<Closure>, base: usize, ret: usize, kind: FrameKind) {
        self.frames.reserve(1);
        let len = self.frames.len();
        // SAFETY: capacity for one more frame was reserved just above, and
        // every field is written before the length covers it.
        unsafe {
            let slot = self.frames.as_mut_ptr().add(len);
            std::ptr::addr_of_mut!((*slot).closure).write(closure);
            std::ptr::addr_of_mut!((*slot).pc).write(0);
            std::ptr::addr_of_mut!((*slot).base).write(base);
            std::ptr::addr_of_mut!((*slot).ret).write(ret);
            std::ptr::addr_of_mut!((*slot).kind).write(kind);
            self.frames.set_len(len + 1);
        }
    }

    /// Place arguments (already at `base + self_regs..`) into parameter order.
    /// `argc` counts the arguments given, the last `names.len()` of them named.
    pub(crate) fn bind_args(&mut self, closure: &Closure, base: usize, argc: usize, names: Option<&[String]>) -> Result<(), Value> {
        let f = &closure.func;
        let first = f.is_method as usize;
        let nparams = f.params.len();
        let named = names.map_or(0, |n| n.len());
        let mut positional = argc - named;
        let variadic = f.params.last().is_some_and(|p| p.rest);
        if names.is_none() && argc == nparams && !variadic {
            return Ok(());
        }
        if positional > nparams && !variadic {
            return err("TypeError", crate::bytecode::arity_message(&f.name, &nparams.to_string(), nparams != 1, positional));
        }
        let need = base + first + nparams.max(argc) + 1;
        if self.stack.len() < need {
            self.stack.resize(need, Value::None);
        }
        let mut named_vals = Vec::with_capacity(named);
        for i in 0..named {
            named_vals.push(std::mem::take(&mut self.stack[base + first + positional + i]));
        }
        if variadic {
            // The positional arguments past the fixed ones, as one list.
            let fixed = nparams - 1;
            let args = base + first;
            let rest: ListVec = (fixed..positional.max(fixed)).map(|i| std::mem::take(&mut self.stack[args + i])).collect();
            self.stack[args + fixed] = Value::list_from(rest);
            positional = positional.min(fixed);
        }
        for i in positional..nparams {
            if !(variadic && i + 1 == nparams) {
                self.stack[base + first + i] = Value::Undefined;
            }
        }
        if let Some(names) = names {
            for (n, v) in names.iter().zip(named_vals) {
                match f.params.iter().position(|p| p.name == *n) {
                    Some(i) if variadic && i + 1 == nparams => {
                        return err("TypeError", format!("`{}` takes `..{n}` by position only", f.name));
                    }
                    Some(i) if i < positional || !matches!(self.stack[base + first + i], Value::Undefined) => {
                        return err("TypeError", format!("`{}` got argument `{n}` twice", f.name));
                    }
                    Some(i) => self.stack[base + first + i] = v,
                    None => return err("TypeError", format!("`{}` has no parameter `{n}`", f.name)),
                }
            }
        }
        let missing: Vec<&str> = f
            .params
            .iter()
            .enumerate()
            .filter(|(i, p)| !p.has_default && matches!(self.stack[base + first + i], Value::Undefined))
            .map(|(_, p)| p.name.as_str())
            .collect();
        if !missing.is_empty() {
            return err(
                "TypeError",
                format!("`{}` is missing argument{} `{}`", f.name, if missing.len() == 1 { "" } else { "s" }, missing.join("`, `")),
            );
        }
        Ok(())
    }

    /// `f(..xs)`: the list in `stack[slot + 1]` becomes the positional
    /// arguments, the `named` values after it follow them.
    pub(crate) fn setup_spread_call(&mut self, slot: usize, named: usize, names: &[String]) -> Result<CallOutcome, Value> {
        let items = super::patterns::items_of(&self.stack[slot + 1])?;
        let kw: Vec<Value> = (0..named).map(|i| std::mem::take(&mut self.stack[slot + 2 + i])).collect();
        let argc = items.len() + named;
        let need = slot + 2 + argc;
        if self.stack.len() < need {
            self.stack.resize(need, Value::None);
        }
        for (i, v) in items.into_iter().chain(kw).enumerate() {
            self.stack[slot + 1 + i] = v;
        }
        let names = (named > 0).then_some(names);
        self.setup_call(slot, argc, names)
    }

    /// Call the value in `stack[slot]` with `argc` arguments after it.
    pub(crate) fn setup_call(&mut self, slot: usize, argc: usize, names: Option<&[String]>) -> Result<CallOutcome, Value> {
        let callee = self.stack[slot].clone();
        match callee {
            Value::Func(c) => {
                if c.func.is_method {
                    return err("TypeError", "a method must be called on an instance");
                }
                self.bind_args(&c, slot + 1, argc, names)?;
                self.push_frame(c, slot + 1, slot, FrameKind::Normal)?;
                Ok(CallOutcome::Pushed)
            }
            Value::Bound(b) => match &b.method {
                Value::Func(c) => {
                    self.stack[slot] = b.receiver.clone();
                    self.bind_args(c, slot, argc, names)?;
                    self.push_frame(c.clone(), slot, slot, FrameKind::Normal)?;
                    Ok(CallOutcome::Pushed)
                }
                Value::Str(name) => {
                    let (args, kw) = self.take_args(slot, argc, names);
                    let v = methods::call_method(self, &b.receiver, name, &args, &kw)?;
                    self.stack[slot] = v;
                    self.done_or_wait()
                }
                _ => err("TypeError", "bad bound method"),
            },
            Value::Class(cls) => {
                let inst = Value::Instance(Rc::new(Instance { class: cls.clone(), fields: Default::default() }));
                match cls.find_method("init").cloned() {
                    Some(init) => {
                        self.stack[slot] = inst;
                        self.bind_args(&init, slot, argc, names)?;
                        self.push_frame(init, slot, slot, FrameKind::Init)?;
                        Ok(CallOutcome::Pushed)
                    }
                    None => {
                        if argc > 0 {
                            return err("TypeError", format!("`{}` has no `init`, so it takes no arguments ({argc} given)", cls.name));
                        }
                        self.stack[slot] = inst;
                        Ok(CallOutcome::Done)
                    }
                }
            }
            Value::Native(n) => {
                let (args, kw) = self.take_args(slot, argc, names);
                let v = (n.f)(self, &args, &kw)?;
                self.stack[slot] = v;
                self.done_or_wait()
            }
            Value::Undefined => err("NameError", "a function is called before its definition"),
            other => err("TypeError", format!("{} is not callable", other.type_name())),
        }
    }

    /// After a native call: `Done`, or — when a send in it filled a mailbox
    /// and the task must wait for room — an `Err` that suspends the task; the
    /// caller saved the pc of the next instruction, where it resumes.
    #[inline]
    fn done_or_wait(&self) -> Result<CallOutcome, Value> {
        if self.halt.is_some() {
            return Err(Value::None);
        }
        Ok(CallOutcome::Done)
    }

    /// Move a native call's arguments out of the call window (its registers are
    /// temporaries), without a heap allocation for up to four of them.
    fn take_args(&mut self, slot: usize, argc: usize, names: Option<&[String]>) -> (NativeArgs, Vec<(Rc<str>, Value)>) {
        let named = names.map_or(0, |n| n.len());
        let positional = argc - named;
        let args: NativeArgs = self.stack[slot + 1..slot + 1 + positional].iter_mut().map(std::mem::take).collect();
        let kw = match names {
            Some(ns) => ns
                .iter()
                .enumerate()
                .map(|(i, n)| (Rc::from(n.as_str()), std::mem::take(&mut self.stack[slot + 1 + positional + i])))
                .collect(),
            None => Vec::new(),
        };
        (args, kw)
    }

    /// `recv.name(args)` with the receiver in `stack[slot]`.
    pub(crate) fn setup_method_call(
        &mut self,
        slot: usize,
        name: &str,
        argc: usize,
        names: Option<&[String]>,
    ) -> Result<CallOutcome, Value> {
        let recv = self.stack[slot].clone();
        match &recv {
            Value::Instance(inst) => {
                if let Some(m) = inst.class.find_method(name).cloned() {
                    self.bind_args(&m, slot, argc, names)?;
                    self.push_frame(m, slot, slot, FrameKind::Normal)?;
                    return Ok(CallOutcome::Pushed);
                }
                if inst.class.actor.is_some() && matches!(name, "stop" | "checkpoint") {
                    let (args, kw) = self.take_args(slot, argc, names);
                    self.stack[slot] = self.host(name)?.self_call(self, name, &args, &kw)?;
                    return Ok(CallOutcome::Done);
                }
                let field = inst.fields.borrow().get(name).cloned();
                match field {
                    Some(f) => {
                        self.stack[slot] = f;
                        self.setup_call(slot, argc, names)
                    }
                    None => Err(no_member(inst, name, "method")),
                }
            }
            Value::Module(_) => {
                let f = self.get_field(&recv, name)?;
                self.stack[slot] = f;
                self.setup_call(slot, argc, names)
            }
            Value::Actor(cell) => {
                if names.is_some() {
                    return err("TypeError", "messages take positional arguments");
                }
                let (args, _) = self.take_args(slot, argc, None);
                self.stack[slot] = self.host("an actor call")?.ask(self, cell, name, &args)?;
                self.done_or_wait()
            }
            _ => {
                let (args, kw) = self.take_args(slot, argc, names);
                let v = methods::call_method(self, &recv, name, &args, &kw)?;
                self.stack[slot] = v;
                self.done_or_wait()
            }
        }
    }

    pub(crate) fn setup_super_call(&mut self, current: &Closure, slot: usize, name: &str, argc: usize) -> Result<CallOutcome, Value> {
        let owner = current.owner.borrow().as_ref().and_then(|w| w.upgrade());
        let parent = owner.as_ref().and_then(|c| c.parent.clone());
        let Some(parent) = parent else {
            return err("TypeError", "`super` used outside a subclass method");
        };
        let Some(m) = parent.find_method(name).cloned() else {
            return err("TypeError", format!("{} has no method `{name}`", parent.name));
        };
        self.bind_args(&m, slot, argc, None)?;
        self.push_frame(m, slot, slot, FrameKind::Normal)?;
        Ok(CallOutcome::Pushed)
    }

    /// Call a value from native code (e.g. a `sort` key) and run it to completion.
    pub fn call_value(&mut self, f: &Value, args: &[Value]) -> Result<Value, Value> {
        if self.native_depth > 200 {
            return err("StackOverflowError", "too many nested calls through built-in functions");
        }
        let top = self.frames.last().map(|f| f.base + f.closure.func.num_regs as usize + 1).unwrap_or(0);
        let need = top + args.len() + 2;
        if self.stack.len() < need {
            self.stack.resize(need, Value::None);
        }
        self.stack[top] = f.clone();
        for (i, a) in args.iter().enumerate() {
            self.stack[top + 1 + i] = a.clone();
        }
        let depth = self.frames.len();
        match self.setup_call(top, args.len(), None)? {
            CallOutcome::Done => Ok(std::mem::take(&mut self.stack[top])),
            CallOutcome::Pushed => {
                self.native_depth += 1;
                let r = self.run_frames(depth);
                self.native_depth -= 1;
                r
            }
        }
    }

    pub(crate) fn get_field(&self, obj: &Value, name: &str) -> Result<Value, Value> {
        match obj {
            Value::Instance(inst) => {
                if let Some(v) = inst.fields.borrow().get(name) {
                    return Ok(v.clone());
                }
                if inst.class.actor.is_some() {
                    if let Some(v) = self.host.clone().and_then(|h| h.self_field(self, name)) {
                        return Ok(v);
                    }
                }
                match inst.class.find_method(name) {
                    Some(m) => Ok(Value::Bound(Rc::new(BoundMethod { receiver: obj.clone(), method: Value::Func(m.clone()) }))),
                    None => Err(no_member(inst, name, "field")),
                }
            }
            Value::Module(m) => {
                if let Some(idx) = m.index {
                    let rt = &self.modules[idx as usize];
                    match rt.slots.get(name) {
                        Some(s) => match &rt.globals[*s] {
                            Value::Undefined => err("NameError", format!("`{}.{name}` is used before it is defined", m.name)),
                            v => Ok(v.clone()),
                        },
                        None => err("NameError", format!("module `{}` has no member `{name}`", m.name)),
                    }
                } else {
                    match m.members.borrow().get(name) {
                        Some(v) => Ok(v.clone()),
                        None => err("NameError", format!("module `{}` has no member `{name}`", m.name)),
                    }
                }
            }
            Value::Matrix(m) if super::matrix::field(m, name).is_some() => Ok(super::matrix::field(m, name).unwrap_or(Value::None)),
            Value::Actor(a) => match name {
                "id" => Ok(Value::str(&a.id_str)),
                "name" => Ok(a.name.as_ref().map_or(Value::None, |n| Value::str(n))),
                _ if a.has_handler(name) => Ok(Value::Bound(Rc::new(BoundMethod { receiver: obj.clone(), method: Value::str(name) }))),
                _ => err("TypeError", format!("actor {} has no handler `{name}`", a.class_name)),
            },
            Value::Error(e) => match name {
                "message" => Ok(Value::str(&e.message)),
                "kind" => Ok(Value::str(&e.kind)),
                "trace" => Ok(Value::list(e.trace.borrow().iter().map(|s| Value::str(s.trim())).collect())),
                _ => err("TypeError", format!("error has no field `{name}`")),
            },
            Value::Range(r) => match name {
                "start" => Ok(Value::Int(r.start)),
                "end" => Ok(Value::Int(r.end)),
                "step" => Ok(Value::Int(r.step)),
                _ => err("TypeError", format!("range has no field `{name}`")),
            },
            Value::Class(c) => match c.find_method(name) {
                Some(m) => Ok(Value::Func(m.clone())),
                None => err("TypeError", format!("class {} has no method `{name}`", c.name)),
            },
            other => {
                if methods::has_method(other, name) {
                    Ok(Value::Bound(Rc::new(BoundMethod { receiver: other.clone(), method: Value::str(name) })))
                } else {
                    let mut names = methods::method_names(other);
                    if matches!(other, Value::Matrix(_)) {
                        names.extend(["rows", "cols", "shape", "T"]);
                    }
                    let hint = crate::suggest::hint(name, names).map(|h| format!(" ({h})")).unwrap_or_default();
                    err("TypeError", format!("{} has no field or method `{name}`{hint}", other.type_name()))
                }
            }
        }
    }

    pub(crate) fn make_class(&mut self, base: usize, ins: Instr) -> Result<Value, Value> {
        let (name, has_parent, methods, actor) = match &self.raw_consts[ins.c as usize] {
            crate::bytecode::Const::Class { name, has_parent, methods } => (name, has_parent, methods, None),
            crate::bytecode::Const::Actor { name, methods, states } => {
                (name, &false, methods, Some(Rc::new(ActorMeta { states: states.iter().map(|s| Rc::from(s.as_str())).collect() })))
            }
            _ => return err("TypeError", "internal: bad class descriptor"),
        };
        let b = base + ins.b as usize;
        let parent = if *has_parent {
            match &self.stack[b] {
                Value::Class(c) => Some(c.clone()),
                other => return err("TypeError", format!("class {name} can only extend a class, not {}", other.type_name())),
            }
        } else {
            None
        };
        let mut table = indexmap::IndexMap::with_hasher(Default::default());
        for (i, m) in methods.iter().enumerate() {
            match &self.stack[b + 1 + i] {
                Value::Func(c) => {
                    table.insert(Rc::from(m.as_str()), c.clone());
                }
                _ => return err("TypeError", "internal: class method is not a function"),
            }
        }
        let cls = Rc::new(Class { name: Rc::from(name.as_str()), parent, methods: table, actor });
        for m in cls.methods.values() {
            *m.owner.borrow_mut() = Some(Rc::downgrade(&cls));
        }
        Ok(Value::Class(cls))
    }

    /// Check (and for `float`, convert) the value in `stack[slot]`.
    pub(crate) fn check_type(&mut self, slot: usize, tname: &str, param: u16, func: &crate::bytecode::Function) -> Result<(), Value> {
        let v = &self.stack[slot];
        let ok = match tname {
            "any" => true,
            "int" => matches!(v, Value::Int(_)),
            "float" => {
                if let Value::Int(i) = v {
                    self.stack[slot] = Value::Float(*i as f64);
                    return Ok(());
                }
                matches!(v, Value::Float(_))
            }
            "bool" => matches!(v, Value::Bool(_)),
            "str" => matches!(v, Value::Str(_)),
            "list" => matches!(v, Value::List(_)),
            "map" => matches!(v, Value::Map(_)),
            "range" => matches!(v, Value::Range(_)),
            "none" => matches!(v, Value::None),
            "error" => matches!(v, Value::Error(_)),
            "fn" => matches!(v, Value::Func(_) | Value::Native(_) | Value::Bound(_) | Value::Class(_)),
            "actor" => matches!(v, Value::Actor(_)),
            "future" => matches!(v, Value::Future(_)),
            "matrix" => matches!(v, Value::Matrix(_)),
            class => matches!(v, Value::Instance(i) if i.class.is_subclass_of(class)),
        };
        if ok {
            return Ok(());
        }
        let got = v.type_name().to_string();
        if param == 0xFFFF {
            err("TypeError", format!("`{}` must return {tname}, but returned {got}", func.name))
        } else {
            let pname = func.params.get(param as usize).map(|p| p.name.as_str()).unwrap_or("?");
            err("TypeError", format!("parameter `{pname}` of `{}` expects {tname}, got {got}", func.name))
        }
    }

    pub(crate) fn find_module_main(&self, m: usize) -> usize {
        self.modules[m].main as usize
    }
}

/// "Point has no field `nmae` (did you mean `name`?)": the instance's fields
/// and its class's methods (inherited ones too) are the candidates.
fn no_member(inst: &Instance, name: &str, what: &str) -> Value {
    let mut names: Vec<Rc<str>> = inst.fields.borrow().keys().cloned().collect();
    let mut class = Some(&inst.class);
    while let Some(c) = class {
        names.extend(c.methods.keys().filter(|m| !m.starts_with('$')).cloned());
        class = c.parent.as_ref();
    }
    let hint = crate::suggest::hint(name, names.iter().map(|n| &**n)).map(|h| format!(" ({h})")).unwrap_or_default();
    Value::error("TypeError", format!("{} has no {what} `{name}`{hint}", inst.class.name))
}
