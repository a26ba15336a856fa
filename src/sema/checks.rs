//! The statement and expression walk of the analyzer.

use super::{Analyzer, FnKind, NameRes, Sig};
use crate::diag::Diagnostic;
use crate::parser::ast::*;

impl<'a> Analyzer<'a> {
    pub(super) fn stmt(&mut self, s: &Stmt, top: bool) {
        match &s.kind {
            StmtKind::Let { mutable, pattern, value } => {
                self.expr(value);
                self.check_binding_pattern(pattern);
                self.bind_pattern(pattern, *mutable, top);
                if let Some(class) = super::spawned_actor(s).filter(|_| !(top && self.at_top_level())) {
                    self.note_local_actor(class);
                }
            }
            StmtKind::Assign { target, value, .. } => {
                self.expr(value);
                self.assign_target(target);
            }
            StmtKind::Assert { cond, message } => {
                self.expr(cond);
                if let Some(m) = message {
                    self.expr(m);
                }
            }
            StmtKind::Match { value, arms } => self.match_stmt(value, arms),
            StmtKind::Expr(e) => self.expr(e),
            StmtKind::If { cond, then, else_ } => {
                self.expr(cond);
                self.block(then);
                match else_ {
                    Some(ElseBranch::Block(b)) => self.block(b),
                    Some(ElseBranch::If(s)) => self.stmt(s, false),
                    None => {}
                }
            }
            StmtKind::While { cond, body } => {
                self.expr(cond);
                self.cur().loops += 1;
                self.block(body);
                self.cur().loops -= 1;
            }
            StmtKind::For { vars, iter, body } => {
                self.expr(iter);
                if vars.len() > 2 {
                    self.error("E0206", "a `for` loop takes one or two names", vars[2].span(), "too many loop variables");
                }
                self.push_block();
                for v in vars {
                    self.check_binding_pattern(v);
                    self.bind_pattern(v, true, false);
                }
                self.cur().loops += 1;
                self.block(body);
                self.cur().loops -= 1;
                self.pop_block();
            }
            StmtKind::Break | StmtKind::Continue => {
                if self.cur().loops == 0 {
                    let what = if matches!(s.kind, StmtKind::Break) { "break" } else { "continue" };
                    self.error("E0207", format!("`{what}` outside a loop"), s.span, "not inside `while` or `for`");
                }
            }
            StmtKind::Return(e) => {
                if let Some(e) = e {
                    self.expr(e);
                }
                if self.cur().kind == FnKind::Main {
                    self.error("E0208", "`return` outside a function", s.span, "the top level cannot return; use `exit(code)`");
                }
            }
            StmtKind::Def(f) => self.function(f, FnKind::Def),
            StmtKind::Class(c) => {
                let has_parent = c.parent.is_some();
                if let Some(p) = &c.parent {
                    self.use_name(p);
                }
                for m in &c.methods {
                    self.function(m, FnKind::Method { has_parent });
                }
            }
            StmtKind::Actor(a) => {
                if !(top && self.at_top_level()) {
                    self.error("E0226", "actors are declared at the top level", a.name.span, "move this actor out of the block");
                }
                self.actor_decl(a)
            }
            StmtKind::Send(e) => {
                if !matches!(e.kind, ExprKind::MethodCall { .. } | ExprKind::Error) {
                    self.diags.push(
                        Diagnostic::new("E0223", "`send` needs a message: `send actor.handler(args)`", e.span, "not a method call")
                            .note("`send` delivers a tell (no reply); use `send_message(ref, map)` for a raw message"),
                    );
                }
                self.expr(e);
            }
            StmtKind::Try { body, catch, finally } => {
                self.block(body);
                if let Some((name, b)) = catch {
                    self.push_block();
                    if let Some(n) = name {
                        self.declare(n, true, None);
                    }
                    self.block(b);
                    self.pop_block();
                }
                if let Some(f) = finally {
                    self.block(f);
                }
            }
            StmtKind::Throw(e) => self.expr(e),
            StmtKind::Import { alias, path, path_span } => {
                if !top || !self.at_top_level() {
                    self.error("E0209", "`import` must be at the top level", *path_span, "move this import to the top of the file");
                    let _ = (alias, path);
                }
            }
            StmtKind::Error => {}
        }
    }

    /// An assignment's target: a name (which must be a `var`), an index,
    /// a field, or a list of targets.
    fn assign_target(&mut self, target: &Expr) {
        match &target.kind {
            ExprKind::Name(id) => {
                if let Some((r, mutable, _)) = self.resolve(&id.name) {
                    self.out.names.insert(id.id, r);
                    if mutable && matches!(r, NameRes::Global(_)) {
                        self.check_actor_global(id);
                    }
                    if matches!(r, NameRes::Builtin(_)) {
                        self.error(
                            "E0205",
                            format!("cannot assign to built-in `{}`", id.name),
                            id.span,
                            "declare it with `var` first to shadow it",
                        );
                    } else if !mutable {
                        self.diags.push(
                            Diagnostic::new(
                                "E0205",
                                format!("cannot assign twice to `{}`", id.name),
                                id.span,
                                "declared with `let`, so it cannot change",
                            )
                            .note("declare it with `var` to make it mutable"),
                        );
                    }
                } else {
                    self.use_name(id);
                }
            }
            ExprKind::Field { obj, name } if matches!(obj.kind, ExprKind::SelfRef(_)) => {
                self.check_state_assign(name);
                self.expr(target);
            }
            ExprKind::List(items) => items.iter().for_each(|t| self.assign_target(t)),
            _ => self.expr(target),
        }
    }

    fn fstr_parts(&mut self, parts: &[FPart]) {
        for p in parts {
            if let FPart::Field { expr, spec } = p {
                self.expr(expr);
                if let Some(spec) = spec {
                    self.fstr_parts(spec);
                }
            }
        }
    }

    pub(super) fn expr(&mut self, e: &Expr) {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::None | ExprKind::Error => {}
            ExprKind::FStr(parts) => self.fstr_parts(parts),
            ExprKind::Name(id) => {
                self.use_name(id);
            }
            ExprKind::SelfRef(id) => match self.resolve("self") {
                Some((r, _, _)) => {
                    self.out.names.insert(*id, r);
                }
                None => self.error("E0210", "`self` outside a class", e.span, "`self` only exists inside methods"),
            },
            ExprKind::List(v) => v.iter().for_each(|x| self.expr(x)),
            ExprKind::Map(v) => {
                for (k, x) in v {
                    if let MapKey::Expr(k) = k {
                        self.expr(k);
                    }
                    self.expr(x);
                }
            }
            ExprKind::ListComp { elem, clauses } => self.comprehension(clauses, &[elem]),
            ExprKind::MapComp { key, value, clauses } => self.comprehension(clauses, &[key, value]),
            ExprKind::Is(x, t) => {
                self.expr(x);
                self.type_operand(t);
            }
            ExprKind::Spread(x) => self.expr(x),
            ExprKind::Unary(_, x) | ExprKind::Await(x) => {
                if let ExprKind::Await(_) = e.kind {
                    self.check_await(e);
                }
                self.expr(x)
            }
            ExprKind::Binary(_, a, b) | ExprKind::Compare(_, a, b) | ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Range { start, end, .. } => {
                self.expr(start);
                self.expr(end);
            }
            ExprKind::Call { callee, args } => {
                let sig = match &callee.kind {
                    ExprKind::Name(id) => self.use_name(id),
                    _ => {
                        self.expr(callee);
                        None
                    }
                };
                self.args(args);
                if let Some(sig) = sig.filter(|_| !spreads(args)) {
                    self.check_call(&sig, args, e);
                }
            }
            ExprKind::MethodCall { recv, name, args } => {
                self.expr(recv);
                self.args(args);
                self.check_handler(recv, name);
            }
            ExprKind::SuperCall { args, .. } => {
                match self.fns.iter().rev().find(|f| f.kind != FnKind::Lambda).map(|f| f.kind) {
                    Some(FnKind::Method { has_parent: true }) => {}
                    _ => self.error(
                        "E0211",
                        "`super` outside a subclass method",
                        e.span,
                        "only methods of a class with `extends` can call `super`",
                    ),
                }
                let _ = self.resolve("self").map(|(r, _, _)| r);
                self.no_spread(args);
                self.args(args);
            }
            ExprKind::Index { obj, index } => {
                self.expr(obj);
                for i in index {
                    match i {
                        Index::Single(x) => self.expr(x),
                        Index::Slice { start, end, step } => {
                            start.iter().for_each(|x| self.expr(x));
                            end.iter().for_each(|x| self.expr(x));
                            step.iter().flatten().for_each(|x| self.expr(x));
                        }
                    }
                }
            }
            ExprKind::Field { obj, .. } => self.expr(obj),
            ExprKind::Lambda(f) => self.function(f, FnKind::Lambda),
            ExprKind::IfExpr { cond, then, else_ } => {
                self.expr(cond);
                self.expr(then);
                self.expr(else_);
            }
            ExprKind::Spawn { module: Some(m), args, options, .. } => {
                // A class of another module: checked when it is spawned.
                self.use_name(m);
                self.no_spread(args);
                self.args(args);
                if let Some(o) = options {
                    self.expr(o);
                    self.check_spawn_options(o);
                }
            }
            ExprKind::Spawn { module: None, class, args, options } => {
                let sig = self.use_name(class);
                if let Some(g) = self.scope.globals.get(&class.name) {
                    if !g.is_actor && self.lookup_local(&class.name).is_none() {
                        self.error("E0224", format!("`{}` is not an actor", class.name), class.span, "`spawn` starts an actor");
                    }
                }
                self.no_spread(args);
                self.args(args);
                if let Some(sig) = sig.filter(|_| !spreads(args)) {
                    self.check_call(&sig, args, e);
                }
                if let Some(o) = options {
                    self.expr(o);
                    self.check_spawn_options(o);
                }
            }
        }
    }

    pub(super) fn args(&mut self, args: &[Arg]) {
        for a in args {
            self.expr(&a.value);
        }
    }

    /// Spawns and `super` calls take their arguments one by one.
    fn no_spread(&mut self, args: &[Arg]) {
        for a in args.iter().filter(|a| matches!(a.value.kind, ExprKind::Spread(_))) {
            self.error("E0308", "`..` cannot spread into a spawn or a `super` call", a.value.span, "pass the arguments one by one");
        }
    }

    fn check_await(&mut self, e: &Expr) {
        let f = self.fns.last().expect("scope");
        let ok = match f.kind {
            FnKind::Main => true,
            FnKind::Def | FnKind::Method { .. } => f.is_async,
            FnKind::Lambda => false,
        };
        if !ok {
            self.diags.push(
                Diagnostic::new("E0212", "`await` outside an async function", e.span, "this function is not `async`")
                    .note("declare it with `async def`, or await at the top level"),
            );
        }
    }

    /// Compile-time argument check for a call to a known function.
    fn check_call(&mut self, sig: &Sig, args: &[Arg], call: &Expr) {
        let positional = args.iter().filter(|a| a.name.is_none()).count();
        if sig.variadic {
            for a in args {
                if let Some(n) = &a.name {
                    if !sig.params.iter().any(|(p, _)| *p == n.name) {
                        self.error("E0213", format!("`{}` has no parameter `{}`", sig.name, n.name), n.span, "unknown named argument");
                    }
                }
            }
            return;
        }
        if positional > sig.params.len() {
            self.error(
                "E0213",
                crate::bytecode::arity_message(&sig.name, &sig.params.len().to_string(), sig.params.len() != 1, positional),
                call.span,
                "too many arguments",
            );
            return;
        }
        let mut given = vec![false; sig.params.len()];
        given[..positional].iter_mut().for_each(|g| *g = true);
        for a in args {
            if let Some(n) = &a.name {
                match sig.params.iter().position(|(p, _)| *p == n.name) {
                    Some(i) if given[i] => self.error("E0213", format!("argument `{}` given twice", n.name), n.span, "already passed"),
                    Some(i) => given[i] = true,
                    None => self.error("E0213", format!("`{}` has no parameter `{}`", sig.name, n.name), n.span, "unknown named argument"),
                }
            }
        }
        let missing: Vec<&str> = sig.params.iter().zip(&given).filter(|((_, d), g)| !*d && !**g).map(|((n, _), _)| n.as_str()).collect();
        if !missing.is_empty() {
            self.error(
                "E0213",
                format!(
                    "missing argument{} `{}` in call to `{}`",
                    if missing.len() == 1 { "" } else { "s" },
                    missing.join("`, `"),
                    sig.name
                ),
                call.span,
                "not enough arguments",
            );
        }
    }
}

/// Whether a call spreads a list (`f(..xs)`): its count is known only when it runs.
fn spreads(args: &[Arg]) -> bool {
    args.iter().any(|a| matches!(a.value.kind, ExprKind::Spread(_)))
}
