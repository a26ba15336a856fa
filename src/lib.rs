//! Noodle: compiler pipeline (lexer → parser → sema → codegen → bytecode) and VM.

pub mod bytecode;
pub mod cluster;
pub mod codegen;
pub mod contain;
pub mod diag;
pub mod driver;
pub mod lexer;
pub mod library;
pub mod parser;
pub mod runtime;
pub mod sema;
pub mod vm;

/// `eprint!` without its panic when stderr is closed (`noodle ... 2>&-`, a
/// pipe whose reader left): diagnostics and logs are then dropped quietly.
#[macro_export]
macro_rules! ewrite {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($t)*);
    }};
}

/// `eprintln!` that ignores a closed stderr (see `ewrite!`).
#[macro_export]
macro_rules! ewriteln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// `print!`/`println!` for the CLI that ignore a closed stdout.
#[macro_export]
macro_rules! owrite {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

/// `println!` for the CLI that ignores a closed stdout (see `owrite!`).
#[macro_export]
macro_rules! owriteln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}
