//! The verifier: checks every function of a program before it runs, so that
//! malformed or malicious bytecode is refused instead of crashing the VM.

use super::{Const, Function, Op, Operand, Program, UpvalSrc};
use crate::bytecode::BUILTINS;

/// A program the verifier accepted. Only `verify` makes one (the field is
/// private), and the VM loads nothing else: whether it came from an `.nbc`
/// file, from source or from the REPL, bytecode runs only after this check,
/// which the dispatch loop's unchecked register and constant accesses rely on.
#[derive(Debug)]
pub struct Verified(Program);

impl Verified {
    pub fn program(&self) -> &Program {
        &self.0
    }
}

impl std::ops::Deref for Verified {
    type Target = Program;
    fn deref(&self) -> &Program {
        &self.0
    }
}

/// The empty program (nothing to run; it only stands in before a program exists).
impl Default for Verified {
    fn default() -> Verified {
        Verified(Program::default())
    }
}

/// Check a program; the `Verified` wrapper is the proof.
pub fn verify(p: Program) -> Result<Verified, String> {
    check_program(&p)?;
    Ok(Verified(p))
}

fn check_program(p: &Program) -> Result<(), String> {
    if p.modules.is_empty() {
        return Err("program has no modules".into());
    }
    if p.entry as usize >= p.modules.len() {
        return Err(format!("entry module {} does not exist", p.entry));
    }
    for (i, m) in p.modules.iter().enumerate() {
        if m.file as usize >= p.files.len() {
            return Err(format!("module {i} names missing source file {}", m.file));
        }
        match p.functions.get(m.main as usize) {
            Some(f) if f.module as usize == i && f.params.is_empty() && !f.is_method => {}
            _ => return Err(format!("module {i} has an invalid main function {}", m.main)),
        }
    }
    for (i, f) in p.functions.iter().enumerate() {
        verify_function(p, f).map_err(|e| format!("function {i} (`{}`): {e}", f.name))?;
    }
    Ok(())
}

fn verify_function(p: &Program, f: &Function) -> Result<(), String> {
    let module = p.modules.get(f.module as usize).ok_or("belongs to no module")?;
    let nregs = f.num_regs as usize;
    if nregs > 256 {
        return Err(format!("{nregs} registers (at most 256)"));
    }
    if f.arg_regs() > nregs {
        return Err("more arguments than registers".into());
    }
    if f.code.is_empty() {
        return Err("empty code".into());
    }
    if f.spans.len() != f.code.len() {
        return Err("source position table does not match the code".into());
    }
    if f.spans.iter().any(|s| s.file as usize >= p.files.len()) {
        return Err("source position names a missing file".into());
    }
    let last = f.code[f.code.len() - 1].op;
    if !matches!(last, Op::Return | Op::ReturnNone | Op::AsyncEnd | Op::Jump | Op::Throw) {
        return Err("code can run past its end".into());
    }
    let len = f.code.len();
    for (pc, ins) in f.code.iter().enumerate() {
        let err = |m: String| format!("instruction {pc} ({}): {m}", ins.op.name());
        let (oa, ob, oc) = ins.op.operands();
        check(p, f, module.globals.len(), nregs, len, oa, ins.a as u64, ins).map_err(err)?;
        check(p, f, module.globals.len(), nregs, len, ob, ins.b as u64, ins).map_err(err)?;
        check(p, f, module.globals.len(), nregs, len, oc, ins.c as u64, ins).map_err(err)?;
        extra(p, f, nregs, ins).map_err(err)?;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn check(
    p: &Program,
    f: &Function,
    nglobals: usize,
    nregs: usize,
    len: usize,
    kind: Operand,
    v: u64,
    ins: &super::Instr,
) -> Result<(), String> {
    let v = v as usize;
    let ok = match kind {
        Operand::None | Operand::Imm => true,
        Operand::Reg => v < nregs,
        Operand::RegRun => {
            let n = run_len(p, ins)?;
            v + n <= nregs
        }
        Operand::Const => v < p.consts.len(),
        Operand::Global => v < nglobals,
        Operand::Upval => v < f.upvals.len(),
        Operand::Target => v < len,
        Operand::Func => v < p.functions.len(),
        Operand::Module => v < p.modules.len(),
        Operand::Builtin => v < BUILTINS.len(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("operand {v} out of range for {kind:?}"))
    }
}

/// How many registers a `RegRun` operand covers.
fn run_len(p: &Program, ins: &super::Instr) -> Result<usize, String> {
    let c = ins.c as usize;
    Ok(match ins.op {
        Op::NewList | Op::Concat => c,
        Op::NewMap => c.checked_mul(2).ok_or("bad pair count")?,
        Op::NewRange => 2,
        Op::GetIndex2 => 3,
        Op::Slice => match c {
            1 => 3,
            2 => 5,
            // one dimension with a step
            3 => 4,
            _ => return Err("slice dimension must be 1 or 2".into()),
        },
        Op::MakeClass => match p.consts.get(c) {
            Some(Const::Class { methods, .. }) | Some(Const::Actor { methods, .. }) => 1 + methods.len(),
            _ => return Err("class descriptor expected".into()),
        },
        _ => 0,
    })
}

fn extra(p: &Program, f: &Function, nregs: usize, ins: &super::Instr) -> Result<(), String> {
    let (a, b, c) = (ins.a as usize, ins.b as usize, ins.c as usize);
    let konst = |i: usize| p.consts.get(i);
    match ins.op {
        Op::Call | Op::CallKw | Op::CallMethod | Op::SuperCall => {
            if a + b >= nregs {
                return Err("arguments run past the registers".into());
            }
            let ok = match ins.op {
                Op::CallKw => matches!(konst(c), Some(Const::Names(n)) if n.len() <= b),
                Op::CallMethod => match konst(c) {
                    Some(Const::Str(_)) => true,
                    Some(Const::MethodKw(_, n)) => n.len() <= b,
                    _ => false,
                },
                Op::SuperCall => matches!(konst(c), Some(Const::Str(_))),
                _ => true,
            };
            if !ok {
                return Err("call constant has the wrong kind".into());
            }
        }
        Op::Spawn => {
            // the class, b arguments, then the options register
            if a + b + 1 >= nregs {
                return Err("spawn arguments run past the registers".into());
            }
            if !matches!(konst(c), Some(Const::Names(n)) if n.len() <= b) {
                return Err("spawn constant has the wrong kind".into());
            }
        }
        Op::Tell => {
            if a + b >= nregs {
                return Err("message arguments run past the registers".into());
            }
            if !matches!(konst(c), Some(Const::Str(_))) {
                return Err("handler name constant expected".into());
            }
        }
        Op::GetField | Op::SetField | Op::Format | Op::CheckType | Op::ImportNative if !matches!(konst(c), Some(Const::Str(_))) => {
            return Err("name constant expected".into());
        }
        Op::Format => {
            if let Some(Const::Str(spec)) = konst(c) {
                super::fmtspec::FormatSpec::parse(spec)?;
            }
        }
        Op::Unpack if b + c > nregs => {
            return Err("unpack runs past the registers".into());
        }
        Op::UnpackRest if b + (c & 0xFFFF) + (c >> 16) + 1 > nregs => {
            return Err("unpack runs past the registers".into());
        }
        Op::ThrowKind if !matches!(konst(c), Some(Const::Str(_))) => {
            return Err("error kind constant expected".into());
        }
        Op::CallSpread => {
            if a + 1 + b >= nregs {
                return Err("arguments run past the registers".into());
            }
            if !matches!(konst(c), Some(Const::Names(n)) if n.len() == b) {
                return Err("call constant has the wrong kind".into());
            }
        }
        Op::IterNext2 if b + 2 > nregs => {
            return Err("loop variables run past the registers".into());
        }
        Op::Closure => {
            let g = &p.functions[c];
            for u in &g.upvals {
                match *u {
                    UpvalSrc::Reg(r) if (r as usize) < nregs => {}
                    UpvalSrc::Upval(i) if (i as usize) < f.upvals.len() => {}
                    _ => return Err("closure captures a missing variable".into()),
                }
            }
        }
        _ => {}
    }
    Ok(())
}
