//! A readable listing of a program: every function, its instructions with
//! decoded operands, and the source line each run of instructions came from.

use super::{Const, Op, Operand, Program, BUILTINS};
use std::fmt::Write;

pub fn disassemble(p: &Program) -> String {
    let sm = p.source_map();
    let mut out = String::new();
    for (mi, m) in p.modules.iter().enumerate() {
        let _ = writeln!(out, "module {mi} `{}` (main: fn {}, {} globals: {})", m.name, m.main, m.globals.len(), m.globals.join(", "));
    }
    for (fi, f) in p.functions.iter().enumerate() {
        let params: Vec<String> = f.params.iter().map(|q| if q.has_default { format!("{}=", q.name) } else { q.name.clone() }).collect();
        let _ = writeln!(
            out,
            "\nfn {fi} `{}`({}){}{} regs={} upvals={:?}",
            f.name,
            params.join(", "),
            if f.is_method { " method" } else { "" },
            if f.is_async { " async" } else { "" },
            f.num_regs,
            f.upvals
        );
        let mut last_line = None;
        for (pc, ins) in f.code.iter().enumerate() {
            if let Some(span) = f.spans.get(pc) {
                if let Some(file) = sm.get(span.file) {
                    let (line, _) = file.line_col(span.start);
                    if last_line != Some((span.file, line)) {
                        last_line = Some((span.file, line));
                        let text = file.text.lines().nth(line - 1).unwrap_or("").trim();
                        let _ = writeln!(out, "  ; {}:{}  {}", file.name, line, text);
                    }
                }
            }
            let _ = writeln!(out, "  {pc:4}  {:<13} {}", ins.op.name(), operands(p, ins));
        }
    }
    out
}

fn operands(p: &Program, ins: &super::Instr) -> String {
    let (oa, ob, oc) = ins.op.operands();
    let mut parts = Vec::new();
    for (kind, v) in [(oa, ins.a as u32), (ob, ins.b as u32), (oc, ins.c)] {
        let s = match kind {
            Operand::None => continue,
            Operand::Reg | Operand::RegRun => format!("r{v}"),
            Operand::Const => format!("k{v}({})", show_const(p.consts.get(v as usize))),
            Operand::Global => format!("g{v}"),
            Operand::Upval => format!("u{v}"),
            Operand::Target => format!("->{v}"),
            Operand::Func => format!("fn{v}"),
            Operand::Module => format!("mod{v}"),
            Operand::Builtin => BUILTINS.get(v as usize).unwrap_or(&"?").to_string(),
            Operand::Imm => match ins.op {
                Op::LoadInt => format!("{}", v as i32),
                Op::AddI | Op::AddIL => format!("{}", v as i32),
                Op::JumpIfNotLtI | Op::JumpIfNotLeI | Op::JumpIfNotGtI | Op::JumpIfNotGeI | Op::JumpIfNotEqI => {
                    format!("{}", v as u16 as i16)
                }
                _ => format!("{v}"),
            },
        };
        parts.push(s);
    }
    parts.join(" ")
}

fn show_const(c: Option<&Const>) -> String {
    match c {
        None => "?".into(),
        Some(Const::Int(i)) => i.to_string(),
        Some(Const::Float(f)) => format!("{f:?}"),
        Some(Const::Str(s)) => format!("{s:?}"),
        Some(Const::Names(n)) => format!("names {}", n.join(",")),
        Some(Const::MethodKw(m, n)) => format!("{m} names {}", n.join(",")),
        Some(Const::Class { name, methods, .. }) => format!("class {name} [{}]", methods.join(",")),
        Some(Const::Actor { name, methods, states }) => format!("actor {name} [{}] state [{}]", methods.join(","), states.join(",")),
    }
}
