//! The rest of the built-in types' methods (language.md §9): str's
//! padding, stripping, splitting and character tests; list's `extend
//! count clear`; map's `pop update merge`; slices with a step.

use super::args::arity;
use super::format::to_display;
use super::ops;
use super::value::*;
use std::cell::RefCell;
use std::rc::Rc;

use super::method_tables::no_method;
use super::seq::{list_append, merge};

fn str_arg<'a>(m: &str, v: &'a Value) -> Result<&'a str, Value> {
    match v {
        Value::Str(s) => Ok(s),
        other => err("TypeError", format!("`{m}` needs a str argument, not {}", other.type_name())),
    }
}

/// `strip`, `lstrip`, `rstrip`: whitespace, or any of the characters given.
pub fn strip(s: &str, name: &str, args: &[Value]) -> Result<Value, Value> {
    arity(name, args, 0, 1)?;
    let chars: Option<Vec<char>> = match args.first() {
        None | Some(Value::None) => None,
        Some(v) => Some(str_arg(name, v)?.chars().collect()),
    };
    let hit = |c: char| chars.as_ref().map_or(c.is_whitespace(), |cs| cs.contains(&c));
    Ok(Value::str(match name {
        "lstrip" => s.trim_start_matches(hit),
        "rstrip" => s.trim_end_matches(hit),
        _ => s.trim_matches(hit),
    }))
}

/// `split(sep, max)`: at most `max` splits (the rest stays in the last part).
pub fn split(s: &str, args: &[Value]) -> Result<Value, Value> {
    arity("split", args, 0, 2)?;
    let max = match args.get(1) {
        None | Some(Value::None) => None,
        Some(Value::Int(n)) if *n >= 0 => Some(*n as usize),
        Some(Value::Int(_)) => None,
        Some(o) => return err("TypeError", format!("`split`'s max must be an int, not {}", o.type_name())),
    };
    let parts: Vec<Value> = match args.first() {
        None | Some(Value::None) => {
            let mut out = Vec::new();
            let mut rest = s.trim_start();
            while !rest.is_empty() {
                if max.is_some_and(|m| out.len() == m) {
                    out.push(Value::str(rest));
                    break;
                }
                let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
                out.push(Value::str(&rest[..end]));
                rest = rest[end..].trim_start();
            }
            out
        }
        Some(sep) => {
            let sep = str_arg("split", sep)?;
            if sep.is_empty() {
                return err("ValueError", "empty separator");
            }
            match max {
                Some(m) => s.splitn(m + 1, sep).map(Value::str).collect(),
                None => s.split(sep).map(Value::str).collect(),
            }
        }
    };
    Ok(Value::list(parts))
}

pub fn str_extra(s: &str, name: &str, args: &[Value]) -> Result<Value, Value> {
    match name {
        "lstrip" | "rstrip" => strip(s, name, args),
        "splitlines" => {
            arity(name, args, 0, 0)?;
            Ok(Value::list(s.lines().map(Value::str).collect()))
        }
        "count" => {
            arity(name, args, 1, 1)?;
            let sub = str_arg(name, &args[0])?;
            let n = if sub.is_empty() { s.chars().count() + 1 } else { s.matches(sub).count() };
            Ok(Value::Int(n as i64))
        }
        "is_digit" | "is_alpha" | "is_space" => {
            arity(name, args, 0, 0)?;
            let test: fn(char) -> bool = match name {
                "is_digit" => |c| c.is_ascii_digit(),
                "is_alpha" => char::is_alphabetic,
                _ => char::is_whitespace,
            };
            Ok(Value::Bool(!s.is_empty() && s.chars().all(test)))
        }
        "pad_left" | "pad_right" | "center" => {
            arity(name, args, 1, 2)?;
            let Value::Int(width) = args[0] else {
                return err("TypeError", format!("`{name}`'s width must be an int, not {}", args[0].type_name()));
            };
            let fill = match args.get(1) {
                None => ' ',
                Some(v) => {
                    let f = str_arg(name, v)?;
                    let mut cs = f.chars();
                    match (cs.next(), cs.next()) {
                        (Some(c), None) => c,
                        _ => return err("ValueError", format!("`{name}`'s fill must be one character, not {f:?}")),
                    }
                }
            };
            let len = s.chars().count();
            let pad = (width.max(0) as usize).saturating_sub(len);
            check_str_size(s.len().saturating_add(pad.saturating_mul(fill.len_utf8())))?;
            let (left, right) = match name {
                "pad_left" => (pad, 0),
                "pad_right" => (0, pad),
                _ => (pad / 2, pad - pad / 2),
            };
            let mut out = String::with_capacity(s.len() + pad * fill.len_utf8());
            out.extend(std::iter::repeat_n(fill, left));
            out.push_str(s);
            out.extend(std::iter::repeat_n(fill, right));
            Ok(Value::str(&out))
        }
        "chars" => {
            arity(name, args, 0, 0)?;
            Ok(Value::list(s.chars().map(|c| Value::str(c.encode_utf8(&mut [0; 4]))).collect()))
        }
        _ => no_method("str", name),
    }
}

pub fn list_extra(recv: &Value, l: &Rc<RefCell<ListVec>>, name: &str, args: &[Value]) -> Result<Value, Value> {
    match name {
        "extend" => {
            arity(name, args, 1, 1)?;
            // Items first: `xs.extend(xs)` reads the list it grows.
            for v in super::patterns::items_of(&args[0])? {
                list_append(recv, l, v);
            }
            Ok(Value::None)
        }
        "count" => {
            arity(name, args, 1, 1)?;
            Ok(Value::Int(l.borrow().iter().filter(|x| ops::equal(x, &args[0])).count() as i64))
        }
        "clear" => {
            arity(name, args, 0, 0)?;
            l.borrow_mut().clear();
            Ok(Value::None)
        }
        _ => no_method("list", name),
    }
}

pub fn map_extra(recv: &Value, m: &Rc<RefCell<MapInner>>, name: &str, args: &[Value]) -> Result<Value, Value> {
    match name {
        "pop" => {
            arity(name, args, 1, 2)?;
            let k = args[0].to_key()?;
            let removed = m.borrow_mut().shift_remove(&k);
            match (removed, args.get(1)) {
                (Some(v), _) => Ok(v),
                (None, Some(d)) => Ok(d.clone()),
                (None, None) => err("KeyError", format!("key {} not found", to_display(&args[0]))),
            }
        }
        "update" => {
            arity(name, args, 1, 1)?;
            let Value::Map(other) = &args[0] else {
                return err("TypeError", format!("`update` needs a map, not {}", args[0].type_name()));
            };
            let items: Vec<(Key, Value)> = other.borrow().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            for (k, v) in items {
                super::gc::note_store(recv, &v);
                m.borrow_mut().insert(k, v);
            }
            Ok(Value::None)
        }
        "merge" => {
            arity(name, args, 1, 1)?;
            merge(recv, &args[0])
        }
        _ => no_method("map", name),
    }
}

/// `a[start:end:step]` on a list or str, as in Python.
pub fn slice_step(obj: &Value, start: &Value, end: &Value, step: &Value) -> Result<Value, Value> {
    let pick = |len: usize| -> Result<Vec<usize>, Value> {
        let (first, count, step) = super::ranges::positions(len as i64, start, end, step)?;
        Ok((0..count).map(|k| (first + k * step) as usize).collect())
    };
    match obj {
        Value::List(l) => {
            let l = l.borrow();
            Ok(Value::list(pick(l.len())?.into_iter().map(|i| l[i].clone()).collect()))
        }
        Value::Str(s) => {
            let chars: Vec<char> = s.chars().collect();
            Ok(Value::str(&pick(chars.len())?.into_iter().map(|i| chars[i]).collect::<String>()))
        }
        Value::Range(r) => super::ranges::slice(r, start, end, step),
        _ => err("TypeError", format!("{} cannot be sliced with a step", obj.type_name())),
    }
}
