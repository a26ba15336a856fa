//! `math`: elementary functions and constants.

use crate::vm::args::{arity, kwarg, num};
use crate::vm::format::fmt_float;
use crate::vm::native::LibraryModule;
use crate::vm::value::*;
use std::rc::Rc;

type R = Result<Value, Value>;
type Kw<'a> = &'a [(Rc<str>, Value)];

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

pub static MODULE: LibraryModule = LibraryModule {
    name: "math",
    functions: MATH,
    constants: &[("pi", std::f64::consts::PI), ("e", std::f64::consts::E), ("inf", f64::INFINITY), ("nan", f64::NAN)],
    revive: None,
};
