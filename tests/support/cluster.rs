//! `noodle node` processes on 127.0.0.1 (ephemeral ports only): joining,
//! `noodle cluster status`, and a node under bad input — wrong secrets,
//! oversized length prefixes, thousands of random and mutated frames before
//! and after authentication — that must keep serving. Every process started
//! here is killed by PID (and reaped) when its guard drops, even on failure.

use libtest_mimic::{Failed, Trial};
use noodle::cluster::wire;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::scratch::Scratch;
use super::{run, BIN};

pub fn trials() -> Vec<Trial> {
    vec![
        Trial::test("cluster::nodes_join_and_report_status", nodes_join_and_report_status),
        Trial::test("cluster::node_survives_bad_input", node_survives_bad_input),
        Trial::test("cluster::node_usage_errors", node_usage_errors),
        Trial::test("cluster::whereis_and_load", whereis_and_load),
        Trial::test("cluster::drain_and_leave", drain_and_leave),
        Trial::test("cluster::durable_records_follow_the_name", durable_records_follow_the_name),
    ]
}

const SECRET: &str = "test-cluster-secret-0123456789";

/// A cluster of nodes n1..nN for a program to run on; every node is killed
/// when it drops.
pub struct Cluster {
    pub nodes: Vec<Node>,
    pub secret: String,
    /// The etcd the nodes keep membership in (`None`: gossip); stopped
    /// after the nodes.
    pub etcd: Option<super::etcd::EtcdServer>,
    pub _scratch: Scratch,
}

impl Cluster {
    /// Start `n` nodes (each joining n1) and wait until each is linked to
    /// all the others (their capacities known).
    pub fn start(n: usize) -> Result<Cluster, Failed> {
        Cluster::start_on(n, false)
    }

    /// As `start`, with membership in a fresh etcd of its own if `etcd`
    /// (the nodes find each other there: no `--join`).
    pub fn start_on(n: usize, etcd: bool) -> Result<Cluster, Failed> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let s = Scratch::new(&format!("cluster-{}", NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
        let secret = s.file("secret", SECRET);
        let etcd = if etcd { Some(super::etcd::EtcdServer::start(&s, "test")?) } else { None };
        let mut c = Cluster { nodes: Vec::new(), secret, etcd, _scratch: s };
        for i in 1..=n {
            let mut extra: Vec<String> = c.membership();
            if let (Some(first), None) = (c.nodes.first(), &c.etcd) {
                extra.extend(["--join".to_string(), first.addr.clone()]);
            }
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let node = start_node(&c._scratch, &format!("n{i}"), &c.secret, &extra)?;
            c.nodes.push(node);
        }
        for node in &c.nodes {
            status_until(&node.addr, &c.secret, |o| {
                o.lines().skip(1).filter(|l| l.contains(" alive") && l.split_whitespace().nth(4).is_some_and(|c| c != "0")).count() == n
            })?;
        }
        Ok(c)
    }

    /// `--membership URL` when the cluster keeps it in etcd.
    fn membership(&self) -> Vec<String> {
        self.etcd.iter().flat_map(|e| ["--membership".to_string(), e.url.clone()]).collect()
    }

    /// `noodle run`'s options to run on this cluster.
    pub fn run_args(&self) -> Vec<String> {
        let mut a: Vec<String> =
            ["--cluster", &self.nodes[0].addr, "--secret-file", &self.secret, "--name", "main"].map(String::from).to_vec();
        a.extend(self.membership());
        a
    }
}

/// A program running on a cluster, its stdout read line by line (its
/// stderr in `p.err` of the scratch directory); killed by PID when dropped.
pub struct Running<'a> {
    _guard: Node,
    lines: std::sync::mpsc::Receiver<String>,
    s: &'a Scratch,
}

impl<'a> Running<'a> {
    pub fn start(c: &Cluster, s: &'a Scratch, prog: &str) -> Result<Running<'a>, Failed> {
        Running::start_with(c, s, &[], prog, &[])
    }

    /// `noodle run` with `opts` before the program's path, `args` after.
    pub fn start_with(c: &Cluster, s: &'a Scratch, opts: &[&str], prog: &str, args_: &[&str]) -> Result<Running<'a>, Failed> {
        let mut args = vec!["run".to_string()];
        args.extend(c.run_args());
        args.extend(opts.iter().map(|o| o.to_string()));
        args.push(prog.to_string());
        args.extend(args_.iter().map(|o| o.to_string()));
        let log = std::fs::File::create(s.0.join("p.err")).map_err(|e| e.to_string())?;
        let mut child =
            Command::new(BIN).args(&args).current_dir(&s.0).stdout(Stdio::piped()).stderr(log).spawn().map_err(|e| e.to_string())?;
        let out = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || BufReader::new(out).lines().map_while(Result::ok).for_each(|l| drop(tx.send(l))));
        Ok(Running { _guard: Node { child, addr: String::new() }, lines, s })
    }

    /// The next line printed (waiting at most 30 s).
    pub fn line(&mut self) -> Result<String, Failed> {
        self.lines
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("the program printed nothing more\n{}", self.s.read("p.err")).into())
    }

    /// The next line must be `want`.
    pub fn expect(&mut self, want: &str) -> Result<(), Failed> {
        match self.line()? {
            l if l == want => Ok(()),
            got => Err(format!("wanted {want:?}, the program printed {got:?}\n{}", self.s.read("p.err")).into()),
        }
    }

    /// The program's exit code (waiting at most 30 s).
    pub fn finish(mut self) -> Result<i32, Failed> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(st) = self._guard.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(st.code().unwrap_or(-1));
            }
            if Instant::now() > deadline {
                return Err("the program did not end within 30 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A running node: killed (SIGKILL, by PID) and reaped when dropped.
pub struct Node {
    pub child: Child,
    pub addr: String,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start a node on an ephemeral port; its log goes to `log` in `s`.
fn start_node(s: &Scratch, name: &str, secret: &str, extra: &[&str]) -> Result<Node, Failed> {
    let log = std::fs::File::create(s.0.join(format!("{name}.log"))).map_err(|e| e.to_string())?;
    // Each node's records in the test's own directory.
    let data = s.path(&format!("{name}-data"));
    let mut args = vec!["node", "--listen", "127.0.0.1:0", "--secret-file", secret, "--name", name, "--data", &data];
    args.extend_from_slice(extra);
    let mut child = Command::new(BIN).args(&args).stdout(Stdio::piped()).stderr(log).spawn().map_err(|e| e.to_string())?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let mut node = Node { child, addr: String::new() };
    let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
    if line.is_empty() {
        return Err(format!("node {name} did not say where it listens:\n{}", s.read(&format!("{name}.log"))).into());
    }
    let want = format!("noodle node {name} listening on 127.0.0.1:");
    if !line.starts_with(&want) {
        return Err(format!("node {name} printed {line:?}").into());
    }
    node.addr = line.trim().rsplit(' ').next().unwrap_or_default().to_string();
    Ok(node)
}

/// Poll `noodle cluster status` (bounded) until `ok` holds for its output.
pub fn status_until(addr: &str, secret: &str, ok: impl Fn(&str) -> bool) -> Result<String, Failed> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (out, err, code) = run(&["cluster", "status", "--cluster", addr, "--secret-file", secret], "");
        if code == 0 && ok(&out) {
            return Ok(out);
        }
        if Instant::now() > deadline {
            return Err(format!("cluster status never as expected: exit {code}\n{out}\n{err}").into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn nodes_join_and_report_status() -> Result<(), Failed> {
    let s = Scratch::new("join");
    let secret = s.file("secret", SECRET);
    let a = start_node(&s, "a", &secret, &[])?;
    let b = start_node(&s, "b", &secret, &["--join", &a.addr, "--capacity", "cpus=8,memory=4GB,gpus=1"])?;
    // b's capacity comes over its direct connection, its liveness by gossip.
    let out = status_until(&a.addr, &secret, |o| {
        o.lines().any(|l| l.starts_with("b ") && l.contains("alive") && l.split_whitespace().skip(4).take(3).eq(["8", "4GB", "1"]))
    })?;
    let b_line = out.lines().find(|l| l.starts_with("b ")).unwrap_or_default();
    let cols: Vec<&str> = b_line.split_whitespace().collect();
    if !out.starts_with("NODE") || cols.get(2) != Some(&b.addr.as_str()) || cols[4..7] != ["8", "4GB", "1"] {
        return Err(format!("status:\n{out}").into());
    }
    // c joins through b; a learns of it by gossip (SWIM).
    let c = start_node(&s, "c", &secret, &["--join", &b.addr])?;
    status_until(&a.addr, &secret, |o| o.lines().any(|l| l.starts_with("c ") && l.contains("alive")))?;
    let (members, _, code) = run(&["cluster", "members", "--cluster", &a.addr, "--secret-file", &secret], "");
    if code != 0 || members != "a\nb\nc\n" {
        return Err(format!("members: {members:?}").into());
    }
    // A crashed node is declared down by failure detection (the lan preset
    // takes a few seconds)...
    drop(c);
    status_until(&a.addr, &secret, |o| o.lines().any(|l| l.starts_with("c ") && l.contains("down")))?;
    // ...and one whose connection broke is suspected at once.
    drop(b);
    status_until(&a.addr, &secret, |o| o.lines().any(|l| l.starts_with("b ") && (l.contains("suspect") || l.contains("down"))))?;
    // The wrong secret: refused, and the node says why in its log.
    let wrong = s.file("wrong", "not-the-cluster-secret-at-all");
    let (_, err, code) = run(&["cluster", "status", "--cluster", &a.addr, "--secret-file", &wrong], "");
    if code != 3 || !err.contains("does not know the cluster secret") {
        return Err(format!("wrong secret: exit {code}\n{err}").into());
    }
    // The node logs the refusal once it sees the connection end: wait for it.
    log_until(&s, "a", &["event=join peer=b", "event=join peer=c", "event=down peer=c", "event=refused"])?;
    Ok(())
}

/// Wait (bounded) until node `name`'s log has every line in `wants`.
fn log_until(s: &Scratch, name: &str, wants: &[&str]) -> Result<String, Failed> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = s.read(&format!("{name}.log"));
        match wants.iter().find(|w| !log.contains(*w)) {
            None => return Ok(log),
            Some(w) if Instant::now() > deadline => return Err(format!("{name}'s log lacks {w}:\n{log}").into()),
            Some(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// Connect, send `bytes`, and wait (bounded) for the node to close.
fn send_and_wait_close(addr: &str, bytes: &[u8]) -> Result<bool, Failed> {
    let mut c = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let _ = c.write_all(bytes);
    let mut buf = [0u8; 4096];
    let start = Instant::now();
    loop {
        match c.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(_) => return Ok(false),
        }
        if start.elapsed() > Duration::from_secs(6) {
            return Ok(false);
        }
    }
}

/// A handshake from the test itself (the library's wire), then the socket.
fn authenticated(addr: &str) -> Result<(TcpStream, wire::Session), Failed> {
    let mut c = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    c.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let (hello, h) = wire::client_hello("fuzzer");
    c.write_all(&h).map_err(|e| e.to_string())?;
    let mut f = wire::Framer::new(wire::MAX_HANDSHAKE);
    let mut buf = [0u8; 1024];
    let ch = loop {
        if let Some(b) = f.next_frame().map_err(|e| e.to_string())? {
            break b;
        }
        let n = c.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        f.feed(&buf[..n]);
    };
    let (session, proof, _) = wire::client_proof(SECRET.as_bytes(), hello, &ch).map_err(|e| e.to_string())?;
    c.write_all(&proof).map_err(|e| e.to_string())?;
    Ok((c, session))
}

fn node_survives_bad_input() -> Result<(), Failed> {
    let s = Scratch::new("fuzz");
    let secret = s.file("secret", SECRET);
    let a = start_node(&s, "a", &secret, &[])?;
    // An oversized length prefix: closed, without waiting for (or
    // allocating) four gigabytes.
    if !send_and_wait_close(&a.addr, &u32::MAX.to_le_bytes())? {
        return Err("an oversized length prefix did not close the connection".into());
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ std::process::id() as u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (_, hello) = wire::client_hello("fuzzer");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = 0;
    // Unauthenticated: random bytes and mutated hellos, many per connection.
    for _ in 0..100 {
        let mut c = TcpStream::connect(&a.addr).map_err(|e| e.to_string())?;
        let mut batch = Vec::new();
        for _ in 0..50 {
            let mut f: Vec<u8> = if next() % 2 == 0 { hello.clone() } else { (0..next() % 64).map(|_| next() as u8).collect() };
            if !f.is_empty() {
                let at = (next() as usize) % f.len();
                f[at] ^= (next() as u8) | 1;
            }
            batch.extend_from_slice(&f);
            sent += 1;
        }
        let _ = c.write_all(&batch);
        if Instant::now() > deadline {
            return Err("bounded: the unauthenticated round took over a minute".into());
        }
    }
    // Authenticated: frames with bad MACs, and valid MACs over garbage.
    for round in 0..100 {
        let (mut c, mut session) = authenticated(&a.addr)?;
        let mut batch = Vec::new();
        for i in 0..50 {
            let payload: Vec<u8> = (0..next() % 200).map(|_| next() as u8).collect();
            let f = if (round + i) % 3 == 0 { wire::frame(&payload) } else { session.seal(&payload) };
            batch.extend_from_slice(&f);
            sent += 1;
        }
        let _ = c.write_all(&batch);
        if Instant::now() > deadline {
            return Err("bounded: the authenticated round took over a minute".into());
        }
    }
    if sent < 10_000 {
        return Err(format!("only {sent} frames sent").into());
    }
    // Still serving, and it said what it refused.
    status_until(&a.addr, &secret, |o| o.starts_with("NODE"))?;
    let log = log_until(&s, "a", &["over the limit", "event=bad-frame"])?;
    if log.contains("panicked") {
        return Err(format!("node log:\n{}", log.lines().take(20).collect::<Vec<_>>().join("\n")).into());
    }
    Ok(())
}

fn node_usage_errors() -> Result<(), Failed> {
    let s = Scratch::new("node-usage");
    let short = s.file("short", "tiny");
    let missing = s.0.join("nope").to_string_lossy().into_owned();
    for (secret, want) in [(short.as_str(), "too short"), (missing.as_str(), "cannot read the secret file")] {
        let (_, err, code) = run(&["node", "--listen", "127.0.0.1:0", "--secret-file", secret], "");
        if code != 2 || !err.contains(want) {
            return Err(format!("secret {secret}: exit {code}\n{err}").into());
        }
    }
    let secret = s.file("secret", SECRET);
    let (_, err, code) = run(&["node", "--listen", "127.0.0.1:0", "--secret-file", &secret, "--capacity", "cpus=two"], "");
    if code != 2 || !err.contains("not a number or size") {
        return Err(format!("capacity: exit {code}\n{err}").into());
    }
    let node = |extra: &[&str]| run(&[&["node", "--listen", "127.0.0.1:0", "--secret-file", &secret], extra].concat(), "");
    let (_, err, code) = node(&["--membership", "zookeeper://127.0.0.1:2181"]);
    if code != 2 || !err.contains("use swim or etcd://HOST:PORT[/PREFIX]") {
        return Err(format!("membership: exit {code}\n{err}").into());
    }
    // etcd that does not answer: the node does not start, and says where.
    let (_, err, code) = node(&["--membership", "etcd://127.0.0.1:1"]);
    if code != 3 || !err.contains("etcd at 127.0.0.1:1") {
        return Err(format!("etcd unreachable: exit {code}\n{err}").into());
    }
    let (_, err, code) = run(&["cluster", "status", "--cluster", "127.0.0.1:1", "--secret-file", &secret], "");
    if code != 3 || !err.contains("cannot reach 127.0.0.1:1") {
        return Err(format!("unreachable: exit {code}\n{err}").into());
    }
    Ok(())
}

/// While a program runs on the cluster: `cluster whereis` finds its named
/// actor and says why it was placed there; `cluster status` counts the
/// actors each node runs (from their load reports).
fn whereis_and_load() -> Result<(), Failed> {
    let c = Cluster::start(3)?;
    let s = Scratch::new("whereis");
    let prog = s.file(
        "p.nd",
        "actor Cache {\n    def get() { return 1 }\n}\n\
         let c = spawn Cache() with {name: \"cache\", strategy: \"round_robin\", avoid_node: \"main\"}\n\
         var others = []\n\
         for i in range(9) { others.append(spawn Cache() with {require_node: \"n3\"}) }\n\
         print(node_of(c))\n\
         await sleep(30000)\n",
    );
    let mut args = vec!["run".to_string()];
    args.extend(c.run_args());
    args.push(prog);
    let mut child = Command::new(BIN).args(&args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().map_err(|e| e.to_string())?;
    let out = child.stdout.take().ok_or("no stdout")?;
    let guard = Node { child, addr: String::new() };
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line).map_err(|e| e.to_string())?;
    let at = line.trim().to_string();
    if !["n1", "n2", "n3"].contains(&at.as_str()) {
        return Err(format!("the program printed {line:?}").into());
    }
    let (out, err, code) = run(&["cluster", "whereis", "cache", "--cluster", &c.nodes[0].addr, "--secret-file", &c.secret], "");
    let want = format!("on node {at}\nplaced by strategy round_robin");
    if code != 0 || !out.starts_with("cache: Cache ") || !out.contains(&want) {
        return Err(format!("whereis: exit {code}\n{out}\n{err}").into());
    }
    let (_, err, code) = run(&["cluster", "whereis", "nobody", "--cluster", &c.nodes[0].addr, "--secret-file", &c.secret], "");
    if code != 3 || !err.contains("no actor is registered as \"nobody\"") {
        return Err(format!("whereis nobody: exit {code}\n{err}").into());
    }
    // n3 runs the nine unnamed actors (and perhaps the cache).
    status_until(&c.nodes[0].addr, &c.secret, |o| {
        o.lines().any(|l| l.starts_with("n3 ") && l.split_whitespace().nth(7).and_then(|n| n.parse::<u32>().ok()).is_some_and(|n| n >= 9))
    })?;
    drop(guard);
    Ok(())
}

/// `noodle cluster drain n1` while a program's actors work on every node,
/// then SIGTERM to n2: each node's actors move to the others (n1 takes none
/// while draining), the program's references keep working, and no message
/// is lost or reordered.
fn drain_and_leave() -> Result<(), Failed> {
    let mut c = Cluster::start(3)?;
    let s = Scratch::new("drain");
    let prog = s.file(
        "p.nd",
        r#"actor Worker {
    state log = []
    def bump(k) {
        self.log.append(k)
        return len(self.log)
    }
    def in_order() {
        for i in range(len(self.log)) { if self.log[i] != i { return false } }
        return true
    }
    def where() { return node_of(self) }
}
async def count_on(ws, node) {
    var n = 0
    for w in ws { if await w.where() == node { n += 1 } }
    return n
}
async def work(ws, r, node) {
    var rounds = 0
    while rounds < 3000 and (rounds < 20 or await count_on(ws, node) > 0) {
        for w in ws { send w.bump(r + rounds) }
        rounds += 1
        sleep(5)
    }
    return r + rounds
}
var ws = []
for i in range(12) { ws.append(spawn Worker() with {strategy: "spread"}) }
print("ready", await count_on(ws, "n1") > 0, await count_on(ws, "n2") > 0)
var r = await work(ws, 0, "n1")
print("n1 empty")
r = await work(ws, r, "n2")
print("n2 empty")
r = await work(ws, r, "nowhere")
var ok = true
for w in ws { if await w.bump(r) != r + 1 or not await w.in_order() { ok = false } }
print("done", ok, await count_on(ws, "n1"), await count_on(ws, "n2"))
"#,
    );
    let mut p = Running::start(&c, &s, &prog)?;
    let mut next = |want: &str| p.expect(want);
    next("ready true true")?;
    let (out, err, code) = run(&["cluster", "drain", "n1", "--cluster", &c.nodes[1].addr, "--secret-file", &c.secret], "");
    if code != 0 || !out.starts_with("drained n1: ") || !out.contains(" moved") {
        return Err(format!("drain: exit {code}\n{out}\n{err}").into());
    }
    status_until(&c.nodes[1].addr, &c.secret, |o| o.lines().any(|l| l.starts_with("n1 ") && l.contains("alive, draining")))?;
    next("n1 empty")?;
    // A graceful leave hands the node's actors to the others.
    let n2 = &mut c.nodes[1];
    let pid = n2.child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while n2.child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            return Err("n2 did not leave within 20 s of SIGTERM".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    next("n2 empty")?;
    next("done true 0 0")?;
    let log = c._scratch.read("n2.log");
    if !log.contains("event=drained moved=") || !log.contains("left=\"\"") {
        return Err(format!("n2's log:\n{log}").into());
    }
    Ok(())
}

/// A durable name spawned in a later run resumes its newest record wherever
/// in the cluster it is kept: on that node, or brought to the node its
/// options require.
fn durable_records_follow_the_name() -> Result<(), Failed> {
    let c = Cluster::start(3)?;
    let s = Scratch::new("records");
    let prog = |opts: &str| {
        format!(
            "actor Account {{\n    state balance = 0\n    def deposit(n) {{\n        self.balance += n\n        return self.balance\n    }}\n    def where() {{ return node_of(self) }}\n}}\n\
             let a = spawn Account() with {{name: \"acct\", durable: true, durability: \"turn\"{opts}}}\n\
             print(await a.deposit(5), await a.where())\n"
        )
    };
    let runs = [(", require_node: \"n2\"", "5 n2"), ("", "10 n2"), (", require_node: \"n3\"", "15 n3"), ("", "20 n3")];
    for (i, (opts, want)) in runs.iter().enumerate() {
        let file = s.file(&format!("p{i}.nd"), prog(opts));
        let mut args = vec!["run".to_string()];
        args.extend(c.run_args());
        args.extend(["--data".to_string(), s.path("main-data"), file]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, err, code) = run(&args, "");
        if code != 0 || out.trim() != *want {
            return Err(format!("run {i}: wanted {want:?}, exit {code}\n{out}\n{err}").into());
        }
    }
    Ok(())
}
