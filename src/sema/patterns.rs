//! Patterns, `match`, comprehensions and `is` tests in the analyzer.

use super::{pattern_names, Analyzer, NameRes};
use crate::diag::Diagnostic;
use crate::parser::ast::*;

/// Type names `x is T` accepts besides classes (what `type(x)` returns).
pub const TYPE_NAMES: &[&str] =
    &["int", "float", "bool", "str", "list", "map", "set", "range", "matrix", "fn", "future", "actor", "error", "none"];

impl Analyzer<'_> {
    /// `let` and `for` take patterns that always match a value of the
    /// right shape: names, `_` and lists of them.
    pub(super) fn check_binding_pattern(&mut self, p: &Pattern) {
        if !p.is_binding() {
            self.diags.push(
                Diagnostic::new("E0227", "this pattern can fail to match here", p.span(), "only names, `_` and lists of them bind here")
                    .note("use `match` to test a value against a pattern"),
            );
        }
    }

    pub(super) fn match_stmt(&mut self, value: &Expr, arms: &[MatchArm]) {
        self.expr(value);
        for arm in arms {
            self.push_block();
            self.pattern_uses(&arm.pattern);
            self.check_alternatives(&arm.pattern);
            let mut names = Vec::new();
            pattern_names(&arm.pattern, &mut names);
            let mut seen = std::collections::HashSet::new();
            for n in names {
                // Alternatives bind the same names; each is declared once.
                if seen.insert(n.name.clone()) {
                    self.declare(n, true, None);
                }
            }
            if let Some(g) = &arm.guard {
                self.expr(g);
            }
            self.block(&arm.body);
            self.pop_block();
        }
    }

    /// What a pattern reads: literals, and class names.
    fn pattern_uses(&mut self, p: &Pattern) {
        match p {
            Pattern::Name(_) | Pattern::Wildcard(_) => {}
            Pattern::List(v, _) | Pattern::Or(v, _) => v.iter().for_each(|q| self.pattern_uses(q)),
            Pattern::Rest(q, _) => self.pattern_uses(q),
            Pattern::Literal(e) => self.expr(e),
            Pattern::Map(v, _) => v.iter().for_each(|(_, q)| self.pattern_uses(q)),
            Pattern::Class { class, fields, .. } => {
                self.expr(class);
                fields.iter().for_each(|(_, q)| self.pattern_uses(q));
            }
        }
    }

    /// The alternatives of `a | b` bind the same names, so the arm's body
    /// can use them whichever matched.
    fn check_alternatives(&mut self, p: &Pattern) {
        match p {
            Pattern::Or(alts, span) => {
                let names_of = |q: &Pattern| {
                    let mut v = Vec::new();
                    pattern_names(q, &mut v);
                    let mut n: Vec<String> = v.into_iter().map(|i| i.name.clone()).collect();
                    n.sort();
                    n
                };
                let first = names_of(&alts[0]);
                if alts.iter().any(|a| names_of(a) != first) {
                    self.diags.push(
                        Diagnostic::new("E0228", "alternatives bind different names", *span, "each alternative must bind the same names")
                            .note("the arm's body cannot tell which alternative matched"),
                    );
                }
                alts.iter().for_each(|a| self.check_alternatives(a));
            }
            Pattern::List(v, _) => v.iter().for_each(|q| self.check_alternatives(q)),
            Pattern::Rest(q, _) => self.check_alternatives(q),
            Pattern::Map(v, _) => v.iter().for_each(|(_, q)| self.check_alternatives(q)),
            Pattern::Class { fields, .. } => fields.iter().for_each(|(_, q)| self.check_alternatives(q)),
            Pattern::Name(_) | Pattern::Wildcard(_) | Pattern::Literal(_) => {}
        }
    }

    /// A comprehension: its first iterable is read where it stands, the
    /// rest inside its own scope, whose names do not leak.
    pub(super) fn comprehension(&mut self, clauses: &[CompClause], results: &[&Expr]) {
        if let Some(CompClause::For(_, iter)) = clauses.first() {
            self.expr(iter);
        }
        self.push_block();
        for (i, c) in clauses.iter().enumerate() {
            match c {
                CompClause::For(ps, iter) => {
                    if i > 0 {
                        self.expr(iter);
                    }
                    // Each `for` has a scope of its own: `for x in a for x in b` is not a redefinition.
                    self.push_block();
                    for p in ps {
                        self.check_binding_pattern(p);
                        self.bind_pattern(p, true, false);
                    }
                }
                CompClause::If(c) => self.expr(c),
            }
        }
        for r in results {
            self.expr(r);
        }
        for c in clauses {
            if let CompClause::For(..) = c {
                self.pop_block();
            }
        }
        self.pop_block();
    }

    /// The right side of `is`: a built-in type name unless a variable or
    /// class of the program has that name.
    pub(super) fn type_operand(&mut self, t: &Expr) {
        if let ExprKind::Name(id) = &t.kind {
            if TYPE_NAMES.contains(&id.name.as_str()) {
                match self.resolve(&id.name) {
                    Some((r, _, _)) if !matches!(r, NameRes::Builtin(_)) => {
                        self.out.names.insert(id.id, r);
                    }
                    _ => {}
                }
                return;
            }
        }
        self.expr(t);
    }
}
