//! Built-in functions, in `bytecode::BUILTINS` order.

use super::args::{arity, kwarg, num};
use super::format::{fmt_float, to_display};
use super::ops;
use super::seq::to_vec;
use super::value::*;
use super::Vm;
use std::rc::Rc;

type R = Result<Value, Value>;
type Kw<'a> = &'a [(Rc<str>, Value)];

macro_rules! natives {
    ($($name:literal => $f:ident),* $(,)?) => {
        pub static BUILTIN_FNS: &[Native] = &[$(Native { name: $name, f: $f }),*];
    };
}

use super::async_builtins::{all, any, lookup, monitor, node_of, nodes, promise, send_message, sleep, timeout};
use super::conversions::{chr, list, ord};
use super::matrix::{eye, matrix, ones, rand, zeros};
use super::matrix_methods::{hstack, vstack};
use super::sets::set;

natives! {
    "print" => print, "input" => input, "len" => len, "str" => str_, "int" => int, "float" => float,
    "bool" => bool_, "type" => type_, "range" => range, "enumerate" => enumerate, "zip" => zip,
    "min" => min, "max" => max, "sum" => sum, "abs" => abs, "round" => round, "sorted" => sorted,
    "reversed" => reversed, "sqrt" => sqrt, "floor" => floor, "ceil" => ceil, "Error" => error,
    "args" => args, "exit" => exit, "now" => now,
    "sleep" => sleep, "all" => all, "any" => any, "timeout" => timeout, "promise" => promise,
    "lookup" => lookup, "send_message" => send_message,
    "matrix" => matrix, "zeros" => zeros, "ones" => ones, "eye" => eye, "rand" => rand,
    "monitor" => monitor, "node_of" => node_of, "nodes" => nodes,
    "ord" => ord, "chr" => chr, "list" => list, "set" => set, "$echo" => echo,
    "vstack" => vstack, "hstack" => hstack,
}

fn no_kw(name: &str, kw: Kw) -> Result<(), Value> {
    kwarg(name, kw, &[]).map(|_| ())
}

fn print(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    let k = kwarg("print", kw, &["sep", "end"])?;
    let text = |v: Option<&Value>, default: &str| match v {
        None | Some(Value::None) => Ok(default.to_string()),
        Some(Value::Str(s)) => Ok(s.to_string()),
        Some(o) => err("TypeError", format!("`print`'s sep and end must be str, not {}", o.type_name())),
    };
    let (sep, end) = (text(k[0], " ")?, text(k[1], "\n")?);
    let mut line = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            line.push_str(&sep);
        }
        match a {
            Value::Str(s) => line.push_str(s),
            other => line.push_str(&vm.display(other)?),
        }
    }
    line.push_str(&end);
    vm.write_out(line.as_bytes())?;
    Ok(Value::None)
}

/// The REPL's echo: a value as it prints inside a container (strings quoted).
fn echo(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("$echo", kw)?;
    arity("$echo", args, 1, 1)?;
    let mut line = vm.echo_text(&args[0])?;
    line.push('\n');
    vm.write_out(line.as_bytes())?;
    Ok(Value::None)
}

fn input(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("input", kw)?;
    arity("input", args, 0, 1)?;
    if !vm.has_terminal() {
        return err("IOError", "input() reads the program's stdin, which is on another node");
    }
    if let Some(p) = args.first() {
        vm.write_out(to_display(p).as_bytes())?;
    }
    vm.flush_out()?;
    let mut s = String::new();
    match std::io::stdin().read_line(&mut s) {
        Ok(0) => err("IOError", "end of input"),
        Ok(_) => Ok(Value::str(s.trim_end_matches(['\n', '\r']))),
        Err(e) => err("IOError", format!("cannot read input: {e}")),
    }
}

fn len(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("len", kw)?;
    arity("len", args, 1, 1)?;
    vm.special_len(&args[0])
}

fn str_(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("str", kw)?;
    arity("str", args, 0, 1)?;
    Ok(match args.first() {
        None => Value::str(""),
        Some(Value::Str(s)) => Value::Str(s.clone()),
        Some(v) => Value::Str(Rc::new(vm.display(v)?)),
    })
}

fn int(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("int", kw)?;
    arity("int", args, 0, 1)?;
    match args.first() {
        None => Ok(Value::Int(0)),
        Some(Value::Int(i)) => Ok(Value::Int(*i)),
        Some(Value::Bool(b)) => Ok(Value::Int(*b as i64)),
        Some(Value::Float(f)) => {
            if f.is_nan() || f.is_infinite() || f.abs() >= 9.223372036854776e18 {
                err("OverflowError", format!("cannot convert {} to int", fmt_float(*f)))
            } else {
                Ok(Value::Int(f.trunc() as i64))
            }
        }
        Some(Value::Str(s)) => {
            let t = s.trim().replace('_', "");
            t.parse::<i64>().map(Value::Int).or_else(|_| err("ValueError", format!("invalid int: {:?}", s.as_str())))
        }
        Some(other) => err("TypeError", format!("cannot convert {} to int", other.type_name())),
    }
}

fn float(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("float", kw)?;
    arity("float", args, 0, 1)?;
    match args.first() {
        None => Ok(Value::Float(0.0)),
        Some(Value::Int(i)) => Ok(Value::Float(*i as f64)),
        Some(Value::Float(f)) => Ok(Value::Float(*f)),
        Some(Value::Bool(b)) => Ok(Value::Float(*b as i64 as f64)),
        Some(Value::Str(s)) => {
            let t = s.trim();
            let parsed = match t.to_ascii_lowercase().as_str() {
                "nan" => Some(f64::NAN),
                "inf" | "+inf" => Some(f64::INFINITY),
                "-inf" => Some(f64::NEG_INFINITY),
                _ if t.chars().all(|c| c.is_ascii_digit() || "+-.eE_".contains(c)) && !t.is_empty() => {
                    t.replace('_', "").parse::<f64>().ok()
                }
                _ => None,
            };
            parsed.map(Value::Float).ok_or_else(|| Value::error("ValueError", format!("invalid float: {:?}", s.as_str())))
        }
        Some(other) => err("TypeError", format!("cannot convert {} to float", other.type_name())),
    }
}

fn bool_(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("bool", kw)?;
    arity("bool", args, 0, 1)?;
    Ok(Value::Bool(args.first().is_some_and(|v| v.truthy())))
}

fn type_(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("type", kw)?;
    arity("type", args, 1, 1)?;
    Ok(Value::str(args[0].type_name()))
}

fn int_arg(name: &str, v: &Value) -> Result<i64, Value> {
    match v {
        Value::Int(i) => Ok(*i),
        other => err("TypeError", format!("`{name}` needs int arguments, not {}", other.type_name())),
    }
}

fn range(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("range", kw)?;
    arity("range", args, 1, 3)?;
    let (start, end, step) = match args.len() {
        1 => (0, int_arg("range", &args[0])?, 1),
        2 => (int_arg("range", &args[0])?, int_arg("range", &args[1])?, 1),
        _ => (int_arg("range", &args[0])?, int_arg("range", &args[1])?, int_arg("range", &args[2])?),
    };
    if step == 0 {
        return err("ValueError", "range step cannot be zero");
    }
    Ok(Value::Range(Rc::new(RangeObj { start, end, step })))
}

fn enumerate(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("enumerate", kw)?;
    arity("enumerate", args, 1, 1)?;
    let items = to_vec(&args[0])?;
    Ok(Value::list(items.into_iter().enumerate().map(|(i, v)| Value::list(vec![Value::Int(i as i64), v])).collect()))
}

fn zip(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("zip", kw)?;
    arity("zip", args, 2, 2)?;
    let (a, b) = (to_vec(&args[0])?, to_vec(&args[1])?);
    Ok(Value::list(a.into_iter().zip(b).map(|(x, y)| Value::list(vec![x, y])).collect()))
}

fn extreme(vm: &mut Vm, name: &str, args: &[Value], kw: Kw, want_less: bool) -> R {
    let k = kwarg(name, kw, &["key"])?;
    let items = if args.len() == 1 { to_vec(&args[0])? } else { args.to_vec() };
    if items.is_empty() {
        return err("ValueError", format!("`{name}` of an empty sequence"));
    }
    let key = k[0].cloned();
    let mut best = items[0].clone();
    let mut best_key = match &key {
        Some(f) => vm.call_value(f, &[best.clone()])?,
        None => best.clone(),
    };
    for it in &items[1..] {
        let kv = match &key {
            Some(f) => vm.call_value(f, std::slice::from_ref(it))?,
            None => it.clone(),
        };
        let better = if want_less { vm.special_less(&kv, &best_key)? } else { vm.special_less(&best_key, &kv)? };
        if better {
            best = it.clone();
            best_key = kv;
        }
    }
    Ok(best)
}

fn min(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    if args.is_empty() {
        return err("TypeError", "`min` needs at least one argument");
    }
    extreme(vm, "min", args, kw, true)
}

fn max(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    if args.is_empty() {
        return err("TypeError", "`max` needs at least one argument");
    }
    extreme(vm, "max", args, kw, false)
}

fn sum(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("sum", kw)?;
    let items = if args.len() == 1 { to_vec(&args[0])? } else { args.to_vec() };
    let mut acc = Value::Int(0);
    for it in &items {
        acc = ops::add(&acc, it)?;
    }
    Ok(acc)
}

fn abs(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("abs", kw)?;
    arity("abs", args, 1, 1)?;
    match &args[0] {
        Value::Int(i) => i.checked_abs().map(Value::Int).ok_or_else(|| Value::error("OverflowError", "integer overflow in abs")),
        Value::Float(f) => Ok(Value::Float(f.abs())),
        other => err("TypeError", format!("`abs` needs a number, not {}", other.type_name())),
    }
}

fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

fn round(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("round", kw)?;
    arity("round", args, 1, 2)?;
    let x = num("round", &args[0])?;
    match args.get(1) {
        None => {
            if let Value::Int(i) = args[0] {
                return Ok(Value::Int(i));
            }
            let r = round_half_even(x);
            if !r.is_finite() || r.abs() >= 9.223372036854776e18 {
                return err("OverflowError", format!("cannot round {} to an int", fmt_float(x)));
            }
            Ok(Value::Int(r as i64))
        }
        Some(n) => {
            let n = int_arg("round", n)?.clamp(-300, 300);
            // Go through decimal text so that round(2.675, 2) behaves like Python.
            let s = format!("{:.*}", n.max(0) as usize, x);
            if n >= 0 {
                Ok(Value::Float(s.parse().unwrap_or(x)))
            } else {
                let p = 10f64.powi(-n as i32);
                Ok(Value::Float(round_half_even(x / p) * p))
            }
        }
    }
}

/// Stable sort by optional key, using `<`.
/// The order of two values by `<`, running a class's `lt`.
fn lt_order(vm: &mut Vm, x: &Value, y: &Value) -> Result<std::cmp::Ordering, Value> {
    Ok(if vm.special_less(x, y)? {
        std::cmp::Ordering::Less
    } else if vm.special_less(y, x)? {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    })
}

pub fn sort_values(vm: &mut Vm, items: Vec<Value>, key: Option<&Value>, reverse: bool) -> Result<Vec<Value>, Value> {
    let keys: Vec<Value> = match key {
        Some(f) if !matches!(f, Value::None) => {
            items.iter().map(|x| vm.call_value(f, std::slice::from_ref(x))).collect::<Result<_, _>>()?
        }
        _ => items.clone(),
    };
    let mut idx: Vec<usize> = (0..items.len()).collect();
    let mut failure = None;
    let by_lt = keys.iter().any(super::special::is_instance);
    // A class's `lt` may not be a total order, which the sort may notice
    // by panicking: contained, and reported as an error.
    let sorted = crate::contain::contain(|| {
        idx.sort_by(|&a, &b| {
            let (x, y) = if reverse { (&keys[b], &keys[a]) } else { (&keys[a], &keys[b]) };
            let o = if by_lt { lt_order(vm, x, y) } else { ops::compare(x, y).map(|o| o.unwrap_or(std::cmp::Ordering::Equal)) };
            o.unwrap_or_else(|e| {
                failure.get_or_insert(e);
                std::cmp::Ordering::Equal
            })
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    if sorted.is_err() {
        return err("ValueError", "cannot sort: the order (`lt`) is not consistent");
    }
    Ok(idx.into_iter().map(|i| items[i].clone()).collect())
}

fn sorted(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    arity("sorted", args, 1, 1)?;
    let k = kwarg("sorted", kw, &["key", "reverse"])?;
    let items = to_vec(&args[0])?;
    let reverse = k[1].is_some_and(|v| v.truthy());
    Ok(Value::list(sort_values(vm, items, k[0], reverse)?))
}

fn reversed(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("reversed", kw)?;
    arity("reversed", args, 1, 1)?;
    match &args[0] {
        Value::Str(s) => Ok(Value::str(&s.chars().rev().collect::<String>())),
        other => {
            let mut v = to_vec(other)?;
            v.reverse();
            Ok(Value::list(v))
        }
    }
}

fn sqrt(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("sqrt", kw)?;
    arity("sqrt", args, 1, 1)?;
    let x = num("sqrt", &args[0])?;
    if x < 0.0 {
        return err("ValueError", format!("sqrt of a negative number ({})", fmt_float(x)));
    }
    Ok(Value::Float(x.sqrt()))
}

fn to_int_checked(name: &str, f: f64) -> R {
    if !f.is_finite() || f.abs() >= 9.223372036854776e18 {
        return err("OverflowError", format!("`{name}` of {} does not fit an int", fmt_float(f)));
    }
    Ok(Value::Int(f as i64))
}

/// `floor`/`ceil`: an int stays as it is; a float is rounded by `f` to an int.
fn round_with(name: &str, f: fn(f64) -> f64, args: &[Value], kw: Kw) -> R {
    no_kw(name, kw)?;
    arity(name, args, 1, 1)?;
    if let Value::Int(i) = args[0] {
        return Ok(Value::Int(i));
    }
    to_int_checked(name, f(num(name, &args[0])?))
}

fn floor(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    round_with("floor", f64::floor, args, kw)
}

fn ceil(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    round_with("ceil", f64::ceil, args, kw)
}

fn error(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let k = kwarg("Error", kw, &["kind"])?;
    arity("Error", args, 1, 2)?;
    let kind = match k[0].or(args.get(1)) {
        Some(Value::Str(s)) => s.to_string(),
        Some(other) => return err("TypeError", format!("error kind must be a str, not {}", other.type_name())),
        None => "Error".to_string(),
    };
    Ok(Value::error(&kind, to_display(&args[0])))
}

fn args(vm: &mut Vm, a: &[Value], kw: Kw) -> R {
    no_kw("args", kw)?;
    arity("args", a, 0, 0)?;
    Ok(Value::list(vm.args.iter().map(|s| Value::str(s)).collect()))
}

fn exit(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("exit", kw)?;
    arity("exit", args, 0, 1)?;
    let code = match args.first() {
        None => 0,
        // As a POSIX shell sees it: `exit(-1)` is 255, `exit(256)` is 0.
        Some(Value::Int(i)) => (*i & 255) as i32,
        Some(other) => return err("TypeError", format!("exit code must be an int, not {}", other.type_name())),
    };
    vm.exit_code = Some(code);
    Err(Value::None)
}

fn now(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    no_kw("now", kw)?;
    arity("now", args, 0, 0)?;
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    Ok(Value::Float(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bytecode::tables::builtin_params;
    use crate::bytecode::BUILTINS;

    /// The compiler's view of the built-ins (`BUILTINS` for the index that
    /// `LoadBuiltin` carries, `builtin_params` for the checks) and the VM's
    /// (`BUILTIN_FNS`) agree: same names in the same order, a signature for
    /// each, and a call with one argument more than the signature allows is
    /// refused by the native itself (a TypeError, not a misuse).
    #[test]
    fn builtins_agree_with_the_compiler() {
        assert_eq!(BUILTIN_FNS.len(), BUILTINS.len());
        for (i, n) in BUILTIN_FNS.iter().enumerate() {
            assert_eq!(n.name, BUILTINS[i], "built-in {i} is `{}` for the VM but `{}` for the compiler", n.name, BUILTINS[i]);
            let (params, variadic) = builtin_params(n.name).unwrap_or_else(|| panic!("`{}` has no signature", n.name));
            if variadic {
                continue;
            }
            let mut vm = Vm::new();
            let args = vec![Value::None; params.len() + 1];
            match (n.f)(&mut vm, &args, &[]) {
                Err(Value::Error(e)) => assert_eq!(&*e.kind, "TypeError", "`{}`: {}", n.name, e.message),
                other => panic!("`{}` accepted {} arguments: {other:?}", n.name, args.len()),
            }
        }
    }
}
