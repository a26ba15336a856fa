//! `noodle node`: a cluster node's process (runtime.md §8). It listens on
//! TCP, authenticates every connection (wire.rs) before reading anything
//! else, keeps the table of the nodes it knows, answers `noodle cluster`
//! queries, and logs one structured line per event to stderr. Bad input —
//! an unauthenticated peer, an oversized or malformed frame — closes that
//! connection and is logged; the node goes on.

use super::agent::Agent;
use super::link::{self, Frame, Link, Reader};
use super::table::{log, State};
pub use super::table::{Load, Member};
use super::wire::{self, Framer, Session, WireError, MAX_FRAME, MAX_HANDSHAKE};
use super::Resources;
use serde::{Deserialize, Serialize};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// How long a leaving node waits for its actors to move.
const LEAVE_DRAIN: Duration = Duration::from_secs(10);

/// How long a peer has to finish the handshake.
const HANDSHAKE_TIME: Duration = Duration::from_secs(5);

/// What nodes say to each other once authenticated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Msg {
    /// A node introduces itself.
    Join(Member),
    /// The peers the sender knows (sent after a `Join` is answered).
    Peers(Vec<Member>),
    /// The sender's load (every second).
    Load(Load),
    /// `noodle cluster status`: the answer is `Status`.
    StatusRequest,
    Status {
        me: Member,
        peers: Vec<(Member, String)>,
        #[serde(default)]
        loads: Vec<(String, Load)>,
    },
    Ping(u64),
    Pong(u64),
    /// `noodle cluster whereis NAME`: this node's part of the directory.
    WhereIs(String),
    Here(Option<crate::runtime::remote::Entry>),
    /// A node leaving the cluster gracefully.
    Leave {
        name: String,
    },
    /// `noodle cluster drain NODE`: move every actor off the node asked.
    Drain,
    Drained(super::table::Drained),
}

pub struct Config {
    pub listen: String,
    pub advertise: Option<String>,
    pub join: Vec<String>,
    pub secret: Vec<u8>,
    pub name: Option<String>,
    pub capacity: Resources,
    /// Failure detection preset (`--fd fast|lan|wan`).
    pub fd: super::membership::Preset,
    /// `--membership etcd://HOST:PORT[/PREFIX]`: membership, directory
    /// and ownership in etcd (`None`: gossip).
    pub etcd: Option<String>,
    /// Where actors hosted here keep durable records.
    pub data: Option<std::path::PathBuf>,
    /// Worker threads for hosted actors.
    pub workers: usize,
}

/// The shared secret from a file (surrounding whitespace ignored).
pub fn read_secret(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read the secret file {}: {e}", path.display()))?;
    let s = text.trim_ascii();
    if s.len() < 16 {
        return Err(format!("the secret in {} is too short: use at least 16 bytes", path.display()));
    }
    Ok(s.to_vec())
}

/// `--capacity cpus=N,memory=SIZE,gpus=N` over this machine's defaults.
pub fn parse_capacity(s: &str, mut base: Resources) -> Result<Resources, String> {
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("capacity `{part}`: expected key=value"))?;
        let n = parse_size(v).ok_or_else(|| format!("capacity `{part}`: `{v}` is not a number or size"))?;
        match k {
            "cpus" => base.cpus = n,
            "memory" => base.memory = n,
            "gpus" => base.gpus = n,
            _ => return Err(format!("capacity `{part}`: unknown resource `{k}` (cpus, memory, gpus)")),
        }
    }
    Ok(base)
}

/// `512`, `64KB`, `2GB` ... (the units of Noodle's size literals).
fn parse_size(v: &str) -> Option<u64> {
    let units = [("KB", 1u64 << 10), ("MB", 1 << 20), ("GB", 1 << 30), ("TB", 1 << 40)];
    for (u, m) in units {
        if let Some(d) = v.strip_suffix(u) {
            return d.parse::<u64>().ok()?.checked_mul(m);
        }
    }
    v.parse().ok()
}

/// Run a node until SIGINT or SIGTERM (`noodle node`).
pub fn run(cfg: Config) -> Result<(), String> {
    let stop = signal_channel()?;
    event_loop(cfg, stop, None)
}

/// A node running on its own thread beside a program (`noodle run
/// --cluster`): its agent, and how to stop it.
pub struct Handle {
    pub agent: Arc<Agent>,
    stop: async_channel::Sender<i32>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
}

impl Handle {
    /// Leave the cluster (bounded) and stop the node's thread.
    pub fn stop(mut self) {
        self.agent.drain(Duration::from_secs(2));
        let _ = self.stop.try_send(0);
        if let Some(t) = self.thread.take() {
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while !t.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

/// Start a node on its own thread and join the cluster through `cfg.join`;
/// returns once it is linked to the nodes it heard of (or gave up waiting).
pub fn start(cfg: Config) -> Result<Handle, String> {
    super::table::QUIET.store(true, std::sync::atomic::Ordering::Relaxed);
    let (stop_tx, stop_rx) = async_channel::bounded(1);
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name("noodle-cluster".into())
        .spawn(move || event_loop(cfg, stop_rx, Some(ready_tx)))
        .map_err(|e| e.to_string())?;
    let agent = match ready_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(Ok(a)) => a,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(thread_error(thread)),
    };
    let h = Handle { agent, stop: stop_tx, thread: Some(thread) };
    // Linked to every node the cluster told of (their capacities known).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let peers = h.agent.state.peers();
        let alive: Vec<_> = peers.iter().filter(|(_, s)| s == "alive").collect();
        if !alive.is_empty() && alive.iter().all(|(m, _)| m.capacity.cpus > 0) {
            return Ok(h);
        }
        if std::time::Instant::now() > deadline {
            if alive.is_empty() {
                let e = "could not join the cluster: no node answered (see the log above)".to_string();
                h.stop();
                return Err(e);
            }
            return Ok(h);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn thread_error(t: std::thread::JoinHandle<Result<(), String>>) -> String {
    if t.is_finished() {
        if let Ok(Err(e)) = t.join() {
            return e;
        }
    }
    "the cluster node did not start in time".into()
}

type Ready = std::sync::mpsc::Sender<Result<Arc<Agent>, String>>;

fn event_loop(cfg: Config, stop: async_channel::Receiver<i32>, ready: Option<Ready>) -> Result<(), String> {
    let ex: Rc<smol::LocalExecutor<'static>> = Rc::new(smol::LocalExecutor::new());
    let announce = ready.is_none();
    let r: Result<(), String> = smol::block_on(ex.run(async {
        let (listener, udp) = bind(&cfg.listen).await?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?.to_string();
        let addr = cfg.advertise.clone().unwrap_or(bound.clone());
        let name = cfg.name.clone().unwrap_or(addr.clone());
        let incarnation = super::now_millis();
        let me = Member { name: name.clone(), addr, incarnation, capacity: cfg.capacity };
        let advertised: std::net::SocketAddr =
            me.addr.parse().map_err(|_| format!("--advertise {}: expected an IP address and port", me.addr))?;
        let state = Arc::new(State::new(me, cfg.secret.clone()));
        // `noodle node` keeps hosted actors' records in .noodle/nodes/NAME
        // unless told otherwise.
        let data = cfg.data.clone().or_else(|| announce.then(|| std::path::Path::new(".noodle").join("nodes").join(&name)));
        let (agent, dials) = Agent::new(state.clone(), data, cfg.workers, cfg.fd.settle());
        let (gtx, grx) = async_channel::unbounded();
        let provider = match cfg.etcd.clone() {
            Some(url) => {
                // No gossip: its leave below is skipped at once.
                drop(grx);
                let (a, fd) = (agent.clone(), cfg.fd);
                Some(smol::unblock(move || super::etcd::provider::Provider::start(&a, &url, fd)).await?)
            }
            None => {
                let id = super::membership::NodeId { name: name.clone(), addr: advertised, incarnation };
                let seed = incarnation ^ u64::from(std::process::id());
                let members = super::membership::Membership::new(id, &cfg.secret, cfg.fd, seed);
                ex.spawn(super::gossip::run(ex.clone(), agent.clone(), udp, members, grx, gtx.clone())).detach();
                None
            }
        };
        if announce {
            crate::owriteln!("noodle node {name} listening on {bound}");
            let _ = std::io::Write::flush(&mut std::io::stdout());
        }
        for peer in &cfg.join {
            ex.spawn(connect(ex.clone(), agent.clone(), peer.clone(), None)).detach();
            if provider.is_some() {
                continue;
            }
            match smol::net::resolve(peer.as_str()).await.ok().and_then(|a| a.into_iter().next()) {
                Some(a) => drop(gtx.send(super::gossip::Input::Join(a)).await),
                None => log(&name, "join-failed", &[("addr", peer), ("reason", "cannot resolve the address")]),
            }
        }
        // Links opened on first need (a send to a node not linked yet).
        let (ex2, a2) = (ex.clone(), agent.clone());
        ex.spawn(async move {
            while let Ok((peer, link)) = dials.recv().await {
                match a2.state.addr_of(&peer) {
                    Some(addr) => ex2.spawn(connect(ex2.clone(), a2.clone(), addr, Some(link))).detach(),
                    None => log(&a2.state.me.name, "link-failed", &[("peer", &peer), ("reason", "no address known")]),
                }
            }
        })
        .detach();
        ex.spawn(report_load(agent.clone())).detach();
        if let Some(r) = &ready {
            let _ = r.send(Ok(agent.clone()));
        }
        // A task of its own: the event loop's own future is polled on every
        // wake-up, and a listener polled there tries an accept each time.
        let (ex3, a3, n3) = (ex.clone(), agent.clone(), name.clone());
        let acceptor = ex.spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, from)) => {
                        ex3.spawn(serve(ex3.clone(), a3.clone(), stream, from.to_string())).detach();
                    }
                    Err(e) => log(&n3, "accept-failed", &[("error", &e.to_string())]),
                }
            }
        });
        let sig = stop.recv().await.unwrap_or(0);
        drop(acceptor);
        log(&name, "leave", &[("signal", &sig.to_string())]);
        if announce && agent.runs().iter().any(|r| !r.local_cells().is_empty()) {
            // Hand the actors running here to the other nodes first.
            let a = agent.clone();
            let d = smol::unblock(move || a.move_all(LEAVE_DRAIN)).await;
            log(&name, "drained", &[("moved", &d.moved.to_string()), ("left", &d.left.join("; "))]);
        }
        // What this node forwarded is written before the others hear it
        // left (they then send to where its actors went).
        agent.drained(Duration::from_millis(500)).await;
        agent.broadcast(&Msg::Leave { name: name.clone() });
        agent.drained(Duration::from_millis(500)).await;
        if let Some(p) = provider {
            smol::unblock(move || p.leave()).await;
        }
        // Tell the others (bounded: a node that cannot send still exits).
        let (dtx, drx) = async_channel::bounded(1);
        if gtx.send(super::gossip::Input::Leave(dtx)).await.is_ok() {
            let _ = with_timeout(Duration::from_secs(1), async { drx.recv().await.map_err(|e| e.to_string()) }).await;
        }
        agent.close();
        Ok(())
    }));
    if let (Err(e), Some(ready)) = (&r, ready) {
        let _ = ready.send(Err(e.clone()));
    }
    r
}

/// Every second, tell the linked peers this node's load.
async fn report_load(agent: Arc<Agent>) {
    let mut cpu = super::CpuMeter::default();
    loop {
        smol::Timer::after(Duration::from_secs(1)).await;
        agent.set_busy(cpu.busy());
        agent.broadcast(&Msg::Load(agent.load(agent.busy())));
        for run in agent.runs() {
            run.affinity_tick();
        }
    }
}

/// TCP for connections and UDP for membership on one port. With port 0
/// the TCP port is picked first; if that port is taken for UDP, try again.
async fn bind(listen: &str) -> Result<(TcpListener, smol::net::UdpSocket), String> {
    for _ in 0..50 {
        let tcp = TcpListener::bind(listen).await.map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let at = tcp.local_addr().map_err(|e| e.to_string())?;
        match smol::net::UdpSocket::bind(at).await {
            Ok(udp) => return Ok((tcp, udp)),
            Err(e) if !listen.ends_with(":0") => return Err(format!("cannot listen on {at} (UDP): {e}")),
            Err(_) => continue,
        }
    }
    Err(format!("cannot find a port free for both TCP and UDP on {listen}"))
}

/// SIGINT and SIGTERM as a channel (their number).
fn signal_channel() -> Result<async_channel::Receiver<i32>, String> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).map_err(|e| e.to_string())?;
    let (tx, rx) = async_channel::bounded(1);
    std::thread::Builder::new()
        .name("noodle-signals".into())
        .spawn(move || {
            if let Some(s) = signals.forever().next() {
                let _ = tx.send_blocking(s);
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(rx)
}

/// One authenticated connection's reading side: frames in, sessions open.
pub struct Conn {
    pub stream: TcpStream,
    framer: Framer,
    pub session: Option<Session>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        Conn { stream, framer: Framer::new(MAX_HANDSHAKE), session: None }
    }

    /// The next frame's body (never reading past what a frame needs).
    pub async fn frame(&mut self) -> Result<Vec<u8>, String> {
        loop {
            if let Some(f) = self.framer.next_frame().map_err(|e| e.to_string())? {
                return Ok(f);
            }
            let mut buf = vec![0u8; self.framer.wanted().min(64 * 1024)];
            let n = self.stream.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.framer.feed(&buf[..n]);
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.stream.write_all(bytes).await.map_err(|e| e.to_string())
    }

    /// Send a message under the session's MAC.
    pub async fn send(&mut self, m: &Msg) -> Result<(), String> {
        let body = rmp_serde::to_vec(m).map_err(|e| e.to_string())?;
        let s = self.session.as_mut().ok_or("not authenticated")?;
        let f = s.seal(&body);
        self.send_raw(&f).await
    }

    /// The next message; a frame that fails its MAC or does not decode is
    /// an error (the connection is then closed).
    pub async fn recv(&mut self) -> Result<Msg, String> {
        let body = self.frame().await?;
        let s = self.session.as_mut().ok_or("not authenticated")?;
        let payload = s.open(&body).map_err(|e| e.to_string())?;
        rmp_serde::from_slice(&payload).map_err(|e| format!("malformed message: {e}"))
    }

    /// After the handshake: a writer task for `rx` on `ex`, and the reader.
    fn into_link(self, ex: &smol::LocalExecutor<'static>, link: &Arc<Link>) -> Option<Reader> {
        let (sealer, opener) = self.session?.split();
        // Small messages go out at once (the writer batches on its own).
        let _ = self.stream.set_nodelay(true);
        let reader = Reader::new(&self.stream, self.framer, opener).ok()?;
        ex.spawn(link.connected(self.stream, sealer).ok()?).detach();
        Some(reader)
    }

    fn authenticated(&mut self, s: Session) {
        self.session = Some(s);
        self.framer.set_max(MAX_FRAME);
    }

    /// Client side of the handshake; the server's name.
    pub async fn connect(stream: TcpStream, secret: &[u8], name: &str) -> Result<(Conn, String), String> {
        let mut c = Conn::new(stream);
        let work = async {
            let (hello, h) = wire::client_hello(name);
            c.send_raw(&h).await?;
            let ch = c.frame().await?;
            let (s, proof, peer) = wire::client_proof(secret, hello, &ch).map_err(|e: WireError| e.to_string())?;
            c.send_raw(&proof).await?;
            c.authenticated(s);
            Ok::<String, String>(peer)
        };
        let peer = with_timeout(HANDSHAKE_TIME, work).await?;
        Ok((c, peer))
    }
}

async fn with_timeout<T>(d: Duration, f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    smol::future::or(f, async {
        smol::Timer::after(d).await;
        Err("timed out".to_string())
    })
    .await
}

/// An incoming connection: the handshake first (nothing else is read
/// before the peer proved the secret), then messages until it closes.
async fn serve(ex: Rc<smol::LocalExecutor<'static>>, agent: Arc<Agent>, stream: TcpStream, from: String) {
    let state = agent.state.clone();
    let me = state.me.name.clone();
    let mut c = Conn::new(stream);
    let hs = async {
        let hello = c.frame().await?;
        let (ch, reply) = wire::server_challenge(&state.secret, &me, &hello).map_err(|e| e.to_string())?;
        c.send_raw(&reply).await?;
        let proof = c.frame().await?;
        let s = wire::server_accept(&state.secret, &ch, &proof).map_err(|e| e.to_string())?;
        c.authenticated(s);
        Ok::<String, String>(ch.peer)
    };
    let peer = match with_timeout(HANDSHAKE_TIME, hs).await {
        Ok(p) => p,
        Err(why) => {
            log(&me, "refused", &[("from", &from), ("reason", &why)]);
            return;
        }
    };
    let tx = Link::new();
    let Some(reader) = c.into_link(&ex, &tx) else { return };
    read_on_thread(agent, reader, tx, peer, from, false);
}

/// Connect to a peer at `addr`: for `--join` (`link: None`), or as the
/// link a send asked for (its queue).
async fn connect(ex: Rc<smol::LocalExecutor<'static>>, agent: Arc<Agent>, addr: String, link: Option<Arc<Link>>) {
    let state = agent.state.clone();
    let me = state.me.name.clone();
    let stream = match TcpStream::connect(&addr).await {
        Ok(s) => s,
        Err(e) => return log(&me, "join-failed", &[("addr", &addr), ("reason", &e.to_string())]),
    };
    let (mut c, peer) = match Conn::connect(stream, &state.secret, &me).await {
        Ok(x) => x,
        Err(why) => return log(&me, "join-failed", &[("addr", &addr), ("reason", &why)]),
    };
    // The introduction goes first, before anything queued.
    if let Err(why) = c.send(&Msg::Join(state.me_now())).await {
        return log(&me, "join-failed", &[("addr", &addr), ("reason", &why)]);
    }
    let tx = link.unwrap_or_else(Link::new);
    let Some(reader) = c.into_link(&ex, &tx) else { return };
    read_on_thread(agent, reader, tx, peer, addr, true);
}

type LinkTx = Arc<Link>;

/// The connection's reader on a thread of its own (see link.rs); if no
/// thread can be started, the connection closes (its writer ends).
fn read_on_thread(agent: Arc<Agent>, reader: Reader, tx: LinkTx, peer: String, from: String, dialed: bool) {
    let t = tx.clone();
    let me = agent.state.me.name.clone();
    let started = std::thread::Builder::new().name("noodle-link".into()).spawn(move || link_loop(agent, reader, t, peer, from, dialed));
    if let Err(e) = started {
        log(&me, "link-failed", &[("reason", &e.to_string())]);
        tx.close();
    }
}

/// Read one connection until it closes: control messages answered on its
/// own queue, actor traffic handed to the agent.
fn link_loop(agent: Arc<Agent>, mut reader: Reader, tx: LinkTx, mut peer: String, from: String, dialed: bool) {
    let state = agent.state.clone();
    let me = state.me.name.clone();
    let mut joined: Option<Member> = None;
    loop {
        // A peer declared dead is fenced off: nothing more of that
        // incarnation is taken (it rejoins under a new one).
        if let Some(m) = joined.as_ref().filter(|m| agent.is_dead(&m.name, m.incarnation)) {
            log(&me, "fenced", &[("peer", &m.name), ("incarnation", &m.incarnation.to_string())]);
            joined = None;
            break;
        }
        let m = match reader.next() {
            Ok(Frame::Wires(items)) => {
                agent.receive(&peer, &items);
                continue;
            }
            Ok(Frame::Whole(item)) => {
                agent.receive(&peer, &[&item]);
                continue;
            }
            Ok(Frame::Piece) => continue,
            Ok(Frame::Msg(m)) => m,
            Err(why) => {
                if why != "connection closed" {
                    log(&me, "bad-frame", &[("peer", &peer), ("from", &from), ("reason", &why)]);
                }
                break;
            }
        };
        let reply = |m: &Msg| tx.push(link::msg(m));
        match m {
            Msg::Join(m) if agent.is_dead(&m.name, m.incarnation) => {
                log(&me, "refused", &[("peer", &m.name), ("reason", &format!("incarnation {} was declared dead", m.incarnation))]);
                break;
            }
            Msg::Join(m) => {
                log(&me, "connect", &[("peer", &m.name), ("addr", &m.addr)]);
                state.set_peer(m.clone(), "alive");
                // Back under a new incarnation, if it was gone.
                agent.peer_up(&m.name, m.incarnation);
                peer = m.name.clone();
                agent.offer_link(&peer, &tx);
                if !dialed {
                    reply(&Msg::Join(state.me_now()));
                    let known = state.peers().into_iter().filter(|(p, s)| s == "alive" && p.name != m.name).map(|(p, _)| p).collect();
                    reply(&Msg::Peers(known));
                }
                joined = Some(m);
            }
            Msg::Peers(list) => {
                for p in list.into_iter().filter(|p| p.name != me) {
                    let name = p.name.clone();
                    state.learn(p);
                    drop(agent.link(&name));
                }
            }
            Msg::Load(l) => state.set_load(&peer, l),
            Msg::StatusRequest => {
                let mut loads: Vec<(String, Load)> =
                    crate::contain::lock(&state.loads).iter().map(|(n, (l, _))| (n.clone(), l.clone())).collect();
                loads.push((me.clone(), agent.load(agent.busy())));
                reply(&Msg::Status { me: state.me_now(), peers: state.peers(), loads });
            }
            Msg::Ping(n) => reply(&Msg::Pong(n)),
            Msg::WhereIs(name) => reply(&Msg::Here(agent.entry(&name))),
            Msg::Drain => {
                log(&me, "drain", &[("asked-by", &peer)]);
                let (a, t, me) = (agent.clone(), tx.clone(), me.clone());
                let _ = std::thread::Builder::new().name("noodle-drain".into()).spawn(move || {
                    let d = a.move_all(super::table::DRAIN_TIME);
                    log(&me, "drained", &[("moved", &d.moved.to_string()), ("left", &d.left.join("; "))]);
                    t.push(link::msg(&Msg::Drained(d)));
                });
            }
            Msg::Leave { name } => {
                log(&me, "leave", &[("peer", &name)]);
                if let Some(m) = joined.take() {
                    agent.peer_left(&m.name, m.incarnation);
                    state.set_peer(m, "left");
                }
                break;
            }
            Msg::Pong(_) | Msg::Status { .. } | Msg::Here(_) | Msg::Drained(_) => {}
        }
    }
    agent.drop_link(&peer, &tx);
    tx.close();
    if let Some(m) = joined {
        // A broken connection is an immediate suspicion.
        log(&me, "suspect", &[("peer", &m.name), ("addr", &m.addr)]);
        state.suspect(m);
    }
}

/// Ask the node at `addr` one question and wait (at most `wait`) for its answer.
pub fn ask(addr: &str, secret: &[u8], m: &Msg, wait: Duration) -> Result<Msg, String> {
    smol::block_on(async {
        let stream = with_timeout(HANDSHAKE_TIME, async { TcpStream::connect(addr).await.map_err(|e| e.to_string()) })
            .await
            .map_err(|e| format!("cannot reach {addr}: {e}"))?;
        let (mut c, _) = Conn::connect(stream, secret, "noodle-cluster").await.map_err(|e| format!("{addr}: {e}"))?;
        c.send(m).await?;
        with_timeout(wait, c.recv()).await
    })
}

/// `noodle cluster whereis`: ask the node at `addr` whether its part of
/// the directory holds `name`.
pub fn whereis(addr: &str, secret: &[u8], name: &str) -> Result<Option<crate::runtime::remote::Entry>, String> {
    match ask(addr, secret, &Msg::WhereIs(name.to_string()), HANDSHAKE_TIME)? {
        Msg::Here(e) => Ok(e),
        other => Err(format!("{addr} answered {other:?}")),
    }
}

/// What a node told of the cluster.
pub struct Report {
    pub me: Member,
    pub peers: Vec<(Member, String)>,
    pub loads: Vec<(String, Load)>,
}

/// `noodle cluster status`: ask a node for its view.
pub fn status(addr: &str, secret: &[u8]) -> Result<Report, String> {
    match ask(addr, secret, &Msg::StatusRequest, HANDSHAKE_TIME)? {
        Msg::Status { me, peers, loads } => Ok(Report { me, peers, loads }),
        other => Err(format!("{addr} answered {other:?}")),
    }
}

/// `noodle cluster drain NODE`: ask that node (found through `addr`'s view
/// of the cluster) to move its actors away.
pub fn drain(addr: &str, secret: &[u8], node: &str) -> Result<super::table::Drained, String> {
    let report = status(addr, secret)?;
    let target = std::iter::once(&report.me)
        .chain(report.peers.iter().filter(|(_, s)| s == "alive").map(|(m, _)| m))
        .find(|m| m.name == node)
        .ok_or_else(|| format!("no live node is called {node:?}"))?;
    match ask(&target.addr, secret, &Msg::Drain, super::table::DRAIN_TIME + Duration::from_secs(5))? {
        Msg::Drained(d) => Ok(d),
        other => Err(format!("{} answered {other:?}", target.addr)),
    }
}
