//! `time`: wall-clock and monotonic time.

use crate::vm::args::{arity, kwarg};
use crate::vm::native::LibraryModule;
use crate::vm::value::*;

module_fns! { TIME:
    "now" => |_, a, k| { kwarg("now", k, &[])?; arity("now", a, 0, 0)?; Ok(Value::Float(epoch())) },
    "monotonic" => |_, a, k| {
        kwarg("monotonic", k, &[])?;
        arity("monotonic", a, 0, 0)?;
        thread_local!(static START: std::time::Instant = std::time::Instant::now());
        Ok(Value::Float(START.with(|s| s.elapsed().as_secs_f64())))
    },
}

pub static MODULE: LibraryModule = LibraryModule { name: "time", functions: TIME, constants: &[], revive: None };

fn epoch() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}
