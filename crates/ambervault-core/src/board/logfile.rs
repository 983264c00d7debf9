//! The append-only log files that `log()` writes into (one folder of segments per writer).
//!
//! A segment is a fixed-size, memory-mapped file. JS writes records straight into the mapping and
//! publishes each one by storing its length word last, so a record is either fully visible or not
//! at all; the writer thread reads the same pages through its own mapping. Segment layout:
//!
//! ```text
//! header (64 bytes): magic "AMBRLOG1" | u32 version | u32 header size | u64 seq | u64 size | 0...
//! records, 8-byte aligned: u32 len (commit word, total bytes, multiple of 8) | u32 kind | body
//! ```
//! A zero length word means "nothing more yet". An `END` record closes a segment: the writer's
//! records continue in segment `seq + 1`. Positions (`seq << 40 | offset`) order every byte a
//! writer ever logged, which is what committed offsets are stored as.

use crate::error::{Error, Result};
use memmap2::{Mmap, MmapMut};
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

pub const MAGIC: &[u8; 8] = b"AMBRLOG1";
pub const VERSION: u32 = 1;
pub const HEADER_SIZE: usize = 64;
/// Default segment size: large enough that rolling is rare, sparse on disk until written.
pub const DEFAULT_SEGMENT_SIZE: usize = 64 << 20;
/// Bytes always kept free at the end of a segment for the END record.
pub const END_RESERVE: usize = 8;

pub const KIND_NAME: u32 = 1;
pub const KIND_SCALARS: u32 = 2;
pub const KIND_PAYLOAD: u32 = 3;
pub const KIND_END: u32 = 4;

const OFFSET_BITS: u32 = 40;

/// A position in a writer's log: segment number and byte offset inside it.
pub fn position(seq: u64, offset: u64) -> u64 {
    (seq << OFFSET_BITS) | offset
}
pub fn split_position(pos: u64) -> (u64, u64) {
    (pos >> OFFSET_BITS, pos & ((1 << OFFSET_BITS) - 1))
}

/// Folder holding the segments of one writer.
pub fn writer_dir(run_dir: &Path, writer: &str) -> PathBuf {
    run_dir.join("wal").join(writer)
}
pub fn segment_path(run_dir: &Path, writer: &str, seq: u64) -> PathBuf {
    writer_dir(run_dir, writer).join(format!("{seq:08}.log"))
}

/// Create segment `seq` of `writer` (size rounded up to hold at least `min_size` of records) and
/// map it writable. The file is sparse: untouched pages cost no disk.
///
/// The returned `Segment` holds an exclusive advisory lock on the file for as long as it lives
/// (in JS: until the ArrayBuffer over it is collected, or its worker or process is gone): a free
/// lock on a writer's newest segment is how the owner tells the writer is gone (`writer_gone`).
pub fn create_segment(run_dir: &Path, writer: &str, seq: u64, min_size: usize) -> Result<Segment> {
    let size = (min_size + HEADER_SIZE + END_RESERVE)
        .max(DEFAULT_SEGMENT_SIZE)
        .next_multiple_of(4096);
    let path = segment_path(run_dir, writer, seq);
    let shown = path.display().to_string();
    // Built under a temporary name and renamed into place once its header is written, so the
    // writer thread never sees a segment without its header.
    let tmp = path.with_extension("log.tmp");
    std::fs::create_dir_all(writer_dir(run_dir, writer))
        .map_err(|e| Error::from(e).context(&shown))?;
    if path.exists() {
        return Err(Error::io(format!("{shown}: log segment already exists")));
    }
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::from(e).context(&shown))?;
    file.set_len(size as u64)
        .map_err(|e| Error::from(e).context(&shown))?;
    // Locked before the segment gets its name, so it is never visible unlocked while in use.
    file.try_lock()
        .map_err(|e| Error::io(format!("{shown}: cannot lock the new log segment: {e}")))?;
    // SAFETY: the file is ours and stays at this size; other processes only read it.
    let mut map = unsafe { MmapMut::map_mut(&file) }.map_err(|e| Error::from(e).context(&shown))?;
    map[0..8].copy_from_slice(MAGIC);
    map[8..12].copy_from_slice(&VERSION.to_le_bytes());
    map[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_le_bytes());
    map[16..24].copy_from_slice(&seq.to_le_bytes());
    map[24..32].copy_from_slice(&(size as u64).to_le_bytes());
    std::fs::rename(&tmp, &path).map_err(|e| Error::from(e).context(&shown))?;
    Ok(Segment { map, _lock: file })
}

/// A writable segment mapping and the lock that says its writer is alive.
pub struct Segment {
    pub map: MmapMut,
    _lock: std::fs::File,
}

/// Sequence numbers of the segments present in `writer`'s folder (none if it is gone).
pub fn segment_seqs(run_dir: &Path, writer: &str) -> Vec<u64> {
    let Ok(rd) = std::fs::read_dir(writer_dir(run_dir, writer)) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|f| {
            f.file_name()
                .to_str()?
                .strip_suffix(".log")?
                .parse::<u64>()
                .ok()
        })
        .collect()
}

/// Sequence number of the newest segment in `writer`'s folder, if any.
pub fn newest_segment(run_dir: &Path, writer: &str) -> Option<u64> {
    segment_seqs(run_dir, writer).into_iter().max()
}

/// Is `writer` gone for good (a worker terminated, a process killed)? True when nobody holds
/// the lock of its newest segment and no newer segment appeared meanwhile: a live writer always
/// holds the lock of its current segment, and creates (locked) the next one before it lets go
/// of the previous one.
pub fn writer_gone(run_dir: &Path, writer: &str) -> bool {
    let Some(seq) = newest_segment(run_dir, writer) else {
        return false;
    };
    let Ok(f) = std::fs::File::open(segment_path(run_dir, writer, seq)) else {
        return false;
    };
    f.try_lock().is_ok() && newest_segment(run_dir, writer) == Some(seq)
}

/// A read-only view of one segment, as the writer thread and replay see it.
pub struct SegmentReader {
    map: Mmap,
    pub seq: u64,
    path: PathBuf,
}

/// One record as found in a segment: its kind and body (after the 8-byte record header).
pub struct RawRecord<'a> {
    pub kind: u32,
    pub body: &'a [u8],
    /// Offset of the byte after this record.
    pub next: u64,
}

impl SegmentReader {
    pub fn open(path: &Path) -> Result<Self> {
        let shown = path.display().to_string();
        let file = File::open(path).map_err(|e| Error::from(e).context(&shown))?;
        // SAFETY: segments never shrink while mapped; writers only append after the commit word.
        let map = unsafe { Mmap::map(&file) }.map_err(|e| Error::from(e).context(&shown))?;
        if map.len() < HEADER_SIZE || &map[0..8] != MAGIC {
            return Err(Error::corrupt(format!(
                "{shown}: not an ambervault log segment"
            )));
        }
        let version = u32::from_le_bytes(map[8..12].try_into().unwrap_or_default());
        if version != VERSION {
            return Err(Error::corrupt(format!(
                "{shown}: log segment version {version} is not supported"
            )));
        }
        let seq = u64::from_le_bytes(map[16..24].try_into().unwrap_or_default());
        Ok(SegmentReader {
            map,
            seq,
            path: path.to_path_buf(),
        })
    }

    /// The committed record at `offset`, if one is there yet. A record whose length word points
    /// outside the segment is corruption (a torn or foreign file), reported as such.
    pub fn record_at(&self, offset: u64) -> Result<Option<RawRecord<'_>>> {
        let off = offset as usize;
        if off < HEADER_SIZE || off + 8 > self.map.len() || !off.is_multiple_of(8) {
            return Ok(None);
        }
        // SAFETY: aligned (mmap is page aligned, off % 8 == 0) and inside the mapping; the
        // acquire load pairs with the writer's release store (Atomics.store) of the length word.
        let word = unsafe { &*(self.map.as_ptr().add(off) as *const AtomicU32) };
        let len = word.load(Ordering::Acquire) as usize;
        if len == 0 {
            return Ok(None);
        }
        if len < 8 || !len.is_multiple_of(8) || off + len > self.map.len() {
            return Err(Error::corrupt(format!(
                "{}: bad record length {len} at offset {off}",
                self.path.display()
            )));
        }
        let kind = u32::from_le_bytes(self.map[off + 4..off + 8].try_into().unwrap_or_default());
        Ok(Some(RawRecord {
            kind,
            body: &self.map[off + 8..off + len],
            next: (off + len) as u64,
        }))
    }
}

/// Little-endian field reader over a record body; every read is bounds-checked so a corrupt
/// record becomes an error, never a panic.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Fields { buf, pos: 0 }
    }
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(Error::corrupt("log record is shorter than its fields")),
        }
    }
    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.bytes(4)?.try_into().unwrap_or_default(),
        ))
    }
    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_le_bytes(
            self.bytes(8)?.try_into().unwrap_or_default(),
        ))
    }
    /// Skip to the next multiple of 8.
    pub fn align(&mut self) {
        self.pos = self.pos.next_multiple_of(8).min(self.buf.len());
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    #[test]
    fn a_writer_is_gone_once_its_segment_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let seg = create_segment(tmp.path(), "w", 0, 0).unwrap();
        assert!(!writer_gone(tmp.path(), "w"));
        drop(seg);
        assert!(writer_gone(tmp.path(), "w"));
        assert!(!writer_gone(tmp.path(), "nobody"));
    }
}
