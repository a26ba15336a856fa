//! `noodle node`: a cluster node's process (runtime.md §8). It listens on
//! TCP, authenticates every connection (wire.rs) before reading anything
//! else, keeps the table of the nodes it knows, answers `noodle cluster`
//! queries, and logs one structured line per event to stderr. Bad input —
//! an unauthenticated peer, an oversized or malformed frame — closes that
//! connection and is logged; the node goes on.

pub use super::table::Member;
use super::table::{log, State};
use super::wire::{self, Framer, Session, WireError, MAX_FRAME, MAX_HANDSHAKE};
use super::Resources;
use serde::{Deserialize, Serialize};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

/// How long a peer has to finish the handshake.
const HANDSHAKE_TIME: Duration = Duration::from_secs(5);

/// What nodes say to each other once authenticated.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Msg {
    /// A node introduces itself.
    Join(Member),
    /// `noodle cluster status`: the answer is `Status`.
    StatusRequest,
    Status {
        me: Member,
        peers: Vec<(Member, String)>,
    },
    Ping(u64),
    Pong(u64),
    /// A node leaving the cluster gracefully.
    Leave {
        name: String,
    },
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

/// Run a node until SIGINT or SIGTERM.
pub fn run(cfg: Config) -> Result<(), String> {
    let stop = signal_channel()?;
    let ex: Rc<smol::LocalExecutor<'static>> = Rc::new(smol::LocalExecutor::new());
    smol::block_on(ex.run(async {
        let (listener, udp) = bind(&cfg.listen).await?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?.to_string();
        let addr = cfg.advertise.clone().unwrap_or(bound.clone());
        let name = cfg.name.clone().unwrap_or(addr.clone());
        let incarnation = super::now_millis();
        let me = Member { name: name.clone(), addr, incarnation, capacity: cfg.capacity };
        let state = Rc::new(State { me: me.clone(), secret: cfg.secret.clone(), peers: Default::default() });
        let advertised: std::net::SocketAddr =
            me.addr.parse().map_err(|_| format!("--advertise {}: expected an IP address and port", me.addr))?;
        let id = super::membership::NodeId { name: name.clone(), addr: advertised, incarnation };
        let seed = incarnation ^ u64::from(std::process::id());
        let members = super::membership::Membership::new(id, &cfg.secret, cfg.fd, seed);
        let (gtx, grx) = async_channel::unbounded();
        ex.spawn(super::gossip::run(ex.clone(), state.clone(), udp, members, grx, gtx.clone())).detach();
        crate::owriteln!("noodle node {name} listening on {bound}");
        let _ = std::io::Write::flush(&mut std::io::stdout());
        for peer in &cfg.join {
            ex.spawn(join(state.clone(), peer.clone())).detach();
            match smol::net::resolve(peer.as_str()).await.ok().and_then(|a| a.into_iter().next()) {
                Some(a) => drop(gtx.send(super::gossip::Input::Join(a)).await),
                None => log(&name, "join-failed", &[("addr", peer), ("reason", "cannot resolve the address")]),
            }
        }
        let accept = async {
            loop {
                match listener.accept().await {
                    Ok((stream, from)) => {
                        ex.spawn(serve(state.clone(), stream, from.to_string())).detach();
                    }
                    Err(e) => log(&name, "accept-failed", &[("error", &e.to_string())]),
                }
            }
        };
        let sig = smol::future::or(accept, async { stop.recv().await.unwrap_or(0) }).await;
        log(&name, "leave", &[("signal", &sig.to_string())]);
        // Tell the others (bounded: a node that cannot send still exits).
        let (dtx, drx) = async_channel::bounded(1);
        if gtx.send(super::gossip::Input::Leave(dtx)).await.is_ok() {
            let _ = with_timeout(Duration::from_secs(1), async { drx.recv().await.map_err(|e| e.to_string()) }).await;
        }
        Ok(())
    }))
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
async fn serve(state: Rc<State>, stream: TcpStream, from: String) {
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
    let mut joined: Option<Member> = None;
    loop {
        let m = match c.recv().await {
            Ok(m) => m,
            Err(why) => {
                if why != "connection closed" {
                    log(&me, "bad-frame", &[("peer", &peer), ("from", &from), ("reason", &why)]);
                }
                break;
            }
        };
        let r = match m {
            Msg::Join(m) => {
                log(&me, "connect", &[("peer", &m.name), ("addr", &m.addr)]);
                state.set_peer(m.clone(), "alive");
                joined = Some(m);
                c.send(&Msg::Join(state.me.clone())).await
            }
            Msg::StatusRequest => {
                let peers = state.peers.borrow().clone();
                c.send(&Msg::Status { me: state.me.clone(), peers }).await
            }
            Msg::Ping(n) => c.send(&Msg::Pong(n)).await,
            Msg::Leave { name } => {
                log(&me, "leave", &[("peer", &name)]);
                if let Some(m) = joined.take() {
                    state.set_peer(m, "left");
                }
                break;
            }
            Msg::Pong(_) | Msg::Status { .. } => Ok(()),
        };
        if let Err(why) = r {
            log(&me, "send-failed", &[("peer", &peer), ("reason", &why)]);
            break;
        }
    }
    if let Some(m) = joined {
        // A broken connection is an immediate suspicion.
        log(&me, "suspect", &[("peer", &m.name), ("addr", &m.addr)]);
        state.suspect(m);
    }
}

/// `--join`: introduce this node to a peer, and keep the connection.
async fn join(state: Rc<State>, addr: String) {
    let me = state.me.name.clone();
    let stream = match TcpStream::connect(&addr).await {
        Ok(s) => s,
        Err(e) => return log(&me, "join-failed", &[("addr", &addr), ("reason", &e.to_string())]),
    };
    let (mut c, peer) = match Conn::connect(stream, &state.secret, &me).await {
        Ok(x) => x,
        Err(why) => return log(&me, "join-failed", &[("addr", &addr), ("reason", &why)]),
    };
    if let Err(why) = c.send(&Msg::Join(state.me.clone())).await {
        return log(&me, "join-failed", &[("addr", &addr), ("reason", &why)]);
    }
    let mut known = None;
    loop {
        match c.recv().await {
            Ok(Msg::Join(m)) => {
                log(&me, "connect", &[("peer", &m.name), ("addr", &m.addr)]);
                state.set_peer(m.clone(), "alive");
                known = Some(m);
            }
            Ok(Msg::Ping(n)) => {
                let _ = c.send(&Msg::Pong(n)).await;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let m = known.unwrap_or(Member { name: peer, addr, incarnation: 0, capacity: Resources::default() });
    log(&me, "suspect", &[("peer", &m.name), ("addr", &m.addr)]);
    state.suspect(m);
}

/// `noodle cluster status`: ask a node for its view.
pub fn status(addr: &str, secret: &[u8]) -> Result<(Member, Vec<(Member, String)>), String> {
    smol::block_on(async {
        let stream = with_timeout(HANDSHAKE_TIME, async { TcpStream::connect(addr).await.map_err(|e| e.to_string()) })
            .await
            .map_err(|e| format!("cannot reach {addr}: {e}"))?;
        let (mut c, _) = Conn::connect(stream, secret, "noodle-cluster").await.map_err(|e| format!("{addr}: {e}"))?;
        c.send(&Msg::StatusRequest).await?;
        match with_timeout(HANDSHAKE_TIME, c.recv()).await? {
            Msg::Status { me, peers } => Ok((me, peers)),
            other => Err(format!("{addr} answered {other:?}")),
        }
    })
}
