//! What a column is to the vault (a handle on its `col_meta` rows) and where in it a call lands
//! ([`Bounds`]: the one place raw indexes, negative ones included, become element positions).

use super::meta::MetaRow;
use super::varsize::{check_ends, VarRows};
use crate::error::{Error, Result};
use crate::packer::{DType, Scalar};

/// Element types `read_fixed` can fill directly: plain numbers, stored little-endian.
///
/// # Safety
/// Implementors must accept every bit pattern of their size (no padding, no invalid values).
pub unsafe trait Plain: Copy + Default {}
unsafe impl Plain for u8 {}
unsafe impl Plain for i8 {}
unsafe impl Plain for u16 {}
unsafe impl Plain for i16 {}
unsafe impl Plain for u32 {}
unsafe impl Plain for i32 {}
unsafe impl Plain for u64 {}
unsafe impl Plain for i64 {}
unsafe impl Plain for f32 {}
unsafe impl Plain for f64 {}
// Columns store little-endian numbers; `read_fixed` reads them as native ones.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "ambervault reads columns as native numbers: little-endian targets only"
);

/// What a column handle points at. The stored rows' `length` here is a snapshot from when the
/// handle was made; operations always read the current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Storage {
    Fixed(MetaRow),
    /// `name_data` + `name_idx`.
    Var(VarRows),
}

/// A handle on one column: its name, parsed dtype and storage rows. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnHandle {
    pub name: String,
    /// The dtype string as stored in `col_meta`.
    pub dtype_str: String,
    pub dtype: DType,
    pub(crate) storage: Storage,
}

impl ColumnHandle {
    pub fn elem_size(&self) -> usize {
        self.dtype.elem_size()
    }
    pub fn is_var_size(&self) -> bool {
        self.dtype.is_var_size()
    }
    /// The number type of a numeric column (`InvalidArgument` for any other).
    pub fn scalar(&self) -> Result<Scalar> {
        self.dtype.scalar().ok_or_else(|| {
            Error::invalid(format!(
                "column \"{}\" ({}) is not numeric",
                self.name, self.dtype_str
            ))
        })
    }
    /// The `col_meta` row of a fixed-size column (`InvalidArgument` for a variable-size one).
    pub(crate) fn fixed(&self) -> Result<&MetaRow> {
        match &self.storage {
            Storage::Fixed(m) => Ok(m),
            Storage::Var(_) => Err(Error::invalid(format!(
                "column \"{}\" ({}) is variable-size: use the variable-size calls",
                self.name, self.dtype_str
            ))),
        }
    }
    /// The `col_meta` row whose length is the element count.
    pub(crate) fn count_row(&self) -> &MetaRow {
        match &self.storage {
            Storage::Fixed(m) => m,
            Storage::Var(v) => &v.idx,
        }
    }

    /// How many elements packed `bytes` hold: whole elements of a fixed-size column, or one per
    /// entry of `ends` (exclusive, increasing, within `bytes`) for a variable-size one. Checked
    /// before anything is written or cached, so a bad batch fails at its own call.
    pub fn count(&self, bytes: &[u8], ends: &[usize]) -> Result<u64> {
        if self.is_var_size() {
            check_ends(&self.name, bytes.len(), ends)?;
            return Ok(ends.len() as u64);
        }
        let es = self.elem_size();
        if !bytes.len().is_multiple_of(es) {
            return Err(Error::invalid(format!(
                "column \"{}\" ({}): {} bytes is not a whole number of {es}-byte elements",
                self.name,
                self.dtype_str,
                bytes.len()
            )));
        }
        Ok((bytes.len() / es) as u64)
    }
}

/// Which elements a call wants, resolved against the length when the call runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounds {
    /// `[start, end)` with `end` clamped to the length; a start past it is an error.
    Range(u64, u64),
    /// Like JS `slice` / Python `[a:b]`: negative bounds count from the end, everything is
    /// clamped, `None` is the start or the end.
    Slice(Option<i64>, Option<i64>),
    /// One element; negative counts from the end; out of range is an error.
    Index(i64),
}

impl Bounds {
    pub fn resolve(self, name: &str, len: u64) -> Result<(u64, u64)> {
        match self {
            Bounds::Range(start, end) => {
                let end = end.min(len);
                if start > end {
                    return Err(Error::invalid(format!(
                        "column \"{name}\": slice start {start} is past the length {len}"
                    )));
                }
                Ok((start, end))
            }
            Bounds::Slice(start, end) => {
                let at = |v: Option<i64>, dflt: u64| match v {
                    None => dflt,
                    Some(v) => from_end(v, len).unwrap_or(0).min(len),
                };
                let s = at(start, 0);
                Ok((s, at(end, len).max(s)))
            }
            Bounds::Index(i) => match from_end(i, len).filter(|&j| j < len) {
                Some(j) => Ok((j, j + 1)),
                None => Err(out_of_range(name, i, len)),
            },
        }
    }
}

/// A position to insert or write at: an element's index (negative counts from the end) or the
/// length itself (the end).
pub(crate) fn position(name: &str, at: i64, len: u64) -> Result<u64> {
    from_end(at, len)
        .filter(|&j| j <= len)
        .ok_or_else(|| out_of_range(name, at, len))
}

/// `i` as an index from the start: negative ones count from `len` (None when before the start).
fn from_end(i: i64, len: u64) -> Option<u64> {
    if i < 0 {
        len.checked_sub(i.unsigned_abs())
    } else {
        Some(i as u64)
    }
}

pub(crate) fn out_of_range(name: &str, i: i64, len: u64) -> Error {
    Error::invalid(format!(
        "column \"{name}\": index {i} out of range for length {len}"
    ))
}
