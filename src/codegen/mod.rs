//! Code generation: AST + sema side tables → NBC functions. Registers are
//! allocated stack-wise: locals live until their block ends, temporaries are
//! freed as soon as an expression is done.

mod expr;
mod patterns;
mod stmt;

use crate::bytecode::{Const, Function, Instr, Op, ParamInfo, Program, UpvalSrc};
use crate::diag::{Diagnostic, Span};
use crate::parser::ast::*;
use crate::sema::{Analysis, UpvalRef};
use std::collections::HashMap;

/// What an `import` statement refers to.
#[derive(Clone, Debug)]
pub enum ImportTarget {
    Module(u32),
    Native(String),
}

/// Accumulates a program across modules (and REPL inputs).
#[derive(Default)]
pub struct ProgramBuilder {
    pub program: Program,
    strings: HashMap<String, u32>,
}

impl ProgramBuilder {
    pub fn konst(&mut self, c: Const) -> u32 {
        if let Const::Str(s) = &c {
            if let Some(i) = self.strings.get(s) {
                return *i;
            }
            self.strings.insert(s.clone(), self.program.consts.len() as u32);
        }
        self.program.consts.push(c);
        (self.program.consts.len() - 1) as u32
    }
}

#[derive(Clone)]
pub(crate) struct TryCtx<'a> {
    finally: Option<&'a Block>,
}

pub(crate) struct LoopCtx {
    breaks: Vec<usize>,
    continues: Vec<usize>,
    /// Number of active try handlers when the loop began.
    try_depth: usize,
}

pub(crate) struct FnGen<'a> {
    code: Vec<Instr>,
    spans: Vec<Span>,
    next_reg: u16,
    max_reg: u16,
    locals: HashMap<NodeId, u8>,
    loops: Vec<LoopCtx>,
    tries: Vec<TryCtx<'a>>,
    is_main: bool,
    /// Declaration id of `self` (methods), and the return type to check.
    self_decl: Option<NodeId>,
    ret_type: Option<&'a TypeAnn>,
    name: String,
    /// An `async def`: returns end its task (`AsyncEnd`).
    is_async: bool,
}

pub struct Gen<'a> {
    pub pb: &'a mut ProgramBuilder,
    an: &'a Analysis,
    module: u32,
    imports: &'a HashMap<u32, ImportTarget>,
    pub diags: Vec<Diagnostic>,
    fns: Vec<FnGen<'a>>,
    span: Span,
    /// REPL: print the value of a final expression statement.
    repl_print: bool,
}

/// Compile a module's (or REPL input's) top level into a new function and
/// return its index. `imports` maps an import's path span start to its target.
#[allow(clippy::too_many_arguments)]
pub fn compile_module(
    pb: &mut ProgramBuilder,
    stmts: &[Stmt],
    an: &Analysis,
    module: u32,
    imports: &HashMap<u32, ImportTarget>,
    repl_print: bool,
    file: u32,
) -> Result<u32, Vec<Diagnostic>> {
    let mut g = Gen { pb, an, module, imports, diags: Vec::new(), fns: Vec::new(), span: Span { file, start: 0, end: 0 }, repl_print };
    g.fns.push(FnGen::new("<module>".into(), true));
    g.top_level(stmts);
    let f = g.fns.pop().expect("main");
    let idx = g.finish_fn(f, vec![], false, false, vec![]);
    if g.diags.is_empty() {
        Ok(idx)
    } else {
        Err(g.diags)
    }
}

impl<'a> FnGen<'a> {
    fn new(name: String, is_main: bool) -> Self {
        FnGen {
            code: vec![],
            spans: vec![],
            next_reg: 0,
            max_reg: 0,
            locals: HashMap::new(),
            loops: vec![],
            tries: vec![],
            is_main,
            self_decl: None,
            ret_type: None,
            name,
            is_async: false,
        }
    }
}

impl<'a> Gen<'a> {
    pub(crate) fn f(&mut self) -> &mut FnGen<'a> {
        self.fns.last_mut().expect("function")
    }

    pub(crate) fn emit(&mut self, op: Op, a: u8, b: u16, c: u32) -> usize {
        let span = self.span;
        let f = self.f();
        f.code.push(Instr::new(op, a, b, c));
        f.spans.push(span);
        f.code.len() - 1
    }

    pub(crate) fn here(&mut self) -> usize {
        self.f().code.len()
    }

    pub(crate) fn patch(&mut self, at: usize, target: usize) {
        self.f().code[at].c = target as u32;
    }

    pub(crate) fn alloc(&mut self) -> u8 {
        let f = self.fns.last_mut().expect("function");
        let r = f.next_reg;
        f.next_reg += 1;
        if f.next_reg > f.max_reg {
            f.max_reg = f.next_reg;
        }
        if r > 250 {
            let span = self.span;
            if !self.diags.iter().any(|d| d.code == "E0301") {
                self.diags.push(Diagnostic::new(
                    "E0301",
                    "function too large",
                    span,
                    "needs more than 250 registers; split it into smaller functions",
                ));
            }
            return 250;
        }
        r as u8
    }

    pub(crate) fn level(&mut self) -> u16 {
        self.f().next_reg
    }

    pub(crate) fn free_to(&mut self, level: u16) {
        self.f().next_reg = level;
    }

    pub(crate) fn str_const(&mut self, s: &str) -> u32 {
        self.pb.konst(Const::Str(s.to_string()))
    }

    /// Finish a function: resolve upvalues against the enclosing frame.
    fn finish_fn(&mut self, f: FnGen<'a>, params: Vec<ParamInfo>, is_method: bool, is_async: bool, upvals: Vec<UpvalRef>) -> u32 {
        let parent_locals = self.fns.last().map(|p| p.locals.clone()).unwrap_or_default();
        let upvals = upvals
            .into_iter()
            .map(|u| match u {
                UpvalRef::Local(d) => UpvalSrc::Reg(*parent_locals.get(&d).unwrap_or(&0)),
                UpvalRef::Upval(i) => UpvalSrc::Upval(i),
            })
            .collect();
        let mut code = f.code;
        let mut spans = f.spans;
        if !matches!(code.last().map(|i| i.op), Some(Op::Return | Op::ReturnNone | Op::AsyncEnd)) || code.is_empty() {
            code.push(Instr::new(Op::ReturnNone, 0, 0, 0));
            spans.push(self.span);
        }
        let func =
            Function { name: f.name, module: self.module, params, is_method, is_async, num_regs: f.max_reg.max(1), upvals, code, spans };
        self.pb.program.functions.push(func);
        (self.pb.program.functions.len() - 1) as u32
    }

    /// Compile a function or lambda; returns its function index.
    pub(crate) fn function(&mut self, d: &'a FnDecl, is_method: bool) -> u32 {
        let name = d.name.as_ref().map(|n| n.name.clone()).unwrap_or_else(|| "<lambda>".into());
        let mut f = FnGen::new(name, false);
        f.ret_type = d.ret.as_ref();
        f.is_async = d.is_async;
        self.fns.push(f);
        let saved_span = self.span;
        self.span = d.span;
        if is_method {
            let r = self.alloc();
            self.f().locals.insert(d.id, r);
            self.f().self_decl = Some(d.id);
        }
        let mut regs = Vec::new();
        for p in &d.params {
            let r = self.alloc();
            self.f().locals.insert(p.name.id, r);
            regs.push(r);
        }
        for (i, p) in d.params.iter().enumerate() {
            if let Some(def) = &p.default {
                let j = self.emit(Op::ArgGiven, regs[i], 0, 0);
                self.expr_to(def, regs[i]);
                let h = self.here();
                self.patch(j, h);
            }
            if let Some(t) = &p.ty {
                let k = self.str_const(&t.name);
                self.span = t.span;
                self.emit(Op::CheckType, regs[i], i as u16, k);
                self.span = d.span;
            }
        }
        if is_method && self.an.captured.contains(&d.id) {
            self.emit(Op::NewCell, 0, 0, 0);
        }
        for (i, p) in d.params.iter().enumerate() {
            if self.an.captured.contains(&p.name.id) {
                self.emit(Op::NewCell, regs[i], 0, 0);
            }
        }
        if d.is_async {
            // Arguments are bound and checked in the caller; the rest runs as a task.
            self.emit(Op::AsyncBegin, 0, 0, 0);
        }
        match &d.body {
            FnBody::Block(b) => {
                self.block(b);
                self.span = Span { start: b.span.end.saturating_sub(1), ..b.span };
                self.emit_return(None);
            }
            FnBody::Expr(e) => {
                let r = self.expr_any(e);
                self.emit_return(Some(r));
            }
        }
        self.span = saved_span;
        let f = self.fns.pop().expect("function");
        let params =
            d.params.iter().map(|p| ParamInfo { name: p.name.name.clone(), has_default: p.default.is_some(), rest: p.rest }).collect();
        let upvals = self.an.funcs.get(&d.id).map(|i| i.upvals.clone()).unwrap_or_default();
        self.finish_fn(f, params, is_method, d.is_async, upvals)
    }

    /// Return `reg` (or none), checking the declared return type.
    pub(crate) fn emit_return(&mut self, reg: Option<u8>) {
        let reg = match reg {
            Some(r) => r,
            None => {
                if self.f().ret_type.is_none() && !self.f().is_async {
                    self.emit(Op::ReturnNone, 0, 0, 0);
                    return;
                }
                let r = self.alloc();
                self.emit(Op::LoadNone, r, 0, 0);
                r
            }
        };
        if let Some(t) = self.f().ret_type {
            let k = self.str_const(&t.name);
            self.emit(Op::CheckType, reg, 0xFFFF, k);
        }
        let op = if self.f().is_async { Op::AsyncEnd } else { Op::Return };
        self.emit(op, reg, 0, 0);
    }
}
