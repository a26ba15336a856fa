//! The async built-ins of language.md §6: `sleep`, `all`, `any`, `timeout`,
//! `promise` (and a promise's `resolve`/`reject` methods).

use super::args::{arity, kwarg};
use super::task::{Awaiting, FutureObj};
use super::value::*;
use super::Vm;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

type Kw<'a> = &'a [(Rc<str>, Value)];

fn millis(name: &str, v: &Value) -> Result<f64, Value> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) if f.is_finite() => Ok(*f),
        other => err("TypeError", format!("`{name}` needs a number of milliseconds, not {}", other.type_name())),
    }
}

/// `all`/`any`'s items: a list of futures (the async combinators), or any
/// iterable of plain values (then a bool, by truthiness).
fn futures_of(name: &str, v: &Value) -> Result<Vec<Value>, Value> {
    match v {
        Value::List(l) => Ok(l.borrow().to_vec()),
        other => super::patterns::items_of(other)
            .map_err(|_| Value::error("TypeError", format!("`{name}` needs a list (of futures, or of values), not {}", other.type_name()))),
    }
}

fn has_future(items: &[Value]) -> bool {
    items.iter().any(|v| matches!(v, Value::Future(_)))
}

/// A future completed by `job` running on the executor.
fn future_from<F: Future<Output = ()> + 'static>(vm: &mut Vm, job: impl FnOnce(Rc<FutureObj>) -> F) -> Result<Value, Value> {
    let out = FutureObj::new();
    vm.spawn_helper(false, job(out.clone()))?.detach();
    Ok(Value::Future(out))
}

/// A future that is already complete with `v`.
fn ready(v: Value) -> Value {
    let done = FutureObj::new();
    done.complete(Ok(v));
    Value::Future(done)
}

/// `sleep(ms)`: a future that completes with `none` after `ms` milliseconds.
pub fn sleep(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("sleep", kw, &[])?;
    arity("sleep", args, 1, 1)?;
    let ms = millis("sleep", &args[0])?;
    Ok(Value::Future(vm.sleep_future(ms)?))
}

/// `all(futures)`: the list of their results, in order; fails with the first error.
pub fn all(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("all", kw, &[])?;
    arity("all", args, 1, 1)?;
    let items = futures_of("all", &args[0])?;
    if !has_future(&items) {
        return Ok(Value::Bool(items.iter().all(Value::truthy)));
    }
    future_from(vm, |out| async move {
        let mut results = Vec::with_capacity(items.len());
        for it in items {
            match it {
                Value::Future(f) => match Awaiting(f).await {
                    Ok(v) => results.push(v),
                    Err(e) => {
                        out.complete(Err(e));
                        return;
                    }
                },
                plain => results.push(plain),
            }
        }
        out.complete(Ok(Value::list(results)));
    })
}

/// Polls several Noodle futures; ready with the first that completes.
struct First(Vec<Rc<FutureObj>>);

impl Future for First {
    type Output = Result<Value, Value>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        for f in &self.0 {
            if let Some(r) = f.result() {
                return Poll::Ready(r);
            }
        }
        for f in &self.0 {
            f.park(cx.waker());
        }
        Poll::Pending
    }
}

/// `any(futures)`: the result of the first to finish; the others keep running.
pub fn any(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("any", kw, &[])?;
    arity("any", args, 1, 1)?;
    let items = futures_of("any", &args[0])?;
    if !has_future(&items) {
        return Ok(Value::Bool(items.iter().any(Value::truthy)));
    }
    if items.is_empty() {
        return err("ValueError", "`any` needs at least one future");
    }
    if let Some(plain) = items.iter().find(|v| !matches!(v, Value::Future(_))) {
        return Ok(ready(plain.clone()));
    }
    let futs: Vec<Rc<FutureObj>> = items.into_iter().filter_map(|v| if let Value::Future(f) = v { Some(f) } else { None }).collect();
    future_from(vm, |out| async move {
        out.complete(First(futs).await);
    })
}

/// `timeout(future, ms)`: its result, or a `TimeoutError` after `ms`
/// milliseconds — then the task it gave up on is cancelled.
pub fn timeout(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("timeout", kw, &[])?;
    arity("timeout", args, 2, 2)?;
    let ms = millis("timeout", &args[1])?;
    let Value::Future(target) = args[0].clone() else {
        return Ok(ready(args[0].clone()));
    };
    let timer = vm.sleep_future(ms)?;
    future_from(vm, |out| async move {
        let r = First(vec![target.clone(), timer]).await;
        if target.is_done() {
            out.complete(r);
        } else {
            target.cancel();
            out.complete(err("TimeoutError", format!("timed out after {ms} ms")));
        }
    })
}

/// `promise()`: a future completed by whoever holds it.
pub fn promise(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("promise", kw, &[])?;
    arity("promise", args, 0, 0)?;
    let f = FutureObj::new();
    // Numbered by the runtime, so a copy sent to another worker finds it.
    if let Some(h) = vm.host.clone() {
        h.send_promise(vm, &f);
    }
    Ok(Value::Future(f))
}

/// Methods of a future: `resolve(v)` and `reject(error)` (for promises).
pub fn future_method(vm: &mut Vm, f: &Rc<FutureObj>, name: &str, args: &[Value]) -> Result<Value, Value> {
    let r = match name {
        "resolve" => {
            arity(name, args, 1, 1)?;
            Ok(args[0].clone())
        }
        "reject" => {
            arity(name, args, 1, 1)?;
            Err(match &args[0] {
                Value::Error(e) => Value::Error(e.clone()),
                other => Value::error("Error", super::format::to_display(other)),
            })
        }
        "done" => {
            arity(name, args, 0, 0)?;
            return Ok(Value::Bool(f.is_done()));
        }
        _ => return err("TypeError", format!("future has no method `{name}`")),
    };
    let (id, owner) = f.promise.get();
    if id != 0 && owner != vm.rt.worker {
        // A copy of a promise owned by another worker: complete the original.
        vm.host("a promise")?.resolve_promise(vm, id, owner, &r)?;
    }
    if f.complete(r) {
        Ok(Value::None)
    } else {
        err("Error", "this future is already complete")
    }
}

/// `lookup(name)`: the running actor registered under `name`, or `none`.
pub fn lookup(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("lookup", kw, &[])?;
    arity("lookup", args, 1, 1)?;
    match &args[0] {
        Value::Str(s) => Ok(vm.host("lookup")?.lookup(s)),
        other => err("TypeError", format!("`lookup` needs a name (str), not {}", other.type_name())),
    }
}

/// `monitor(ref)`: a future completing once, at the actor's next restart or
/// stop, with `{actor_id, name, kind, error, time}`.
pub fn monitor(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("monitor", kw, &[])?;
    arity("monitor", args, 1, 1)?;
    match &args[0] {
        Value::Actor(cell) => vm.host("monitor")?.monitor(vm, cell),
        other => err("TypeError", format!("`monitor` needs an actor, not {}", other.type_name())),
    }
}

/// `node_of(ref)`: the name of the node the actor runs on.
pub fn node_of(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("node_of", kw, &[])?;
    arity("node_of", args, 1, 1)?;
    match &args[0] {
        Value::Actor(cell) => Ok(vm.host("node_of")?.node_of(cell)),
        // `node_of(self)` inside an actor.
        Value::Instance(i) if i.class.actor.is_some() => {
            let host = vm.host("node_of")?;
            match host.self_field(vm, "$ref") {
                Some(Value::Actor(cell)) => Ok(host.node_of(&cell)),
                _ => err("TypeError", "`node_of` needs an actor"),
            }
        }
        other => err("TypeError", format!("`node_of` needs an actor, not {}", other.type_name())),
    }
}

/// `nodes()`: the names of the live nodes.
pub fn nodes(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("nodes", kw, &[])?;
    arity("nodes", args, 0, 0)?;
    Ok(Value::list(vm.host("nodes")?.nodes().iter().map(|n| Value::str(n)).collect()))
}

/// `send_message(actor_or_name, {type: ..., payload: ...})`: a raw message,
/// delivered to the actor's `handle_message`.
pub fn send_message(vm: &mut Vm, args: &[Value], kw: Kw) -> Result<Value, Value> {
    kwarg("send_message", kw, &[])?;
    arity("send_message", args, 2, 2)?;
    vm.host("send_message")?.send_message(vm, &args[0], &args[1])?;
    Ok(Value::None)
}
