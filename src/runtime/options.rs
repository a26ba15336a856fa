//! The options of `spawn ... with {...}` (language.md §7) as the runtime
//! reads them, checked against the compiler's tables in `bytecode::tables`.

use super::DEFAULT_MAILBOX;
use crate::bytecode::tables::{DURABILITY_MODES, RESTART_POLICIES, SPAWN_OPTIONS, SPREADING_STRATEGIES, STRATEGIES};
use crate::cluster::Resources;
use crate::vm::value::*;

/// `constraints:` values.
pub const CONSTRAINTS: &[&str] = &["stateful"];

#[derive(Clone, Copy, PartialEq, Debug, serde::Serialize, serde::Deserialize)]
pub enum Restart {
    OnFailure,
    Always,
    Never,
}

impl Restart {
    /// A name from `RESTART_POLICIES` (anything else: never).
    fn from_name(s: &str) -> Restart {
        match s {
            "on_failure" => Restart::OnFailure,
            "always" => Restart::Always,
            _ => Restart::Never,
        }
    }
}

/// The options of `spawn ... with {...}` that this node acts on (the
/// placement ones are accepted and checked, and used by the placement engine).
/// They travel with an actor that moves to another node (`migrate.rs`).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Options {
    pub name: Option<String>,
    pub mailbox: usize,
    pub restart: Restart,
    pub max_restarts: u32,
    pub checkpoint_every: u32,
    /// `"balanced"`/`"spread"`: round-robin over the workers; otherwise the
    /// spawner's own worker.
    pub spread: bool,
    /// `durable: true`: the named actor's state outlives the process
    /// (`durable.rs`).
    pub durable: bool,
    /// `durability: "turn"`: commit each turn that changed the state
    /// before its reply or sends leave (`persist.rs`).
    pub turn: bool,
    /// `checkpoint_interval` in ms (0: none).
    pub interval_ms: u64,
    /// Resource needs and node constraints, when any are given (then the
    /// placement engine decides whether the actor can run here).
    pub place: Option<Box<Needs>>,
    /// The `strategy:` given (`"local"` by default).
    #[serde(with = "strategy_name")]
    pub strategy: StrategyName,
    /// `near: ref` (affinity): the actor to run beside (where it was spawned).
    #[serde(skip)]
    pub near: Option<std::sync::Arc<crate::vm::host::ActorCell>>,
}

/// One of `STRATEGIES` (an alias: serde would take a literal `&str` field
/// for one borrowed from its input).
pub type StrategyName = &'static str;

/// A strategy's name as one of `STRATEGIES` (static, compared by value).
mod strategy_name {
    use crate::bytecode::tables::STRATEGIES;

    pub fn serialize<S: serde::Serializer>(s: &&'static str, ser: S) -> Result<S::Ok, S::Error> {
        ser.serialize_str(s)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(de: D) -> Result<&'static str, D::Error> {
        let s: String = serde::Deserialize::deserialize(de)?;
        Ok(STRATEGIES.iter().find(|x| **x == s).copied().unwrap_or("local"))
    }
}

/// What `spawn ... with {...}` asks of the node that runs the actor.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Needs {
    pub resources: Resources,
    pub stateful: bool,
    pub state_size: u64,
    pub require_node: Option<String>,
    pub avoid_node: Option<String>,
    pub replicas: Option<u64>,
}

impl Needs {
    /// The placement engine's request for an actor of `class` with these needs.
    pub fn request(&self, class: &str, strategy: &str) -> crate::cluster::Request {
        use crate::cluster::{Request, Strategy};
        let mut req = Request::new(class, Strategy::from_name(strategy).unwrap_or(Strategy::Local));
        req.needs = self.resources;
        req.stateful = self.stateful;
        req.state_size = self.state_size;
        req.require_node = self.require_node.clone();
        req.avoid_node = self.avoid_node.clone();
        req.replicas = self.replicas.unwrap_or(0);
        req
    }
}

impl Options {
    /// How many other nodes keep copies of a durable actor's record
    /// (`replicas:`, 1 by default).
    pub fn copies(&self) -> usize {
        self.place.as_ref().and_then(|p| p.replicas).unwrap_or(1) as usize
    }

    pub fn parse(v: &Value) -> Result<Options, Value> {
        let mut o = Options {
            name: None,
            mailbox: DEFAULT_MAILBOX,
            restart: Restart::OnFailure,
            max_restarts: 3,
            checkpoint_every: 0,
            spread: false,
            durable: false,
            turn: false,
            interval_ms: 0,
            place: None,
            strategy: "local",
            near: None,
        };
        let m = match v {
            Value::None => return Ok(o),
            Value::Map(m) => m.borrow(),
            other => return err("TypeError", format!("spawn options must be a map, not {}", other.type_name())),
        };
        for (k, v) in m.iter() {
            let Key::Str(k) = k else {
                return err("TypeError", "spawn option names are strings");
            };
            let count = |min: i64| match v {
                Value::Int(n) if *n >= min => Ok(*n),
                Value::Int(_) => err("ValueError", format!("spawn option `{k}` must be at least {min}")),
                other => err("TypeError", format!("spawn option `{k}` takes int, not {}", other.type_name())),
            };
            match k.as_str() {
                "name" => match v {
                    Value::Str(s) => o.name = Some(s.to_string()),
                    Value::None => {}
                    other => return err("TypeError", format!("spawn option `name` takes str, not {}", other.type_name())),
                },
                "mailbox" => o.mailbox = count(1)?.min(1 << 24) as usize,
                "max_restarts" => o.max_restarts = count(0)?.min(u32::MAX as i64) as u32,
                "checkpoint_every" => o.checkpoint_every = count(0)?.min(u32::MAX as i64) as u32,
                "checkpoint_interval" => o.interval_ms = count(0)? as u64,
                // Placement needs: the placement engine weighs them.
                "replicas" | "state_size" | "cpus" | "memory" | "gpus" => {
                    let n = count(0)? as u64;
                    let p = o.place.get_or_insert_with(Default::default);
                    match k.as_str() {
                        "replicas" => p.replicas = Some(n),
                        "state_size" => p.state_size = n,
                        "cpus" => p.resources.cpus = n,
                        "memory" => p.resources.memory = n,
                        _ => p.resources.gpus = n,
                    }
                }
                "near" => {
                    if !matches!(v, Value::Actor(_) | Value::Str(_) | Value::None) {
                        return err("TypeError", format!("spawn option `near` takes an actor, not {}", v.type_name()));
                    }
                    if let Value::Actor(c) = v {
                        o.near = Some(c.clone());
                    }
                }
                "require_node" | "avoid_node" => {
                    let node = match v {
                        Value::Str(s) => s.to_string(),
                        Value::None => continue,
                        other => return err("TypeError", format!("spawn option `{k}` takes str, not {}", other.type_name())),
                    };
                    let p = o.place.get_or_insert_with(Default::default);
                    if k.as_str() == "require_node" {
                        p.require_node = Some(node);
                    } else {
                        p.avoid_node = Some(node);
                    }
                }
                "durability" => {
                    o.turn = match v {
                        Value::Str(s) if DURABILITY_MODES.contains(&s.as_str()) => &**s == "turn",
                        other => return err("ValueError", format!("unknown durability {other:?} (use \"checkpoint\" or \"turn\")")),
                    }
                }
                "restart" => {
                    o.restart = match v {
                        Value::Str(s) if RESTART_POLICIES.contains(&s.as_str()) => Restart::from_name(s),
                        other => return err("ValueError", format!("unknown restart policy {other:?}")),
                    }
                }
                "strategy" => match v {
                    Value::Str(s) if STRATEGIES.contains(&s.as_str()) => {
                        o.spread = SPREADING_STRATEGIES.contains(&s.as_str());
                        o.strategy = STRATEGIES.iter().find(|x| **x == s.as_str()).copied().unwrap_or("local");
                    }
                    other => return err("ValueError", format!("unknown placement strategy {other:?}")),
                },
                "durable" => match v {
                    Value::Bool(b) => o.durable = *b,
                    other => return err("TypeError", format!("spawn option `durable` takes bool, not {}", other.type_name())),
                },
                "constraints" => {
                    let Value::List(l) = v else {
                        return err("TypeError", format!("spawn option `constraints` takes list, not {}", v.type_name()));
                    };
                    for c in l.borrow().iter() {
                        match c {
                            Value::Str(s) if CONSTRAINTS.contains(&s.as_str()) => {
                                o.place.get_or_insert_with(Default::default).stateful = true
                            }
                            other => {
                                return err(
                                    "ValueError",
                                    format!("unknown constraint {other:?} (the constraints are: {})", CONSTRAINTS.join(", ")),
                                );
                            }
                        }
                    }
                }
                other => {
                    let names: Vec<&str> = SPAWN_OPTIONS.iter().map(|(n, _)| *n).collect();
                    return err("ValueError", format!("unknown spawn option `{other}` (the options are: {})", names.join(", ")));
                }
            }
        }
        if !o.durable && (o.turn || o.interval_ms > 0) {
            let what = if o.turn { "durability: \"turn\"" } else { "checkpoint_interval" };
            return err("ValueError", format!("spawn option {what} is for durable actors: add `durable: true` (and a name)"));
        }
        if o.durable && o.name.is_none() {
            return err("ValueError", "a durable actor needs a name: spawn ... with {name: \"...\", durable: true}");
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    fn opts(pairs: &[(&str, Value)]) -> Result<Options, Value> {
        let mut m = MapInner::default();
        for (k, v) in pairs {
            m.insert(Key::Str(Rc::new(k.to_string())), v.clone());
        }
        Options::parse(&Value::map(m))
    }

    /// The compiler's view (the tables in `bytecode::tables`) and the VM's
    /// (`Options::parse`) agree: every option, policy and strategy the
    /// compiler accepts is accepted at run time, and names outside the table
    /// are refused.
    #[test]
    fn spawn_tables_agree_with_the_vm() {
        for (name, ty) in SPAWN_OPTIONS {
            let v = match *ty {
                "str" if *name == "restart" => Value::str("never"),
                "str" if *name == "strategy" => Value::str("local"),
                "str" if *name == "durability" => Value::str("checkpoint"),
                "str" => Value::str("x"),
                "int" => Value::Int(1),
                "list" => Value::list(vec![]),
                "bool" => Value::Bool(false),
                "actor" => Value::None,
                other => panic!("unknown option type {other}"),
            };
            // The durability options need a durable (so named) actor.
            let with = [(*name, v), ("durable", Value::Bool(true)), ("name", Value::str("n"))];
            assert!(opts(&with[..if *name == "checkpoint_interval" { 3 } else { 1 }]).is_ok(), "the VM refuses option `{name}`");
        }
        assert!(opts(&[("no_such_option", Value::Int(1))]).is_err());
        for p in RESTART_POLICIES {
            assert!(opts(&[("restart", Value::str(p))]).is_ok(), "restart {p}");
        }
        assert!(opts(&[("restart", Value::str("sometimes"))]).is_err());
        assert!(opts(&[("durability", Value::str("turn"))]).is_err(), "turn without durable");
        assert!(opts(&[("durability", Value::str("sometimes")), ("durable", Value::Bool(true)), ("name", Value::str("n"))]).is_err());
        for st in STRATEGIES {
            let o = opts(&[("strategy", Value::str(st))]).expect("strategy");
            assert_eq!(o.spread, SPREADING_STRATEGIES.contains(st), "strategy {st}");
        }
        assert!(opts(&[("strategy", Value::str("nowhere"))]).is_err());
    }

    #[test]
    fn spawn_options_defaults_and_checks() {
        let o = Options::parse(&Value::None).unwrap();
        assert_eq!((o.mailbox, o.max_restarts, o.restart, o.spread), (DEFAULT_MAILBOX, 3, Restart::OnFailure, false));
        let o = opts(&[("restart", Value::str("never")), ("mailbox", Value::Int(8)), ("strategy", Value::str("balanced"))]).unwrap();
        assert_eq!((o.restart, o.mailbox, o.spread), (Restart::Never, 8, true));
        for bad in
            [("mailbox", Value::Int(0)), ("restart", Value::str("sometimes")), ("colour", Value::Int(1)), ("max_restarts", Value::str("3"))]
        {
            assert!(opts(&[bad]).is_err());
        }
    }
}
