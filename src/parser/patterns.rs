//! Grammar actions for patterns, comprehensions, collection literals and
//! `is` tests (language.md §4).

use super::ast::*;
use super::helpers::Ctx;
use crate::diag::Diagnostic;

/// A map literal entry as parsed: key, value, and the key's identifier when
/// it is a bare name (a comprehension reads it as the name's value).
pub type MapEntryRaw = (MapKey, Expr, Option<Ident>);

impl Ctx {
    /// A name in a pattern; `_` binds nothing.
    pub fn name_pattern(&self, i: Ident) -> Pattern {
        if i.name == "_" {
            Pattern::Wildcard(i.span)
        } else {
            Pattern::Name(i)
        }
    }

    pub fn list_pattern(&self, items: Vec<Pattern>, l: usize, r: usize) -> Pattern {
        let rests: Vec<&Pattern> = items.iter().filter(|p| matches!(p, Pattern::Rest(..))).collect();
        if let Some(second) = rests.get(1) {
            self.error(Diagnostic::new(
                "E0110",
                "a list pattern takes one `..rest`",
                second.span(),
                "a second `..` here: which items it takes would be ambiguous",
            ));
        }
        Pattern::List(items, self.span(l, r))
    }

    pub fn or_pattern(&self, first: Pattern, rest: Vec<Pattern>, l: usize, r: usize) -> Pattern {
        let mut v = vec![first];
        v.extend(rest);
        Pattern::Or(v, self.span(l, r))
    }

    pub fn class_pattern(&self, module: Option<Ident>, class: Ident, fields: Vec<(Ident, Pattern)>, l: usize, r: usize) -> Pattern {
        let span = self.span(l, r);
        let class = match module {
            None => {
                let s = class.span;
                Expr::new(ExprKind::Name(class), s)
            }
            Some(m) => {
                let s = m.span.to(class.span);
                let ms = m.span;
                Expr::new(ExprKind::Field { obj: Box::new(Expr::new(ExprKind::Name(m), ms)), name: class }, s)
            }
        };
        Pattern::Class { class: Box::new(class), fields, span }
    }

    /// `Point{y}`: the field `y` bound to the name `y`.
    pub fn field_shorthand(&self, n: Ident) -> (Ident, Pattern) {
        let bound = Ident { id: self.fresh_id(), ..n.clone() };
        (n, self.name_pattern(bound))
    }

    pub fn is_test(&self, a: Expr, b: Expr, negated: bool, l: usize, r: usize) -> Expr {
        if let ExprKind::Compare(..) | ExprKind::Is(..) = a.kind {
            self.error(
                Diagnostic::new("E0108", "comparisons cannot be chained", self.span(l, r), "`a is b` cannot follow another comparison")
                    .note("write `a < b and b is T`"),
            );
        }
        let span = self.span(l, r);
        let test = Expr::new(ExprKind::Is(Box::new(a), Box::new(b)), span);
        if negated {
            Expr::new(ExprKind::Unary(UnOp::Not, Box::new(test)), span)
        } else {
            test
        }
    }

    pub fn list(&self, first: Expr, more: Vec<Expr>, l: usize, r: usize) -> Expr {
        let mut v = vec![first];
        v.extend(more);
        Expr::new(ExprKind::List(v), self.span(l, r))
    }

    pub fn map(&self, first: MapEntryRaw, more: Vec<MapEntryRaw>, l: usize, r: usize) -> Expr {
        let v = std::iter::once(first).chain(more).map(|(k, v, _)| (k, v)).collect();
        Expr::new(ExprKind::Map(v), self.span(l, r))
    }

    pub fn list_comp(&self, elem: Expr, first: CompClause, more: Vec<CompClause>, l: usize, r: usize) -> Expr {
        let clauses = self.clauses(first, more);
        Expr::new(ExprKind::ListComp { elem: Box::new(elem), clauses }, self.span(l, r))
    }

    pub fn map_comp(&self, entry: MapEntryRaw, first: CompClause, more: Vec<CompClause>, l: usize, r: usize) -> Expr {
        let clauses = self.clauses(first, more);
        let (key, value, ident) = entry;
        let key = match (key, ident) {
            (_, Some(i)) => {
                let s = i.span;
                Expr::new(ExprKind::Name(i), s)
            }
            (MapKey::Str(s), None) => Expr::new(ExprKind::Str(s), value.span),
            (MapKey::Expr(e), None) => e,
        };
        Expr::new(ExprKind::MapComp { key: Box::new(key), value: Box::new(value), clauses }, self.span(l, r))
    }

    fn clauses(&self, first: CompClause, more: Vec<CompClause>) -> Vec<CompClause> {
        let mut v = vec![first];
        v.extend(more);
        for c in &v {
            if let CompClause::For(ps, _) = c {
                self.check_loop_patterns(ps);
            }
        }
        v
    }

    /// `for` takes one pattern, or two names/patterns (`for k, v in m`).
    pub fn check_loop_patterns(&self, ps: &[Pattern]) {
        if let Some(p) = ps.get(2) {
            self.error(Diagnostic::new("E0206", "a `for` loop takes one or two names", p.span(), "too many loop variables"));
        }
    }
}
