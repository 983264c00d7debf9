//! Decoding log records into what the writer stores. The byte layout of each kind is written by
//! `src/board/logWriter.ts`; both sides must agree field for field.
//!
//! ```text
//! NAME     u32 id | u32 nbytes | utf8 name
//! SCALARS  f64 step | f64 global_step | f64 timestamp_ms | u32 count | u32 flags
//!          | count x (u32 name_id | u32 0 | f64 value)
//! PAYLOAD  f64 step | f64 global_step | f64 timestamp_ms | u32 name_id | u32 subkind
//!          | u32 meta_len | u32 data_len | meta (JSON, padded to 8) | data
//! END      (empty)
//! ```

use super::logfile::{Fields, RawRecord, KIND_END, KIND_NAME, KIND_PAYLOAD, KIND_SCALARS};
use crate::error::{Error, Result};

/// SCALARS flag: values that do not take a step of their own (system metrics).
pub const FLAG_NO_STEP_ROW: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stamp {
    pub step: i64,
    pub global_step: i64,
    pub timestamp: i64,
}

/// What a PAYLOAD record carries; the discriminant is its code in the record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Subkind {
    /// data: f64 values; meta: { bins, range? }
    HistogramValues = 1,
    /// data: f64 edges (n+1) then f64 counts (n); meta: { nan, posinf, neginf }
    HistogramBins = 2,
    /// data: encoded file bytes or raw pixels; meta: { type, caption, ext } or { raw: {w,h,c} }
    Media = 3,
    /// data: concatenated media cell bytes; meta: { columns, types, rows, cells }
    Table = 4,
    /// data: raw LE elements; meta: { dtype, shape, metadata }
    Tensor = 5,
    /// data: f64 values; meta: { points, bandwidth? }
    KernelDensity = 6,
    /// data: utf8 text; meta: { stream }
    Output = 7,
}

impl Subkind {
    pub const ALL: [Subkind; 7] = [
        Subkind::HistogramValues,
        Subkind::HistogramBins,
        Subkind::Media,
        Subkind::Table,
        Subkind::Tensor,
        Subkind::KernelDensity,
        Subkind::Output,
    ];

    fn from_u32(v: u32) -> Result<Self> {
        Subkind::ALL
            .into_iter()
            .find(|k| *k as u32 == v)
            .ok_or_else(|| Error::corrupt(format!("unknown log payload kind {v}")))
    }
}

/// Bytes of one `(u32 name_id | u32 0 | f64 value)` entry of a SCALARS record.
const SCALAR_BYTES: usize = 16;

/// The `(name_id, value)` pairs of a SCALARS record, read in place from the log: the writer
/// decodes millions of them per second, so no record gets a vector of its own. The length was
/// checked against the record when it was decoded.
#[derive(Debug, Clone)]
pub struct ScalarValues<'a> {
    pairs: std::slice::ChunksExact<'a, u8>,
}

impl Iterator for ScalarValues<'_> {
    type Item = (u32, f64);

    fn next(&mut self) -> Option<(u32, f64)> {
        let p = self.pairs.next()?;
        let (id, value) = (p[..4].try_into(), p[8..].try_into());
        Some((
            u32::from_le_bytes(id.unwrap_or_default()),
            f64::from_le_bytes(value.unwrap_or_default()),
        ))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.pairs.size_hint()
    }
}

impl ExactSizeIterator for ScalarValues<'_> {}

#[derive(Debug)]
pub enum Record<'a> {
    Name {
        id: u32,
        name: String,
    },
    Scalars {
        stamp: Stamp,
        flags: u32,
        values: ScalarValues<'a>,
    },
    Payload {
        stamp: Stamp,
        name_id: u32,
        subkind: Subkind,
        meta: serde_json::Value,
        data: &'a [u8],
    },
    End,
}

fn stamp(f: &mut Fields) -> Result<Stamp> {
    Ok(Stamp {
        step: f.f64()? as i64,
        global_step: f.f64()? as i64,
        timestamp: f.f64()? as i64,
    })
}

pub fn decode<'a>(raw: &RawRecord<'a>) -> Result<Record<'a>> {
    let mut f = Fields::new(raw.body);
    Ok(match raw.kind {
        KIND_NAME => {
            let id = f.u32()?;
            let n = f.u32()? as usize;
            let name = std::str::from_utf8(f.bytes(n)?)
                .map_err(|_| Error::corrupt("metric name in log is not UTF-8"))?
                .to_string();
            Record::Name { id, name }
        }
        KIND_SCALARS => {
            let stamp = stamp(&mut f)?;
            let count = f.u32()? as usize;
            let flags = f.u32()?;
            let values = ScalarValues {
                pairs: f.bytes(count * SCALAR_BYTES)?.chunks_exact(SCALAR_BYTES),
            };
            Record::Scalars {
                stamp,
                flags,
                values,
            }
        }
        KIND_PAYLOAD => {
            let stamp = stamp(&mut f)?;
            let name_id = f.u32()?;
            let subkind = Subkind::from_u32(f.u32()?)?;
            let meta_len = f.u32()? as usize;
            let data_len = f.u32()? as usize;
            let meta_bytes = f.bytes(meta_len)?;
            f.align();
            let data = f.bytes(data_len)?;
            let meta = if meta_len == 0 {
                serde_json::Value::Null
            } else {
                serde_json::from_slice(meta_bytes)
                    .map_err(|e| Error::corrupt(format!("log payload metadata: {e}")))?
            };
            Record::Payload {
                stamp,
                name_id,
                subkind,
                meta,
                data,
            }
        }
        KIND_END => Record::End,
        k => return Err(Error::corrupt(format!("unknown log record kind {k}"))),
    })
}
