//! NBC: the compiled program — the only contract between compiler and VM.

pub mod disasm;
pub mod fmtspec;
pub mod nbc;
pub mod op;
pub mod tables;
pub mod verify;

pub use op::{Instr, Op, Operand};
use serde::{Deserialize, Serialize};
pub use verify::{verify, Verified};

/// Built-in functions, in the index order `LoadBuiltin` uses. The VM implements
/// them in this order; the compiler resolves names against this list.
pub const BUILTINS: &[&str] = &[
    "print",
    "input",
    "len",
    "str",
    "int",
    "float",
    "bool",
    "type",
    "range",
    "enumerate",
    "zip",
    "min",
    "max",
    "sum",
    "abs",
    "round",
    "sorted",
    "reversed",
    "sqrt",
    "floor",
    "ceil",
    "Error",
    "args",
    "exit",
    "now",
    "sleep",
    "all",
    "any",
    "timeout",
    "promise",
    "lookup",
    "send_message",
    "matrix",
    "zeros",
    "ones",
    "eye",
    "rand",
    "monitor",
    "node_of",
    "nodes",
    "ord",
    "chr",
    "list",
    "set",
    // The REPL's echo of an expression line (not a name a program can write).
    "$echo",
    "vstack",
    "hstack",
];

/// Library modules implemented inside the VM (imported with `ImportNative`).
pub const NATIVE_MODULES: &[&str] = &["math", "json", "time", "random", "linalg", "nn", "fs", "db"];

pub fn builtin_index(name: &str) -> Option<usize> {
    BUILTINS.iter().position(|b| *b == name)
}

/// A constant in the program's pool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Const {
    Int(i64),
    Float(f64),
    Str(String),
    /// Names of the trailing named arguments of a call.
    Names(Vec<String>),
    /// A method call with named arguments: the method name and the argument names.
    MethodKw(String, Vec<String>),
    /// How to build a class: its name, whether `R[b]` holds a parent, and the
    /// method names in register order.
    Class {
        name: String,
        has_parent: bool,
        methods: Vec<String>,
    },
    /// How to build an actor class (`MakeClass` with no parent): its name,
    /// handler names in register order (the last is `$state`), state fields.
    Actor {
        name: String,
        methods: Vec<String>,
        states: Vec<String>,
    },
}

/// Where a closure's upvalue comes from when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpvalSrc {
    /// The cell in the enclosing frame's register.
    Reg(u8),
    /// The enclosing closure's own upvalue.
    Upval(u16),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParamInfo {
    pub name: String,
    pub has_default: bool,
    /// `..rest`: the last parameter, taking the arguments left over as a list.
    #[serde(default)]
    pub rest: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Function {
    pub name: String,
    pub module: u32,
    pub params: Vec<ParamInfo>,
    /// Methods take `self` in register 0, before the parameters.
    pub is_method: bool,
    pub is_async: bool,
    /// Registers the frame needs (locals and temporaries).
    pub num_regs: u16,
    pub upvals: Vec<UpvalSrc>,
    pub code: Vec<Instr>,
    /// Source span of each instruction, for stack traces and disassembly.
    pub spans: Vec<crate::diag::Span>,
}

impl Function {
    /// Registers taken by arguments (`self` included for methods).
    pub fn arg_regs(&self) -> usize {
        self.params.len() + self.is_method as usize
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Module {
    pub name: String,
    /// Index of the source file (in `Program::files`).
    pub file: u32,
    /// Global slot names, in slot order.
    pub globals: Vec<String>,
    /// The function holding the module's top-level code.
    pub main: u32,
    /// Which globals are `var` (actors receive copies of the others).
    #[serde(default)]
    pub mutable: Vec<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceText {
    pub name: String,
    pub text: String,
}

/// A whole compiled program: every module it imports, bundled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Program {
    pub files: Vec<SourceText>,
    pub modules: Vec<Module>,
    pub functions: Vec<Function>,
    pub consts: Vec<Const>,
    /// The module whose top level is the program's main.
    pub entry: u32,
}

impl Program {
    pub fn source_map(&self) -> crate::diag::SourceMap {
        let mut sm = crate::diag::SourceMap::default();
        for f in &self.files {
            sm.add(f.name.clone(), f.text.clone());
        }
        sm
    }
}

/// "1 row", "2 rows": a count with its noun in the right number.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// "`f` takes 2 arguments but 1 was given": one wording for the compiler's and
/// the VM's arity errors.
pub fn arity_message(name: &str, want: &str, want_plural: bool, given: usize) -> String {
    let s = if want_plural { "s" } else { "" };
    let verb = if given == 1 { "was" } else { "were" };
    format!("`{name}` takes {want} argument{s} but {given} {verb} given")
}
