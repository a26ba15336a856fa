//! Grammar actions: small functions the LALRPOP rules call, so the grammar stays
//! declarative. `Ctx` collects diagnostics and hands out node ids.

use super::ast::*;
use crate::diag::{Diagnostic, Span};
use crate::lexer::Tok;
use lalrpop_util::{ErrorRecovery, ParseError};
use std::cell::{Cell, RefCell};

pub use super::patterns::MapEntryRaw;

pub struct Ctx {
    pub file: u32,
    pub next_id: Cell<u32>,
    pub errors: RefCell<Vec<Diagnostic>>,
}

impl Ctx {
    pub fn new(file: u32, first_id: u32) -> Ctx {
        Ctx { file, next_id: Cell::new(first_id), errors: RefCell::new(Vec::new()) }
    }

    pub fn span(&self, l: usize, r: usize) -> Span {
        Span::new(self.file, l, r.max(l))
    }

    pub fn fresh_id(&self) -> NodeId {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }

    pub fn error(&self, d: Diagnostic) {
        self.errors.borrow_mut().push(d);
    }

    pub fn ident(&self, name: String, l: usize, r: usize) -> Ident {
        Ident { name, span: self.span(l, r), id: self.fresh_id() }
    }

    pub fn stmts(&self, mut v: Vec<Stmt>, last: Option<Stmt>) -> Vec<Stmt> {
        v.extend(last);
        v
    }

    pub fn members(&self, mut v: Vec<Member>, last: Option<Member>) -> Vec<Member> {
        v.extend(last);
        v
    }

    pub fn recover(&self, e: ErrorRecovery<usize, Tok, ()>, l: usize, r: usize) -> Stmt {
        self.report_parse_error(e.error);
        Stmt { kind: StmtKind::Error, span: self.span(l, r) }
    }

    /// Turn a LALRPOP error into a diagnostic that says what was expected.
    pub fn report_parse_error(&self, e: ParseError<usize, Tok, ()>) {
        let d = match e {
            ParseError::UnrecognizedToken { token: (l, tok, r), expected } => {
                if tok == Tok::Error {
                    return; // the lexer already reported this token
                }
                let what = if tok == Tok::Sep && l == r { "end of line".to_string() } else { tok.to_string() };
                Diagnostic::new(
                    "E0100",
                    format!("unexpected {what}"),
                    self.span(l, r),
                    format!("expected {}", describe_expected(&expected)),
                )
            }
            ParseError::UnrecognizedEof { location, expected } => Diagnostic::new(
                "E0101",
                "unexpected end of file",
                self.span(location, location),
                format!("expected {}", describe_expected(&expected)),
            ),
            ParseError::InvalidToken { location } => {
                Diagnostic::new("E0102", "invalid token", self.span(location, location + 1), "not understood here")
            }
            ParseError::ExtraToken { token: (l, tok, r) } => {
                Diagnostic::new("E0100", format!("unexpected {tok}"), self.span(l, r), "expected end of input")
            }
            ParseError::User { .. } => return,
        };
        self.error(d);
    }

    pub fn assign(&self, target: Expr, op: Option<BinOp>, value: Expr) -> StmtKind {
        self.check_target(&target, op.is_none());
        StmtKind::Assign { target, op, value }
    }

    /// A name, index or field; with a plain `=` also a list of targets
    /// (`[a, b] = [b, a]`).
    fn check_target(&self, target: &Expr, plain: bool) {
        match &target.kind {
            ExprKind::Name(_) | ExprKind::Index { .. } | ExprKind::Field { .. } | ExprKind::Error => {}
            ExprKind::List(items) if plain => items.iter().for_each(|t| self.check_target(t, true)),
            _ => self.error(Diagnostic::new(
                "E0103",
                "invalid assignment target",
                target.span,
                "only a name, an index `a[i]`, a field `a.b` or a list of them (`[a, b] = ...`) can be assigned",
            )),
        }
    }

    pub fn else_if(&self, c: Expr, t: Block, e: StmtKind, l: usize, r: usize) -> StmtKind {
        let nested = Stmt { kind: e, span: self.span(l, r) };
        StmtKind::If { cond: c, then: t, else_: Some(ElseBranch::If(Box::new(nested))) }
    }

    pub fn class(&self, name: Ident, parent: Option<Ident>, members: Vec<Member>, l: usize, r: usize) -> StmtKind {
        let mut methods = Vec::new();
        for m in members {
            match m {
                Member::Method(f) => methods.push(f),
                Member::State(s) if s.name.name.is_empty() => {}
                Member::State(s) => self.error(Diagnostic::new(
                    "E0104",
                    "`state` fields belong to actors",
                    s.name.span,
                    "classes set fields on `self` in `init` instead",
                )),
            }
        }
        StmtKind::Class(ClassDecl { name, parent, methods, span: self.span(l, r) })
    }

    pub fn actor(&self, name: Ident, members: Vec<Member>, l: usize, r: usize) -> StmtKind {
        let span = self.span(l, r);
        let mut methods = Vec::new();
        let mut states = Vec::new();
        let mut inits = Vec::new();
        for m in members {
            match m {
                Member::Method(f) => methods.push(f),
                Member::State(s) if s.name.name.is_empty() => {}
                Member::State(s) => {
                    let this = Expr::new(ExprKind::SelfRef(self.fresh_id()), s.name.span);
                    let target = Expr::new(ExprKind::Field { obj: Box::new(this), name: s.name.clone() }, s.name.span);
                    inits.push(Stmt { kind: StmtKind::Assign { target, op: None, value: s.value }, span: s.name.span });
                    states.push(s.name);
                }
            }
        }
        let state_init = FnDecl {
            name: Some(Ident { name: STATE_INIT.into(), span: name.span, id: self.fresh_id() }),
            params: vec![],
            ret: None,
            body: FnBody::Block(Block { stmts: inits, span }),
            is_async: false,
            span,
            id: self.fresh_id(),
        };
        methods.push(state_init);
        StmtKind::Actor(ActorDecl { name, states, methods, span })
    }

    pub fn try_stmt(&self, body: Block, catch: Option<(Ident, Block)>, finally: Option<Block>) -> StmtKind {
        if catch.is_none() && finally.is_none() {
            self.error(Diagnostic::new(
                "E0105",
                "`try` without `catch` or `finally`",
                body.span,
                "add `catch e { ... }` or `finally { ... }`",
            ));
        }
        StmtKind::Try { body, catch: catch.map(|(n, b)| (Some(n), b)), finally }
    }

    #[allow(clippy::too_many_arguments)]
    pub fn fn_decl(
        &self,
        name: Option<Ident>,
        params: Vec<Param>,
        ret: Option<TypeAnn>,
        body: FnBody,
        is_async: bool,
        l: usize,
        r: usize,
    ) -> FnDecl {
        let mut seen_default = false;
        for (i, p) in params.iter().enumerate() {
            if p.rest && i + 1 != params.len() {
                self.error(Diagnostic::new("E0111", "`..rest` must be the last parameter", p.name.span, "move it to the end"));
            }
            if p.default.is_some() {
                seen_default = true;
            } else if seen_default {
                self.error(Diagnostic::new(
                    "E0106",
                    "parameter without default after one with a default",
                    p.name.span,
                    "give this parameter a default too",
                ));
            }
        }
        FnDecl { name, params, ret, body, is_async, span: self.span(l, r), id: self.fresh_id() }
    }

    pub fn lambda(&self, params: Vec<Ident>, body: FnBody, l: usize, r: usize) -> Expr {
        let params = params.into_iter().map(|n| Param { name: n, ty: None, default: None, rest: false }).collect();
        let f = self.fn_decl(None, params, None, body, false, l, r);
        Expr::new(ExprKind::Lambda(Box::new(f)), self.span(l, r))
    }

    fn arm(&self, b: Block) -> Expr {
        let span = b.span;
        let mut stmts = b.stmts;
        if stmts.len() == 1 {
            if let StmtKind::Expr(_) = &stmts[0].kind {
                if let Some(Stmt { kind: StmtKind::Expr(e), .. }) = stmts.pop() {
                    return e;
                }
            }
        }
        self.error(Diagnostic::new(
            "E0107",
            "an `if` expression arm must be one expression",
            span,
            "write one expression here, or use an `if` statement",
        ));
        Expr::new(ExprKind::Error, span)
    }

    pub fn if_expr(&self, c: Expr, t: Block, e: Block, l: usize, r: usize) -> Expr {
        let (t, e) = (self.arm(t), self.arm(e));
        Expr::new(ExprKind::IfExpr { cond: Box::new(c), then: Box::new(t), else_: Box::new(e) }, self.span(l, r))
    }

    pub fn if_expr_chain(&self, c: Expr, t: Block, e: Expr, l: usize, r: usize) -> Expr {
        let t = self.arm(t);
        Expr::new(ExprKind::IfExpr { cond: Box::new(c), then: Box::new(t), else_: Box::new(e) }, self.span(l, r))
    }

    pub fn compare(&self, a: Expr, op: CmpOp, b: Expr, l: usize, r: usize) -> Expr {
        if let ExprKind::Compare(..) = a.kind {
            self.error(
                Diagnostic::new("E0108", "comparisons cannot be chained", self.span(l, r), "`a < b < c` is not allowed")
                    .note("write `a < b and b < c`"),
            );
        }
        Expr::new(ExprKind::Compare(op, Box::new(a), Box::new(b)), self.span(l, r))
    }

    pub fn binary(&self, op: BinOp, a: Expr, b: Expr, l: usize, r: usize) -> Expr {
        Expr::new(ExprKind::Binary(op, Box::new(a), Box::new(b)), self.span(l, r))
    }

    pub fn unary(&self, op: UnOp, e: Expr, l: usize, r: usize) -> Expr {
        // Fold `-literal` so `-9223372036854775808`-style constants and `-1.5` are plain constants.
        match (&op, &e.kind) {
            (UnOp::Neg, ExprKind::Float(f)) => Expr::new(ExprKind::Float(-f), self.span(l, r)),
            (UnOp::Neg, ExprKind::Int(i)) if *i != 0 => Expr::new(ExprKind::Int(-i), self.span(l, r)),
            _ => Expr::new(ExprKind::Unary(op, Box::new(e)), self.span(l, r)),
        }
    }

    pub fn range(&self, a: Expr, b: Expr, inclusive: bool, l: usize, r: usize) -> Expr {
        Expr::new(ExprKind::Range { start: Box::new(a), end: Box::new(b), inclusive }, self.span(l, r))
    }

    pub fn call(&self, f: Expr, args: Vec<Arg>, l: usize, r: usize) -> Expr {
        let mut seen_named = false;
        for a in &args {
            match &a.name {
                Some(_) => seen_named = true,
                None if seen_named => self.error(Diagnostic::new(
                    "E0109",
                    "positional argument after a named one",
                    a.value.span,
                    "named arguments must come last",
                )),
                None => {}
            }
        }
        let span = self.span(l, r);
        match f.kind {
            ExprKind::Field { obj, name } => Expr::new(ExprKind::MethodCall { recv: obj, name, args }, span),
            _ => Expr::new(ExprKind::Call { callee: Box::new(f), args }, span),
        }
    }

    pub fn spawn(&self, module: Option<Ident>, class: Ident, args: Vec<Arg>, options: Option<Expr>, l: usize, r: usize) -> Expr {
        Expr::new(ExprKind::Spawn { module, class, args, options: options.map(Box::new) }, self.span(l, r))
    }
}

/// Summarise LALRPOP's expected-token list into something a person can read:
/// closing brackets and separators first, operators as one item.
fn describe_expected(expected: &[String]) -> String {
    const OPERATORS: &[&str] = &[
        "and", "or", "not", "is", "+", "-", "*", "/", "//", "%", "**", "@", "==", "!=", "<", "<=", ">", ">=", "|", "&", "^", "<<", ">>",
        "..", "..=", ".", "(", "[",
    ];
    let mut operator = false;
    let mut names: Vec<(u8, String)> = Vec::new();
    for e in expected {
        let t = e.trim_matches('"');
        let (rank, name) = match t {
            ")" | "]" | "}" | "," => (0, format!("`{t}`")),
            "ident" => (1, "a name".to_string()),
            "int" | "float" => (1, "a number".to_string()),
            "str" | "fstr" => (1, "a string".to_string()),
            ";" => (2, "end of statement".to_string()),
            "#{" => (1, "`{`".to_string()),
            "error" => continue,
            t if OPERATORS.contains(&t) => {
                operator = true;
                continue;
            }
            other => (1, format!("`{other}`")),
        };
        if !names.iter().any(|(_, n)| *n == name) {
            names.push((rank, name));
        }
    }
    names.sort_by_key(|(rank, _)| *rank);
    let mut uniq: Vec<String> = names.into_iter().map(|(_, n)| n).collect();
    let starts_expr = uniq.iter().any(|n| n == "a name") && uniq.iter().any(|n| n == "a number");
    if starts_expr {
        return "an expression".to_string();
    }
    if uniq.len() > 6 {
        uniq.truncate(6);
        uniq.push("...".into());
    }
    if operator {
        uniq.push("an operator".into());
    }
    match uniq.len() {
        0 => "something else".into(),
        1 => uniq.remove(0),
        n => {
            let last = uniq.remove(n - 1);
            format!("one of {}, or {last}", uniq.join(", "))
        }
    }
}
