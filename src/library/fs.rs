//! The `fs` library module: async file access. Each call returns a future at
//! once; the file work runs on smol's blocking pool, so a slow disk never
//! stalls a worker (runtime.md §4). Failures are `IOError`s naming the path.

use crate::vm::args::{arity, kwarg};
use crate::vm::native::LibraryModule;
use crate::vm::task::FutureObj;
use crate::vm::value::*;
use crate::vm::Vm;
use std::rc::Rc;

type Kw<'a> = &'a [(Rc<str>, Value)];
type R = Result<Value, Value>;

/// What a blocking job hands back; turned into a Noodle value on the worker.
enum Out {
    None,
    Bool(bool),
    Text(String),
    Names(Vec<String>),
}

/// A path argument: its text (for messages) and the OS path it names.
fn path(name: &str, v: &Value) -> Result<(String, std::path::PathBuf), Value> {
    match v {
        Value::Str(s) => Ok((s.to_string(), str_to_path(s))),
        other => err("TypeError", format!("fs.{name}() needs a path (str), not {}", other.type_name())),
    }
}

/// File names need not be UTF-8 on Unix. A byte `b` that is not part of
/// valid UTF-8 becomes the private-use character U+F700 + b, and back again
/// when the name is used as a path, so every name `list_dir` returns can be
/// opened. (A real name with characters U+F780..U+F7FF is read the same way.)
const RAW_BYTE_BASE: u32 = 0xF700;

pub(crate) fn os_to_str(name: &std::ffi::OsStr) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for chunk in name.as_bytes().utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push(char::from_u32(RAW_BYTE_BASE + *b as u32).unwrap_or('\u{FFFD}'));
        }
    }
    out
}

pub(crate) fn str_to_path(s: &str) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    let raw = |c: char| (RAW_BYTE_BASE + 0x80..=RAW_BYTE_BASE + 0xFF).contains(&(c as u32));
    if !s.chars().any(raw) {
        return std::path::PathBuf::from(s);
    }
    let mut bytes = Vec::with_capacity(s.len());
    for c in s.chars() {
        if raw(c) {
            bytes.push((c as u32 - RAW_BYTE_BASE) as u8);
        } else {
            bytes.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
    }
    std::ffi::OsStr::from_bytes(&bytes).into()
}

fn text(name: &str, v: &Value) -> Result<String, Value> {
    match v {
        Value::Str(s) => Ok(s.to_string()),
        other => err("TypeError", format!("fs.{name}() writes a str, not {} (use str(x) or json.encode)", other.type_name())),
    }
}

/// Run `job` off the worker and complete a future with its result. The job
/// counts as pending work, so waiting for it is never taken for a deadlock.
fn offload(vm: &mut Vm, what: String, job: impl FnOnce() -> std::io::Result<Out> + Send + 'static) -> R {
    let fut = FutureObj::new();
    let f2 = fut.clone();
    vm.spawn_helper(true, async move {
        let r = smol::unblock(job).await;
        f2.complete(match r {
            Ok(Out::None) => Ok(Value::None),
            Ok(Out::Bool(b)) => Ok(Value::Bool(b)),
            Ok(Out::Text(s)) => Ok(Value::str(&s)),
            Ok(Out::Names(v)) => Ok(Value::list(v.iter().map(|s| Value::str(s)).collect())),
            Err(e) => Err(Value::error("IOError", format!("{what}: {e}"))),
        });
    })?
    .detach();
    Ok(Value::Future(fut))
}

fn read(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("read", kw, &[])?;
    arity("read", args, 1, 1)?;
    let (name, p) = path("read", &args[0])?;
    offload(vm, format!("cannot read {name}"), move || std::fs::read_to_string(&p).map(Out::Text))
}

fn write(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("write", kw, &[])?;
    arity("write", args, 2, 2)?;
    let ((name, p), t) = (path("write", &args[0])?, text("write", &args[1])?);
    offload(vm, format!("cannot write {name}"), move || std::fs::write(&p, t).map(|_| Out::None))
}

fn append(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("append", kw, &[])?;
    arity("append", args, 2, 2)?;
    let ((name, p), t) = (path("append", &args[0])?, text("append", &args[1])?);
    offload(vm, format!("cannot append to {name}"), move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p)?;
        f.write_all(t.as_bytes()).map(|_| Out::None)
    })
}

fn exists(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("exists", kw, &[])?;
    arity("exists", args, 1, 1)?;
    let (name, p) = path("exists", &args[0])?;
    // `false` only when the path is truly absent: a directory we may not
    // search (permission denied) is an IOError, not a "no".
    offload(vm, format!("cannot check {name}"), move || match std::fs::exists(&p) {
        Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => Ok(Out::Bool(false)),
        r => r.map(Out::Bool),
    })
}

/// `list_dir(path)`: the entry names, sorted.
fn list_dir(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("list_dir", kw, &[])?;
    arity("list_dir", args, 1, 1)?;
    let (name, p) = path("list_dir", &args[0])?;
    offload(vm, format!("cannot list {name}"), move || {
        let mut names = Vec::new();
        for e in std::fs::read_dir(&p)? {
            names.push(os_to_str(&e?.file_name()));
        }
        names.sort();
        Ok(Out::Names(names))
    })
}

/// `remove(path)`: delete a file.
fn remove(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("remove", kw, &[])?;
    arity("remove", args, 1, 1)?;
    let (name, p) = path("remove", &args[0])?;
    offload(vm, format!("cannot remove {name}"), move || std::fs::remove_file(&p).map(|_| Out::None))
}

module_fns! { FS:
    "read" => read,
    "write" => write,
    "append" => append,
    "exists" => exists,
    "list_dir" => list_dir,
    "remove" => remove,
}

pub static MODULE: LibraryModule = LibraryModule { name: "fs", functions: FS, constants: &[], revive: None };
