//! The instruction set. An instruction is 8 bytes: an opcode and three operands
//! `a: u8`, `b: u16`, `c: u32`. `R[x]` is register x of the current frame, `K[x]`
//! constant x of the program, `G[x]` global slot x of the current module,
//! `U[x]` upvalue x of the current closure. Jump targets are absolute indices.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct Instr {
    pub op: Op,
    pub a: u8,
    pub b: u16,
    pub c: u32,
}

impl Instr {
    pub fn new(op: Op, a: u8, b: u16, c: u32) -> Instr {
        Instr { op, a, b, c }
    }
}

/// What each operand of an opcode means — the single table the verifier and the
/// disassembler read (Lua style).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Operand {
    /// Unused.
    None,
    /// A register of the current frame.
    Reg,
    /// A run of registers starting at `b`, `c` long (checked together).
    RegRun,
    /// A constant index.
    Const,
    /// A global slot of the current module.
    Global,
    /// An upvalue of the current closure.
    Upval,
    /// An absolute jump target.
    Target,
    /// A function prototype index.
    Func,
    /// A module index.
    Module,
    /// A built-in index.
    Builtin,
    /// A plain number (argument count, flag, immediate).
    Imm,
}

macro_rules! opcodes {
    ($( $(#[doc = $doc:literal])* $name:ident = ($a:ident, $b:ident, $c:ident), )*) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[repr(u8)]
        pub enum Op {
            $( $(#[doc = $doc])* $name, )*
        }
        impl Op {
            pub const ALL: &'static [Op] = &[$(Op::$name),*];
            pub fn name(self) -> &'static str {
                match self { $(Op::$name => stringify!($name),)* }
            }
            /// Operand kinds of (a, b, c).
            pub fn operands(self) -> (Operand, Operand, Operand) {
                match self { $(Op::$name => (Operand::$a, Operand::$b, Operand::$c),)* }
            }
        }
    };
}

opcodes! {
    /// Do nothing.
    Nop = (None, None, None),
    /// `R[a] = R[b]`
    Move = (Reg, Reg, None),
    /// `R[a] = K[c]`
    LoadK = (Reg, None, Const),
    /// `R[a] = none`
    LoadNone = (Reg, None, None),
    /// `R[a] = b != 0` (bool)
    LoadBool = (Reg, Imm, None),
    /// `R[a] = c as i32` (small integer immediate)
    LoadInt = (Reg, None, Imm),
    /// `R[a] = G[c]`; a `NameError` if the global has not been assigned yet.
    LoadGlobal = (Reg, None, Global),
    /// `G[c] = R[a]`
    StoreGlobal = (Reg, None, Global),
    /// `R[a] = builtin c`
    LoadBuiltin = (Reg, None, Builtin),
    /// `R[a] = new cell holding R[a]` (a captured variable gets a fresh binding)
    NewCell = (Reg, None, None),
    /// `R[a] = contents of the cell in R[b]`
    LoadCell = (Reg, Reg, None),
    /// `cell in R[a] = R[b]`
    StoreCell = (Reg, Reg, None),
    /// `R[a] = contents of U[c]`
    LoadUpval = (Reg, None, Upval),
    /// `U[c] = R[a]`
    StoreUpval = (Reg, None, Upval),
    /// `R[a] = closure of function c`, capturing the cells its upvalue table names.
    Closure = (Reg, None, Func),
    /// `R[a] = R[b] + R[c]`
    Add = (Reg, Reg, Reg),
    /// `R[a] = R[b] - R[c]`
    Sub = (Reg, Reg, Reg),
    /// `R[a] = R[b] * R[c]`
    Mul = (Reg, Reg, Reg),
    /// `R[a] = R[b] / R[c]` (always a float)
    Div = (Reg, Reg, Reg),
    /// `R[a] = R[b] // R[c]`
    FloorDiv = (Reg, Reg, Reg),
    /// `R[a] = R[b] % R[c]`
    Mod = (Reg, Reg, Reg),
    /// `R[a] = R[b] ** R[c]`
    Pow = (Reg, Reg, Reg),
    /// `R[a] = R[b] @ R[c]`
    MatMul = (Reg, Reg, Reg),
    /// `R[a] = R[b] & R[c]`
    BitAnd = (Reg, Reg, Reg),
    /// `R[a] = R[b] | R[c]`
    BitOr = (Reg, Reg, Reg),
    /// `R[a] = R[b] ^ R[c]`
    BitXor = (Reg, Reg, Reg),
    /// `R[a] = R[b] << R[c]`
    Shl = (Reg, Reg, Reg),
    /// `R[a] = R[b] >> R[c]`
    Shr = (Reg, Reg, Reg),
    /// `R[a] = R[b] + (c as i32)`
    AddI = (Reg, Reg, Imm),
    /// `R[a] = R[b] == R[c]`
    Eq = (Reg, Reg, Reg),
    /// `R[a] = R[b] != R[c]`
    Ne = (Reg, Reg, Reg),
    /// `R[a] = R[b] < R[c]`
    Lt = (Reg, Reg, Reg),
    /// `R[a] = R[b] <= R[c]`
    Le = (Reg, Reg, Reg),
    /// `R[a] = R[b] in R[c]`
    In = (Reg, Reg, Reg),
    /// `R[a] = -R[b]`
    Neg = (Reg, Reg, None),
    /// `R[a] = ~R[b]`
    BitNot = (Reg, Reg, None),
    /// `R[a] = not R[b]`
    Not = (Reg, Reg, None),
    /// `pc = c`
    Jump = (None, None, Target),
    /// `if not R[a]: pc = c`
    JumpIfFalse = (Reg, None, Target),
    /// `if R[a]: pc = c`
    JumpIfTrue = (Reg, None, Target),
    /// `if not (R[a] < R[b]): pc = c` (fused compare and branch)
    JumpIfNotLt = (Reg, Reg, Target),
    /// `if not (R[a] <= R[b]): pc = c`
    JumpIfNotLe = (Reg, Reg, Target),
    /// `if not (R[a] == R[b]): pc = c`
    JumpIfNotEq = (Reg, Reg, Target),
    /// Call `R[a]` with `b` arguments in `R[a+1..]`; the result goes to `R[a]`.
    Call = (Reg, Imm, None),
    /// Like `Call`; the last arguments are named by the name list `K[c]`.
    CallKw = (Reg, Imm, Const),
    /// Call method `K[c]` (a name, or a call shape with named arguments) on
    /// receiver `R[a]` with `b` arguments in `R[a+1..]`; the result goes to `R[a]`.
    CallMethod = (Reg, Imm, Const),
    /// `super.K[c](...)`: self in `R[a]`, `b` arguments after it; result to `R[a]`.
    SuperCall = (Reg, Imm, Const),
    /// Return `R[a]` from the current frame.
    Return = (Reg, None, None),
    /// Return `none`.
    ReturnNone = (None, None, None),
    /// `R[a] = [R[b], ..., R[b+c-1]]`; the element registers are temporaries
    /// and are moved out (left `none`).
    NewList = (Reg, RegRun, Imm),
    /// `R[a] = {R[b]: R[b+1], ...}` with `c` key/value pairs, moved out of
    /// their temporary registers.
    NewMap = (Reg, RegRun, Imm),
    /// `R[a] = R[b]..R[b+1]` (`..=` when c is 1)
    NewRange = (Reg, RegRun, Imm),
    /// `R[a] = R[b][R[c]]`
    GetIndex = (Reg, Reg, Reg),
    /// `R[a][R[b]] = R[c]`
    SetIndex = (Reg, Reg, Reg),
    /// `R[a] = R[b][R[b+1], R[b+2]]`; c counts the index operands (2).
    GetIndex2 = (Reg, RegRun, Imm),
    /// `R[a] = R[b][R[b+1]:R[b+2]]` (`none` bounds are open); with c = 2 a second
    /// dimension `R[b+3]:R[b+4]` follows (matrices); with c = 3 `R[b+3]` is
    /// a step (`a[::2]`).
    Slice = (Reg, RegRun, Imm),
    /// `R[a] = R[b].K[c]`
    GetField = (Reg, Reg, Const),
    /// `R[a].K[c] = R[b]`
    SetField = (Reg, Reg, Const),
    /// `R[a] = iterator over R[b]`
    IterInit = (Reg, Reg, None),
    /// Advance iterator `R[a]`: the next item to `R[b]`, or jump to `c` when done.
    IterNext = (Reg, Reg, Target),
    /// Like `IterNext` for two loop variables: key/value of a map, or a 2-element
    /// list item unpacked, into `R[b]`, `R[b+1]`.
    IterNext2 = (Reg, Reg, Target),
    /// Unpack the list `R[a]` into `R[b..b+c]`; a `TypeError` on a length mismatch.
    Unpack = (Reg, Reg, Imm),
    /// `R[a] = str(R[b]) + ... + str(R[b+c-1])` (f-strings)
    Concat = (Reg, RegRun, Imm),
    /// `R[a] = format(R[b], spec K[c])`
    Format = (Reg, Reg, Const),
    /// Throw `R[a]` (a string becomes an `Error`).
    Throw = (Reg, None, None),
    /// Push an error handler: on an error, jump to `c` with the error in `R[a]`.
    TryBegin = (Reg, None, Target),
    /// Pop the innermost error handler of this frame.
    TryEnd = (None, None, None),
    /// `R[a] = class built from descriptor K[c]`: parent in `R[b]` (or none),
    /// methods in `R[b+1..]` in descriptor order.
    MakeClass = (Reg, RegRun, Const),
    /// Check `R[a]` against type name `K[c]`: b is the parameter index, or 0xFFFF
    /// for the return value.
    CheckType = (Reg, Imm, Const),
    /// If argument `R[a]` was passed, jump to `c` (skip its default).
    ArgGiven = (Reg, None, Target),
    /// `R[a] = module c`, running its top level first if it has not run yet.
    Import = (Reg, None, Module),
    /// `R[a] = the built-in library module named K[c]` (`math`, `json`, ...).
    ImportNative = (Reg, None, Const),
    /// Reserved for async functions: begin the body of a task (the function's
    /// caller gets a future; the body runs on the scheduler).
    AsyncBegin = (None, None, None),
    /// Reserved: suspend until the future in `R[b]` completes, then `R[a] =` its value.
    Await = (Reg, Reg, None),
    /// Reserved: end an async body, completing its future with `R[a]`.
    AsyncEnd = (Reg, None, None),
    /// `if R[a] != none: pc = c` — the fused branch of `if x == none`.
    /// (New opcodes go last, so existing numbers never change.)
    JumpIfNotNone = (Reg, None, Target),
    /// `if R[a] == none: pc = c` — the fused branch of `if x != none`.
    JumpIfNone = (Reg, None, Target),
    /// `if not (R[a] < b): pc = c`, with `b` a signed 16-bit immediate.
    JumpIfNotLtI = (Reg, Imm, Target),
    /// `if not (R[a] <= b): pc = c` (`b` as in `JumpIfNotLtI`).
    JumpIfNotLeI = (Reg, Imm, Target),
    /// `if not (R[a] > b): pc = c` (`b` as in `JumpIfNotLtI`).
    JumpIfNotGtI = (Reg, Imm, Target),
    /// `if not (R[a] >= b): pc = c` (`b` as in `JumpIfNotLtI`).
    JumpIfNotGeI = (Reg, Imm, Target),
    /// `if not (R[a] == b): pc = c` (`b` as in `JumpIfNotLtI`).
    JumpIfNotEqI = (Reg, Imm, Target),
    /// `R[a] = c + R[b]`, `c` a signed 32-bit immediate written on the left
    /// (`1 + x`; errors name the operands in that order).
    AddIL = (Reg, Reg, Imm),
    /// `R[a] = spawn R[a](R[a+1..a+1+b])` with options map (or none) in
    /// `R[a+1+b]`; K[c] names the trailing named arguments (`Names`). The
    /// actor starts on a worker; `R[a]` receives its reference at once.
    Spawn = (Reg, Imm, Const),
    /// `send R[a].K[c](R[a+1..a+1+b])`: a tell (no reply). A full mailbox
    /// suspends the task and this instruction runs again when there is room.
    Tell = (Reg, Imm, Const),
    /// `R[a].append(R[b])`: a comprehension's list grows.
    ListPush = (Reg, Reg, None),
    /// `R[a].extend(R[b])`, `R[b]` any iterable (`f(..xs)`).
    ListExtend = (Reg, Reg, None),
    /// Unpack the list `R[a]` around a `..rest`: `c & 0xFFFF` items before it
    /// into `R[b..]`, the rest as a list after them, then `c >> 16` items;
    /// a `TypeError` when the list is too short.
    UnpackRest = (Reg, Reg, Imm),
    /// `R[a] = R[b]` is a list of length `c` (at least `c & 0x7FFF_FFFF`
    /// when bit 31 is set): a list pattern's test.
    MatchList = (Reg, Reg, Imm),
    /// `R[a] = R[b]` is a map with key `R[c]`, or an instance with field
    /// `R[c]`: a map or class pattern's test.
    HasKey = (Reg, Reg, Reg),
    /// `R[a] = R[b] is R[c]`: `R[c]` a class (instances of it and its
    /// subclasses) or a type name as a string (`"int"`, ...).
    Is = (Reg, Reg, Reg),
    /// Throw an error of kind `K[c]` with message `str(R[a])`; with b = 1
    /// `R[a]` is the value no `match` arm matched.
    ThrowKind = (Reg, Imm, Const),
    /// Call `R[a]` with the items of the list `R[a+1]` as positional
    /// arguments, then `b` named ones in `R[a+2..]`, named by `K[c]`.
    CallSpread = (Reg, Imm, Const),
    /// `R[a] = format(R[b], spec R[c])`: a spec built from nested fields
    /// (`{x:{w}.{p}f}`), so it is checked when it runs.
    FormatWith = (Reg, Reg, Reg),
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn instruction_is_eight_bytes() {
        assert_eq!(std::mem::size_of::<Instr>(), 8);
    }
    /// Opcode numbers are an NBC file's contract: each opcode's number is its
    /// place in the table, names are unique, and the order is pinned by
    /// `opcodes.txt` — reordering or removing one fails here; appending one
    /// needs `NOODLE_BLESS=1` (and keeps older files valid).
    #[test]
    fn opcode_numbers_are_stable() {
        assert!(Op::ALL.len() < 256);
        let mut names = std::collections::HashSet::new();
        for (i, op) in Op::ALL.iter().enumerate() {
            assert_eq!(*op as u8 as usize, i, "{} is numbered {} but listed at {i}", op.name(), *op as u8);
            assert!(names.insert(op.name()), "{} appears twice", op.name());
        }
        let listing: String = Op::ALL.iter().map(|op| format!("{} {}\n", *op as u8, op.name())).collect();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bytecode/opcodes.txt");
        if std::env::var_os("NOODLE_BLESS").is_some() {
            std::fs::write(&path, &listing).expect("write opcodes.txt");
            return;
        }
        let pinned = std::fs::read_to_string(&path).expect("src/bytecode/opcodes.txt (NOODLE_BLESS=1 writes it)");
        assert!(listing.starts_with(&pinned), "opcode numbers changed:\n--- pinned\n{pinned}\n--- now\n{listing}");
        assert_eq!(listing, pinned, "new opcodes were appended: run with NOODLE_BLESS=1 to pin them");
    }
}
