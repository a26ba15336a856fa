//! Argument signatures of the built-in functions, for compile-time checks.

use super::Sig;

pub fn builtin_sig(name: &str) -> Option<Sig> {
    let (params, variadic): (&[(&str, bool)], bool) = match name {
        "print" => (&[], true),
        "input" => (&[("prompt", true)], false),
        "len" | "type" | "enumerate" | "reversed" | "sqrt" | "floor" | "ceil" | "abs" => (&[("x", false)], false),
        "str" | "bool" => (&[("x", true)], false),
        "int" | "float" => (&[("x", true)], false),
        "range" => (&[("a", false), ("b", true), ("step", true)], false),
        "zip" => (&[("a", false), ("b", false)], false),
        "min" | "max" => (&[("key", true)], true),
        "sum" => (&[], true),
        "round" => (&[("x", false), ("n", true)], false),
        "sorted" => (&[("xs", false), ("key", true), ("reverse", true)], false),
        "Error" => (&[("message", false), ("kind", true)], false),
        "args" | "now" => (&[], false),
        "exit" => (&[("code", true)], false),
        "sleep" => (&[("ms", false)], false),
        "all" | "any" => (&[("futures", false)], false),
        "timeout" => (&[("future", false), ("ms", false)], false),
        "promise" => (&[], false),
        "lookup" => (&[("name", false)], false),
        "matrix" => (&[("rows", false)], false),
        "zeros" | "ones" => (&[("rows", false), ("cols", false)], false),
        "eye" => (&[("n", false)], false),
        "rand" => (&[("rows", false), ("cols", false), ("seed", true)], false),
        "send_message" => (&[("actor", false), ("message", false)], false),
        _ => return None,
    };
    Some(Sig { name: name.to_string(), params: params.iter().map(|(n, d)| (n.to_string(), *d)).collect(), variadic })
}
