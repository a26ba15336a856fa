//! The virtual machine. Frames live on a heap stack (`frames`, `stack`), so a
//! Noodle call never recurses on the Rust stack and a task can stop and resume
//! between instructions. `run` reports why it stopped.

pub mod args;
mod async_builtins;
pub mod builtins;
mod call;
mod cold;
mod conversions;
pub mod format;
pub mod gc;
pub mod host;
mod interp;
mod iter;
pub mod matrix;
pub mod matrix_methods;
pub mod method_tables;
pub mod methods;
mod more_methods;
pub mod native;
pub mod ops;
pub(crate) mod patterns;
pub mod portable;
pub mod ranges;
pub(crate) mod reach;
pub mod seq;
mod sets;
mod special;
pub mod task;
pub mod value;

use crate::bytecode::{Const, Function, Verified};
use crate::diag::SourceMap;
use std::collections::HashMap;
use std::io::Write;
use std::rc::Rc;
use value::*;
pub use value::{err, Value};

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum FrameKind {
    Normal,
    /// A class's `init`: the call returns the instance in `stack[base]`.
    Init,
    /// A module's top level: the call returns the module object.
    ModuleInit(u32),
}

pub struct Frame {
    pub closure: Rc<Closure>,
    pub pc: usize,
    pub base: usize,
    /// Absolute stack slot that receives the return value.
    pub ret: usize,
    pub kind: FrameKind,
}

pub struct Handler {
    /// Index of the frame that installed the handler.
    pub frame: usize,
    pub pc: usize,
    pub reg: u8,
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum ModState {
    NotRun,
    Running,
    Done,
}

pub(crate) struct ModuleRt {
    pub globals: Vec<Value>,
    /// Which globals are `var` (not copied to actors).
    pub mutable: Vec<bool>,
    pub global_names: Vec<String>,
    pub slots: HashMap<String, usize>,
    pub state: ModState,
    pub main: u32,
    pub obj: Rc<ModuleObj>,
}

/// (module, slot) pairs of module-level variables.
pub(crate) type GlobalRefs = Rc<Vec<(u32, u32)>>;

/// Why the running task paused; the dispatch loop returns the placeholder
/// `Err(Value::None)` and leaves this in `Vm::halt`, which `Vm::run` turns
/// into its `Stop`.
pub(crate) enum Halt {
    /// `AWAIT` on a pending future (`after`: the instruction is complete, as
    /// for a send that waits for mailbox room, so a failure is thrown in).
    Await { fut: Rc<task::FutureObj>, after: bool },
    /// The time slice is used up.
    Yield,
}

/// Why `Vm::run` stopped: the runtime's view of one step of a task.
pub enum Stop {
    /// The task's outermost frame returned.
    Finished(Value),
    /// An error no handler caught (its trace filled in).
    Threw(Value),
    /// The task waits for `fut`; its frames are intact. `after`: the
    /// awaiting instruction is complete, so if `fut` fails its error must be
    /// thrown into the task as it resumes.
    Awaiting { fut: Rc<task::FutureObj>, after: bool },
    /// The time slice is used up; run it again to continue.
    Yielded,
    /// `exit(code)` was called (here or, for a worker, anywhere).
    Exit(i32),
}

/// Why `run_main` stopped.
pub enum Exit {
    /// The program's main finished.
    Finished(Value),
    /// An uncaught error (its trace is filled in).
    Error(Value),
    /// `exit(code)` was called.
    ExitCode(i32),
}

pub struct Vm {
    // The program: code, constants, modules, and where it came from.
    pub(crate) functions: Vec<Rc<Function>>,
    pub(crate) consts: Vec<Value>,
    pub(crate) raw_consts: Vec<Const>,
    pub(crate) modules: Vec<ModuleRt>,
    pub sources: SourceMap,
    /// The program, for worker threads (set by the driver and the REPL).
    pub program: Option<std::sync::Arc<Verified>>,
    /// The library modules `import` can find (see `native.rs`), and those
    /// imported so far.
    pub library: &'static [&'static native::LibraryModule],
    pub(crate) native_modules: HashMap<String, Value>,
    pub args: Vec<String>,

    // The running task: registers, frames, handlers, and why it paused.
    pub(crate) stack: Vec<Value>,
    pub(crate) frames: Vec<Frame>,
    pub(crate) handlers: Vec<Handler>,
    /// Why the running task paused, if it did (see `Halt`).
    pub(crate) halt: Option<Halt>,
    /// An error to throw into the task as it resumes.
    pub(crate) pending_throw: Option<Value>,
    /// Set by `exit(code)`: every task stops.
    pub(crate) exit_code: Option<i32>,

    // Limits: call depth and time slices.
    pub max_depth: usize,
    /// Frames the running task may push: `max_depth` less the frames of the
    /// tasks that wait for it (see `runtime::task::spawn_task`).
    pub(crate) depth_limit: usize,
    /// The running task's depth below its own frames, and its future.
    pub(crate) task_depth: usize,
    pub(crate) task_fut: Option<std::rc::Weak<task::FutureObj>>,
    /// Calls from native code (callbacks of `map`, `sort`...) on the Rust stack.
    pub(crate) native_depth: usize,
    /// Loop iterations left in the running task's time slice.
    pub(crate) budget: u32,
    /// The running task may be preempted (it runs under the scheduler).
    pub(crate) preemptible: bool,

    // The executor tasks and timers run on (set while a program runs).
    pub(crate) executor: Option<Rc<smol::LocalExecutor<'static>>>,
    /// The VM's own shared handle (for tasks and helpers that call back in).
    pub(crate) self_ref: std::rc::Weak<std::cell::RefCell<Vm>>,
    /// Pending timers (`sleep`, `timeout`).
    pub(crate) timers: Rc<std::cell::Cell<usize>>,

    // The runtime: its interface, and what it keeps per VM.
    pub host: Option<Rc<dyn host::Host>>,
    pub(crate) rt: RuntimeSlots,

    // Copying values between actors (see `reach.rs`, `portable.rs`).
    /// Per actor class: the globals its code can read.
    pub(crate) reach_cache: rustc_hash::FxHashMap<usize, (Rc<Class>, GlobalRefs)>,
    /// Per function: the globals it reads.
    pub(crate) func_reach: std::cell::RefCell<rustc_hash::FxHashMap<u32, GlobalRefs>>,
    /// Module-level values received with messages, to install before the
    /// next task step.
    pub(crate) received_globals: std::cell::RefCell<Vec<(u32, u32, Value)>>,

    // Program I/O and the `random` module's state.
    pub(crate) out: std::io::BufWriter<Sink>,
    pub(crate) rng: u64,
}

/// What the runtime keeps on each VM (src/runtime reads and writes these;
/// the VM itself does not).
#[derive(Default)]
pub(crate) struct RuntimeSlots {
    /// Which of the node's workers this VM is.
    pub worker: usize,
    /// Asks awaiting their reply, by number.
    pub pending: rustc_hash::FxHashMap<u64, Rc<task::FutureObj>>,
    pub next_pending: u64,
    /// The actor whose task is running, if any (the runtime's record).
    pub current_actor: Option<Rc<dyn std::any::Any>>,
    /// The running task is an actor's handler: its `ASYNC_BEGIN` runs inline.
    pub handler_task: bool,
    /// Main's sender id and per-actor sequence numbers.
    pub main_id: std::sync::Arc<str>,
    pub main_seqs: rustc_hash::FxHashMap<u64, u64>,
    /// This worker's message loop.
    pub worker_loop: Option<smol::Task<()>>,
    /// Promises made here that may have been sent away, by number.
    /// (Copies made here of promises owned by other workers are listed too,
    /// so the owner's completion can reach them.)
    pub promises: std::cell::RefCell<rustc_hash::FxHashMap<u64, std::rc::Weak<task::FutureObj>>>,
    /// Buffers of finished handler tasks, reused by the next handler.
    pub spare_tasks: Vec<task::TaskState>,
    /// Task groups (0 = main, else an actor's key) with a task paused
    /// mid-slice: their other tasks wait until it continues.
    pub sliced_groups: Vec<u64>,
    /// The durable actors living on this VM (the runtime's records), for
    /// the commit at the end of the program.
    pub durable: Vec<std::rc::Weak<dyn std::any::Any>>,
    /// Completed by `exit()` to end the program's drive loop.
    pub exit_signal: Option<Rc<task::FutureObj>>,
    /// The future the main task is suspended on (for deadlock reports).
    pub main_waiting: Option<Rc<task::FutureObj>>,
    /// The main task's waker while it waits (a Ctrl-C in the REPL wakes it).
    pub main_waker: Option<std::task::Waker>,
    /// On a cluster: what each actor's handler here awaits from another
    /// actor, by the actor's key (a deadlock found elsewhere fails it).
    pub edge_waits: rustc_hash::FxHashMap<u64, std::rc::Weak<task::FutureObj>>,
}

/// A stack trace shows a run of identical frames this many times, then a count.
const TRACE_REPEAT_SHOWN: usize = 3;
/// A longer trace keeps its first and last halves of this many lines.
const TRACE_MAX_LINES: usize = 100;

/// Stack size of threads that run a VM (deep data is dropped and copied
/// recursively; the reservation is virtual memory).
pub const VM_STACK: usize = 512 << 20;

impl Default for Vm {
    fn default() -> Self {
        Vm::new()
    }
}

impl Vm {
    pub fn new() -> Vm {
        Vm {
            functions: Vec::new(),
            consts: Vec::new(),
            raw_consts: Vec::new(),
            modules: Vec::new(),
            stack: Vec::with_capacity(1024),
            frames: Vec::new(),
            handlers: Vec::new(),
            native_modules: HashMap::new(),
            library: &[],
            sources: SourceMap::default(),
            args: Vec::new(),
            max_depth: 100_000,
            depth_limit: 100_000,
            task_depth: 0,
            task_fut: None,
            native_depth: 0,
            out: std::io::BufWriter::with_capacity(1 << 16, Sink::Stdout),
            rng: 0x9E37_79B9_7F4A_7C15,
            exit_code: None,
            halt: None,
            executor: None,
            self_ref: std::rc::Weak::new(),
            timers: Default::default(),
            program: None,
            host: None,
            rt: RuntimeSlots { next_pending: 1, main_id: std::sync::Arc::from(host::MAIN_ID), ..Default::default() },
            reach_cache: Default::default(),
            func_reach: Default::default(),
            received_globals: Default::default(),
            pending_throw: None,
            budget: u32::MAX,
            preemptible: false,
        }
    }

    /// Add a (verified) program's functions, constants and modules. The REPL
    /// calls this again with each input's additions; indices continue.
    pub fn load(&mut self, p: &Verified) {
        for f in &p.functions[self.functions.len().min(p.functions.len())..] {
            self.functions.push(Rc::new(f.clone()));
        }
        for c in &p.consts[self.consts.len().min(p.consts.len())..] {
            self.consts.push(match c {
                Const::Int(i) => Value::Int(*i),
                Const::Float(f) => Value::Float(*f),
                Const::Str(s) => Value::str(s),
                _ => Value::None,
            });
            self.raw_consts.push(c.clone());
        }
        for (i, m) in p.modules.iter().enumerate() {
            if i < self.modules.len() {
                // REPL: the session module grows new globals.
                let rt = &mut self.modules[i];
                rt.mutable = m.mutable.clone();
                for (slot, n) in m.globals.iter().enumerate().skip(rt.globals.len()) {
                    rt.globals.push(Value::Undefined);
                    rt.global_names.push(n.clone());
                    rt.slots.insert(n.clone(), slot);
                }
                continue;
            }
            self.modules.push(ModuleRt {
                globals: vec![Value::Undefined; m.globals.len()],
                mutable: m.mutable.clone(),
                global_names: m.globals.clone(),
                slots: m.globals.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect(),
                state: ModState::NotRun,
                main: m.main,
                obj: Rc::new(ModuleObj { name: Rc::from(m.name.as_str()), members: Default::default(), index: Some(i as u32) }),
            });
        }
        self.sources = p.source_map();
    }

    /// Run function `main` (a module's top level) to completion; tasks it
    /// started and did not wait for are stopped when it ends.
    pub fn run_main(&mut self, module: u32, main: u32) -> Exit {
        let rc = Rc::new(std::cell::RefCell::new(std::mem::take(self)));
        let exit = Vm::run_main_shared(&rc, module, main);
        let ex = rc.borrow_mut().executor.take();
        drop(ex);
        *self = std::mem::take(&mut *rc.borrow_mut());
        self.self_ref = std::rc::Weak::new();
        exit
    }

    /// Run `main` on a VM shared with its tasks (the REPL keeps one, so tasks
    /// started by one input can be awaited by the next).
    pub fn run_main_shared(rc: &Rc<std::cell::RefCell<Vm>>, module: u32, main: u32) -> Exit {
        let state = {
            let mut vm = rc.borrow_mut();
            vm.modules[module as usize].state = ModState::Running;
            let closure = Rc::new(Closure::new(vm.functions[main as usize].clone(), main, vec![]));
            let base = 1;
            let stack = vec![Value::None; base + closure.num_regs as usize + 1];
            task::TaskState { frames: vec![Frame { closure, pc: 0, base, ret: 0, kind: FrameKind::Normal }], stack, handlers: Vec::new() }
        };
        let host = rc.borrow().host("running a program");
        let stop = match host {
            Ok(h) => h.drive(rc, state),
            Err(e) => Stop::Threw(e),
        };
        let mut vm = rc.borrow_mut();
        vm.modules[module as usize].state = ModState::Done;
        let _ = vm.out.flush();
        match stop {
            Stop::Finished(v) => Exit::Finished(v),
            Stop::Exit(code) => Exit::ExitCode(code),
            Stop::Threw(_) if vm.exit_code.is_some() => Exit::ExitCode(vm.exit_code.unwrap_or(0)),
            Stop::Threw(e) => Exit::Error(e),
            // The drive loop runs main to its end.
            Stop::Awaiting { .. } | Stop::Yielded => Exit::Finished(Value::None),
        }
    }

    /// Discard frames and handlers after an uncaught error (REPL recovery).
    pub fn reset_frames(&mut self) {
        self.frames.clear();
        self.handlers.clear();
        self.native_depth = 0;
    }

    pub fn flush(&mut self) {
        let _ = self.out.flush();
    }

    /// Write program output. A closed stdout (`noodle run p.nd | head`) ends
    /// the program quietly with exit code 0, as `exit(0)` would; another
    /// write failure is an `IOError`.
    pub(crate) fn write_out(&mut self, bytes: &[u8]) -> Result<(), Value> {
        let r = self.out.write_all(bytes);
        self.out_result(r)
    }

    pub(crate) fn flush_out(&mut self) -> Result<(), Value> {
        let r = self.out.flush();
        self.out_result(r)
    }

    fn out_result(&mut self, r: std::io::Result<()>) -> Result<(), Value> {
        match r {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.exit_code = Some(0);
                Err(Value::None)
            }
            Err(e) => err("IOError", format!("cannot write to stdout: {e}")),
        }
    }

    /// Send program output elsewhere (an actor hosted for a program running
    /// on another node: its output goes to that program's stdout).
    pub fn redirect_output(&mut self, to: crate::OutputFn) {
        self.flush();
        self.out = std::io::BufWriter::with_capacity(1 << 16, Sink::Forward(to));
    }

    /// Whether output and `input()` are this process's own.
    pub(crate) fn has_terminal(&self) -> bool {
        matches!(self.out.get_ref(), Sink::Stdout)
    }

    /// Flush only when something is buffered.
    pub(crate) fn flush_pending(&mut self) {
        if !self.out.buffer().is_empty() {
            let _ = self.out.flush();
        }
    }

    /// Read a global of a module by name (REPL, tests).
    pub fn global(&self, module: usize, name: &str) -> Option<Value> {
        let m = self.modules.get(module)?;
        m.slots.get(name).map(|s| m.globals[*s].clone())
    }

    /// Render an uncaught error as `Kind: message` plus its stack trace.
    pub fn describe_error(e: &Value) -> String {
        match e {
            Value::Error(eo) => {
                let mut s = format!("{}: {}\n", eo.kind, eo.message);
                for line in eo.trace.borrow().iter() {
                    s.push_str(line);
                    s.push('\n');
                }
                s
            }
            other => format!("Error: {}\n", format::to_display(other)),
        }
    }

    /// Fill an error's trace from the current frames (innermost first).
    pub(crate) fn attach_trace(&self, e: &Value) {
        let Value::Error(eo) = e else { return };
        let mut t = eo.trace.borrow_mut();
        if !t.is_empty() {
            return;
        }
        let lines: Vec<String> = self
            .frames
            .iter()
            .rev()
            .map(|f| {
                let func = &f.closure.func;
                let pc = f.pc.saturating_sub(1).min(func.spans.len().saturating_sub(1));
                let loc = func.spans.get(pc).map(|s| self.sources.location(*s)).unwrap_or_else(|| "?".into());
                format!("  at {} ({})", func.name, loc)
            })
            .collect();
        *t = collapse_repeats(&lines);
        if t.len() > TRACE_MAX_LINES {
            let keep = TRACE_MAX_LINES / 2;
            let omitted = t.len() - 2 * keep;
            let end = t.len() - keep;
            t.drain(keep..end);
            t.insert(keep, format!("  [{omitted} more lines]"));
        }
    }
}

/// Recursion repeats a line (or a cycle of lines, for mutual recursion) many
/// times: a repeated line is shown three times and a count (as Python does), a
/// repeated cycle of up to four lines once and a count.
fn collapse_repeats(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let repeats = |k: usize| {
            let mut n = 1;
            while i + (n + 1) * k <= lines.len() && lines[i + n * k..i + (n + 1) * k] == lines[i..i + k] {
                n += 1;
            }
            n
        };
        match (1..=4).map(|k| (k, repeats(k))).find(|&(_, n)| n > TRACE_REPEAT_SHOWN) {
            Some((1, n)) => {
                out.extend(std::iter::repeat_n(lines[i].clone(), TRACE_REPEAT_SHOWN));
                out.push(format!("  [previous line repeated {} more times]", n - TRACE_REPEAT_SHOWN));
                i += n;
            }
            Some((k, n)) => {
                out.extend_from_slice(&lines[i..i + k]);
                out.push(format!("  [previous {k} lines repeated {} more times]", n - 1));
                i += n * k;
            }
            None => {
                out.push(lines[i].clone());
                i += 1;
            }
        }
    }
    out
}

/// Where a VM's program output goes: this process's stdout, or a function
/// that carries it to the program's node.
pub enum Sink {
    Stdout,
    Forward(crate::OutputFn),
}

impl std::io::Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout => std::io::stdout().write(b),
            Sink::Forward(f) => {
                f(b);
                Ok(b.len())
            }
        }
    }

    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout => std::io::stdout().write_all(b),
            Sink::Forward(f) => {
                f(b);
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout => std::io::stdout().flush(),
            Sink::Forward(_) => Ok(()),
        }
    }
}
