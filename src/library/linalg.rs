//! `linalg` (language.md §9) on faer. Decompositions return lists, so they
//! destructure: `let [q, r] = la.qr(m)`. `eig` is for symmetric matrices
//! (eigenvalues ascending, vectors as columns).

use crate::vm::args::{arity, kwarg};
use crate::vm::matrix::{shape, value, Mat};
use crate::vm::native::LibraryModule;
use crate::vm::value::*;
use crate::vm::Vm;
use faer::linalg::solvers::{DenseSolveCore, Solve};
use std::rc::Rc;

type Kw<'a> = &'a [(Rc<str>, Value)];
type R = Result<Value, Value>;

fn mat<'a>(name: &str, v: &'a Value) -> Result<&'a Mat, Value> {
    match v {
        Value::Matrix(m) => Ok(m),
        other => err("TypeError", format!("{name}() needs a matrix, not {}", other.type_name())),
    }
}

pub(super) fn one(name: &str, args: &[Value], kw: Kw) -> Result<Mat, Value> {
    kwarg(name, kw, &[])?;
    arity(name, args, 1, 1)?;
    Ok(mat(name, &args[0])?.clone())
}

fn square(name: &str, m: &Mat) -> Result<(), Value> {
    if m.nrows() != m.ncols() {
        return err("ShapeError", format!("{name}() needs a square matrix, got {}", shape(m)));
    }
    Ok(())
}

fn finite(name: &str, m: &Mat) -> Result<(), Value> {
    for j in 0..m.ncols() {
        for i in 0..m.nrows() {
            if !m[(i, j)].is_finite() {
                return err("ValueError", format!("{name}() of a matrix with nan or inf"));
            }
        }
    }
    Ok(())
}

/// Condition check for LU results: a (numerically) singular matrix is an
/// error rather than a matrix of infinities.
fn singular(name: &str, m: &Mat) -> Result<(), Value> {
    let lu = m.partial_piv_lu();
    let u = lu.U();
    let scale = (0..m.nrows()).map(|i| u[(i, i)].abs()).fold(0.0, f64::max);
    if (0..m.nrows()).any(|i| u[(i, i)].abs() <= scale * 1e-14 * m.nrows() as f64) || scale == 0.0 {
        return err("ValueError", format!("{name}(): the matrix is singular"));
    }
    Ok(())
}

fn inv(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("inv", args, kw)?;
    square("inv", &m)?;
    finite("inv", &m)?;
    if m.nrows() == 0 {
        return Ok(value(m));
    }
    singular("inv", &m)?;
    Ok(value(m.partial_piv_lu().inverse()))
}

fn det(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("det", args, kw)?;
    square("det", &m)?;
    if m.nrows() == 0 {
        return Ok(Value::Float(1.0));
    }
    // `+ 0.0` turns a -0.0 from a singular matrix into 0.0.
    Ok(Value::Float(m.determinant() + 0.0))
}

fn solve(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("solve", kw, &[])?;
    arity("solve", args, 2, 2)?;
    let (a, b) = (mat("solve", &args[0])?, mat("solve", &args[1])?);
    square("solve", a)?;
    if a.nrows() != b.nrows() {
        return err("ShapeError", format!("solve(): shapes {} and {} do not fit", shape(a), shape(b)));
    }
    finite("solve", a)?;
    if a.nrows() == 0 {
        return Ok(value(b.clone()));
    }
    singular("solve", a)?;
    Ok(value(a.partial_piv_lu().solve(b)))
}

fn norm(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("norm", args, kw)?;
    Ok(Value::Float(m.norm_l2()))
}

fn diag_row(d: faer::diag::DiagRef<'_, f64>) -> Value {
    let c = d.column_vector();
    value(Mat::from_fn(1, c.nrows(), |_, j| c[j]))
}

/// `svd(m)` → `[u, s, v]` (thin: `m == u @ diag(s) @ v.T`, `s` a 1×k row,
/// descending).
fn svd(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("svd", args, kw)?;
    finite("svd", &m)?;
    let s = m.thin_svd().map_err(|_| Value::error("ValueError", "svd() did not converge"))?;
    Ok(Value::list(vec![value(s.U().to_owned()), diag_row(s.S()), value(s.V().to_owned())]))
}

/// `qr(m)` → `[q, r]` (thin).
fn qr(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("qr", args, kw)?;
    finite("qr", &m)?;
    let q = m.qr();
    Ok(Value::list(vec![value(q.compute_thin_Q()), value(q.thin_R().to_owned())]))
}

/// `cholesky(m)` → lower-triangular `l` with `m == l @ l.T`.
fn cholesky(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("cholesky", args, kw)?;
    square("cholesky", &m)?;
    finite("cholesky", &m)?;
    let l = m.llt(faer::Side::Lower).map_err(|_| Value::error("ValueError", "cholesky(): the matrix is not positive definite"))?;
    Ok(value(l.L().to_owned()))
}

/// `eig(m)` for symmetric `m` → `[values (1×n, ascending), vectors (columns)]`.
fn eig(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("eig", args, kw)?;
    square("eig", &m)?;
    finite("eig", &m)?;
    let n = m.nrows();
    let tol = 1e-10 * (1.0 + m.norm_l2());
    if (0..n).any(|i| (0..i).any(|j| (m[(i, j)] - m[(j, i)]).abs() > tol)) {
        return err("ValueError", "eig() needs a symmetric matrix");
    }
    let e = m.self_adjoint_eigen(faer::Side::Lower).map_err(|_| Value::error("ValueError", "eig() did not converge"))?;
    Ok(Value::list(vec![diag_row(e.S()), value(e.U().to_owned())]))
}

module_fns! { LINALG:
    "inv" => inv,
    "det" => det,
    "solve" => solve,
    "norm" => norm,
    "svd" => svd,
    "qr" => qr,
    "cholesky" => cholesky,
    "eig" => eig,
}

pub static MODULE: LibraryModule = LibraryModule { name: "linalg", functions: LINALG, constants: &[], revive: None };
