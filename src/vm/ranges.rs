//! Ranges act like read-only lists of ints where that is natural: `len
//! contains index count map filter reduce`, indexing, and slices (a slice of a
//! range is a range, as in Python), without building the list.

use super::args::arity;
use super::value::*;
use super::Vm;

pub const METHODS: &[&str] = &["len", "contains", "index", "count", "map", "filter", "reduce"];

/// The positions a slice `[start:end:step]` of a sequence of `len` items picks:
/// the first, how many, and the stride (Python's rules: negative bounds count
/// from the end, bounds clamp, a negative step walks backwards).
pub fn positions(len: i64, start: &Value, end: &Value, step: &Value) -> Result<(i64, i64, i64), Value> {
    let step = match step {
        Value::None => 1,
        Value::Int(0) => return err("ValueError", "slice step cannot be zero"),
        Value::Int(s) => *s,
        o => return err("TypeError", format!("slice step must be an int, not {}", o.type_name())),
    };
    let bound = |v: &Value, default: i64| -> Result<i64, Value> {
        match v {
            Value::None => Ok(default),
            Value::Int(i) => {
                let i = if *i < 0 { i.saturating_add(len) } else { *i };
                Ok(if step > 0 { i.clamp(0, len) } else { i.clamp(-1, len - 1) })
            }
            o => err("TypeError", format!("slice bounds must be int, not {}", o.type_name())),
        }
    };
    let (first, stop) = if step > 0 { (bound(start, 0)?, bound(end, len)?) } else { (bound(start, len - 1)?, bound(end, -1)?) };
    let (f, s, k) = (first as i128, stop as i128, step as i128);
    let count = if k > 0 && s > f {
        (s - f + k - 1) / k
    } else if k < 0 && f > s {
        (f - s - k - 1) / -k
    } else {
        0
    };
    Ok((first, count as i64, step))
}

/// `r[start:end:step]`: a range again.
pub fn slice(r: &RangeObj, start: &Value, end: &Value, step: &Value) -> Result<Value, Value> {
    let (first, count, k) = positions(r.len(), start, end, step)?;
    let Some(new_step) = r.step.checked_mul(k) else {
        return err("OverflowError", "the slice's step overflows");
    };
    let out = if count == 0 {
        let at = if first < r.len() && first >= 0 { r.nth(first) } else { r.end };
        RangeObj { start: at, end: at, step: new_step }
    } else {
        // The value past the last one picked, without leaving 64 bits: the last
        // value is inside the range, so one step of 1 beyond it fits.
        let last = r.nth(first + (count - 1) * k);
        RangeObj { start: r.nth(first), end: last + new_step.signum(), step: new_step }
    };
    Ok(Value::Range(std::rc::Rc::new(out)))
}

pub fn method(vm: &mut Vm, r: &RangeObj, name: &str, args: &[Value]) -> Result<Value, Value> {
    let int_arg = |args: &[Value]| match &args[0] {
        Value::Int(i) => Some(*i),
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
        _ => None,
    };
    match name {
        "len" => {
            arity(name, args, 0, 0)?;
            Ok(Value::Int(r.len()))
        }
        "contains" | "count" => {
            arity(name, args, 1, 1)?;
            let has = int_arg(args).is_some_and(|i| r.contains(i));
            Ok(if name == "contains" { Value::Bool(has) } else { Value::Int(has as i64) })
        }
        "index" => {
            arity(name, args, 1, 1)?;
            match int_arg(args).filter(|i| r.contains(*i)) {
                Some(i) => Ok(Value::Int(((i as i128 - r.start as i128) / r.step as i128) as i64)),
                None => err("ValueError", format!("{} is not in the range", super::format::repr_of(&args[0]))),
            }
        }
        "map" | "filter" => {
            arity(name, args, 1, 1)?;
            check_list_size(r.len() as usize)?;
            let mut out = Vec::new();
            for j in 0..r.len() {
                let x = Value::Int(r.nth(j));
                let y = vm.call_value(&args[0], std::slice::from_ref(&x))?;
                if name == "map" {
                    out.push(y);
                } else if y.truthy() {
                    out.push(x);
                }
            }
            Ok(Value::list(out))
        }
        "reduce" => {
            arity(name, args, 2, 2)?;
            let mut acc = args[1].clone();
            for j in 0..r.len() {
                acc = vm.call_value(&args[0], &[acc, Value::Int(r.nth(j))])?;
            }
            Ok(acc)
        }
        _ => {
            let hint = crate::suggest::hint(name, METHODS.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
            err("TypeError", format!("range has no method `{name}`{hint}"))
        }
    }
}
