//! The dispatch loop.

use super::call::CallOutcome;
use super::value::*;
use super::*;
use crate::bytecode::plural;
use crate::bytecode::{Const, Instr, Op};
use std::cell::RefCell;

/// Unwrap a result inside the dispatch loop; on error, save the pc first so the
/// stack trace points at the failing instruction.
macro_rules! tri {
    ($self:ident, $pc:expr, $e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => {
                $self.save_pc($pc);
                return Err(e);
            }
        }
    };
}

impl Vm {
    pub(super) fn save_pc(&mut self, pc: usize) {
        if let Some(f) = self.frames.last_mut() {
            f.pc = pc;
        }
    }

    /// Run the current task until it finishes, throws, awaits, uses up its
    /// time slice or exits (the scheduler's entry point).
    pub fn run(&mut self) -> Stop {
        let r = self.run_frames(0);
        let halt = self.halt.take();
        if let Some(code) = self.exit_code {
            return Stop::Exit(code);
        }
        match (halt, r) {
            (Some(Halt::Await { fut, after }), _) => Stop::Awaiting { fut, after },
            (Some(Halt::Yield), _) => Stop::Yielded,
            (None, Ok(v)) => Stop::Finished(v),
            (None, Err(e)) => Stop::Threw(e),
        }
    }

    /// Run until the frame count drops back to `stop`, catching errors in
    /// handlers that belong to frames above `stop`.
    pub(crate) fn run_frames(&mut self, stop: usize) -> Result<Value, Value> {
        loop {
            let r = match self.pending_throw.take() {
                Some(e) => Err(e),
                None => self.dispatch(stop),
            };
            match r {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if self.halt.is_some() {
                        // AWAIT (or a used-up time slice): the task stops
                        // here, frames intact.
                        return Err(e);
                    }
                    if self.exit_code.is_some() {
                        self.frames.truncate(stop);
                        return Err(e);
                    }
                    self.attach_trace(&e);
                    match self.handlers.last() {
                        Some(h) if h.frame >= stop && h.frame < self.frames.len() => {
                            let h = self.handlers.pop().expect("handler");
                            self.frames.truncate(h.frame + 1);
                            let f = self.frames.last_mut().expect("frame");
                            f.pc = h.pc;
                            let slot = f.base + h.reg as usize;
                            self.stack[slot] = e;
                        }
                        _ => {
                            self.frames.truncate(stop);
                            while self.handlers.last().is_some_and(|h| h.frame >= stop) {
                                self.handlers.pop();
                            }
                            return Err(e);
                        }
                    }
                }
            }
        }
    }

    fn dispatch(&mut self, stop: usize) -> Result<Value, Value> {
        // SAFETY, for every raw access below: the verifier proved each register
        // operand (and register run) lies below the function's `num_regs`, each
        // jump target inside its code, and that code ends in a terminator, so `pc`
        // never leaves the code. `push_frame`/`run_main` make
        // `stack.len() >= base + num_regs + 1` before a frame runs and the stack
        // never shrinks. `closure` and `code` point into the `Rc<Closure>` owned
        // by the current frame, which outlives its use here. `regs` and `globals`
        // are re-derived (`sync!`) after every call that may grow, and so move, the
        // stack, and after any out-of-line instruction.
        let mut closure: *const Closure;
        let mut code: *const Instr;
        let mut ip: *const Instr;
        let mut base: usize;
        let mut regs: *mut Value;
        // The current module's globals (the verifier checked global operands;
        // globals are only added between runs, by the REPL).
        let mut globals: *mut Value;

        macro_rules! reload {
            () => {{
                let f = self.frames.last().expect("frame");
                closure = Rc::as_ptr(&f.closure);
                code = f.closure.func.code.as_ptr();
                base = f.base;
                regs = self.stack.as_mut_ptr().wrapping_add(base);
                ip = code.wrapping_add(f.pc);
                globals = self.modules[f.closure.func.module as usize].globals.as_mut_ptr();
            }};
        }
        // The index of the next instruction, for traces and for resuming.
        macro_rules! pc {
            () => {
                // SAFETY: `ip` and `code` point into the same code vector.
                (unsafe { ip.offset_from(code) } as usize)
            };
        }
        macro_rules! sync {
            () => {{
                regs = self.stack.as_mut_ptr().wrapping_add(base);
                // SAFETY: `closure` is the current frame's (see above).
                globals = self.modules[unsafe { &*closure }.func.module as usize].globals.as_mut_ptr();
            }};
        }
        macro_rules! r {
            ($x:expr) => {
                (*{
                    let i = $x as usize;
                    // SAFETY: a verified register operand of the current frame (see above).
                    unsafe { &mut *regs.add(i) }
                })
            };
        }
        macro_rules! cl {
            () => {
                // SAFETY: `closure` is the current frame's (see above).
                unsafe { &*closure }
            };
        }
        // A global of the current module, as `&mut Value`.
        macro_rules! glob {
            ($x:expr) => {{
                let i = $x as usize;
                // SAFETY: a verified global operand of the current module (see above).
                unsafe { &mut *globals.add(i) }
            }};
        }
        macro_rules! func {
            () => {
                // SAFETY: `closure` is the current frame's (see above).
                (&unsafe { &*closure }.func)
            };
        }
        macro_rules! binop {
            ($ins:ident, $f:expr) => {{
                let v = tri!(self, pc!(), $f(&r!($ins.b), &r!($ins.c)));
                put(&mut r!($ins.a), v);
            }};
        }
        // `+ - *` with the int (checked) and float cases inline.
        // An operation on values the fast paths do not cover: instances may
        // run their special methods (program code, which may grow the stack).
        macro_rules! slow {
            ($op:expr, $x:expr, $y:expr) => {{
                let r = self.slow_op_at(pc!(), $op, $x, $y);
                sync!();
                tri!(self, pc!(), r)
            }};
        }
        macro_rules! arith {
            ($ins:ident, $checked:ident, $op:tt, $slow:path) => {{
                let v = match (&r!($ins.b), &r!($ins.c)) {
                    (Value::Int(x), Value::Int(y)) => match x.$checked(*y) {
                        Some(s) => Value::Int(s),
                        None => tri!(self, pc!(), err("OverflowError", concat!("integer overflow in ", stringify!($op)))),
                    },
                    (Value::Float(x), Value::Float(y)) => Value::Float(x $op y),
                    (Value::Int(x), Value::Float(y)) => Value::Float(*x as f64 $op y),
                    (Value::Float(x), Value::Int(y)) => Value::Float(x $op *y as f64),
                    (x, y) if special::is_instance(x) || special::is_instance(y) => slow!($ins.op, x, y),
                    (x, y) => tri!(self, pc!(), $slow(x, y)),
                };
                put(&mut r!($ins.a), v);
            }};
        }
        macro_rules! konst {
            ($c:expr) => {
                (&{
                    let i = $c as usize;
                    // SAFETY: a verified constant operand.
                    unsafe { &*self.raw_consts.as_ptr().add(i) }
                })
            };
        }
        // After popping a frame: drop its handlers and deliver `$v` to the
        // caller's slot `$ret`, leaving `dispatch` if that was its last frame.
        macro_rules! return_to_caller {
            ($ret:expr, $v:expr) => {{
                let (ret, v) = ($ret, $v);
                while self.handlers.last().is_some_and(|h| h.frame >= self.frames.len()) {
                    self.handlers.pop();
                }
                if self.frames.len() <= stop {
                    self.stack[ret] = v.clone();
                    return Ok(v);
                }
                put(&mut self.stack[ret], v);
                reload!();
            }};
        }
        macro_rules! after_call {
            ($outcome:expr) => {
                match $outcome {
                    Ok(CallOutcome::Pushed) => reload!(),
                    Ok(CallOutcome::Done) => {
                        if self.exit_code.is_some() {
                            return Err(Value::None);
                        }
                        sync!();
                    }
                    Err(e) => return Err(e),
                }
            };
        }
        reload!();

        loop {
            // SAFETY: `ip` is inside the code (see above).
            let ins = unsafe { *ip };
            ip = ip.wrapping_add(1);
            match ins.op {
                Op::Nop => {}
                Op::Move => {
                    let v = r!(ins.b).clone();
                    put(&mut r!(ins.a), v);
                }
                Op::LoadK => put(&mut r!(ins.a), self.consts[ins.c as usize].clone()),
                Op::LoadNone => put(&mut r!(ins.a), Value::None),
                Op::LoadBool => put(&mut r!(ins.a), Value::Bool(ins.b != 0)),
                Op::LoadInt => put(&mut r!(ins.a), Value::Int(ins.c as i32 as i64)),
                Op::LoadGlobal => {
                    let v = glob!(ins.c);
                    if let Value::Undefined = v {
                        let name = self.modules[func!().module as usize].global_names[ins.c as usize].clone();
                        tri!(self, pc!(), err::<()>("NameError", format!("`{name}` is used before it is defined")));
                    }
                    put(&mut r!(ins.a), v.clone());
                }
                Op::StoreGlobal => {
                    let v = r!(ins.a).clone();
                    put(glob!(ins.c), v);
                }
                Op::LoadBuiltin => put(&mut r!(ins.a), Value::Native(&builtins::BUILTIN_FNS[ins.c as usize])),
                Op::NewCell => {
                    let v = std::mem::take(&mut r!(ins.a));
                    put(&mut r!(ins.a), Value::Cell(Rc::new(RefCell::new(v))));
                }
                Op::LoadCell => {
                    let v = match &r!(ins.b) {
                        Value::Cell(c) => c.borrow().clone(),
                        _ => tri!(self, pc!(), err("TypeError", "internal: not a cell")),
                    };
                    if let Value::Undefined = v {
                        tri!(self, pc!(), err::<()>("NameError", "a name is used before its definition"));
                    }
                    put(&mut r!(ins.a), v);
                }
                Op::StoreCell => {
                    let v = r!(ins.b).clone();
                    let track = gc::may_cycle(&v);
                    match &r!(ins.a) {
                        Value::Cell(c) => *c.borrow_mut() = v,
                        _ => tri!(self, pc!(), err("TypeError", "internal: not a cell")),
                    }
                    if track {
                        gc::note_container(&r!(ins.a));
                    }
                }
                Op::LoadUpval => {
                    let v = cl!().upvals[ins.c as usize].borrow().clone();
                    if let Value::Undefined = v {
                        tri!(self, pc!(), err::<()>("NameError", "a captured name is used before its definition"));
                    }
                    put(&mut r!(ins.a), v);
                }
                Op::StoreUpval => {
                    let v = r!(ins.a).clone();
                    let track = gc::may_cycle(&v);
                    let cell = &cl!().upvals[ins.c as usize];
                    *cell.borrow_mut() = v;
                    if track {
                        gc::note_container(&Value::Cell(cell.clone()));
                    }
                }
                Op::Closure
                | Op::NewMap
                | Op::NewRange
                | Op::GetIndex2
                | Op::Slice
                | Op::GetField
                | Op::SetField
                | Op::IterInit
                | Op::Concat
                | Op::Format
                | Op::FormatWith
                | Op::Throw
                | Op::ThrowKind
                | Op::ListPush
                | Op::ListExtend
                | Op::UnpackRest
                | Op::MatchList
                | Op::HasKey
                | Op::Is
                | Op::MakeClass
                | Op::CheckType
                | Op::ImportNative
                | Op::Spawn
                | Op::Tell
                | Op::MatMul => {
                    // Rarer instructions run out of line, which keeps this loop's
                    // hot state in machine registers.
                    // (A send that filled a mailbox returns `Err` with the task
                    // suspended: it resumes after this instruction.)
                    let r = self.exec_cold(ins, base, cl!());
                    tri!(self, pc!(), r);
                    sync!();
                }
                Op::Add => arith!(ins, checked_add, +, ops::add),
                Op::Sub => arith!(ins, checked_sub, -, ops::sub),
                Op::Mul => arith!(ins, checked_mul, *, ops::mul),
                Op::Div => {
                    let v = match (&r!(ins.b), &r!(ins.c)) {
                        (Value::Float(x), Value::Float(y)) if *y != 0.0 => Value::Float(x / y),
                        (Value::Int(x), Value::Int(y)) if *y != 0 => Value::Float(*x as f64 / *y as f64),
                        (Value::Int(x), Value::Float(y)) if *y != 0.0 => Value::Float(*x as f64 / y),
                        (Value::Float(x), Value::Int(y)) if *y != 0 => Value::Float(x / *y as f64),
                        (x, y) if special::is_instance(x) || special::is_instance(y) => slow!(Op::Div, x, y),
                        (x, y) => tri!(self, pc!(), ops::div(x, y)),
                    };
                    put(&mut r!(ins.a), v);
                }
                Op::FloorDiv => binop!(ins, ops::floor_div),
                Op::Mod => {
                    let v = match (&r!(ins.b), &r!(ins.c)) {
                        (Value::Int(x), Value::Int(y)) if *y > 0 => Value::Int(x.rem_euclid(*y)),
                        (x, y) => tri!(self, pc!(), ops::modulo(x, y)),
                    };
                    put(&mut r!(ins.a), v);
                }
                Op::Pow => binop!(ins, ops::pow),
                Op::BitAnd => binop!(ins, |a, b| ops::int_op("&", a, b)),
                Op::BitOr => binop!(ins, |a, b| ops::int_op("|", a, b)),
                Op::BitXor => binop!(ins, |a, b| ops::int_op("^", a, b)),
                Op::Shl => binop!(ins, |a, b| ops::int_op("<<", a, b)),
                Op::Shr => binop!(ins, |a, b| ops::int_op(">>", a, b)),
                Op::AddI | Op::AddIL => {
                    // `x + k` or `k + x`: both orders agree except in error messages.
                    let imm = ins.c as i32 as i64;
                    let v = match &r!(ins.b) {
                        Value::Int(x) => match x.checked_add(imm) {
                            Some(s) => Value::Int(s),
                            // `x - 1` compiles to `x + -1`: name the operator written.
                            None => tri!(
                                self,
                                pc!(),
                                err("OverflowError", if imm < 0 { "integer overflow in -" } else { "integer overflow in +" })
                            ),
                        },
                        Value::Float(x) => Value::Float(x + imm as f64),
                        x => {
                            let k = Value::Int(imm);
                            tri!(self, pc!(), if ins.op == Op::AddIL { ops::add(&k, x) } else { ops::add(x, &k) })
                        }
                    };
                    put(&mut r!(ins.a), v);
                }
                Op::Eq | Op::Ne => {
                    let v = match (&r!(ins.b), &r!(ins.c)) {
                        (x, y) if special::is_instance(x) || special::is_instance(y) => slow!(Op::Eq, x, y).truthy(),
                        (x, y) => fast_equal(x, y),
                    };
                    put(&mut r!(ins.a), Value::Bool(v == (ins.op == Op::Eq)));
                }
                Op::Lt => {
                    let v = match (&r!(ins.b), &r!(ins.c)) {
                        (Value::Int(x), Value::Int(y)) => x < y,
                        (Value::Float(x), Value::Float(y)) => x < y,
                        (x, y) if special::is_instance(x) || special::is_instance(y) => slow!(Op::Lt, x, y).truthy(),
                        (x, y) => tri!(self, pc!(), ops::less(x, y)),
                    };
                    put(&mut r!(ins.a), Value::Bool(v));
                }
                Op::Le => {
                    let v = match (&r!(ins.b), &r!(ins.c)) {
                        (Value::Int(x), Value::Int(y)) => x <= y,
                        (Value::Float(x), Value::Float(y)) => x <= y,
                        (x, y) if special::is_instance(x) || special::is_instance(y) => slow!(Op::Le, x, y).truthy(),
                        (x, y) => tri!(self, pc!(), ops::less_eq(x, y)),
                    };
                    put(&mut r!(ins.a), Value::Bool(v));
                }
                Op::In => {
                    let v = tri!(self, pc!(), ops::contains(&r!(ins.c), &r!(ins.b)));
                    put(&mut r!(ins.a), Value::Bool(v));
                }
                Op::Neg => {
                    let v = match &r!(ins.b) {
                        x if special::is_instance(x) => slow!(Op::Neg, x, &Value::None),
                        x => tri!(self, pc!(), ops::neg(x)),
                    };
                    put(&mut r!(ins.a), v);
                }
                Op::BitNot => {
                    let v = match &r!(ins.b) {
                        Value::Int(x) => Value::Int(!x),
                        x => tri!(self, pc!(), err("TypeError", format!("`~` needs an int, not {}", x.type_name()))),
                    };
                    put(&mut r!(ins.a), v);
                }
                Op::Not => {
                    let v = tri!(self, pc!(), self.truth(&r!(ins.b)));
                    put(&mut r!(ins.a), Value::Bool(!v));
                }
                Op::Jump => {
                    let target = code.wrapping_add(ins.c as usize);
                    // A backward jump is a loop iteration: tasks share their
                    // worker, so a long loop yields now and then.
                    self.budget = self.budget.wrapping_sub((target < ip) as u32);
                    ip = target;
                    if self.budget == 0 {
                        if self.preemptible && self.native_depth == 0 {
                            self.save_pc(ins.c as usize);
                            self.halt = Some(Halt::Yield);
                            return Err(Value::None);
                        }
                        self.budget = u32::MAX;
                    }
                }
                Op::JumpIfFalse => {
                    let t = match &r!(ins.a) {
                        Value::Bool(b) => *b,
                        v => tri!(self, pc!(), self.truth(v)),
                    };
                    if !t {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::JumpIfTrue => {
                    let t = match &r!(ins.a) {
                        Value::Bool(b) => *b,
                        v => tri!(self, pc!(), self.truth(v)),
                    };
                    if t {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::JumpIfNotLt => {
                    let t = match (&r!(ins.a), &r!(ins.b)) {
                        (Value::Int(x), Value::Int(y)) => x < y,
                        (Value::Float(x), Value::Float(y)) => x < y,
                        (x, y) if special::is_instance(x) || special::is_instance(y) => slow!(Op::Lt, x, y).truthy(),
                        (x, y) => tri!(self, pc!(), ops::less(x, y)),
                    };
                    if !t {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::JumpIfNotLe => {
                    let t = match (&r!(ins.a), &r!(ins.b)) {
                        (Value::Int(x), Value::Int(y)) => x <= y,
                        (Value::Float(x), Value::Float(y)) => x <= y,
                        (x, y) if special::is_instance(x) || special::is_instance(y) => slow!(Op::Le, x, y).truthy(),
                        (x, y) => tri!(self, pc!(), ops::less_eq(x, y)),
                    };
                    if !t {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::JumpIfNotLtI | Op::JumpIfNotLeI | Op::JumpIfNotGtI | Op::JumpIfNotGeI | Op::JumpIfNotEqI => {
                    let k = ins.b as i16 as i64;
                    let t = match &r!(ins.a) {
                        Value::Int(x) => match ins.op {
                            Op::JumpIfNotLtI => *x < k,
                            Op::JumpIfNotLeI => *x <= k,
                            Op::JumpIfNotGtI => *x > k,
                            Op::JumpIfNotGeI => *x >= k,
                            _ => *x == k,
                        },
                        x => {
                            let k = Value::Int(k);
                            match ins.op {
                                Op::JumpIfNotLtI => tri!(self, pc!(), ops::less(x, &k)),
                                Op::JumpIfNotLeI => tri!(self, pc!(), ops::less_eq(x, &k)),
                                Op::JumpIfNotGtI => tri!(self, pc!(), ops::less(&k, x)),
                                Op::JumpIfNotGeI => tri!(self, pc!(), ops::less_eq(&k, x)),
                                _ => ops::equal(x, &k),
                            }
                        }
                    };
                    if !t {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::JumpIfNotNone => {
                    if !matches!(r!(ins.a), Value::None) {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::JumpIfNone => {
                    if matches!(r!(ins.a), Value::None) {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::JumpIfNotEq => {
                    let eq = match (&r!(ins.a), &r!(ins.b)) {
                        (x, y) if special::is_instance(x) || special::is_instance(y) => slow!(Op::Eq, x, y).truthy(),
                        (x, y) => fast_equal(x, y),
                    };
                    if !eq {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::Call => {
                    // Fast path: a plain function given exactly its parameters.
                    if let Value::Func(c) = &r!(ins.a) {
                        if c.plain_arity == ins.b && self.frames.len() < self.depth_limit {
                            let callee_base = base + ins.a as usize + 1;
                            let need = callee_base + c.num_regs as usize + 1;
                            // The callee slot will receive the result, so the
                            // frame takes the closure from it instead of cloning.
                            // SAFETY: `c` is register `a` (verified), read once and
                            // overwritten at once without a drop: ownership moves.
                            let c = unsafe {
                                let c = std::ptr::read(c as *const Rc<Closure>);
                                std::ptr::write(regs.add(ins.a as usize), Value::None);
                                c
                            };
                            if self.stack.len() < need {
                                self.stack.resize(need.max(self.stack.len() * 2), Value::None);
                            }
                            self.enter(c, callee_base, pc!());
                            reload!();
                            continue;
                        }
                    }
                    self.save_pc(pc!());
                    let outcome = self.setup_call(base + ins.a as usize, ins.b as usize, None);
                    after_call!(outcome);
                }
                Op::CallKw | Op::CallMethod | Op::SuperCall | Op::CallSpread => {
                    // The commonest library methods, without argument lists.
                    if ins.op == Op::CallMethod {
                        if let Const::Str(name) = konst!(ins.c) {
                            match (&r!(ins.a), name.as_str(), ins.b) {
                                (Value::List(l), "append", 1) => {
                                    let v = take(&mut r!(ins.a as usize + 1));
                                    super::seq::list_append(&r!(ins.a), l, v);
                                    put(&mut r!(ins.a), Value::None);
                                    continue;
                                }
                                (Value::Map(m), "get", 2) => {
                                    if let Ok(k) = r!(ins.a as usize + 1).to_key() {
                                        let found = m.borrow().get(&k).cloned();
                                        let v = match found {
                                            Some(v) => v,
                                            None => take(&mut r!(ins.a as usize + 2)),
                                        };
                                        put(&mut r!(ins.a), v);
                                        continue;
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    self.save_pc(pc!());
                    let slot = base + ins.a as usize;
                    let outcome = match (ins.op, konst!(ins.c)) {
                        (Op::CallKw, Const::Names(names)) => self.setup_call(slot, ins.b as usize, Some(names)),
                        (Op::CallMethod, Const::Str(name)) => self.setup_method_call(slot, name, ins.b as usize, None),
                        (Op::CallMethod, Const::MethodKw(name, names)) => self.setup_method_call(slot, name, ins.b as usize, Some(names)),
                        (Op::SuperCall, Const::Str(name)) => self.setup_super_call(cl!(), slot, name, ins.b as usize),
                        (Op::CallSpread, Const::Names(names)) => self.setup_spread_call(slot, ins.b as usize, names),
                        _ => err("TypeError", "internal: call constant has the wrong kind"),
                    };
                    after_call!(outcome);
                }
                Op::Await => {
                    let v = match &r!(ins.b) {
                        Value::Future(f) => match f.result() {
                            Some(Ok(v)) => v,
                            Some(Err(e)) => tri!(self, pc!(), Err(e)),
                            None => {
                                if self.native_depth > 0 {
                                    tri!(
                                        self,
                                        pc!(),
                                        err::<()>("Error", "cannot wait for a future inside a callback from a built-in function")
                                    );
                                }
                                // Stop before this AWAIT, so it runs again on resume.
                                self.save_pc(pc!() - 1);
                                self.halt = Some(Halt::Await { fut: f.clone(), after: false });
                                return Err(Value::None);
                            }
                        },
                        other => other.clone(),
                    };
                    put(&mut r!(ins.a), v);
                }
                Op::AsyncBegin => {
                    // The prologue of an async def has run in the caller; the body
                    // becomes a task of its own and the caller gets its future.
                    let f = self.frames.pop().expect("frame");
                    let n = cl!().num_regs as usize;
                    let mut stack = Vec::with_capacity(n + 2);
                    stack.push(Value::None);
                    for i in 0..n {
                        stack.push(take(&mut r!(i)));
                    }
                    stack.push(Value::None);
                    let frame = Frame { closure: f.closure, pc: pc!(), base: 1, ret: 0, kind: FrameKind::Normal };
                    let fut = task::FutureObj::new();
                    let state = task::TaskState { frames: vec![frame], stack, handlers: Vec::new() };
                    tri!(self, pc!(), self.host("an async call").and_then(|h| h.spawn_task(self, state, fut.clone())));
                    return_to_caller!(f.ret, Value::Future(fut));
                }
                Op::Return | Op::ReturnNone | Op::AsyncEnd => {
                    let v = if ins.op != Op::ReturnNone { take(&mut r!(ins.a)) } else { Value::None };
                    let f = self.frames.pop().expect("frame");
                    let v = match f.kind {
                        FrameKind::Normal => v,
                        FrameKind::Init => r!(0).clone(),
                        FrameKind::ModuleInit(m) => {
                            self.modules[m as usize].state = ModState::Done;
                            Value::Module(self.modules[m as usize].obj.clone())
                        }
                    };
                    let ret = f.ret;
                    drop(f);
                    return_to_caller!(ret, v);
                }
                Op::NewList => {
                    // SAFETY: a verified register run of the current frame.
                    let run = unsafe { std::slice::from_raw_parts_mut(regs.add(ins.b as usize), ins.c as usize) };
                    let v: ListVec = run.iter_mut().map(take).collect();
                    put(&mut r!(ins.a), Value::list_from(v));
                }
                Op::GetIndex => {
                    let v = match (&r!(ins.b), &r!(ins.c)) {
                        (Value::List(l), Value::Int(i)) if *i >= 0 && (*i as usize) < l.borrow().len() => l.borrow()[*i as usize].clone(),
                        (o, i) if special::is_instance(o) => slow!(Op::GetIndex, o, i),
                        (o, i) => tri!(self, pc!(), ops::get_index(o, i)),
                    };
                    put(&mut r!(ins.a), v);
                }
                Op::SetIndex => {
                    let v = r!(ins.c).clone();
                    tri!(self, pc!(), ops::set_index(&r!(ins.a), &r!(ins.b), v));
                }
                Op::IterNext => {
                    let next = match &r!(ins.a) {
                        Value::Iter(it) => iter::next(&mut it.borrow_mut()),
                        _ => None,
                    };
                    match next {
                        Some(v) => put(&mut r!(ins.b), v),
                        None => ip = code.wrapping_add(ins.c as usize),
                    }
                }
                Op::IterNext2 => {
                    let next = match &r!(ins.a) {
                        Value::Iter(it) => iter::next_pair(&mut it.borrow_mut()),
                        _ => Ok(None),
                    };
                    match tri!(self, pc!(), next) {
                        Some((k, v)) => {
                            put(&mut r!(ins.b), k);
                            put(&mut r!(ins.b as usize + 1), v);
                        }
                        None => ip = code.wrapping_add(ins.c as usize),
                    }
                }
                Op::Unpack => {
                    let list = match &r!(ins.a) {
                        Value::List(l) => l.clone(),
                        o => tri!(self, pc!(), err("TypeError", format!("cannot destructure {} (a list is needed)", o.type_name()))),
                    };
                    let items = list.borrow();
                    if items.len() != ins.c as usize {
                        let m = format!("cannot destructure a list of length {} into {}", items.len(), plural(ins.c as usize, "name"));
                        drop(items);
                        tri!(self, pc!(), err::<()>("TypeError", m));
                        continue;
                    }
                    for (i, v) in items.iter().enumerate() {
                        put(&mut r!(ins.b as usize + i), v.clone());
                    }
                }
                Op::TryBegin => {
                    let frame = self.frames.len() - 1;
                    self.handlers.push(Handler { frame, pc: ins.c as usize, reg: ins.a });
                }
                Op::TryEnd => {
                    self.handlers.pop();
                }
                Op::ArgGiven => {
                    if !matches!(r!(ins.a), Value::Undefined) {
                        ip = code.wrapping_add(ins.c as usize);
                    }
                }
                Op::Import => {
                    let m = ins.c as usize;
                    match self.modules[m].state {
                        ModState::Done | ModState::Running => put(&mut r!(ins.a), Value::Module(self.modules[m].obj.clone())),
                        ModState::NotRun => {
                            self.save_pc(pc!());
                            self.modules[m].state = ModState::Running;
                            let main = self.find_module_main(m);
                            let f = self.functions[main].clone();
                            let c = Rc::new(Closure::new(f, main as u32, vec![]));
                            tri!(
                                self,
                                pc!(),
                                self.push_frame(c, base + ins.a as usize + 1, base + ins.a as usize, FrameKind::ModuleInit(m as u32))
                            );
                            reload!();
                        }
                    }
                }
            }
        }
    }

    /// Push a frame for a plain call whose arguments are already in place.
    #[inline(always)]
    fn enter(&mut self, closure: Rc<Closure>, base: usize, caller_pc: usize) {
        if let Some(f) = self.frames.last_mut() {
            f.pc = caller_pc;
        }
        self.push_frame_in_place(closure, base, base - 1, FrameKind::Normal);
    }

    /// Truthiness, refusing values that have none.
    pub(crate) fn truth(&self, v: &Value) -> Result<bool, Value> {
        match v {
            Value::Future(_) => err("TypeError", "a future has no truth value (did you mean to `await` it?)"),
            _ => Ok(v.truthy()),
        }
    }
}

/// Overwrite a register. Only the old value's tag is read: scalars are simply
/// overwritten, heap values go through their drop glue.
#[inline(always)]
fn put(slot: &mut Value, v: Value) {
    if slot.is_heap() {
        *slot = v;
    } else {
        // SAFETY: the old value owns nothing, so skipping its drop is sound.
        unsafe { std::ptr::write(slot, v) }
    }
}

/// Move a value out of a register (leaving `none`), reading a scalar through
/// its tag rather than as 16 raw bytes (which can defeat store forwarding when
/// the register was just written).
#[inline(always)]
fn take(slot: &mut Value) -> Value {
    if slot.is_heap() {
        std::mem::take(slot)
    } else {
        slot.clone()
    }
}

/// `==` with the common cases inline; `none` equals only `none`.
#[inline(always)]
fn fast_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::None, y) => matches!(y, Value::None),
        (x, Value::None) => matches!(x, Value::None),
        _ => ops::equal(a, b),
    }
}
