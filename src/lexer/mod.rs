//! Lexing: logos produces raw tokens; the layout pass (`layout.rs`) applies the
//! bracket and statement-end rules of language.md §1 and yields parser tokens.

mod layout;
mod token;

pub use layout::{lex, Layout};
pub use token::RawTok;

use std::fmt;

/// Tokens as the LALRPOP grammar sees them.
#[rustfmt::skip]
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    /// Raw body of an f-string (between the quotes) and its byte offset in the file.
    FStr(String, usize),
    // keywords
    Let, Var, Def, Return, If, Else, While, For, In, Break, Continue, And, Or, Not,
    True, False, None_, Class, Extends, SelfKw, Super, Actor, State, Spawn, Send, With,
    Async, Await, Try, Catch, Finally, Throw, Import, As, Match, Assert, Is,
    // brackets: `{` is split by the layout pass into a block or a map opener
    LParen, RParen, LBracket, RBracket, BlockOpen, MapOpen, RBrace,
    /// Statement separator: `;` or a newline that ends a statement.
    Sep,
    Comma, Colon, Dot, DotDot, DotDotEq, Arrow, FatArrow,
    Assign, PlusEq, MinusEq, StarEq, SlashEq, SlashSlashEq, PercentEq,
    EqEq, NotEq, Lt, Le, Gt, Ge,
    Plus, Minus, Star, StarStar, Slash, SlashSlash, Percent, At,
    Pipe, PipePipe, Amp, Caret, Tilde, Shl, Shr,
    /// Input the lexer could not understand (already reported).
    Error,
}

#[rustfmt::skip]
pub fn keyword(s: &str) -> Option<Tok> {
    Some(match s {
        "let" => Tok::Let, "var" => Tok::Var, "def" => Tok::Def, "return" => Tok::Return,
        "if" => Tok::If, "else" => Tok::Else, "while" => Tok::While, "for" => Tok::For,
        "in" => Tok::In, "break" => Tok::Break, "continue" => Tok::Continue,
        "and" => Tok::And, "or" => Tok::Or, "not" => Tok::Not, "true" => Tok::True,
        "false" => Tok::False, "none" => Tok::None_, "class" => Tok::Class,
        "extends" => Tok::Extends, "self" => Tok::SelfKw, "super" => Tok::Super,
        "actor" => Tok::Actor, "state" => Tok::State, "spawn" => Tok::Spawn,
        "send" => Tok::Send, "with" => Tok::With, "async" => Tok::Async,
        "await" => Tok::Await, "try" => Tok::Try, "catch" => Tok::Catch,
        "finally" => Tok::Finally, "throw" => Tok::Throw, "import" => Tok::Import,
        "as" => Tok::As, "match" => Tok::Match, "assert" => Tok::Assert, "is" => Tok::Is,
        _ => return None,
    })
}

impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Tok::Ident(n) => return write!(f, "identifier `{n}`"),
            Tok::Int(i) => return write!(f, "integer `{i}`"),
            Tok::Float(x) => return write!(f, "float `{x}`"),
            Tok::Str(_) => "string",
            Tok::FStr(..) => "f-string",
            Tok::Sep => "end of statement",
            Tok::BlockOpen => "`{` (block)",
            Tok::MapOpen => "`{` (map)",
            Tok::Error => "invalid token",
            other => return write!(f, "`{}`", token_text(other)),
        };
        f.write_str(s)
    }
}

/// The source spelling of fixed tokens (used by error messages).
#[rustfmt::skip]
pub fn token_text(t: &Tok) -> &'static str {
    match t {
        Tok::Let => "let", Tok::Var => "var", Tok::Def => "def", Tok::Return => "return",
        Tok::If => "if", Tok::Else => "else", Tok::While => "while", Tok::For => "for",
        Tok::In => "in", Tok::Break => "break", Tok::Continue => "continue", Tok::And => "and",
        Tok::Or => "or", Tok::Not => "not", Tok::True => "true", Tok::False => "false",
        Tok::None_ => "none", Tok::Class => "class", Tok::Extends => "extends",
        Tok::SelfKw => "self", Tok::Super => "super", Tok::Actor => "actor",
        Tok::State => "state", Tok::Spawn => "spawn", Tok::Send => "send", Tok::With => "with",
        Tok::Async => "async", Tok::Await => "await", Tok::Try => "try", Tok::Catch => "catch",
        Tok::Finally => "finally", Tok::Throw => "throw", Tok::Import => "import", Tok::As => "as",
        Tok::Match => "match", Tok::Assert => "assert", Tok::Is => "is", Tok::FatArrow => "=>",
        Tok::LParen => "(", Tok::RParen => ")", Tok::LBracket => "[", Tok::RBracket => "]",
        Tok::BlockOpen | Tok::MapOpen => "{", Tok::RBrace => "}", Tok::Sep => ";",
        Tok::Comma => ",", Tok::Colon => ":", Tok::Dot => ".", Tok::DotDot => "..",
        Tok::DotDotEq => "..=", Tok::Arrow => "->", Tok::Assign => "=", Tok::PlusEq => "+=",
        Tok::MinusEq => "-=", Tok::StarEq => "*=", Tok::SlashEq => "/=",
        Tok::SlashSlashEq => "//=", Tok::PercentEq => "%=", Tok::EqEq => "==",
        Tok::NotEq => "!=", Tok::Lt => "<", Tok::Le => "<=", Tok::Gt => ">", Tok::Ge => ">=",
        Tok::Plus => "+", Tok::Minus => "-", Tok::Star => "*", Tok::StarStar => "**",
        Tok::Slash => "/", Tok::SlashSlash => "//", Tok::Percent => "%", Tok::At => "@",
        Tok::Pipe => "|", Tok::PipePipe => "||", Tok::Amp => "&", Tok::Caret => "^",
        Tok::Tilde => "~", Tok::Shl => "<<", Tok::Shr => ">>",
        _ => "?",
    }
}

/// Decode the escapes of a string literal body. Errors carry the byte offset of
/// the bad escape within `body`.
pub fn unescape(body: &str) -> Result<String, (usize, String)> {
    let mut out = String::with_capacity(body.len());
    let mut it = body.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((_, 'r')) => out.push('\r'),
            Some((_, '0')) => out.push('\0'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, '"')) => out.push('"'),
            Some((_, '\'')) => out.push('\''),
            Some((_, 'u')) => {
                if it.next().map(|p| p.1) != Some('{') {
                    return Err((i, "expected `{` after `\\u`".into()));
                }
                let mut hex = String::new();
                loop {
                    match it.next() {
                        Some((_, '}')) => break,
                        Some((_, h)) if h.is_ascii_hexdigit() && hex.len() < 6 => hex.push(h),
                        _ => return Err((i, "malformed `\\u{...}` escape".into())),
                    }
                }
                let cp = u32::from_str_radix(&hex, 16).map_err(|_| (i, "empty `\\u{}` escape".to_string()))?;
                match char::from_u32(cp) {
                    Some(ch) => out.push(ch),
                    None => return Err((i, format!("`\\u{{{hex}}}` is not a valid character"))),
                }
            }
            Some((_, other)) => return Err((i, format!("unknown escape `\\{other}`"))),
            None => return Err((i, "string ends with `\\`".into())),
        }
    }
    Ok(out)
}
