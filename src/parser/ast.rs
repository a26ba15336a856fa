//! The abstract syntax tree. Free of parser-generator types; every node carries
//! its span, every identifier a unique `id` that later stages key side tables by.

use crate::diag::Span;

pub type NodeId = u32;

/// The synthetic actor method that sets the `state` defaults.
pub use crate::bytecode::tables::STATE_INIT;

/// Names an actor's `self` provides itself; not usable as state or handlers.
pub const ACTOR_RESERVED: &[&str] = &["id", "name", "checkpoint", "stop"];

#[derive(Clone, Debug)]
pub struct Ident {
    pub name: String,
    pub span: Span,
    pub id: NodeId,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub stmts: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

/// What binds names: `let`, `for`, comprehensions and `match` arms. Only
/// `Name`, `Wildcard`, `List` and `Rest` bind outside `match`.
#[derive(Clone, Debug)]
pub enum Pattern {
    Name(Ident),
    /// `_`: matches anything, binds nothing.
    Wildcard(Span),
    /// `[a, b]`, `[first, ..rest]`: at most one `Rest` among the items.
    List(Vec<Pattern>, Span),
    /// `..rest` inside a list pattern: the items left over, as a list.
    Rest(Box<Pattern>, Span),
    /// A literal (`0`, `-1.5`, `"add"`, `true`, `none`), compared with `==`.
    Literal(Box<Expr>),
    /// `{type: "add", payload: p}`: a map with these keys (others allowed).
    Map(Vec<(Expr, Pattern)>, Span),
    /// `Point{x: 0, y}`: an instance of the class (or a subclass) whose
    /// fields match; `y` alone is `y: y`.
    Class {
        class: Box<Expr>,
        fields: Vec<(Ident, Pattern)>,
        span: Span,
    },
    /// `a | b`: the first alternative that matches.
    Or(Vec<Pattern>, Span),
}

impl Pattern {
    pub fn span(&self) -> Span {
        match self {
            Pattern::Name(i) => i.span,
            Pattern::Literal(e) => e.span,
            Pattern::Wildcard(s) | Pattern::List(_, s) | Pattern::Rest(_, s) | Pattern::Map(_, s) | Pattern::Or(_, s) => *s,
            Pattern::Class { span, .. } => *span,
        }
    }

    /// Whether it always matches a value of the right shape (`let`, `for`).
    pub fn is_binding(&self) -> bool {
        match self {
            Pattern::Name(_) | Pattern::Wildcard(_) => true,
            Pattern::List(v, _) => v.iter().all(Pattern::is_binding),
            Pattern::Rest(p, _) => p.is_binding(),
            _ => false,
        }
    }
}

/// One `for`/`if` clause of a comprehension.
#[derive(Clone, Debug)]
pub enum CompClause {
    /// `for PATTERN[, PATTERN] in EXPR`
    For(Vec<Pattern>, Expr),
    If(Expr),
}

/// One arm of a `match`: pattern, guard, body.
#[derive(Clone, Debug)]
pub struct MatchArm {
    pub pattern: Pattern,
    pub guard: Option<Expr>,
    pub body: Block,
}

#[derive(Clone, Debug)]
pub enum ElseBranch {
    Block(Block),
    If(Box<Stmt>),
}

#[derive(Clone, Debug)]
pub enum ImportPath {
    /// `import util` — a stdlib module or `util.nd` beside the importer.
    Name(String),
    /// `import "lib/geo.nd"` — a path relative to the importer.
    File(String),
}

#[derive(Clone, Debug)]
pub enum StmtKind {
    Let {
        mutable: bool,
        pattern: Pattern,
        value: Expr,
    },
    Assign {
        target: Expr,
        op: Option<BinOp>,
        value: Expr,
    },
    Expr(Expr),
    If {
        cond: Expr,
        then: Block,
        else_: Option<ElseBranch>,
    },
    While {
        cond: Expr,
        body: Block,
    },
    For {
        /// One pattern, or two (`for k, v in m`).
        vars: Vec<Pattern>,
        iter: Expr,
        body: Block,
    },
    /// `assert cond, message`
    Assert {
        cond: Expr,
        message: Option<Expr>,
    },
    Match {
        value: Expr,
        arms: Vec<MatchArm>,
    },
    Break,
    Continue,
    Return(Option<Expr>),
    Def(FnDecl),
    Class(ClassDecl),
    Actor(ActorDecl),
    Try {
        body: Block,
        catch: Option<(Option<Ident>, Block)>,
        finally: Option<Block>,
    },
    Throw(Expr),
    Import {
        path: ImportPath,
        alias: Option<Ident>,
        path_span: Span,
    },
    /// `send ref.method(args)` — a tell.
    Send(Expr),
    /// A statement that failed to parse (already reported).
    Error,
}

#[derive(Clone, Debug)]
pub struct TypeAnn {
    pub name: String,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Param {
    pub name: Ident,
    pub ty: Option<TypeAnn>,
    pub default: Option<Expr>,
    /// `..rest`: the arguments left over, as a list.
    pub rest: bool,
}

#[derive(Clone, Debug)]
pub enum FnBody {
    Block(Block),
    /// A lambda whose body is one expression.
    Expr(Box<Expr>),
}

#[derive(Clone, Debug)]
pub struct FnDecl {
    /// `None` for lambdas.
    pub name: Option<Ident>,
    pub params: Vec<Param>,
    pub ret: Option<TypeAnn>,
    pub body: FnBody,
    pub is_async: bool,
    pub span: Span,
    pub id: NodeId,
}

#[derive(Clone, Debug)]
pub struct ClassDecl {
    pub name: Ident,
    pub parent: Option<Ident>,
    pub methods: Vec<FnDecl>,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct StateField {
    pub name: Ident,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub struct ActorDecl {
    pub name: Ident,
    /// The `state` field names. Their default expressions live in the
    /// synthetic method `$state` (last in `methods`), which each spawn runs
    /// before `init`, so every actor gets fresh defaults.
    pub states: Vec<Ident>,
    pub methods: Vec<FnDecl>,
    pub span: Span,
}

/// One member of a class or actor body.
#[derive(Clone, Debug)]
pub enum Member {
    Method(FnDecl),
    State(StateField),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    MatMul,
    BitAnd,
    BitOr,
    BitXor,
    Shl,
    Shr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    Neg,
    BitNot,
    Not,
}

#[derive(Clone, Debug)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Clone, Debug)]
pub enum Index {
    Single(Expr),
    /// `a:b`, or `a:b:step` (`step` is `Some`, its expression optional).
    Slice {
        start: Option<Expr>,
        end: Option<Expr>,
        step: Option<Option<Box<Expr>>>,
    },
}

#[derive(Clone, Debug)]
pub enum MapKey {
    /// `name:` or `"name":` — a constant string key.
    Str(String),
    /// `(expr):` or any other literal.
    Expr(Expr),
}

#[derive(Clone, Debug)]
pub enum FPart {
    Lit(String),
    /// `{expr:spec}`: the spec is one `Lit` unless it holds nested fields (`{x:{w}.{p}f}`).
    Field {
        expr: Expr,
        spec: Option<Vec<FPart>>,
    },
}

#[derive(Clone, Debug)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Str(String),
    FStr(Vec<FPart>),
    Bool(bool),
    None,
    Name(Ident),
    SelfRef(NodeId),
    List(Vec<Expr>),
    Map(Vec<(MapKey, Expr)>),
    Unary(UnOp, Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Range {
        start: Box<Expr>,
        end: Box<Expr>,
        inclusive: bool,
    },
    Call {
        callee: Box<Expr>,
        args: Vec<Arg>,
    },
    MethodCall {
        recv: Box<Expr>,
        name: Ident,
        args: Vec<Arg>,
    },
    SuperCall {
        name: Ident,
        args: Vec<Arg>,
    },
    Index {
        obj: Box<Expr>,
        index: Vec<Index>,
    },
    Field {
        obj: Box<Expr>,
        name: Ident,
    },
    Lambda(Box<FnDecl>),
    /// `[elem for ... if ...]`
    ListComp {
        elem: Box<Expr>,
        clauses: Vec<CompClause>,
    },
    /// `{key: value for ... if ...}`
    MapComp {
        key: Box<Expr>,
        value: Box<Expr>,
        clauses: Vec<CompClause>,
    },
    /// `x is T`: `T` a class, or a built-in type name (`int`, `str`, ...).
    Is(Box<Expr>, Box<Expr>),
    /// `..xs` among a call's arguments: the list's items as arguments.
    Spread(Box<Expr>),
    IfExpr {
        cond: Box<Expr>,
        then: Box<Expr>,
        else_: Box<Expr>,
    },
    Await(Box<Expr>),
    Spawn {
        /// `spawn m.A(...)`: the imported module the class comes from.
        module: Option<Ident>,
        class: Ident,
        args: Vec<Arg>,
        options: Option<Box<Expr>>,
    },
    /// An expression that failed to parse (already reported).
    Error,
}

impl Expr {
    pub fn new(kind: ExprKind, span: Span) -> Expr {
        Expr { kind, span }
    }
}
