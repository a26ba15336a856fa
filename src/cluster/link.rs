//! One authenticated connection to a peer, split in two: a writer task that
//! batches whatever is queued — control messages and actor traffic — into as
//! few frames and writes as it can (one MAC per batch, one write per wake),
//! and a reader that opens frames and hands them on.

use super::node::Msg;
use super::wire::{Framer, Opener, Sealer, MAX_FRAME};
use smol::io::{AsyncReadExt, AsyncWriteExt};
use smol::net::TcpStream;

/// Something queued for a peer.
pub enum Out {
    /// A control message (rmp-encoded `Msg`).
    Msg(Vec<u8>),
    /// Actor traffic (an rmp-encoded `runtime::remote::Wire`) on a lane:
    /// items of one lane keep their order, lanes may pass each other.
    Wire { lane: u64, bytes: Vec<u8> },
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

/// Write what is queued for the peer until the queue closes or a write fails.
pub async fn writer(mut stream: TcpStream, sealer: Sealer, rx: async_channel::Receiver<Out>) -> Result<(), String> {
    let mut w = Writer { sealer, frames: Vec::with_capacity(BATCH), batch: Vec::with_capacity(BATCH), waiting: Vec::new(), next_id: 0 };
    loop {
        // Wait for more only when no large item is under way.
        let first = if w.waiting.is_empty() {
            match rx.recv().await {
                Ok(o) => Some(o),
                Err(_) => break,
            }
        } else {
            rx.try_recv().ok()
        };
        let mut next = first;
        while let Some(o) = next {
            match o {
                Out::Msg(m) => {
                    w.seal_batch();
                    w.sealer.seal_into(&m, &mut w.frames);
                }
                Out::Wire { lane, bytes } => w.wire(lane, bytes),
            }
            if w.frames.len() + w.batch.len() >= BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        w.seal_batch();
        w.pieces();
        w.seal_batch();
        if !w.frames.is_empty() {
            stream.write_all(&w.frames).await.map_err(|e| e.to_string())?;
            w.frames.clear();
        }
    }
    Ok(())
}

/// What the reader found.
pub enum Frame {
    Msg(Msg),
    /// A batch of actor traffic: each item an encoded `Wire`.
    Wires(Vec<Vec<u8>>),
}

/// The reading side of an authenticated connection.
pub struct Reader {
    pub stream: TcpStream,
    pub framer: Framer,
    pub opener: Opener,
    buf: Vec<u8>,
    /// Large items being put back together: id → bytes so far.
    partial: rustc_hash::FxHashMap<u64, Vec<u8>>,
}

impl Reader {
    pub fn new(stream: TcpStream, framer: Framer, opener: Opener) -> Reader {
        Reader { stream, framer, opener, buf: vec![0u8; 64 * 1024], partial: Default::default() }
    }

    /// The next frame; an error for a closed connection, a bad MAC or a
    /// malformed frame (the connection is then dropped).
    pub async fn next(&mut self) -> Result<Frame, String> {
        let body = loop {
            if let Some(f) = self.framer.next_frame().map_err(|e| e.to_string())? {
                break f;
            }
            let want = self.framer.wanted().clamp(1, self.buf.len());
            let n = self.stream.read(&mut self.buf[..want]).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed".into());
            }
            self.framer.feed(&self.buf[..n]);
        };
        let payload = self.opener.open(&body).map_err(|e| e.to_string())?;
        match payload.first() {
            Some(&WIRES) => return split_wires(&payload[1..]).map(Frame::Wires),
            Some(&CHUNK) => return self.piece(&payload[1..]),
            _ => {}
        }
        rmp_serde::from_slice(payload).map(Frame::Msg).map_err(|e| format!("malformed message: {e}"))
    }
}

impl Reader {
    /// A piece of a large item: the item once its last piece is in (an
    /// empty batch before), bounded in size.
    fn piece(&mut self, b: &[u8]) -> Result<Frame, String> {
        let Some((id, rest)) = b.split_first_chunk::<8>() else { return Err("malformed piece: no id".into()) };
        let Some((last, data)) = rest.split_first() else { return Err("malformed piece: no flag".into()) };
        let id = u64::from_le_bytes(*id);
        let held: usize = self.partial.values().map(Vec::len).sum();
        let so_far = self.partial.get(&id).map_or(0, Vec::len);
        if so_far + data.len() > MAX_MESSAGE || held + data.len() > MAX_PARTIAL {
            return Err(format!("an item in pieces over {} MB", MAX_MESSAGE >> 20));
        }
        if so_far == 0 && self.partial.len() >= MAX_UNFINISHED {
            return Err(format!("more than {MAX_UNFINISHED} items in pieces at once"));
        }
        self.partial.entry(id).or_default().extend_from_slice(data);
        if *last == 0 {
            return Ok(Frame::Wires(Vec::new()));
        }
        Ok(Frame::Wires(self.partial.remove(&id).into_iter().collect()))
    }
}

fn split_wires(mut b: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let Some((len, rest)) = b.split_first_chunk::<4>() else { return Err("malformed batch: a cut length".into()) };
        let len = u32::from_le_bytes(*len) as usize;
        if len > rest.len() {
            return Err(format!("malformed batch: {len} bytes announced, {} left", rest.len()));
        }
        out.push(rest[..len].to_vec());
        b = &rest[len..];
    }
    Ok(out)
}

/// Encode a control message for `Out::Msg`.
pub fn msg(m: &Msg) -> Out {
    Out::Msg(rmp_serde::to_vec(m).unwrap_or_default())
}
