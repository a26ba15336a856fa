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
    /// Actor traffic (an rmp-encoded `runtime::remote::Wire`).
    Wire(Vec<u8>),
}

/// Frames of actor traffic start with this byte (an rmp-encoded `Msg`
/// never does), then hold `[u32 length][Wire]...`.
const WIRES: u8 = 0;

/// Batch up to this many bytes into one write.
const BATCH: usize = 256 * 1024;

/// The largest message that fits in a frame.
pub const MAX_MESSAGE: usize = MAX_FRAME - 64;

/// Write what is queued for the peer until the queue closes or a write fails.
pub async fn writer(mut stream: TcpStream, mut sealer: Sealer, rx: async_channel::Receiver<Out>) -> Result<(), String> {
    let mut frames = Vec::with_capacity(BATCH);
    let mut batch = Vec::with_capacity(BATCH);
    while let Ok(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(o) = next {
            match o {
                Out::Msg(m) => {
                    seal_batch(&mut batch, &mut sealer, &mut frames);
                    sealer.seal_into(&m, &mut frames);
                }
                Out::Wire(w) => {
                    if batch.len() + 4 + w.len() > MAX_MESSAGE {
                        seal_batch(&mut batch, &mut sealer, &mut frames);
                    }
                    if batch.is_empty() {
                        batch.push(WIRES);
                    }
                    batch.extend_from_slice(&(w.len() as u32).to_le_bytes());
                    batch.extend_from_slice(&w);
                }
            }
            if frames.len() + batch.len() >= BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        seal_batch(&mut batch, &mut sealer, &mut frames);
        stream.write_all(&frames).await.map_err(|e| e.to_string())?;
        frames.clear();
    }
    Ok(())
}

fn seal_batch(batch: &mut Vec<u8>, sealer: &mut Sealer, frames: &mut Vec<u8>) {
    if !batch.is_empty() {
        sealer.seal_into(batch, frames);
        batch.clear();
    }
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
}

impl Reader {
    pub fn new(stream: TcpStream, framer: Framer, opener: Opener) -> Reader {
        Reader { stream, framer, opener, buf: vec![0u8; 64 * 1024] }
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
        if payload.first() == Some(&WIRES) {
            return split_wires(&payload[1..]).map(Frame::Wires);
        }
        rmp_serde::from_slice(payload).map(Frame::Msg).map_err(|e| format!("malformed message: {e}"))
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
