//! Checking the arguments of native functions and methods.

use super::value::{err, Value};
use std::rc::Rc;

type Kw<'a> = &'a [(Rc<str>, Value)];

pub fn arity(name: &str, args: &[Value], min: usize, max: usize) -> Result<(), Value> {
    if args.len() < min || args.len() > max {
        let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return err("TypeError", crate::bytecode::arity_message(name, &want, max != 1, args.len()));
    }
    Ok(())
}

pub fn kwarg<'a>(name: &str, kw: Kw<'a>, allowed: &[&str]) -> Result<Vec<Option<&'a Value>>, Value> {
    for (k, _) in kw {
        if !allowed.contains(&&**k) {
            return err("TypeError", format!("`{name}` has no parameter `{k}`"));
        }
    }
    Ok(allowed.iter().map(|a| kw.iter().find(|(k, _)| &**k == *a).map(|(_, v)| v)).collect())
}

pub fn num(name: &str, v: &Value) -> Result<f64, Value> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        other => err("TypeError", format!("`{name}` needs a number, not {}", other.type_name())),
    }
}
