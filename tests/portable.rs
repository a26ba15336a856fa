//! Values in portable form (what actors exchange and checkpoints store): a deep
//! copy that keeps sharing and cycles, survives rmp-serde, and rebuilds on a
//! VM in another thread running the same program.

use noodle::driver;
use noodle::vm::format::to_display;
use noodle::vm::portable::{to_portable, Packet};
use noodle::vm::{Exit, Value, Vm};
use std::path::Path;

const SRC: &str = r#"
class Shape { def init(n) { self.n = n } def area() { return 0 } def describe() { return f"{self.n}: {self.area()}" } }
class Square extends Shape {
    def init(s) { super.init("square"); self.s = s }
    def area() { return self.s * self.s }
}
def counter(start) {
    var n = start
    return || { n += 1; return n }
}
var ring = [1, "two", 3.5, none, true, {"k": [1, 2]}]
ring.append(ring)
let shared = [7]
let pair = [shared, shared]
let sq = Square(3)
let next = counter(10)
next()
def make_self_ref() {
    def again(k) { if k == 0 { return "done" } return again(k - 1) }
    return again
}
let rec = make_self_ref()
let bound = sq.describe
let err = Error("boom", kind: "ValueError")
"#;

fn program() -> std::sync::Arc<noodle::bytecode::Verified> {
    let p =
        driver::compile_file(Path::new("portable_test.nd"), SRC.to_string()).map_err(|_| "compile").expect("test program compiles").program;
    std::sync::Arc::new(noodle::bytecode::verify(p).expect("verified"))
}

fn run(p: &std::sync::Arc<noodle::bytecode::Verified>) -> Vm {
    let mut vm = Vm::new();
    vm.load(p);
    let node = noodle::runtime::Node::new(1, p.clone(), &vm);
    noodle::runtime::attach(&mut vm, node);
    let entry = &p.modules[p.entry as usize];
    assert!(matches!(vm.run_main(p.entry, entry.main), Exit::Finished(_)));
    vm
}

fn trip(vm: &Vm, name: &str) -> Packet {
    let v = vm.global(0, name).expect("global");
    let packet = to_portable(&v).expect("portable");
    let bytes = rmp_serde::to_vec(&packet).expect("serialize");
    rmp_serde::from_slice(&bytes).expect("deserialize")
}

#[test]
fn values_cross_to_another_thread_and_vm() {
    let p = program();
    let vm = run(&p);
    let names = ["ring", "pair", "sq", "next", "rec", "bound", "err"];
    let packets: Vec<Packet> = names.iter().map(|n| trip(&vm, n)).collect();
    let p2 = p.clone();
    let out = std::thread::spawn(move || {
        let mut other = Vm::new();
        other.load(&p2);
        let vals: Vec<Value> = packets.iter().map(|pk| other.from_portable(pk).expect("rebuild")).collect();
        let mut lines = Vec::new();
        // The cycle is kept: element 6 of ring is ring itself.
        lines.push(to_display(&vals[0]));
        // Sharing is kept: both elements are one list.
        if let Value::List(l) = &vals[1] {
            let l = l.borrow();
            if let (Value::List(a), Value::List(b)) = (&l[0], &l[1]) {
                lines.push(format!("shared {}", std::rc::Rc::ptr_eq(a, b)));
            }
        }
        lines.push(to_display(&vals[2]));
        // Methods, closures with captured state, recursive local functions.
        let area = other.call_value(&vals[5], &[]).expect("bound method runs");
        lines.push(to_display(&area));
        let n = other.call_value(&vals[3], &[]).expect("closure runs");
        lines.push(to_display(&n));
        let r = other.call_value(&vals[4], &[Value::Int(50)]).expect("recursive closure runs");
        lines.push(to_display(&r));
        lines.push(to_display(&vals[6]));
        lines
    })
    .join()
    .expect("thread");
    assert_eq!(
        out,
        vec![
            r#"[1, "two", 3.5, none, true, {"k": [1, 2]}, [...]]"#.to_string(),
            "shared true".into(),
            "Square{n: \"square\", s: 3}".into(),
            "square: 9".into(),
            "12".into(),
            "done".into(),
            "ValueError: boom".into(),
        ]
    );
}

#[test]
fn futures_do_not_travel() {
    // A promise may be sent (its copy forwards completion); a task's future not.
    let src = "async def f() { return 1 }\nlet p = f()\n";
    let p = driver::compile_file(Path::new("f.nd"), src.to_string()).map_err(|_| "compile").expect("compiles").program;
    let p = std::sync::Arc::new(noodle::bytecode::verify(p).expect("verified"));
    let vm = run(&p);
    let v = vm.global(0, "p").expect("global");
    let e = to_portable(&v).expect_err("a future cannot be sent");
    assert!(Vm::describe_error(&e).starts_with("TypeError: a future cannot be sent"));
}

mod malformed {
    use super::*;
    use noodle::vm::portable::Portable;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Portable> {
        prop_oneof![
            Just(Portable::None),
            any::<i64>().prop_map(Portable::Int),
            any::<u32>().prop_map(|n| Portable::Seen(n % 8)),
            any::<u32>().prop_map(|n| Portable::Cell(n % 4)),
            any::<u32>().prop_map(|n| Portable::Builtin(n % 64)),
            any::<u32>().prop_map(|n| Portable::Func { func: n % 8, upvals: vec![] }),
            ".{0,8}".prop_map(Portable::Str),
            (any::<u64>(), any::<u32>()).prop_map(|(id, owner)| Portable::Promise { id, owner }),
            (proptest::option::of(any::<u32>()), ".{0,6}").prop_map(|(index, name)| Portable::Module { index, name }),
        ]
    }

    fn tree() -> impl Strategy<Value = Portable> {
        leaf().prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Portable::List),
                (inner.clone(), inner.clone()).prop_map(|(a, b)| Portable::Bound { receiver: Box::new(a), method: Box::new(b) }),
                (".{0,4}", proptest::collection::vec((".{0,4}", inner.clone()), 0..3)).prop_map(|(n, m)| Portable::Class {
                    name: n,
                    parent: None,
                    methods: m,
                    states: None
                }),
                (inner.clone(), proptest::collection::vec((".{0,4}", inner), 0..3))
                    .prop_map(|(c, f)| Portable::Instance { class: Box::new(c), fields: f }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Packets may come from the network: any shape decodes to a value or
        /// a `ValueError`, never a panic.
        #[test]
        fn random_packets_never_panic(root in tree(), cells in proptest::collection::vec(tree(), 0..3)) {
            let p = program();
            let vm = run(&p);
            let packet = Packet { root, cells, globals: Vec::new() };
            let _ = vm.from_portable(&packet);
            let _ = vm.from_portable_args(&packet);
        }

        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(packet) = rmp_serde::from_slice::<Packet>(&bytes) {
                let vm = Vm::new();
                let _ = vm.from_portable(&packet);
            }
        }
    }
}
