//! Special methods a class may define (language.md §4): `to_str` for
//! printing, `eq` and `lt` for comparisons (and so `sorted`), `add sub mul
//! div neg` for arithmetic, `len`, `get_item` and `iter`. The VM calls them
//! where a built-in operation meets an instance.

use super::format::{self, Show};
use super::value::*;
use super::Vm;
use std::rc::Rc;

/// The method `name` of an instance's class, bound to it.
fn special(v: &Value, name: &str) -> Option<Value> {
    let Value::Instance(i) = v else { return None };
    let m = i.class.find_method(name)?;
    Some(Value::Bound(Rc::new(BoundMethod { receiver: v.clone(), method: Value::Func(m.clone()) })))
}

pub fn is_instance(v: &Value) -> bool {
    matches!(v, Value::Instance(_))
}

/// Printing with `to_str`, and the first error it threw.
struct WithToStr<'v> {
    vm: &'v mut Vm,
    error: Option<Value>,
}

impl Show for WithToStr<'_> {
    fn instance(&mut self, v: &Value) -> Option<String> {
        let m = special(v, "to_str")?;
        if self.error.is_some() {
            return Some(String::new());
        }
        match self.vm.call_value(&m, &[]) {
            Ok(Value::Str(s)) => Some(s.to_string()),
            Ok(other) => {
                self.error = Some(Value::error("TypeError", format!("`to_str` must return a str, not {}", other.type_name())));
                Some(String::new())
            }
            Err(e) => {
                self.error = Some(e);
                Some(String::new())
            }
        }
    }
    fn runs_code(&self) -> bool {
        true
    }
}

impl Vm {
    /// `str(v)`: as `print` shows it, instances by their `to_str`.
    pub fn display(&mut self, v: &Value) -> Result<String, Value> {
        if let Value::Str(s) = v {
            return Ok(s.to_string());
        }
        if !might_show(v) {
            return Ok(format::to_display(v));
        }
        let mut hook = WithToStr { vm: self, error: None };
        let mut out = String::new();
        format::repr_in(v, &mut out, &mut Default::default(), &mut hook);
        match hook.error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// How the REPL echoes a value: strings quoted, as inside containers.
    pub fn echo_text(&mut self, v: &Value) -> Result<String, Value> {
        if let Value::Str(s) = v {
            let mut out = String::new();
            format::quote(s, &mut out);
            return Ok(out);
        }
        self.display(v)
    }

    /// `a op b` where an instance is involved: the left operand's method,
    /// else the right's for `+` and `*` with a number on the left.
    pub(crate) fn special_binop(&mut self, name: &str, sym: &str, a: Value, b: Value) -> Result<Value, Value> {
        if let Some(m) = special(&a, name) {
            return self.call_value(&m, &[b]);
        }
        if matches!(name, "add" | "mul") && matches!(a, Value::Int(_) | Value::Float(_)) {
            if let Some(m) = special(&b, name) {
                return self.call_value(&m, &[a]);
            }
        }
        err("TypeError", format!("unsupported operand types for {sym}: {} and {}", a.type_name(), b.type_name()))
    }

    pub(crate) fn special_neg(&mut self, a: Value) -> Result<Value, Value> {
        match special(&a, "neg") {
            Some(m) => self.call_value(&m, &[]),
            None => super::ops::neg(&a),
        }
    }

    /// `a == b`: `eq` of either side, else identity.
    pub(crate) fn special_eq(&mut self, a: &Value, b: &Value) -> Result<bool, Value> {
        if let Some(m) = special(a, "eq") {
            return Ok(self.call_value(&m, std::slice::from_ref(b))?.truthy());
        }
        if let Some(m) = special(b, "eq") {
            return Ok(self.call_value(&m, std::slice::from_ref(a))?.truthy());
        }
        Ok(super::ops::equal(a, b))
    }

    /// `a < b` with `lt`: `a.lt(b)`, or for an instance on the right only,
    /// neither `b.lt(a)` nor `b == a`.
    pub(crate) fn special_less(&mut self, a: &Value, b: &Value) -> Result<bool, Value> {
        if let Some(m) = special(a, "lt") {
            return Ok(self.call_value(&m, std::slice::from_ref(b))?.truthy());
        }
        if let Some(m) = special(b, "lt") {
            let greater = self.call_value(&m, std::slice::from_ref(a))?.truthy();
            return Ok(!greater && !self.special_eq(b, a)?);
        }
        super::ops::less(a, b)
    }

    /// `len(x)` for an instance: its `len()`.
    pub(crate) fn special_len(&mut self, v: &Value) -> Result<Value, Value> {
        match special(v, "len") {
            Some(m) => match self.call_value(&m, &[])? {
                n @ Value::Int(_) => Ok(n),
                other => err("TypeError", format!("`len` must return an int, not {}", other.type_name())),
            },
            None => Ok(Value::Int(super::seq::length(v)?)),
        }
    }

    /// `x[i]` for an instance: its `get_item(i)`.
    pub(crate) fn special_index(&mut self, obj: Value, idx: Value) -> Result<Value, Value> {
        match special(&obj, "get_item") {
            Some(m) => self.call_value(&m, &[idx]),
            None => super::ops::get_index(&obj, &idx),
        }
    }

    /// `for x in obj` for an instance: what its `iter()` returns, iterated.
    pub(crate) fn special_iter(&mut self, v: &Value) -> Result<Value, Value> {
        match special(v, "iter") {
            Some(m) => {
                let it = self.call_value(&m, &[])?;
                if is_instance(&it) {
                    return err("TypeError", "`iter` must return a list or another iterable, not an instance");
                }
                super::iter::make_iter(&it)
            }
            None => super::iter::make_iter(v),
        }
    }
}

/// Whether printing `v` may meet an instance (so `to_str` may run); deep
/// or self-containing values are assumed to.
fn might_show(v: &Value) -> bool {
    fn scan(v: &Value, depth: u32) -> bool {
        match v {
            Value::Instance(_) | Value::Cell(_) => true,
            _ if depth > 16 => true,
            Value::List(l) => l.borrow().iter().any(|x| scan(x, depth + 1)),
            Value::Map(m) => m.borrow().values().any(|x| scan(x, depth + 1)),
            _ => false,
        }
    }
    scan(v, 0)
}

impl Vm {
    /// The dispatch loop's way out to `slow_op`: out of line, so the loop
    /// stays small; the operands are copied first (the method may grow the
    /// stack they live on).
    #[cold]
    #[inline(never)]
    pub(crate) fn slow_op_at(&mut self, pc: usize, op: crate::bytecode::Op, x: &Value, y: &Value) -> Result<Value, Value> {
        let (x, y) = (x.clone(), y.clone());
        self.save_pc(pc);
        self.slow_op(op, x, y)
    }

    /// An operation the dispatch loop's fast paths leave: with an instance
    /// among the operands, its special method; else the plain operation.
    pub(crate) fn slow_op(&mut self, op: crate::bytecode::Op, a: Value, b: Value) -> Result<Value, Value> {
        use crate::bytecode::Op;
        Ok(match op {
            Op::Add => self.special_binop("add", "+", a, b)?,
            Op::Sub => self.special_binop("sub", "-", a, b)?,
            Op::Mul => self.special_binop("mul", "*", a, b)?,
            Op::Div => self.special_binop("div", "/", a, b)?,
            Op::Neg => self.special_neg(a)?,
            Op::Eq => Value::Bool(self.special_eq(&a, &b)?),
            Op::Lt => Value::Bool(self.special_less(&a, &b)?),
            Op::Le => Value::Bool(!self.special_less(&b, &a)?),
            Op::GetIndex => self.special_index(a, b)?,
            _ => return err("TypeError", format!("internal: no special method for {}", op.name())),
        })
    }
}
