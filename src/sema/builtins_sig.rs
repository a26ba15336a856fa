//! Argument signatures of the built-in functions, for compile-time checks
//! (the table itself is `bytecode::tables::builtin_params`).

use super::Sig;

pub fn builtin_sig(name: &str) -> Option<Sig> {
    let (params, variadic) = crate::bytecode::tables::builtin_params(name)?;
    Some(Sig { name: name.to_string(), params: params.iter().map(|(n, d)| (n.to_string(), *d)).collect(), variadic })
}
