//! The scheduler's side of tasks (language.md §6): `TaskRun`, the small Rust
//! future that drives one Noodle task (its state swapped into the VM, the
//! dispatch loop run until it finishes, awaits or uses up its time slice),
//! and `drive`, the loop that runs a program's main task and everything it
//! starts. The VM stores no Rust future: a suspended task is plain data.

use super::WorkerMsg;
use crate::vm::host::ActorCell;
use crate::vm::task::{FutureObj, TaskState};
use crate::vm::value::*;
use crate::vm::{Stop, Vm};
use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

/// Loop iterations a task runs before it lets others on its worker run
/// (a few milliseconds of work).
pub(crate) const TIME_SLICE: u32 = 200_000;

/// Ctrl-C in the REPL: the SIGINT handler sets `INTERRUPTED`; the main task
/// then fails with an `InterruptError` where it is (between two time slices,
/// or at the `await` it waits on), which the input can catch. Only when
/// `INTERRUPTIBLE` (the REPL); `noodle run` keeps the default (exit).
pub static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
pub(crate) static INTERRUPTIBLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

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

/// The actor a task belongs to, as the scheduler sees it (`run::ActorCtx`).
pub(crate) trait TaskOwner: std::any::Any {
    fn cell(&self) -> &ActorCell;
    /// Make the actor's private globals current (and back again).
    fn swap_globals(&self, vm: &mut Vm);
}

/// The Rust future that drives one Noodle task.
pub(crate) struct TaskRun {
    vm: Rc<RefCell<Vm>>,
    state: TaskState,
    fut: Rc<FutureObj>,
    pub(crate) is_main: bool,
    /// The actor the task belongs to (its globals, `self.id`, sender id).
    actor: Option<Rc<dyn TaskOwner>>,
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
    pub(crate) depth: usize,
    /// The creator's future: once it is done, `depth` no longer counts.
    pub(crate) parent: Option<std::rc::Weak<FutureObj>>,
}

impl TaskRun {
    pub(crate) fn new(
        vm: Rc<RefCell<Vm>>,
        state: TaskState,
        fut: Rc<FutureObj>,
        actor: Option<Rc<dyn TaskOwner>>,
        handler: bool,
    ) -> TaskRun {
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
        let group = this.actor.as_ref().map_or(0, |a| a.cell().key);
        if this.sliced {
            this.sliced = false;
            vm.rt.sliced_groups.retain(|g| *g != group);
        } else if vm.rt.sliced_groups.contains(&group) {
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.edge {
            this.edge = false;
            if let (Some(a), Some(n)) = (&this.actor, vm.rt_node().cloned()) {
                n.remove_wait(a.cell().key);
                n.cluster_unwait(a.cell(), &mut vm);
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
            vm.rt.current_actor = Some(a.clone() as Rc<dyn std::any::Any>);
        }
        vm.rt.handler_task = this.handler;
        vm.budget = TIME_SLICE;
        vm.preemptible = true;
        // A panic here is a bug in Noodle: it ends this task with an error (an
        // actor's handler crashes, and is supervised) rather than the process.
        let stop = match crate::contain::contain(|| vm.run()) {
            Ok(stop) => stop,
            Err(m) => {
                let e = Value::error("InternalError", format!("{m} (a bug in Noodle: please report it)"));
                vm.attach_trace(&e);
                Stop::Threw(e)
            }
        };
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
            match n.add_wait(a.cell().key, f.target.get(), a.cell().label()) {
                Ok(()) => {
                    self.edge = true;
                    n.cluster_wait(a.cell(), f.target.get(), vm, &f);
                }
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
            if let (Some(a), Ok(mut vm)) = (&self.actor, self.vm.try_borrow_mut()) {
                if let Some(n) = vm.rt_node().cloned() {
                    n.remove_wait(a.cell().key);
                    n.cluster_unwait(a.cell(), &mut vm);
                }
            }
        }
    }
}
