//! Tables both the compiler and the VM read, defined once here (bytecode is
//! the only contract between them): spawn options, restart policies,
//! placement strategies, and the synthetic method that sets an actor's state.

/// The `spawn ... with {...}` options and the type each takes. The compiler
/// checks literal options against this; the VM (`Options::parse`) accepts
/// exactly these names at run time.
pub const SPAWN_OPTIONS: &[(&str, &str)] = &[
    ("name", "str"),
    ("state_size", "int"),
    ("constraints", "list"),
    ("strategy", "str"),
    ("replicas", "int"),
    ("checkpoint_every", "int"),
    ("restart", "str"),
    ("max_restarts", "int"),
    ("mailbox", "int"),
    ("durable", "bool"),
    ("durability", "str"),
    ("checkpoint_interval", "int"),
    ("near", "actor"),
    ("require_node", "str"),
    ("avoid_node", "str"),
    ("cpus", "int"),
    ("memory", "int"),
    ("gpus", "int"),
];

/// `durability:` values (runtime.md §7): when a durable actor's state is
/// committed.
pub const DURABILITY_MODES: &[&str] = &["checkpoint", "turn"];

/// `restart:` values.
pub const RESTART_POLICIES: &[&str] = &["on_failure", "always", "never"];

/// `strategy:` values (runtime.md §6).
pub const STRATEGIES: &[&str] = &["local", "balanced", "affinity", "round_robin", "spread", "random"];

/// Strategies that spread actors over the workers on one node (all but
/// `"local"` and `"affinity"`, runtime.md §6).
pub const SPREADING_STRATEGIES: &[&str] = &["balanced", "round_robin", "spread", "random"];

/// The synthetic method that evaluates an actor's `state` defaults per spawn.
pub const STATE_INIT: &str = "$state";

/// A built-in's parameters (name, has a default) and whether it takes any
/// number of positional arguments. The compiler checks calls against this;
/// the VM's natives accept exactly this (`vm::builtins` tests both views).
pub type BuiltinParams = (&'static [(&'static str, bool)], bool);

pub fn builtin_params(name: &str) -> Option<BuiltinParams> {
    Some(match name {
        "print" => (&[("sep", true), ("end", true)], true),
        "ord" => (&[("c", false)], false),
        "chr" => (&[("code", false)], false),
        "list" | "set" => (&[("xs", true)], false),
        "vstack" | "hstack" => (&[("ms", false)], false),
        "$echo" => (&[("x", false)], false),
        "input" => (&[("prompt", true)], false),
        "len" | "type" | "enumerate" | "reversed" | "sqrt" | "floor" | "ceil" | "abs" => (&[("x", false)], false),
        "str" | "bool" => (&[("x", true)], false),
        "int" | "float" => (&[("x", true)], false),
        "range" => (&[("a", false), ("b", true), ("step", true)], false),
        "zip" => (&[("a", false), ("b", false)], false),
        "min" | "max" => (&[("key", true)], true),
        "sum" => (&[], true),
        "round" => (&[("x", false), ("n", true)], false),
        "sorted" => (&[("xs", false), ("key", true), ("reverse", true)], false),
        "Error" => (&[("message", false), ("kind", true)], false),
        "args" | "now" => (&[], false),
        "exit" => (&[("code", true)], false),
        "sleep" => (&[("ms", false)], false),
        "all" | "any" => (&[("futures", false)], false),
        "timeout" => (&[("future", false), ("ms", false)], false),
        "promise" => (&[], false),
        "lookup" => (&[("name", false)], false),
        "monitor" | "node_of" => (&[("actor", false)], false),
        "nodes" => (&[], false),
        "matrix" => (&[("rows", false)], false),
        "zeros" | "ones" => (&[("rows", false), ("cols", false)], false),
        "eye" => (&[("n", false)], false),
        "rand" => (&[("rows", false), ("cols", false), ("seed", true)], false),
        "send_message" => (&[("actor", false), ("message", false)], false),
        _ => return None,
    })
}
