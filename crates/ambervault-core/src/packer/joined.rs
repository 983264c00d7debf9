//! Batches handed over joined, as the JS layer holds them: strings as one run of UTF-16 code
//! units with each one's length, byte strings as one buffer cut at each one's end. They are
//! packed straight into the output (no `String` or `Vec` per value) for the dtypes that store
//! them as they are (`str` in UTF-8, `bytes`); other dtypes take the general path. Reads of
//! those dtypes come back joined the same way ([`DataPacker::unpack_joined`]): one string or
//! one buffer per batch instead of one JS value made natively per element.

use super::{trim, DType, DataPacker, Encoding, Value};
use crate::error::{Error, Result};

/// Elements unpacked in one piece, each ending at its entry of `ends` (exclusive).
#[derive(Debug, PartialEq, Eq)]
pub enum Joined {
    /// `bytes` elements back to back, zero padding dropped.
    Bytes { bytes: Vec<u8>, ends: Vec<usize> },
    /// `str` elements in UTF-8 as one string, padding dropped.
    Text { text: String, ends: Vec<usize> },
}

impl DataPacker {
    /// Pad the element that began at `mark` to the fixed size, or refuse it if it is longer.
    fn pad_from(
        &self,
        out: &mut Vec<u8>,
        mark: usize,
        size: Option<usize>,
        i: usize,
    ) -> Result<()> {
        if let Some(n) = size {
            let len = out.len() - mark;
            if len > n {
                return Err(self.err(format!("value {i}: {len} bytes do not fit in {n}")));
            }
            out.resize(mark + n, 0);
        }
        Ok(())
    }

    /// Strings joined as UTF-16 code units, `lens[i]` units each. Lone surrogates become
    /// U+FFFD, as in every other conversion of a JS string.
    pub fn pack_utf16_joined(&self, units: &[u16], lens: &[u32]) -> Result<(Vec<u8>, Vec<usize>)> {
        let mut at = 0usize;
        let mut parts = Vec::with_capacity(lens.len());
        for &n in lens {
            let end = at + n as usize;
            if end > units.len() {
                return Err(self.err(format!(
                    "string lengths run past the {} code units given",
                    units.len()
                )));
            }
            parts.push(&units[at..end]);
            at = end;
        }
        let size = match self.dtype {
            DType::Str {
                size,
                encoding: Encoding::Utf8,
            } => size,
            _ => {
                let values: Vec<Value> = parts
                    .iter()
                    .map(|p| Value::Str(String::from_utf16_lossy(p)))
                    .collect();
                return self.pack_many(&values);
            }
        };
        let mut out = Vec::with_capacity(units.len() + size.unwrap_or(0) * lens.len());
        let mut ends = Vec::with_capacity(lens.len());
        for (i, p) in parts.into_iter().enumerate() {
            let mark = out.len();
            if p.iter().all(|&u| u < 0x80) {
                out.extend(p.iter().map(|&u| u as u8));
            } else {
                let mut buf = [0u8; 4];
                for c in char::decode_utf16(p.iter().copied()) {
                    let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
            self.pad_from(&mut out, mark, size, i)?;
            ends.push(out.len());
        }
        Ok((out, ends))
    }

    /// Byte strings in one buffer, element `i` ending at `ends[i]` (exclusive).
    pub fn pack_joined_bytes(&self, bytes: &[u8], ends: &[usize]) -> Result<(Vec<u8>, Vec<usize>)> {
        let mut parts = Vec::with_capacity(ends.len());
        let mut at = 0usize;
        for &e in ends {
            if e < at || e > bytes.len() {
                return Err(self.err(format!(
                    "element ends are not increasing within the {} bytes given",
                    bytes.len()
                )));
            }
            parts.push(&bytes[at..e]);
            at = e;
        }
        let DType::Bytes(size) = self.dtype else {
            let values: Vec<Value> = parts.iter().map(|p| Value::Bytes(p.to_vec())).collect();
            return self.pack_many(&values);
        };
        let mut out = Vec::with_capacity(bytes.len() + size.unwrap_or(0) * ends.len());
        let mut out_ends = Vec::with_capacity(ends.len());
        for (i, p) in parts.into_iter().enumerate() {
            let mark = out.len();
            out.extend_from_slice(p);
            self.pad_from(&mut out, mark, size, i)?;
            out_ends.push(out.len());
        }
        Ok((out, out_ends))
    }

    /// The elements of `b` between consecutive `offsets` in one piece, for the dtypes stored as
    /// they are (`bytes`, `str` in UTF-8); other dtypes are an `InvalidArgument` (unpack them
    /// one by one). Text that is not UTF-8 is corruption, as in [`unpack`](Self::unpack).
    pub fn unpack_joined(&self, b: &[u8], offsets: &[usize]) -> Result<Joined> {
        let (fixed, text) = match self.dtype {
            DType::Bytes(size) => (size.is_some(), false),
            DType::Str {
                size,
                encoding: Encoding::Utf8,
            } => (size.is_some(), true),
            _ => return Err(self.err("only bytes and UTF-8 str elements unpack joined")),
        };
        let n = offsets.len().saturating_sub(1);
        let mut ends = Vec::with_capacity(n);
        if text {
            // Each element checked on its own (a concatenation can be UTF-8 when its parts are
            // not), then appended as the `&str` it is: the whole is never checked again.
            let mut text = String::with_capacity(b.len());
            for (i, w) in offsets.windows(2).enumerate() {
                let e = trim(self.element(b, i, w)?, fixed);
                let s = std::str::from_utf8(e).map_err(|why| {
                    Error::corrupt(format!("dtype {}: element {i}: {why}", self.spelled))
                })?;
                text.push_str(s);
                ends.push(text.len());
            }
            return Ok(Joined::Text { text, ends });
        }
        let mut bytes = Vec::with_capacity(b.len());
        for (i, w) in offsets.windows(2).enumerate() {
            bytes.extend_from_slice(trim(self.element(b, i, w)?, fixed));
            ends.push(bytes.len());
        }
        Ok(Joined::Bytes { bytes, ends })
    }
}
