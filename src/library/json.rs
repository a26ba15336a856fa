//! `json`: encode values as JSON text and decode it.

use crate::vm::args::{arity, kwarg};
use crate::vm::format::{fmt_float, quote};
use crate::vm::native::LibraryModule;
use crate::vm::value::*;
use crate::vm::Vm;
use std::rc::Rc;

type R = Result<Value, Value>;
type Kw<'a> = &'a [(Rc<str>, Value)];

module_fns! { JSON:
    "encode" => json_encode,
    "decode" => json_decode,
}

pub static MODULE: LibraryModule = LibraryModule { name: "json", functions: JSON, constants: &[], revive: None };

fn json_encode(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let k = kwarg("encode", kw, &["indent"])?;
    arity("encode", args, 1, 1)?;
    let indent = match k[0] {
        None | Some(Value::None) => None,
        Some(Value::Int(n)) if (0..=16).contains(n) => Some(*n as usize),
        Some(_) => return err("ValueError", "indent must be an int from 0 to 16"),
    };
    let mut out = String::new();
    encode(&args[0], indent, 0, &mut out, 0)?;
    Ok(Value::str(&out))
}

fn encode(v: &Value, indent: Option<usize>, level: usize, out: &mut String, depth: usize) -> Result<(), Value> {
    if depth > 500 {
        return err("ValueError", "value is nested too deeply (or contains itself) for JSON");
    }
    let nl = |out: &mut String, lvl: usize| {
        if let Some(n) = indent {
            out.push('\n');
            out.push_str(&" ".repeat(n * lvl));
        }
    };
    match v {
        Value::None => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            if !f.is_finite() {
                return err("ValueError", format!("{} cannot be encoded as JSON", fmt_float(*f)));
            }
            out.push_str(&fmt_float(*f));
        }
        Value::Str(s) => quote(s, out),
        Value::List(l) => {
            let l = l.borrow();
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                    if indent.is_none() {}
                }
                nl(out, level + 1);
                encode(x, indent, level + 1, out, depth + 1)?;
            }
            if !l.is_empty() {
                nl(out, level);
            }
            out.push(']');
        }
        Value::Map(m) => {
            let m = m.borrow();
            out.push('{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, level + 1);
                match k {
                    Key::Str(s) => quote(s, out),
                    Key::Int(n) => quote(&n.to_string(), out),
                    Key::Bool(b) => quote(if *b { "true" } else { "false" }, out),
                }
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                encode(x, indent, level + 1, out, depth + 1)?;
            }
            if !m.is_empty() {
                nl(out, level);
            }
            out.push('}');
        }
        other => return err("TypeError", format!("{} cannot be encoded as JSON", other.type_name())),
    }
    Ok(())
}

fn json_decode(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("decode", kw, &[])?;
    arity("decode", args, 1, 1)?;
    let Value::Str(s) = &args[0] else { return err("TypeError", "json.decode needs a str") };
    let v: serde_json::Value = serde_json::from_str(s)
        .map_err(|e| Value::error("ValueError", format!("invalid JSON at line {} column {}: {e}", e.line(), e.column())))?;
    Ok(from_json(&v))
}

fn from_json(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::None,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::str(s),
        serde_json::Value::Array(a) => Value::list(a.iter().map(from_json).collect()),
        serde_json::Value::Object(o) => {
            let mut m = MapInner::default();
            for (k, v) in o {
                m.insert(Key::Str(Rc::new(k.clone())), from_json(v));
            }
            Value::map(m)
        }
    }
}
