//! Documents handed over already encoded as MessagePack: the JS layer encodes a whole batch
//! (src/msgpack.ts, which also decides which JS numbers are integers) instead of converting
//! every document to a Rust value. Nothing that arrives this way is trusted: each document is
//! walked, checked and re-emitted in the form [`DataPacker::pack`] writes (minimal headers and
//! integers; floats as float 64, as they came: a float is never turned into an integer here),
//! so a column holds the same bytes whichever way a document came in, and every stored document
//! reads back as a document. `msgpack` dtypes store the re-emitted bytes; other dtypes that take
//! documents (`cbor`, vectors given as arrays) decode them and pack the document as
//! [`DataPacker::pack`] does. Rejected with `InvalidArgument`: truncated or trailing bytes,
//! reserved markers, invalid UTF-8, non-string map keys, extension types (a JS Date, Map or the
//! like: not document values), nesting deeper than [`MAX_DEPTH`], and for dtypes other than
//! `msgpack` NaN and ±Infinity (their document model has no such numbers). Binary strings become
//! arrays of byte values, as bytes do in `doc::from_value`.

use super::{DType, DataPacker};
use crate::error::Result;

/// Deeper documents are refused (the walk is recursive; rmp-serde's reader stops at 1024).
pub const MAX_DEPTH: usize = 512;

struct Walk<'a> {
    src: &'a [u8],
    pos: usize,
    out: Vec<u8>,
    /// Refuse NaN and ±Infinity (documents that go through serde_json, which has neither).
    finite: bool,
}

type Step = std::result::Result<(), String>;

impl Walk<'_> {
    fn take(&mut self, n: usize) -> std::result::Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.src.len())
            .ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let b = &self.src[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> std::result::Result<u64, String> {
        Ok(self.take(n)?.iter().fold(0u64, |a, &b| (a << 8) | b as u64))
    }

    fn uint(&mut self, v: u64) {
        let o = &mut self.out;
        match v {
            0..=0x7f => o.push(v as u8),
            0x80..=0xff => o.extend_from_slice(&[0xcc, v as u8]),
            0x100..=0xffff => {
                o.push(0xcd);
                o.extend_from_slice(&(v as u16).to_be_bytes())
            }
            0x1_0000..=0xffff_ffff => {
                o.push(0xce);
                o.extend_from_slice(&(v as u32).to_be_bytes())
            }
            _ => {
                o.push(0xcf);
                o.extend_from_slice(&v.to_be_bytes())
            }
        }
    }

    fn sint(&mut self, v: i64) {
        if v >= 0 {
            return self.uint(v as u64);
        }
        let o = &mut self.out;
        if v >= -32 {
            o.push(v as u8);
        } else if v >= i8::MIN as i64 {
            o.extend_from_slice(&[0xd0, v as u8]);
        } else if v >= i16::MIN as i64 {
            o.push(0xd1);
            o.extend_from_slice(&(v as i16).to_be_bytes());
        } else if v >= i32::MIN as i64 {
            o.push(0xd2);
            o.extend_from_slice(&(v as i32).to_be_bytes());
        } else {
            o.push(0xd3);
            o.extend_from_slice(&v.to_be_bytes());
        }
    }

    /// A float stays a float (float 64, -0 included): the encoder chose it (src/msgpack.ts).
    fn float(&mut self, f: f64, at: usize) -> Step {
        if self.finite && !f.is_finite() {
            return Err(format!(
                "byte {at}: {f} has no form in this dtype's documents (only msgpack keeps NaN and ±Infinity)"
            ));
        }
        self.out.push(0xcb);
        self.out.extend_from_slice(&f.to_be_bytes());
        Ok(())
    }

    fn header(&mut self, n: usize, fix: u8, fix_max: usize, m16: u8, m32: u8) {
        let o = &mut self.out;
        if n < fix_max {
            o.push(fix | n as u8);
        } else if n <= 0xffff {
            o.push(m16);
            o.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            o.push(m32);
            o.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    fn str(&mut self, n: usize) -> Step {
        let at = self.pos;
        let s = self.take(n)?;
        if std::str::from_utf8(s).is_err() {
            return Err(format!("the string at byte {at} is not valid UTF-8"));
        }
        let n = s.len();
        if (32..=0xff).contains(&n) {
            self.out.extend_from_slice(&[0xd9, n as u8]);
        } else {
            self.header(n, 0xa0, 32, 0xda, 0xdb);
        }
        self.out.extend_from_slice(&self.src[at..at + n]);
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Step {
        if depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH} levels"));
        }
        let at = self.pos;
        let m = self.take(1)?[0];
        match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => self.out.push(m),
            0x80..=0x8f => self.map((m & 0x0f) as usize, depth)?,
            0x90..=0x9f => self.array((m & 0x0f) as usize, depth)?,
            0xa0..=0xbf => self.str((m & 0x1f) as usize)?,
            0xd9 => {
                let n = self.be(1)? as usize;
                self.str(n)?
            }
            0xda => {
                let n = self.be(2)? as usize;
                self.str(n)?
            }
            0xdb => {
                let n = self.be(4)? as usize;
                self.str(n)?
            }
            0xc4..=0xc6 => {
                let n = self.be(1 << (m - 0xc4))? as usize;
                let bytes = self.take(n)?.to_vec();
                self.header(bytes.len(), 0x90, 16, 0xdc, 0xdd);
                for b in bytes {
                    self.uint(b as u64);
                }
            }
            0xca => {
                let f = f32::from_bits(self.be(4)? as u32);
                self.float(f as f64, at)?
            }
            0xcb => {
                let f = f64::from_bits(self.be(8)?);
                self.float(f, at)?
            }
            0xcc..=0xcf => {
                let v = self.be(1 << (m - 0xcc))?;
                self.uint(v)
            }
            0xd0..=0xd3 => {
                let n = 1 << (m - 0xd0);
                let raw = self.be(n)?;
                let shift = 64 - 8 * n as u32;
                self.sint(((raw << shift) as i64) >> shift)
            }
            // array 16 / 32 and map 16 / 32: a 2- or 4-byte count.
            0xdc | 0xdd => {
                let n = self.be(2 << (m - 0xdc))? as usize;
                self.array(n, depth)?
            }
            0xde | 0xdf => {
                let n = self.be(2 << (m - 0xde))? as usize;
                self.map(n, depth)?
            }
            0xc7..=0xc9 | 0xd4..=0xd8 => {
                return Err(format!(
                    "byte {at}: a MessagePack extension (a Date, Map, undefined or the like) is not a document value"
                ))
            }
            0xc1 => return Err(format!("byte {at}: 0xc1 is not a MessagePack marker")),
        }
        Ok(())
    }

    fn array(&mut self, n: usize, depth: usize) -> Step {
        // Every element takes at least a byte: a count beyond the input is a lie, not a reason
        // to loop.
        if n > self.src.len() - self.pos {
            return Err(format!("an array of {n} elements runs past the input"));
        }
        self.header(n, 0x90, 16, 0xdc, 0xdd);
        for _ in 0..n {
            self.value(depth + 1)?;
        }
        Ok(())
    }

    fn map(&mut self, n: usize, depth: usize) -> Step {
        if n > (self.src.len() - self.pos) / 2 {
            return Err(format!("a map of {n} entries runs past the input"));
        }
        self.header(n, 0x80, 16, 0xde, 0xdf);
        for _ in 0..n {
            let at = self.pos;
            match self.src.get(at) {
                Some(0xa0..=0xbf | 0xd9..=0xdb) => self.value(depth + 1)?,
                Some(_) => return Err(format!("byte {at}: map keys must be strings")),
                None => return Err(format!("truncated at byte {at}")),
            }
            self.value(depth + 1)?;
        }
        Ok(())
    }
}

impl DataPacker {
    fn walk<'a>(&self, src: &'a [u8], capacity: usize) -> Walk<'a> {
        Walk {
            src,
            pos: 0,
            out: Vec::with_capacity(capacity),
            finite: !matches!(self.dtype, DType::MsgPack(_)),
        }
    }

    /// Re-emit one document of `src` starting at `w.pos` into `w.out`, then turn it into this
    /// dtype's element: padded and schema-checked for msgpack, packed from the decoded document
    /// for the other dtypes.
    fn accept_one(&self, w: &mut Walk<'_>, i: usize) -> Result<()> {
        let mark = w.out.len();
        w.value(0)
            .map_err(|why| self.err(format!("document {i}: bad MessagePack: {why}")))?;
        let DType::MsgPack(size) = self.dtype else {
            let d = super::doc::from_msgpack(&w.out[mark..])
                .map_err(|why| self.err(format!("document {i}: {why}")))?;
            w.out.truncate(mark);
            return self
                .pack_into(&super::Value::Doc(d), &mut w.out)
                .map_err(|e| e.context(format!("document {i}")));
        };
        if let Some(schema) = &self.schema {
            let d = super::doc::from_msgpack(&w.out[mark..])
                .map_err(|why| self.err(format!("document {i}: {why}")))?;
            let failed = schema
                .iter_errors(&d)
                .next()
                .map(|e| (e.instance_path().to_string(), e.to_string()));
            if let Some((path, e)) = failed {
                let path = if path.is_empty() { "/".into() } else { path };
                return Err(self.err(format!(
                    "document {i}: value fails the JSON Schema at {path}: {e}"
                )));
            }
        }
        if let Some(n) = size {
            let len = w.out.len() - mark;
            if len > n {
                return Err(self.err(format!("document {i}: {len} bytes do not fit in {n}")));
            }
            w.out.resize(mark + n, 0);
        }
        Ok(())
    }

    /// Elements from one MessagePack array of documents (what src/msgpack.ts makes of a JS
    /// array): the packed bytes and each element's end, as [`pack_many`](Self::pack_many)
    /// returns them.
    pub fn accept_packed_array(&self, array: &[u8]) -> Result<(Vec<u8>, Vec<usize>)> {
        let mut w = self.walk(array, array.len() + array.len() / 8);
        let n = match w.take(1).map_err(|e| self.err(e))?[0] {
            m @ 0x90..=0x9f => (m & 0x0f) as usize,
            0xdc => w.be(2).map_err(|e| self.err(e))? as usize,
            0xdd => w.be(4).map_err(|e| self.err(e))? as usize,
            _ => return Err(self.err("packed documents must come as one MessagePack array")),
        };
        if n > array.len() {
            return Err(self.err(format!("an array of {n} documents runs past the input")));
        }
        let mut ends = Vec::with_capacity(n);
        for i in 0..n {
            self.accept_one(&mut w, i)?;
            ends.push(w.out.len());
        }
        if w.pos != array.len() {
            return Err(self.err(format!(
                "{} bytes left over after {n} documents",
                array.len() - w.pos
            )));
        }
        Ok((w.out, ends))
    }

    /// Elements from documents packed back to back, each ending at its entry of `ends`.
    pub fn accept_packed(&self, bytes: &[u8], ends: &[usize]) -> Result<(Vec<u8>, Vec<usize>)> {
        let mut w = self.walk(bytes, bytes.len());
        let mut out_ends = Vec::with_capacity(ends.len());
        for (i, &end) in ends.iter().enumerate() {
            if end < w.pos || end > bytes.len() {
                return Err(self.err(format!(
                    "document ends are not increasing within the {} bytes given",
                    bytes.len()
                )));
            }
            // Each document is walked on its own bytes, so one cannot run into the next.
            let mut one = Walk {
                src: &bytes[..end],
                pos: w.pos,
                out: std::mem::take(&mut w.out),
                finite: w.finite,
            };
            self.accept_one(&mut one, i)?;
            if one.pos != end {
                return Err(self.err(format!(
                    "document {i}: {} bytes left over after it",
                    end - one.pos
                )));
            }
            w.pos = end;
            w.out = one.out;
            out_ends.push(w.out.len());
        }
        Ok((w.out, out_ends))
    }
}
