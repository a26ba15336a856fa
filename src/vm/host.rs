//! The scheduler and actor runtime as the VM sees it (runtime.md §5). The
//! runtime (src/runtime) implements `Host` and gives each VM one; the VM
//! calls it where an instruction or built-in needs tasks or actors, and
//! imports nothing from the runtime. An actor reference is an `ActorCell`:
//! who the actor is (the VM prints, compares and copies that) and a port that
//! only the runtime looks into.

use super::task::{FutureObj, TaskState};
use super::value::{err, Value};
use super::Vm;
use std::any::Any;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

type R = Result<Value, Value>;

/// The sender id of the main program in envelopes.
pub const MAIN_ID: &str = "main";

/// What the VM asks of the runtime. One per VM (per worker thread).
pub trait Host: Any {
    /// Run a program's main task and every task it starts until main ends,
    /// `exit()` is called, or nothing can run any more (a deadlock).
    fn drive(&self, vm: &Rc<RefCell<Vm>>, main: TaskState) -> super::Stop;
    /// Start `state` as a task completing `fut` (an async call).
    fn spawn_task(&self, vm: &mut Vm, state: TaskState, fut: Rc<FutureObj>) -> Result<(), Value>;
    /// `spawn Class(args) with {...}`: the class and arguments are in the
    /// registers from `slot` on, as for a call.
    fn spawn_actor(&self, vm: &mut Vm, slot: usize, argc: usize, names: &[String]) -> R;
    /// `send target.method(args)`.
    fn tell(&self, vm: &mut Vm, target: &Value, method: &Arc<str>, args: &[Value]) -> Result<(), Value>;
    /// `target.method(args)` on an actor: a future of the reply.
    fn ask(&self, vm: &mut Vm, target: &Arc<ActorCell>, method: &str, args: &[Value]) -> R;
    /// `send_message(target, msg)`.
    fn send_message(&self, vm: &mut Vm, target: &Value, msg: &Value) -> Result<(), Value>;
    /// `lookup(name)`: the actor registered under `name`, or none.
    fn lookup(&self, name: &str) -> Value;
    /// `monitor(ref)`: a future of the actor's next restart or stop.
    fn monitor(&self, vm: &mut Vm, target: &Arc<ActorCell>) -> R;
    /// `node_of(ref)`: where the actor runs.
    fn node_of(&self, target: &Arc<ActorCell>) -> Value;
    /// `nodes()`: the live nodes' names.
    fn nodes(&self) -> Vec<String>;
    /// `self.id`, `self.name` inside an actor.
    fn self_field(&self, vm: &Vm, name: &str) -> Option<Value>;
    /// `self.checkpoint()`, `self.stop(forget: false)` inside an actor.
    fn self_call(&self, vm: &mut Vm, name: &str, args: &[Value], kw: &[(Rc<str>, Value)]) -> R;
    /// A `promise()` may travel to other workers: give it a number.
    fn send_promise(&self, vm: &mut Vm, f: &Rc<FutureObj>);
    /// The local copy of promise `id` owned by worker `owner`.
    fn receive_promise(&self, vm: &Vm, id: u64, owner: usize) -> Rc<FutureObj>;
    /// A copy of a promise was completed here: complete the original.
    fn resolve_promise(&self, vm: &mut Vm, id: u64, owner: usize, r: &R) -> Result<(), Value>;
}

impl Vm {
    /// This VM's runtime, or an error naming what needed it.
    pub(crate) fn host(&self, what: &str) -> Result<Rc<dyn Host>, Value> {
        match &self.host {
            Some(h) => Ok(h.clone()),
            None => err("Error", format!("{what} needs the actor runtime (this VM runs without one)")),
        }
    }
}

/// The handle of one actor, shared by every reference to it on any thread.
pub struct ActorCell {
    pub id: uuid::Uuid,
    pub id_str: Arc<str>,
    pub name: Option<Arc<str>>,
    pub class_name: Arc<str>,
    /// Handler names, so a misspelt ask fails at the call site.
    pub handlers: Vec<Arc<str>>,
    /// A small number for deadlock reports and the wait-for graph.
    pub key: u64,
    /// The runtime's side (mailbox, worker, stop flag).
    pub port: Box<dyn Any + Send + Sync>,
}

impl ActorCell {
    /// How errors and deadlock reports name the actor.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => format!("{}(\"{n}\")", self.class_name),
            None => format!("{}#{}", self.class_name, self.key),
        }
    }

    pub fn has_handler(&self, name: &str) -> bool {
        self.handlers.iter().any(|h| &**h == name)
    }
}

impl std::fmt::Debug for ActorCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<actor {} {}>", self.label(), self.id)
    }
}

/// Finds the actor with an id, or a stopped handle for one that no longer
/// runs here; set once by the runtime.
pub static ACTOR_BY_ID: OnceLock<fn(uuid::Uuid) -> Arc<ActorCell>> = OnceLock::new();

/// A reference to an actor inside a `Packet`: in memory the handle itself;
/// serialised (checkpoints) as its UUID, looked up again when read back.
#[derive(Clone, Debug)]
pub struct ActorRef(pub Arc<ActorCell>);

impl PartialEq for ActorRef {
    fn eq(&self, o: &Self) -> bool {
        self.0.id == o.0.id
    }
}

thread_local! {
    /// Set while a value is encoded for another node: the name of this
    /// node, so that a reference says where its actor runs.
    static WIRE_NODE: std::cell::RefCell<Option<Arc<str>>> = const { std::cell::RefCell::new(None) };
}

/// Encode with `f` for another node (`me`): actor references carry their
/// class, name and node, so the receiver can reach them.
pub fn for_wire<T>(me: &Arc<str>, f: impl FnOnce() -> T) -> T {
    let old = WIRE_NODE.with(|w| w.replace(Some(me.clone())));
    let r = f();
    WIRE_NODE.with(|w| *w.borrow_mut() = old);
    r
}

/// The runtime's answers about references that cross nodes: where a cell's
/// actor runs (`None`: here), and the handle of an actor on another node.
pub struct RemoteRefs {
    pub node_of: fn(&ActorCell) -> Option<Arc<str>>,
    pub remote: fn(id: uuid::Uuid, class: &str, name: Option<&str>, node: &str) -> Arc<ActorCell>,
}

pub static REMOTE_REFS: OnceLock<RemoteRefs> = OnceLock::new();

impl serde::Serialize for ActorRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wire = WIRE_NODE.with(|w| w.borrow().clone());
        match wire {
            None => s.serialize_str(&self.0.id_str),
            Some(me) => {
                let node = REMOTE_REFS.get().and_then(|r| (r.node_of)(&self.0)).unwrap_or(me);
                let c = &self.0;
                serde::Serialize::serialize(&(&*c.id_str, &*c.class_name, c.name.as_deref(), &*node), s)
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for ActorRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RefVisitor)
    }
}

struct RefVisitor;

fn parse_id<E: serde::de::Error>(s: &str) -> Result<uuid::Uuid, E> {
    uuid::Uuid::parse_str(s).map_err(E::custom)
}

impl<'de> serde::de::Visitor<'de> for RefVisitor {
    type Value = ActorRef;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an actor reference")
    }

    /// A checkpoint's reference: the id alone.
    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<ActorRef, E> {
        let id = parse_id(s)?;
        match ACTOR_BY_ID.get() {
            Some(find) => Ok(ActorRef(find(id))),
            None => Err(E::custom("an actor reference, read without the actor runtime")),
        }
    }

    /// A reference from another node: id, class, name, node.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<ActorRef, A::Error> {
        use serde::de::Error;
        let id: String = a.next_element()?.ok_or_else(|| A::Error::custom("an actor id"))?;
        let class: String = a.next_element()?.ok_or_else(|| A::Error::custom("an actor class"))?;
        let name: Option<String> = a.next_element()?.ok_or_else(|| A::Error::custom("an actor name"))?;
        let node: String = a.next_element()?.ok_or_else(|| A::Error::custom("an actor node"))?;
        let id = parse_id(&id)?;
        match REMOTE_REFS.get() {
            Some(r) => Ok(ActorRef((r.remote)(id, &class, name.as_deref(), &node))),
            None => Err(A::Error::custom("an actor reference, read without the actor runtime")),
        }
    }
}
