//! Raw tokens produced by logos. The lexer never fails: unknown input becomes
//! `Tok::Error` and the layout pass records a diagnostic for it.

use logos::Logos;

#[derive(Logos, Clone, Debug, PartialEq)]
#[logos(skip r"[ \t\r\f]+")]
#[logos(skip(r"#[^\n]*", allow_greedy = true))]
pub enum RawTok {
    #[token("\n")]
    Newline,

    #[regex(r"[A-Za-z_][A-Za-z0-9_]*")]
    Ident,
    #[regex(r"[0-9][0-9_]*(KB|MB|GB|TB)?")]
    Int,
    #[regex(r"0[xX][0-9a-fA-F_]+")]
    HexInt,
    #[regex(r"[0-9][0-9_]*\.[0-9][0-9_]*([eE][+-]?[0-9]+)?")]
    #[regex(r"[0-9][0-9_]*[eE][+-]?[0-9]+")]
    Float,
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    #[regex(r#"'([^'\\\n]|\\[^\n])*'"#)]
    Str,
    #[regex(r#"f"([^"\\\n]|\\[^\n])*""#)]
    #[regex(r#"f'([^'\\\n]|\\[^\n])*'"#)]
    FStr,
    #[regex(r#""([^"\\\n]|\\[^\n])*"#)]
    #[regex(r#"'([^'\\\n]|\\[^\n])*"#)]
    #[regex(r#"f"([^"\\\n]|\\[^\n])*"#)]
    #[regex(r#"f'([^'\\\n]|\\[^\n])*"#)]
    UnterminatedStr,
    /// Python's `"""..."""` (closed or running to the end of the file): not
    /// Noodle, read as one string and reported once.
    #[regex(r#""""([^"]|"[^"]|""[^"])*(""")?"#)]
    #[regex(r#"'''([^']|'[^']|''[^'])*(''')?"#)]
    TripleStr,

    #[token("(")]
    LParen,
    #[token(")")]
    RParen,
    #[token("[")]
    LBracket,
    #[token("]")]
    RBracket,
    #[token("{")]
    LBrace,
    #[token("}")]
    RBrace,
    #[token(",")]
    Comma,
    #[token(";")]
    Semi,
    #[token(":")]
    Colon,
    #[token(".")]
    Dot,
    #[token("..")]
    DotDot,
    #[token("..=")]
    DotDotEq,
    #[token("->")]
    Arrow,
    #[token("=>")]
    FatArrow,
    #[token("=")]
    Assign,
    #[token("+=")]
    PlusEq,
    #[token("-=")]
    MinusEq,
    #[token("*=")]
    StarEq,
    #[token("/=")]
    SlashEq,
    #[token("//=")]
    SlashSlashEq,
    #[token("%=")]
    PercentEq,
    #[token("==")]
    EqEq,
    #[token("!=")]
    NotEq,
    #[token("<")]
    Lt,
    #[token("<=")]
    Le,
    #[token(">")]
    Gt,
    #[token(">=")]
    Ge,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("**")]
    StarStar,
    #[token("/")]
    Slash,
    #[token("//")]
    SlashSlash,
    #[token("%")]
    Percent,
    #[token("@")]
    At,
    #[token("|")]
    Pipe,
    #[token("||")]
    PipePipe,
    #[token("&")]
    Amp,
    #[token("^")]
    Caret,
    #[token("~")]
    Tilde,
    #[token("<<")]
    Shl,
    #[token(">>")]
    Shr,

    Error,
}
