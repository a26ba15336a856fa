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
];

/// `restart:` values.
pub const RESTART_POLICIES: &[&str] = &["on_failure", "always", "never"];

/// `strategy:` values (runtime.md §6).
pub const STRATEGIES: &[&str] = &["affinity", "balanced", "spread", "local"];

/// Strategies that spread actors over the workers on one node.
pub const SPREADING_STRATEGIES: &[&str] = &["balanced", "spread"];

/// The synthetic method that evaluates an actor's `state` defaults per spawn.
pub const STATE_INIT: &str = "$state";
