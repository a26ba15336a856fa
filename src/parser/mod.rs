//! Parsing: layout tokens → AST via the LALRPOP grammar in `grammar/noodle.lalrpop`.

pub mod ast;
mod fstring;
pub mod helpers;
mod patterns;
pub use patterns::MapEntryRaw;

use crate::diag::Diagnostic;
use crate::lexer;
use helpers::Ctx;

lalrpop_util::lalrpop_mod!(
    #[allow(clippy::all, unused, dead_code)]
    grammar,
    "/noodle.rs"
);

/// Result of parsing one file: the statements and every diagnostic found.
pub struct Parsed {
    pub stmts: Vec<ast::Stmt>,
    pub diags: Vec<Diagnostic>,
    pub next_id: u32,
}

/// Parse a whole file. Never fails: errors are collected in `diags`.
pub fn parse_program(src: &str, file: u32, first_id: u32) -> Parsed {
    let ctx = Ctx::new(file, first_id);
    // The parser pulls tokens from the layout pass as it goes (no token vector).
    let mut toks = lexer::Layout::new(src, file, 0);
    let parser = grammar::ProgramParser::new();
    let stmts = match parser.parse(&ctx, &mut toks) {
        Ok(s) => s,
        Err(e) => {
            ctx.report_parse_error(e);
            Vec::new()
        }
    };
    ctx.errors.borrow_mut().extend(toks.diags);
    let mut diags = ctx.errors.into_inner();
    diags.sort_by_key(|d| (d.primary_span().start, d.primary_span().end));
    diags.dedup_by(|a, b| a.primary_span() == b.primary_span() && a.title == b.title);
    Parsed { stmts, diags, next_id: ctx.next_id.get() }
}

/// Parse an expression embedded at byte offset `at` of the current file (f-string field).
fn parse_expr_at(ctx: &Ctx, src: &str, at: usize) -> Option<ast::Expr> {
    let (toks, lex_diags) = lexer::lex(src, ctx.file, at);
    let had_lex_errors = !lex_diags.is_empty();
    ctx.errors.borrow_mut().extend(lex_diags);
    match grammar::ExprOnlyParser::new().parse(ctx, toks) {
        Ok(e) if !had_lex_errors => Some(e),
        Ok(_) => None,
        Err(e) => {
            ctx.report_parse_error(e);
            None
        }
    }
}
