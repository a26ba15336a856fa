//! Printing values (language.md §2) and f-string format specs.

use super::value::*;
use crate::bytecode::fmtspec::FormatSpec;
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
fn general_form(x: f64, p: usize, keep_point: bool) -> String {
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
        match (r.strip_suffix('.'), keep_point) {
            (Some(_), true) => r + "0",
            (Some(int), false) => int.to_string(),
            (None, true) if !r.contains('.') => r + ".0",
            _ => r,
        }
    }
}

/// Apply an f-string format spec to a value.
pub fn format_value(v: &Value, spec: &str) -> Result<String, Value> {
    let s = FormatSpec::parse(spec).map_err(|m| Value::error("ValueError", m))?;
    let needs = |what: &str| {
        let ty = s.ty.unwrap_or(' ');
        Err(Value::error("ValueError", format!("format `{ty}` needs {what}, not {}", v.type_name())))
    };
    let float = match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    let body = match (s.ty, v) {
        (Some('d'), Value::Int(i)) => Body::int(*i, 10, "", false),
        (Some('x'), Value::Int(i)) => Body::int(*i, 16, if s.alt { "0x" } else { "" }, false),
        (Some('X'), Value::Int(i)) => Body::int(*i, 16, if s.alt { "0X" } else { "" }, true),
        (Some('o'), Value::Int(i)) => Body::int(*i, 8, if s.alt { "0o" } else { "" }, false),
        (Some('b'), Value::Int(i)) => Body::int(*i, 2, if s.alt { "0b" } else { "" }, false),
        (Some('d' | 'x' | 'X' | 'o' | 'b'), _) => return needs("an int"),
        (Some(t @ ('f' | 'F' | 'e' | 'E' | 'g' | 'G' | '%')), _) => match float {
            Some(x) => Body::float(x, t, s.precision),
            None => return needs("a number"),
        },
        (Some('s'), Value::Str(st)) => Body::text(st, s.precision),
        (Some('s'), _) => Body::text(&to_display(v), s.precision),
        (_, Value::Int(i)) if s.precision.is_none() => Body::int(*i, 10, "", false),
        (_, Value::Int(i)) => Body::float(*i as f64, 'f', s.precision),
        (_, Value::Float(x)) => Body::float(*x, ' ', s.precision),
        (_, Value::Str(st)) => Body::text(st, s.precision),
        _ => Body::text(&to_display(v), s.precision),
    };
    body.finish(&s, v.type_name())
}

/// A formatted value before sign, grouping and padding: numbers keep their sign apart
/// so zero padding and grouping go between the sign and the digits.
struct Body {
    numeric: bool,
    negative: bool,
    prefix: &'static str,
    digits: String,
    /// Characters after the integer digits (`.50`, `e+03`, `%`).
    tail: String,
    /// Grouping takes 4 digits for x o b, 3 otherwise.
    group: usize,
}

impl Body {
    fn text(s: &str, precision: Option<usize>) -> Body {
        let digits = match precision {
            Some(p) => s.chars().take(p).collect(),
            None => s.to_string(),
        };
        Body { numeric: false, negative: false, prefix: "", digits, tail: String::new(), group: 3 }
    }

    fn int(i: i64, radix: u32, prefix: &'static str, upper: bool) -> Body {
        let m = i.unsigned_abs();
        let digits = match radix {
            16 if upper => format!("{m:X}"),
            16 => format!("{m:x}"),
            8 => format!("{m:o}"),
            2 => format!("{m:b}"),
            _ => m.to_string(),
        };
        let group = if radix == 10 { 3 } else { 4 };
        Body { numeric: true, negative: i < 0, prefix, digits, tail: String::new(), group }
    }

    /// `ty` is `f F e E g G %`, or ' ' for no type (repr, or Python's general form
    /// that keeps a `.0` when there is a precision).
    fn float(x: f64, ty: char, precision: Option<usize>) -> Body {
        let negative = x.is_sign_negative() && !x.is_nan();
        let m = x.abs();
        let upper = matches!(ty, 'F' | 'E' | 'G');
        let text = if !m.is_finite() {
            let t = if m.is_nan() { "nan" } else { "inf" };
            let t = if upper { t.to_uppercase() } else { t.to_string() };
            if ty == '%' {
                t + "%"
            } else {
                t
            }
        } else {
            match ty {
                'f' | 'F' => format!("{:.*}", precision.unwrap_or(6), m),
                'e' | 'E' => exp_form(m, precision.unwrap_or(6)),
                'g' | 'G' => general_form(m, precision.unwrap_or(6), false),
                '%' => format!("{:.*}%", precision.unwrap_or(6), m * 100.0),
                _ => match precision {
                    Some(p) => general_form(m, p, true),
                    None => fmt_float(m),
                },
            }
        };
        let text = if upper { text.to_uppercase() } else { text };
        let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
        let (digits, tail) = text.split_at(split);
        Body { numeric: true, negative, prefix: "", digits: digits.to_string(), tail: tail.to_string(), group: 3 }
    }

    fn finish(self, s: &FormatSpec, type_name: &str) -> Result<String, Value> {
        if !self.numeric && (s.sign != '-' || s.grouping.is_some()) {
            let what = if s.sign != '-' { "a sign" } else { "grouping" };
            return Err(Value::error("ValueError", format!("format spec: {what} needs a number, not {type_name}")));
        }
        let sign = match (self.negative, s.sign) {
            (true, _) => "-",
            (false, '+') => "+",
            (false, ' ') => " ",
            _ => "",
        };
        let fixed = sign.len() + self.prefix.len() + self.tail.chars().count();
        // Zero padding widens the digits themselves, so grouping separates the zeros too.
        let want = if s.zero && self.numeric && !self.digits.is_empty() { s.width.saturating_sub(fixed) } else { 0 };
        let mut digits = self.digits;
        let grouped = loop {
            let g = match s.grouping {
                Some(sep) => group(&digits, sep, self.group),
                None => digits.clone(),
            };
            if g.chars().count() >= want {
                break g;
            }
            digits.insert(0, '0');
        };
        let body = format!("{sign}{}{grouped}{}", self.prefix, self.tail);
        let len = body.chars().count();
        if len >= s.width {
            return Ok(body);
        }
        let pad = s.width - len;
        let align = s.align.unwrap_or(if self.numeric { '>' } else { '<' });
        let fill = |n: usize| std::iter::repeat_n(s.fill, n).collect::<String>();
        Ok(match align {
            '<' => body + &fill(pad),
            '^' => fill(pad / 2) + &body + &fill(pad - pad / 2),
            _ => fill(pad) + &body,
        })
    }
}

/// `1234567` → `1,234,567` (or groups of `n` with `sep`).
fn group(digits: &str, sep: char, n: usize) -> String {
    let len = digits.len();
    let mut out = String::with_capacity(len + len / n);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (len - i).is_multiple_of(n) {
            out.push(sep);
        }
        out.push(c);
    }
    out
}
