//! How a `Wire` message is put into bytes. Most of a cluster's traffic is
//! asks, tells and replies carrying a few plain values (numbers, strings,
//! `none`, booleans); those get a compact form written and read by hand.
//! rmp-serde, which carries everything else, writes every enum variant by
//! name and every id as a byte string, and allocates as it reads: for a
//! small tell that was a third of the sender's and most of the reader's CPU.
//!
//! The compact form starts with 0xC1, a byte msgpack never uses, so a reader
//! tells the two apart by the first byte.

use super::remote::{Delivery, Wire, WireBody};
use crate::vm::portable::{Packet, Portable};
use std::sync::Arc;

/// First byte of the compact form.
const COMPACT: u8 = 0xC1;
const DELIVER: u8 = 1;
const REPLY: u8 = 2;

const TELL: u8 = 0;
const ASK: u8 = 1;

const NONE: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const INT: u8 = 3;
const FLOAT: u8 = 4;
const STR: u8 = 5;

/// Encode `w`: compactly when it is a plain ask, tell or reply.
pub fn encode(w: &Wire) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    if let Some(b) = compact(w) {
        return Ok(b);
    }
    let mut out = Vec::with_capacity(128);
    rmp_serde::encode::write(&mut out, w)?;
    Ok(out)
}

/// Decode what `encode` wrote (an error for anything malformed).
pub fn decode(b: &[u8]) -> Result<Wire, String> {
    if b.first() == Some(&COMPACT) {
        let mut r = Reader { b: &b[1..], at: 1 };
        let w = r.wire()?;
        if !r.b.is_empty() {
            return Err(format!("{} bytes after the message at byte {}", r.b.len(), r.at));
        }
        return Ok(w);
    }
    rmp_serde::from_slice(b).map_err(|e| e.to_string())
}

fn plain(p: &Portable) -> bool {
    match p {
        Portable::None | Portable::Bool(_) | Portable::Int(_) | Portable::Float(_) => true,
        Portable::Str(s) => s.len() <= u32::MAX as usize,
        _ => false,
    }
}

/// A packet that is one plain value (a reply's) or a list of them (an
/// ask's or tell's arguments) and nothing else.
fn plain_packet(p: &Packet, list: bool) -> bool {
    if !p.cells.is_empty() || !p.globals.is_empty() {
        return false;
    }
    match &p.root {
        Portable::List(items) if list => items.len() <= u32::MAX as usize && items.iter().all(plain),
        v => !list && plain(v),
    }
}

fn compact(w: &Wire) -> Option<Vec<u8>> {
    let mut o = Vec::with_capacity(128);
    o.push(COMPACT);
    match w {
        Wire::Deliver(d) => {
            let (method, args) = match &d.body {
                WireBody::Ask { method, args, .. } | WireBody::Tell { method, args } => (method, args),
                WireBody::Raw { .. } => return None,
            };
            if !plain_packet(args, true) || method.len() > u32::MAX as usize || d.sender.len() > u32::MAX as usize {
                return None;
            }
            o.push(DELIVER);
            o.extend_from_slice(&d.run.to_le_bytes());
            o.extend_from_slice(&d.to.to_le_bytes());
            put_str(&mut o, &d.sender);
            o.extend_from_slice(&d.seq.to_le_bytes());
            o.extend_from_slice(&d.timestamp.to_le_bytes());
            match &d.reply {
                None => o.push(0),
                Some(r) => {
                    o.push(1);
                    put_str(&mut o, r);
                }
            }
            o.push(d.hops);
            match &d.body {
                WireBody::Ask { worker, id, .. } => {
                    o.push(ASK);
                    o.extend_from_slice(&worker.to_le_bytes());
                    o.extend_from_slice(&id.to_le_bytes());
                }
                _ => o.push(TELL),
            }
            put_str(&mut o, method);
            let Portable::List(items) = &args.root else { return None };
            o.extend_from_slice(&(items.len() as u32).to_le_bytes());
            items.iter().for_each(|v| put_value(&mut o, v));
        }
        Wire::Reply { run, worker, id, result } => {
            let (ok, p) = match result {
                Ok(p) => (1, p),
                Err(p) => (0, p),
            };
            if !plain_packet(p, false) {
                return None;
            }
            o.push(REPLY);
            o.extend_from_slice(&run.to_le_bytes());
            o.extend_from_slice(&worker.to_le_bytes());
            o.extend_from_slice(&id.to_le_bytes());
            o.push(ok);
            put_value(&mut o, &p.root);
        }
        _ => return None,
    }
    Some(o)
}

fn put_str(o: &mut Vec<u8>, s: &str) {
    o.extend_from_slice(&(s.len() as u32).to_le_bytes());
    o.extend_from_slice(s.as_bytes());
}

fn put_value(o: &mut Vec<u8>, v: &Portable) {
    match v {
        Portable::None => o.push(NONE),
        Portable::Bool(false) => o.push(FALSE),
        Portable::Bool(true) => o.push(TRUE),
        Portable::Int(i) => {
            o.push(INT);
            o.extend_from_slice(&i.to_le_bytes());
        }
        Portable::Float(f) => {
            o.push(FLOAT);
            o.extend_from_slice(&f.to_le_bytes());
        }
        Portable::Str(s) => {
            o.push(STR);
            put_str(o, s);
        }
        // `plain` let nothing else through.
        _ => o.push(NONE),
    }
}

/// Reads the compact form; `at` is the offset into the message, for errors.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let Some((head, rest)) = self.b.split_first_chunk::<N>() else {
            return Err(format!("message cut short at byte {}", self.at));
        };
        self.b = rest;
        self.at += N;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    fn u128(&mut self) -> Result<u128, String> {
        Ok(u128::from_le_bytes(self.take()?))
    }

    fn str(&mut self) -> Result<&'a str, String> {
        let len = self.u32()? as usize;
        if len > self.b.len() {
            return Err(format!("a string of {len} bytes at byte {} with {} left", self.at, self.b.len()));
        }
        let (s, rest) = self.b.split_at(len);
        let s = std::str::from_utf8(s).map_err(|_| format!("a string that is not UTF-8 at byte {}", self.at))?;
        self.b = rest;
        self.at += len;
        Ok(s)
    }

    fn value(&mut self) -> Result<Portable, String> {
        let at = self.at;
        Ok(match self.u8()? {
            NONE => Portable::None,
            FALSE => Portable::Bool(false),
            TRUE => Portable::Bool(true),
            INT => Portable::Int(i64::from_le_bytes(self.take()?)),
            FLOAT => Portable::Float(f64::from_le_bytes(self.take()?)),
            STR => Portable::Str(self.str()?.to_string()),
            t => return Err(format!("unknown value tag {t} at byte {at}")),
        })
    }

    fn wire(&mut self) -> Result<Wire, String> {
        let at = self.at;
        match self.u8()? {
            DELIVER => {
                let run = self.u128()?;
                let to = self.u128()?;
                let sender = Arc::from(self.str()?);
                let seq = self.u64()?;
                let timestamp = f64::from_le_bytes(self.take()?);
                let reply = match self.u8()? {
                    0 => None,
                    _ => Some(self.str()?.to_string()),
                };
                let hops = self.u8()?;
                let ask = match self.u8()? {
                    ASK => Some((self.u32()?, self.u64()?)),
                    _ => None,
                };
                let method = Arc::from(self.str()?);
                let n = self.u32()? as usize;
                // Each value takes a byte at least: a count beyond what is
                // left is malformed, not a reason to reserve gigabytes.
                if n > self.b.len() {
                    return Err(format!("{n} arguments announced at byte {} with {} bytes left", self.at, self.b.len()));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value()?);
                }
                let args = Packet { root: Portable::List(items), cells: Vec::new(), globals: Vec::new() };
                let body = match ask {
                    Some((worker, id)) => WireBody::Ask { method, args, worker, id },
                    None => WireBody::Tell { method, args },
                };
                Ok(Wire::Deliver(Box::new(Delivery { run, to, sender, seq, timestamp, body, reply, hops })))
            }
            REPLY => {
                let run = self.u128()?;
                let worker = self.u32()?;
                let id = self.u64()?;
                let ok = self.u8()? != 0;
                let p = Packet { root: self.value()?, cells: Vec::new(), globals: Vec::new() };
                Ok(Wire::Reply { run, worker, id, result: if ok { Ok(p) } else { Err(p) } })
            }
            k => Err(format!("unknown message kind {k} at byte {at}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tell(args: Vec<Portable>) -> Wire {
        Wire::Deliver(Box::new(Delivery {
            run: 7 << 100,
            to: u128::MAX - 3,
            sender: Arc::from("main-ü"),
            seq: 42,
            timestamp: 1.5,
            body: WireBody::Tell { method: Arc::from("add"), args: Packet { root: Portable::List(args), cells: vec![], globals: vec![] } },
            reply: Some("n2".into()),
            hops: 2,
        }))
    }

    fn same(a: &Wire, b: &Wire) -> bool {
        rmp_serde::to_vec(a).unwrap() == rmp_serde::to_vec(b).unwrap()
    }

    #[test]
    fn plain_messages_round_trip_compactly() {
        let args = vec![Portable::None, Portable::Bool(true), Portable::Int(-5), Portable::Float(0.25), Portable::Str("héllo".into())];
        let w = tell(args);
        let b = encode(&w).unwrap();
        assert_eq!(b[0], COMPACT);
        assert!(b.len() < rmp_serde::to_vec(&w).unwrap().len());
        assert!(same(&decode(&b).unwrap(), &w));
        let ask = Wire::Deliver(Box::new(Delivery {
            run: 1,
            to: 2,
            sender: Arc::from("s"),
            seq: 0,
            timestamp: 0.0,
            body: WireBody::Ask {
                method: Arc::from("get"),
                args: Packet { root: Portable::List(vec![]), cells: vec![], globals: vec![] },
                worker: 3,
                id: 9,
            },
            reply: None,
            hops: 0,
        }));
        assert!(same(&decode(&encode(&ask).unwrap()).unwrap(), &ask));
        let reply = Wire::Reply {
            run: 5,
            worker: 1,
            id: 2,
            result: Err(Packet { root: Portable::Str("no".into()), cells: vec![], globals: vec![] }),
        };
        let b = encode(&reply).unwrap();
        assert_eq!(b[0], COMPACT);
        assert!(same(&decode(&b).unwrap(), &reply));
    }

    #[test]
    fn other_values_travel_as_msgpack() {
        let w = tell(vec![Portable::List(vec![Portable::Int(1)])]);
        let b = encode(&w).unwrap();
        assert_ne!(b[0], COMPACT);
        assert!(same(&decode(&b).unwrap(), &w));
    }

    #[test]
    fn every_cut_or_corrupted_message_is_an_error_not_a_panic() {
        let b = encode(&tell(vec![Portable::Str("abc".into()), Portable::Int(1)])).unwrap();
        for n in 0..b.len() {
            assert!(decode(&b[..n]).is_err(), "cut at {n}");
        }
        for i in 1..b.len() {
            for x in [0u8, 0xFF, 0x80] {
                let mut c = b.clone();
                c[i] = x;
                let _ = decode(&c);
            }
        }
        let mut long = b.clone();
        long.push(0);
        assert!(decode(&long).unwrap_err().contains("after the message"));
    }
}
