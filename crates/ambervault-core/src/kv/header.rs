//! The 10-byte value header of the KohakuVault 0.8 format (docs/format.md, "Value header").
//!
//! `0x89 0x4B | version 0x01 | encoding | flags 0x00 | 0x00 0x00 0x00 | 0x56 0x4B | payload`.
//! Raw bytes are stored bare so other tools can read media files as-is, except when they begin
//! with the magic `0x89 0x4B`: those get an explicit raw (`00`) header so no reader can mistake
//! their first bytes for a header.

use crate::error::{Error, Result};

pub const HEADER_LEN: usize = 10;
const MAGIC: [u8; 2] = [0x89, 0x4B];
const VERSION: u8 = 0x01;
const TRAILER: [u8; 2] = [0x56, 0x4B];

/// How a stored payload is encoded (byte 3 of the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Encoding {
    Raw = 0x00,
    /// Python pickle: only Python can read it.
    Pickle = 0x01,
    /// 8-byte little-endian i64 or f64 (Python writes both with this tag).
    Packed = 0x02,
    Json = 0x03,
    MsgPack = 0x04,
    Cbor = 0x05,
    Utf8 = 0x06,
}

impl Encoding {
    pub fn from_byte(b: u8) -> Option<Encoding> {
        Some(match b {
            0x00 => Encoding::Raw,
            0x01 => Encoding::Pickle,
            0x02 => Encoding::Packed,
            0x03 => Encoding::Json,
            0x04 => Encoding::MsgPack,
            0x05 => Encoding::Cbor,
            0x06 => Encoding::Utf8,
            _ => return None,
        })
    }

    /// Human name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Raw => "raw",
            Encoding::Pickle => "pickle",
            Encoding::Packed => "packed primitive",
            Encoding::Json => "json",
            Encoding::MsgPack => "msgpack",
            Encoding::Cbor => "cbor",
            Encoding::Utf8 => "utf8",
        }
    }
}

/// Whether stored bytes would be read as carrying a header.
pub fn has_header(stored: &[u8]) -> bool {
    stored.len() >= HEADER_LEN
        && stored[0..2] == MAGIC
        && stored[2] == VERSION
        && stored[8..10] == TRAILER
}

/// Raw bytes need a header exactly when they start with the magic.
pub fn raw_needs_header(payload: &[u8]) -> bool {
    payload.len() >= 2 && payload[0..2] == MAGIC
}

/// The 10 header bytes for an encoding.
pub const fn header(encoding: Encoding) -> [u8; HEADER_LEN] {
    [
        MAGIC[0],
        MAGIC[1],
        VERSION,
        encoding as u8,
        0,
        0,
        0,
        0,
        TRAILER[0],
        TRAILER[1],
    ]
}

/// Every header, by encoding byte, so `head` can hand out a borrowed one.
static HEADERS: [[u8; HEADER_LEN]; 7] = [
    header(Encoding::Raw),
    header(Encoding::Pickle),
    header(Encoding::Packed),
    header(Encoding::Json),
    header(Encoding::MsgPack),
    header(Encoding::Cbor),
    header(Encoding::Utf8),
];

/// What goes in front of a payload when it is stored: nothing for raw bytes without the
/// magic, the header otherwise. Stored bytes are `head + payload`, so writers can copy the two
/// parts where they go instead of framing into a new buffer first.
pub fn head(encoding: Encoding, payload: &[u8]) -> &'static [u8] {
    if encoding == Encoding::Raw && !raw_needs_header(payload) {
        &[]
    } else {
        &HEADERS[encoding as usize]
    }
}

/// The header to write in front of a streamed raw value whose first bytes are `first`
/// (empty when none is needed).
pub fn stream_prefix(first: &[u8]) -> &'static [u8] {
    const RAW: [u8; HEADER_LEN] = [0x89, 0x4B, VERSION, 0, 0, 0, 0, 0, 0x56, 0x4B];
    if raw_needs_header(first) {
        &RAW
    } else {
        &[]
    }
}

/// Split stored bytes into encoding and payload. An unknown encoding byte is corrupt data.
pub fn parse(stored: &[u8]) -> Result<(Encoding, &[u8])> {
    if !has_header(stored) {
        return Ok((Encoding::Raw, stored));
    }
    match Encoding::from_byte(stored[3]) {
        Some(enc) => Ok((enc, &stored[HEADER_LEN..])),
        None => Err(Error::corrupt(format!(
            "value header names unknown encoding 0x{:02x}",
            stored[3]
        ))),
    }
}

/// Offset of the payload inside stored bytes that begin with `first` (0 or HEADER_LEN).
pub fn payload_offset(first: &[u8]) -> usize {
    if has_header(first) {
        HEADER_LEN
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored bytes of a payload.
    fn frame(encoding: Encoding, payload: &[u8]) -> Vec<u8> {
        [head(encoding, payload), payload].concat()
    }

    #[test]
    fn raw_bytes_are_bare_unless_they_start_with_the_magic() {
        assert_eq!(frame(Encoding::Raw, b"hello"), b"hello");
        let m = [0x89, 0x4B, 1, 2, 3];
        let f = frame(Encoding::Raw, &m);
        assert_eq!(f.len(), 15);
        assert_eq!(parse(&f).unwrap(), (Encoding::Raw, &m[..]));
        // A lone magic (shorter than a header) still round-trips.
        let f = frame(Encoding::Raw, &[0x89, 0x4B]);
        assert_eq!(parse(&f).unwrap(), (Encoding::Raw, &[0x89u8, 0x4B][..]));
    }

    #[test]
    fn only_raw_bytes_without_the_magic_go_bare() {
        assert_eq!(head(Encoding::Raw, b"plain"), b"");
        assert_eq!(head(Encoding::Raw, &[0x89, 0x4B, 7]), header(Encoding::Raw));
        assert_eq!(head(Encoding::MsgPack, &[0x90]), header(Encoding::MsgPack));
        assert_eq!(head(Encoding::Utf8, b""), header(Encoding::Utf8));
    }

    #[test]
    fn encoded_values_carry_the_python_header() {
        let f = frame(Encoding::Utf8, "héllo".as_bytes());
        assert_eq!(&f[..10], &[0x89, 0x4B, 0x01, 0x06, 0, 0, 0, 0, 0x56, 0x4B]);
        assert_eq!(parse(&f).unwrap(), (Encoding::Utf8, "héllo".as_bytes()));
        let mut bad = frame(Encoding::Json, b"{}");
        bad[3] = 0x7F;
        assert_eq!(parse(&bad).unwrap_err().kind, crate::ErrorKind::Corrupt);
    }
}
