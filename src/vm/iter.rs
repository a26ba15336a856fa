//! Iteration for `for` loops: lists (live, like Python), ranges, strings
//! (characters), maps (keys, or key/value pairs with two loop variables),
//! matrices (rows, as 1×n matrices).

use super::value::*;
use std::cell::RefCell;
use std::rc::Rc;

pub fn make_iter(v: &Value) -> Result<Value, Value> {
    let it = match v {
        Value::List(l) => Iter::List { list: l.clone(), pos: 0 },
        Value::Range(r) => Iter::Range { next: r.start, end: r.end, step: r.step },
        Value::Str(s) => Iter::Chars { s: s.clone(), pos: 0 },
        Value::Map(m) => Iter::Pairs { items: m.borrow().iter().map(|(k, v)| (k.to_value(), v.clone())).collect(), pos: 0 },
        Value::Matrix(m) => Iter::Rows { m: m.clone(), pos: 0 },
        Value::Set(s) => Iter::Keys { items: s.borrow().iter().map(Key::to_value).collect(), pos: 0 },
        Value::Iter(_) => return Ok(v.clone()),
        other => return err("TypeError", format!("cannot iterate over {}", other.type_name())),
    };
    Ok(Value::Iter(Rc::new(RefCell::new(it))))
}

pub fn next(it: &mut Iter) -> Option<Value> {
    match it {
        Iter::List { list, pos } => {
            let v = list.borrow().get(*pos).cloned();
            *pos += 1;
            v
        }
        Iter::Range { next, end, step } => {
            if (*step > 0 && *next < *end) || (*step < 0 && *next > *end) {
                let v = *next;
                *next = next.saturating_add(*step);
                Some(Value::Int(v))
            } else {
                None
            }
        }
        Iter::Chars { s, pos } => {
            let c = s[*pos..].chars().next()?;
            *pos += c.len_utf8();
            Some(Value::str(c.encode_utf8(&mut [0; 4])))
        }
        Iter::Keys { items, pos } => {
            let v = items.get(*pos).cloned();
            *pos += 1;
            v
        }
        Iter::Pairs { items, pos } => {
            let v = items.get(*pos).map(|(k, _)| k.clone());
            *pos += 1;
            v
        }
        Iter::Rows { m, pos } => next_row(m, pos),
    }
}

/// Two loop variables: a map gives key and value; otherwise each item must be
/// a two-element list.
pub fn next_pair(it: &mut Iter) -> Result<Option<(Value, Value)>, Value> {
    if let Iter::Pairs { items, pos } = it {
        let v = items.get(*pos).cloned();
        *pos += 1;
        return Ok(v);
    }
    match next(it) {
        None => Ok(None),
        Some(Value::List(l)) => {
            let l = l.borrow();
            if l.len() != 2 {
                return err("TypeError", format!("cannot unpack a list of length {} into 2 loop variables", l.len()));
            }
            Ok(Some((l[0].clone(), l[1].clone())))
        }
        Some(other) => err("TypeError", format!("cannot unpack {} into 2 loop variables", other.type_name())),
    }
}

#[inline(never)]
fn next_row(m: &super::matrix::Mat, pos: &mut usize) -> Option<Value> {
    let v = (*pos < m.nrows()).then(|| super::matrix::row(m, &Value::Int(*pos as i64)).ok()).flatten();
    *pos += 1;
    v
}
