//! The method names of the built-in types, in one table (what `has_method`,
//! did-you-mean hints and the REPL's completion read).

use super::value::*;

pub const STR_METHODS: &[&str] =
    &["len", "upper", "lower", "split", "strip", "starts_with", "ends_with", "contains", "replace", "find", "join"];
pub const LIST_METHODS: &[&str] =
    &["len", "append", "pop", "insert", "remove", "index", "contains", "sort", "reverse", "map", "filter", "reduce", "copy"];
pub const MAP_METHODS: &[&str] = &["len", "get", "keys", "values", "items", "contains", "remove", "copy"];
pub const STR_EXTRA: &[&str] =
    &["lstrip", "rstrip", "splitlines", "count", "is_digit", "is_alpha", "is_space", "pad_left", "pad_right", "center", "chars"];
pub const LIST_EXTRA: &[&str] = &["extend", "count", "clear"];
pub const MAP_EXTRA: &[&str] = &["pop", "update", "merge"];

/// Every method name of a built-in type's values.
pub fn method_names(v: &Value) -> Vec<&'static str> {
    match v {
        Value::Str(_) => STR_METHODS.iter().chain(STR_EXTRA).copied().collect(),
        Value::List(_) => LIST_METHODS.iter().chain(LIST_EXTRA).copied().collect(),
        Value::Map(_) => MAP_METHODS.iter().chain(MAP_EXTRA).copied().collect(),
        Value::Set(_) => super::sets::METHODS.to_vec(),
        Value::Matrix(_) => super::matrix_methods::METHODS.to_vec(),
        Value::Range(_) => super::ranges::METHODS.to_vec(),
        _ => Vec::new(),
    }
}

pub fn has_method(v: &Value, name: &str) -> bool {
    match v {
        Value::Str(_) => STR_METHODS.contains(&name) || STR_EXTRA.contains(&name),
        Value::List(_) => LIST_METHODS.contains(&name) || LIST_EXTRA.contains(&name),
        Value::Map(_) => MAP_METHODS.contains(&name) || MAP_EXTRA.contains(&name),
        Value::Matrix(_) => super::matrix_methods::METHODS.contains(&name),
        Value::Set(_) => super::sets::METHODS.contains(&name),
        Value::Range(_) => super::ranges::METHODS.contains(&name),
        Value::Object(o) => o.has_method(name),
        _ => false,
    }
}

/// "str has no method `startswith` (did you mean `starts_with`?)"
pub fn no_method(type_name: &str, name: &str) -> Result<Value, Value> {
    let v = match type_name {
        "str" => Value::str(""),
        "list" => Value::list(Vec::new()),
        "map" => Value::map(MapInner::default()),
        _ => Value::None,
    };
    let names = method_names(&v);
    let hint = crate::suggest::hint(name, names.iter().copied()).map(|h| format!(" ({h})")).unwrap_or_default();
    err("TypeError", format!("{type_name} has no method `{name}`{hint}"))
}
