//! The scheduler's side of tasks (language.md §6): `TaskRun`, the small Rust
//! future that drives one Noodle task (its state swapped into the VM, the
//! dispatch loop run until it finishes, awaits or uses up its time slice),
//! and `drive`, the loop that runs a program's main task and everything it
//! starts. The VM stores no Rust future: a suspended task is plain data.

use super::run::ActorCtx;
use super::WorkerMsg;
use crate::vm::task::{FutureObj, TaskState};
use crate::vm::value::*;
use crate::vm::{Stop, Vm};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Start `state` as a new task of `vm` completing `fut`.
#[inline(never)]
pub(crate) fn spawn_task(vm: &mut Vm, state: TaskState, fut: Rc<FutureObj>) -> Result<(), Value> {
    let (Some(ex), Some(rc)) = (vm.executor.clone(), vm.self_ref.upgrade()) else {
        return err("Error", "async calls need the scheduler (internal: no executor)");
    };
    let actor = vm.actor_rc();
    // The body of an actor's async handler (its frame was the handler
    // task's only one): the actor loop awaits it, so its waits block the
    // actor. Other tasks of the actor run in the background.
    let handler = vm.rt.handler_task && vm.frames.is_empty();
    if let (Some(a), false) = (&actor, handler) {
        a.track(&fut);
    }
    // A task started while its creator runs adds to the creator's depth
    // for as long as the creator lives (it usually awaits the new task),
    // so `return await f(n + 1)` meets the same limit as plain calls.
    let depth = vm.task_depth + vm.frames.len();
    if depth >= vm.max_depth {
        return err("StackOverflowError", format!("maximum call depth of {} exceeded (in a chain of async calls)", vm.max_depth));
    }
    let mut run = TaskRun::new(rc, state, fut.clone(), actor, handler);
    run.depth = depth;
    run.parent = vm.task_fut.clone();
    let t = ex.spawn(run);
    fut.set_task(t);
    Ok(())
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
        vm.rt.exit_signal = Some(exit_fut.clone());
        vm.rt.main_waiting = None;
        (ex, vm.timers.clone())
    };
    {
        // Worker 0's message loop (actor starts and replies from other
        // workers) runs on the main thread's executor.
        let mut vm = rc.borrow_mut();
        if vm.rt.worker_loop.is_none() {
            if let Some(rx) = vm.rt_node().and_then(|n| n.take_receiver(0)) {
                vm.rt.worker_loop = Some(ex.spawn(super::worker::worker_loop(rc.clone(), rx)));
            }
        }
    }
    let mut main_run = TaskRun::new(rc.clone(), main_state, main_fut.clone(), None, false);
    main_run.is_main = true;
    let main_task = ex.spawn(main_run);
    smol::block_on(async {
        loop {
            while !main_fut.is_done() && !exit_fut.is_done() && ex.try_tick() {}
            if main_fut.is_done() || exit_fut.is_done() {
                break;
            }
            let threads = rc.borrow().rt_node().is_some_and(|n| n.has_threads());
            if threads && super::worker::spin(&ex) {
                continue;
            }
            // Quiet, and (looked at after that) nothing queued here: a wake-up
            // that reached this thread before the others went quiet is seen.
            if timers.get() == 0 && rc.borrow().rt_node().is_none_or(|n| n.quiet()) && !ex.try_tick() {
                // Main waits on something no timer or task will ever complete:
                // fail that future, so the error surfaces (catchable, with a
                // trace) at main's `await`.
                let waiting = rc.borrow_mut().rt.main_waiting.take();
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
            if INTERRUPTIBLE.load(std::sync::atomic::Ordering::Relaxed) {
                // Look at the Ctrl-C flag now and then while main waits.
                if INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
                    let waker = rc.borrow_mut().rt.main_waker.take();
                    if let Some(w) = waker {
                        w.wake();
                        continue;
                    }
                }
                smol::future::or(ex.tick(), async {
                    smol::Timer::after(std::time::Duration::from_millis(50)).await;
                })
                .await;
            } else {
                ex.tick().await;
            }
        }
    });
    drop(main_task);
    rc.borrow_mut().rt.exit_signal = None;
    if exit_fut.is_done() {
        return Err(Value::None);
    }
    main_fut.result().unwrap_or(Ok(Value::None))
}

/// Loop iterations a task runs before it lets others on its worker run
/// (a few milliseconds of work).
const TIME_SLICE: u32 = 200_000;

/// Ctrl-C in the REPL: the SIGINT handler sets `INTERRUPTED`; the main task
/// then fails with an `InterruptError` where it is (between two time slices,
/// or at the `await` it waits on), which the input can catch. Only when
/// `INTERRUPTIBLE` (the REPL); `noodle run` keeps the default (exit).
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
pub static INTERRUPTIBLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Route SIGINT to `INTERRUPTED` (the REPL calls this once).
pub fn catch_interrupts() {
    INTERRUPTIBLE.store(true, std::sync::atomic::Ordering::SeqCst);
    // SAFETY: installs a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
}

fn take_interrupt() -> bool {
    INTERRUPTIBLE.load(std::sync::atomic::Ordering::Relaxed) && INTERRUPTED.swap(false, std::sync::atomic::Ordering::SeqCst)
}

/// The Rust future that drives one Noodle task.
pub(crate) struct TaskRun {
    vm: Rc<RefCell<Vm>>,
    state: TaskState,
    fut: Rc<FutureObj>,
    is_main: bool,
    /// The actor the task belongs to (its globals, `self.id`, sender id).
    actor: Option<Rc<ActorCtx>>,
    /// The actor's current handler: its waits block the actor, so they are
    /// edges of the wait-for graph.
    handler: bool,
    /// An edge is recorded for the current wait.
    edge: bool,
    /// A send's wait for room: if it fails (a deadlock), the error is
    /// thrown into the task when it resumes.
    room_wait: Option<Rc<FutureObj>>,
    /// This task used up its time slice and waits to continue.
    sliced: bool,
    /// Frames below this task's own: its creator's, while the creator lives.
    depth: usize,
    /// The creator's future: once it is done, `depth` no longer counts.
    parent: Option<std::rc::Weak<FutureObj>>,
}

impl TaskRun {
    pub(crate) fn new(vm: Rc<RefCell<Vm>>, state: TaskState, fut: Rc<FutureObj>, actor: Option<Rc<ActorCtx>>, handler: bool) -> TaskRun {
        TaskRun { vm, state, fut, is_main: false, actor, handler, edge: false, room_wait: None, sliced: false, depth: 0, parent: None }
    }

    /// The finished task's buffers, for reuse (values already dropped).
    pub(crate) fn take_state(&mut self) -> TaskState {
        let mut s = std::mem::take(&mut self.state);
        s.stack.iter_mut().for_each(|v| *v = Value::None);
        s
    }
}

impl Future for TaskRun {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let vm_rc = this.vm.clone();
        let Ok(mut vm) = vm_rc.try_borrow_mut() else {
            // Never expected (polls do not nest); try again later.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        };
        // Tasks that share variables (main and its tasks; one actor's handler
        // and the tasks it started) switch only at suspension points: while
        // one of them is paused mid-slice, the others of its group wait, and
        // only other groups (other actors) use the time.
        let group = this.actor.as_ref().map_or(0, |a| a.cell.key);
        if this.sliced {
            this.sliced = false;
            vm.rt.sliced_groups.retain(|g| *g != group);
        } else if vm.rt.sliced_groups.contains(&group) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.edge {
            this.edge = false;
            if let (Some(a), Some(n)) = (&this.actor, vm.rt_node()) {
                n.remove_wait(a.cell.key);
            }
        }
        if let Some(Some(Err(e))) = this.room_wait.take().map(|f| f.result()) {
            vm.pending_throw = Some(e);
        }
        if this.is_main && take_interrupt() {
            vm.pending_throw = Some(Value::error("InterruptError", "interrupted (Ctrl-C)"));
        }
        if !vm.received_globals.borrow().is_empty() {
            vm.install_received_globals();
        }
        vm.swap_task(&mut this.state);
        if this.parent.as_ref().is_some_and(|p| p.upgrade().is_none_or(|f| f.is_done())) {
            // The creator finished: a chain of tasks that each start the
            // next and end (a periodic job) does not grow deeper.
            this.parent = None;
            this.depth = 0;
        }
        vm.task_depth = this.depth;
        vm.depth_limit = vm.max_depth.saturating_sub(this.depth);
        vm.task_fut = Some(Rc::downgrade(&this.fut));
        if let Some(a) = &this.actor {
            a.swap_globals(&mut vm);
            vm.rt.current_actor = Some(a.clone());
        }
        vm.rt.handler_task = this.handler;
        vm.budget = TIME_SLICE;
        vm.preemptible = true;
        let stop = vm.run();
        vm.task_depth = 0;
        vm.depth_limit = vm.max_depth;
        vm.task_fut = None;
        vm.preemptible = false;
        vm.rt.handler_task = false;
        if let Some(a) = &this.actor {
            vm.rt.current_actor = None;
            a.swap_globals(&mut vm);
        }
        vm.swap_task(&mut this.state);
        let r = match stop {
            Stop::Finished(v) => Ok(v),
            Stop::Threw(e) => Err(e),
            Stop::Yielded => {
                // Time slice used up: let the other tasks of this worker run.
                this.sliced = true;
                vm.rt.sliced_groups.push(group);
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            Stop::Awaiting { fut, after } => {
                this.wait(&mut vm, fut, after, cx);
                return Poll::Pending;
            }
            Stop::Exit(code) => {
                match &vm.rt.exit_signal {
                    Some(x) => {
                        x.complete(Ok(Value::None));
                    }
                    None => {
                        if let Some(n) = vm.rt_node().cloned() {
                            n.post(0, WorkerMsg::Exit(code));
                        }
                    }
                }
                return Poll::Ready(());
            }
        };
        drop(vm);
        this.fut.complete(r);
        Poll::Ready(())
    }
}

impl TaskRun {
    /// The task awaits `f`: park its waker there; record a handler's wait
    /// for another actor in the wait-for graph.
    fn wait(&mut self, vm: &mut Vm, f: Rc<FutureObj>, after: bool, cx: &mut Context<'_>) {
        if after {
            self.room_wait = Some(f.clone());
        }
        f.park(cx.waker());
        if self.is_main {
            vm.rt.main_waiting = Some(f);
            vm.rt.main_waker = Some(cx.waker().clone());
        } else if let (true, Some(a), Some(n)) = (self.handler && f.target.get() != 0, &self.actor, vm.rt_node().cloned()) {
            // An actor waiting on another: a cycle of such waits can never
            // resolve, so the wait that closes one fails instead.
            match n.add_wait(a.cell.key, f.target.get(), a.cell.label()) {
                Ok(()) => self.edge = true,
                Err(cycle) => {
                    let what = if after { "cycle of full mailboxes" } else { "ask cycle" };
                    f.complete(err("DeadlockError", format!("{what}: {cycle}")));
                }
            }
        }
    }
}

impl Drop for TaskRun {
    fn drop(&mut self) {
        if self.edge {
            if let (Some(a), Ok(vm)) = (&self.actor, self.vm.try_borrow()) {
                if let Some(n) = vm.rt_node() {
                    n.remove_wait(a.cell.key);
                }
            }
        }
    }
}
