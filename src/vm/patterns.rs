//! The VM side of patterns and spreads: `is` tests, list and map pattern
//! tests, unpacking around `..rest`, and gathering a spread's items.

use super::iter;
use super::value::*;

/// `v is t`: `t` a class (instances of it or a subclass; an actor class
/// matches references to its actors), or a type name.
pub fn is_a(v: &Value, t: &Value) -> Result<bool, Value> {
    match t {
        Value::Class(c) => Ok(match v {
            Value::Instance(i) => {
                let mut k = Some(&i.class);
                while let Some(cls) = k {
                    if std::rc::Rc::ptr_eq(cls, c) {
                        return Ok(true);
                    }
                    k = cls.parent.as_ref();
                }
                false
            }
            Value::Actor(a) => c.actor.is_some() && *a.class_name == *c.name,
            _ => false,
        }),
        Value::Str(name) => Ok(has_type(v, name)),
        Value::Native(n) if crate::sema::TYPE_NAMES.contains(&n.name) => Ok(has_type(v, n.name)),
        other => err("TypeError", format!("`is` needs a class or a type name on its right, not {}", other.type_name())),
    }
}

fn has_type(v: &Value, name: &str) -> bool {
    match v {
        // An instance's type is its class, never a built-in type.
        Value::Instance(_) => false,
        _ => v.type_name() == name,
    }
}

/// A list pattern's test: a list of exactly `n` items, or at least `n`
/// with `AT_LEAST` set.
pub fn match_list(v: &Value, c: u32) -> bool {
    const AT_LEAST: u32 = 1 << 31;
    let Value::List(l) = v else { return false };
    let (n, at_least) = ((c & !AT_LEAST) as usize, c & AT_LEAST != 0);
    let len = l.borrow().len();
    if at_least {
        len >= n
    } else {
        len == n
    }
}

/// A map pattern's test (and a class pattern's, for fields).
pub fn has_key(v: &Value, k: &Value) -> bool {
    match v {
        Value::Map(m) => k.to_key().is_ok_and(|k| m.borrow().contains_key(&k)),
        Value::Instance(i) => matches!(k, Value::Str(s) if i.fields.borrow().contains_key(s.as_str())),
        _ => false,
    }
}

/// The items of `v` around a `..rest`: `before` first, the rest as a list,
/// then `after`.
pub fn unpack_rest(v: &Value, before: usize, after: usize) -> Result<Vec<Value>, Value> {
    let Value::List(l) = v else {
        return err("TypeError", format!("cannot destructure {} (a list is needed)", v.type_name()));
    };
    let items = l.borrow();
    if items.len() < before + after {
        let names = before + after;
        return err(
            "TypeError",
            format!("cannot destructure a list of length {} into at least {}", items.len(), crate::bytecode::plural(names, "name")),
        );
    }
    let mut out: Vec<Value> = items[..before].to_vec();
    out.push(Value::list_from(items[before..items.len() - after].iter().cloned().collect()));
    out.extend(items[items.len() - after..].iter().cloned());
    Ok(out)
}

/// Every item of an iterable, in order (`..xs` in a call).
pub fn items_of(v: &Value) -> Result<Vec<Value>, Value> {
    if let Value::List(l) = v {
        return Ok(l.borrow().iter().cloned().collect());
    }
    let it = iter::make_iter(v).map_err(|_| Value::error("TypeError", format!("cannot spread {} (`..` takes a list)", v.type_name())))?;
    let Value::Iter(it) = it else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    while let Some(x) = iter::next(&mut it.borrow_mut()) {
        out.push(x);
    }
    Ok(out)
}
