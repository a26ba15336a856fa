//! Helpers on sequences and collections that built-ins, methods and operators
//! all use (kept apart so those modules do not import one another).

use super::value::*;
use std::rc::Rc;

pub fn length(v: &Value) -> Result<i64, Value> {
    Ok(match v {
        Value::Str(s) => {
            if s.is_ascii() {
                s.len() as i64
            } else {
                s.chars().count() as i64
            }
        }
        Value::List(l) => l.borrow().len() as i64,
        Value::Map(m) => m.borrow().len() as i64,
        Value::Set(s) => s.borrow().len() as i64,
        Value::Range(r) => r.len(),
        Value::Matrix(m) => m.nrows() as i64,
        other => return err("TypeError", format!("{} has no length", other.type_name())),
    })
}

/// Materialize any iterable as a vector of values.
pub fn to_vec(v: &Value) -> Result<Vec<Value>, Value> {
    match v {
        Value::List(l) => Ok(l.borrow().to_vec()),
        Value::Map(m) => Ok(m.borrow().keys().map(|k| k.to_value()).collect()),
        Value::Set(s) => Ok(s.borrow().iter().map(|k| k.to_value()).collect()),
        Value::Str(s) => Ok(s.chars().map(|c| Value::str(c.encode_utf8(&mut [0; 4]))).collect()),
        Value::Range(r) => {
            check_list_size(r.len().max(0) as usize)?;
            let mut out = Vec::with_capacity(r.len().max(0) as usize);
            let mut x = r.start;
            while (r.step > 0 && x < r.end) || (r.step < 0 && x > r.end) {
                out.push(Value::Int(x));
                x = match x.checked_add(r.step) {
                    Some(n) => n,
                    None => break,
                };
            }
            Ok(out)
        }
        other => err("TypeError", format!("{} is not iterable", other.type_name())),
    }
}

/// `list.append(v)` (also the dispatch loop's inline fast path).
#[inline]
pub(crate) fn list_append(list: &Value, l: &Rc<std::cell::RefCell<crate::vm::value::ListVec>>, v: Value) {
    let track = super::gc::may_cycle(&v);
    l.borrow_mut().push(v);
    if track {
        super::gc::note_container(list);
    }
}

/// `m1 | m2` and `m1.merge(m2)`: a new map, the right side winning.
pub fn merge(a: &Value, b: &Value) -> Result<Value, Value> {
    match (a, b) {
        (Value::Map(x), Value::Map(y)) => {
            let mut out = x.borrow().clone();
            for (k, v) in y.borrow().iter() {
                out.insert(k.clone(), v.clone());
            }
            Ok(Value::map(out))
        }
        _ => err("TypeError", format!("`|` merges two maps, not {} and {}", a.type_name(), b.type_name())),
    }
}
