//! A scratch directory for one test (cli, crash and cluster tests share it),
//! removed when dropped — also when the test fails.

use std::path::PathBuf;

pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A fresh directory; `name` must be unique among the tests.
    pub fn new(name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("noodle-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("temp dir");
        Scratch(d)
    }

    /// The path of `name` inside it (not created).
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }

    /// Write `text` to `name` inside it; its path.
    pub fn file(&self, name: &str, text: impl AsRef<[u8]>) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("write");
        p.to_string_lossy().into_owned()
    }

    /// The text of `name` inside it ("" if there is none yet).
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.0.join(name)).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
