//! Matrix methods (language.md §9): rows and columns, reductions (whole or along
//! an axis), elementwise functions, reshaping, and the `vstack`/`hstack` built-ins.

use super::args::{arity, kwarg};
use super::matrix::{check_size, col, map_elems, num, row, shape, value, Mat};
use super::value::*;
use super::Vm;
use crate::bytecode::plural;
use std::rc::Rc;
use std::sync::Arc;

type Kw<'a> = &'a [(Rc<str>, Value)];

pub const METHODS: &[&str] =
    &["row", "col", "sum", "mean", "max", "min", "map", "len", "exp", "log", "tanh", "sqrt", "abs", "pow", "reshape", "to_list"];

pub fn method(vm: &mut Vm, m: &Arc<Mat>, name: &str, args: &[Value], kw: Kw) -> Result<Value, Value> {
    if matches!(name, "sum" | "mean" | "max" | "min") {
        let axis = kwarg(name, kw, &["axis"])?[0];
        arity(name, args, 0, 0)?;
        return reduce(m, name, axis);
    }
    kwarg(name, kw, &[])?;
    let unary = |f: fn(f64) -> f64| -> Result<Value, Value> {
        arity(name, args, 0, 0)?;
        Ok(map_elems(m, f))
    };
    match name {
        "row" | "col" => {
            arity(name, args, 1, 1)?;
            if name == "row" {
                row(m, &args[0])
            } else {
                col(m, &args[0])
            }
        }
        // Outside their domain these give NaN (and log(0) -inf), as numpy does:
        // one bad element should not sink a batch.
        "exp" => unary(f64::exp),
        "log" => unary(f64::ln),
        "tanh" => unary(f64::tanh),
        "sqrt" => unary(f64::sqrt),
        "abs" => unary(f64::abs),
        "pow" => {
            arity(name, args, 1, 1)?;
            let p = num(&args[0], "pow()'s exponent")?;
            Ok(if p.fract() == 0.0 && p.abs() <= 64.0 { map_elems(m, |x| x.powi(p as i32)) } else { map_elems(m, |x| x.powf(p)) })
        }
        "reshape" => {
            arity(name, args, 2, 2)?;
            reshape(m, &args[0], &args[1])
        }
        "to_list" => {
            arity(name, args, 0, 0)?;
            let rows = (0..m.nrows()).map(|i| Value::list((0..m.ncols()).map(|j| Value::Float(m[(i, j)])).collect()));
            Ok(Value::list(rows.collect()))
        }
        "map" => {
            arity(name, args, 1, 1)?;
            let f = args[0].clone();
            let mut out = Mat::zeros(m.nrows(), m.ncols());
            for i in 0..m.nrows() {
                for j in 0..m.ncols() {
                    let v = vm.call_value(&f, &[Value::Float(m[(i, j)])])?;
                    out[(i, j)] = num(&v, "map()'s function result")?;
                }
            }
            Ok(value(out))
        }
        _ => {
            let hint = crate::suggest::hint(name, METHODS.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
            err("TypeError", format!("matrix has no method `{name}`{hint}"))
        }
    }
}

/// `sum mean max min`: of every element (a float), or along `axis: 0` (down the
/// columns: a 1×n matrix) or `axis: 1` (across the rows: n×1), as numpy's keepdims.
fn reduce(m: &Mat, name: &str, axis: Option<&Value>) -> Result<Value, Value> {
    let (r, c) = (m.nrows(), m.ncols());
    let fold = |len: usize, at: &dyn Fn(usize) -> f64| -> Result<f64, Value> {
        if len == 0 && name != "sum" {
            return err("ValueError", format!("{name}() of an empty matrix"));
        }
        let xs = (0..len).map(at);
        Ok(match name {
            // fold from +0.0: `Iterator::sum` starts at -0.0, and an empty sum prints as 0.0.
            "sum" => xs.fold(0.0, |a, b| a + b),
            "mean" => xs.fold(0.0, |a, b| a + b) / len as f64,
            _ => {
                // NaN propagates (a NaN anywhere is the answer), as numpy's max does.
                let want_max = name == "max";
                xs.reduce(|a, b| {
                    if a.is_nan() || b.is_nan() {
                        f64::NAN
                    } else if want_max == (b > a) {
                        b
                    } else {
                        a
                    }
                })
                .unwrap_or(f64::NAN)
            }
        })
    };
    match axis {
        None | Some(Value::None) => Ok(Value::Float(fold(r * c, &|k| m[(k / c.max(1), k % c.max(1))])?)),
        Some(Value::Int(0)) => {
            let mut out = Mat::zeros(1, c);
            for j in 0..c {
                out[(0, j)] = fold(r, &|i| m[(i, j)])?;
            }
            Ok(value(out))
        }
        Some(Value::Int(1)) => {
            let mut out = Mat::zeros(r, 1);
            for i in 0..r {
                out[(i, 0)] = fold(c, &|j| m[(i, j)])?;
            }
            Ok(value(out))
        }
        Some(Value::Int(a)) => err("ValueError", format!("{name}(axis: {a}): a matrix has axes 0 (rows) and 1 (columns)")),
        Some(other) => err("TypeError", format!("{name}()'s axis must be 0 or 1, not {}", other.type_name())),
    }
}

/// `reshape(r, c)`: the same numbers row by row; one of `r`, `c` may be -1 (worked out).
fn reshape(m: &Mat, r: &Value, c: &Value) -> Result<Value, Value> {
    let n = m.nrows() * m.ncols();
    let dim = |v: &Value, what: &str| match v {
        Value::Int(i) if *i >= -1 => Ok(*i),
        Value::Int(i) => err("ValueError", format!("reshape() {what} cannot be {i}")),
        other => err("TypeError", format!("reshape() {what} must be an int, not {}", other.type_name())),
    };
    let (r, c) = (dim(r, "rows")?, dim(c, "columns")?);
    let infer = |known: i64| if known > 0 && n as i64 % known == 0 { Some(n as i64 / known) } else { None };
    let (nr, nc) = match (r, c) {
        (-1, -1) => return err("ValueError", "reshape() can work out only one of rows and columns (-1)"),
        (-1, c) => (infer(c), Some(c)),
        (r, -1) => (Some(r), infer(r)),
        (r, c) => (Some(r), Some(c)),
    };
    match (nr, nc) {
        (Some(nr), Some(nc)) if nr.checked_mul(nc) == Some(n as i64) => {
            let (nr, nc) = (nr as usize, nc as usize);
            Ok(value(Mat::from_fn(nr, nc, |i, j| {
                let k = i * nc + j;
                m[(k / m.ncols(), k % m.ncols())]
            })))
        }
        _ => err("ShapeError", format!("cannot reshape a {} matrix ({}) into {r}×{c}", shape(m), plural(n, "number"))),
    }
}

/// The matrices of `vstack`/`hstack`'s one argument, a non-empty list.
fn parts(name: &str, args: &[Value], kw: Kw) -> Result<Vec<Arc<Mat>>, Value> {
    kwarg(name, kw, &[])?;
    arity(name, args, 1, 1)?;
    let Value::List(l) = &args[0] else {
        return err("TypeError", format!("{name}() takes a list of matrices, not {}", args[0].type_name()));
    };
    let items = l.borrow();
    if items.is_empty() {
        return err("ValueError", format!("{name}() of an empty list"));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v {
            Value::Matrix(m) => Ok(m.clone()),
            other => err("TypeError", format!("{name}() item {i} is {}, not a matrix", other.type_name())),
        })
        .collect()
}

/// `vstack([a, b])`: rows of `a` then rows of `b` (same column counts).
pub fn vstack(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    let ms = parts("vstack", args, kw)?;
    let c = ms[0].ncols();
    if let Some((i, m)) = ms.iter().enumerate().find(|(_, m)| m.ncols() != c) {
        return err("ShapeError", format!("vstack() item {i} is {}, but item 0 has {}", shape(m), plural(c, "column")));
    }
    let rows = ms.iter().map(|m| m.nrows() as i64).sum();
    let mut out = Mat::zeros(check_size(rows, c as i64)?.0, c);
    let mut at = 0;
    for m in &ms {
        for i in 0..m.nrows() {
            for j in 0..c {
                out[(at + i, j)] = m[(i, j)];
            }
        }
        at += m.nrows();
    }
    Ok(value(out))
}

/// `hstack([a, b])`: columns of `a` then columns of `b` (same row counts).
pub fn hstack(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    let ms = parts("hstack", args, kw)?;
    let r = ms[0].nrows();
    if let Some((i, m)) = ms.iter().enumerate().find(|(_, m)| m.nrows() != r) {
        return err("ShapeError", format!("hstack() item {i} is {}, but item 0 has {}", shape(m), plural(r, "row")));
    }
    let cols = ms.iter().map(|m| m.ncols() as i64).sum();
    let mut out = Mat::zeros(r, check_size(r as i64, cols)?.1);
    let mut at = 0;
    for m in &ms {
        for j in 0..m.ncols() {
            for i in 0..r {
                out[(i, at + j)] = m[(i, j)];
            }
        }
        at += m.ncols();
    }
    Ok(value(out))
}
