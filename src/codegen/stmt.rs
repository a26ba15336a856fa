//! Statements.

use super::{Gen, ImportTarget, LoopCtx, TryCtx};
use crate::bytecode::{Const, Op};
use crate::diag::Diagnostic;
use crate::parser::ast::*;

impl<'a> Gen<'a> {
    /// The top level: defs and classes are defined first (they may be used before
    /// their line), then statements run in order.
    pub(super) fn top_level(&mut self, stmts: &'a [Stmt]) {
        for s in stmts {
            if let StmtKind::Def(d) = &s.kind {
                self.span = s.span;
                self.def(d);
            }
        }
        for s in stmts {
            self.span = s.span;
            match &s.kind {
                StmtKind::Class(c) => self.class(c),
                StmtKind::Actor(a) => self.actor(a),
                _ => {}
            }
        }
        let last_expr = stmts.iter().rposition(|s| !matches!(s.kind, StmtKind::Def(_) | StmtKind::Class(_) | StmtKind::Actor(_)));
        for (i, s) in stmts.iter().enumerate() {
            match &s.kind {
                StmtKind::Def(_) | StmtKind::Class(_) | StmtKind::Actor(_) => {}
                StmtKind::Expr(e) if self.repl_print && Some(i) == last_expr => {
                    self.span = s.span;
                    let lvl = self.level();
                    let v = self.expr_any(e);
                    let none = self.alloc();
                    self.emit(Op::LoadNone, none, 0, 0);
                    let skip = self.emit(Op::JumpIfNotEq, v, none as u16, 0);
                    let done = self.emit(Op::Jump, 0, 0, 0);
                    let h = self.here();
                    self.patch(skip, h);
                    let p = self.alloc();
                    let k = crate::bytecode::builtin_index("$echo").unwrap_or(0) as u32;
                    self.emit(Op::LoadBuiltin, p, 0, k);
                    let a = self.alloc();
                    self.emit(Op::Move, a, v as u16, 0);
                    self.emit(Op::Call, p, 1, 0);
                    let h = self.here();
                    self.patch(done, h);
                    self.free_to(lvl);
                }
                _ => self.stmt(s),
            }
        }
    }

    pub(crate) fn block(&mut self, b: &'a Block) {
        let lvl = self.level();
        // Nested defs and classes are visible in their whole block.
        for s in &b.stmts {
            let id = match &s.kind {
                StmtKind::Def(d) => d.name.as_ref().map(|n| n.id),
                StmtKind::Class(c) => Some(c.name.id),
                _ => None,
            };
            if let Some(id) = id {
                let r = self.alloc();
                self.f().locals.insert(id, r);
                self.emit(Op::LoadNone, r, 0, 0);
                if self.an.captured.contains(&id) {
                    self.emit(Op::NewCell, r, 0, 0);
                }
            }
        }
        for s in &b.stmts {
            self.stmt(s);
        }
        self.free_to(lvl);
    }

    /// Store `src` into the binding declared by ident `id`: a global slot, or
    /// (for a local seen before) its register or cell; a new local takes `src`.
    pub(crate) fn bind(&mut self, id: NodeId, src: u8) {
        if let Some(slot) = self.an.decl_global.get(&id).copied() {
            self.emit(Op::StoreGlobal, src, 0, slot);
            return;
        }
        let captured = self.an.captured.contains(&id);
        match self.f().locals.get(&id).copied() {
            Some(r) if captured => {
                self.emit(Op::StoreCell, r, src as u16, 0);
            }
            Some(r) => {
                if r != src {
                    self.emit(Op::Move, r, src as u16, 0);
                }
            }
            None => {
                self.f().locals.insert(id, src);
                if captured {
                    self.emit(Op::NewCell, src, 0, 0);
                }
            }
        }
    }

    fn pattern_is_global(&self, p: &Pattern) -> bool {
        match p {
            Pattern::Name(i) => self.an.decl_global.contains_key(&i.id),
            Pattern::List(v, _) => v.iter().all(|q| self.pattern_is_global(q)),
            Pattern::Rest(q, _) => self.pattern_is_global(q),
            _ => true,
        }
    }

    /// Declare a fresh binding in register `src` (a new binding per loop
    /// iteration or `let`, even if the id was seen before).
    pub(crate) fn declare_fresh(&mut self, id: NodeId, src: u8) {
        self.f().locals.remove(&id);
        self.bind(id, src);
    }

    fn def(&mut self, d: &'a FnDecl) {
        let idx = self.function(d, false);
        let lvl = self.level();
        let r = self.alloc();
        self.emit(Op::Closure, r, 0, idx);
        if let Some(n) = &d.name {
            self.bind(n.id, r);
        }
        self.free_to(lvl);
        if let Some(n) = &d.name {
            // A local def that was not pre-allocated keeps its register.
            if self.f().locals.get(&n.id).is_some_and(|reg| *reg as u16 >= lvl) {
                self.f().next_reg = self.f().locals[&n.id] as u16 + 1;
            }
        }
    }

    fn class(&mut self, c: &'a ClassDecl) {
        let k =
            self.pb.konst(Const::Class { name: c.name.name.clone(), has_parent: c.parent.is_some(), methods: method_names(&c.methods) });
        self.class_like(&c.name, c.parent.as_ref(), &c.methods, k);
    }

    fn actor(&mut self, a: &'a ActorDecl) {
        let states = a.states.iter().map(|s| s.name.clone()).collect();
        let k = self.pb.konst(Const::Actor { name: a.name.name.clone(), methods: method_names(&a.methods), states });
        self.class_like(&a.name, None, &a.methods, k);
    }

    /// `MakeClass` for a class or actor described by constant `k`.
    fn class_like(&mut self, name: &'a Ident, parent: Option<&'a Ident>, methods: &'a [FnDecl], k: u32) {
        let lvl = self.level();
        let base = self.alloc();
        if let Some(p) = parent {
            self.name_to(p, base);
        }
        for m in methods {
            let idx = self.function(m, true);
            let r = self.alloc();
            self.emit(Op::Closure, r, 0, idx);
        }
        let dst = self.alloc();
        self.emit(Op::MakeClass, dst, base as u16, k);
        self.bind(name.id, dst);
        self.free_to(lvl);
        if self.f().locals.get(&name.id).is_some_and(|reg| *reg as u16 >= lvl) {
            self.f().next_reg = self.f().locals[&name.id] as u16 + 1;
        }
    }

    pub(crate) fn stmt(&mut self, s: &'a Stmt) {
        self.span = s.span;
        match &s.kind {
            StmtKind::Let { pattern, value, .. } => {
                let lvl = self.level();
                // Destructuring a local copies out of its register directly;
                // anything else is evaluated into a fresh one.
                let r = match (pattern, self.plain_local(value)) {
                    (Pattern::List(..), Some(r)) => r,
                    _ => {
                        let r = self.alloc();
                        self.expr_to(value, r);
                        self.free_to(r as u16 + 1);
                        r
                    }
                };
                let global = matches!(pattern, Pattern::Name(i) if self.an.decl_global.contains_key(&i.id))
                    || matches!(pattern, Pattern::List(..) if self.fns.len() == 1 && self.f().is_main && self.pattern_is_global(pattern));
                self.bind_pattern(pattern, r);
                if global {
                    self.free_to(lvl);
                }
            }
            StmtKind::Assign { target, op: None, value } if matches!(target.kind, ExprKind::List(_)) => {
                if let ExprKind::List(targets) = &target.kind {
                    self.assign_list(targets, value);
                }
            }
            StmtKind::Assign { target, op, value } => self.assign(target, *op, value),
            StmtKind::Assert { cond, message } => self.assert_stmt(cond, message.as_ref(), s.span),
            StmtKind::Match { value, arms } => self.match_stmt(value, arms, s.span),
            StmtKind::Expr(e) => {
                let lvl = self.level();
                self.expr_any(e);
                self.free_to(lvl);
            }
            StmtKind::If { cond, then, else_ } => {
                let jf = self.cond_jump_false(cond);
                self.block(then);
                match else_ {
                    None => {
                        let h = self.here();
                        self.patch_all(jf, h);
                    }
                    Some(e) => {
                        let j = self.emit(Op::Jump, 0, 0, 0);
                        let h = self.here();
                        self.patch_all(jf, h);
                        match e {
                            ElseBranch::Block(b) => self.block(b),
                            ElseBranch::If(s) => self.stmt(s),
                        }
                        let h = self.here();
                        self.patch(j, h);
                    }
                }
            }
            StmtKind::While { cond, body } => {
                let top = self.here();
                let jf = self.cond_jump_false(cond);
                let end = self.loop_body(body, top, None);
                self.patch_all(jf, end);
            }
            StmtKind::For { vars, iter, body } => self.for_loop(vars, iter, body),
            StmtKind::Break | StmtKind::Continue => {
                let depth = self.f().loops.last().map(|l| l.try_depth).unwrap_or(0);
                self.unwind_tries(depth);
                let j = self.emit(Op::Jump, 0, 0, 0);
                let is_break = matches!(s.kind, StmtKind::Break);
                if let Some(l) = self.f().loops.last_mut() {
                    if is_break {
                        l.breaks.push(j);
                    } else {
                        l.continues.push(j);
                    }
                }
            }
            StmtKind::Return(e) => {
                let lvl = self.level();
                // With `finally` blocks to run, copy the value first: they may
                // reassign the variable being returned.
                let has_finally = !self.f().tries.is_empty();
                let r = e.as_ref().map(|e| {
                    if has_finally {
                        let r = self.alloc();
                        self.expr_to(e, r);
                        r
                    } else {
                        self.expr_any(e)
                    }
                });
                self.unwind_tries(0);
                self.span = s.span;
                self.emit_return(r);
                self.free_to(lvl);
            }
            StmtKind::Def(d) => self.def(d),
            StmtKind::Class(c) => self.class(c),
            StmtKind::Try { body, catch, finally } => self.try_stmt(body, catch.as_ref(), finally.as_ref()),
            StmtKind::Throw(e) => {
                let lvl = self.level();
                let r = self.expr_any(e);
                self.span = s.span;
                self.emit(Op::Throw, r, 0, 0);
                self.free_to(lvl);
            }
            StmtKind::Import { path_span, alias, path } => {
                let lvl = self.level();
                let r = self.alloc();
                match self.imports.get(&path_span.start) {
                    Some(ImportTarget::Module(m)) => {
                        self.emit(Op::Import, r, 0, *m);
                    }
                    Some(ImportTarget::Native(n)) => {
                        let k = self.str_const(n);
                        self.emit(Op::ImportNative, r, 0, k);
                    }
                    None => {
                        self.diags.push(Diagnostic::new("E0302", "unresolved import", *path_span, "this module was not found"));
                    }
                }
                let name = match (alias, path) {
                    (Some(a), _) => a.name.clone(),
                    (None, ImportPath::Name(n)) => n.clone(),
                    (None, ImportPath::File(f)) => std::path::Path::new(f).file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string(),
                };
                let slot = self.pb_global_slot(&name);
                if let Some(slot) = slot {
                    self.emit(Op::StoreGlobal, r, 0, slot);
                }
                self.free_to(lvl);
            }
            StmtKind::Send(e) => self.tell(e),
            StmtKind::Actor(_) | StmtKind::Error => {}
        }
    }

    /// Global slot of a module-level name (imports bind globals by name).
    fn pb_global_slot(&self, name: &str) -> Option<u32> {
        self.an.global_slots.get(name).copied()
    }

    pub(crate) fn patch_all(&mut self, jumps: Vec<usize>, target: usize) {
        for j in jumps {
            self.patch(j, target);
        }
    }

    /// Leave try blocks above `depth` for a jump out (break/continue/return):
    /// pop their handlers and run their `finally` blocks, innermost first.
    fn unwind_tries(&mut self, depth: usize) {
        let saved = self.f().tries.clone();
        for i in (depth..saved.len()).rev() {
            self.f().tries.truncate(i);
            self.emit(Op::TryEnd, 0, 0, 0);
            if let Some(fin) = saved[i].finally {
                self.block(fin);
            }
        }
        self.f().tries = saved;
    }

    fn try_stmt(&mut self, body: &'a Block, catch: Option<&'a (Option<Ident>, Block)>, finally: Option<&'a Block>) {
        let lvl = self.level();
        let err = self.alloc();
        let begin = self.emit(Op::TryBegin, err, 0, 0);
        self.f().tries.push(TryCtx { finally });
        self.block(body);
        self.f().tries.pop();
        self.emit(Op::TryEnd, 0, 0, 0);
        if let Some(f) = finally {
            self.block(f);
        }
        let mut to_end = vec![self.emit(Op::Jump, 0, 0, 0)];
        let h = self.here();
        self.patch(begin, h);
        match catch {
            Some((name, cb)) => {
                let clvl = self.level();
                if let Some(n) = name {
                    self.declare_fresh(n.id, err);
                }
                let mut fin_begin = None;
                let err2 = self.alloc();
                if finally.is_some() {
                    fin_begin = Some(self.emit(Op::TryBegin, err2, 0, 0));
                    self.f().tries.push(TryCtx { finally });
                }
                self.block(cb);
                if let Some(fb) = fin_begin {
                    self.f().tries.pop();
                    self.emit(Op::TryEnd, 0, 0, 0);
                    if let Some(f) = finally {
                        self.block(f);
                    }
                    to_end.push(self.emit(Op::Jump, 0, 0, 0));
                    let h = self.here();
                    self.patch(fb, h);
                    if let Some(f) = finally {
                        self.block(f);
                    }
                    self.emit(Op::Throw, err2, 0, 0);
                }
                self.free_to(clvl);
            }
            None => {
                if let Some(f) = finally {
                    self.block(f);
                }
                self.emit(Op::Throw, err, 0, 0);
            }
        }
        let end = self.here();
        self.patch_all(to_end, end);
        self.free_to(lvl);
    }

    fn for_loop(&mut self, vars: &'a [Pattern], iter: &'a Expr, body: &'a Block) {
        let lvl = self.level();
        // Counting loop over a range literal: no iterator object.
        if let (ExprKind::Range { start, end, inclusive }, [Pattern::Name(var)]) = (&iter.kind, vars) {
            let cnt = self.alloc();
            let lim = self.alloc();
            self.expr_to(start, cnt);
            self.expr_to(end, lim);
            let check = self.alloc();
            self.emit(Op::NewRange, check, cnt as u16, *inclusive as u32);
            let var_id = var;
            let var = self.alloc();
            let top = self.here();
            let exit = self.emit(if *inclusive { Op::JumpIfNotLe } else { Op::JumpIfNotLt }, cnt, lim as u16, 0);
            self.f().locals.insert(var_id.id, var);
            self.emit(Op::Move, var, cnt as u16, 0);
            if self.an.captured.contains(&var_id.id) {
                self.emit(Op::NewCell, var, 0, 0);
            }
            let end = self.loop_body(body, top, Some(cnt));
            self.patch(exit, end);
            self.free_to(lvl);
            return;
        }
        let it = self.alloc();
        let src = self.expr_any(iter);
        self.emit(Op::IterInit, it, src as u16, 0);
        self.free_to(it as u16 + 1);
        let v0 = self.alloc();
        if vars.len() == 2 {
            self.alloc();
        }
        let top = self.here();
        let next = self.emit(if vars.len() == 2 { Op::IterNext2 } else { Op::IterNext }, it, v0 as u16, 0);
        for (i, p) in vars.iter().enumerate() {
            self.bind_pattern(p, v0 + i as u8);
        }
        let end = self.loop_body(body, top, None);
        self.patch(next, end);
        self.free_to(lvl);
    }

    /// Emit a loop body and its back jump to `top`; `break` leaves the loop and
    /// `continue` goes to the counter increment `step` (if any), then to `top`.
    /// Returns the index just past the loop.
    fn loop_body(&mut self, body: &'a Block, top: usize, step: Option<u8>) -> usize {
        let depth = self.f().tries.len();
        self.f().loops.push(LoopCtx { breaks: vec![], continues: vec![], try_depth: depth });
        self.block(body);
        let cont = match step {
            Some(cnt) => {
                let c = self.here();
                self.emit(Op::AddI, cnt, cnt as u16, 1);
                c
            }
            None => top,
        };
        self.emit(Op::Jump, 0, 0, top as u32);
        let end = self.here();
        let l = self.f().loops.pop().expect("loop");
        self.patch_all(l.breaks, end);
        self.patch_all(l.continues, cont);
        end
    }
}

fn method_names(methods: &[FnDecl]) -> Vec<String> {
    methods.iter().map(|m| m.name.as_ref().map(|n| n.name.clone()).unwrap_or_default()).collect()
}
