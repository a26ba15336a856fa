//! Operators on values: arithmetic with checked overflow, comparison,
//! structural equality, membership, indexing and slicing.

use super::value::*;
use std::cmp::Ordering;
use std::rc::Rc;

fn type_err<T>(op: &str, a: &Value, b: &Value) -> Result<T, Value> {
    err("TypeError", format!("unsupported operand types for {op}: {} and {}", a.type_name(), b.type_name()))
}

fn overflow<T>(op: &str) -> Result<T, Value> {
    err("OverflowError", format!("integer overflow in {op}"))
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

pub fn add(a: &Value, b: &Value) -> Result<Value, Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.checked_add(*y).map(Value::Int).map_or_else(|| overflow("+"), Ok),
        (Value::Str(x), Value::Str(y)) => {
            check_str_size(x.len().saturating_add(y.len()))?;
            let mut s = String::with_capacity(x.len() + y.len());
            s.push_str(x);
            s.push_str(y);
            Ok(Value::Str(Rc::new(s)))
        }
        (Value::List(x), Value::List(y)) => {
            check_list_size(x.borrow().len().saturating_add(y.borrow().len()))?;
            let mut v = x.borrow().clone();
            v.extend(y.borrow().iter().cloned());
            Ok(Value::list_from(v))
        }
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => Ok(Value::Float(x + y)),
            _ => {
                if let Some(r) = super::matrix::arith('+', a, b) {
                    return r;
                }
                if matches!(a, Value::Str(_)) || matches!(b, Value::Str(_)) {
                    err("TypeError", format!("cannot add {} and {}; use str(x) or an f-string", a.type_name(), b.type_name()))
                } else {
                    type_err("+", a, b)
                }
            }
        },
    }
}

pub fn sub(a: &Value, b: &Value) -> Result<Value, Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.checked_sub(*y).map(Value::Int).map_or_else(|| overflow("-"), Ok),
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => Ok(Value::Float(x - y)),
            _ => match a {
                Value::Set(s) => super::sets::op("-", s, b),
                _ => super::matrix::arith('-', a, b).unwrap_or_else(|| type_err("-", a, b)),
            },
        },
    }
}

fn repeat(count: i64, what: &Value) -> Result<Value, Value> {
    let n = count.max(0) as usize;
    match what {
        Value::Str(s) => {
            check_str_size(s.len().saturating_mul(n))?;
            Ok(Value::Str(Rc::new(s.repeat(n))))
        }
        Value::List(l) => {
            let l = l.borrow();
            check_list_size(l.len().saturating_mul(n))?;
            let mut v = Vec::with_capacity(l.len() * n);
            for _ in 0..n {
                v.extend(l.iter().cloned());
            }
            Ok(Value::list(v))
        }
        _ => unreachable!("repeat is only called with str or list"),
    }
}

pub fn mul(a: &Value, b: &Value) -> Result<Value, Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.checked_mul(*y).map(Value::Int).map_or_else(|| overflow("*"), Ok),
        (Value::Str(_) | Value::List(_), Value::Int(n)) => repeat(*n, a),
        (Value::Int(n), Value::Str(_) | Value::List(_)) => repeat(*n, b),
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) => Ok(Value::Float(x * y)),
            _ => super::matrix::arith('*', a, b).unwrap_or_else(|| type_err("*", a, b)),
        },
    }
}

pub fn div(a: &Value, b: &Value) -> Result<Value, Value> {
    match (as_f64(a), as_f64(b)) {
        (Some(_), Some(0.0)) => err("ZeroDivisionError", "division by zero"),
        (Some(x), Some(y)) => Ok(Value::Float(x / y)),
        _ => super::matrix::arith('/', a, b).unwrap_or_else(|| type_err("/", a, b)),
    }
}

pub fn floor_div(a: &Value, b: &Value) -> Result<Value, Value> {
    match (a, b) {
        (Value::Int(_), Value::Int(0)) => err("ZeroDivisionError", "integer division by zero"),
        (Value::Int(x), Value::Int(y)) => {
            let q = x.checked_div(*y).map_or_else(|| overflow("//"), Ok)?;
            Ok(Value::Int(if (x % y != 0) && ((*x < 0) != (*y < 0)) { q - 1 } else { q }))
        }
        _ => match (as_f64(a), as_f64(b)) {
            (Some(_), Some(0.0)) => err("ZeroDivisionError", "division by zero"),
            (Some(x), Some(y)) => Ok(Value::Float((x / y).floor())),
            _ => type_err("//", a, b),
        },
    }
}

pub fn modulo(a: &Value, b: &Value) -> Result<Value, Value> {
    match (a, b) {
        (Value::Int(_), Value::Int(0)) => err("ZeroDivisionError", "integer modulo by zero"),
        (Value::Int(x), Value::Int(y)) => {
            let r = x.checked_rem(*y).unwrap_or(0);
            Ok(Value::Int(if r != 0 && ((r < 0) != (*y < 0)) { r + y } else { r }))
        }
        _ => match (as_f64(a), as_f64(b)) {
            (Some(_), Some(0.0)) => err("ZeroDivisionError", "modulo by zero"),
            (Some(x), Some(y)) => {
                let r = x % y;
                Ok(Value::Float(if r != 0.0 && ((r < 0.0) != (y < 0.0)) { r + y } else { r }))
            }
            _ => type_err("%", a, b),
        },
    }
}

pub fn pow(a: &Value, b: &Value) -> Result<Value, Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) if *y >= 0 => {
            let e = u32::try_from(*y).or_else(|_| overflow("**"))?;
            x.checked_pow(e).map(Value::Int).map_or_else(|| overflow("**"), Ok)
        }
        (Value::Int(0), Value::Int(_)) => err("ZeroDivisionError", "0 cannot be raised to a negative power"),
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(_)) if x == 0.0 && as_f64(b).is_some_and(|y| y < 0.0) => {
                err("ZeroDivisionError", "0.0 cannot be raised to a negative power")
            }
            (Some(x), Some(y)) => Ok(Value::Float(x.powf(y))),
            _ => type_err("**", a, b),
        },
    }
}

/// `m1 | m2` merges maps (the right side wins).
fn collection_op(op: &str, a: &Value, b: &Value) -> Result<Value, Value> {
    match (op, a, b) {
        ("|", Value::Map(_), Value::Map(_)) => super::seq::merge(a, b),
        ("|" | "&", Value::Set(s), _) => super::sets::op(op, s, b),
        _ => type_err(op, a, b),
    }
}

pub fn int_op(op: &str, a: &Value, b: &Value) -> Result<Value, Value> {
    let (Value::Int(x), Value::Int(y)) = (a, b) else { return collection_op(op, a, b) };
    let (x, y) = (*x, *y);
    Ok(Value::Int(match op {
        "&" => x & y,
        "|" => x | y,
        "^" => x ^ y,
        "<<" => {
            if !(0..64).contains(&y) {
                return if y < 0 { err("ValueError", "negative shift count") } else { overflow("<<") };
            }
            let r = x << y;
            if r >> y != x {
                return overflow("<<");
            }
            r
        }
        _ => {
            if y < 0 {
                return err("ValueError", "negative shift count");
            }
            x >> y.min(63)
        }
    }))
}

pub fn neg(a: &Value) -> Result<Value, Value> {
    match a {
        Value::Int(x) => x.checked_neg().map(Value::Int).map_or_else(|| overflow("-"), Ok),
        Value::Float(f) => Ok(Value::Float(-f)),
        Value::Matrix(m) => Ok(super::matrix::neg(m)),
        _ => err("TypeError", format!("cannot negate {}", a.type_name())),
    }
}

/// Structural equality (language.md §2): `1 == 1.0`, never `true == 1`; maps
/// order-insensitive; identity for instances.
pub fn equal(a: &Value, b: &Value) -> bool {
    equal_depth(a, b, 0)
}

fn equal_depth(a: &Value, b: &Value, depth: u32) -> bool {
    if depth > 200 {
        // Deeper than recursion should go: compare the rest iteratively.
        return equal_deep(a, b);
    }
    match (a, b) {
        (Value::None, Value::None) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) => x == y,
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y && (*y as i128) == (*x as i128),
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::Set(x), Value::Set(y)) => super::sets::equal(&x.borrow(), &y.borrow()),
        (Value::List(x), Value::List(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal_depth(p, q, depth + 1))
        }
        (Value::Map(x), Value::Map(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| equal_depth(v, w, depth + 1)))
        }
        // As in Python: ranges are equal when they yield the same ints.
        (Value::Range(x), Value::Range(y)) => {
            let n = x.len();
            n == y.len() && (n == 0 || (x.start == y.start && (n == 1 || x.step == y.step)))
        }
        (Value::Func(x), Value::Func(y)) => Rc::ptr_eq(x, y),
        (Value::Native(x), Value::Native(y)) => std::ptr::eq(*x, *y),
        (Value::Class(x), Value::Class(y)) => Rc::ptr_eq(x, y),
        (Value::Instance(x), Value::Instance(y)) => Rc::ptr_eq(x, y),
        (Value::Error(x), Value::Error(y)) => Rc::ptr_eq(x, y) || (x.kind == y.kind && x.message == y.message),
        (Value::Module(x), Value::Module(y)) => Rc::ptr_eq(x, y),
        (Value::Actor(x), Value::Actor(y)) => x.id == y.id,
        (Value::Matrix(x), Value::Matrix(y)) => super::matrix::equal(x, y),
        (Value::Object(x), Value::Object(y)) => x.identity() == y.identity(),
        (Value::Future(x), Value::Future(y)) => Rc::ptr_eq(x, y),
        _ => false,
    }
}

/// Equality of deeply nested (or cyclic) containers without recursion: a
/// work list of pairs, and each pair of containers compared once (a pair met
/// again is assumed equal, which makes two cycles with the same shape equal).
fn equal_deep(a: &Value, b: &Value) -> bool {
    let mut work = vec![(a.clone(), b.clone())];
    let mut seen: rustc_hash::FxHashSet<(usize, usize)> = Default::default();
    while let Some((x, y)) = work.pop() {
        match (&x, &y) {
            (Value::List(p), Value::List(q)) => {
                if Rc::ptr_eq(p, q) || !seen.insert((Rc::as_ptr(p) as *const u8 as usize, Rc::as_ptr(q) as *const u8 as usize)) {
                    continue;
                }
                let (p, q) = (p.borrow(), q.borrow());
                if p.len() != q.len() {
                    return false;
                }
                work.extend(p.iter().cloned().zip(q.iter().cloned()));
            }
            (Value::Map(p), Value::Map(q)) => {
                if Rc::ptr_eq(p, q) || !seen.insert((Rc::as_ptr(p) as *const u8 as usize, Rc::as_ptr(q) as *const u8 as usize)) {
                    continue;
                }
                let (p, q) = (p.borrow(), q.borrow());
                if p.len() != q.len() {
                    return false;
                }
                for (k, v) in p.iter() {
                    match q.get(k) {
                        Some(w) => work.push((v.clone(), w.clone())),
                        None => return false,
                    }
                }
            }
            (Value::List(_) | Value::Map(_), _) | (_, Value::List(_) | Value::Map(_)) => return false,
            _ => {
                if !equal_depth(&x, &y, 0) {
                    return false;
                }
            }
        }
    }
    true
}

/// `<` ordering: numbers, strings, lists lexicographically; other mixes are a
/// `TypeError`. `None` from an unordered float comparison (NaN).
pub fn compare(a: &Value, b: &Value) -> Result<Option<Ordering>, Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(Some(x.cmp(y))),
        (Value::Str(x), Value::Str(y)) => Ok(Some(x.as_str().cmp(y.as_str()))),
        (Value::List(x), Value::List(y)) => {
            let (x, y) = (x.borrow().clone(), y.borrow().clone());
            for (p, q) in x.iter().zip(y.iter()) {
                if equal(p, q) {
                    continue;
                }
                return compare(p, q);
            }
            Ok(Some(x.len().cmp(&y.len())))
        }
        _ => match (as_f64(a), as_f64(b)) {
            (Some(x), Some(y)) if !matches!(a, Value::Bool(_)) && !matches!(b, Value::Bool(_)) => Ok(x.partial_cmp(&y)),
            _ => err("TypeError", format!("cannot compare {} with {}", a.type_name(), b.type_name())),
        },
    }
}

pub fn less(a: &Value, b: &Value) -> Result<bool, Value> {
    Ok(compare(a, b)? == Some(Ordering::Less))
}

pub fn less_eq(a: &Value, b: &Value) -> Result<bool, Value> {
    Ok(matches!(compare(a, b)?, Some(Ordering::Less | Ordering::Equal)))
}

pub fn contains(container: &Value, item: &Value) -> Result<bool, Value> {
    match container {
        Value::List(l) => Ok(l.borrow().iter().any(|x| equal(x, item))),
        Value::Str(s) => match item {
            Value::Str(sub) => Ok(s.contains(sub.as_str())),
            _ => err("TypeError", format!("`in <str>` needs a str on the left, not {}", item.type_name())),
        },
        Value::Set(s) => Ok(super::sets::contains(&s.borrow(), item)),
        Value::Map(m) => Ok(match item.to_key() {
            Ok(k) => m.borrow().contains_key(&k),
            Err(_) => false,
        }),
        Value::Range(r) => Ok(match item {
            Value::Int(i) => r.contains(*i),
            Value::Float(f) if f.fract() == 0.0 => r.contains(*f as i64),
            _ => false,
        }),
        _ => err("TypeError", format!("`in` is not supported on {}", container.type_name())),
    }
}

/// Resolve a possibly negative index against a length.
pub fn norm_index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let j = if i < 0 { i + len } else { i };
    if j >= 0 && j < len {
        Some(j as usize)
    } else {
        None
    }
}

fn index_int(v: &Value) -> Result<i64, Value> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => err("TypeError", format!("indices must be int, not {}", v.type_name())),
    }
}

pub fn get_index(obj: &Value, idx: &Value) -> Result<Value, Value> {
    match obj {
        Value::Matrix(m) => match idx {
            Value::Range(r) if r.step == 1 => super::matrix::slice(m, (&Value::Int(r.start), &Value::Int(r.end)), None),
            _ => super::matrix::row(m, idx),
        },
        Value::List(l) => {
            if let Value::Range(r) = idx {
                if r.step == 1 {
                    return slice(obj, &Value::Int(r.start), &Value::Int(r.end));
                }
            }
            let i = index_int(idx)?;
            let l = l.borrow();
            match norm_index(i, l.len()) {
                Some(j) => Ok(l[j].clone()),
                None => err("IndexError", format!("list index {i} out of range for length {}", l.len())),
            }
        }
        Value::Map(m) => {
            let k = idx.to_key()?;
            match m.borrow().get(&k) {
                Some(v) => Ok(v.clone()),
                None => {
                    let mut s = String::new();
                    super::format::repr(idx, &mut s, &mut Default::default());
                    err("KeyError", format!("key {s} not found"))
                }
            }
        }
        Value::Str(s) => {
            if let Value::Range(r) = idx {
                if r.step == 1 {
                    return slice(obj, &Value::Int(r.start), &Value::Int(r.end));
                }
            }
            let i = index_int(idx)?;
            let n = if s.is_ascii() { s.len() } else { s.chars().count() };
            match norm_index(i, n) {
                Some(j) => {
                    Ok(if s.is_ascii() { Value::str(&s[j..j + 1]) } else { Value::str(&s.chars().nth(j).unwrap_or(' ').to_string()) })
                }
                None => err("IndexError", format!("string index {i} out of range for length {n}")),
            }
        }
        Value::Range(r) => {
            if let Value::Range(s) = idx {
                if s.step == 1 {
                    return super::ranges::slice(r, &Value::Int(s.start), &Value::Int(s.end), &Value::None);
                }
            }
            let i = index_int(idx)?;
            match norm_index(i, r.len().max(0) as usize) {
                Some(j) => Ok(Value::Int(r.nth(j as i64))),
                None => err("IndexError", format!("range index {i} out of range")),
            }
        }
        _ => err("TypeError", format!("{} is not indexable", obj.type_name())),
    }
}

pub fn set_index(obj: &Value, idx: &Value, val: Value) -> Result<(), Value> {
    let track = super::gc::may_cycle(&val);
    store_index(obj, idx, val)?;
    if track {
        super::gc::note_container(obj);
    }
    Ok(())
}

fn store_index(obj: &Value, idx: &Value, val: Value) -> Result<(), Value> {
    match obj {
        Value::List(l) => {
            let i = index_int(idx)?;
            let mut l = l.borrow_mut();
            let n = l.len();
            match norm_index(i, n) {
                Some(j) => {
                    l[j] = val;
                    Ok(())
                }
                None => err("IndexError", format!("list index {i} out of range for length {n}")),
            }
        }
        Value::Map(m) => {
            let k = idx.to_key()?;
            m.borrow_mut().insert(k, val);
            Ok(())
        }
        Value::Str(_) => err("TypeError", "strings are immutable"),
        _ => err("TypeError", format!("{} does not support item assignment", obj.type_name())),
    }
}

fn bound(v: &Value, len: usize, default: usize) -> Result<usize, Value> {
    match v {
        Value::None => Ok(default),
        Value::Int(i) => {
            let len = len as i64;
            let j = if *i < 0 { (*i + len).max(0) } else { (*i).min(len) };
            Ok(j as usize)
        }
        _ => err("TypeError", format!("slice bounds must be int, not {}", v.type_name())),
    }
}

/// `obj[start:end]`, clamped to the bounds.
pub fn slice(obj: &Value, start: &Value, end: &Value) -> Result<Value, Value> {
    match obj {
        Value::Matrix(m) => super::matrix::slice(m, (start, end), None),
        Value::List(l) => {
            let l = l.borrow();
            let a = bound(start, l.len(), 0)?;
            let b = bound(end, l.len(), l.len())?;
            Ok(Value::list(if a < b { l[a..b].to_vec() } else { vec![] }))
        }
        Value::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            let a = bound(start, chars.len(), 0)?;
            let b = bound(end, chars.len(), chars.len())?;
            Ok(Value::str(&if a < b { chars[a..b].iter().collect::<String>() } else { String::new() }))
        }
        Value::Range(r) => super::ranges::slice(r, start, end, &Value::None),
        _ => err("TypeError", format!("{} cannot be sliced", obj.type_name())),
    }
}
