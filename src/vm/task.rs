//! Async tasks (language.md §6). A task is plain data — its frames, registers
//! and handlers (`TaskState`) — driven by a small Rust future (`TaskRun`) on a
//! smol `LocalExecutor`. Polling swaps the task's state into the VM and runs
//! the dispatch loop; `AWAIT` on a pending future stops it with the state
//! intact (`Vm::suspended`), the poll returns `Pending` with its waker parked
//! on that future, and completing the future wakes it. No Rust future is ever
//! stored inside VM state, so a suspended task can later be checkpointed.

use super::value::*;
use super::{Frame, Handler, Vm};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

enum FutState {
    Pending(Vec<Waker>),
    Done(Value),
    Failed(Value),
}

/// A Noodle future: the result of an async call, `sleep`, `all`, ... or a
/// `promise()`.
pub struct FutureObj {
    state: RefCell<FutState>,
    /// The task computing it; dropping the handle cancels that task.
    task: RefCell<Option<smol::Task<()>>>,
    /// For an ask's reply or a wait for mailbox room: the actor's key, so an
    /// actor awaiting it adds an edge to the wait-for graph (0: none).
    pub(crate) target: Cell<u64>,
    /// For a `promise()` (which may be sent to actors): its number and the
    /// worker that owns the original; a copy elsewhere forwards completion.
    pub(crate) promise: Cell<(u64, usize)>,
}

impl FutureObj {
    pub fn new() -> Rc<FutureObj> {
        Rc::new(FutureObj {
            state: RefCell::new(FutState::Pending(Vec::new())),
            task: RefCell::new(None),
            target: Cell::new(0),
            promise: Cell::new((0, 0)),
        })
    }

    pub(crate) fn set_target(&self, key: u64) {
        self.target.set(key);
    }

    pub fn is_done(&self) -> bool {
        !matches!(*self.state.borrow(), FutState::Pending(_))
    }

    /// Complete the future and wake whoever awaits it; `false` if it was
    /// already complete.
    pub fn complete(&self, r: Result<Value, Value>) -> bool {
        let old = std::mem::replace(
            &mut *self.state.borrow_mut(),
            match r {
                Ok(v) => FutState::Done(v),
                Err(e) => FutState::Failed(e),
            },
        );
        match old {
            FutState::Pending(wakers) => {
                wakers.into_iter().for_each(Waker::wake);
                true
            }
            done => {
                *self.state.borrow_mut() = done;
                false
            }
        }
    }

    pub fn result(&self) -> Option<Result<Value, Value>> {
        match &*self.state.borrow() {
            FutState::Pending(_) => None,
            FutState::Done(v) => Some(Ok(v.clone())),
            FutState::Failed(e) => Some(Err(e.clone())),
        }
    }

    pub(crate) fn park(&self, w: &Waker) {
        if let FutState::Pending(ws) = &mut *self.state.borrow_mut() {
            if !ws.iter().any(|x| x.will_wake(w)) {
                ws.push(w.clone());
            }
        }
    }

    pub(crate) fn set_task(&self, t: smol::Task<()>) {
        *self.task.borrow_mut() = Some(t);
    }

    /// Stop the task behind this future (`timeout` giving up on it).
    pub(crate) fn cancel(&self) {
        self.task.borrow_mut().take();
    }
}

/// Await a Noodle future from Rust (`all`, `any`, `timeout`).
pub(crate) struct Awaiting(pub Rc<FutureObj>);

impl Future for Awaiting {
    type Output = Result<Value, Value>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.0.result() {
            Some(r) => Poll::Ready(r),
            None => {
                self.0.park(cx.waker());
                Poll::Pending
            }
        }
    }
}

/// The parts of the VM that belong to one task.
#[derive(Default)]
pub struct TaskState {
    pub frames: Vec<Frame>,
    pub stack: Vec<Value>,
    pub handlers: Vec<Handler>,
}

impl Vm {
    pub(crate) fn swap_task(&mut self, t: &mut TaskState) {
        std::mem::swap(&mut self.frames, &mut t.frames);
        std::mem::swap(&mut self.stack, &mut t.stack);
        std::mem::swap(&mut self.handlers, &mut t.handlers);
    }

    /// Run `f` on the executor (timers and combinators). Timers count as
    /// pending work, so an idle scheduler can tell waiting from deadlock.
    pub(crate) fn spawn_helper(&mut self, is_timer: bool, f: impl Future<Output = ()> + 'static) -> Result<smol::Task<()>, Value> {
        let Some(ex) = self.executor.clone() else {
            return err("Error", "async built-ins need the scheduler (internal: no executor)");
        };
        let guard = is_timer.then(|| {
            let busy = self.timers.clone();
            busy.set(busy.get() + 1);
            HelperGuard(busy)
        });
        Ok(ex.spawn(async move {
            let _g = guard;
            f.await
        }))
    }

    /// A future that completes after `ms` milliseconds.
    pub(crate) fn sleep_future(&mut self, ms: f64) -> Result<Rc<FutureObj>, Value> {
        let fut = FutureObj::new();
        let f2 = fut.clone();
        // At most about a century: longer waits are "forever" in practice, and
        // `Duration` cannot hold arbitrary floats.
        let d = std::time::Duration::from_secs_f64((ms.max(0.0) / 1000.0).min(3.2e9));
        self.spawn_helper(true, async move {
            smol::Timer::after(d).await;
            f2.complete(Ok(Value::None));
        })?
        .detach();
        Ok(fut)
    }
}

struct HelperGuard(Rc<Cell<usize>>);

impl Drop for HelperGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}
