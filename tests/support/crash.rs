//! Durable actors against real crashes: the program is killed with SIGKILL
//! (by PID) at random moments and run again on the same data directory, many
//! times, within a bounded time; a signal commits before exiting; a damaged
//! record on disk falls back to the previous one. Every process started here
//! is waited for or killed, even when a check fails.

use libtest_mimic::{Failed, Trial};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::scratch::Scratch;
use super::{run, BIN};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("crash::turn_bank_survives_kill_9", turn_bank_survives_kill_9),
        Trial::test("crash::checkpoint_state_is_a_committed_one", checkpoint_state_is_a_committed_one),
        Trial::test("crash::signals_commit_before_exit", signals_commit_before_exit),
        Trial::test("crash::interval_commits_an_idle_actor", interval_commits_an_idle_actor),
        Trial::test("crash::damaged_record_uses_the_previous", damaged_record_uses_the_previous),
    ]
}

/// A child killed (SIGKILL, by PID) and reaped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A small deterministic generator for kill delays (xorshift).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    t | 1
}

/// Start noodle with stdout piped; stdout is read to the end by the caller.
fn start(args: &[&str]) -> Result<Running, Failed> {
    let c = Command::new(BIN).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    Ok(Running(c))
}

/// Run until `kill_after` (then SIGKILL) or the end, at most 30 s; the
/// stdout written so far, stderr, and whether it was killed.
fn run_until(args: &[&str], kill_after: Option<Duration>) -> Result<(String, String, bool), Failed> {
    let mut child = start(args)?;
    let mut out = child.0.stdout.take().ok_or("no stdout")?;
    let mut err = child.0.stderr.take().ok_or("no stderr")?;
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let begun = Instant::now();
    let limit = Duration::from_secs(30);
    let mut killed = false;
    loop {
        if child.0.try_wait().map_err(|e| e.to_string())?.is_some() {
            break;
        }
        if kill_after.is_some_and(|k| begun.elapsed() >= k) || begun.elapsed() > limit {
            killed = true;
            let _ = child.0.kill();
            let _ = child.0.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if begun.elapsed() > limit {
        return Err("noodle ran for more than 30 s".into());
    }
    let out = reader.join().unwrap_or_default();
    let err = err_reader.join().unwrap_or_default();
    Ok((out, err, killed))
}

/// A bank of durable `"turn"` accounts doing transfers, killed at random
/// moments 24 times: after every rerun the total is unchanged and every
/// acknowledged transfer is applied.
fn turn_bank_survives_kill_9() -> Result<(), Failed> {
    let s = Scratch::new("bank");
    let data = s.path("data");
    let bank = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/bank.nd");
    let mut rng = Rng(seed());
    let mut acked: Vec<String> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut kills = 0;
    let mut checked = 0;
    for round in 0..40 {
        if Instant::now() > deadline {
            break;
        }
        let last = kills >= 24;
        let tag = format!("r{round}");
        let kill = (!last).then(|| Duration::from_millis(20 + rng.below(300)));
        let (out, err, killed) = run_until(&["run", "--workers", "2", "--data", &data, bank, &tag, "400"], kill)?;
        if err.contains("panicked") {
            return Err(format!("round {round}: a panic\n{err}").into());
        }
        let mut lines = out.lines();
        if let (Some(total), Some(applied)) = (lines.next(), lines.next()) {
            if total != "total 4000" {
                return Err(format!("round {round}: {total} after {kills} kills\n{err}").into());
            }
            let applied: std::collections::HashSet<&str> = applied.split_whitespace().skip(1).collect();
            if let Some(lost) = acked.iter().find(|id| !applied.contains(id.as_str())) {
                return Err(format!("round {round}: acknowledged transfer {lost} is lost").into());
            }
            checked += 1;
        } else if !killed {
            return Err(format!("round {round}: no report\n{out}\n{err}").into());
        }
        acked.extend(lines.filter_map(|l| l.strip_prefix("ack ")).map(str::to_string));
        if killed {
            kills += 1;
        } else if !out.ends_with("done\n") {
            return Err(format!("round {round}: did not finish\n{err}").into());
        }
        if last {
            break;
        }
    }
    if kills < 20 || checked < 10 || acked.is_empty() {
        return Err(format!("only {kills} kills, {checked} checked runs, {} acknowledged transfers", acked.len()).into());
    }
    Ok(())
}

/// `"checkpoint"` mode with `checkpoint_every: 7`: whatever moment the
/// process dies, the state read back is one that was committed — counter
/// and log agree, and the counter moved to a 7-message boundary of the run
/// before (or not at all).
fn checkpoint_state_is_a_committed_one() -> Result<(), Failed> {
    let s = Scratch::new("ckpt");
    let data = s.path("data");
    let prog = s.path("count.nd");
    std::fs::write(
        &prog,
        "actor Counter {\n    state n = 0\n    state log = []\n    def inc() { self.n += 1; self.log.append(self.n); return self.n }\n    def check() { return len(self.log) == self.n and (self.n == 0 or self.log[self.n - 1] == self.n) }\n    def get() { return self.n }\n}\nlet c = spawn Counter() with {name: \"c\", durable: true, checkpoint_every: 7, strategy: \"balanced\"}\nprint(\"start\", await c.get(), await c.check())\nfor i in range(0, 1000000) { await c.inc() }\n",
    )
    .map_err(|e| e.to_string())?;
    let mut rng = Rng(seed());
    let mut prev: Option<i64> = None;
    for round in 0..12 {
        let kill = Duration::from_millis(30 + rng.below(200));
        let (out, err, killed) = run_until(&["run", "--workers", "2", "--data", &data, &prog], Some(kill))?;
        if !killed {
            return Err(format!("round {round}: ended by itself\n{out}\n{err}").into());
        }
        let Some(line) = out.lines().next() else { continue };
        let mut f = line.split_whitespace().skip(1);
        let (n, ok) = (f.next().and_then(|n| n.parse::<i64>().ok()), f.next());
        let Some(n) = n else { return Err(format!("round {round}: {line}\n{err}").into()) };
        if ok != Some("true") {
            return Err(format!("round {round}: state is not a committed one: {line}").into());
        }
        if let Some(p) = prev {
            // Commits come every 7 messages of a run, and the run's first two
            // messages (`get`, `check`) changed nothing.
            if n < p || (n != p && (n - p + 2) % 7 != 0) {
                return Err(format!("round {round}: counter went from {p} to {n}").into());
            }
        }
        prev = Some(n);
    }
    if prev.is_none() {
        return Err("no run got as far as its first line".into());
    }
    Ok(())
}

/// SIGTERM and SIGINT: durable actors commit, the exit code is 128 + the
/// signal, and the next run resumes from that state.
fn signals_commit_before_exit() -> Result<(), Failed> {
    let s = Scratch::new("signals");
    let data = s.path("data");
    let prog = s.path("count.nd");
    std::fs::write(
        &prog,
        "actor C {\n    state n = 0\n    def inc() { self.n += 1; return self.n }\n}\nlet c = spawn C() with {name: \"c\", durable: true, strategy: \"balanced\"}\nprint(\"start\", await c.inc())\nwhile true { await c.inc(); await sleep(2) }\n",
    )
    .map_err(|e| e.to_string())?;
    for (sig, code) in [(libc::SIGTERM, 143), (libc::SIGINT, 130)] {
        let mut child = start(&["run", "--workers", "2", "--data", &data, &prog])?;
        std::thread::sleep(Duration::from_millis(400));
        // SAFETY: signals the child this test started, by its PID.
        unsafe { libc::kill(child.0.id() as i32, sig) };
        let begun = Instant::now();
        let status = loop {
            if let Some(st) = child.0.try_wait().map_err(|e| e.to_string())? {
                break st;
            }
            if begun.elapsed() > Duration::from_secs(15) {
                return Err(format!("still running 15 s after signal {sig}").into());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        if status.code() != Some(code) {
            return Err(format!("signal {sig}: exit {:?}", status.code()).into());
        }
    }
    let (show, _, c) = run(&["state", "show", "c", "--data", &data], "");
    let n: i64 = show.lines().find_map(|l| l.trim().strip_prefix("n = ")).and_then(|n| n.parse().ok()).unwrap_or(0);
    if c != 0 || n < 10 || !show.starts_with("c: C (generation 2,") {
        return Err(format!("after two signals:\n{show}").into());
    }
    Ok(())
}

/// `checkpoint_interval`: a change is committed within the interval even
/// if nothing else happens, so a `kill -9` after that keeps it.
fn interval_commits_an_idle_actor() -> Result<(), Failed> {
    let s = Scratch::new("interval");
    let data = s.path("data");
    let prog = s.path("idle.nd");
    std::fs::write(
        &prog,
        "actor C {\n    state n = 0\n    def set(v) { self.n = v; return v }\n}\nlet c = spawn C() with {name: \"c\", durable: true, checkpoint_interval: 50, strategy: \"balanced\"}\nprint(await c.set(42))\nawait sleep(60000)\n",
    )
    .map_err(|e| e.to_string())?;
    let (out, err, killed) = run_until(&["run", "--workers", "2", "--data", &data, &prog], Some(Duration::from_millis(1500)))?;
    if !killed || out != "42\n" {
        return Err(format!("killed {killed}: {out}\n{err}").into());
    }
    let (show, err, c) = run(&["state", "show", "c", "--data", &data], "");
    if c != 0 || !show.ends_with("  n = 42\n") {
        return Err(format!("after kill -9: exit {c}\n{show}\n{err}").into());
    }
    Ok(())
}

/// Damage the newest record inside the redb file: the next run warns and
/// resumes from the previous record.
fn damaged_record_uses_the_previous() -> Result<(), Failed> {
    let s = Scratch::new("damage");
    let data = s.path("data");
    let prog = s.path("note.nd");
    std::fs::write(
        &prog,
        "actor Note {\n    state text = \"\"\n    def set(t) { let old = self.text; self.text = t; return old }\n}\nlet n = spawn Note() with {name: \"note\", durable: true}\nprint(await n.set(args()[0]))\n",
    )
    .map_err(|e| e.to_string())?;
    for word in ["first-version-aaaa", "second-version-bbbb"] {
        let (out, err, code) = run(&["run", "--data", &data, &prog, word], "");
        if code != 0 {
            return Err(format!("{word}: exit {code}\n{out}\n{err}").into());
        }
    }
    // Every copy of the newest state's text in the file (redb may keep
    // stale pages too) gets one byte changed.
    let file = format!("{data}/checkpoints.redb");
    let mut bytes = std::fs::read(&file).map_err(|e| e.to_string())?;
    let needle = b"second-version-bbbb";
    let mut hits = 0;
    for i in 0..bytes.len().saturating_sub(needle.len()) {
        if &bytes[i..i + needle.len()] == needle {
            bytes[i + needle.len() - 1] = b'X';
            hits += 1;
        }
    }
    if hits == 0 {
        return Err("the newest record's text is not in the file".into());
    }
    std::fs::write(&file, &bytes).map_err(|e| e.to_string())?;
    let (out, err, code) = run(&["run", "--data", &data, &prog, "third"], "");
    if code != 0 || out != "first-version-aaaa\n" || !err.contains("warning: the newest record of `note` is damaged") {
        return Err(format!("after damage: exit {code}\n{out}\n{err}").into());
    }
    Ok(())
}
