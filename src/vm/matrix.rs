//! Matrices (language.md §2, §9): dense float64, immutable, backed by faer.
//! A `Value::Matrix` holds an `Arc`, so a matrix crosses actors without its
//! data being copied (it can never change). Elementwise operators broadcast a
//! 1×n or n×1 operand (numpy's rule for two dimensions); shape mismatches are
//! `ShapeError`s naming both shapes. Division by zero follows IEEE 754 here
//! (`inf`, `nan`), as numpy does, since one zero should not sink a batch.

use super::args::{arity, kwarg};
use super::format::fmt_float;
use super::value::*;
use super::Vm;
use crate::bytecode::plural;
use std::rc::Rc;
use std::sync::Arc;

pub type Mat = faer::Mat<f64>;
type Kw<'a> = &'a [(Rc<str>, Value)];

/// Largest number of elements a matrix may have (16 GiB of floats).
const MAX_ELEMS: usize = 1 << 31;

pub fn value(m: Mat) -> Value {
    Value::Matrix(Arc::new(m))
}

pub fn shape(m: &Mat) -> String {
    format!("[{}, {}]", m.nrows(), m.ncols())
}

pub(super) fn check_size(r: i64, c: i64) -> Result<(usize, usize), Value> {
    if r < 0 || c < 0 {
        return err("ValueError", format!("matrix dimensions cannot be negative ({r}×{c})"));
    }
    if (r as u128) * (c as u128) > MAX_ELEMS as u128 {
        return err("ValueError", format!("matrix of {r}×{c} is too large"));
    }
    Ok((r as usize, c as usize))
}

pub(super) fn num(v: &Value, what: &str) -> Result<f64, Value> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        other => err("TypeError", format!("{what} must be a number, not {}", other.type_name())),
    }
}

fn count(v: &Value, what: &str) -> Result<i64, Value> {
    match v {
        Value::Int(i) => Ok(*i),
        other => err("TypeError", format!("{what} must be an int, not {}", other.type_name())),
    }
}

/// `matrix(rows)`: from a list of equally long lists of numbers (or a
/// matrix, returned as is).
pub fn from_value(v: &Value) -> Result<Mat, Value> {
    let Value::List(rows) = v else {
        return err("TypeError", format!("matrix() needs a list of rows, not {}", v.type_name()));
    };
    let rows = rows.borrow();
    let mut data: Vec<Vec<f64>> = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let Value::List(r) = r else {
            return err("TypeError", format!("matrix() row {i} is {}, not a list", r.type_name()));
        };
        let r = r.borrow();
        let mut row = Vec::with_capacity(r.len());
        for x in r.iter() {
            row.push(num(x, "a matrix element")?);
        }
        if let Some(first) = data.first() {
            if first.len() != row.len() {
                return err("ShapeError", format!("matrix() rows differ in length: row 0 has {}, row {i} has {}", first.len(), row.len()));
            }
        }
        data.push(row);
    }
    let c = data.first().map_or(0, Vec::len);
    check_size(data.len() as i64, c as i64)?;
    Ok(Mat::from_fn(data.len(), c, |i, j| data[i][j]))
}

/// A new matrix of `f` applied to each element (`exp()`, `nn.relu`, ...).
pub fn map_elems(m: &Mat, f: impl Fn(f64) -> f64) -> Value {
    value(Mat::from_fn(m.nrows(), m.ncols(), |i, j| f(m[(i, j)])))
}

pub fn matrix(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("matrix", kw, &[])?;
    arity("matrix", args, 1, 1)?;
    if let Value::Matrix(m) = &args[0] {
        return Ok(Value::Matrix(m.clone()));
    }
    Ok(value(from_value(&args[0])?))
}

fn dims(name: &str, args: &[Value], kw: Kw) -> Result<(usize, usize), Value> {
    kwarg(name, kw, &[])?;
    arity(name, args, 2, 2)?;
    check_size(count(&args[0], "rows")?, count(&args[1], "columns")?)
}

pub fn zeros(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    let (r, c) = dims("zeros", args, kw)?;
    Ok(value(Mat::zeros(r, c)))
}

pub fn ones(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    let (r, c) = dims("ones", args, kw)?;
    Ok(value(Mat::from_fn(r, c, |_, _| 1.0)))
}

pub fn eye(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("eye", kw, &[])?;
    arity("eye", args, 1, 1)?;
    let (n, _) = check_size(count(&args[0], "size")?, count(&args[0], "size")?)?;
    Ok(value(Mat::identity(n, n)))
}

/// `rand(r, c, seed)`: uniform in [0, 1), the same for the same seed.
pub fn rand(_: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("rand", kw, &[])?;
    arity("rand", args, 2, 3)?;
    let (r, c) = check_size(count(&args[0], "rows")?, count(&args[1], "columns")?)?;
    let mut state = match args.get(2) {
        Some(v) => count(v, "seed")? as u64,
        None => 0x853C_49E6_748F_EA9B,
    };
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    // Row by row, so a seed gives the same numbers whatever the layout.
    let mut data = vec![0.0; r * c];
    data.iter_mut().for_each(|x| *x = next());
    Ok(value(Mat::from_fn(r, c, |i, j| data[i * c + j])))
}

/// `a OP b` where at least one side is a matrix; `None` when neither is.
/// (Out of line: it sits on the slow path of the interpreter's arithmetic.)
#[inline(never)]
pub fn arith(op: char, a: &Value, b: &Value) -> Option<Result<Value, Value>> {
    let f = |x: f64, y: f64| match op {
        '+' => x + y,
        '-' => x - y,
        '*' => x * y,
        _ => x / y,
    };
    Some(match (a, b) {
        (Value::Matrix(x), Value::Matrix(y)) => broadcast(op, x, y, f),
        (Value::Matrix(x), Value::Int(_) | Value::Float(_)) => {
            let y = num(b, "").unwrap_or(0.0);
            Ok(value(Mat::from_fn(x.nrows(), x.ncols(), |i, j| f(x[(i, j)], y))))
        }
        (Value::Int(_) | Value::Float(_), Value::Matrix(y)) => {
            let x = num(a, "").unwrap_or(0.0);
            Ok(value(Mat::from_fn(y.nrows(), y.ncols(), |i, j| f(x, y[(i, j)]))))
        }
        (Value::Matrix(_), _) | (_, Value::Matrix(_)) => {
            err("TypeError", format!("unsupported operand types for {op}: {} and {}", a.type_name(), b.type_name()))
        }
        _ => return None,
    })
}

fn broadcast(op: char, x: &Mat, y: &Mat, f: impl Fn(f64, f64) -> f64) -> Result<Value, Value> {
    let dim = |p: usize, q: usize| {
        if p == q || q == 1 {
            Some(p)
        } else if p == 1 {
            Some(q)
        } else {
            None
        }
    };
    let (Some(r), Some(c)) = (dim(x.nrows(), y.nrows()), dim(x.ncols(), y.ncols())) else {
        return err("ShapeError", format!("shapes {} and {} do not fit for {op}", shape(x), shape(y)));
    };
    let at = |m: &Mat, i: usize, j: usize| m[(if m.nrows() == 1 { 0 } else { i }, if m.ncols() == 1 { 0 } else { j })];
    if x.nrows() == y.nrows() && x.ncols() == y.ncols() {
        return Ok(value(Mat::from_fn(r, c, |i, j| f(x[(i, j)], y[(i, j)]))));
    }
    Ok(value(Mat::from_fn(r, c, |i, j| f(at(x, i, j), at(y, i, j)))))
}

/// `a @ b`.
#[inline(never)]
pub fn matmul(a: &Value, b: &Value) -> Result<Value, Value> {
    let (Value::Matrix(x), Value::Matrix(y)) = (a, b) else {
        return err("TypeError", format!("unsupported operand types for @: {} and {}", a.type_name(), b.type_name()));
    };
    if x.ncols() != y.nrows() {
        return err(
            "ShapeError",
            format!(
                "shapes {} and {} do not fit for @ ({} against {})",
                shape(x),
                shape(y),
                plural(x.ncols(), "column"),
                plural(y.nrows(), "row")
            ),
        );
    }
    let mut out = Mat::zeros(x.nrows(), y.ncols());
    faer::linalg::matmul::matmul(out.as_mut(), faer::Accum::Replace, x.as_ref(), y.as_ref(), 1.0, faer::get_global_parallelism());
    Ok(value(out))
}

pub fn neg(m: &Mat) -> Value {
    value(Mat::from_fn(m.nrows(), m.ncols(), |i, j| -m[(i, j)]))
}

/// `==`: same shape and the same numbers (NaN is not equal to itself).
pub fn equal(x: &Mat, y: &Mat) -> bool {
    x.nrows() == y.nrows() && x.ncols() == y.ncols() && (0..x.nrows()).all(|i| (0..x.ncols()).all(|j| x[(i, j)] == y[(i, j)]))
}

/// `matrix([[1.0, 2.0], [3.0, 4.0]])`.
pub fn display(m: &Mat, out: &mut String) {
    out.push_str("matrix([");
    for i in 0..m.nrows() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push('[');
        for j in 0..m.ncols() {
            if j > 0 {
                out.push_str(", ");
            }
            out.push_str(&fmt_float(m[(i, j)]));
        }
        out.push(']');
    }
    out.push_str("])");
}

fn index(n: usize, i: &Value, what: &str) -> Result<usize, Value> {
    let i = count(i, what)?;
    let k = if i < 0 { i + n as i64 } else { i };
    if k < 0 || k >= n as i64 {
        return err("IndexError", format!("{what} {i} out of range for {n}"));
    }
    Ok(k as usize)
}

/// `m[i, j]`.
pub fn get2(m: &Mat, i: &Value, j: &Value) -> Result<Value, Value> {
    Ok(Value::Float(m[(index(m.nrows(), i, "row")?, index(m.ncols(), j, "column")?)]))
}

pub fn row(m: &Mat, i: &Value) -> Result<Value, Value> {
    let i = index(m.nrows(), i, "row")?;
    Ok(value(Mat::from_fn(1, m.ncols(), |_, j| m[(i, j)])))
}

pub fn col(m: &Mat, j: &Value) -> Result<Value, Value> {
    let j = index(m.ncols(), j, "column")?;
    Ok(value(Mat::from_fn(m.nrows(), 1, |i, _| m[(i, j)])))
}

/// Python-style slice bounds (`none` is open), clamped.
fn bounds(n: usize, lo: &Value, hi: &Value) -> Result<(usize, usize), Value> {
    let n = n as i64;
    let at = |v: &Value, dflt: i64| -> Result<i64, Value> {
        Ok(match v {
            Value::None => dflt,
            other => {
                let i = count(other, "slice bound")?;
                (if i < 0 { i + n } else { i }).clamp(0, n)
            }
        })
    };
    let (a, b) = (at(lo, 0)?, at(hi, n)?);
    Ok((a as usize, b.max(a) as usize))
}

/// `m[r0:r1]` (rows) or `m[r0:r1, c0:c1]`.
pub fn slice(m: &Mat, rows: (&Value, &Value), cols: Option<(&Value, &Value)>) -> Result<Value, Value> {
    let (r0, r1) = bounds(m.nrows(), rows.0, rows.1)?;
    let (c0, c1) = match cols {
        Some((a, b)) => bounds(m.ncols(), a, b)?,
        None => (0, m.ncols()),
    };
    Ok(value(Mat::from_fn(r1 - r0, c1 - c0, |i, j| m[(r0 + i, c0 + j)])))
}

pub fn field(m: &Mat, name: &str) -> Option<Value> {
    Some(match name {
        "rows" => Value::Int(m.nrows() as i64),
        "cols" => Value::Int(m.ncols() as i64),
        "shape" => Value::list(vec![Value::Int(m.nrows() as i64), Value::Int(m.ncols() as i64)]),
        "T" => value(m.transpose().to_owned()),
        _ => return None,
    })
}

fn all(m: &Mat) -> impl Iterator<Item = f64> + '_ {
    (0..m.nrows()).flat_map(move |i| (0..m.ncols()).map(move |j| m[(i, j)]))
}

/// A matrix inside a `Packet`: in memory the shared data itself (messages
/// between actors do not copy it); serialised as rows, columns and the
/// numbers row by row as raw bytes.
#[derive(Clone, Debug)]
pub struct Shared(pub Arc<Mat>);

impl PartialEq for Shared {
    fn eq(&self, o: &Self) -> bool {
        Arc::ptr_eq(&self.0, &o.0) || equal(&self.0, &o.0)
    }
}

impl serde::Serialize for Shared {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The numbers as raw little-endian bytes: one copy, no per-number
        // encoding (matrices are what cluster traffic is made of).
        let m = &self.0;
        let mut raw = Vec::with_capacity(m.nrows() * m.ncols() * 8);
        for x in all(m) {
            raw.extend_from_slice(&x.to_le_bytes());
        }
        (m.nrows(), m.ncols(), serde_bytes::ByteBuf::from(raw)).serialize(s)
    }
}

/// A matrix's numbers as stored: raw bytes, or (records written before)
/// a sequence of numbers.
struct Numbers(Vec<f64>);

impl<'de> serde::Deserialize<'de> for Numbers {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Numbers;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a matrix's numbers")
            }
            fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<Numbers, E> {
                if !b.len().is_multiple_of(8) {
                    return Err(E::custom(format!("{} bytes are not a whole number of 8-byte numbers", b.len())));
                }
                Ok(Numbers(b.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap_or([0; 8]))).collect()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Numbers, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0).min(1 << 20));
                while let Some(x) = a.next_element::<f64>()? {
                    out.push(x);
                }
                Ok(Numbers(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> serde::Deserialize<'de> for Shared {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (r, c, Numbers(data)): (usize, usize, Numbers) = serde::Deserialize::deserialize(d)?;
        if r.checked_mul(c) != Some(data.len()) {
            return Err(serde::de::Error::custom(format!("a {r}×{c} matrix needs {} numbers, got {}", r.saturating_mul(c), data.len())));
        }
        Ok(Shared(Arc::new(Mat::from_fn(r, c, |i, j| data[i * c + j]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_travel_as_raw_bytes_and_old_records_still_read() {
        let m = Shared(Arc::new(Mat::from_fn(2, 3, |i, j| (i * 3 + j) as f64 + 0.5)));
        let bytes = rmp_serde::to_vec(&m).expect("encodes");
        // rows, cols, then a bin of 6 × 8 bytes (not 6 encoded floats).
        assert!(bytes.len() < 6 * 8 + 8, "{} bytes", bytes.len());
        let back: Shared = rmp_serde::from_slice(&bytes).expect("decodes");
        assert_eq!(back, m);
        let old = rmp_serde::to_vec(&(2usize, 3usize, vec![0.5, 1.5, 2.5, 3.5, 4.5, 5.5])).expect("encodes");
        assert_eq!(rmp_serde::from_slice::<Shared>(&old).expect("decodes the old form"), m);
        let cut = rmp_serde::to_vec(&(2usize, 3usize, serde_bytes::ByteBuf::from(vec![0u8; 13]))).expect("encodes");
        assert!(rmp_serde::from_slice::<Shared>(&cut).is_err());
    }
}
