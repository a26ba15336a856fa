//! Containing panics of libraries (redb on a corrupt file, for one): a panic
//! inside `contain` becomes an error message instead of a crash, and the
//! default panic report is kept off stderr for it. Panics elsewhere (bugs in
//! Noodle itself) are reported as before.

use std::cell::{Cell, RefCell};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINED.with(Cell::get) {
                let msg = match (info.payload().downcast_ref::<&str>(), info.payload().downcast_ref::<String>()) {
                    (Some(s), _) => s.to_string(),
                    (_, Some(s)) => s.clone(),
                    _ => "a panic without a message".to_string(),
                };
                let at = info
                    .location()
                    .map(|l| format!(" ({}:{})", l.file().rsplit("/src/").next().unwrap_or(l.file()), l.line()))
                    .unwrap_or_default();
                LAST.with(|l| *l.borrow_mut() = Some(format!("{msg}{at}")));
            } else {
                default(info)
            }
        }));
    });
}

/// Run `f`; if it panics, return the panic's message instead.
pub fn contain<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let outer = CONTAINED.with(|c| c.replace(true));
    let r = catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(outer));
    r.map_err(|_| LAST.with(|l| l.borrow_mut().take()).unwrap_or_else(|| "a library panicked".to_string()))
}

/// Locks a mutex whose holder may have panicked: the panic was contained
/// and reported, so the data is used as it stands.
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::contain;

    #[test]
    fn a_panic_becomes_its_message() {
        let r: Result<(), String> = contain(|| panic!("boom {}", 7));
        let e = r.unwrap_err();
        assert!(e.starts_with("boom 7"), "{e}");
        assert_eq!(contain(|| 5), Ok(5));
    }
}
