//! The `fs` library module: async file access. Each call returns a future at
//! once; the file work runs on smol's blocking pool, so a slow disk never
//! stalls a worker (runtime.md §4). Failures are `IOError`s naming the path.

use super::builtins::{arity, kwarg};
use super::task::FutureObj;
use super::value::*;
use super::Vm;
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

fn path(name: &str, v: &Value) -> Result<String, Value> {
    match v {
        Value::Str(s) => Ok(s.to_string()),
        other => err("TypeError", format!("fs.{name}() needs a path (str), not {}", other.type_name())),
    }
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
    let p = path("read", &args[0])?;
    offload(vm, format!("cannot read {p}"), move || std::fs::read_to_string(&p).map(Out::Text))
}

fn write(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("write", kw, &[])?;
    arity("write", args, 2, 2)?;
    let (p, t) = (path("write", &args[0])?, text("write", &args[1])?);
    offload(vm, format!("cannot write {p}"), move || std::fs::write(&p, t).map(|_| Out::None))
}

fn append(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("append", kw, &[])?;
    arity("append", args, 2, 2)?;
    let (p, t) = (path("append", &args[0])?, text("append", &args[1])?);
    offload(vm, format!("cannot append to {p}"), move || {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&p)?;
        f.write_all(t.as_bytes()).map(|_| Out::None)
    })
}

fn exists(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("exists", kw, &[])?;
    arity("exists", args, 1, 1)?;
    let p = path("exists", &args[0])?;
    offload(vm, format!("cannot check {p}"), move || Ok(Out::Bool(std::path::Path::new(&p).exists())))
}

/// `list_dir(path)`: the entry names, sorted.
fn list_dir(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("list_dir", kw, &[])?;
    arity("list_dir", args, 1, 1)?;
    let p = path("list_dir", &args[0])?;
    offload(vm, format!("cannot list {p}"), move || {
        let mut names = Vec::new();
        for e in std::fs::read_dir(&p)? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(Out::Names(names))
    })
}

/// `remove(path)`: delete a file.
fn remove(vm: &mut Vm, args: &[Value], kw: Kw) -> R {
    kwarg("remove", kw, &[])?;
    arity("remove", args, 1, 1)?;
    let p = path("remove", &args[0])?;
    offload(vm, format!("cannot remove {p}"), move || std::fs::remove_file(&p).map(|_| Out::None))
}

pub static FS: &[Native] = &[
    Native { name: "read", f: read },
    Native { name: "write", f: write },
    Native { name: "append", f: append },
    Native { name: "exists", f: exists },
    Native { name: "list_dir", f: list_dir },
    Native { name: "remove", f: remove },
];
