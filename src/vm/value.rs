//! Runtime values. A `Value` is 16 bytes: a tag and one word (an immediate or
//! an `Rc`). Heap values are non-atomically reference counted: values never
//! cross threads (actors exchange copies).

use crate::bytecode::Function;
use indexmap::IndexMap;
use std::cell::RefCell;
use std::hash::BuildHasherDefault;
use std::rc::Rc;

pub type FxBuild = BuildHasherDefault<rustc_hash::FxHasher>;
pub type MapInner = IndexMap<Key, Value, FxBuild>;
/// A set's elements (str, int, bool), in insertion order.
pub type SetInner = indexmap::IndexSet<Key, FxBuild>;
/// A list's items. Up to two live inside the list's own allocation: small
/// lists (pairs, tree nodes, `[k, v]` items) then cost one allocation, not two.
pub type ListVec = smallvec::SmallVec<[Value; 2]>;

#[derive(Default)]
pub enum Value {
    // The values that own nothing come first, so "does dropping this free
    // memory" is one comparison of the tag (`is_heap`).
    #[default]
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
    Native(&'static Native),
    /// Internal: a global not yet assigned, or an argument not passed.
    Undefined,
    Str(Rc<String>),
    List(Rc<RefCell<ListVec>>),
    Map(Rc<RefCell<MapInner>>),
    Range(Rc<RangeObj>),
    Func(Rc<Closure>),
    Bound(Rc<BoundMethod>),
    Class(Rc<Class>),
    Instance(Rc<Instance>),
    Error(Rc<ErrorObj>),
    Module(Rc<ModuleObj>),
    Cell(Rc<RefCell<Value>>),
    Iter(Rc<RefCell<Iter>>),
    /// The result of an async call or `promise()`, see `vm/task.rs`.
    Future(Rc<super::task::FutureObj>),
    /// A dense float64 matrix; immutable, so shared (across actors too).
    Matrix(std::sync::Arc<super::matrix::Mat>),
    /// An object of a library module (a database, a transaction).
    Object(Rc<Box<dyn super::native::NativeObject>>),
    /// A reference to an actor (possibly on another thread).
    Actor(std::sync::Arc<super::host::ActorCell>),
    Set(Rc<RefCell<SetInner>>),
}

impl Clone for Value {
    /// Written out (not derived) so that it inlines into the dispatch loop:
    /// copying a register is the most common thing the VM does.
    #[inline(always)]
    fn clone(&self) -> Value {
        // Numbers first, by compare rather than a jump table: they are what
        // hot loops copy.
        match self {
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            _ => self.clone_other(),
        }
    }
}

impl Value {
    #[inline]
    fn clone_other(&self) -> Value {
        match self {
            Value::None => Value::None,
            Value::Bool(b) => Value::Bool(*b),
            Value::Int(i) => Value::Int(*i),
            Value::Float(f) => Value::Float(*f),
            Value::Str(x) => Value::Str(Rc::clone(x)),
            Value::List(x) => Value::List(Rc::clone(x)),
            Value::Map(x) => Value::Map(Rc::clone(x)),
            Value::Range(x) => Value::Range(Rc::clone(x)),
            Value::Func(x) => Value::Func(Rc::clone(x)),
            Value::Native(n) => Value::Native(n),
            Value::Bound(x) => Value::Bound(Rc::clone(x)),
            Value::Class(x) => Value::Class(Rc::clone(x)),
            Value::Instance(x) => Value::Instance(Rc::clone(x)),
            Value::Error(x) => Value::Error(Rc::clone(x)),
            Value::Module(x) => Value::Module(Rc::clone(x)),
            Value::Cell(x) => Value::Cell(Rc::clone(x)),
            Value::Iter(x) => Value::Iter(Rc::clone(x)),
            Value::Future(x) => Value::Future(Rc::clone(x)),
            Value::Actor(x) => Value::Actor(x.clone()),
            Value::Set(x) => Value::Set(x.clone()),
            Value::Matrix(x) => Value::Matrix(x.clone()),
            Value::Object(x) => Value::Object(x.clone()),
            Value::Undefined => Value::Undefined,
        }
    }
}

/// Map keys: str, int or bool (language.md §2). Floats with an integral value
/// are stored as ints so that `m[1.0]` finds `m[1]`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Key {
    Int(i64),
    Bool(bool),
    Str(Rc<String>),
}

impl Key {
    pub fn to_value(&self) -> Value {
        match self {
            Key::Int(i) => Value::Int(*i),
            Key::Bool(b) => Value::Bool(*b),
            Key::Str(s) => Value::Str(s.clone()),
        }
    }
}

#[derive(Debug)]
pub struct RangeObj {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl RangeObj {
    /// How many values the range yields (wide arithmetic: bounds near the
    /// ends of the int range do not overflow; at most `i64::MAX`).
    pub fn len(&self) -> i64 {
        let (start, end, step) = (self.start as i128, self.end as i128, self.step as i128);
        let n = if step > 0 && end > start {
            (end - start + step - 1) / step
        } else if step < 0 && start > end {
            (start - end - step - 1) / (-step)
        } else {
            0
        };
        n.min(i64::MAX as i128) as i64
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    pub fn contains(&self, x: i64) -> bool {
        // Wide arithmetic: `x - start` may not fit in 64 bits.
        let (x, start, step) = (x as i128, self.start as i128, self.step as i128);
        if step > 0 {
            x >= start && x < self.end as i128 && (x - start) % step == 0
        } else {
            x <= start && x > self.end as i128 && (start - x) % (-step) == 0
        }
    }
    /// The `j`th value (`j < len()`): it fits, though `step * j` alone may not.
    pub fn nth(&self, j: i64) -> i64 {
        self.start.wrapping_add(self.step.wrapping_mul(j))
    }
}

pub struct Closure {
    /// Parameter count when a plain call may skip argument binding; `u16::MAX`
    /// for methods (which need a receiver). Copied here from `func` so the
    /// call fast path reads one cache line.
    pub plain_arity: u16,
    /// `func.num_regs`, for the same reason.
    pub num_regs: u16,
    pub func: Rc<Function>,
    pub func_index: u32,
    pub upvals: Vec<Rc<RefCell<Value>>>,
    /// For methods: the class that defines them (used by `super`).
    pub owner: RefCell<Option<std::rc::Weak<Class>>>,
}

impl Closure {
    pub fn new(func: Rc<Function>, func_index: u32, upvals: Vec<Rc<RefCell<Value>>>) -> Closure {
        let plain_arity = if func.is_method || func.params.len() >= u16::MAX as usize || func.params.last().is_some_and(|p| p.rest) {
            u16::MAX
        } else {
            func.params.len() as u16
        };
        Closure { plain_arity, num_regs: func.num_regs, func, func_index, upvals, owner: Default::default() }
    }
}

pub type NativeFn = fn(&mut super::Vm, &[Value], &[(Rc<str>, Value)]) -> Result<Value, Value>;

pub struct Native {
    pub name: &'static str,
    pub f: NativeFn,
}

pub struct BoundMethod {
    pub receiver: Value,
    pub method: Value,
}

pub struct Class {
    pub name: Rc<str>,
    pub parent: Option<Rc<Class>>,
    pub methods: IndexMap<Rc<str>, Rc<Closure>, FxBuild>,
    /// For actors: what distinguishes them from classes.
    pub actor: Option<Rc<ActorMeta>>,
}

pub struct ActorMeta {
    /// The `state` fields, in declaration order (what checkpoints store).
    pub states: Vec<Rc<str>>,
}

impl Class {
    pub fn find_method(&self, name: &str) -> Option<&Rc<Closure>> {
        let mut c = self;
        loop {
            if let Some(m) = c.methods.get(name) {
                return Some(m);
            }
            c = c.parent.as_deref()?;
        }
    }
    pub fn is_subclass_of(&self, name: &str) -> bool {
        let mut c = self;
        loop {
            if &*c.name == name {
                return true;
            }
            match c.parent.as_deref() {
                Some(p) => c = p,
                None => return false,
            }
        }
    }
}

pub struct Instance {
    pub class: Rc<Class>,
    pub fields: RefCell<IndexMap<Rc<str>, Value, FxBuild>>,
}

pub struct ErrorObj {
    pub kind: Rc<str>,
    pub message: Rc<str>,
    /// Stack trace lines, innermost first; filled when first thrown.
    pub trace: RefCell<Vec<String>>,
}

pub struct ModuleObj {
    pub name: Rc<str>,
    pub members: RefCell<IndexMap<Rc<str>, Value, FxBuild>>,
    /// For compiled modules: the module index whose globals back the members.
    pub index: Option<u32>,
}

pub enum Iter {
    List { list: Rc<RefCell<ListVec>>, pos: usize },
    Range { next: i64, end: i64, step: i64 },
    Chars { s: Rc<String>, pos: usize },
    Keys { items: Vec<Value>, pos: usize },
    Pairs { items: Vec<(Value, Value)>, pos: usize },
    Rows { m: std::sync::Arc<super::matrix::Mat>, pos: usize },
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Rc::new(s.to_string()))
    }
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(RefCell::new(ListVec::from_vec(v))))
    }
    pub fn list_from(v: ListVec) -> Value {
        Value::List(Rc::new(RefCell::new(v)))
    }
    pub fn map(m: MapInner) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }
    pub fn error(kind: &str, message: impl AsRef<str>) -> Value {
        Value::Error(Rc::new(ErrorObj { kind: Rc::from(kind), message: Rc::from(message.as_ref()), trace: RefCell::new(Vec::new()) }))
    }

    /// Whether dropping this value may release heap memory.
    #[inline(always)]
    pub fn is_heap(&self) -> bool {
        !matches!(self, Value::None | Value::Bool(_) | Value::Int(_) | Value::Float(_) | Value::Native(_) | Value::Undefined)
    }

    pub fn type_name(&self) -> &str {
        match self {
            Value::None => "none",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float",
            Value::Str(_) => "str",
            Value::List(_) => "list",
            Value::Map(_) => "map",
            Value::Range(_) => "range",
            Value::Func(_) | Value::Native(_) | Value::Bound(_) => "fn",
            Value::Class(_) => "class",
            Value::Instance(i) => &i.class.name,
            Value::Error(_) => "error",
            Value::Module(_) => "module",
            Value::Cell(_) => "cell",
            Value::Iter(_) => "iterator",
            Value::Future(_) => "future",
            Value::Actor(_) => "actor",
            Value::Set(_) => "set",
            Value::Matrix(_) => "matrix",
            Value::Object(o) => o.type_name(),
            Value::Undefined => "undefined",
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Value::None | Value::Undefined => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.borrow().is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Set(s) => !s.borrow().is_empty(),
            Value::Range(r) => !r.is_empty(),
            _ => true,
        }
    }

    pub fn to_key(&self) -> Result<Key, Value> {
        match self {
            Value::Int(i) => Ok(Key::Int(*i)),
            Value::Bool(b) => Ok(Key::Bool(*b)),
            Value::Str(s) => Ok(Key::Str(s.clone())),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Key::Int(*f as i64)),
            other => Err(Value::error("TypeError", format!("map keys must be str, int or bool, not {}", other.type_name()))),
        }
    }
}

impl std::fmt::Debug for Value {
    /// As Noodle prints the value inside a container (for tests and logs).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        super::format::repr(self, &mut out, &mut Default::default());
        f.write_str(&out)
    }
}

/// Shorthand for building a thrown error.
pub fn err<T>(kind: &str, message: impl AsRef<str>) -> Result<T, Value> {
    Err(Value::error(kind, message))
}

/// The largest string (bytes) and list (items) an operation may build: past
/// these a `ValueError` is cleaner than an allocation failure ending the
/// process. One limit for every operation that builds a string or a list.
pub const MAX_STR_BYTES: usize = 1 << 30;
pub const MAX_LIST_ITEMS: usize = 1 << 27;

/// Refuse building a string of `n` bytes past `MAX_STR_BYTES`.
pub fn check_str_size(n: usize) -> Result<(), Value> {
    if n > MAX_STR_BYTES {
        return err("ValueError", format!("a string of {n} bytes is too large (the limit is {MAX_STR_BYTES})"));
    }
    Ok(())
}

/// Refuse building a list of `n` items past `MAX_LIST_ITEMS`.
pub fn check_list_size(n: usize) -> Result<(), Value> {
    if n > MAX_LIST_ITEMS {
        return err("ValueError", format!("a list of {n} items is too large (the limit is {MAX_LIST_ITEMS})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn value_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }
}
