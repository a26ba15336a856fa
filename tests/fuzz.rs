//! Property tests: random and mutated sources never panic the compiler, and
//! random or mutated bytes never panic the NBC loader and verifier.

use noodle::bytecode::nbc;
use noodle::driver::compile_file;
use proptest::prelude::*;
use std::path::Path;

fn seeds() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("noodle-programs");
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "nd"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Run bytecode the verifier accepted through the real binary (a forged
/// program may loop forever: it is stopped after two seconds, which is not a
/// failure). A crash — a signal, a panic (101) or an internal error (70) — is.
fn run_accepted(bytes: &[u8]) -> Result<(), TestCaseError> {
    use std::process::{Command, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!("noodle-fuzz-{}-{}.nbc", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_noodle"))
        .args(["run", "--ephemeral", "--workers", "1"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let start = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if start.elapsed() < std::time::Duration::from_secs(2) => std::thread::sleep(std::time::Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let _ = std::fs::remove_file(&path);
    if let Some(st) = status {
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let crashed = st.code().is_none_or(|c| c == 101 || c == 70);
        prop_assert!(!crashed, "verified bytecode crashed noodle ({st}):\n{}", err.chars().take(2000).collect::<String>());
    }
    Ok(())
}

fn compile(src: &str) {
    let _ = compile_file(Path::new("/nonexistent/fuzz.nd"), src.to_string());
}

const ALPHABET: &[&str] = &[
    "let ",
    "var ",
    "def ",
    "f",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    "|",
    "||",
    ",",
    ":",
    ";",
    "\n",
    "=",
    "+",
    "-",
    "*",
    "/",
    "**",
    "..",
    "if ",
    "else ",
    "while ",
    "for ",
    " in ",
    "return ",
    "class ",
    "extends ",
    "self",
    "super",
    ".",
    "x",
    "1",
    "2.5",
    "\"s\"",
    "f\"{x}\"",
    "try ",
    "catch e ",
    "finally ",
    "throw ",
    "import ",
    "and ",
    "or ",
    "not ",
    "<",
    "==",
    "break",
    "continue",
    "await ",
    "async ",
    "none",
    "true",
    "#c\n",
    "0x",
    "1MB",
    "'",
    "\\",
    "{{",
    "é",
    "actor ",
    "state ",
    "spawn ",
    "send ",
    " with ",
    "@",
    "m[1, 2]",
    "def init() ",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_token_soup_never_panics(parts in prop::collection::vec(0..ALPHABET.len(), 0..60)) {
        let src: String = parts.iter().map(|i| ALPHABET[*i]).collect();
        compile(&src);
    }

    #[test]
    fn random_text_never_panics(src in "\\PC{0,200}") {
        compile(&src);
    }

    #[test]
    fn mutated_programs_never_panic(seed in 0usize..1000, cuts in prop::collection::vec((0usize..10_000, 0usize..8, 0..ALPHABET.len()), 1..6)) {
        let seeds = seeds();
        let mut src = seeds[seed % seeds.len()].clone().into_bytes();
        for (pos, len, ins) in cuts {
            let p = pos % (src.len() + 1);
            let end = (p + len).min(src.len());
            src.splice(p..end, ALPHABET[ins].bytes());
        }
        compile(&String::from_utf8_lossy(&src));
    }

    #[test]
    fn random_format_specs_never_panic(spec in "[-+ #0-9,_.<>^*xXobdfFeEgGs%]{0,12}", i in any::<i64>(), x in any::<f64>()) {
        use noodle::vm::{format::format_value, value::Value};
        for v in [Value::Int(i), Value::Float(x), Value::str("text")] {
            if let Ok(s) = format_value(&v, &spec) {
                prop_assert!(s.chars().count() <= 20_000, "{spec}: {} chars", s.len());
            }
        }
    }

    #[test]
    fn random_bytes_never_panic_the_loader(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = nbc::decode(&bytes);
        let mut with_magic = b"NBC\0\x01\0\0\0".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = nbc::decode(&with_magic);
    }

    #[test]
    fn mutated_bytecode_is_refused_or_verified(seed in 0usize..1000, flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let seeds = seeds();
        let Ok(c) = compile_file(Path::new("/nonexistent/seed.nd"), seeds[seed % seeds.len()].clone()) else { return Ok(()) };
        let file = nbc::encode(&c.program);
        // Corrupt the body and fix the checksum, so the verifier (not the CRC) must cope.
        let mut body = file[16..].to_vec();
        for (pos, val) in flips {
            let n = body.len();
            body[pos % n] = val;
        }
        let mut forged = file[..16].to_vec();
        forged[8..12].copy_from_slice(&(body.len() as u32).to_le_bytes());
        forged[12..16].copy_from_slice(&crc32fast::hash(&body).to_le_bytes());
        forged.extend_from_slice(&body);
        if nbc::decode(&forged).is_ok() {
            // The verifier accepted it: it must run without crashing the VM.
            run_accepted(&forged)?;
        }
        // Truncations are refused with a message.
        for cut in [0, 3, 15, file.len() / 2, file.len() - 1] {
            prop_assert!(nbc::decode(&file[..cut]).is_err());
        }
    }
}
