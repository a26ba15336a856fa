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
pub mod suggest;
pub mod vm;

/// `eprint!` without its panic when stderr is closed (`noodle ... 2>&-`, a
/// pipe whose reader left): diagnostics and logs are then dropped quietly.
#[macro_export]
macro_rules! ewrite {
    ($($t:tt)*) => {{
        $crate::stderr_write(format_args!($($t)*), false);
    }};
}

/// `eprintln!` that ignores a closed stderr (see `ewrite!`).
#[macro_export]
macro_rules! ewriteln {
    ($($t:tt)*) => {{
        $crate::stderr_line(format_args!($($t)*));
    }};
}

/// Where forwarded output goes (a function carrying bytes to another node).
pub type OutputFn = std::sync::Arc<dyn Fn(&[u8]) + Send + Sync>;

thread_local! {
    static STDERR_TO: std::cell::RefCell<Option<OutputFn>> = const { std::cell::RefCell::new(None) };
}

/// Send this thread's diagnostics (`ewrite!`, `ewriteln!`) elsewhere: a
/// worker hosting actors for a program on another node sends them there.
pub fn redirect_stderr(to: OutputFn) {
    STDERR_TO.with(|s| *s.borrow_mut() = Some(to));
}

#[doc(hidden)]
pub fn stderr_write(args: std::fmt::Arguments<'_>, newline: bool) {
    use std::io::Write as _;
    let forwarded = STDERR_TO.with(|s| match &*s.borrow() {
        Some(f) => {
            let mut text = args.to_string();
            if newline {
                text.push('\n');
            }
            f(text.as_bytes());
            true
        }
        None => false,
    });
    if !forwarded {
        let mut e = std::io::stderr().lock();
        let _ = e.write_fmt(args);
        if newline {
            let _ = e.write_all(b"\n");
        }
    }
}

#[doc(hidden)]
pub fn stderr_line(args: std::fmt::Arguments<'_>) {
    stderr_write(args, true)
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
