//! Semantic analysis: resolves every name to a local, upvalue, global or
//! built-in, and rejects (collecting, not stopping) the errors listed in
//! runtime.md §1. Its output is side tables keyed by AST node ids.

mod actors;
mod builtins_sig;
mod checks;
mod patterns;

pub use patterns::TYPE_NAMES;

use crate::bytecode::builtin_index;
use crate::diag::{Diagnostic, Span};
use crate::parser::ast::*;
use std::collections::{HashMap, HashSet};

pub use actors::{RESTART_POLICIES, STRATEGIES};
pub use builtins_sig::builtin_sig;

/// What a name use refers to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NameRes {
    /// A local of the current function, identified by its declaration id.
    Local(NodeId),
    Upval(u16),
    Global(u32),
    Builtin(u16),
}

/// Where a closure's upvalue comes from, in terms of the enclosing function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UpvalRef {
    Local(NodeId),
    Upval(u16),
}

#[derive(Clone, Debug, Default)]
pub struct FnInfo {
    pub upvals: Vec<UpvalRef>,
}

/// The signature of a known callee, for compile-time argument checks.
#[derive(Clone, Debug, PartialEq)]
pub struct Sig {
    pub name: String,
    pub params: Vec<(String, bool)>,
    /// Built-ins like `print` take any number of positional arguments.
    pub variadic: bool,
}

#[derive(Clone, Debug)]
pub struct GlobalInfo {
    pub slot: u32,
    pub mutable: bool,
    pub sig: Option<Sig>,
    pub is_class: bool,
    pub is_actor: bool,
    /// A `let` bound to `spawn A(...)`: the actor class its reference is of.
    pub actor_of: Option<String>,
}

/// Module-level names; persists across REPL inputs.
#[derive(Clone, Debug, Default)]
pub struct ModuleScope {
    pub globals: indexmap::IndexMap<String, GlobalInfo>,
    /// In the REPL a name may be defined again.
    pub allow_redefine: bool,
    /// Each actor class's handlers (what a reference to one can be asked).
    pub actor_handlers: HashMap<String, Vec<String>>,
}

impl ModuleScope {
    pub fn slot_names(&self) -> Vec<String> {
        self.globals.keys().cloned().collect()
    }

    /// Which slots hold a `var` (in slot order).
    pub fn slot_mutability(&self) -> Vec<bool> {
        self.globals.values().map(|g| g.mutable).collect()
    }
}

#[derive(Default, Debug)]
pub struct Analysis {
    pub names: HashMap<NodeId, NameRes>,
    pub captured: HashSet<NodeId>,
    pub funcs: HashMap<NodeId, FnInfo>,
    /// Top-level declarations (ident id) that live in a global slot.
    pub decl_global: HashMap<NodeId, u32>,
    /// Every module global by name (imports bind by name).
    pub global_slots: HashMap<String, u32>,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum FnKind {
    Main,
    Def,
    Method { has_parent: bool },
    Lambda,
}

#[derive(Clone)]
struct Decl {
    id: NodeId,
    mutable: bool,
    sig: Option<Sig>,
    actor_of: Option<String>,
}

struct FnScope {
    kind: FnKind,
    is_async: bool,
    blocks: Vec<Vec<(String, Decl)>>,
    upvals: Vec<(NodeId, UpvalRef)>,
    loops: u32,
}

pub struct Analyzer<'a> {
    scope: &'a mut ModuleScope,
    pub out: Analysis,
    pub diags: Vec<Diagnostic>,
    fns: Vec<FnScope>,
    actor: Option<ActorScope>,
}

/// Analyze one module (or one REPL input). `scope` carries the module's globals.
pub fn analyze(stmts: &[Stmt], scope: &mut ModuleScope) -> (Analysis, Vec<Diagnostic>) {
    let mut a = Analyzer { scope, out: Analysis::default(), diags: Vec::new(), fns: Vec::new(), actor: None };
    a.fns.push(FnScope { kind: FnKind::Main, is_async: true, blocks: vec![vec![]], upvals: vec![], loops: 0 });
    a.declare_globals(stmts);
    for s in stmts {
        a.stmt(s, true);
    }
    a.out.global_slots = a.scope.globals.iter().map(|(n, g)| (n.clone(), g.slot)).collect();
    (a.out, a.diags)
}

pub fn fn_sig(f: &FnDecl) -> Sig {
    Sig {
        name: f.name.as_ref().map(|n| n.name.clone()).unwrap_or_else(|| "<lambda>".into()),
        params: f.params.iter().filter(|p| !p.rest).map(|p| (p.name.name.clone(), p.default.is_some())).collect(),
        variadic: f.params.last().is_some_and(|p| p.rest),
    }
}

fn class_sig(c: &ClassDecl) -> Option<Sig> {
    match c.methods.iter().find(|m| m.name.as_ref().is_some_and(|n| n.name == "init")) {
        Some(init) => Some(Sig { name: c.name.name.clone(), ..fn_sig(init) }),
        // Without `init` the parent's may apply; only check when there is no parent.
        None if c.parent.is_none() => Some(Sig { name: c.name.name.clone(), params: vec![], variadic: false }),
        None => None,
    }
}

/// `spawn A(args)` is checked against `A.init` (no `init`: no arguments).
fn actor_sig(a: &ActorDecl) -> Sig {
    match a.methods.iter().find(|m| m.name.as_ref().is_some_and(|n| n.name == "init")) {
        Some(init) => Sig { name: a.name.name.clone(), ..fn_sig(init) },
        None => Sig { name: a.name.name.clone(), params: vec![], variadic: false },
    }
}

/// What a reference to actor `a` can be asked: its methods but `init`.
fn actor_handlers(a: &ActorDecl) -> Vec<String> {
    let names = a.methods.iter().filter_map(|m| m.name.as_ref()).map(|n| n.name.clone());
    names.filter(|n| !n.starts_with('$') && n != "init").collect()
}

/// `let NAME = spawn A(...)`: the actor class `A` (of this module).
fn spawned_actor(s: &Stmt) -> Option<String> {
    match &s.kind {
        StmtKind::Let { mutable: false, pattern: Pattern::Name(_), value } => match &value.kind {
            ExprKind::Spawn { module: None, class, .. } => Some(class.name.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// The actor whose body is being analyzed.
struct ActorScope {
    name: String,
    states: Vec<String>,
}

impl<'a> Analyzer<'a> {
    fn error(&mut self, code: &'static str, title: impl Into<String>, span: Span, label: impl Into<String>) {
        self.diags.push(Diagnostic::new(code, title, span, label));
    }

    fn cur(&mut self) -> &mut FnScope {
        self.fns.last_mut().expect("function scope")
    }

    fn at_top_level(&self) -> bool {
        self.fns.len() == 1 && self.fns[0].blocks.len() == 1
    }

    /// Declare every top-level name first: top-level `def`/`class` may be used
    /// before their line, and `let`/`var` are module globals.
    fn declare_globals(&mut self, stmts: &[Stmt]) {
        let mut seen: HashMap<String, Span> = HashMap::new();
        for s in stmts {
            let mut names: Vec<(&Ident, bool, Option<Sig>, bool)> = Vec::new();
            match &s.kind {
                StmtKind::Let { mutable, pattern, .. } => {
                    let mut v = Vec::new();
                    pattern_names(pattern, &mut v);
                    names.extend(v.into_iter().map(|i| (i, *mutable, None, false)));
                }
                StmtKind::Def(f) => names.extend(f.name.as_ref().map(|n| (n, false, Some(fn_sig(f)), false))),
                StmtKind::Class(c) => names.push((&c.name, false, class_sig(c), true)),
                StmtKind::Actor(a) => {
                    self.scope.actor_handlers.insert(a.name.name.clone(), actor_handlers(a));
                    names.push((&a.name, false, Some(actor_sig(a)), false))
                }
                StmtKind::Import { path, alias, .. } => {
                    if let Some(a) = alias {
                        names.push((a, false, None, false));
                    } else if let ImportPath::Name(_) = path {
                        // the name ident is not kept; handled in stmt()
                    }
                }
                _ => {}
            }
            for (ident, mutable, sig, is_class) in names {
                if let Some(prev) = seen.get(&ident.name) {
                    if !self.scope.allow_redefine {
                        let mut d =
                            Diagnostic::new("E0201", format!("`{}` is defined twice", ident.name), ident.span, "defined again here");
                        d.labels.push(crate::diag::Label { span: *prev, message: "first defined here".into() });
                        self.diags.push(d);
                        continue;
                    }
                }
                seen.insert(ident.name.clone(), ident.span);
                self.define_global(ident, mutable, sig, is_class);
                let actor_of = spawned_actor(s);
                if let Some(g) = self.scope.globals.get_mut(&ident.name) {
                    g.is_actor = matches!(s.kind, StmtKind::Actor(_));
                    g.actor_of = actor_of;
                }
            }
            let implicit = match &s.kind {
                StmtKind::Import { path: ImportPath::Name(n), alias: None, path_span } => Some((n.clone(), *path_span)),
                StmtKind::Import { path: ImportPath::File(f), alias: None, path_span } => {
                    Some((std::path::Path::new(f).file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string(), *path_span))
                }
                _ => None,
            };
            if let Some((name, span)) = implicit {
                // `import fs` binds `fs`, like a `let`: a second definition of
                // the name is the same error.
                if let Some(prev) = seen.get(&name) {
                    if !self.scope.allow_redefine {
                        let mut d = Diagnostic::new("E0201", format!("`{name}` is defined twice"), span, "imported here");
                        d.labels.push(crate::diag::Label { span: *prev, message: "first defined here".into() });
                        self.diags.push(d);
                        continue;
                    }
                }
                seen.insert(name.clone(), span);
                self.define_global(&Ident { name, span, id: u32::MAX }, false, None, false);
            }
        }
    }

    fn define_global(&mut self, ident: &Ident, mutable: bool, sig: Option<Sig>, is_class: bool) {
        let slot = match self.scope.globals.get(&ident.name) {
            Some(g) => g.slot,
            None => self.scope.globals.len() as u32,
        };
        let g = GlobalInfo { slot, mutable, sig, is_class, is_actor: false, actor_of: None };
        self.scope.globals.insert(ident.name.clone(), g);
        if ident.id != u32::MAX {
            self.out.decl_global.insert(ident.id, slot);
        }
    }

    fn push_block(&mut self) {
        self.cur().blocks.push(Vec::new());
    }

    fn pop_block(&mut self) {
        self.cur().blocks.pop();
    }

    /// Declare a local in the innermost block.
    fn declare(&mut self, ident: &Ident, mutable: bool, sig: Option<Sig>) {
        let dup = self.cur().blocks.last().and_then(|b| b.iter().find(|(n, _)| *n == ident.name).map(|(_, d)| d.id));
        if dup.is_some() {
            self.error("E0201", format!("`{}` is defined twice in this block", ident.name), ident.span, "defined again here");
        }
        let d = Decl { id: ident.id, mutable, sig, actor_of: None };
        self.cur().blocks.last_mut().expect("block").push((ident.name.clone(), d));
    }

    /// Declare a pattern's names: globals at the top level, locals elsewhere.
    fn bind_pattern(&mut self, p: &Pattern, mutable: bool, top: bool) {
        let mut v = Vec::new();
        pattern_names(p, &mut v);
        for i in v {
            if !(top && self.at_top_level()) {
                self.declare(i, mutable, None);
            }
        }
    }

    fn lookup_local(&self, name: &str) -> Option<(usize, Decl)> {
        for (fi, f) in self.fns.iter().enumerate().rev() {
            for b in f.blocks.iter().rev() {
                if let Some((_, d)) = b.iter().rev().find(|(n, _)| n == name) {
                    return Some((fi, d.clone()));
                }
            }
        }
        None
    }

    fn add_upval(&mut self, fi: usize, key: NodeId, r: UpvalRef) -> u16 {
        let f = &mut self.fns[fi];
        if let Some(i) = f.upvals.iter().position(|(k, _)| *k == key) {
            return i as u16;
        }
        f.upvals.push((key, r));
        (f.upvals.len() - 1) as u16
    }

    /// Resolve a name use; `None` when it is unknown (reported by the caller).
    fn resolve(&mut self, name: &str) -> Option<(NameRes, bool, Option<Sig>)> {
        let cur = self.fns.len() - 1;
        if let Some((fi, d)) = self.lookup_local(name) {
            if fi == cur {
                return Some((NameRes::Local(d.id), d.mutable, d.sig));
            }
            self.out.captured.insert(d.id);
            let mut idx = self.add_upval(fi + 1, d.id, UpvalRef::Local(d.id));
            for g in fi + 2..=cur {
                idx = self.add_upval(g, d.id, UpvalRef::Upval(idx));
            }
            return Some((NameRes::Upval(idx), d.mutable, d.sig));
        }
        if let Some(g) = self.scope.globals.get(name) {
            return Some((NameRes::Global(g.slot), g.mutable, g.sig.clone()));
        }
        if let Some(b) = builtin_index(name) {
            return Some((NameRes::Builtin(b as u16), false, builtin_sig(name)));
        }
        None
    }

    fn use_name(&mut self, ident: &Ident) -> Option<Sig> {
        match self.resolve(&ident.name) {
            Some((r, mutable, sig)) => {
                self.out.names.insert(ident.id, r);
                if mutable && matches!(r, NameRes::Global(_)) {
                    self.check_actor_global(ident);
                }
                sig
            }
            None => {
                let mut d = Diagnostic::new("E0202", format!("unknown name `{}`", ident.name), ident.span, "not defined anywhere in scope");
                let locals = self.fns.iter().flat_map(|f| f.blocks.iter().flatten().map(|(n, _)| n.as_str()));
                let globals = self.scope.globals.keys().map(String::as_str);
                let builtins = crate::bytecode::BUILTINS.iter().copied();
                if let Some(h) = crate::suggest::hint(&ident.name, locals.chain(globals).chain(builtins)) {
                    d = d.note(h);
                }
                self.diags.push(d);
                None
            }
        }
    }

    /// Actors share nothing: a module-level `var` cannot be named inside one.
    fn check_actor_global(&mut self, ident: &Ident) {
        if let Some(a) = &self.actor {
            let title = format!("actor `{}` cannot use the module-level `var` `{}`", a.name, ident.name);
            self.diags.push(
                Diagnostic::new("E0222", title, ident.span, "a mutable module variable")
                    .note("actors share nothing: pass the value in a message or keep it in a `state` field"),
            );
        }
    }

    fn block(&mut self, b: &Block) {
        self.push_block();
        self.hoist(&b.stmts);
        for s in &b.stmts {
            self.stmt(s, false);
        }
        self.pop_block();
    }

    /// Nested `def`s and classes are visible in their whole block (so they can be
    /// mutually recursive).
    fn hoist(&mut self, stmts: &[Stmt]) {
        for s in stmts {
            match &s.kind {
                StmtKind::Def(f) => {
                    if let Some(n) = &f.name {
                        self.declare(n, false, Some(fn_sig(f)));
                    }
                }
                StmtKind::Class(c) => self.declare(&c.name, false, class_sig(c)),
                _ => {}
            }
        }
    }

    fn function(&mut self, f: &FnDecl, kind: FnKind) {
        let mut scope = FnScope { kind, is_async: f.is_async, blocks: vec![vec![]], upvals: vec![], loops: 0 };
        if let FnKind::Method { .. } = kind {
            scope.blocks[0].push(("self".into(), Decl { id: f.id, mutable: false, sig: None, actor_of: None }));
        }
        self.fns.push(scope);
        let mut seen = HashSet::new();
        for p in &f.params {
            if !seen.insert(p.name.name.clone()) {
                self.error("E0203", format!("duplicate parameter `{}`", p.name.name), p.name.span, "this name is already a parameter");
                continue;
            }
            self.check_type_ann(p.ty.as_ref());
            self.declare(&p.name, true, None);
        }
        // Defaults are evaluated at call time inside the function, so they may
        // use earlier parameters.
        for p in &f.params {
            if let Some(d) = &p.default {
                self.expr(d);
            }
        }
        self.check_type_ann(f.ret.as_ref());
        match &f.body {
            FnBody::Block(b) => self.block(b),
            FnBody::Expr(e) => self.expr(e),
        }
        let scope = self.fns.pop().expect("function scope");
        self.out.funcs.insert(f.id, FnInfo { upvals: scope.upvals.into_iter().map(|(_, r)| r).collect() });
    }

    fn check_type_ann(&mut self, t: Option<&TypeAnn>) {
        let Some(t) = t else { return };
        const BUILTIN_TYPES: &[&str] =
            &["int", "float", "bool", "str", "list", "map", "matrix", "fn", "actor", "future", "any", "none", "range", "error"];
        if BUILTIN_TYPES.contains(&t.name.as_str()) {
            return;
        }
        let known_class =
            self.scope.globals.get(&t.name).is_some_and(|g| g.is_class) || self.lookup_local(&t.name).is_some_and(|(_, d)| d.sig.is_some());
        if !known_class {
            self.diags.push(
                Diagnostic::new("E0204", format!("unknown type `{}`", t.name), t.span, "not a built-in type or a class")
                    .note("types: int float bool str list map matrix fn actor future any, or a class name"),
            );
        }
    }
}

/// The names a pattern binds, in order (an `a | b` pattern's from each
/// alternative).
fn pattern_names<'p>(p: &'p Pattern, out: &mut Vec<&'p Ident>) {
    match p {
        Pattern::Name(i) => out.push(i),
        Pattern::Wildcard(_) | Pattern::Literal(_) => {}
        Pattern::List(v, _) | Pattern::Or(v, _) => v.iter().for_each(|q| pattern_names(q, out)),
        Pattern::Rest(q, _) => pattern_names(q, out),
        Pattern::Map(v, _) => v.iter().for_each(|(_, q)| pattern_names(q, out)),
        Pattern::Class { fields, .. } => fields.iter().for_each(|(_, q)| pattern_names(q, out)),
    }
}
