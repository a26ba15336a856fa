//! Worker threads. Each owns a VM loaded with the program and a smol
//! `LocalExecutor`; values never cross threads, `Packet`s do. The main
//! thread is worker 0 and runs the same message loop on its own executor.

use super::*;
use crate::vm::host::Host;
use crate::vm::task::{FutureObj, TaskState};
use crate::vm::{Value, Vm};
use std::cell::RefCell;
use std::rc::Rc;

type R = Result<Value, Value>;

/// The runtime as one VM sees it: its node (`vm::host::Host`).
pub struct Worker {
    pub node: Arc<Node>,
}

/// Give `vm` the runtime of `node`.
pub fn attach(vm: &mut Vm, node: Arc<Node>) {
    vm.host = Some(Rc::new(Worker { node }));
}

impl Vm {
    /// The node of the runtime this VM is attached to.
    pub(crate) fn rt_node(&self) -> Option<&Arc<Node>> {
        let host: &dyn std::any::Any = self.host.as_deref()?;
        host.downcast_ref::<Worker>().map(|w| &w.node)
    }
}

impl Host for Worker {
    fn drive(&self, vm: &Rc<RefCell<Vm>>, main: TaskState) -> R {
        super::task::drive(vm, main)
    }
    fn spawn_task(&self, vm: &mut Vm, state: TaskState, fut: Rc<FutureObj>) -> Result<(), Value> {
        super::task::spawn_task(vm, state, fut)
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
        Vm::lookup_actor(name)
    }
    fn self_field(&self, vm: &Vm, name: &str) -> Option<Value> {
        vm.actor_self_field(name)
    }
    fn self_call(&self, vm: &mut Vm, name: &str, args: &[Value]) -> R {
        vm.actor_self_call(name, args)
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

/// The node a VM is attached to (the REPL updates its program).
pub fn node_of(vm: &Vm) -> Option<Arc<Node>> {
    vm.rt_node().cloned()
}
