//! One test per program in `noodle-programs/`, run through the real `noodle`
//! binary. A program states what it expects in comments:
//!
//! - `# expect: TEXT` — the next line of stdout (in order, all of them);
//! - `# expect-error: TEXT` — stderr contains TEXT and the exit code is 3;
//! - `# expect-compile-error: TEXT` — stderr contains TEXT and the exit code is 1;
//! - `# expect-stderr: TEXT` — stderr contains TEXT (logs, dead letters);
//! - `# args: A B` — program arguments; `# stdin: TEXT` — a line of input;
//! - `# workers: N` — run with `--workers N`; `# expect-exit: N` — exit code;
//! - `# cluster: N` — run on N `noodle node` processes (n1..nN, on
//!   127.0.0.1), the program's own node named `main`.
//!
//! Programs that run are also built to `.nbc` and run again from it, which
//! must give the same result. Golden files (`tests/golden/{diag,disasm}`)
//! hold `noodle check` diagnostics and `noodle disasm` listings; set
//! `NOODLE_BLESS=1` to rewrite them.

use libtest_mimic::{Arguments, Failed, Trial};

#[path = "support/cli.rs"]
mod cli;
#[path = "support/cluster.rs"]
mod cluster;
#[path = "support/crash.rs"]
mod crash;
#[path = "support/etcd.rs"]
mod etcd;
#[path = "support/failover.rs"]
mod failover;
#[path = "support/scratch.rs"]
mod scratch;
#[path = "support/sim.rs"]
mod sim;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_noodle");

struct Expect {
    stdout: Vec<String>,
    error: Option<String>,
    compile_error: Vec<String>,
    args: Vec<String>,
    stdin: String,
    stderr: Vec<String>,
    workers: Option<String>,
    exit: Option<i32>,
    /// `# runs: N`: run N times against one fresh data directory
    /// (durable actors), checking each run's `# expect-run K:` lines.
    runs: usize,
    run_stdout: Vec<(usize, String)>,
    /// `# cluster: N`: run on a cluster of N `noodle node`s (n1..nN) as
    /// node `main`.
    cluster: usize,
}

fn parse_expect(src: &str) -> Expect {
    let mut e = Expect {
        stdout: vec![],
        error: None,
        compile_error: vec![],
        args: vec![],
        stdin: String::new(),
        stderr: vec![],
        workers: None,
        exit: None,
        runs: 1,
        run_stdout: vec![],
        cluster: 0,
    };
    for line in src.lines() {
        let Some(pos) = line.find("# ") else { continue };
        let c = &line[pos + 2..];
        if let Some(t) = c.strip_prefix("expect: ") {
            e.stdout.push(t.to_string());
        } else if c == "expect:" {
            e.stdout.push(String::new());
        } else if let Some(t) = c.strip_prefix("expect-error: ") {
            e.error = Some(t.to_string());
        } else if let Some(t) = c.strip_prefix("expect-compile-error: ") {
            e.compile_error.push(t.to_string());
        } else if let Some(t) = c.strip_prefix("expect-stderr: ") {
            e.stderr.push(t.to_string());
        } else if let Some(t) = c.strip_prefix("expect-exit: ") {
            e.exit = t.trim().parse().ok();
        } else if let Some(t) = c.strip_prefix("runs: ") {
            e.runs = t.trim().parse().unwrap_or(1);
        } else if let Some(t) = c.strip_prefix("expect-run ") {
            if let Some((k, line)) = t.split_once(':') {
                e.run_stdout.push((k.trim().parse().unwrap_or(0), line.strip_prefix(' ').unwrap_or(line).to_string()));
            }
        } else if let Some(t) = c.strip_prefix("cluster: ") {
            e.cluster = t.trim().parse().unwrap_or(0);
        } else if let Some(t) = c.strip_prefix("workers: ") {
            e.workers = Some(t.trim().to_string());
        } else if let Some(t) = c.strip_prefix("args: ") {
            e.args = t.split_whitespace().map(String::from).collect();
        } else if let Some(t) = c.strip_prefix("stdin: ") {
            e.stdin.push_str(t);
            e.stdin.push('\n');
        }
    }
    e
}

fn run(args: &[&str], stdin: &str) -> (String, String, i32) {
    let mut child =
        Command::new(BIN).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn noodle");
    {
        use std::io::Write;
        let mut si = child.stdin.take().expect("stdin");
        let _ = si.write_all(stdin.as_bytes());
    }
    let out = child.wait_with_output().expect("wait");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned(), out.status.code().unwrap_or(-1))
}

fn check_program(path: &Path) -> Result<(), Failed> {
    let src = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let e = parse_expect(&src);
    let p = path.to_str().ok_or("path")?;
    if e.runs > 1 {
        return check_runs(path, &e);
    }
    // Durable actors keep their records in memory: no test leaves a
    // `.noodle/` behind.
    let cluster = match e.cluster {
        0 => None,
        n => Some(cluster::Cluster::start(n)?),
    };
    let on_cluster = cluster.as_ref().map(|c| c.run_args()).unwrap_or_default();
    let mut argv = vec!["run", "--ephemeral"];
    argv.extend(on_cluster.iter().map(String::as_str));
    if let Some(w) = &e.workers {
        argv.extend(["--workers", w.as_str()]);
    }
    argv.push(p);
    argv.extend(e.args.iter().map(String::as_str));
    let (out, err, code) = run(&argv, &e.stdin);
    if !e.compile_error.is_empty() {
        if code != 1 {
            return Err(format!("expected exit 1 (compile error), got {code}\nstdout:\n{out}\nstderr:\n{err}").into());
        }
        for c in &e.compile_error {
            if !err.contains(c.as_str()) {
                return Err(format!("stderr lacks {c:?}:\n{err}").into());
            }
        }
        return Ok(());
    }
    compare(&e, &out, &err, code, "source")?;
    // The same program from a built .nbc file must behave the same.
    let nbc = std::env::temp_dir().join(format!(
        "noodle-test-{}-{}.nbc",
        std::process::id(),
        path.file_stem().and_then(|s| s.to_str()).unwrap_or("p")
    ));
    let nbc_s = nbc.to_str().ok_or("path")?.to_string();
    let (_, berr, bcode) = run(&["build", p, "-o", &nbc_s], "");
    if bcode != 0 {
        return Err(format!("build failed ({bcode}): {berr}").into());
    }
    let mut argv = vec!["run", "--ephemeral"];
    argv.extend(on_cluster.iter().map(String::as_str));
    if let Some(w) = &e.workers {
        argv.extend(["--workers", w.as_str()]);
    }
    argv.push(nbc_s.as_str());
    argv.extend(e.args.iter().map(String::as_str));
    let (out2, err2, code2) = run(&argv, &e.stdin);
    let _ = std::fs::remove_file(&nbc);
    compare(&e, &out2, &err2, code2, "nbc")
}

/// A program run several times against one data directory: odd runs from
/// source, even runs from its `.nbc` (records made by one are read by the
/// other), each checked against its `# expect-run K:` lines.
fn check_runs(path: &Path, e: &Expect) -> Result<(), Failed> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("p");
    let dir = std::env::temp_dir().join(format!("noodle-runs-{}-{stem}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    let nbc = dir.join("p.nbc");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (p, data_s, nbc_s) = (path.to_str().ok_or("path")?, data.to_str().ok_or("path")?, nbc.to_str().ok_or("path")?);
    let (_, berr, bcode) = run(&["build", p, "-o", nbc_s], "");
    let mut result = if bcode == 0 { Ok(()) } else { Err(format!("build failed ({bcode}): {berr}").into()) };
    for k in 1..=e.runs {
        if result.is_err() {
            break;
        }
        let target = if k % 2 == 1 { p } else { nbc_s };
        let mut argv = vec!["run", "--data", data_s];
        if let Some(w) = &e.workers {
            argv.extend(["--workers", w.as_str()]);
        }
        argv.push(target);
        let (out, err, code) = run(&argv, &e.stdin);
        let want: Vec<&str> = e.run_stdout.iter().filter(|(r, _)| *r == k).map(|(_, l)| l.as_str()).collect();
        if code != 0 || out.lines().collect::<Vec<_>>() != want {
            result =
                Err(format!("run {k} (exit {code}) differs\n--- expected\n{}\n--- got\n{out}\n--- stderr\n{err}", want.join("\n")).into());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn compare(e: &Expect, out: &str, err: &str, code: i32, how: &str) -> Result<(), Failed> {
    let got: Vec<&str> = out.lines().collect();
    if got != e.stdout.iter().map(String::as_str).collect::<Vec<_>>() {
        return Err(format!("[{how}] stdout differs\n--- expected\n{}\n--- got\n{}\n--- stderr\n{err}", e.stdout.join("\n"), out).into());
    }
    for s in &e.stderr {
        if !err.contains(s.as_str()) {
            return Err(format!("[{how}] stderr lacks {s:?}:\n{err}").into());
        }
    }
    match &e.error {
        Some(msg) => {
            if code != 3 || !err.contains(msg.as_str()) {
                return Err(format!("[{how}] expected runtime error {msg:?} (exit 3), got exit {code}, stderr:\n{err}").into());
            }
        }
        None => {
            if code != e.exit.unwrap_or(0) {
                return Err(format!("[{how}] exit code {code}, stderr:\n{err}").into());
            }
        }
    }
    Ok(())
}

fn golden(path: &Path, cmd: &str, ext: &str) -> Result<(), Failed> {
    let p = path.to_str().ok_or("path")?;
    let (out, err, _) = run(&[cmd, p], "");
    let got = if cmd == "check" { err } else { out };
    let got = got.replace(&format!("{}/", path.parent().and_then(|d| d.to_str()).unwrap_or("")), "");
    let gold = path.with_extension(ext);
    if std::env::var_os("NOODLE_BLESS").is_some() {
        std::fs::write(&gold, &got).map_err(|e| e.to_string())?;
        return Ok(());
    }
    let want = std::fs::read_to_string(&gold).map_err(|_| format!("missing golden file {} (run with NOODLE_BLESS=1)", gold.display()))?;
    if want != got {
        return Err(format!("output differs from {}\n--- expected\n{want}\n--- got\n{got}", gold.display()).into());
    }
    Ok(())
}

/// The REPL over a pipe: definitions persist, expression lines print, open
/// brackets continue, errors are reported and the session goes on.
fn repl_session() -> Result<(), Failed> {
    let input = "let x = 40\nx + 2\ndef f(a) {\n  return a * 2\n}\nf(x)\nlet x = 1\nx\n1 / 0\nprint(\"still here\")\n[1,\n 2]\nundefined_thing\n\"str\"\nhelp\n:quit\nprint(\"after quit\")\n";
    let (out, err, code) = run(&["repl"], input);
    // Strings echo quoted, as inside containers; `help` answers as `:help`.
    let want = "42\n80\n1\nstill here\n[1, 2]\n\"str\"\nNoodle REPL — enter statements or expressions.\n";
    // Inputs failed, so the piped session exits 1 (as a script would).
    if !out.starts_with(want)
        || out.contains("after quit")
        || code != 1
        || !err.contains("ZeroDivisionError")
        || !err.contains("unknown name `undefined_thing`")
    {
        return Err(format!("repl session differs\n--- stdout\n{out}\n--- stderr\n{err}\nexit {code}").into());
    }
    Ok(())
}

/// Actors in the REPL: declared in one input, used in later ones, on other
/// workers too (which load the program as it grows).
fn repl_actors() -> Result<(), Failed> {
    let input = "actor C {\n state n = 0\n def inc() { self.n += 1; return self.n }\n}\nlet c = spawn C() with {strategy: \"balanced\"}\nawait c.inc()\nsend c.inc()\nawait c.inc()\nactor D { def hi(x) { return f\"hi {x}\" } }\nawait (spawn D() with {strategy: \"balanced\"}).hi(await c.inc())\nself_id = 1\nlookup(\"none\")\n";
    let (out, err, code) = run(&["repl", "--workers", "2"], input);
    if out != "1\n3\n\"hi 4\"\n" || code != 1 || !err.contains("unknown name `self_id`") {
        return Err(format!("repl actor session differs\n--- stdout\n{out}\n--- stderr\n{err}\nexit {code}").into());
    }
    Ok(())
}

/// Every ```noodle block in docs/*.md runs, with its `# expect:` comments.
fn doc_blocks() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let mut docs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "md")).collect())
        .unwrap_or_default();
    docs.sort();
    for d in docs {
        let text = std::fs::read_to_string(&d).unwrap_or_default();
        let stem = d.file_stem().and_then(|s| s.to_str()).unwrap_or("doc").to_string();
        let mut block: Option<String> = None;
        let mut n = 0;
        for line in text.lines() {
            match (&mut block, line.trim_end()) {
                (None, "```noodle") => block = Some(String::new()),
                (Some(b), "```") => {
                    n += 1;
                    out.push((format!("{stem}_{n}"), std::mem::take(b)));
                    block = None;
                }
                (Some(b), l) => {
                    b.push_str(l);
                    b.push('\n');
                }
                _ => {}
            }
        }
    }
    out
}

fn check_doc_block(name: &str, src: &str) -> Result<(), Failed> {
    let path = std::env::temp_dir().join(format!("noodle-doc-{}-{name}.nd", std::process::id()));
    std::fs::write(&path, src).map_err(|e| e.to_string())?;
    let r = check_program(&path);
    let _ = std::fs::remove_file(&path);
    r
}

fn files(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut v: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "nd")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn main() {
    let args = Arguments::from_args();
    let mut trials = Vec::new();
    for p in files("noodle-programs") {
        let name = format!("program::{}", p.file_stem().and_then(|s| s.to_str()).unwrap_or("?"));
        trials.push(Trial::test(name, move || check_program(&p)));
    }
    for p in files("examples") {
        let name = format!("example::{}", p.file_stem().and_then(|s| s.to_str()).unwrap_or("?"));
        trials.push(Trial::test(name, move || check_program(&p)));
    }
    trials.extend(cli::trials());
    trials.extend(crash::trials());
    trials.extend(cluster::trials());
    trials.extend(failover::trials());
    trials.extend(etcd::trials());
    trials.extend(sim::trials());
    trials.push(Trial::test("repl::piped_session", repl_session));
    trials.push(Trial::test("repl::actors", repl_actors));
    for (name, src) in doc_blocks() {
        let n = name.clone();
        trials.push(Trial::test(format!("doc::{name}"), move || check_doc_block(&n, &src)));
    }
    for p in files("tests/golden/diag") {
        let name = format!("diag::{}", p.file_stem().and_then(|s| s.to_str()).unwrap_or("?"));
        trials.push(Trial::test(name, move || golden(&p, "check", "stderr")));
    }
    for p in files("tests/golden/disasm") {
        let name = format!("disasm::{}", p.file_stem().and_then(|s| s.to_str()).unwrap_or("?"));
        trials.push(Trial::test(name, move || golden(&p, "disasm", "disasm")));
    }
    libtest_mimic::run(&args, trials).exit();
}
