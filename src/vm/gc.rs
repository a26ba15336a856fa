//! Cycle collection for reference-counted values (synchronous trial deletion,
//! after Bacon and Rajan). Reference counting frees everything except cycles,
//! and a cycle can only be closed by storing a container into a mutable
//! container (list, map, instance fields, cell): literals and closures point
//! only at values that already exist. So every such store registers the
//! mutated container as a *candidate*; when enough distinct candidates have
//! gathered, `collect` walks the containers reachable from them, counts the
//! references that come from inside that subgraph, and treats every node whose
//! strong count is higher as held from outside (registers, globals, native
//! code): it and everything it reaches are live. The rest is garbage that only
//! keeps itself alive; clearing its mutable containers breaks the cycles and
//! plain reference counting frees it.
//!
//! Needing no roots, a collection may run at any point where no `RefCell` of a
//! value is borrowed; borrowed cells are conservatively treated as live.

use super::value::*;
use rustc_hash::{FxHashMap, FxHashSet};
use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// Distinct candidates that trigger the first collection.
const MIN_THRESHOLD: usize = 10_000;

enum WeakNode {
    List(Weak<RefCell<ListVec>>),
    Map(Weak<RefCell<MapInner>>),
    Instance(Weak<Instance>),
    Cell(Weak<RefCell<Value>>),
}

#[derive(Default)]
struct Candidates {
    items: Vec<WeakNode>,
    seen: FxHashSet<usize>,
    threshold: usize,
    collections: usize,
    freed: usize,
}

thread_local! {
    static CANDIDATES: RefCell<Candidates> = RefCell::new(Candidates { threshold: MIN_THRESHOLD, ..Default::default() });
}

/// Whether a value can be part of a reference cycle.
#[inline(always)]
pub fn may_cycle(v: &Value) -> bool {
    matches!(
        v,
        Value::List(_)
            | Value::Map(_)
            | Value::Instance(_)
            | Value::Cell(_)
            | Value::Func(_)
            | Value::Bound(_)
            | Value::Iter(_)
            | Value::Class(_)
    )
}

/// Record that `stored` was just stored into `container`. Call it with no
/// `RefCell` of either borrowed: it may run a collection.
#[inline]
pub fn note_store(container: &Value, stored: &Value) {
    if may_cycle(stored) {
        note_container(container);
    }
}

#[cold]
pub fn note_container(container: &Value) {
    let (addr, weak) = match container {
        Value::List(l) => (Rc::as_ptr(l) as *const () as usize, WeakNode::List(Rc::downgrade(l))),
        Value::Map(m) => (Rc::as_ptr(m) as *const () as usize, WeakNode::Map(Rc::downgrade(m))),
        Value::Instance(i) => (Rc::as_ptr(i) as *const () as usize, WeakNode::Instance(Rc::downgrade(i))),
        Value::Cell(c) => (Rc::as_ptr(c) as *const () as usize, WeakNode::Cell(Rc::downgrade(c))),
        _ => return,
    };
    let run = CANDIDATES.with(|c| {
        let mut c = c.borrow_mut();
        if c.seen.insert(addr) {
            c.items.push(weak);
        }
        c.items.len() >= c.threshold
    });
    if run {
        collect();
    }
}

/// Register a captured-variable cell written through a closure's upvalue.
#[inline]
pub fn note_cell_store(cell: &Rc<RefCell<Value>>, stored: &Value) {
    if may_cycle(stored) {
        note_container(&Value::Cell(cell.clone()));
    }
}

/// A strong handle on one heap object the collector looks at.
enum Node {
    List(Rc<RefCell<ListVec>>),
    Map(Rc<RefCell<MapInner>>),
    Instance(Rc<Instance>),
    Cell(Rc<RefCell<Value>>),
    Func(Rc<Closure>),
    Bound(Rc<BoundMethod>),
    Class(Rc<Class>),
    Iter(Rc<RefCell<Iter>>),
}

impl Node {
    fn of(v: &Value) -> Option<Node> {
        Some(match v {
            Value::List(x) => Node::List(x.clone()),
            Value::Map(x) => Node::Map(x.clone()),
            Value::Instance(x) => Node::Instance(x.clone()),
            Value::Cell(x) => Node::Cell(x.clone()),
            Value::Func(x) => Node::Func(x.clone()),
            Value::Bound(x) => Node::Bound(x.clone()),
            Value::Class(x) => Node::Class(x.clone()),
            Value::Iter(x) => Node::Iter(x.clone()),
            _ => return None,
        })
    }

    fn addr(&self) -> usize {
        match self {
            Node::List(x) => Rc::as_ptr(x) as *const () as usize,
            Node::Map(x) => Rc::as_ptr(x) as *const () as usize,
            Node::Instance(x) => Rc::as_ptr(x) as *const () as usize,
            Node::Cell(x) => Rc::as_ptr(x) as *const () as usize,
            Node::Func(x) => Rc::as_ptr(x) as *const () as usize,
            Node::Bound(x) => Rc::as_ptr(x) as *const () as usize,
            Node::Class(x) => Rc::as_ptr(x) as *const () as usize,
            Node::Iter(x) => Rc::as_ptr(x) as *const () as usize,
        }
    }

    fn strong(&self) -> usize {
        match self {
            Node::List(x) => Rc::strong_count(x),
            Node::Map(x) => Rc::strong_count(x),
            Node::Instance(x) => Rc::strong_count(x),
            Node::Cell(x) => Rc::strong_count(x),
            Node::Func(x) => Rc::strong_count(x),
            Node::Bound(x) => Rc::strong_count(x),
            Node::Class(x) => Rc::strong_count(x),
            Node::Iter(x) => Rc::strong_count(x),
        }
    }

    /// The objects this one holds strong references to, one entry per
    /// reference. `None` when a `RefCell` is borrowed (then: keep it live).
    fn children(&self) -> Option<Vec<Node>> {
        let mut out = Vec::new();
        let mut push = |v: &Value| {
            if let Some(n) = Node::of(v) {
                out.push(n);
            }
        };
        match self {
            Node::List(x) => x.try_borrow().ok()?.iter().for_each(&mut push),
            Node::Map(x) => x.try_borrow().ok()?.values().for_each(&mut push),
            Node::Instance(x) => {
                x.fields.try_borrow().ok()?.values().for_each(&mut push);
                out.push(Node::Class(x.class.clone()));
            }
            Node::Cell(x) => push(&*x.try_borrow().ok()?),
            Node::Func(x) => out.extend(x.upvals.iter().map(|c| Node::Cell(c.clone()))),
            Node::Bound(x) => {
                push(&x.receiver);
                push(&x.method);
            }
            Node::Class(x) => {
                out.extend(x.methods.values().map(|m| Node::Func(m.clone())));
                if let Some(p) = &x.parent {
                    out.push(Node::Class(p.clone()));
                }
            }
            Node::Iter(x) => match &*x.try_borrow().ok()? {
                Iter::List { list, .. } => out.push(Node::List(list.clone())),
                Iter::Keys { items, .. } => items.iter().for_each(&mut push),
                Iter::Pairs { items, .. } => items.iter().for_each(|(k, v)| {
                    push(k);
                    push(v);
                }),
                Iter::Range { .. } | Iter::Chars { .. } | Iter::Rows { .. } => {}
            },
        }
        Some(out)
    }

    /// Empty a garbage container, returning what it held (dropped by the caller
    /// after every container is emptied).
    fn clear(&self, trash: &mut Vec<Value>) {
        match self {
            Node::List(x) => {
                if let Ok(mut l) = x.try_borrow_mut() {
                    trash.extend(l.drain(..));
                }
            }
            Node::Map(x) => {
                if let Ok(mut m) = x.try_borrow_mut() {
                    trash.extend(m.drain(..).map(|(_, v)| v));
                }
            }
            Node::Instance(x) => {
                if let Ok(mut f) = x.fields.try_borrow_mut() {
                    trash.extend(f.drain(..).map(|(_, v)| v));
                }
            }
            Node::Cell(x) => {
                if let Ok(mut c) = x.try_borrow_mut() {
                    trash.push(std::mem::take(&mut *c));
                }
            }
            Node::Iter(x) => {
                if let Ok(mut it) = x.try_borrow_mut() {
                    *it = Iter::Range { next: 0, end: 0, step: 1 };
                }
            }
            // Immutable once built: never the edge that closes a cycle.
            Node::Func(_) | Node::Bound(_) | Node::Class(_) => {}
        }
    }
}

/// Run a collection now over the registered candidates.
pub fn collect() {
    let weak = CANDIDATES.with(|c| {
        let mut c = c.borrow_mut();
        c.seen.clear();
        std::mem::take(&mut c.items)
    });
    // The subgraph reachable from the candidates, one strong handle per node.
    let mut index: FxHashMap<usize, usize> = FxHashMap::default();
    let mut nodes: Vec<Node> = Vec::new();
    for w in weak {
        let n = match w {
            WeakNode::List(x) => x.upgrade().map(Node::List),
            WeakNode::Map(x) => x.upgrade().map(Node::Map),
            WeakNode::Instance(x) => x.upgrade().map(Node::Instance),
            WeakNode::Cell(x) => x.upgrade().map(Node::Cell),
        };
        if let Some(n) = n {
            if let std::collections::hash_map::Entry::Vacant(e) = index.entry(n.addr()) {
                e.insert(nodes.len());
                nodes.push(n);
            }
        }
    }
    let mut internal = vec![0usize; nodes.len()];
    let mut edges: Vec<Vec<usize>> = Vec::new();
    let mut opaque = vec![false; nodes.len()];
    let mut i = 0;
    while i < nodes.len() {
        let mut out = Vec::new();
        match nodes[i].children() {
            Some(children) => {
                for c in children {
                    let j = match index.get(&c.addr()) {
                        Some(&j) => j,
                        None => {
                            let j = nodes.len();
                            index.insert(c.addr(), j);
                            nodes.push(c);
                            internal.push(0);
                            opaque.push(false);
                            j
                        }
                    };
                    internal[j] += 1;
                    out.push(j);
                }
            }
            None => opaque[i] = true,
        }
        edges.push(out);
        i += 1;
    }
    // Held from outside: more strong references than the subgraph (plus our
    // own handle) accounts for. Everything such a node reaches is live.
    let mut live = vec![false; nodes.len()];
    let mut work: Vec<usize> = (0..nodes.len()).filter(|&i| opaque[i] || nodes[i].strong() > internal[i] + 1).collect();
    for &i in &work {
        live[i] = true;
    }
    while let Some(i) = work.pop() {
        for &j in &edges[i] {
            if !live[j] {
                live[j] = true;
                work.push(j);
            }
        }
    }
    let mut trash = Vec::new();
    let mut freed = 0;
    for (n, _) in nodes.iter().zip(&live).filter(|(_, l)| !**l) {
        n.clear(&mut trash);
        freed += 1;
    }
    let traversed = nodes.len();
    drop(trash);
    drop(nodes);
    CANDIDATES.with(|c| {
        let mut c = c.borrow_mut();
        c.threshold = MIN_THRESHOLD.max(2 * (traversed - freed));
        c.collections += 1;
        c.freed += freed;
    });
}

/// (collections run, objects freed) on this thread, for tests and diagnostics.
pub fn stats() -> (usize, usize) {
    CANDIDATES.with(|c| {
        let c = c.borrow();
        (c.collections, c.freed)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_that_holds_itself_is_freed() {
        let l = Value::list(vec![]);
        if let Value::List(x) = &l {
            x.borrow_mut().push(l.clone());
        }
        note_store(&l, &l);
        let Value::List(x) = &l else { unreachable!() };
        let weak = Rc::downgrade(x);
        drop(l);
        assert!(weak.upgrade().is_some(), "the cycle keeps itself alive");
        collect();
        assert!(weak.upgrade().is_none(), "the collector frees it");
    }

    #[test]
    fn a_live_cycle_survives() {
        let a = Value::list(vec![Value::Int(1)]);
        let b = Value::list(vec![a.clone()]);
        if let Value::List(x) = &a {
            x.borrow_mut().push(b.clone());
        }
        note_store(&a, &b);
        collect();
        // `a` is still held here, so neither list may be emptied.
        let Value::List(x) = &a else { unreachable!() };
        assert_eq!(x.borrow().len(), 2);
        let Value::List(y) = &b else { unreachable!() };
        assert_eq!(y.borrow().len(), 1);
    }

    #[test]
    fn a_cycle_through_a_closure_cell_is_freed() {
        // def f() { ... f ... } as a local: the cell holds a closure that holds the cell.
        let cell = Rc::new(RefCell::new(Value::None));
        let proto = crate::bytecode::Function {
            name: "f".into(),
            module: 0,
            params: vec![],
            is_method: false,
            is_async: false,
            num_regs: 1,
            upvals: vec![],
            code: vec![],
            spans: vec![],
        };
        let func = Rc::new(Closure::new(Rc::new(proto), 0, vec![cell.clone()]));
        *cell.borrow_mut() = Value::Func(func.clone());
        note_cell_store(&cell, &Value::Func(func.clone()));
        let weak = Rc::downgrade(&func);
        drop(func);
        drop(cell);
        collect();
        assert!(weak.upgrade().is_none());
    }
}
