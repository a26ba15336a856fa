//! Worker threads. Each owns a VM loaded with the program and a smol
//! `LocalExecutor`; values never cross threads, `Packet`s do. The main
//! thread is worker 0 and runs the same message loop on its own executor.

use super::task::{TaskRun, INTERRUPTED, INTERRUPTIBLE};
use super::*;
use crate::vm::host::Host;
use crate::vm::task::{FutureObj, TaskState};
use crate::vm::value::err;
use crate::vm::{Stop, Value, Vm};
use std::cell::RefCell;
use std::rc::Rc;

type R = Result<Value, Value>;

impl Host for Worker {
    fn drive(&self, vm: &Rc<RefCell<Vm>>, main: TaskState) -> Stop {
        drive(vm, main)
    }
    fn spawn_task(&self, vm: &mut Vm, state: TaskState, fut: Rc<FutureObj>) -> Result<(), Value> {
        super::run::spawn_task(vm, state, fut)
    }
    fn spawn_actor(&self, vm: &mut Vm, slot: usize, argc: usize, names: &[String]) -> R {
        vm.spawn_actor(slot, argc, names)
    }
    fn tell(&self, vm: &mut Vm, target: &Value, method: &Arc<str>, args: &[Value]) -> Result<(), Value> {
        vm.tell(target, method, args)
    }
    fn ask(&self, vm: &mut Vm, target: &Arc<ActorCell>, method: &str, args: &[Value]) -> R {
        vm.ask(target, method, args)
    }
    fn send_message(&self, vm: &mut Vm, target: &Value, msg: &Value) -> Result<(), Value> {
        vm.send_raw(target, msg)
    }
    fn lookup(&self, name: &str) -> Value {
        if self.node.net().is_none() {
            return Vm::lookup_actor(name);
        }
        self.node.find_name(name).map_or(Value::None, Value::Actor)
    }
    fn monitor(&self, vm: &mut Vm, target: &Arc<ActorCell>) -> R {
        Ok(Value::Future(vm.monitor(target)))
    }
    fn node_of(&self, target: &Arc<ActorCell>) -> Value {
        // Alone, every actor is on the node called `local`.
        match target.mb().at() {
            Some(at) => Value::str(&at.now()),
            None => Value::str(&self.node.me_name()),
        }
    }
    fn nodes(&self) -> Vec<String> {
        match self.node.net() {
            Some(net) => net.view().nodes.into_iter().map(|n| n.name).collect(),
            None => vec!["local".to_string()],
        }
    }
    fn self_field(&self, vm: &Vm, name: &str) -> Option<Value> {
        vm.actor_self_field(name)
    }
    fn self_call(&self, vm: &mut Vm, name: &str, args: &[Value], kw: &[(Rc<str>, Value)]) -> R {
        vm.actor_self_call(name, args, kw)
    }
    fn send_promise(&self, vm: &mut Vm, f: &Rc<FutureObj>) {
        vm.register_promise(f)
    }
    fn receive_promise(&self, vm: &Vm, id: u64, owner: usize) -> Rc<FutureObj> {
        vm.promise_copy(id, owner)
    }
    fn resolve_promise(&self, vm: &mut Vm, id: u64, owner: usize, r: &R) -> Result<(), Value> {
        vm.forward_promise(id, owner, r)
    }
}

/// Handle the messages for one worker until it is shut down.
pub(crate) async fn worker_loop(vm: Rc<RefCell<Vm>>, rx: async_channel::Receiver<WorkerMsg>) {
    while let Ok(msg) = rx.recv().await {
        let mut v = vm.borrow_mut();
        let node = v.node();
        node.mark_busy(v.rt.worker);
        match msg {
            WorkerMsg::Start(s) => {
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
                v.start_remote(*s);
            }
            WorkerMsg::Reply { id, result } => {
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
                v.complete_pending(id, result);
            }
            WorkerMsg::Resolve { id, result } => {
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
                v.resolve_promise(id, result);
            }
            WorkerMsg::Watch { id, worker } => {
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
                v.watch_promise(id, worker);
            }
            WorkerMsg::Exit(code) => {
                v.exit_code = Some(code);
                if let Some(x) = &v.rt.exit_signal {
                    x.complete(Ok(crate::vm::Value::None));
                }
            }
            WorkerMsg::Check => {}
            WorkerMsg::Commit(done) => {
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
                super::persist::commit_durable(&mut v);
                v.flush();
                let _ = done.send(());
            }
            WorkerMsg::Deadlock { key, cycle } => {
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
                v.fail_wait(key, cycle);
            }
            WorkerMsg::Wake => {
                node.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
            WorkerMsg::Shutdown => break,
        }
    }
}

/// The body of a worker thread.
pub(crate) fn run_worker(node: Arc<Node>, index: usize, rx: async_channel::Receiver<WorkerMsg>) {
    let program = lock(&node.program).clone();
    let mut vm = Vm::new();
    vm.load(&program);
    vm.program = Some(program);
    vm.args = node.args.clone();
    vm.max_depth = node.max_depth;
    vm.library = node.library;
    attach(&mut vm, node.clone());
    vm.rt.worker = index;
    super::hosting::forward_output(&mut vm, &node);
    let ex = Rc::new(smol::LocalExecutor::new());
    vm.executor = Some(ex.clone());
    let timers = vm.timers.clone();
    let rc = Rc::new(RefCell::new(vm));
    rc.borrow_mut().self_ref = Rc::downgrade(&rc);
    let main_loop = ex.spawn(worker_loop(rc.clone(), rx));
    smol::block_on(async {
        loop {
            while !main_loop.is_finished() && ex.try_tick() {}
            rc.borrow_mut().flush_pending();
            if main_loop.is_finished() {
                break;
            }
            if spin(&ex) {
                continue;
            }
            // Idle with no timers: nothing happens here until a message
            // arrives (which counts as in flight until it is taken).
            if timers.get() == 0 {
                node.mark_idle(index);
            }
            ex.tick().await;
            node.mark_busy(index);
        }
    });
    let exit = rc.borrow().exit_code;
    if let Some(code) = exit {
        node.post(0, WorkerMsg::Exit(code));
    }
    rc.borrow_mut().flush();
    drop(main_loop);
    // Drop the actors (and their VM references) before the VM.
    let ex = rc.borrow_mut().executor.take();
    drop(ex);
}

/// Before a worker sleeps, it polls for a short while: in chatty programs the
/// next message from another thread arrives within microseconds, and waking
/// a sleeping thread costs tens of them. `true` if work turned up.
pub(crate) fn spin(ex: &smol::LocalExecutor<'_>) -> bool {
    let start = std::time::Instant::now();
    loop {
        for _ in 0..64 {
            if ex.try_tick() {
                return true;
            }
            std::hint::spin_loop();
        }
        if start.elapsed() > SPIN_TIME {
            return false;
        }
    }
}

const SPIN_TIME: std::time::Duration = std::time::Duration::from_micros(50);

/// Drive a program's main task and every task it starts until main finishes,
/// `exit()` is called, or nothing can run any more while main waits (then
/// the future main waits for fails with a `DeadlockError`).
pub(crate) fn drive(rc: &Rc<RefCell<Vm>>, main_state: TaskState) -> Stop {
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
                vm.rt.worker_loop = Some(ex.spawn(worker_loop(rc.clone(), rx)));
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
            // Other threads (workers, the cluster's) may answer within
            // microseconds: spin a little before sleeping.
            let threads = rc.borrow().rt_node().is_some_and(|n| n.has_threads() || n.net().is_some());
            if threads && spin(&ex) {
                continue;
            }
            // About to sleep: what main printed so far is written now (a
            // program that waits long does not sit on its output).
            rc.borrow_mut().flush_pending();
            // Quiet, and (looked at after that) nothing queued here: a wake-up
            // that reached this thread before the others went quiet is seen.
            // If something was queued, it ran: look again rather than sleep,
            // since no other thread will wake this one any more.
            if timers.get() == 0 && rc.borrow().rt_node().is_none_or(|n| n.quiet()) {
                if ex.try_tick() {
                    continue;
                }
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
    commit_everywhere(rc);
    if exit_fut.is_done() {
        return Stop::Exit(rc.borrow().exit_code.unwrap_or(0));
    }
    match main_fut.result() {
        Some(Err(e)) => Stop::Threw(e),
        Some(Ok(v)) => Stop::Finished(v),
        None => Stop::Finished(Value::None),
    }
}

/// The program is ending (main finished, `exit()`, an uncaught error): every
/// durable actor on every worker commits its state. A worker busy in a long
/// turn gets a few seconds; after that its actors keep their last commit.
fn commit_everywhere(rc: &Rc<RefCell<Vm>>) {
    super::persist::commit_durable(&mut rc.borrow_mut());
    let Some(node) = rc.borrow().rt_node().cloned() else { return };
    node.commit_on(&node.started_workers());
}
