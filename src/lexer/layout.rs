//! The layout pass: turns raw logos tokens into parser tokens, deciding whether
//! each `{` opens a block or a map and which newlines end statements
//! (language.md §1). Lexical errors are recorded, never returned as `Err`.

use super::token::RawTok;
use super::{keyword, unescape, Tok};
use crate::diag::{Diagnostic, Span};
use logos::Logos;
use std::collections::VecDeque;

pub type Spanned = (usize, Tok, usize);

#[derive(Clone, Copy, PartialEq, Debug)]
enum Bracket {
    Paren,
    Square,
    Map,
    Block,
    /// The body of a `match`: arms, each a pattern, `=>` and a block.
    Arms,
}

/// Lex `src` (belonging to `file`) into layout-resolved tokens, all at once.
/// `base` is added to every offset (used for f-string fields).
pub fn lex(src: &str, file: u32, base: usize) -> (Vec<Spanned>, Vec<Diagnostic>) {
    let mut l = Layout::new(src, file, base);
    let toks = l.by_ref().collect();
    (toks, l.diags)
}

/// The layout pass as a token stream: it lexes on demand with a short
/// lookahead, so a file of any size needs only a few tokens in memory.
/// Diagnostics collect in `diags` as the stream is read.
pub struct Layout<'a> {
    src: &'a str,
    file: u32,
    base: usize,
    lx: logos::Lexer<'a, RawTok>,
    /// Raw tokens read ahead (newlines before a possible `else`, one after a number).
    ahead: VecDeque<(RawTok, usize, usize)>,
    /// Tokens ready for the parser.
    ready: VecDeque<Spanned>,
    pub diags: Vec<Diagnostic>,
    stack: Vec<(Bracket, usize)>,
    /// The last token emitted (payloads emptied) and whether the one before it ends an operand.
    last: Option<Tok>,
    before_last_ends_operand: bool,
    /// Since the latest `|` only names, `,`, `:` and `=` came: whether that `|` opened parameters.
    pipe_run: Option<bool>,
    /// The last token is a `|` that closes lambda parameters.
    last_pipe_closes: bool,
    /// A `match` was read at this bracket depth: its next block is its arms.
    match_at: Option<usize>,
    /// Inside a `match` arm's pattern (before `=>`), whose arms bracket is
    /// at this depth: every `{` opens a map or class pattern.
    pattern_at: Option<usize>,
    finished: bool,
}

impl Iterator for Layout<'_> {
    type Item = Spanned;
    fn next(&mut self) -> Option<Spanned> {
        while self.ready.is_empty() && !self.finished {
            match self.raw_next() {
                Some(r) => self.step(r),
                None => self.finish(),
            }
        }
        self.ready.pop_front()
    }
}

fn ends_operand(t: &Tok) -> bool {
    matches!(
        t,
        Tok::Ident(_)
            | Tok::Int(_)
            | Tok::Float(_)
            | Tok::Str(_)
            | Tok::FStr(..)
            | Tok::SelfKw
            | Tok::None_
            | Tok::True
            | Tok::False
            | Tok::RParen
            | Tok::RBracket
            | Tok::RBrace
    )
}

fn ends_statement(t: &Tok) -> bool {
    // A bad token (already reported) may end a statement too, so the error
    // stays on its own line instead of swallowing the next one.
    ends_operand(t) || matches!(t, Tok::Return | Tok::Break | Tok::Continue | Tok::Error)
}

impl<'a> Layout<'a> {
    pub fn new(src: &'a str, file: u32, base: usize) -> Layout<'a> {
        Layout {
            src,
            file,
            base,
            lx: RawTok::lexer(src),
            ahead: VecDeque::new(),
            ready: VecDeque::new(),
            diags: Vec::new(),
            stack: Vec::new(),
            last: None,
            before_last_ends_operand: false,
            pipe_run: None,
            last_pipe_closes: false,
            match_at: None,
            pattern_at: None,
            finished: false,
        }
    }

    fn lex_one(&mut self) -> Option<(RawTok, usize, usize)> {
        let r = self.lx.next()?;
        let sp = self.lx.span();
        Some((r.unwrap_or(RawTok::Error), sp.start, sp.end))
    }

    fn raw_next(&mut self) -> Option<(RawTok, usize, usize)> {
        match self.ahead.pop_front() {
            Some(r) => Some(r),
            None => self.lex_one(),
        }
    }

    /// The raw token `k` places ahead, without consuming it.
    fn peek(&mut self, k: usize) -> Option<&(RawTok, usize, usize)> {
        while self.ahead.len() <= k {
            let r = self.lex_one()?;
            self.ahead.push_back(r);
        }
        self.ahead.get(k)
    }

    fn span(&self, s: usize, e: usize) -> Span {
        Span::new(self.file, s + self.base, e + self.base)
    }
    fn error(&mut self, s: usize, e: usize, title: &str, label: &str) {
        let sp = self.span(s, e);
        self.diags.push(Diagnostic::new("E0001", title, sp, label));
    }
    fn prev(&self) -> Option<&Tok> {
        self.last.as_ref()
    }
    fn push(&mut self, t: Tok, s: usize, e: usize) {
        let last_ends_operand = self.last.as_ref().is_some_and(ends_operand);
        // Track lambda parameters `|a, b: int = 1|` so a `{` after them opens a block.
        self.last_pipe_closes = false;
        match &t {
            Tok::Pipe => {
                self.last_pipe_closes = self.pipe_run == Some(true);
                self.pipe_run = Some(!last_ends_operand);
            }
            Tok::Ident(_) | Tok::Comma | Tok::Colon | Tok::Assign => {}
            _ => self.pipe_run = None,
        }
        self.before_last_ends_operand = last_ends_operand;
        match &t {
            Tok::Match => self.match_at = Some(self.stack.len()),
            Tok::Sep if self.match_at == Some(self.stack.len()) => self.match_at = None,
            // Each arm starts with its pattern.
            Tok::Sep if matches!(self.stack.last(), Some((Bracket::Arms, _))) => self.pattern_at = Some(self.stack.len()),
            Tok::FatArrow if self.pattern_at == Some(self.stack.len()) => self.pattern_at = None,
            _ => {}
        }
        self.last = Some(match &t {
            Tok::Ident(_) => Tok::Ident(String::new()),
            Tok::Str(_) => Tok::Str(String::new()),
            Tok::FStr(..) => Tok::FStr(String::new(), 0),
            other => other.clone(),
        });
        self.ready.push_back((s + self.base, t, e + self.base));
    }
    fn in_statement_context(&self) -> bool {
        matches!(self.stack.last(), None | Some((Bracket::Block | Bracket::Arms, _)))
    }
    fn push_sep(&mut self, at: usize) {
        match self.prev() {
            None | Some(Tok::Sep) | Some(Tok::BlockOpen) => {}
            _ => self.push(Tok::Sep, at, at),
        }
    }

    /// Turn one raw token into parser tokens.
    fn step(&mut self, (r, s, e): (RawTok, usize, usize)) {
        let text = &self.src[s..e];
        if matches!(r, RawTok::Int | RawTok::HexInt | RawTok::Float) {
            if let Some(&(RawTok::Ident, ns, ne)) = self.peek(0) {
                if ns == e {
                    // One bad token for `42abc`, so the parser does not report
                    // the `abc` part a second time.
                    self.ahead.pop_front();
                    self.error(s, ne, "invalid number literal", "a number cannot be directly followed by a letter or `_`");
                    self.push(Tok::Error, s, ne);
                    return;
                }
            }
        }
        match r {
            RawTok::Newline => {
                if self.in_statement_context() && self.prev().is_some_and(ends_statement) {
                    let mut k = 0;
                    while self.peek(k).is_some_and(|t| t.0 == RawTok::Newline) {
                        k += 1;
                    }
                    let src = self.src;
                    let continues = self.peek(k).is_some_and(|(t, ns, ne)| {
                        *t == RawTok::Ident && matches!(&src[*ns..*ne], "else" | "catch" | "finally" | "elif" | "elsif")
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
                if self.borrowed_keyword(text, s, e) {
                    return;
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
                self.push(Tok::Str(String::new()), s, e);
                self.close_line_brackets(s, e);
            }
            RawTok::TripleStr => {
                let q = &text[..3];
                let closed = text.len() >= 6 && text.ends_with(q);
                let hint = if closed {
                    "write a string per line, with `\\n` for line breaks (or join a list of lines)"
                } else {
                    "it runs to the end of the file: Noodle strings end on their line"
                };
                self.error(s, s + 3, "Noodle has no triple-quoted strings", hint);
                let body = if closed { &text[3..text.len() - 3] } else { &text[3..] };
                self.push(Tok::Str(body.to_string()), s, e);
            }
            RawTok::Error => {
                let ch = text.chars().next().unwrap_or('?');
                self.error(s, e, &format!("unexpected character `{}`", ch.escape_debug()), "not part of any token");
                self.push(Tok::Error, s, e);
            }
            RawTok::LParen => self.open(Bracket::Paren, Tok::LParen, s, e),
            RawTok::LBracket => self.open(Bracket::Square, Tok::LBracket, s, e),
            RawTok::LBrace => {
                let block =
                    self.prev().is_some_and(|t| ends_operand(t) || matches!(t, Tok::Else | Tok::Try | Tok::Finally | Tok::FatArrow))
                        || self.last_closed_lambda_params();
                if self.pattern_at.is_some() {
                    self.open(Bracket::Map, Tok::MapOpen, s, e)
                } else if block && self.match_at == Some(self.stack.len()) {
                    self.match_at = None;
                    self.open(Bracket::Arms, Tok::BlockOpen, s, e);
                    self.pattern_at = Some(self.stack.len());
                } else if block {
                    self.open(Bracket::Block, Tok::BlockOpen, s, e)
                } else {
                    self.open(Bracket::Map, Tok::MapOpen, s, e)
                }
            }
            RawTok::RParen => self.close(&[Bracket::Paren], Tok::RParen, s, e),
            RawTok::RBracket => self.close(&[Bracket::Square], Tok::RBracket, s, e),
            RawTok::RBrace => {
                let was_block = matches!(self.stack.last(), Some((Bracket::Block | Bracket::Arms, _)));
                if matches!(self.stack.last(), Some((Bracket::Arms, _))) {
                    self.pattern_at = None;
                }
                self.close(&[Bracket::Map, Bracket::Block, Bracket::Arms], Tok::RBrace, s, e);
                if was_block && self.in_statement_context() {
                    // `if a { x } y` — a statement that ends with a block needs no `;`.
                    let src = self.src;
                    let next = self.peek(0);
                    let glued = next.is_some_and(|(t, ns, ne)| match t {
                        RawTok::Newline
                        | RawTok::Semi
                        | RawTok::RBrace
                        | RawTok::RParen
                        | RawTok::RBracket
                        | RawTok::Comma
                        | RawTok::Dot => true,
                        RawTok::Ident => matches!(&src[*ns..*ne], "else" | "catch" | "finally" | "elif" | "elsif"),
                        _ => false,
                    });
                    let more = next.is_some();
                    if !glued && more {
                        self.push(Tok::Sep, e, e);
                    }
                }
            }
            RawTok::Pipe => self.push(Tok::Pipe, s, e),
            RawTok::PipePipe => self.push(Tok::PipePipe, s, e),
            other => {
                let t = simple(&other);
                self.push(t, s, e);
            }
        }
    }

    /// End of input: report unclosed brackets and end the last statement.
    fn finish(&mut self) {
        self.finished = true;
        for (b, at) in std::mem::take(&mut self.stack).into_iter().rev() {
            let what = match b {
                Bracket::Paren => "`(`",
                Bracket::Square => "`[`",
                Bracket::Map | Bracket::Block | Bracket::Arms => "`{`",
            };
            self.error(at, at + 1, &format!("unclosed {what}"), "opened here and never closed");
        }
        if self.prev().is_some_and(|t| *t != Tok::Sep) {
            let end = self.src.len();
            self.push(Tok::Sep, end, end);
        }
    }

    /// Keywords of other languages where Noodle's belong: `elif` after a
    /// block and `function`/`fn`/`func` before a name are reported once and
    /// read as `else if` and `def`, so nothing else is reported for them.
    fn borrowed_keyword(&mut self, text: &str, s: usize, e: usize) -> bool {
        let at_statement = matches!(self.prev(), None | Some(Tok::Sep | Tok::BlockOpen));
        match text {
            "elif" | "elsif" if self.prev() == Some(&Tok::RBrace) => {
                self.error(s, e, &format!("`{text}` is spelled `else if` in Noodle"), "write `else if` here");
                self.push(Tok::Else, s, e);
                self.push(Tok::If, s, e);
                true
            }
            "function" | "func" | "fn" | "fun" if at_statement && self.peek(0).is_some_and(|t| t.0 == RawTok::Ident) => {
                self.error(s, e, &format!("`{text}` is spelled `def` in Noodle"), "write `def` here");
                self.push(Tok::Def, s, e);
                true
            }
            _ => false,
        }
    }

    /// Whether the token before a `{` is the closing `|`/`||` of lambda parameters.
    fn last_closed_lambda_params(&self) -> bool {
        match self.prev() {
            Some(Tok::PipePipe) => !self.before_last_ends_operand,
            Some(Tok::Pipe) => self.last_pipe_closes,
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

    /// After an unterminated string (at `s`..`e`, the end of its line): the
    /// closers it swallowed were most likely meant for the brackets opened on
    /// its line, so those are closed here, silently (one mistake, one error).
    fn close_line_brackets(&mut self, s: usize, e: usize) {
        let line_start = self.src[..s].rfind('\n').map_or(0, |i| i + 1);
        while let Some(&(b, at)) = self.stack.last() {
            if at < line_start {
                break;
            }
            self.stack.pop();
            let t = match b {
                Bracket::Paren => Tok::RParen,
                Bracket::Square => Tok::RBracket,
                Bracket::Arms => {
                    self.pattern_at = None;
                    Tok::RBrace
                }
                Bracket::Map | Bracket::Block => Tok::RBrace,
            };
            self.push(t, e, e);
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

#[rustfmt::skip]
fn simple(r: &RawTok) -> Tok {
    match r {
        RawTok::Comma => Tok::Comma, RawTok::Colon => Tok::Colon, RawTok::Dot => Tok::Dot,
        RawTok::DotDot => Tok::DotDot, RawTok::DotDotEq => Tok::DotDotEq, RawTok::Arrow => Tok::Arrow,
        RawTok::FatArrow => Tok::FatArrow,
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
