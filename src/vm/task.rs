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
}

impl FutureObj {
    pub fn new() -> Rc<FutureObj> {
        Rc::new(FutureObj { state: RefCell::new(FutState::Pending(Vec::new())), task: RefCell::new(None) })
    }

    pub fn is_done(&self) -> bool {
        !matches!(*self.state.borrow(), FutState::Pending(_))
    }

    /// Complete the future and wake whoever awaits it; `false` if it was
    /// already complete.
    pub fn complete(&self, r: Result<Value, Value>) -> bool {
        let old = std::mem::replace(&mut *self.state.borrow_mut(), match r {
            Ok(v) => FutState::Done(v),
            Err(e) => FutState::Failed(e),
        });
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
pub(crate) struct TaskState {
    pub frames: Vec<Frame>,
    pub stack: Vec<Value>,
    pub handlers: Vec<Handler>,
}

impl Vm {
    fn swap_task(&mut self, t: &mut TaskState) {
        std::mem::swap(&mut self.frames, &mut t.frames);
        std::mem::swap(&mut self.stack, &mut t.stack);
        std::mem::swap(&mut self.handlers, &mut t.handlers);
    }

    /// Start `state` as a new task completing `fut`.
    pub(crate) fn spawn_task(&mut self, state: TaskState, fut: Rc<FutureObj>) -> Result<(), Value> {
        let (Some(ex), Some(vm)) = (self.executor.clone(), self.self_ref.upgrade()) else {
            return err("Error", "async calls need the scheduler (internal: no executor)");
        };
        let t = ex.spawn(TaskRun { vm, state, fut: fut.clone(), is_main: false });
        fut.set_task(t);
        Ok(())
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

/// Drive a program's main task and every task it starts until main finishes,
/// `exit()` is called, or nothing can run any more while main waits (then
/// the future main waits for fails with a `DeadlockError`).
pub(crate) fn drive(rc: &Rc<RefCell<Vm>>, main_state: TaskState) -> Result<Value, Value> {
    let main_fut = FutureObj::new();
    let exit_fut = FutureObj::new();
    let (ex, timers) = {
        let mut vm = rc.borrow_mut();
        let ex = vm.executor.get_or_insert_with(|| Rc::new(smol::LocalExecutor::new())).clone();
        vm.self_ref = Rc::downgrade(rc);
        vm.exit_signal = Some(exit_fut.clone());
        vm.main_waiting = None;
        (ex, vm.timers.clone())
    };
    let main_task = ex.spawn(TaskRun { vm: rc.clone(), state: main_state, fut: main_fut.clone(), is_main: true });
    smol::block_on(async {
        loop {
            while ex.try_tick() {}
            if main_fut.is_done() || exit_fut.is_done() {
                break;
            }
            if timers.get() == 0 {
                // Main waits on something no timer or task will ever complete:
                // fail that future, so the error surfaces (catchable, with a
                // trace) at main's `await`.
                let waiting = rc.borrow_mut().main_waiting.take();
                match waiting {
                    Some(f) if !f.is_done() => {
                        f.complete(err("DeadlockError", "the program waits for a future that nothing will complete"));
                        continue;
                    }
                    _ => {
                        main_fut.complete(err("DeadlockError", "the program waits for a future that nothing will complete"));
                        break;
                    }
                }
            }
            ex.tick().await;
        }
    });
    drop(main_task);
    rc.borrow_mut().exit_signal = None;
    if exit_fut.is_done() {
        return Err(Value::None);
    }
    main_fut.result().unwrap_or(Ok(Value::None))
}

struct HelperGuard(Rc<Cell<usize>>);

impl Drop for HelperGuard {
    fn drop(&mut self) {
        self.0.set(self.0.get().saturating_sub(1));
    }
}

/// The Rust future that drives one Noodle task.
struct TaskRun {
    vm: Rc<RefCell<Vm>>,
    state: TaskState,
    fut: Rc<FutureObj>,
    is_main: bool,
}

impl Future for TaskRun {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Ok(mut vm) = this.vm.try_borrow_mut() else {
            // Never expected (polls do not nest); try again later.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        vm.swap_task(&mut this.state);
        let r = vm.run_frames(0);
        let waiting = vm.suspended.take();
        vm.swap_task(&mut this.state);
        if let Some(f) = waiting {
            f.park(cx.waker());
            if this.is_main {
                vm.main_waiting = Some(f);
            }
            return Poll::Pending;
        }
        if vm.exit_code.is_some() {
            if let Some(x) = &vm.exit_signal {
                x.complete(Ok(Value::None));
            }
            return Poll::Ready(());
        }
        drop(vm);
        this.fut.complete(r);
        Poll::Ready(())
    }
}
