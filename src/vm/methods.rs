//! Methods of built-in types: str, list, map (language.md §9).

use super::args::{arity, kwarg};
use super::builtins::sort_values;
use super::format::to_display;
use super::more_methods as more;
use super::ops;
use super::seq::{length, list_append, to_vec};
use super::value::*;
use super::Vm;
use std::rc::Rc;

pub use super::method_tables::{has_method, method_names};

fn str_arg<'a>(m: &str, v: &'a Value) -> Result<&'a str, Value> {
    match v {
        Value::Str(s) => Ok(s),
        other => err("TypeError", format!("`{m}` needs a str argument, not {}", other.type_name())),
    }
}

pub fn call_method(vm: &mut Vm, recv: &Value, name: &str, args: &[Value], kw: &[(Rc<str>, Value)]) -> Result<Value, Value> {
    if name == "len" && has_method(recv, name) {
        arity("len", args, 0, 0)?;
        return Ok(Value::Int(length(recv)?));
    }
    match recv {
        Value::Str(s) => str_method(s, name, args, kw),
        Value::List(l) => list_method(vm, recv, l, name, args, kw),
        Value::Map(m) => map_method(recv, m, name, args, kw),
        Value::Future(f) => {
            no_kw(name, kw)?;
            super::async_builtins::future_method(vm, f, name, args)
        }
        Value::Actor(a) => {
            no_kw(name, kw)?;
            vm.host("an actor call")?.ask(vm, a, name, args)
        }
        Value::Matrix(m) => super::matrix_methods::method(vm, m, name, args, kw),
        Value::Set(s) => {
            no_kw(name, kw)?;
            super::sets::method(s, name, args)
        }
        Value::Range(r) => {
            no_kw(name, kw)?;
            super::ranges::method(vm, r, name, args)
        }
        Value::Object(o) => {
            no_kw(name, kw)?;
            o.call_method(vm, name, args)
        }
        other => err("TypeError", format!("{} has no method `{name}`", other.type_name())),
    }
}

fn no_kw(name: &str, kw: &[(Rc<str>, Value)]) -> Result<(), Value> {
    kwarg(name, kw, &[]).map(|_| ())
}

fn str_method(s: &Rc<String>, name: &str, args: &[Value], kw: &[(Rc<str>, Value)]) -> Result<Value, Value> {
    no_kw(name, kw)?;
    match name {
        "upper" | "lower" => {
            arity(name, args, 0, 0)?;
            Ok(Value::str(&if name == "upper" { s.to_uppercase() } else { s.to_lowercase() }))
        }
        "strip" => more::strip(s, name, args),
        "split" => more::split(s, args),
        "starts_with" | "ends_with" | "contains" => {
            arity(name, args, 1, 1)?;
            let p = str_arg(name, &args[0])?;
            Ok(Value::Bool(match name {
                "starts_with" => s.starts_with(p),
                "ends_with" => s.ends_with(p),
                _ => s.contains(p),
            }))
        }
        "replace" => {
            arity(name, args, 2, 2)?;
            let (a, b) = (str_arg(name, &args[0])?, str_arg(name, &args[1])?);
            if a.is_empty() {
                return err("ValueError", "cannot replace an empty string");
            }
            if b.len() > a.len() {
                check_str_size(s.len().saturating_add(s.matches(a).count().saturating_mul(b.len() - a.len())))?;
            }
            Ok(Value::str(&s.replace(a, b)))
        }
        "find" => {
            arity(name, args, 1, 1)?;
            let p = str_arg(name, &args[0])?;
            Ok(Value::Int(match s.find(p) {
                Some(byte) => s[..byte].chars().count() as i64,
                None => -1,
            }))
        }
        "join" => {
            arity(name, args, 1, 1)?;
            let items = to_vec(&args[0])?;
            let parts: Vec<String> = items.iter().map(to_display).collect();
            let total = parts.iter().map(String::len).sum::<usize>().saturating_add(s.len().saturating_mul(parts.len()));
            check_str_size(total)?;
            Ok(Value::str(&parts.join(s)))
        }
        _ => more::str_extra(s, name, args),
    }
}

fn list_method(
    vm: &mut Vm,
    recv: &Value,
    l: &Rc<std::cell::RefCell<crate::vm::value::ListVec>>,
    name: &str,
    args: &[Value],
    kw: &[(Rc<str>, Value)],
) -> Result<Value, Value> {
    if name != "sort" {
        no_kw(name, kw)?;
    }
    match name {
        "append" => {
            arity(name, args, 1, 1)?;
            list_append(recv, l, args[0].clone());
            Ok(Value::None)
        }
        "pop" => {
            arity(name, args, 0, 1)?;
            let mut v = l.borrow_mut();
            if v.is_empty() {
                return err("IndexError", "pop from an empty list");
            }
            let i = match args.first() {
                None => v.len() - 1,
                Some(Value::Int(i)) => {
                    ops::norm_index(*i, v.len()).ok_or_else(|| Value::error("IndexError", format!("pop index {i} out of range")))?
                }
                Some(o) => return err("TypeError", format!("pop index must be int, not {}", o.type_name())),
            };
            Ok(v.remove(i))
        }
        "insert" => {
            arity(name, args, 2, 2)?;
            let Value::Int(i) = args[0] else { return err("TypeError", "insert index must be an int") };
            let mut v = l.borrow_mut();
            let n = v.len() as i64;
            let at = if i < 0 { (i + n).max(0) } else { i.min(n) } as usize;
            v.insert(at, args[1].clone());
            drop(v);
            super::gc::note_store(recv, &args[1]);
            Ok(Value::None)
        }
        "remove" => {
            arity(name, args, 1, 1)?;
            let mut v = l.borrow_mut();
            match v.iter().position(|x| ops::equal(x, &args[0])) {
                Some(i) => {
                    v.remove(i);
                    Ok(Value::None)
                }
                None => err("ValueError", format!("{} is not in the list", to_display(&args[0]))),
            }
        }
        "index" => {
            arity(name, args, 1, 1)?;
            match l.borrow().iter().position(|x| ops::equal(x, &args[0])) {
                Some(i) => Ok(Value::Int(i as i64)),
                None => err("ValueError", format!("{} is not in the list", to_display(&args[0]))),
            }
        }
        "contains" => {
            arity(name, args, 1, 1)?;
            Ok(Value::Bool(ops::contains(recv, &args[0])?))
        }
        "sort" => {
            arity(name, args, 0, 0)?;
            let k = kwarg(name, kw, &["key", "reverse"])?;
            let items = l.borrow().clone();
            let sorted = sort_values(vm, items.into_vec(), k[0], k[1].is_some_and(|v| v.truthy()))?;
            *l.borrow_mut() = ListVec::from_vec(sorted);
            Ok(Value::None)
        }
        "reverse" => {
            arity(name, args, 0, 0)?;
            l.borrow_mut().reverse();
            Ok(Value::None)
        }
        "map" => {
            arity(name, args, 1, 1)?;
            let items = l.borrow().clone();
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                out.push(vm.call_value(&args[0], &[x])?);
            }
            Ok(Value::list(out))
        }
        "filter" => {
            arity(name, args, 1, 1)?;
            let items = l.borrow().clone();
            let mut out = Vec::new();
            for x in items {
                if vm.call_value(&args[0], std::slice::from_ref(&x))?.truthy() {
                    out.push(x);
                }
            }
            Ok(Value::list(out))
        }
        "reduce" => {
            arity(name, args, 2, 2)?;
            let items = l.borrow().clone();
            let mut acc = args[1].clone();
            for x in items {
                acc = vm.call_value(&args[0], &[acc, x])?;
            }
            Ok(acc)
        }
        "copy" => {
            arity(name, args, 0, 0)?;
            Ok(Value::list_from(l.borrow().clone()))
        }
        _ => more::list_extra(recv, l, name, args),
    }
}

fn map_method(
    recv: &Value,
    m: &Rc<std::cell::RefCell<MapInner>>,
    name: &str,
    args: &[Value],
    kw: &[(Rc<str>, Value)],
) -> Result<Value, Value> {
    no_kw(name, kw)?;
    match name {
        "get" => {
            arity(name, args, 1, 2)?;
            let k = args[0].to_key()?;
            Ok(m.borrow().get(&k).cloned().unwrap_or_else(|| args.get(1).cloned().unwrap_or(Value::None)))
        }
        "keys" | "values" | "items" | "copy" if !args.is_empty() => arity(name, args, 0, 0).map(|()| Value::None),
        "keys" => Ok(Value::list(m.borrow().keys().map(|k| k.to_value()).collect())),
        "values" => Ok(Value::list(m.borrow().values().cloned().collect())),
        "items" => Ok(Value::list(m.borrow().iter().map(|(k, v)| Value::list(vec![k.to_value(), v.clone()])).collect())),
        "contains" => {
            arity(name, args, 1, 1)?;
            Ok(Value::Bool(args[0].to_key().map(|k| m.borrow().contains_key(&k)).unwrap_or(false)))
        }
        "remove" => {
            arity(name, args, 1, 1)?;
            let k = args[0].to_key()?;
            match m.borrow_mut().shift_remove(&k) {
                Some(v) => Ok(v),
                None => err("KeyError", format!("key {} not found", to_display(&args[0]))),
            }
        }
        "copy" => Ok(Value::map(m.borrow().clone())),
        _ => more::map_extra(recv, m, name, args),
    }
}
