//! The NBC file format: `NBC\0`, format version (u16 LE), flags (u16 LE), body
//! length (u32 LE), CRC-32 of the body (u32 LE), then the rmp-serde body.

use super::Program;

pub const MAGIC: &[u8; 4] = b"NBC\0";
pub const VERSION: u16 = 2;
const HEADER_LEN: usize = 16;
/// Refuse absurd bodies before allocating for them.
const MAX_BODY: usize = 1 << 30;

pub fn encode(p: &Program) -> Vec<u8> {
    let body = rmp_serde::to_vec(p).expect("a program always serializes");
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decode and verify an NBC file. Every failure is a message naming the problem
/// (with a byte offset where one applies); nothing here panics.
pub fn decode(bytes: &[u8]) -> Result<super::verify::Verified, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!("not an NBC file: {} bytes is shorter than the 16-byte header", bytes.len()));
    }
    if &bytes[0..4] != MAGIC {
        return Err("not an NBC file: bad magic at byte 0 (expected `NBC\\0`)".into());
    }
    let version = u16::from_le_bytes([bytes[4], bytes[5]]);
    if version != VERSION {
        return Err(format!("NBC format version {version} is not supported (this noodle reads version {VERSION}); rebuild the program"));
    }
    let flags = u16::from_le_bytes([bytes[6], bytes[7]]);
    if flags != 0 {
        return Err(format!("unknown NBC flags {flags:#06x} at byte 6"));
    }
    let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let crc = u32::from_le_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let body = &bytes[HEADER_LEN..];
    if len > MAX_BODY || body.len() < len {
        return Err(format!("truncated NBC file: header says {len} body bytes, file has {}", body.len()));
    }
    if body.len() > len {
        return Err(format!("corrupted NBC file: {} unexpected bytes after the body at byte {}", body.len() - len, HEADER_LEN + len));
    }
    if crc32fast::hash(body) != crc {
        return Err("corrupted NBC file: checksum mismatch".into());
    }
    let program: Program = rmp_serde::from_slice(body).map_err(|e| format!("corrupted NBC file: body does not decode: {e}"))?;
    super::verify::verify(program).map_err(|e| format!("invalid NBC file: {e}"))
}
