//! One authenticated connection to a peer, split in two: a writer task that
//! batches whatever is queued — control messages and actor traffic — into as
//! few frames and writes as it can (one MAC per batch, one write per wake),
//! and a reader that opens frames and hands them on. The reader runs on a
//! thread of its own, blocked on its socket: what arrives is handed to the
//! actor's worker at once, not through the event loop (a reactor thread that
//! wakes the event loop that wakes the worker costs two thread hops per
//! message, most of a remote ask's latency).

use super::node::Msg;
use super::wire::{Framer, Opener, Sealer, MAX_FRAME};
use crate::contain::lock;
use smol::net::TcpStream;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Something queued for a peer.
pub enum Out {
    /// A control message (rmp-encoded `Msg`).
    Msg(Vec<u8>),
    /// Actor traffic (an rmp-encoded `runtime::remote::Wire`) on a lane:
    /// items of one lane keep their order, lanes may pass each other.
    Wire { lane: u64, bytes: Vec<u8> },
    /// Nothing: wakes the writer to finish a direct write.
    Flush,
}

/// Frames of actor traffic start with this byte (an rmp-encoded `Msg`
/// never does), then hold `[u32 length][Wire]...`.
const WIRES: u8 = 0;
/// A piece of one large item: `[CHUNK][u64 id][u8 last][bytes]`.
const CHUNK: u8 = 1;

/// Batch up to this many bytes into one write.
const BATCH: usize = 256 * 1024;
/// Items larger than this travel in pieces of this size, one per write,
/// so what other lanes send is not stuck behind them.
const PIECE: usize = 64 * 1024;

/// The largest item a node sends (in pieces) or puts back together.
pub const MAX_MESSAGE: usize = 256 << 20;
/// Bytes of unfinished large items a reader keeps at most.
const MAX_PARTIAL: usize = 512 << 20;
/// Large items a reader puts back together at once (one per lane under way).
const MAX_UNFINISHED: usize = 4096;

/// An item waiting behind a large one of its lane (or the large one).
enum Item {
    Small(Vec<u8>),
    Large { id: u64, bytes: Vec<u8>, sent: usize },
}

/// The writing side's state between writes.
struct Writer {
    sealer: Sealer,
    frames: Vec<u8>,
    batch: Vec<u8>,
    /// Lanes with a large item under way, each with what queued behind it.
    waiting: Vec<(u64, std::collections::VecDeque<Item>)>,
    next_id: u64,
}

impl Writer {
    fn wire(&mut self, lane: u64, bytes: Vec<u8>) {
        if let Some(i) = self.waiting.iter().position(|(l, _)| *l == lane) {
            let item = if bytes.len() > PIECE { self.large(bytes) } else { Item::Small(bytes) };
            self.waiting[i].1.push_back(item);
        } else if bytes.len() > PIECE {
            let item = self.large(bytes);
            self.waiting.push((lane, [item].into()));
        } else {
            self.small(&bytes);
        }
    }

    fn large(&mut self, bytes: Vec<u8>) -> Item {
        self.next_id += 1;
        Item::Large { id: self.next_id, bytes, sent: 0 }
    }

    fn small(&mut self, w: &[u8]) {
        if self.batch.len() + 4 + w.len() > MAX_FRAME - 64 {
            self.seal_batch();
        }
        if self.batch.is_empty() {
            self.batch.push(WIRES);
        }
        self.batch.extend_from_slice(&(w.len() as u32).to_le_bytes());
        self.batch.extend_from_slice(w);
    }

    fn seal_batch(&mut self) {
        if !self.batch.is_empty() {
            self.sealer.seal_into(&self.batch, &mut self.frames);
            self.batch.clear();
        }
    }

    /// One piece of each lane's large item; what waited behind a finished
    /// one goes into the batch.
    fn pieces(&mut self) {
        let mut lanes = std::mem::take(&mut self.waiting);
        for (_, q) in lanes.iter_mut() {
            if let Some(Item::Large { id, bytes, sent }) = q.front_mut() {
                let end = (*sent + PIECE).min(bytes.len());
                let mut piece = Vec::with_capacity(10 + end - *sent);
                piece.push(CHUNK);
                piece.extend_from_slice(&id.to_le_bytes());
                piece.push(u8::from(end == bytes.len()));
                piece.extend_from_slice(&bytes[*sent..end]);
                *sent = end;
                let done = end == bytes.len();
                self.seal_batch();
                self.sealer.seal_into(&piece, &mut self.frames);
                if done {
                    q.pop_front();
                }
            }
            while let Some(Item::Small(_)) = q.front() {
                if let Some(Item::Small(w)) = q.pop_front() {
                    self.small(&w);
                }
            }
        }
        lanes.retain(|(_, q)| !q.is_empty());
        self.waiting = lanes;
    }
}

/// The sending side of a link to a peer: a queue that a writer task
/// empties in batches and, once connected, the socket itself. An urgent
/// item (an ask, a reply: someone waits for it) with nothing queued before
/// it is sealed and written by the sending thread at once, which saves the
/// hop to the event loop's thread; what cannot be written at once is left
/// to the writer.
pub struct Link {
    tx: async_channel::Sender<Out>,
    rx: async_channel::Receiver<Out>,
    /// Items in the queue not yet sealed: a direct write only when none are
    /// (per-sender order). Counted down under `core`'s lock once sealed.
    queued: AtomicUsize,
    /// The connection's writing state, once there is one.
    core: Mutex<Option<Core>>,
}

/// What a connected link writes with.
struct Core {
    w: Writer,
    stream: std::net::TcpStream,
    /// How much of `w.frames` was written.
    sent: usize,
}

impl Core {
    /// Nothing sealed or under way: a new item may go straight out.
    fn idle(&self) -> bool {
        self.w.frames.is_empty() && self.w.batch.is_empty() && self.w.waiting.is_empty()
    }

    /// Write what the socket takes now; `Ok(true)` once all is written.
    fn write_now(&mut self) -> std::io::Result<bool> {
        while self.sent < self.w.frames.len() {
            match self.stream.write(&self.w.frames[self.sent..]) {
                Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.w.frames.clear();
        self.sent = 0;
        Ok(true)
    }
}

impl Link {
    pub fn new() -> Arc<Link> {
        let (tx, rx) = async_channel::unbounded();
        Arc::new(Link { tx, rx, queued: AtomicUsize::new(0), core: Mutex::new(None) })
    }

    /// Queue an item for the writer (dropped once the link is closed).
    pub fn push(&self, o: Out) {
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.tx.try_send(o).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Send actor traffic; `urgent` items go out from this thread when the
    /// link is idle.
    pub fn send(&self, lane: u64, bytes: Vec<u8>, urgent: bool) {
        if urgent && bytes.len() <= PIECE && !self.tx.is_closed() {
            if let Ok(mut g) = self.core.try_lock() {
                if let Some(c) = g.as_mut().filter(|c| c.idle() && self.queued.load(Ordering::SeqCst) == 0) {
                    c.w.small(&bytes);
                    c.w.seal_batch();
                    match c.write_now() {
                        Ok(true) => return,
                        // The rest is the writer's to write (woken by this).
                        Ok(false) => return self.push(Out::Flush),
                        Err(_) => {
                            drop(g);
                            return self.close();
                        }
                    }
                }
            }
        }
        self.push(Out::Wire { lane, bytes });
    }

    pub fn close(&self) {
        self.tx.close();
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Everything given to the link has been written (or it never connected).
    pub fn is_empty(&self) -> bool {
        self.queued.load(Ordering::SeqCst) == 0 && lock(&self.core).as_ref().is_none_or(Core::idle)
    }

    /// Connected: the writer task for `stream` (which the reader shares),
    /// sealing with `sealer`, until the link closes or a write fails.
    pub fn connected(self: &Arc<Self>, stream: TcpStream, sealer: Sealer) -> Result<impl std::future::Future<Output = ()>, String> {
        let stream: Arc<smol::Async<std::net::TcpStream>> = stream.into();
        let raw = stream.get_ref().try_clone().map_err(|e| e.to_string())?;
        let w = Writer { sealer, frames: Vec::with_capacity(BATCH), batch: Vec::with_capacity(BATCH), waiting: Vec::new(), next_id: 0 };
        *lock(&self.core) = Some(Core { w, stream: raw, sent: 0 });
        let link = self.clone();
        Ok(async move {
            // However the writer ends (queue closed, write failed, event loop
            // gone), the reader thread sees the connection end.
            let _close = Shutdown(stream.clone());
            if link.write_queued(&stream).await.is_err() {
                link.close();
            }
        })
    }

    async fn write_queued(&self, stream: &smol::Async<std::net::TcpStream>) -> std::io::Result<()> {
        loop {
            // Wait for more only when no large item is under way.
            let under_way = lock(&self.core).as_ref().is_some_and(|c| !c.w.waiting.is_empty());
            let first = if under_way {
                self.rx.try_recv().ok()
            } else {
                match self.rx.recv().await {
                    Ok(o) => Some(o),
                    Err(_) => return Ok(()),
                }
            };
            self.seal(first);
            // Write it all, waiting for room when the socket is full.
            loop {
                let done = match lock(&self.core).as_mut() {
                    Some(c) => c.write_now()?,
                    None => true,
                };
                if done {
                    break;
                }
                stream.writable().await?;
            }
        }
    }

    /// Seal `first` and what else is queued (up to a batch) into frames.
    fn seal(&self, first: Option<Out>) {
        let mut g = lock(&self.core);
        let Some(c) = g.as_mut() else { return };
        let w = &mut c.w;
        let mut next = first;
        let mut taken = 0;
        while let Some(o) = next {
            taken += 1;
            match o {
                Out::Msg(m) => {
                    w.seal_batch();
                    w.sealer.seal_into(&m, &mut w.frames);
                }
                Out::Wire { lane, bytes } => w.wire(lane, bytes),
                Out::Flush => {}
            }
            if w.frames.len() + w.batch.len() >= BATCH {
                break;
            }
            next = self.rx.try_recv().ok();
        }
        w.seal_batch();
        w.pieces();
        w.seal_batch();
        // Once per batch (under the lock, after sealing): the counter's
        // cache line stays with the senders.
        self.queued.fetch_sub(taken, Ordering::SeqCst);
    }
}

struct Shutdown(Arc<smol::Async<std::net::TcpStream>>);

impl Drop for Shutdown {
    fn drop(&mut self) {
        let _ = self.0.get_ref().shutdown(std::net::Shutdown::Both);
    }
}

/// What the reader found.
pub enum Frame<'a> {
    Msg(Msg),
    /// A batch of actor traffic: each item an encoded `Wire`.
    Wires(Vec<&'a [u8]>),
    /// One large item, put back together from its pieces.
    Whole(Vec<u8>),
    /// A piece of a large item (nothing to hand on yet).
    Piece,
}

/// The reading side of an authenticated connection, for a thread of its own.
pub struct Reader {
    stream: std::net::TcpStream,
    pub framer: Framer,
    pub opener: Opener,
    buf: Vec<u8>,
    /// Large items being put back together: id → bytes so far.
    partial: rustc_hash::FxHashMap<u64, Vec<u8>>,
}

impl Reader {
    /// The reader of `stream` (a non-blocking socket the writer shares).
    pub fn new(stream: &TcpStream, framer: Framer, opener: Opener) -> Result<Reader, String> {
        let stream =
            std::sync::Arc::<smol::Async<std::net::TcpStream>>::from(stream.clone()).get_ref().try_clone().map_err(|e| e.to_string())?;
        Ok(Reader { stream, framer, opener, buf: vec![0u8; 64 * 1024], partial: Default::default() })
    }

    /// The next frame, waiting for it; an error for a closed connection, a
    /// bad MAC or a malformed frame (the connection is then dropped).
    pub fn next(&mut self) -> Result<Frame<'_>, String> {
        loop {
            if self.framer.has_frame() {
                break;
            }
            // As much as is there: one read for a frame and its length.
            let n = match self.stream.read(&mut self.buf) {
                Ok(0) => return Err("connection closed".into()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    wait_readable(&self.stream)?;
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.to_string()),
            };
            self.framer.feed(&self.buf[..n]);
        }
        let body = self.framer.next_body().map_err(|e| e.to_string())?.ok_or("no frame")?;
        let payload = self.opener.open(body).map_err(|e| e.to_string())?;
        match payload.first() {
            Some(&WIRES) => return split_wires(&payload[1..]).map(Frame::Wires),
            Some(&CHUNK) => return piece(&mut self.partial, &payload[1..]),
            _ => {}
        }
        rmp_serde::from_slice(payload).map(Frame::Msg).map_err(|e| format!("malformed message: {e}"))
    }
}

/// A piece of a large item: the item once its last piece is in, bounded in
/// size (`partial`: the items under way).
fn piece(partial: &mut rustc_hash::FxHashMap<u64, Vec<u8>>, b: &[u8]) -> Result<Frame<'static>, String> {
    let Some((id, rest)) = b.split_first_chunk::<8>() else { return Err("malformed piece: no id".into()) };
    let Some((last, data)) = rest.split_first() else { return Err("malformed piece: no flag".into()) };
    let id = u64::from_le_bytes(*id);
    let held: usize = partial.values().map(Vec::len).sum();
    let so_far = partial.get(&id).map_or(0, Vec::len);
    if so_far + data.len() > MAX_MESSAGE || held + data.len() > MAX_PARTIAL {
        return Err(format!("an item in pieces over {} MB", MAX_MESSAGE >> 20));
    }
    if so_far == 0 && partial.len() >= MAX_UNFINISHED {
        return Err(format!("more than {MAX_UNFINISHED} items in pieces at once"));
    }
    partial.entry(id).or_default().extend_from_slice(data);
    if *last == 0 {
        return Ok(Frame::Piece);
    }
    Ok(partial.remove(&id).map_or(Frame::Piece, Frame::Whole))
}

/// Block until `s` can be read (or is closed): the socket is non-blocking
/// since the writer's half is async.
fn wait_readable(s: &std::net::TcpStream) -> Result<(), String> {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd, for the length given.
    let r = unsafe { libc::poll(&mut p, 1, -1) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e.to_string());
        }
    }
    Ok(())
}

fn split_wires(mut b: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let Some((len, rest)) = b.split_first_chunk::<4>() else { return Err("malformed batch: a cut length".into()) };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(format!("malformed batch: {len} bytes announced, {} left", rest.len()));
        }
        out.push(&rest[..len]);
        b = &rest[len..];
    }
    Ok(out)
}

/// Encode a control message for `Out::Msg`.
pub fn msg(m: &Msg) -> Out {
    Out::Msg(rmp_serde::to_vec(m).unwrap_or_default())
}
