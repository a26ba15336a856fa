//! `random`: a seeded splitmix64 generator (per VM, so per actor worker).

use crate::vm::args::{arity, kwarg};
use crate::vm::native::LibraryModule;
use crate::vm::value::*;
use crate::vm::Vm;

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
        let items = crate::vm::seq::to_vec(&a[0])?;
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

pub static MODULE: LibraryModule = LibraryModule { name: "random", functions: RANDOM, constants: &[], revive: None };

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
