//! Library modules implemented in the VM: `math`, `json`, `time`, `random`.

use super::builtins::{arity, kwarg, num};
use super::format::{fmt_float, quote};
use super::value::*;
use super::Vm;
use std::rc::Rc;

type R = Result<Value, Value>;
type Kw<'a> = &'a [(Rc<str>, Value)];

macro_rules! module_fns {
    ($static:ident: $($name:literal => $f:expr),* $(,)?) => {
        static $static: &[Native] = &[$(Native { name: $name, f: $f }),*];
    };
}

fn unary(name: &'static str, args: &[Value], kw: Kw, f: fn(f64) -> f64) -> R {
    kwarg(name, kw, &[])?;
    arity(name, args, 1, 1)?;
    Ok(Value::Float(f(num(name, &args[0])?)))
}

module_fns! { MATH:
    "sin" => |_, a, k| unary("sin", a, k, f64::sin),
    "cos" => |_, a, k| unary("cos", a, k, f64::cos),
    "tan" => |_, a, k| unary("tan", a, k, f64::tan),
    "exp" => |_, a, k| unary("exp", a, k, f64::exp),
    "sqrt" => |_, a, k| {
        arity("sqrt", a, 1, 1)?;
        kwarg("sqrt", k, &[])?;
        let x = num("sqrt", &a[0])?;
        if x < 0.0 { return err("ValueError", format!("sqrt of a negative number ({})", fmt_float(x))); }
        Ok(Value::Float(x.sqrt()))
    },
    "log" => |_, a, k| {
        kwarg("log", k, &[])?;
        arity("log", a, 1, 2)?;
        let x = num("log", &a[0])?;
        if x <= 0.0 { return err("ValueError", format!("log of a non-positive number ({})", fmt_float(x))); }
        match a.get(1) {
            None => Ok(Value::Float(x.ln())),
            Some(b) => Ok(Value::Float(x.ln() / num("log", b)?.ln())),
        }
    },
    "pow" => |_, a, k| {
        kwarg("pow", k, &[])?;
        arity("pow", a, 2, 2)?;
        Ok(Value::Float(num("pow", &a[0])?.powf(num("pow", &a[1])?)))
    },
}

module_fns! { JSON:
    "encode" => json_encode,
    "decode" => json_decode,
}

module_fns! { TIME:
    "now" => |_, a, k| { kwarg("now", k, &[])?; arity("now", a, 0, 0)?; Ok(Value::Float(epoch())) },
    "monotonic" => |_, a, k| {
        kwarg("monotonic", k, &[])?;
        arity("monotonic", a, 0, 0)?;
        thread_local!(static START: std::time::Instant = std::time::Instant::now());
        Ok(Value::Float(START.with(|s| s.elapsed().as_secs_f64())))
    },
}

module_fns! { RANDOM:
    "seed" => |vm, a, k| {
        kwarg("seed", k, &[])?;
        arity("seed", a, 1, 1)?;
        let Value::Int(s) = a[0] else { return err("TypeError", "seed must be an int") };
        vm.rng = (s as u64) ^ 0x9E37_79B9_7F4A_7C15;
        Ok(Value::None)
    },
    "random" => |vm, a, k| { kwarg("random", k, &[])?; arity("random", a, 0, 0)?; Ok(Value::Float(next_f64(vm))) },
    "randint" => |vm, a, k| {
        kwarg("randint", k, &[])?;
        arity("randint", a, 2, 2)?;
        let (Value::Int(lo), Value::Int(hi)) = (&a[0], &a[1]) else { return err("TypeError", "randint needs two ints") };
        if hi < lo { return err("ValueError", format!("randint: empty range {lo}..={hi}")); }
        let span = (*hi as i128 - *lo as i128 + 1) as u128;
        Ok(Value::Int((*lo as i128 + (next_u64(vm) as u128 % span) as i128) as i64))
    },
    "choice" => |vm, a, k| {
        kwarg("choice", k, &[])?;
        arity("choice", a, 1, 1)?;
        let items = super::builtins::to_vec(&a[0])?;
        if items.is_empty() { return err("IndexError", "choice from an empty list"); }
        let i = (next_u64(vm) % items.len() as u64) as usize;
        Ok(items[i].clone())
    },
    "shuffle" => |vm, a, k| {
        kwarg("shuffle", k, &[])?;
        arity("shuffle", a, 1, 1)?;
        let Value::List(l) = &a[0] else { return err("TypeError", "shuffle needs a list") };
        let n = l.borrow().len();
        for i in (1..n).rev() {
            let j = (next_u64(vm) % (i as u64 + 1)) as usize;
            l.borrow_mut().swap(i, j);
        }
        Ok(Value::None)
    },
}

fn epoch() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// splitmix64: small, fast, and deterministic for a given seed.
fn next_u64(vm: &mut Vm) -> u64 {
    vm.rng = vm.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = vm.rng;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn next_f64(vm: &mut Vm) -> f64 {
    (next_u64(vm) >> 11) as f64 / (1u64 << 53) as f64
}

pub fn build(name: &str) -> Option<Value> {
    let (fns, consts): (&'static [Native], Vec<(&str, Value)>) = match name {
        "math" => (
            MATH,
            vec![
                ("pi", Value::Float(std::f64::consts::PI)),
                ("e", Value::Float(std::f64::consts::E)),
                ("inf", Value::Float(f64::INFINITY)),
                ("nan", Value::Float(f64::NAN)),
            ],
        ),
        "json" => (JSON, vec![]),
        "time" => (TIME, vec![]),
        "random" => (RANDOM, vec![]),
        "linalg" => (super::linalg::LINALG, vec![]),
        "nn" => (super::linalg::NN, vec![]),
        "fs" => (super::fs::FS, vec![]),
        "db" => (super::db::DB, vec![]),
        _ => return None,
    };
    let mut members: indexmap::IndexMap<Rc<str>, Value, FxBuild> = Default::default();
    for (n, v) in consts {
        members.insert(Rc::from(n), v);
    }
    for f in fns {
        members.insert(Rc::from(f.name), Value::Native(f));
    }
    Some(Value::Module(Rc::new(ModuleObj { name: Rc::from(name), members: std::cell::RefCell::new(members), index: None })))
}

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
