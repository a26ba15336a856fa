//! Built-ins that convert between characters, code points and lists:
//! `ord`, `chr`, `list`.

use super::args::{arity, kwarg};
use super::seq::to_vec;
use super::value::*;
use super::Vm;
use std::rc::Rc;

type Kw<'a> = &'a [(Rc<str>, Value)];

/// `ord("a")` is 97: the code point of a one-character string.
pub fn ord(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("ord", kw, &[])?;
    arity("ord", args, 1, 1)?;
    let Value::Str(s) = &args[0] else { return err("TypeError", format!("`ord` needs a str, not {}", args[0].type_name())) };
    let mut cs = s.chars();
    match (cs.next(), cs.next()) {
        (Some(c), None) => Ok(Value::Int(c as i64)),
        _ => err("ValueError", format!("`ord` needs one character, not a string of length {}", s.chars().count())),
    }
}

/// `chr(97)` is `"a"`.
pub fn chr(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("chr", kw, &[])?;
    arity("chr", args, 1, 1)?;
    let Value::Int(i) = args[0] else { return err("TypeError", format!("`chr` needs an int, not {}", args[0].type_name())) };
    match u32::try_from(i).ok().and_then(char::from_u32) {
        Some(c) => Ok(Value::str(c.encode_utf8(&mut [0; 4]))),
        None => err("ValueError", format!("{i} is not a Unicode code point")),
    }
}

/// `list(xs)`: a new list of an iterable's items (a map's keys); `list()` is `[]`.
pub fn list(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("list", kw, &[])?;
    arity("list", args, 0, 1)?;
    match args.first() {
        None => Ok(Value::list(Vec::new())),
        Some(v @ (Value::Matrix(_) | Value::Iter(_))) => Ok(Value::list(super::patterns::items_of(v)?)),
        Some(v) => Ok(Value::list(to_vec(v)?)),
    }
}
