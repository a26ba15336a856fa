//! Sets (language.md §2): insertion-ordered, of str, int and bool; `set()`,
//! `set(xs)`, `| & -`, `in`, iteration, and their methods.

use super::args::{arity, kwarg};
use super::value::*;
use super::Vm;
use std::cell::RefCell;
use std::rc::Rc;

pub const METHODS: &[&str] = &["len", "add", "remove", "contains", "union", "intersection", "difference", "copy"];

pub fn new_set(s: SetInner) -> Value {
    Value::Set(Rc::new(RefCell::new(s)))
}

/// The elements of an iterable, as set elements (a map gives its keys).
fn keys_of(v: &Value) -> Result<SetInner, Value> {
    if let Value::Set(s) = v {
        return Ok(s.borrow().clone());
    }
    let items = match v {
        Value::Map(m) => m.borrow().keys().map(Key::to_value).collect(),
        other => super::patterns::items_of(other)
            .map_err(|_| Value::error("TypeError", format!("`set` needs a list or another iterable, not {}", other.type_name())))?,
    };
    items.iter().map(element).collect()
}

fn element(v: &Value) -> Result<Key, Value> {
    v.to_key().map_err(|_| Value::error("TypeError", format!("a set holds str, int and bool, not {}", v.type_name())))
}

/// `set()` or `set(xs)`.
pub fn set(_: &mut Vm, args: &[Value], kw: &[(Rc<str>, Value)]) -> Result<Value, Value> {
    kwarg("set", kw, &[])?;
    arity("set", args, 0, 1)?;
    Ok(new_set(match args.first() {
        None => SetInner::default(),
        Some(v) => keys_of(v)?,
    }))
}

/// `a | b`, `a & b`, `a - b` on two sets: a new set, in `a`'s order then `b`'s.
pub fn op(op: &str, a: &Rc<RefCell<SetInner>>, b: &Value) -> Result<Value, Value> {
    let Value::Set(b) = b else {
        return err("TypeError", format!("`{op}` needs two sets, not set and {}", b.type_name()));
    };
    let (x, y) = (a.borrow(), b.borrow());
    Ok(new_set(match op {
        "|" => x.iter().chain(y.iter()).cloned().collect(),
        "&" => x.iter().filter(|k| y.contains(*k)).cloned().collect(),
        _ => x.iter().filter(|k| !y.contains(*k)).cloned().collect(),
    }))
}

pub fn equal(a: &SetInner, b: &SetInner) -> bool {
    a.len() == b.len() && a.iter().all(|k| b.contains(k))
}

pub fn contains(s: &SetInner, item: &Value) -> bool {
    item.to_key().is_ok_and(|k| s.contains(&k))
}

pub fn method(s: &Rc<RefCell<SetInner>>, name: &str, args: &[Value]) -> Result<Value, Value> {
    match name {
        "add" => {
            arity(name, args, 1, 1)?;
            let k = element(&args[0])?;
            s.borrow_mut().insert(k);
            Ok(Value::None)
        }
        "remove" => {
            arity(name, args, 1, 1)?;
            let k = element(&args[0])?;
            if !s.borrow_mut().shift_remove(&k) {
                return err("KeyError", format!("{} is not in the set", super::format::to_display(&args[0])));
            }
            Ok(Value::None)
        }
        "contains" => {
            arity(name, args, 1, 1)?;
            Ok(Value::Bool(contains(&s.borrow(), &args[0])))
        }
        "union" | "intersection" | "difference" => {
            arity(name, args, 1, 1)?;
            // Any iterable on the right, as in Python.
            let other = new_set(keys_of(&args[0])?);
            op(
                match name {
                    "union" => "|",
                    "intersection" => "&",
                    _ => "-",
                },
                s,
                &other,
            )
        }
        "copy" => {
            arity(name, args, 0, 0)?;
            Ok(new_set(s.borrow().clone()))
        }
        _ => {
            let hint = crate::suggest::hint(name, METHODS.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
            err("TypeError", format!("set has no method `{name}`{hint}"))
        }
    }
}
