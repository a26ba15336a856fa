//! Instructions that are rare in hot loops (closures, map literals, fields,
//! f-strings, classes, ...). They run out of line, with checked register
//! access, so the dispatch loop stays small enough to keep its state in
//! machine registers.

use super::patterns;
use super::value::*;
use super::*;
use crate::bytecode::{Instr, Op, UpvalSrc};

impl Vm {
    /// Execute one cold instruction of the frame whose registers start at `base`.
    pub(crate) fn exec_cold(&mut self, ins: Instr, base: usize, closure: &Closure) -> Result<(), Value> {
        let a = base + ins.a as usize;
        let b = base + ins.b as usize;
        let v = match ins.op {
            Op::Closure => {
                let proto = self.functions[ins.c as usize].clone();
                let mut ups = Vec::with_capacity(proto.upvals.len());
                for u in &proto.upvals {
                    match *u {
                        UpvalSrc::Reg(reg) => match &self.stack[base + reg as usize] {
                            Value::Cell(c) => ups.push(c.clone()),
                            _ => return err("TypeError", "internal: captured register is not a cell"),
                        },
                        UpvalSrc::Upval(i) => ups.push(closure.upvals[i as usize].clone()),
                    }
                }
                Value::Func(Rc::new(Closure::new(proto, ins.c, ups)))
            }
            Op::NewMap => {
                let mut m = MapInner::with_capacity_and_hasher(ins.c as usize, Default::default());
                for i in 0..ins.c as usize {
                    let k = self.stack[b + 2 * i].to_key()?;
                    m.insert(k, std::mem::take(&mut self.stack[b + 2 * i + 1]));
                }
                Value::map(m)
            }
            Op::NewRange => match (&self.stack[b], &self.stack[b + 1]) {
                (Value::Int(x), Value::Int(y)) => {
                    let end =
                        if ins.c == 1 { y.checked_add(1).ok_or_else(|| Value::error("OverflowError", "range end overflows"))? } else { *y };
                    Value::Range(Rc::new(RangeObj { start: *x, end, step: 1 }))
                }
                (x, y) => return err("TypeError", format!("range bounds must be int, not {} and {}", x.type_name(), y.type_name())),
            },
            Op::GetIndex2 => match &self.stack[b] {
                Value::Matrix(m) => super::matrix::get2(m, &self.stack[b + 1], &self.stack[b + 2])?,
                other => return err("TypeError", format!("{} does not take two indices", other.type_name())),
            },
            Op::Slice => {
                if let (Value::Matrix(m), 2) = (&self.stack[b], ins.c) {
                    let s = &self.stack;
                    let v = super::matrix::slice(m, (&s[b + 1], &s[b + 2]), Some((&s[b + 3], &s[b + 4])))?;
                    self.stack[a] = v;
                    return Ok(());
                }
                if ins.c == 3 {
                    let s = &self.stack;
                    let v = super::more_methods::slice_step(&s[b], &s[b + 1], &s[b + 2], &s[b + 3])?;
                    self.stack[a] = v;
                    return Ok(());
                }
                if ins.c != 1 {
                    return err("TypeError", format!("{} does not take two slices", self.stack[b].type_name()));
                }
                ops::slice(&self.stack[b], &self.stack[b + 1], &self.stack[b + 2])?
            }
            Op::MatMul => super::matrix::matmul(&self.stack[b], &self.stack[base + ins.c as usize])?,
            Op::GetField => self.get_field(&self.stack[b], const_str(&self.raw_consts, ins.c))?,
            Op::Spawn => match &self.raw_consts[ins.c as usize] {
                crate::bytecode::Const::Names(names) => {
                    let names = names.clone();
                    self.host("spawn")?.spawn_actor(self, a, ins.b as usize, &names)?
                }
                _ => return err("TypeError", "internal: spawn constant has the wrong kind"),
            },
            Op::Tell => {
                // The argument registers are temporaries: move them.
                let args: smallvec::SmallVec<[Value; 4]> =
                    self.stack[a + 1..a + 1 + ins.b as usize].iter_mut().map(std::mem::take).collect();
                let target = self.stack[a].clone();
                let name = const_str(&self.raw_consts, ins.c);
                // The actor's interned handler name: no allocation per message.
                let name: std::sync::Arc<str> = match &target {
                    Value::Actor(c) => c.handlers.iter().find(|h| &***h == name).cloned().unwrap_or_else(|| name.into()),
                    _ => name.into(),
                };
                self.host("send")?.tell(self, &target, &name, &args)?;
                if self.halt.is_some() {
                    return Err(Value::None);
                }
                Value::None
            }
            Op::SetField => {
                let v = self.stack[b].clone();
                let name = const_str(&self.raw_consts, ins.c);
                match &self.stack[a] {
                    Value::Instance(i) => {
                        let track = gc::may_cycle(&v);
                        i.fields.borrow_mut().insert(Rc::from(name), v);
                        if track {
                            gc::note_container(&self.stack[a]);
                        }
                        return Ok(());
                    }
                    o => return err("TypeError", format!("cannot set field `{name}` on {}", o.type_name())),
                }
            }
            Op::IterInit => match &self.stack[b] {
                v @ Value::Instance(_) => {
                    let v = v.clone();
                    self.special_iter(&v)?
                }
                v => iter::make_iter(v)?,
            },
            Op::Concat => {
                let mut out = String::new();
                for i in b..b + ins.c as usize {
                    match &self.stack[i] {
                        Value::Str(x) => out.push_str(x),
                        other => {
                            let other = other.clone();
                            out.push_str(&self.display(&other)?)
                        }
                    }
                    check_str_size(out.len())?;
                }
                Value::Str(Rc::new(out))
            }
            Op::Format | Op::FormatWith => {
                let v = match &self.stack[b] {
                    v @ Value::Instance(_) => {
                        let v = v.clone();
                        Value::str(&self.display(&v)?)
                    }
                    v => v.clone(),
                };
                let text = if ins.op == Op::Format {
                    format::format_value(&v, const_str(&self.raw_consts, ins.c))?
                } else {
                    match &self.stack[base + ins.c as usize] {
                        Value::Str(spec) => format::format_value(&v, spec)?,
                        other => return err("TypeError", format!("a format spec is a str, not {}", other.type_name())),
                    }
                };
                Value::Str(Rc::new(text))
            }
            Op::Throw => {
                return Err(match std::mem::take(&mut self.stack[a]) {
                    Value::Error(e) => Value::Error(e),
                    Value::Str(s) => Value::error("Error", s.as_str()),
                    other => Value::error("Error", format::to_display(&other)),
                });
            }
            Op::MakeClass => self.make_class(base, ins)?,
            Op::ListPush | Op::ListExtend => {
                let Value::List(l) = &self.stack[a] else { return err("TypeError", "internal: not a list") };
                let l = l.clone();
                let items = if ins.op == Op::ListPush { vec![self.stack[b].clone()] } else { patterns::items_of(&self.stack[b])? };
                for v in items {
                    super::seq::list_append(&self.stack[a], &l, v);
                }
                return Ok(());
            }
            Op::UnpackRest => {
                let items = patterns::unpack_rest(&self.stack[a], (ins.c & 0xFFFF) as usize, (ins.c >> 16) as usize)?;
                for (i, v) in items.into_iter().enumerate() {
                    self.stack[b + i] = v;
                }
                return Ok(());
            }
            Op::MatchList => Value::Bool(patterns::match_list(&self.stack[b], ins.c)),
            Op::HasKey => Value::Bool(patterns::has_key(&self.stack[b], &self.stack[base + ins.c as usize])),
            Op::Is => Value::Bool(patterns::is_a(&self.stack[b], &self.stack[base + ins.c as usize])?),
            Op::ThrowKind => {
                let kind = const_str(&self.raw_consts, ins.c).to_string();
                let v = &self.stack[a];
                let message = if ins.b == 1 { format!("no arm matched {}", format::repr_of(v)) } else { format::to_display(v) };
                return Err(Value::error(&kind, message));
            }
            Op::CheckType => {
                let tname = const_str(&self.raw_consts, ins.c).to_string();
                return self.check_type(a, &tname, ins.b, &closure.func);
            }
            Op::ImportNative => {
                let name = const_str(&self.raw_consts, ins.c).to_string();
                self.native_module(&name)?
            }
            other => return err("Error", format!("internal: {} is not a cold instruction", other.name())),
        };
        self.stack[a] = v;
        Ok(())
    }
}

/// The string constant `c` (the verifier checked its kind for these opcodes).
fn const_str(consts: &[crate::bytecode::Const], c: u32) -> &str {
    match consts.get(c as usize) {
        Some(crate::bytecode::Const::Str(s)) => s.as_str(),
        _ => "",
    }
}
