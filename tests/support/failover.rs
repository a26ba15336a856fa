//! Node death with real processes (loopback only, bounded): what a program
//! waits for from a node that is SIGKILLed ends with an error instead of
//! hanging. Every process is stopped by PID when its guard drops.

use libtest_mimic::{Failed, Trial};

use super::cluster::{Cluster, Running};
use super::scratch::Scratch;

pub fn trials() -> Vec<Trial> {
    vec![Trial::test("failover::asks_to_a_dead_node_fail", asks_to_a_dead_node_fail)]
}

/// SIGKILL the node of a non-durable actor while main waits on an ask to it
/// and watches it: the ask fails with `NodeDownError` within seconds, the
/// watch reports `"node_down"`, and later asks fail at once.
fn asks_to_a_dead_node_fail() -> Result<(), Failed> {
    let mut c = Cluster::start(3)?;
    let s = Scratch::new("node-down");
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
