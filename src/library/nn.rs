//! `nn`: the activation functions of small neural networks, row-wise.

use super::linalg::one;
use crate::vm::matrix::{map_elems, value, Mat};
use crate::vm::native::LibraryModule;
use crate::vm::value::*;
use crate::vm::Vm;
use std::rc::Rc;

type R = Result<Value, Value>;
type Kw<'a> = &'a [(Rc<str>, Value)];

fn relu(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    // NaN stays NaN (like numpy's maximum).
    Ok(map_elems(&one("relu", args, kw)?, |x| if x > 0.0 || x.is_nan() { x } else { 0.0 }))
}

fn sigmoid(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    Ok(map_elems(&one("sigmoid", args, kw)?, |x| if x >= 0.0 { 1.0 / (1.0 + (-x).exp()) } else { x.exp() / (1.0 + x.exp()) }))
}

fn tanh(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    Ok(map_elems(&one("tanh", args, kw)?, f64::tanh))
}

/// The exact GELU, x·Φ(x) = x/2·(1 + erf(x/√2)) (not the tanh approximation).
fn gelu(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    Ok(map_elems(&one("gelu", args, kw)?, |x| 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))))
}

/// Row-wise softmax, shifted by each row's max so large logits do not overflow.
fn softmax(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("softmax", args, kw)?;
    let mut out = Mat::zeros(m.nrows(), m.ncols());
    for i in 0..m.nrows() {
        let hi = (0..m.ncols()).map(|j| m[(i, j)]).fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = (0..m.ncols()).map(|j| (m[(i, j)] - hi).exp()).sum();
        for j in 0..m.ncols() {
            out[(i, j)] = (m[(i, j)] - hi).exp() / total;
        }
    }
    Ok(value(out))
}

/// Row-wise argmax: a list with one column index per row (first of ties).
fn argmax(_: &mut Vm, args: &[Value], kw: Kw) -> R {
    let m = one("argmax", args, kw)?;
    if m.ncols() == 0 {
        return err("ValueError", "argmax() of a matrix with no columns");
    }
    let mut out = Vec::with_capacity(m.nrows());
    for i in 0..m.nrows() {
        let mut best = 0;
        for j in 1..m.ncols() {
            if m[(i, j)] > m[(i, best)] || (m[(i, best)].is_nan() && !m[(i, j)].is_nan()) {
                best = j;
            }
        }
        out.push(Value::Int(best as i64));
    }
    Ok(Value::list(out))
}

module_fns! { NN:
    "relu" => relu,
    "sigmoid" => sigmoid,
    "tanh" => tanh,
    "gelu" => gelu,
    "softmax" => softmax,
    "argmax" => argmax,
}

pub static MODULE: LibraryModule = LibraryModule { name: "nn", functions: NN, constants: &[], revive: None };
