//! Node death with real processes (loopback only, bounded): what a program
//! waits for from a node that is SIGKILLed ends with an error instead of
//! hanging. Every process is stopped by PID when its guard drops.

use libtest_mimic::{Failed, Trial};

use super::cluster::{Cluster, Running};
use super::scratch::Scratch;
use std::process::Command;
use std::time::{Duration, Instant};

/// Each fault with gossip membership, and again with membership in etcd.
pub fn trials() -> Vec<Trial> {
    let mut t = Vec::new();
    for (via, etcd) in [("", false), ("etcd::", true)] {
        let on = |name: &str, f: fn(bool) -> Result<(), Failed>| {
            let t = Trial::test(format!("failover::{via}{name}"), move || f(etcd));
            if etcd {
                super::etcd::needs_etcd(t)
            } else {
                t
            }
        };
        t.extend([
            on("asks_to_a_dead_node_fail", asks_to_a_dead_node_fail),
            on("durable_accounts_survive_a_killed_node", durable_accounts_survive_a_killed_node),
            on("a_paused_node_is_fenced_and_rejoins", a_paused_node_is_fenced_and_rejoins),
        ]);
    }
    t.push(Trial::test("failover::a_program_cut_off_from_the_majority_stops", a_program_cut_off_from_the_majority_stops));
    t.push(super::etcd::needs_etcd(Trial::test("failover::etcd::a_program_that_loses_etcd_stops", a_program_that_loses_etcd_stops)));
    t
}

/// The bank below with n3 SIGKILLed under load.
fn durable_accounts_survive_a_killed_node(etcd: bool) -> Result<(), Failed> {
    let c = bank_under_fault(&format!("failover-kill-{etcd}"), etcd, |c| {
        c.nodes[2].child.kill().map_err(|e| e.to_string())?;
        let _ = c.nodes[2].child.wait();
        Ok(())
    })?;
    // `noodle cluster status`: n3 down, the two accounts restored on n1/n2.
    super::cluster::status_until(&c.nodes[0].addr, &c.secret, |o| {
        let restored: u64 = o
            .lines()
            .filter(|l| l.starts_with("n1 ") || l.starts_with("n2 "))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum();
        o.lines().any(|l| l.starts_with("n3 ") && l.contains(" down ")) && restored == 2
    })?;
    Ok(())
}

/// As above, but n3 is SIGSTOPped past its failure-detection time (its
/// accounts fail over) and then SIGCONTed: it learns it was declared dead
/// (with etcd: its lease expired, or it fenced itself first), stops what
/// it ran without committing, and rejoins under a new incarnation; no
/// account is applied twice.
fn a_paused_node_is_fenced_and_rejoins(etcd: bool) -> Result<(), Failed> {
    let c = bank_under_fault(&format!("failover-pause-{etcd}"), etcd, |c| {
        let pid = c.nodes[2].child.id().to_string();
        let signal = |s: &str| Command::new("kill").args([s, &pid]).status().map_err(|e| e.to_string());
        signal("-STOP")?;
        std::thread::sleep(Duration::from_secs(9));
        signal("-CONT")?;
        Ok(())
    })?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (n3, n1) = (c._scratch.read("n3.log"), c._scratch.read("n1.log"));
        let incarnations: Vec<&str> =
            n1.lines().filter(|l| l.contains("event=join peer=n3 ")).filter_map(|l| l.rsplit("incarnation=").next()).collect();
        let rejoined = incarnations.len() >= 2 && incarnations[0] != incarnations[incarnations.len() - 1];
        if (n3.contains("event=declared-dead") || n3.contains("event=fenced-self")) && rejoined {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("n3 did not rejoin as a new incarnation; n3:\n{n3}\nn1:\n{n1}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Keep-majority: every node but the program's own is SIGSTOPped, so the
/// program's node is one of four. It must not restore the durable actors
/// on itself from whatever copies it can reach (a newer one may sit on the
/// other side): the program ends with an error (exit 3) instead.
fn a_program_cut_off_from_the_majority_stops() -> Result<(), Failed> {
    let c = Cluster::start(3)?;
    let s = Scratch::new("minority");
    let prog = s.file("p.nd", PATIENT);
    let mut p = Running::start(&c, &s, &prog)?;
    p.expect("ready")?;
    let pids: Vec<String> = c.nodes.iter().map(|n| n.child.id().to_string()).collect();
    let signal = |sig: &str| {
        for pid in &pids {
            Command::new("kill").args([sig, pid]).status().map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    signal("-STOP")?;
    let code = p.finish();
    signal("-CONT")?;
    let code = code?;
    let err = s.read("p.err");
    if code != 3 || !err.contains("cut off from the majority") {
        return Err(format!("exit {code}, stderr:\n{err}").into());
    }
    Ok(())
}

/// Self-fencing: etcd stops answering (SIGSTOPped), so no node can renew
/// its lease. Each stops what it runs before its lease could expire — the
/// program's own node too, which ends the program with an error (exit 3).
fn a_program_that_loses_etcd_stops() -> Result<(), Failed> {
    let c = Cluster::start_on(3, true)?;
    let s = Scratch::new("loses-etcd");
    let prog = s.file("p.nd", PATIENT);
    let mut p = Running::start(&c, &s, &prog)?;
    p.expect("ready")?;
    let pid = c.etcd.as_ref().map_or(0, |e| e.pid).to_string();
    Command::new("kill").args(["-STOP", &pid]).status().map_err(|e| e.to_string())?;
    let code = p.finish();
    Command::new("kill").args(["-CONT", &pid]).status().map_err(|e| e.to_string())?;
    let code = code?;
    let err = s.read("p.err");
    if code != 3 || !err.contains("could not renew its lease in etcd in time") {
        return Err(format!("exit {code}, stderr:\n{err}").into());
    }
    let n1 = c._scratch.read("n1.log");
    if !n1.contains("event=fenced-self") {
        return Err(format!("n1 did not fence itself:\n{n1}").into());
    }
    Ok(())
}

/// Three durable counters, one per node, then a minute of waiting.
const PATIENT: &str = r#"actor Counter {
    state n = 0
    def add() {
        self.n += 1
        return self.n
    }
}
var cs = []
for i in range(3) {
    cs.append(spawn Counter() with {name: f"c{i}", durable: true, durability: "turn", require_node: f"n{i + 1}"})
}
for x in cs { await x.add() }
print("ready")
for i in range(600) { await sleep(100) }
print("still running")
"#;

/// Six durable `"turn"` accounts spread over n1..n3 (each commit copied to
/// another node); main moves money between them, one acknowledged ask at
/// a time, and `fault` strikes n3 under load. n3's accounts are restored on
/// the survivors (generation 2), the asks waiting on them are sent again,
/// and every account ends with exactly the balance main's own bookkeeping
/// says: nothing lost, nothing applied twice.
fn bank_under_fault(tag: &str, etcd: bool, fault: impl FnOnce(&mut Cluster) -> Result<(), Failed>) -> Result<Cluster, Failed> {
    let mut c = Cluster::start_on(3, etcd)?;
    let s = Scratch::new(tag);
    let prog = s.file("bank.nd", BANK);
    let data = s.0.join("main").display().to_string();
    let mut p = Running::start_with(&c, &s, &["--data", &data], &prog, &["300"])?;
    let placed = p.line()?;
    if placed.matches("n3").count() != 2 {
        return Err(format!("accounts not spread over n1..n3: {placed}").into());
    }
    p.expect("ready")?;
    p.expect("ack 0")?;
    p.expect("ack 20")?;
    fault(&mut c)?;
    let mut last = String::new();
    for _ in 0..40 {
        last = p.line()?;
        if !last.starts_with("ack ") {
            break;
        }
    }
    let code = p.finish()?;
    let err = s.read("p.err");
    let restored = err.matches("event=failover actor=acct-").count();
    if last != "total 6000 exact true" || code != 0 || restored != 2 || !err.contains("generation=2") {
        return Err(format!("last line {last:?}, exit {code}, {restored} restored; stderr:\n{err}").into());
    }
    Ok(c)
}

const BANK: &str = r#"actor Account {
    state balance = 0
    def init(start) { self.balance = start }
    def add(n) {
        self.balance += n
        return self.balance
    }
    def get() { return self.balance }
    def where() { return node_of(self) }
}
let n = int(args()[0])
var accts = []
var want = []
for i in range(6) {
    accts.append(spawn Account(1000) with {name: f"acct-{i}", durable: true, durability: "turn", strategy: "round_robin", avoid_node: "main"})
    want.append(1000)
}
var places = []
for a in accts { places.append(await a.where()) }
print("placed", " ".join(places))
print("ready")
for i in range(n) {
    let f = i % 6
    let t = (f + 1 + i % 5) % 6
    await accts[f].add(-5)
    want[f] -= 5
    await accts[t].add(5)
    want[t] += 5
    if i % 20 == 0 { print("ack", i) }
}
var total = 0
var exact = true
for i in range(6) {
    let b = await accts[i].get()
    total += b
    if b != want[i] {
        exact = false
        print("account", i, "has", b, "wants", want[i])
    }
}
print("total", total, "exact", exact)
"#;

/// SIGKILL the node of a non-durable actor while main waits on an ask to it
/// and watches it: the ask fails with `NodeDownError` within seconds, the
/// watch reports `"node_down"`, and later asks fail at once.
fn asks_to_a_dead_node_fail(etcd: bool) -> Result<(), Failed> {
    let mut c = Cluster::start_on(3, etcd)?;
    let s = Scratch::new(&format!("node-down-{etcd}"));
    let prog = s.file(
        "p.nd",
        r#"import time
actor Slow {
    async def wait(ms) {
        await sleep(ms)
        return "late"
    }
    def where() { return node_of(self) }
}
let a = spawn Slow() with {require_node: "n3"}
let w = monitor(a)
print("ready", await a.where())
let t0 = time.monotonic()
try { await a.wait(60000) } catch e { print(e.kind, e.message.starts_with("node n3 is down"), time.monotonic() - t0 < 20) }
let ev = await w
print(ev["kind"], ev["error"].kind)
let t1 = time.monotonic()
try { await a.where() } catch e { print("again", e.kind, time.monotonic() - t1 < 1) }
print("watch", (await monitor(a))["kind"])
send a.wait(1)
print("done")
"#,
    );
    let mut p = Running::start(&c, &s, &prog)?;
    p.expect("ready n3")?;
    c.nodes[2].child.kill().map_err(|e| e.to_string())?;
    let _ = c.nodes[2].child.wait();
    p.expect("NodeDownError true true")?;
    p.expect("node_down NodeDownError")?;
    p.expect("again NodeDownError true")?;
    p.expect("watch node_down")?;
    p.expect("done")?;
    let code = p.finish()?;
    let err = s.read("p.err");
    if code != 0 || !err.contains("dead letter: wait() to Slow") || !err.contains("on node n3, which is down") {
        return Err(format!("exit {code}, stderr:\n{err}").into());
    }
    Ok(())
}
