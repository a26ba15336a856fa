//! Printing values (language.md §2) and f-string format specs.

use super::value::*;
use std::fmt::Write;

/// Shortest round-trip float text, always with a `.` or an exponent; exponent
/// form when |x| >= 1e16 or 0 < |x| < 1e-4.
pub fn fmt_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let a = x.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        return format!("{x:e}");
    }
    let s = format!("{x}");
    if s.contains('.') {
        s
    } else {
        s + ".0"
    }
}

/// `str(v)`: strings as their text at the top level.
pub fn to_display(v: &Value) -> String {
    match v {
        Value::Str(s) => s.to_string(),
        _ => {
            let mut out = String::new();
            repr(v, &mut out, &mut Default::default());
            out
        }
    }
}

/// `v` as it prints inside a container (strings quoted).
pub fn repr_of(v: &Value) -> String {
    let mut out = String::new();
    repr(v, &mut out, &mut Default::default());
    out
}

/// JSON-style string quoting used inside containers.
pub fn quote(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn ptr_of(v: &Value) -> Option<usize> {
    match v {
        Value::List(l) => Some(std::rc::Rc::as_ptr(l) as *const u8 as usize),
        Value::Map(m) => Some(std::rc::Rc::as_ptr(m) as *const u8 as usize),
        Value::Instance(i) => Some(std::rc::Rc::as_ptr(i) as *const u8 as usize),
        _ => None,
    }
}

/// Container representation; `seen` holds the containers being printed so a
/// self-containing value prints `[...]` / `{...}` at the repeat (a set, so
/// deeply nested data prints in linear time).
pub fn repr(v: &Value, out: &mut String, seen: &mut rustc_hash::FxHashSet<usize>) {
    repr_in(v, out, seen, &mut Plain);
}

/// How instances print: as `Name{fields}`, or (with the VM at hand) by
/// their class's `to_str` method.
pub trait Show {
    /// An instance's own text, if its class says (`to_str`).
    fn instance(&mut self, v: &Value) -> Option<String>;
    /// Whether `instance` runs program code (which could change a
    /// container while it prints: containers are then copied first).
    fn runs_code(&self) -> bool;
}

/// Printing without the VM: instances as their fields.
struct Plain;

impl Show for Plain {
    fn instance(&mut self, _: &Value) -> Option<String> {
        None
    }
    fn runs_code(&self) -> bool {
        false
    }
}

/// `repr` with instances shown by `hook`.
pub fn repr_in(v: &Value, out: &mut String, seen: &mut rustc_hash::FxHashSet<usize>, hook: &mut dyn Show) {
    if let Value::Instance(_) = v {
        if let Some(text) = hook.instance(v) {
            out.push_str(&text);
            return;
        }
    }
    let p = ptr_of(v);
    if let Some(p) = p {
        if !seen.insert(p) {
            out.push_str(match v {
                Value::List(_) => "[...]",
                _ => "{...}",
            });
            return;
        }
    }
    match v {
        Value::None => out.push_str("none"),
        Value::Undefined => out.push_str("undefined"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&fmt_float(*f)),
        Value::Str(s) => quote(s, out),
        Value::List(l) if hook.runs_code() => {
            let items: Vec<Value> = l.borrow().to_vec();
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_in(x, out, seen, hook);
            }
            out.push(']');
        }
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.borrow().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_in(x, out, seen, hook);
            }
            out.push(']');
        }
        Value::Map(m) if hook.runs_code() => {
            let items: Vec<(Value, Value)> = m.borrow().iter().map(|(k, x)| (k.to_value(), x.clone())).collect();
            out.push('{');
            for (i, (k, x)) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr_in(k, out, seen, hook);
                out.push_str(": ");
                repr_in(x, out, seen, hook);
            }
            out.push('}');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr(&k.to_value(), out, seen);
                out.push_str(": ");
                repr_in(x, out, seen, hook);
            }
            out.push('}');
        }
        Value::Range(r) => {
            if r.step == 1 {
                let _ = write!(out, "{}..{}", r.start, r.end);
            } else {
                let _ = write!(out, "range({}, {}, {})", r.start, r.end, r.step);
            }
        }
        Value::Func(c) => {
            let _ = write!(out, "<fn {}>", c.func.name);
        }
        Value::Native(n) => {
            let _ = write!(out, "<fn {}>", n.name);
        }
        Value::Bound(b) => {
            let name = match &b.method {
                Value::Func(c) => c.func.name.clone(),
                Value::Native(n) => n.name.to_string(),
                _ => "?".into(),
            };
            let _ = write!(out, "<fn {name}>");
        }
        Value::Class(c) => {
            let _ = write!(out, "<class {}>", c.name);
        }
        Value::Instance(i) => {
            let fields: Vec<(std::rc::Rc<str>, Value)> = i.fields.borrow().iter().map(|(k, x)| (k.clone(), x.clone())).collect();
            out.push_str(&i.class.name);
            out.push('{');
            for (n, (k, x)) in fields.iter().enumerate() {
                if n > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                repr_in(x, out, seen, hook);
            }
            out.push('}');
        }
        Value::Error(e) => {
            let _ = write!(out, "{}: {}", e.kind, e.message);
        }
        Value::Module(m) => {
            let _ = write!(out, "<module {}>", m.name);
        }
        Value::Cell(c) => {
            let inner = c.borrow().clone();
            repr_in(&inner, out, seen, hook)
        }
        Value::Iter(_) => out.push_str("<iterator>"),
        Value::Future(f) => out.push_str(if f.is_done() { "<future done>" } else { "<future pending>" }),
        Value::Matrix(m) => super::matrix::display(m, out),
        Value::Object(o) => o.display(out),
        Value::Actor(a) => {
            let _ = write!(out, "<actor {} {}>", a.class_name, a.id_str);
        }
        Value::Set(s) => {
            let s = s.borrow();
            if s.is_empty() {
                out.push_str("set()");
                return;
            }
            out.push_str("set([");
            for (i, k) in s.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                repr(&k.to_value(), out, seen);
            }
            out.push_str("])");
        }
    }
    if let Some(p) = p {
        seen.remove(&p);
    }
}

/// Parsed `[[fill]align][width][.precision][type]`.
struct Spec {
    fill: char,
    align: Option<char>,
    zero: bool,
    width: usize,
    precision: Option<usize>,
    ty: Option<char>,
}

fn parse_spec(spec: &str) -> Result<Spec, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut i = 0;
    let mut s = Spec { fill: ' ', align: None, zero: false, width: 0, precision: None, ty: None };
    if chars.len() >= 2 && matches!(chars[1], '<' | '>' | '^') {
        s.fill = chars[0];
        s.align = Some(chars[1]);
        i = 2;
    } else if !chars.is_empty() && matches!(chars[0], '<' | '>' | '^') {
        s.align = Some(chars[0]);
        i = 1;
    }
    // Python's `0` flag: `{n:06}` pads numbers with zeros after the sign.
    if s.align.is_none() && i < chars.len() && chars[i] == '0' && chars.get(i + 1).is_some_and(|c| c.is_ascii_digit()) {
        s.zero = true;
        i += 1;
    }
    let ws = i;
    while i < chars.len() && chars[i].is_ascii_digit() {
        i += 1;
    }
    if i > ws {
        s.width = chars[ws..i].iter().collect::<String>().parse().map_err(|_| "width too large")?;
    }
    if i < chars.len() && chars[i] == '.' {
        i += 1;
        let ps = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        if i == ps {
            return Err(format!("format spec `{spec}`: `.` needs a precision"));
        }
        s.precision = Some(chars[ps..i].iter().collect::<String>().parse().map_err(|_| "precision too large")?);
    }
    if i < chars.len() && matches!(chars[i], 'd' | 'f' | 'e' | 'x' | '%') {
        s.ty = Some(chars[i]);
        i += 1;
    }
    if i != chars.len() {
        return Err(format!("invalid format spec `{spec}`"));
    }
    if s.width > 10_000 || s.precision.unwrap_or(0) > 1000 {
        return Err(format!("format spec `{spec}` is too large"));
    }
    Ok(s)
}

fn exp_form(x: f64, prec: usize) -> String {
    // Python style: 1.234500e+03
    let s = format!("{:.*e}", prec, x);
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = if let Some(d) = e.strip_prefix('-') { ('-', d) } else { ('+', e) };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

/// Python's format for a float with a precision and no type: `p` significant
/// digits, exponent form when the exponent is < -4 or >= p - 1, trailing zeros trimmed but at
/// least one digit after the point (`{3.14159:.3}` is `3.14`, `{2.0:.3}` `2.0`).
fn general_form(x: f64, p: usize) -> String {
    if !x.is_finite() {
        return fmt_float(x);
    }
    let p = p.max(1);
    let e = if x == 0.0 {
        0
    } else {
        // The exponent after rounding to p significant digits.
        let r = format!("{:.*e}", p - 1, x);
        r.split_once('e').and_then(|(_, e)| e.parse::<i32>().ok()).unwrap_or(0)
    };
    if e < -4 || e >= p as i32 - 1 {
        let r = exp_form(x, p - 1);
        let (m, exp) = r.split_once('e').unwrap_or((&r, ""));
        let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
        format!("{m}e{exp}")
    } else {
        let r = format!("{:.*}", (p as i32 - 1 - e).max(0) as usize, x);
        let r = if r.contains('.') { r.trim_end_matches('0').to_string() } else { r };
        if r.ends_with('.') {
            r + "0"
        } else if r.contains('.') {
            r
        } else {
            r + ".0"
        }
    }
}

/// Apply an f-string format spec to a value.
pub fn format_value(v: &Value, spec: &str) -> Result<String, Value> {
    let s = parse_spec(spec).map_err(|m| Value::error("ValueError", m))?;
    let num = |v: &Value| -> Option<f64> {
        match v {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    };
    let body = match s.ty {
        Some('d') => match v {
            Value::Int(i) => i.to_string(),
            _ => {
                return Err(Value::error("ValueError", format!("format `d` needs an int, not {}", v.type_name())));
            }
        },
        Some('x') => match v {
            Value::Int(i) if *i >= 0 => format!("{i:x}"),
            Value::Int(i) => format!("-{:x}", i.unsigned_abs()),
            _ => return Err(Value::error("ValueError", format!("format `x` needs an int, not {}", v.type_name()))),
        },
        Some('f') => match num(v) {
            Some(x) => format!("{:.*}", s.precision.unwrap_or(6), x),
            None => return Err(Value::error("ValueError", format!("format `f` needs a number, not {}", v.type_name()))),
        },
        Some('e') => match num(v) {
            Some(x) => exp_form(x, s.precision.unwrap_or(6)),
            None => return Err(Value::error("ValueError", format!("format `e` needs a number, not {}", v.type_name()))),
        },
        Some('%') => match num(v) {
            Some(x) => format!("{:.*}%", s.precision.unwrap_or(6), x * 100.0),
            None => return Err(Value::error("ValueError", format!("format `%` needs a number, not {}", v.type_name()))),
        },
        _ => match (s.precision, v) {
            (Some(p), Value::Float(x)) => general_form(*x, p),
            (Some(p), Value::Int(i)) => format!("{:.*}", p, *i as f64),
            (Some(p), Value::Str(st)) => st.chars().take(p).collect(),
            _ => to_display(v),
        },
    };
    let len = body.chars().count();
    if len >= s.width {
        return Ok(body);
    }
    let pad = s.width - len;
    let is_num = matches!(v, Value::Int(_) | Value::Float(_));
    if s.zero && is_num {
        let (sign, digits) = match body.strip_prefix('-') {
            Some(d) => ("-", d),
            None => ("", body.as_str()),
        };
        return Ok(format!("{sign}{}{digits}", "0".repeat(pad)));
    }
    let align = s.align.unwrap_or(if is_num { '>' } else { '<' });
    let fill = |n: usize| std::iter::repeat_n(s.fill, n).collect::<String>();
    Ok(match align {
        '<' => body + &fill(pad),
        '^' => fill(pad / 2) + &body + &fill(pad - pad / 2),
        _ => fill(pad) + &body,
    })
}
