//! Patterns: destructuring (`let`, `for`, `[a, b] = ...`), comprehensions,
//! `match`, `assert` and `is` tests.

use super::Gen;
use crate::bytecode::{Const, Op};
use crate::parser::ast::*;
use crate::sema::NameRes;
use std::collections::HashMap;

/// `MatchList`'s flag: the list may be longer (a `..rest` takes the others).
pub const AT_LEAST: u32 = 1 << 31;
/// `ThrowKind`'s flag: the register holds the value no `match` arm matched.
pub const UNMATCHED: u16 = 1;

impl<'a> Gen<'a> {
    /// Bind a pattern that cannot fail but on shape (`let`, `for`) to the
    /// value in `src`: fresh bindings, as each loop iteration needs.
    pub(crate) fn bind_pattern(&mut self, p: &'a Pattern, src: u8) {
        match p {
            Pattern::Name(i) => self.declare_fresh(i.id, src),
            Pattern::List(items, span) => {
                self.span = *span;
                let start = self.unpack(items, src);
                for (i, q) in items.iter().enumerate() {
                    let q = match q {
                        Pattern::Rest(q, _) => q,
                        q => q,
                    };
                    self.bind_pattern(q, start + i as u8);
                }
            }
            _ => {}
        }
    }

    /// Unpack the list in `src` into fresh registers, one per item (a
    /// `..rest` item gets the rest as a list); the first one.
    fn unpack(&mut self, items: &[Pattern], src: u8) -> u8 {
        let start = self.level();
        for _ in items {
            self.alloc();
        }
        match items.iter().position(|q| matches!(q, Pattern::Rest(..))) {
            None => self.emit(Op::Unpack, src, start, items.len() as u32),
            Some(at) => {
                let after = items.len() - at - 1;
                self.emit(Op::UnpackRest, src, start, at as u32 | (after as u32) << 16)
            }
        };
        start as u8
    }

    /// `[a, b, c.x] = value`: every target gets its item once all are read.
    pub(crate) fn assign_list(&mut self, targets: &'a [Expr], value: &'a Expr) {
        let lvl = self.level();
        let v = self.alloc();
        self.expr_to(value, v);
        self.store_items(targets, v);
        self.free_to(lvl);
    }

    fn store_items(&mut self, targets: &'a [Expr], src: u8) {
        let start = self.level();
        for _ in targets {
            self.alloc();
        }
        self.emit(Op::Unpack, src, start, targets.len() as u32);
        for (i, t) in targets.iter().enumerate() {
            let r = (start + i as u16) as u8;
            self.span = t.span;
            match &t.kind {
                ExprKind::Name(id) => self.store_res(id.id, r),
                ExprKind::Index { obj, index } => {
                    if let [Index::Single(ie)] = &index[..] {
                        let o = self.expr_any(obj);
                        let k = self.expr_any(ie);
                        self.span = t.span;
                        self.emit(Op::SetIndex, o, k as u16, r as u32);
                    }
                }
                ExprKind::Field { obj, name } => {
                    let o = self.expr_any(obj);
                    let k = self.str_const(&name.name);
                    self.span = t.span;
                    self.emit(Op::SetField, o, r as u16, k);
                }
                ExprKind::List(inner) => self.store_items(inner, r),
                _ => {}
            }
        }
    }

    /// `[elem for ...]` / `{key: value for ...}` into `dst`.
    pub(crate) fn comprehension(&mut self, clauses: &'a [CompClause], results: &[&'a Expr], dst: u8, span: crate::diag::Span) {
        let lvl = self.level();
        // Built in a register of its own: `dst` may be a variable the
        // comprehension reads (`xs = [x * 2 for x in xs]`).
        let acc = self.alloc();
        self.span = span;
        if results.len() == 1 {
            self.emit(Op::NewList, acc, acc as u16, 0);
        } else {
            self.emit(Op::NewMap, acc, acc as u16, 0);
        }
        self.clause(clauses, results, acc);
        self.emit(Op::Move, dst, acc as u16, 0);
        self.free_to(lvl);
    }

    fn clause(&mut self, clauses: &'a [CompClause], results: &[&'a Expr], acc: u8) {
        let lvl = self.level();
        match clauses.split_first() {
            None => match results {
                [elem] => {
                    let r = self.expr_any(elem);
                    self.span = elem.span;
                    self.emit(Op::ListPush, acc, r as u16, 0);
                }
                [key, value] => {
                    let k = self.expr_any(key);
                    let v = self.expr_any(value);
                    self.span = key.span;
                    self.emit(Op::SetIndex, acc, k as u16, v as u32);
                }
                _ => {}
            },
            Some((CompClause::If(c), rest)) => {
                let jf = self.cond_jump_false(c);
                self.clause(rest, results, acc);
                let h = self.here();
                self.patch_all(jf, h);
            }
            Some((CompClause::For(ps, iter), rest)) => {
                let it = self.alloc();
                let src = self.expr_any(iter);
                self.span = iter.span;
                self.emit(Op::IterInit, it, src as u16, 0);
                self.free_to(it as u16 + 1);
                let v0 = self.alloc();
                if ps.len() == 2 {
                    self.alloc();
                }
                let top = self.here();
                let next = self.emit(if ps.len() == 2 { Op::IterNext2 } else { Op::IterNext }, it, v0 as u16, 0);
                for (i, p) in ps.iter().enumerate() {
                    self.bind_pattern(p, v0 + i as u8);
                }
                self.clause(rest, results, acc);
                self.emit(Op::Jump, 0, 0, top as u32);
                let end = self.here();
                self.patch(next, end);
            }
        }
        self.free_to(lvl);
    }

    /// `assert cond, message`
    pub(crate) fn assert_stmt(&mut self, cond: &'a Expr, message: Option<&'a Expr>, span: crate::diag::Span) {
        let lvl = self.level();
        let jf = self.cond_jump_false(cond);
        let ok = self.emit(Op::Jump, 0, 0, 0);
        let h = self.here();
        self.patch_all(jf, h);
        let m = self.alloc();
        match message {
            Some(e) => self.expr_to(e, m),
            None => {
                let k = self.str_const("assertion failed");
                self.emit(Op::LoadK, m, 0, k);
            }
        }
        self.span = span;
        let k = self.str_const("AssertionError");
        self.emit(Op::ThrowKind, m, 0, k);
        let h = self.here();
        self.patch(ok, h);
        self.free_to(lvl);
    }

    /// `x is T` into `dst`: `T` a class, or a built-in type's name.
    pub(crate) fn is_test(&mut self, x: &'a Expr, t: &'a Expr, dst: u8) {
        let rx = self.expr_any(x);
        let rt = self.type_operand(t);
        self.emit(Op::Is, dst, rx as u16, rt as u32);
    }

    /// The right side of `is`: a built-in type name (one the program does
    /// not define itself) is its name as a string.
    fn type_operand(&mut self, t: &'a Expr) -> u8 {
        if let ExprKind::None = &t.kind {
            let r = self.alloc();
            let k = self.str_const("none");
            self.emit(Op::LoadK, r, 0, k);
            return r;
        }
        if let ExprKind::Name(id) = &t.kind {
            let own = matches!(self.an.names.get(&id.id), Some(r) if !matches!(r, NameRes::Builtin(_)));
            if crate::sema::TYPE_NAMES.contains(&id.name.as_str()) && !own {
                let r = self.alloc();
                let k = self.str_const(&id.name);
                self.emit(Op::LoadK, r, 0, k);
                return r;
            }
        }
        self.expr_any(t)
    }

    pub(crate) fn match_stmt(&mut self, value: &'a Expr, arms: &'a [MatchArm], span: crate::diag::Span) {
        let lvl = self.level();
        let v = self.alloc();
        self.expr_to(value, v);
        let mut done = Vec::new();
        for arm in arms {
            let alvl = self.level();
            // One register per name, shared by the alternatives of `a | b`.
            let mut names: HashMap<&'a str, NodeId> = HashMap::new();
            self.arm_names(&arm.pattern, &mut names);
            let mut fails = Vec::new();
            self.test_pattern(&arm.pattern, v, &names, &mut fails);
            if let Some(g) = &arm.guard {
                fails.extend(self.cond_jump_false(g));
            }
            self.block(&arm.body);
            done.push(self.emit(Op::Jump, 0, 0, 0));
            let h = self.here();
            self.patch_all(fails, h);
            self.free_to(alvl);
        }
        self.span = span;
        let k = self.str_const("MatchError");
        self.emit(Op::ThrowKind, v, UNMATCHED, k);
        let end = self.here();
        self.patch_all(done, end);
        self.free_to(lvl);
    }

    /// Give each name an arm binds a register (cell if captured).
    fn arm_names(&mut self, p: &'a Pattern, names: &mut HashMap<&'a str, NodeId>) {
        match p {
            Pattern::Name(i) => {
                if !names.contains_key(i.name.as_str()) {
                    names.insert(&i.name, i.id);
                    let r = self.alloc();
                    self.emit(Op::LoadNone, r, 0, 0);
                    self.f().locals.remove(&i.id);
                    self.bind(i.id, r);
                }
            }
            Pattern::Wildcard(_) | Pattern::Literal(_) => {}
            Pattern::List(v, _) | Pattern::Or(v, _) => v.iter().for_each(|q| self.arm_names(q, names)),
            Pattern::Rest(q, _) => self.arm_names(q, names),
            Pattern::Map(v, _) => v.iter().for_each(|(_, q)| self.arm_names(q, names)),
            Pattern::Class { fields, .. } => fields.iter().for_each(|(_, q)| self.arm_names(q, names)),
        }
    }

    /// Test the value in `v` against `p`, binding its names; jumps taken
    /// when it does not match go to `fails`.
    fn test_pattern(&mut self, p: &'a Pattern, v: u8, names: &HashMap<&'a str, NodeId>, fails: &mut Vec<usize>) {
        let lvl = self.level();
        self.span = p.span();
        match p {
            Pattern::Name(i) => {
                let id = names.get(i.name.as_str()).copied().unwrap_or(i.id);
                self.bind(id, v);
            }
            Pattern::Wildcard(_) => {}
            Pattern::Rest(q, _) => self.test_pattern(q, v, names, fails),
            Pattern::Literal(e) => {
                let r = self.expr_any(e);
                self.span = e.span;
                fails.push(self.emit(Op::JumpIfNotEq, v, r as u16, 0));
            }
            Pattern::List(items, _) => {
                let t = self.alloc();
                let rest = items.iter().any(|q| matches!(q, Pattern::Rest(..)));
                let fixed = items.len() - rest as usize;
                self.emit(Op::MatchList, t, v as u16, fixed as u32 | if rest { AT_LEAST } else { 0 });
                fails.push(self.emit(Op::JumpIfFalse, t, 0, 0));
                let start = self.unpack(items, v);
                for (i, q) in items.iter().enumerate() {
                    self.test_pattern(q, start + i as u8, names, fails);
                }
            }
            Pattern::Map(entries, _) => {
                for (key, q) in entries {
                    let k = self.expr_any(key);
                    let t = self.alloc();
                    self.span = key.span;
                    self.emit(Op::HasKey, t, v as u16, k as u32);
                    fails.push(self.emit(Op::JumpIfFalse, t, 0, 0));
                    self.emit(Op::GetIndex, t, v as u16, k as u32);
                    self.test_pattern(q, t, names, fails);
                }
            }
            Pattern::Class { class, fields, span } => {
                let c = self.expr_any(class);
                let t = self.alloc();
                self.span = *span;
                self.emit(Op::Is, t, v as u16, c as u32);
                fails.push(self.emit(Op::JumpIfFalse, t, 0, 0));
                for (f, q) in fields {
                    let k = self.str_const(&f.name);
                    let kr = self.alloc();
                    self.emit(Op::LoadK, kr, 0, k);
                    let fv = self.alloc();
                    self.span = f.span;
                    self.emit(Op::HasKey, fv, v as u16, kr as u32);
                    fails.push(self.emit(Op::JumpIfFalse, fv, 0, 0));
                    self.emit(Op::GetField, fv, v as u16, k);
                    self.test_pattern(q, fv, names, fails);
                }
            }
            Pattern::Or(alts, _) => {
                let mut matched = Vec::new();
                for (i, alt) in alts.iter().enumerate() {
                    if i + 1 == alts.len() {
                        self.test_pattern(alt, v, names, fails);
                    } else {
                        let mut next = Vec::new();
                        self.test_pattern(alt, v, names, &mut next);
                        matched.push(self.emit(Op::Jump, 0, 0, 0));
                        let h = self.here();
                        self.patch_all(next, h);
                    }
                }
                let h = self.here();
                self.patch_all(matched, h);
            }
        }
        self.free_to(lvl);
    }

    /// A call with `..xs` among its arguments: the positional ones gathered
    /// into one list in `R[base+1]`, the named ones after it.
    pub(crate) fn spread_args(&mut self, args: &'a [Arg]) -> (u16, u32) {
        let list = self.alloc();
        self.emit(Op::NewList, list, list as u16, 0);
        let lvl = self.level();
        for a in args.iter().filter(|a| a.name.is_none()) {
            match &a.value.kind {
                ExprKind::Spread(xs) => {
                    let r = self.expr_any(xs);
                    self.span = a.value.span;
                    self.emit(Op::ListExtend, list, r as u16, 0);
                }
                _ => {
                    let r = self.expr_any(&a.value);
                    self.emit(Op::ListPush, list, r as u16, 0);
                }
            }
            self.free_to(lvl);
        }
        let mut names = Vec::new();
        for a in args {
            if let Some(n) = &a.name {
                let r = self.alloc();
                self.expr_to(&a.value, r);
                names.push(n.name.clone());
            }
        }
        let k = self.pb.konst(Const::Names(names.clone()));
        (names.len() as u16, k)
    }
}
