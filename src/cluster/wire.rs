//! The node-to-node wire (runtime.md §8), without sockets: byte buffers in,
//! byte buffers out, so it is tested (and fuzzed) in-process and runs in a
//! simulation.
//!
//! Every frame is a little-endian `u32` length, then that many bytes; a
//! length over the limit is refused before anything is allocated. A
//! connection starts with a three-frame handshake in which both sides prove
//! the shared secret without sending it (HMAC-SHA256 challenge–response) and
//! check the wire version:
//!
//! 1. client → server `Hello`: magic, version, client nonce, client name;
//! 2. server → client `Challenge`: magic, version, server nonce, server name,
//!    HMAC(secret, "server" ‖ client nonce ‖ server nonce);
//! 3. client → server `Proof`: HMAC(secret, "client" ‖ server nonce ‖ client nonce).
//!
//! After it, each direction has a session key (HMAC of the secret over both
//! nonces and the direction) and every frame ends with a 16-byte MAC over its
//! sequence number and body, so a frame altered, replayed or reordered closes
//! the connection. Traffic is not encrypted (run clusters on a private network).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Changes whenever frames change meaning; both sides must agree.
pub const WIRE_VERSION: u32 = 2;
const MAGIC: &[u8; 4] = b"NDL\x01";
/// The largest frame (a bigger message is sent in chunks).
pub const MAX_FRAME: usize = 4 << 20;
/// The largest handshake frame: a node reads nothing bigger before the
/// other side has proved the secret.
pub const MAX_HANDSHAKE: usize = 512;
const NONCE: usize = 32;
const TAG: usize = 16;

/// Why a connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    TooLarge { len: usize, max: usize },
    Malformed(&'static str),
    Version { theirs: u32 },
    BadSecret,
    BadMac { seq: u64 },
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::TooLarge { len, max } => write!(f, "frame of {len} bytes is over the limit of {max}"),
            WireError::Malformed(what) => write!(f, "malformed {what}"),
            WireError::Version { theirs } => write!(f, "wire version {theirs}, this node speaks {WIRE_VERSION}"),
            WireError::BadSecret => write!(f, "the peer does not know the cluster secret"),
            WireError::BadMac { seq } => write!(f, "frame {seq} failed its MAC (altered, replayed or out of order)"),
        }
    }
}

/// Cuts a byte stream into frames, never holding more than one frame plus
/// what was fed.
pub struct Framer {
    buf: Vec<u8>,
    /// Where the next frame starts in `buf` (frames already cut are
    /// dropped from the front only now and then, not moved after each).
    start: usize,
    max: usize,
}

impl Framer {
    pub fn new(max: usize) -> Framer {
        Framer { buf: Vec::new(), start: 0, max }
    }

    /// The limit for the frames that follow (raised after the handshake).
    pub fn set_max(&mut self, max: usize) {
        self.max = max;
    }

    /// Bytes still needed before the next frame can be cut (at least 1).
    pub fn wanted(&self) -> usize {
        let held = &self.buf[self.start..];
        match held.get(..4) {
            Some(h) => (4 + u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize).saturating_sub(held.len()).max(1),
            None => 4 - held.len(),
        }
    }

    /// Add bytes read (frames cut before are gone after this).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's body, if one is there; an oversized length
    /// is an error as soon as its four bytes arrive.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        Ok(self.next_body()?.map(|b| b.to_vec()))
    }

    /// A whole frame is there to be cut (or an oversized one announced).
    pub fn has_frame(&self) -> bool {
        let held = &self.buf[self.start..];
        held.get(..4).is_some_and(|h| {
            let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            len > self.max || held.len() >= 4 + len
        })
    }

    /// As `next_frame`, without a copy: the body stays valid until the
    /// next `feed`.
    pub fn next_body(&mut self) -> Result<Option<&[u8]>, WireError> {
        let held = &self.buf[self.start..];
        let Some(h) = held.get(..4) else { return Ok(None) };
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
        if len > self.max {
            return Err(WireError::TooLarge { len, max: self.max });
        }
        if held.len() < 4 + len {
            return Ok(None);
        }
        let at = self.start + 4;
        self.start = at + len;
        Ok(Some(&self.buf[at..at + len]))
    }
}

/// A frame around `body`.
pub fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length.
    let mut m = <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn keyed_mac(key: &HmacSha256, parts: &[&[u8]]) -> [u8; 32] {
    let mut m = key.clone();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// Equal in constant time (no early exit an attacker could time).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn nonce() -> [u8; NONCE] {
    let mut n = [0u8; NONCE];
    if getrandom::fill(&mut n).is_err() {
        // No system randomness: still distinct per connection and process.
        let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        n[..16].copy_from_slice(&t.to_le_bytes());
        n[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    n
}

/// Reads a handshake frame's fields in order.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], WireError> {
        let (a, b) = self.0.split_at_checked(n).ok_or(WireError::Malformed(what))?;
        self.0 = b;
        Ok(a)
    }
    fn header(&mut self, what: &'static str) -> Result<(), WireError> {
        if self.take(4, what)? != MAGIC {
            return Err(WireError::Malformed(what));
        }
        let v = self.take(4, what)?;
        let theirs = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
        if theirs != WIRE_VERSION {
            return Err(WireError::Version { theirs });
        }
        Ok(())
    }
    fn name(&mut self, what: &'static str) -> Result<String, WireError> {
        let n = self.take(1, what)?[0] as usize;
        let s = std::str::from_utf8(self.take(n, what)?).map_err(|_| WireError::Malformed(what))?;
        if !self.0.is_empty() {
            return Err(WireError::Malformed(what));
        }
        Ok(s.to_string())
    }
}

fn put_name(out: &mut Vec<u8>, name: &str) {
    let mut end = name.len().min(255);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    out.push(end as u8);
    out.extend_from_slice(&name.as_bytes()[..end]);
}

/// A client between its `Hello` and the server's `Challenge`.
pub struct ClientHello {
    nonce: [u8; NONCE],
}

/// A server between its `Challenge` and the client's `Proof`.
pub struct ServerChallenge {
    client: [u8; NONCE],
    server: [u8; NONCE],
    /// The name the client gave.
    pub peer: String,
}

/// Start a connection: the `Hello` frame to send.
pub fn client_hello(name: &str) -> (ClientHello, Vec<u8>) {
    let n = nonce();
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    body.extend_from_slice(&n);
    put_name(&mut body, name);
    (ClientHello { nonce: n }, frame(&body))
}

/// The server reads a `Hello`: the `Challenge` frame to send back.
pub fn server_challenge(secret: &[u8], name: &str, hello: &[u8]) -> Result<(ServerChallenge, Vec<u8>), WireError> {
    let mut r = Reader(hello);
    r.header("hello")?;
    let client: [u8; NONCE] = r.take(NONCE, "hello")?.try_into().map_err(|_| WireError::Malformed("hello"))?;
    let peer = r.name("hello")?;
    let server = nonce();
    let mut body = MAGIC.to_vec();
    body.extend_from_slice(&WIRE_VERSION.to_le_bytes());
    body.extend_from_slice(&server);
    body.extend_from_slice(&mac(secret, &[b"server", &client, &server]));
    put_name(&mut body, name);
    Ok((ServerChallenge { client, server, peer }, frame(&body)))
}

/// The client reads the `Challenge`: the server proved the secret; the
/// `Proof` frame to send, the session, and the server's name.
pub fn client_proof(secret: &[u8], hello: ClientHello, challenge: &[u8]) -> Result<(Session, Vec<u8>, String), WireError> {
    let mut r = Reader(challenge);
    r.header("challenge")?;
    let server: [u8; NONCE] = r.take(NONCE, "challenge")?.try_into().map_err(|_| WireError::Malformed("challenge"))?;
    let their_mac = r.take(32, "challenge")?;
    let peer = r.name("challenge")?;
    if !same(their_mac, &mac(secret, &[b"server", &hello.nonce, &server])) {
        return Err(WireError::BadSecret);
    }
    let proof = frame(&mac(secret, &[b"client", &server, &hello.nonce]));
    Ok((Session::new(secret, &hello.nonce, &server, true), proof, peer))
}

/// The server reads the `Proof`: the client proved the secret.
pub fn server_accept(secret: &[u8], ch: &ServerChallenge, proof: &[u8]) -> Result<Session, WireError> {
    if !same(proof, &mac(secret, &[b"client", &ch.server, &ch.client])) {
        return Err(WireError::BadSecret);
    }
    Ok(Session::new(secret, &ch.client, &ch.server, false))
}

/// One side of an authenticated connection: sealing what it sends, opening
/// what it receives, each direction with its own key and sequence numbers.
pub struct Session {
    tx: Sealer,
    rx: Opener,
}

/// The sending half of a session.
pub struct Sealer {
    /// HMAC keyed once (cloned per frame: no key schedule per message).
    key: HmacSha256,
    seq: u64,
}

/// The receiving half of a session.
pub struct Opener {
    key: HmacSha256,
    seq: u64,
}

impl Session {
    fn new(secret: &[u8], client: &[u8], server: &[u8], is_client: bool) -> Session {
        let c2s = mac(secret, &[b"session client-to-server", client, server]);
        let s2c = mac(secret, &[b"session server-to-client", client, server]);
        let (send_key, recv_key) = if is_client { (c2s, s2c) } else { (s2c, c2s) };
        let keyed = |k: [u8; 32]| <HmacSha256 as KeyInit>::new_from_slice(&k).expect("HMAC takes any key length");
        Session { tx: Sealer { key: keyed(send_key), seq: 0 }, rx: Opener { key: keyed(recv_key), seq: 0 } }
    }

    /// A frame carrying `payload` and its MAC.
    pub fn seal(&mut self, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + payload.len() + TAG);
        self.tx.seal_into(payload, &mut out);
        out
    }

    /// The payload of a received frame's body, if its MAC holds.
    pub fn open(&mut self, body: &[u8]) -> Result<Vec<u8>, WireError> {
        self.rx.open(body).map(<[u8]>::to_vec)
    }

    /// The two directions apart, for a writer and a reader task.
    pub fn split(self) -> (Sealer, Opener) {
        (self.tx, self.rx)
    }
}

impl Sealer {
    /// Append a frame carrying `payload` and its MAC to `out`.
    pub fn seal_into(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        let seq = self.seq;
        self.seq += 1;
        let tag = keyed_mac(&self.key, &[&seq.to_le_bytes(), payload]);
        out.extend_from_slice(&((payload.len() + TAG) as u32).to_le_bytes());
        out.extend_from_slice(payload);
        out.extend_from_slice(&tag[..TAG]);
    }
}

impl Opener {
    /// The payload of a received frame's body, if its MAC holds.
    pub fn open<'a>(&mut self, body: &'a [u8]) -> Result<&'a [u8], WireError> {
        let seq = self.seq;
        let (payload, tag) = body.split_at_checked(body.len().wrapping_sub(TAG)).ok_or(WireError::Malformed("frame"))?;
        let want = keyed_mac(&self.key, &[&seq.to_le_bytes(), payload]);
        if !same(tag, &want[..TAG]) {
            return Err(WireError::BadMac { seq });
        }
        self.seq += 1;
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &[u8]) -> Vec<u8> {
        let mut f = Framer::new(MAX_FRAME);
        f.feed(bytes);
        f.next_frame().unwrap().unwrap()
    }

    /// Both sides of a handshake with their secrets; the sessions or the error.
    fn handshake(client_secret: &[u8], server_secret: &[u8]) -> Result<(Session, Session), WireError> {
        let (hello, h) = client_hello("client-node");
        let (ch, c) = server_challenge(server_secret, "server-node", &body(&h))?;
        assert_eq!(ch.peer, "client-node");
        let (cs, proof, peer) = client_proof(client_secret, hello, &body(&c))?;
        assert_eq!(peer, "server-node");
        let ss = server_accept(server_secret, &ch, &body(&proof))?;
        Ok((cs, ss))
    }

    #[test]
    fn a_handshake_then_frames_both_ways() {
        let (mut c, mut s) = handshake(b"s3cret", b"s3cret").unwrap();
        for i in 0..3u8 {
            assert_eq!(s.open(&body(&c.seal(&[i; 10]))).unwrap(), [i; 10]);
            assert_eq!(c.open(&body(&s.seal(b"pong"))).unwrap(), b"pong");
        }
    }

    #[test]
    fn a_wrong_secret_is_refused_on_both_sides() {
        // The client sees the server does not know it...
        assert_eq!(handshake(b"right", b"wrong").err(), Some(WireError::BadSecret));
        // ...and a server refuses a client's proof made with another one.
        let (hello, h) = client_hello("c");
        let (ch, c) = server_challenge(b"server", "s", &body(&h)).unwrap();
        assert!(client_proof(b"client", hello, &body(&c)).is_err());
        let forged = frame(&[0u8; 32]);
        assert!(matches!(server_accept(b"server", &ch, &body(&forged)), Err(WireError::BadSecret)));
    }

    #[test]
    fn the_wire_version_is_checked() {
        let (_, h) = client_hello("c");
        let mut b = body(&h);
        b[4] = 99;
        assert_eq!(server_challenge(b"k", "s", &b).err(), Some(WireError::Version { theirs: 99 }));
    }

    #[test]
    fn altered_replayed_or_reordered_frames_fail_their_mac() {
        let (mut c, mut s) = handshake(b"k", b"k").unwrap();
        let f1 = body(&c.seal(b"one"));
        let f2 = body(&c.seal(b"two"));
        let mut bad = f1.clone();
        bad[0] ^= 1;
        assert_eq!(s.open(&bad), Err(WireError::BadMac { seq: 0 }));
        assert!(s.open(&f2).is_err(), "out of order");
        assert_eq!(s.open(&f1).unwrap(), b"one");
        assert!(s.open(&f1).is_err(), "replayed");
        assert_eq!(s.open(&f2).unwrap(), b"two");
    }

    #[test]
    fn an_oversized_length_is_refused_before_its_bytes_arrive() {
        let mut f = Framer::new(MAX_HANDSHAKE);
        f.feed(&u32::MAX.to_le_bytes());
        assert_eq!(f.next_frame(), Err(WireError::TooLarge { len: u32::MAX as usize, max: MAX_HANDSHAKE }));
        let mut f = Framer::new(16);
        f.feed(&frame(b"abc")[..5]);
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.wanted(), 2);
    }

    /// Random and mutated input never panics: every step returns a frame,
    /// "not yet", or an error.
    #[test]
    fn random_and_mutated_input_is_an_error_not_a_panic() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let (_, h) = client_hello("c");
        let good = body(&h);
        for i in 0..20_000 {
            let mut b = if i % 2 == 0 { good.clone() } else { (0..next() % 80).map(|_| next() as u8).collect() };
            if !b.is_empty() {
                let at = (next() as usize) % b.len();
                b[at] = next() as u8;
                b.truncate((next() as usize) % (b.len() + 1));
            }
            let _ = server_challenge(b"k", "s", &b);
            let (hello, _) = client_hello("c");
            let _ = client_proof(b"k", hello, &b);
            let mut f = Framer::new(64);
            f.feed(&b);
            while let Ok(Some(_)) = f.next_frame() {}
            let (mut c, _) = handshake(b"k", b"k").unwrap_or_else(|_| unreachable!());
            assert!(c.open(&b).is_err());
        }
    }
}
