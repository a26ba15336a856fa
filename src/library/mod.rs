//! The native library modules (`import math`, `import db`, ...). Each module
//! registers itself in `MODULES`; the VM sees them only through
//! `vm::native::LibraryModule` and knows none of them by name.

/// A module's functions as a static table of `Native`s.
macro_rules! module_fns {
    ($static:ident: $($name:literal => $f:expr),* $(,)?) => {
        static $static: &[crate::vm::value::Native] = &[$(crate::vm::value::Native { name: $name, f: $f }),*];
    };
}

pub mod db;
pub mod fs;
pub mod json;
pub mod linalg;
pub mod math;
pub mod nn;
pub mod random;
pub mod time;

use crate::vm::native::LibraryModule;

/// Every library module, by the name `import` uses.
pub static MODULES: &[&LibraryModule] =
    &[&math::MODULE, &json::MODULE, &time::MODULE, &random::MODULE, &linalg::MODULE, &nn::MODULE, &fs::MODULE, &db::MODULE];

#[cfg(test)]
mod tests {
    /// The compiler knows library modules by name (`bytecode::NATIVE_MODULES`);
    /// every one it accepts must exist here, and no other.
    #[test]
    fn modules_agree_with_the_compiler() {
        let names: Vec<&str> = super::MODULES.iter().map(|m| m.name).collect();
        assert_eq!(names, crate::bytecode::NATIVE_MODULES);
    }
}
