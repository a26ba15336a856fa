//! Expressions.

use super::Gen;
use crate::bytecode::{Const, Op};
use crate::diag::Diagnostic;
use crate::parser::ast::*;
use crate::sema::NameRes;

impl<'a> Gen<'a> {
    /// The register holding `e`: a plain local's own register, or a new temporary.
    pub(crate) fn expr_any(&mut self, e: &'a Expr) -> u8 {
        if let Some(r) = self.plain_local(e) {
            return r;
        }
        let r = self.alloc();
        self.expr_to(e, r);
        r
    }

    /// A local that lives directly in a register (not captured in a cell).
    pub(crate) fn plain_local(&mut self, e: &Expr) -> Option<u8> {
        let id = match &e.kind {
            ExprKind::Name(i) => i.id,
            ExprKind::SelfRef(id) => *id,
            _ => return None,
        };
        match self.an.names.get(&id) {
            Some(NameRes::Local(d)) if !self.an.captured.contains(d) => self.f().locals.get(d).copied(),
            _ => None,
        }
    }

    /// Load the value a name use refers to into `dst`.
    pub(crate) fn name_to(&mut self, ident: &Ident, dst: u8) {
        self.load_res(ident.id, dst);
    }

    /// Where the variable a name use refers to lives.
    fn place(&mut self, id: NodeId) -> Place {
        match self.an.names.get(&id).copied() {
            Some(NameRes::Local(d)) => match self.f().locals.get(&d).copied() {
                Some(r) if self.an.captured.contains(&d) => Place::Cell(r),
                Some(r) => Place::Reg(r),
                None => {
                    let span = self.span;
                    self.diags.push(Diagnostic::new("E0303", "internal: local without a register", span, "here"));
                    Place::Nowhere
                }
            },
            Some(NameRes::Upval(i)) => Place::Upval(i as u32),
            Some(NameRes::Global(s)) => Place::Global(s),
            Some(NameRes::Builtin(b)) => Place::Builtin(b as u32),
            None => Place::Nowhere,
        }
    }

    fn load_res(&mut self, id: NodeId, dst: u8) {
        match self.place(id) {
            Place::Reg(r) if r != dst => self.emit(Op::Move, dst, r as u16, 0),
            Place::Reg(_) => return,
            Place::Cell(r) => self.emit(Op::LoadCell, dst, r as u16, 0),
            Place::Upval(i) => self.emit(Op::LoadUpval, dst, 0, i),
            Place::Global(s) => self.emit(Op::LoadGlobal, dst, 0, s),
            Place::Builtin(b) => self.emit(Op::LoadBuiltin, dst, 0, b),
            Place::Nowhere => self.emit(Op::LoadNone, dst, 0, 0),
        };
    }

    /// Store `src` into the variable a name use refers to.
    pub(crate) fn store_res(&mut self, id: NodeId, src: u8) {
        match self.place(id) {
            Place::Reg(r) if r != src => self.emit(Op::Move, r, src as u16, 0),
            Place::Cell(r) => self.emit(Op::StoreCell, r, src as u16, 0),
            Place::Upval(i) => self.emit(Op::StoreUpval, src, 0, i),
            Place::Global(s) => self.emit(Op::StoreGlobal, src, 0, s),
            Place::Reg(_) | Place::Builtin(_) | Place::Nowhere => return,
        };
    }

    pub(crate) fn expr_to(&mut self, e: &'a Expr, dst: u8) {
        let saved = self.span;
        self.span = e.span;
        let lvl = self.level();
        match &e.kind {
            ExprKind::Int(i) => {
                if let Ok(small) = i32::try_from(*i) {
                    self.emit(Op::LoadInt, dst, 0, small as u32);
                } else {
                    let k = self.pb.konst(Const::Int(*i));
                    self.emit(Op::LoadK, dst, 0, k);
                }
            }
            ExprKind::Float(f) => {
                let k = self.pb.konst(Const::Float(*f));
                self.emit(Op::LoadK, dst, 0, k);
            }
            ExprKind::Str(s) => {
                let k = self.str_const(s);
                self.emit(Op::LoadK, dst, 0, k);
            }
            ExprKind::Bool(b) => {
                self.emit(Op::LoadBool, dst, *b as u16, 0);
            }
            ExprKind::Spawn { module, class, args, options } => {
                let base = self.call_base(dst);
                match module {
                    Some(m) => {
                        // `m.A`: the module's global, read like a field.
                        self.name_to(m, base);
                        self.span = class.span;
                        let k = self.str_const(&class.name);
                        self.emit(Op::GetField, base, base as u16, k);
                    }
                    None => self.name_to(class, base),
                }
                let (argc, names) = self.call_args(args);
                let o = self.alloc();
                match options {
                    Some(x) => self.expr_to(x, o),
                    None => {
                        self.emit(Op::LoadNone, o, 0, 0);
                    }
                }
                self.span = e.span;
                let k = self.pb.konst(Const::Names(names.unwrap_or_default()));
                self.emit(Op::Spawn, base, argc, k);
                self.finish_call(base, dst);
            }
            ExprKind::None | ExprKind::Error => {
                self.emit(Op::LoadNone, dst, 0, 0);
            }
            ExprKind::FStr(parts) => self.fstr_to(parts, dst, e.span),
            ExprKind::Name(i) => self.name_to(i, dst),
            ExprKind::SelfRef(id) => self.load_res(*id, dst),
            ExprKind::List(items) => {
                let start = self.level();
                for it in items {
                    let r = self.alloc();
                    self.expr_to(it, r);
                }
                self.emit(Op::NewList, dst, start, items.len() as u32);
            }
            ExprKind::Map(entries) => {
                let start = self.level();
                for (k, v) in entries {
                    let kr = self.alloc();
                    match k {
                        MapKey::Str(s) => {
                            let c = self.str_const(s);
                            self.emit(Op::LoadK, kr, 0, c);
                        }
                        MapKey::Expr(x) => self.expr_to(x, kr),
                    }
                    let vr = self.alloc();
                    self.expr_to(v, vr);
                }
                self.span = e.span;
                self.emit(Op::NewMap, dst, start, entries.len() as u32);
            }
            ExprKind::Unary(op, x) => {
                let r = self.expr_any(x);
                self.span = e.span;
                let op = match op {
                    UnOp::Neg => Op::Neg,
                    UnOp::BitNot => Op::BitNot,
                    UnOp::Not => Op::Not,
                };
                self.emit(op, dst, r as u16, 0);
            }
            ExprKind::Binary(op, a, b) => {
                if let (BinOp::Add, ExprKind::Int(n)) = (op, &a.kind) {
                    if let Ok(n) = i32::try_from(*n) {
                        // `1 + x`: the literal rides in the instruction.
                        let rb = self.expr_any(b);
                        self.span = e.span;
                        self.emit(Op::AddIL, dst, rb as u16, n as u32);
                        self.span = saved;
                        self.free_to(lvl);
                        return;
                    }
                }
                let ra = self.expr_any(a);
                if let (BinOp::Add | BinOp::Sub, ExprKind::Int(n)) = (op, &b.kind) {
                    let n = if *op == BinOp::Sub { n.checked_neg() } else { Some(*n) };
                    if let Some(n) = n.and_then(|n| i32::try_from(n).ok()) {
                        self.span = e.span;
                        self.emit(Op::AddI, dst, ra as u16, n as u32);
                        self.span = saved;
                        self.free_to(lvl);
                        return;
                    }
                }
                let rb = self.expr_any(b);
                self.span = e.span;
                let op = arith_op(*op);
                self.emit(op, dst, ra as u16, rb as u32);
            }
            ExprKind::Compare(op, a, b) => {
                let ra = self.expr_any(a);
                let rb = self.expr_any(b);
                self.span = e.span;
                match op {
                    CmpOp::Eq => self.emit(Op::Eq, dst, ra as u16, rb as u32),
                    CmpOp::Ne => self.emit(Op::Ne, dst, ra as u16, rb as u32),
                    CmpOp::Lt => self.emit(Op::Lt, dst, ra as u16, rb as u32),
                    CmpOp::Le => self.emit(Op::Le, dst, ra as u16, rb as u32),
                    CmpOp::Gt => self.emit(Op::Lt, dst, rb as u16, ra as u32),
                    CmpOp::Ge => self.emit(Op::Le, dst, rb as u16, ra as u32),
                    CmpOp::In => self.emit(Op::In, dst, ra as u16, rb as u32),
                    CmpOp::NotIn => {
                        self.emit(Op::In, dst, ra as u16, rb as u32);
                        self.emit(Op::Not, dst, dst as u16, 0)
                    }
                };
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                self.expr_to(a, dst);
                let op = if matches!(e.kind, ExprKind::And(..)) { Op::JumpIfFalse } else { Op::JumpIfTrue };
                let j = self.emit(op, dst, 0, 0);
                self.expr_to(b, dst);
                let h = self.here();
                self.patch(j, h);
            }
            ExprKind::Range { start, end, inclusive } => {
                let s = self.alloc();
                self.expr_to(start, s);
                let t = self.alloc();
                self.expr_to(end, t);
                self.span = e.span;
                self.emit(Op::NewRange, dst, s as u16, *inclusive as u32);
            }
            ExprKind::Call { callee, args } if has_spread(args) => {
                let base = self.call_base(dst);
                self.expr_to(callee, base);
                let (named, k) = self.spread_args(args);
                self.span = e.span;
                self.emit(Op::CallSpread, base, named, k);
                self.finish_call(base, dst);
            }
            ExprKind::MethodCall { recv, name, args } if has_spread(args) => {
                // The bound method, called like a function.
                let base = self.call_base(dst);
                self.expr_to(recv, base);
                let k = self.str_const(&name.name);
                self.span = e.span;
                self.emit(Op::GetField, base, base as u16, k);
                let (named, k) = self.spread_args(args);
                self.span = e.span;
                self.emit(Op::CallSpread, base, named, k);
                self.finish_call(base, dst);
            }
            ExprKind::Call { callee, args } => {
                let base = self.call_base(dst);
                self.expr_to(callee, base);
                let (argc, names) = self.call_args(args);
                self.span = e.span;
                match names {
                    None => self.emit(Op::Call, base, argc, 0),
                    Some(n) => {
                        let k = self.pb.konst(Const::Names(n));
                        self.emit(Op::CallKw, base, argc, k)
                    }
                };
                self.finish_call(base, dst);
            }
            ExprKind::MethodCall { recv, name, args } => {
                let base = self.call_base(dst);
                self.expr_to(recv, base);
                let (argc, names) = self.call_args(args);
                self.span = e.span;
                let k = match names {
                    None => self.str_const(&name.name),
                    Some(n) => self.pb.konst(Const::MethodKw(name.name.clone(), n)),
                };
                self.emit(Op::CallMethod, base, argc, k);
                self.finish_call(base, dst);
            }
            ExprKind::SuperCall { name, args } => {
                let base = self.call_base(dst);
                let self_decl = self.f().self_decl;
                match self_decl.and_then(|d| self.f().locals.get(&d).copied().map(|r| (d, r))) {
                    Some((d, r)) => {
                        if self.an.captured.contains(&d) {
                            self.emit(Op::LoadCell, base, r as u16, 0);
                        } else {
                            self.emit(Op::Move, base, r as u16, 0);
                        }
                    }
                    None => {
                        let span = e.span;
                        self.diags.push(Diagnostic::new(
                            "E0304",
                            "`super` must be called directly in a method",
                            span,
                            "not inside a method body",
                        ));
                    }
                }
                let (argc, names) = self.call_args(args);
                if names.is_some() {
                    let span = e.span;
                    self.diags.push(Diagnostic::new(
                        "E0305",
                        "named arguments are not supported in `super` calls",
                        span,
                        "pass them by position",
                    ));
                }
                self.span = e.span;
                let k = self.str_const(&name.name);
                self.emit(Op::SuperCall, base, argc, k);
                self.finish_call(base, dst);
            }
            ExprKind::Index { obj, index } => self.index_to(e, obj, index, dst),
            ExprKind::Field { obj, name } => {
                let r = self.expr_any(obj);
                self.span = e.span;
                let k = self.str_const(&name.name);
                self.emit(Op::GetField, dst, r as u16, k);
            }
            ExprKind::Lambda(f) => {
                let idx = self.function(f, false);
                self.span = e.span;
                self.emit(Op::Closure, dst, 0, idx);
            }
            ExprKind::ListComp { elem, clauses } => self.comprehension(clauses, &[elem], dst, e.span),
            ExprKind::MapComp { key, value, clauses } => self.comprehension(clauses, &[key, value], dst, e.span),
            ExprKind::Is(x, t) => self.is_test(x, t, dst),
            ExprKind::Spread(_) => {
                self.diags.push(Diagnostic::new("E0308", "`..` spreads a list only among a call's arguments", e.span, "not in a call"));
            }
            ExprKind::IfExpr { cond, then, else_ } => {
                let jf = self.cond_jump_false(cond);
                self.expr_to(then, dst);
                let j = self.emit(Op::Jump, 0, 0, 0);
                let h = self.here();
                self.patch_all(jf, h);
                self.expr_to(else_, dst);
                let h = self.here();
                self.patch(j, h);
            }
            // There are no futures without the scheduler: awaiting a plain value
            // returns it (language.md §6).
            ExprKind::Await(x) => {
                let r = self.expr_any(x);
                self.span = e.span;
                self.emit(Op::Await, dst, r as u16, 0);
            }
        }
        self.free_to(lvl);
        self.span = saved;
    }

    /// Registers for a call: reuse `dst` as the callee slot when it is the top
    /// register, so the result needs no move.
    /// `send recv.m(args)`: a tell (sema checked that it is a method call).
    pub(crate) fn tell(&mut self, e: &'a Expr) {
        let ExprKind::MethodCall { recv, name, args } = &e.kind else { return };
        let lvl = self.level();
        let base = self.alloc();
        self.expr_to(recv, base);
        let (argc, names) = self.call_args(args);
        if names.is_some() {
            self.diags.push(Diagnostic::new("E0306", "messages take positional arguments", e.span, "named arguments cannot be sent"));
        }
        self.span = e.span;
        let k = self.str_const(&name.name);
        self.emit(Op::Tell, base, argc, k);
        self.free_to(lvl);
    }

    fn call_base(&mut self, dst: u8) -> u8 {
        if dst as u16 + 1 == self.level() {
            dst
        } else {
            self.alloc()
        }
    }

    fn finish_call(&mut self, base: u8, dst: u8) {
        if base != dst {
            self.emit(Op::Move, dst, base as u16, 0);
        }
    }

    /// Evaluate arguments into consecutive registers after the callee.
    fn call_args(&mut self, args: &'a [Arg]) -> (u16, Option<Vec<String>>) {
        let mut names = Vec::new();
        for a in args {
            let r = self.alloc();
            self.expr_to(&a.value, r);
            if let Some(n) = &a.name {
                names.push(n.name.clone());
            }
        }
        (args.len() as u16, if names.is_empty() { None } else { Some(names) })
    }

    fn index_to(&mut self, e: &'a Expr, obj: &'a Expr, index: &'a [Index], dst: u8) {
        match index {
            [Index::Single(i)] => {
                let o = self.expr_any(obj);
                let r = self.expr_any(i);
                self.span = e.span;
                self.emit(Op::GetIndex, dst, o as u16, r as u32);
            }
            [Index::Single(i), Index::Single(j)] => {
                let start = self.level();
                for x in [obj, i, j] {
                    let r = self.alloc();
                    self.expr_to(x, r);
                }
                self.span = e.span;
                self.emit(Op::GetIndex2, dst, start, 3);
            }
            [Index::Slice { start: a, end: b, step: Some(step) }] => {
                let start = self.level();
                for x in [Some(obj), a.as_ref(), b.as_ref(), step.as_deref()] {
                    let r = self.alloc();
                    match x {
                        Some(x) => self.expr_to(x, r),
                        None => {
                            self.emit(Op::LoadNone, r, 0, 0);
                        }
                    }
                }
                self.span = e.span;
                self.emit(Op::Slice, dst, start, 3);
            }
            _ if index.iter().all(|x| matches!(x, Index::Slice { step: None, .. })) && index.len() <= 2 => {
                let start = self.level();
                let r = self.alloc();
                self.expr_to(obj, r);
                for x in index {
                    if let Index::Slice { start, end, .. } = x {
                        for bound in [start, end] {
                            let r = self.alloc();
                            match bound {
                                Some(b) => self.expr_to(b, r),
                                None => {
                                    self.emit(Op::LoadNone, r, 0, 0);
                                }
                            }
                        }
                    }
                }
                self.span = e.span;
                self.emit(Op::Slice, dst, start, index.len() as u32);
            }
            _ => {
                self.diags.push(Diagnostic::new(
                    "E0306",
                    "unsupported index form",
                    e.span,
                    "use `a[i]`, `m[i, j]`, `a[i:j]` or `m[a:b, c:d]`",
                ));
            }
        }
    }

    /// Emit a conditional jump taken when `cond` is false; returns the jumps
    /// to patch. Comparisons fuse into compare-and-branch instructions.
    pub(crate) fn cond_jump_false(&mut self, cond: &'a Expr) -> Vec<usize> {
        let lvl = self.level();
        let saved = self.span;
        self.span = cond.span;
        let jumps = match &cond.kind {
            ExprKind::Compare(op @ (CmpOp::Eq | CmpOp::Ne), a, b)
                if matches!(a.kind, ExprKind::None) || matches!(b.kind, ExprKind::None) =>
            {
                let x = if matches!(b.kind, ExprKind::None) { a } else { b };
                let r = self.expr_any(x);
                self.span = cond.span;
                let op = if *op == CmpOp::Eq { Op::JumpIfNotNone } else { Op::JumpIfNone };
                vec![self.emit(op, r, 0, 0)]
            }
            ExprKind::Compare(op @ (CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge | CmpOp::Eq), a, b)
                if small_int(b).is_some() || small_int(a).is_some() =>
            {
                // Compare with a small int literal: the literal rides in the instruction.
                let (x, k, op) = match small_int(b) {
                    Some(k) => (a, k, *op),
                    None => (b, small_int(a).unwrap_or(0), mirror(*op)),
                };
                let r = self.expr_any(x);
                self.span = cond.span;
                let op = match op {
                    CmpOp::Lt => Op::JumpIfNotLtI,
                    CmpOp::Le => Op::JumpIfNotLeI,
                    CmpOp::Gt => Op::JumpIfNotGtI,
                    CmpOp::Ge => Op::JumpIfNotGeI,
                    _ => Op::JumpIfNotEqI,
                };
                vec![self.emit(op, r, k as u16, 0)]
            }
            ExprKind::Compare(op @ (CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge | CmpOp::Eq), a, b) => {
                let ra = self.expr_any(a);
                let rb = self.expr_any(b);
                self.span = cond.span;
                let (op, x, y) = match op {
                    CmpOp::Lt => (Op::JumpIfNotLt, ra, rb),
                    CmpOp::Le => (Op::JumpIfNotLe, ra, rb),
                    CmpOp::Gt => (Op::JumpIfNotLt, rb, ra),
                    CmpOp::Ge => (Op::JumpIfNotLe, rb, ra),
                    _ => (Op::JumpIfNotEq, ra, rb),
                };
                vec![self.emit(op, x, y as u16, 0)]
            }
            ExprKind::And(a, b) => {
                let mut j = self.cond_jump_false(a);
                j.extend(self.cond_jump_false(b));
                j
            }
            _ => {
                let r = self.expr_any(cond);
                vec![self.emit(Op::JumpIfFalse, r, 0, 0)]
            }
        };
        self.free_to(lvl);
        self.span = saved;
        jumps
    }

    /// `target = value` and compound assignments.
    pub(crate) fn assign(&mut self, target: &'a Expr, op: Option<BinOp>, value: &'a Expr) {
        let lvl = self.level();
        match &target.kind {
            ExprKind::Name(i) => {
                let direct = self.plain_local(target);
                let v = match op {
                    None => match direct {
                        Some(r)
                            if matches!(
                                value.kind,
                                ExprKind::Binary(..)
                                    | ExprKind::Int(_)
                                    | ExprKind::Float(_)
                                    | ExprKind::Str(_)
                                    | ExprKind::Call { .. }
                                    | ExprKind::MethodCall { .. }
                            ) =>
                        {
                            self.expr_to(value, r);
                            r
                        }
                        _ => self.expr_any(value),
                    },
                    Some(bop) => {
                        let cur = match direct {
                            Some(r) => r,
                            None => {
                                let t = self.alloc();
                                self.load_res(i.id, t);
                                t
                            }
                        };
                        match (bop, &value.kind) {
                            (BinOp::Add, ExprKind::Int(n)) if i32::try_from(*n).is_ok() => {
                                self.span = value.span;
                                self.emit(Op::AddI, cur, cur as u16, *n as i32 as u32);
                            }
                            _ => {
                                let rv = self.expr_any(value);
                                self.binop_into(bop, cur, cur, rv, value.span);
                            }
                        }
                        cur
                    }
                };
                self.store_res(i.id, v);
            }
            ExprKind::Index { obj, index } => {
                let o = self.expr_any(obj);
                let Some(Index::Single(ie)) = index.first().filter(|_| index.len() == 1) else {
                    self.diags.push(Diagnostic::new("E0307", "cannot assign to a slice", target.span, "assign to one element `a[i]`"));
                    return;
                };
                let i = self.expr_any(ie);
                let v = match op {
                    None => self.expr_any(value),
                    Some(bop) => {
                        let cur = self.alloc();
                        self.span = target.span;
                        self.emit(Op::GetIndex, cur, o as u16, i as u32);
                        let rv = self.expr_any(value);
                        self.binop_into(bop, cur, cur, rv, value.span);
                        cur
                    }
                };
                self.span = target.span;
                self.emit(Op::SetIndex, o, i as u16, v as u32);
            }
            ExprKind::Field { obj, name } => {
                let o = self.expr_any(obj);
                let k = self.str_const(&name.name);
                let v = match op {
                    None => self.expr_any(value),
                    Some(bop) => {
                        let cur = self.alloc();
                        self.span = target.span;
                        self.emit(Op::GetField, cur, o as u16, k);
                        let rv = self.expr_any(value);
                        self.binop_into(bop, cur, cur, rv, value.span);
                        cur
                    }
                };
                self.span = target.span;
                self.emit(Op::SetField, o, v as u16, k);
            }
            _ => {}
        }
        self.free_to(lvl);
    }

    fn binop_into(&mut self, op: BinOp, dst: u8, a: u8, b: u8, span: crate::diag::Span) {
        self.span = span;
        self.emit(arith_op(op), dst, a as u16, b as u32);
    }

    /// An f-string's parts (or a spec's, for nested fields) joined into `R[dst]`.
    fn fstr_to(&mut self, parts: &'a [FPart], dst: u8, span: crate::diag::Span) {
        let start = self.level();
        for p in parts {
            let r = self.alloc();
            match p {
                FPart::Lit(s) => {
                    let k = self.str_const(s);
                    self.emit(Op::LoadK, r, 0, k);
                }
                FPart::Field { expr, spec: None } => self.expr_to(expr, r),
                FPart::Field { expr, spec: Some(spec) } => {
                    let v = self.expr_any(expr);
                    match spec.as_slice() {
                        [FPart::Lit(spec)] => {
                            let k = self.str_const(spec);
                            self.span = expr.span;
                            self.emit(Op::Format, r, v as u16, k);
                        }
                        parts => {
                            let s = self.alloc();
                            self.fstr_to(parts, s, span);
                            self.span = expr.span;
                            self.emit(Op::FormatWith, r, v as u16, s as u32);
                        }
                    }
                    self.free_to(r as u16 + 1);
                }
            }
        }
        self.span = span;
        self.emit(Op::Concat, dst, start, parts.len() as u32);
    }
}

/// An int literal that fits a 16-bit immediate.
fn has_spread(args: &[Arg]) -> bool {
    args.iter().any(|a| matches!(a.value.kind, ExprKind::Spread(_)))
}

fn small_int(e: &Expr) -> Option<i16> {
    match e.kind {
        ExprKind::Int(i) => i16::try_from(i).ok(),
        _ => None,
    }
}

/// `k < x` is `x > k`: the comparison with its operands swapped.
fn mirror(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

/// The instruction for a binary operator.
fn arith_op(op: BinOp) -> Op {
    match op {
        BinOp::Add => Op::Add,
        BinOp::Sub => Op::Sub,
        BinOp::Mul => Op::Mul,
        BinOp::Div => Op::Div,
        BinOp::FloorDiv => Op::FloorDiv,
        BinOp::Mod => Op::Mod,
        BinOp::Pow => Op::Pow,
        BinOp::MatMul => Op::MatMul,
        BinOp::BitAnd => Op::BitAnd,
        BinOp::BitOr => Op::BitOr,
        BinOp::BitXor => Op::BitXor,
        BinOp::Shl => Op::Shl,
        BinOp::Shr => Op::Shr,
    }
}

/// Where a variable lives, for loads and stores.
enum Place {
    Reg(u8),
    /// A captured local: its register holds a cell.
    Cell(u8),
    Upval(u32),
    Global(u32),
    Builtin(u32),
    /// Unresolved (already reported).
    Nowhere,
}
