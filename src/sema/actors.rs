//! The compile-time rules of actors (language.md §7): state fields, reserved
//! names, what may be assigned on `self`, and literal `spawn` options.

use super::{ActorScope, Analyzer, FnKind};
use crate::diag::Diagnostic;
use crate::parser::ast::*;

pub use crate::bytecode::tables::{DURABILITY_MODES, RESTART_POLICIES, SPAWN_OPTIONS, STRATEGIES};

impl<'a> Analyzer<'a> {
    pub(super) fn actor_decl(&mut self, a: &ActorDecl) {
        let mut seen: Vec<&str> = Vec::new();
        for s in &a.states {
            if ACTOR_RESERVED.contains(&s.name.as_str()) {
                self.error(
                    "E0220",
                    format!("`{}` is reserved in actors", s.name),
                    s.span,
                    "`self.id`, `self.name`, `self.checkpoint()` and `self.stop()` are provided",
                );
            } else if seen.contains(&s.name.as_str()) {
                self.error("E0201", format!("state field `{}` is declared twice", s.name), s.span, "declared again here");
            }
            seen.push(&s.name);
        }
        for m in &a.methods {
            if let Some(n) = &m.name {
                if ACTOR_RESERVED.contains(&n.name.as_str()) {
                    self.error("E0220", format!("`{}` is reserved in actors", n.name), n.span, "choose another handler name");
                } else if a.states.iter().any(|s| s.name == n.name) {
                    self.error("E0201", format!("`{}` is both a state field and a handler", n.name), n.span, "rename one of them");
                }
            }
        }
        let outer = self.actor.replace(ActorScope { name: a.name.name.clone(), states: a.states.iter().map(|s| s.name.clone()).collect() });
        for m in &a.methods {
            self.function(m, FnKind::Method { has_parent: false });
        }
        self.actor = outer;
    }

    /// `self.x = ...` inside an actor: `x` must be a declared `state` field.
    pub(super) fn check_state_assign(&mut self, field: &Ident) {
        let Some(a) = &self.actor else { return };
        if a.states.contains(&field.name) {
            return;
        }
        let title = if ACTOR_RESERVED.contains(&field.name.as_str()) {
            format!("`self.{}` cannot be assigned", field.name)
        } else {
            format!("`{}` is not a state field of actor `{}`", field.name, a.name)
        };
        let d = Diagnostic::new("E0221", title, field.span, "only `state` fields may be assigned on `self`")
            .note(format!("declare it in the actor: `state {} = ...`", field.name));
        self.diags.push(d);
    }

    /// Check a literal options map of `spawn A(...) with {...}`.
    pub(super) fn check_spawn_options(&mut self, o: &Expr) {
        let ExprKind::Map(entries) = &o.kind else { return };
        let named = entries.iter().any(|(k, v)| matches!(k, MapKey::Str(s) if s == "name") && !matches!(v.kind, ExprKind::None));
        let dynamic = entries.iter().any(|(k, _)| !matches!(k, MapKey::Str(_)));
        if let Some((_, v)) =
            entries.iter().find(|(k, v)| matches!(k, MapKey::Str(s) if s == "durable") && matches!(v.kind, ExprKind::Bool(true)))
        {
            if !named && !dynamic {
                self.error("E0225", "a durable actor needs a name", v.span, "add `name: \"...\"` to the options");
            }
        }
        for (k, v) in entries {
            let MapKey::Str(key) = k else { continue };
            let Some((_, want)) = SPAWN_OPTIONS.iter().find(|(n, _)| n == key) else {
                let names: Vec<&str> = SPAWN_OPTIONS.iter().map(|(n, _)| *n).collect();
                self.diags.push(
                    Diagnostic::new("E0225", format!("unknown spawn option `{key}`"), v.span, "not an actor option")
                        .note(format!("options: {}", names.join(", "))),
                );
                continue;
            };
            let got = match &v.kind {
                ExprKind::Int(_) => "int",
                ExprKind::Str(_) => "str",
                ExprKind::List(_) => "list",
                ExprKind::Float(_) => "float",
                ExprKind::Bool(_) => "bool",
                ExprKind::Map(_) => "map",
                ExprKind::None => "none",
                _ => continue,
            };
            if got != *want && !(*want == "actor" && got == "str") {
                self.error("E0225", format!("spawn option `{key}` takes {want}, not {got}"), v.span, format!("expected {want}"));
                continue;
            }
            match (key.as_str(), &v.kind) {
                ("restart", ExprKind::Str(s)) if !RESTART_POLICIES.contains(&s.as_str()) => {
                    self.error("E0225", format!("unknown restart policy \"{s}\""), v.span, "use \"on_failure\", \"always\" or \"never\"")
                }
                ("strategy", ExprKind::Str(s)) if !STRATEGIES.contains(&s.as_str()) => self.error(
                    "E0225",
                    format!("unknown placement strategy \"{s}\""),
                    v.span,
                    format!("use one of: {}", STRATEGIES.join(", ")),
                ),
                ("durability", ExprKind::Str(s)) if !DURABILITY_MODES.contains(&s.as_str()) => {
                    self.error("E0225", format!("unknown durability \"{s}\""), v.span, "use \"checkpoint\" (the default) or \"turn\"")
                }
                (
                    "max_restarts" | "checkpoint_every" | "checkpoint_interval" | "replicas" | "state_size" | "cpus" | "memory" | "gpus",
                    ExprKind::Int(n),
                ) if *n < 0 => self.error("E0225", format!("spawn option `{key}` cannot be negative"), v.span, "expected a count"),
                ("mailbox", ExprKind::Int(0)) => {
                    self.error("E0225", format!("spawn option `{key}` must be at least 1"), v.span, "expected a positive count")
                }
                _ => {}
            }
        }
    }
}

impl Analyzer<'_> {
    /// The `let` just declared in this block holds a reference to actor `class`.
    pub(super) fn note_local_actor(&mut self, class: String) {
        if self.lookup_local(&class).is_some() || !self.scope.globals.get(&class).is_some_and(|g| g.is_actor) {
            return;
        }
        if let Some((_, d)) = self.cur().blocks.last_mut().and_then(|b| b.last_mut()) {
            d.actor_of = Some(class);
        }
    }

    /// `r.m(...)` where `r` is a `let` bound to `spawn A(...)`: `m` must be a
    /// handler of `A` (elsewhere the call's `TypeError` at run time stays).
    pub(super) fn check_handler(&mut self, recv: &Expr, method: &Ident) {
        let ExprKind::Name(r) = &recv.kind else { return };
        let class = match self.lookup_local(&r.name) {
            Some((_, d)) => d.actor_of,
            None => self.scope.globals.get(&r.name).and_then(|g| g.actor_of.clone()),
        };
        let Some(class) = class else { return };
        if self.lookup_local(&class).is_some() || !self.scope.globals.get(&class).is_some_and(|g| g.is_actor) {
            return;
        }
        let Some(handlers) = self.scope.actor_handlers.get(&class) else { return };
        if handlers.contains(&method.name) {
            return;
        }
        let mut d = Diagnostic::new(
            "E0229",
            format!("actor `{class}` has no handler `{}`", method.name),
            method.span,
            format!("`{}` is bound to `spawn {class}(...)`", r.name),
        );
        d = match crate::suggest::closest(&method.name, handlers.iter().map(String::as_str)) {
            _ if method.name == "init" => d.note("`init` runs once, when the actor is spawned; it is not a handler"),
            Some(best) => d.note(format!("did you mean `{best}`?")),
            None if handlers.is_empty() => d.note(format!("`{class}` has no handlers")),
            None => d.note(format!("its handlers: {}", handlers.join(", "))),
        };
        self.diags.push(d);
    }
}
