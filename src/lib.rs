//! Noodle: compiler pipeline (lexer → parser → sema → codegen → bytecode) and VM.

pub mod diag;
pub mod lexer;
pub mod parser;
pub mod bytecode;
pub mod sema;
pub mod vm;
pub mod codegen;
pub mod driver;
