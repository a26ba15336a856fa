//! The layout pass: turns raw logos tokens into parser tokens, deciding whether
//! each `{` opens a block or a map and which newlines end statements
//! (language.md §1). Lexical errors are recorded, never returned as `Err`.

use super::token::RawTok;
use super::{keyword, unescape, Tok};
use crate::diag::{Diagnostic, Span};
use logos::Logos;

pub type Spanned = (usize, Tok, usize);

#[derive(Clone, Copy, PartialEq, Debug)]
enum Bracket {
    Paren,
    Square,
    Map,
    Block,
}

/// Lex `src` (belonging to `file`) into layout-resolved tokens.
/// `base` is added to every offset (used for f-string fields).
pub fn lex(src: &str, file: u32, base: usize) -> (Vec<Spanned>, Vec<Diagnostic>) {
    let mut raw: Vec<(RawTok, usize, usize)> = Vec::new();
    let mut lx = RawTok::lexer(src);
    while let Some(r) = lx.next() {
        let sp = lx.span();
        raw.push((r.unwrap_or(RawTok::Error), sp.start, sp.end));
    }
    let mut l = Layout { src, file, base, out: Vec::new(), diags: Vec::new(), stack: Vec::new() };
    l.run(&raw);
    (l.out, l.diags)
}

struct Layout<'a> {
    src: &'a str,
    file: u32,
    base: usize,
    out: Vec<Spanned>,
    diags: Vec<Diagnostic>,
    stack: Vec<(Bracket, usize)>,
}

fn ends_operand(t: &Tok) -> bool {
    matches!(
        t,
        Tok::Ident(_) | Tok::Int(_) | Tok::Float(_) | Tok::Str(_) | Tok::FStr(..)
            | Tok::SelfKw | Tok::None_ | Tok::True | Tok::False
            | Tok::RParen | Tok::RBracket | Tok::RBrace
    )
}

fn ends_statement(t: &Tok) -> bool {
    // A bad token (already reported) may end a statement too, so the error
    // stays on its own line instead of swallowing the next one.
    ends_operand(t) || matches!(t, Tok::Return | Tok::Break | Tok::Continue | Tok::Error)
}

impl<'a> Layout<'a> {
    fn span(&self, s: usize, e: usize) -> Span {
        Span::new(self.file, s + self.base, e + self.base)
    }
    fn error(&mut self, s: usize, e: usize, title: &str, label: &str) {
        let sp = self.span(s, e);
        self.diags.push(Diagnostic::new("E0001", title, sp, label));
    }
    fn last(&self) -> Option<&Tok> {
        self.out.last().map(|t| &t.1)
    }
    fn push(&mut self, t: Tok, s: usize, e: usize) {
        self.out.push((s + self.base, t, e + self.base));
    }
    fn in_statement_context(&self) -> bool {
        matches!(self.stack.last(), None | Some((Bracket::Block, _)))
    }
    fn push_sep(&mut self, at: usize) {
        match self.last() {
            None | Some(Tok::Sep) | Some(Tok::BlockOpen) => {}
            _ => self.push(Tok::Sep, at, at),
        }
    }

    fn run(&mut self, raw: &[(RawTok, usize, usize)]) {
        let mut i = 0;
        while i < raw.len() {
            let (ref r, s, e) = raw[i];
            let text = &self.src[s..e];
            match r {
                RawTok::Newline => {
                    if self.in_statement_context() && self.last().is_some_and(ends_statement) {
                        let next = raw[i + 1..].iter().find(|t| t.0 != RawTok::Newline);
                        let continues = next.is_some_and(|(t, ns, ne)| {
                            *t == RawTok::Ident && matches!(&self.src[*ns..*ne], "else" | "catch" | "finally")
                        });
                        if !continues {
                            self.push_sep(s);
                        }
                    }
                }
                RawTok::Semi => {
                    if self.in_statement_context() {
                        self.push_sep(s);
                    } else {
                        self.push(Tok::Sep, s, e);
                    }
                }
                RawTok::Ident => {
                    if i > 0 && raw[i - 1].2 == s && matches!(raw[i - 1].0, RawTok::Int | RawTok::HexInt | RawTok::Float) {
                        let ps = raw[i - 1].1;
                        self.error(ps, e, "invalid number literal", "a number cannot be directly followed by a letter or `_`");
                        // One bad token for `42abc`, so the parser does not report
                        // the `abc` part a second time.
                        if self.out.last().is_some_and(|t| t.0 == ps + self.base) {
                            self.out.pop();
                        }
                        self.push(Tok::Error, ps, e);
                        i += 1;
                        continue;
                    }
                    let t = keyword(text).unwrap_or_else(|| Tok::Ident(text.to_string()));
                    self.push(t, s, e);
                }
                RawTok::Int | RawTok::HexInt => self.int(text, s, e),
                RawTok::Float => {
                    let clean: String = text.chars().filter(|c| *c != '_').collect();
                    match clean.parse::<f64>() {
                        Ok(f) => self.push(Tok::Float(f), s, e),
                        Err(_) => {
                            self.error(s, e, "malformed float literal", "not a valid number");
                            self.push(Tok::Error, s, e);
                        }
                    }
                }
                RawTok::Str => match unescape(&text[1..text.len() - 1]) {
                    Ok(v) => self.push(Tok::Str(v), s, e),
                    Err((off, msg)) => {
                        let at = s + 1 + off;
                        self.error(at, (at + 2).min(e), "invalid escape in string", &msg);
                        self.push(Tok::Str(String::new()), s, e);
                    }
                },
                RawTok::FStr => self.push(Tok::FStr(text[2..text.len() - 1].to_string(), s + 2 + self.base), s, e),
                RawTok::UnterminatedStr => {
                    self.error(s, e, "unterminated string", "this string has no closing quote on its line");
                    self.push(Tok::Error, s, e);
                }
                RawTok::Error => {
                    let ch = text.chars().next().unwrap_or('?');
                    self.error(s, e, &format!("unexpected character `{}`", ch.escape_debug()), "not part of any token");
                    self.push(Tok::Error, s, e);
                }
                RawTok::LParen => self.open(Bracket::Paren, Tok::LParen, s, e),
                RawTok::LBracket => self.open(Bracket::Square, Tok::LBracket, s, e),
                RawTok::LBrace => {
                    let block = self.last().is_some_and(|t| ends_operand(t) || matches!(t, Tok::Else | Tok::Try | Tok::Finally))
                        || self.last_closed_lambda_params();
                    if block {
                        self.open(Bracket::Block, Tok::BlockOpen, s, e)
                    } else {
                        self.open(Bracket::Map, Tok::MapOpen, s, e)
                    }
                }
                RawTok::RParen => self.close(&[Bracket::Paren], Tok::RParen, s, e),
                RawTok::RBracket => self.close(&[Bracket::Square], Tok::RBracket, s, e),
                RawTok::RBrace => {
                    let was_block = matches!(self.stack.last(), Some((Bracket::Block, _)));
                    self.close(&[Bracket::Map, Bracket::Block], Tok::RBrace, s, e);
                    if was_block && self.in_statement_context() {
                        // `if a { x } y` — a statement that ends with a block needs no `;`.
                        let next = raw[i + 1..].first();
                        let glued = next.is_some_and(|(t, ns, ne)| match t {
                            RawTok::Newline | RawTok::Semi | RawTok::RBrace | RawTok::RParen
                            | RawTok::RBracket | RawTok::Comma | RawTok::Dot => true,
                            RawTok::Ident => matches!(&self.src[*ns..*ne], "else" | "catch" | "finally"),
                            _ => false,
                        });
                        if !glued && next.is_some() {
                            self.push(Tok::Sep, e, e);
                        }
                    }
                }
                RawTok::Pipe => self.push(Tok::Pipe, s, e),
                RawTok::PipePipe => self.push(Tok::PipePipe, s, e),
                other => {
                    let t = simple(other);
                    self.push(t, s, e);
                }
            }
            i += 1;
        }
        for (b, at) in std::mem::take(&mut self.stack).into_iter().rev() {
            let what = match b {
                Bracket::Paren => "`(`",
                Bracket::Square => "`[`",
                Bracket::Map | Bracket::Block => "`{`",
            };
            self.error(at, at + 1, &format!("unclosed {what}"), "opened here and never closed");
        }
        if self.last().is_some_and(|t| *t != Tok::Sep) {
            let end = self.src.len();
            self.push(Tok::Sep, end, end);
        }
    }

    /// Whether the token before a `{` is the closing `|`/`||` of lambda parameters.
    fn last_closed_lambda_params(&self) -> bool {
        let n = self.out.len();
        match self.last() {
            Some(Tok::PipePipe) => n < 2 || !ends_operand(&self.out[n - 2].1),
            Some(Tok::Pipe) => {
                // Walk back to the matching opening `|`; only names, commas, `:` and
                // `=`-defaults may sit between them.
                let mut j = n - 1;
                while j > 0 {
                    j -= 1;
                    match &self.out[j].1 {
                        Tok::Pipe => return j == 0 || !ends_operand(&self.out[j - 1].1),
                        Tok::Ident(_) | Tok::Comma | Tok::Colon | Tok::Assign => {}
                        _ => return false,
                    }
                }
                false
            }
            _ => false,
        }
    }

    fn int(&mut self, text: &str, s: usize, e: usize) {
        let clean: String = text.chars().filter(|c| *c != '_').collect();
        let (digits, mult): (&str, i64) = if let Some(d) = clean.strip_suffix("KB") {
            (d, 1 << 10)
        } else if let Some(d) = clean.strip_suffix("MB") {
            (d, 1 << 20)
        } else if let Some(d) = clean.strip_suffix("GB") {
            (d, 1 << 30)
        } else if let Some(d) = clean.strip_suffix("TB") {
            (d, 1 << 40)
        } else {
            (&clean, 1)
        };
        let parsed = if let Some(h) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
            i64::from_str_radix(h, 16)
        } else {
            digits.parse::<i64>()
        };
        match parsed.ok().and_then(|v| v.checked_mul(mult)) {
            Some(v) => self.push(Tok::Int(v), s, e),
            None => {
                self.error(s, e, "integer literal too large", "does not fit in a 64-bit signed integer");
                self.push(Tok::Int(0), s, e);
            }
        }
    }

    fn open(&mut self, b: Bracket, t: Tok, s: usize, e: usize) {
        self.stack.push((b, s));
        self.push(t, s, e);
    }

    fn close(&mut self, want: &[Bracket], t: Tok, s: usize, e: usize) {
        match self.stack.last() {
            Some((b, _)) if want.contains(b) => {
                self.stack.pop();
            }
            Some((_, at)) => {
                let at = *at;
                let sp = self.span(s, e);
                let open = self.span(at, at + 1);
                let mut d = Diagnostic::new("E0002", format!("mismatched `{}`", &self.src[s..e]), sp, "does not match the open bracket");
                d.labels.push(crate::diag::Label { span: open, message: "this bracket is still open".into() });
                self.diags.push(d);
                // Recover: pop the innermost bracket if the closer matches the one below it.
                if self.stack.len() >= 2 && want.contains(&self.stack[self.stack.len() - 2].0) {
                    self.stack.pop();
                    self.stack.pop();
                }
            }
            None => self.error(s, e, &format!("unmatched `{}`", &self.src[s..e]), "nothing to close here"),
        }
        self.push(t, s, e);
    }
}

fn simple(r: &RawTok) -> Tok {
    match r {
        RawTok::Comma => Tok::Comma, RawTok::Colon => Tok::Colon, RawTok::Dot => Tok::Dot,
        RawTok::DotDot => Tok::DotDot, RawTok::DotDotEq => Tok::DotDotEq, RawTok::Arrow => Tok::Arrow,
        RawTok::Assign => Tok::Assign, RawTok::PlusEq => Tok::PlusEq, RawTok::MinusEq => Tok::MinusEq,
        RawTok::StarEq => Tok::StarEq, RawTok::SlashEq => Tok::SlashEq,
        RawTok::SlashSlashEq => Tok::SlashSlashEq, RawTok::PercentEq => Tok::PercentEq,
        RawTok::EqEq => Tok::EqEq, RawTok::NotEq => Tok::NotEq, RawTok::Lt => Tok::Lt,
        RawTok::Le => Tok::Le, RawTok::Gt => Tok::Gt, RawTok::Ge => Tok::Ge, RawTok::Plus => Tok::Plus,
        RawTok::Minus => Tok::Minus, RawTok::Star => Tok::Star, RawTok::StarStar => Tok::StarStar,
        RawTok::Slash => Tok::Slash, RawTok::SlashSlash => Tok::SlashSlash,
        RawTok::Percent => Tok::Percent, RawTok::At => Tok::At, RawTok::Amp => Tok::Amp,
        RawTok::Caret => Tok::Caret, RawTok::Tilde => Tok::Tilde, RawTok::Shl => Tok::Shl,
        RawTok::Shr => Tok::Shr,
        _ => Tok::Error,
    }
}
