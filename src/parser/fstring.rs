//! f-strings: split the body into literal text and `{expr[:spec]}` fields; each
//! field is lexed and parsed as an expression with its real file offsets.

use super::ast::{Expr, ExprKind, FPart};
use super::helpers::Ctx;
use crate::bytecode::fmtspec::FormatSpec;
use crate::diag::Diagnostic;
use crate::lexer::unescape;

impl Ctx {
    /// An f-string literal (the grammar's action).
    pub fn fstring(&self, body: String, offset: usize, l: usize, r: usize) -> Expr {
        let parts = parse_fstring(self, &body, offset);
        Expr::new(ExprKind::FStr(parts), self.span(l, r))
    }
}

pub fn parse_fstring(ctx: &Ctx, body: &str, offset: usize) -> Vec<FPart> {
    parse_parts(ctx, body, offset, false)
}

/// `in_spec`: parsing a format spec's nested fields, which nest one level only.
fn parse_parts(ctx: &Ctx, body: &str, offset: usize, in_spec: bool) -> Vec<FPart> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut lit_start = 0;
    let bytes = body.as_bytes();
    let mut i = 0;
    let flush = |lit: &mut String, start: usize, parts: &mut Vec<FPart>| {
        if lit.is_empty() {
            return;
        }
        match unescape(lit) {
            Ok(s) => parts.push(FPart::Lit(s)),
            Err((off, msg)) => {
                let at = offset + start + off;
                ctx.error(Diagnostic::new("E0003", "invalid escape in string", ctx.span(at, at + 2), msg));
            }
        }
        lit.clear();
    };
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'{' && bytes.get(i + 1) == Some(&b'{') {
            lit.push('{');
            i += 2;
        } else if c == b'}' && bytes.get(i + 1) == Some(&b'}') {
            lit.push('}');
            i += 2;
        } else if c == b'}' {
            ctx.error(Diagnostic::new(
                "E0004",
                "single `}` in f-string",
                ctx.span(offset + i, offset + i + 1),
                "write `}}` for a literal brace",
            ));
            i += 1;
        } else if c == b'{' {
            flush(&mut lit, lit_start, &mut parts);
            match field_end(body, i + 1) {
                Some((colon, close)) => {
                    let expr_end = colon.unwrap_or(close);
                    let src = &body[i + 1..expr_end];
                    let expr = parse_field(ctx, src, offset + i + 1);
                    let spec = colon.map(|c| parse_spec(ctx, &body[c + 1..close], offset + c + 1, in_spec));
                    parts.push(FPart::Field { expr, spec });
                    i = close + 1;
                }
                None => {
                    ctx.error(Diagnostic::new(
                        "E0004",
                        "unclosed `{` in f-string",
                        ctx.span(offset + i, offset + i + 1),
                        "this field has no closing `}`",
                    ));
                    i = bytes.len();
                }
            }
            lit_start = i;
        } else if c == b'\\' && i + 1 < bytes.len() {
            let ch_len = body[i + 1..].chars().next().map(|c| c.len_utf8()).unwrap_or(1);
            lit.push_str(&body[i..i + 1 + ch_len]);
            i += 1 + ch_len;
        } else {
            let ch = body[i..].chars().next().unwrap_or('?');
            lit.push(ch);
            i += ch.len_utf8();
        }
    }
    flush(&mut lit, lit_start, &mut parts);
    parts
}

/// Find the `}` closing a field that starts at `start`, and the top-level `:` that
/// begins its format spec, skipping nested brackets and quoted strings.
fn field_end(body: &str, start: usize) -> Option<(Option<usize>, usize)> {
    let b = body.as_bytes();
    let mut depth = 0usize;
    let mut colon = None;
    let mut i = start;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'(' | b'[' | b'{' => depth += 1,
            b')' | b']' => depth = depth.saturating_sub(1),
            b'}' if depth == 0 => return Some((colon, i)),
            b'}' => depth -= 1,
            b':' if depth == 0 && colon.is_none() => colon = Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A literal spec is checked now; one with nested fields becomes parts that build
/// it at run time.
fn parse_spec(ctx: &Ctx, spec: &str, at: usize, in_spec: bool) -> Vec<FPart> {
    if spec.contains('{') {
        if in_spec {
            ctx.error(Diagnostic::new(
                "E0004",
                "format spec fields nest one level deep",
                ctx.span(at, at + spec.len()),
                "a field inside a format spec cannot have fields in its own spec",
            ));
            return vec![FPart::Lit(String::new())];
        }
        return parse_parts(ctx, spec, at, true);
    }
    if let Err(msg) = FormatSpec::parse(spec) {
        ctx.error(Diagnostic::new("E0005", "invalid format spec", ctx.span(at, at + spec.len().max(1)), msg));
    }
    vec![FPart::Lit(spec.to_string())]
}

fn parse_field(ctx: &Ctx, src: &str, at: usize) -> Expr {
    if src.trim().is_empty() {
        ctx.error(Diagnostic::new(
            "E0004",
            "empty field in f-string",
            ctx.span(at.saturating_sub(1), at + 1),
            "put an expression between the braces",
        ));
        return Expr::new(ExprKind::Error, ctx.span(at, at));
    }
    match super::parse_expr_at(ctx, src, at) {
        Some(e) => e,
        None => Expr::new(ExprKind::Error, ctx.span(at, at + src.len())),
    }
}
