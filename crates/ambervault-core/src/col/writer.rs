//! Column writes on a connection the caller holds: [`ColumnWriter`] (inside the caller's
//! transaction, or one of its own), and finding or creating a column's `col_meta` rows.

use super::handle::{ColumnHandle, Storage};
use super::options::ChunkOptions;
use super::{fixed, meta, tx, varsize};
use crate::error::{Error, Result};
use crate::packer::DType;
use rusqlite::Connection;

/// Column writes inside a transaction the caller controls (from [`ColumnVault::write`], or on
/// any connection already in a transaction via [`ColumnWriter::new`]).
pub struct ColumnWriter<'c> {
    pub(super) conn: &'c Connection,
}

impl<'c> ColumnWriter<'c> {
    /// Write columns through `conn` (which must hold the column tables: see
    /// [`meta::ensure_schema`]). Each call is a savepoint inside the caller's transaction, or
    /// its own transaction if there is none.
    pub fn new(conn: &'c Connection) -> Self {
        ColumnWriter { conn }
    }

    /// Append whole little-endian elements; returns the new length.
    pub fn extend(&self, col: &ColumnHandle, bytes: &[u8]) -> Result<u64> {
        tx::write_tx(self.conn, |c| fixed::append(c, col.fixed()?, bytes))
    }

    /// Append packed elements to a column of either kind (`ends` cut variable-size ones and are
    /// ignored for fixed-size ones); returns the new length.
    pub fn append(&self, col: &ColumnHandle, bytes: &[u8], ends: &[usize]) -> Result<u64> {
        tx::write_tx(self.conn, |c| match &col.storage {
            Storage::Fixed(m) => fixed::append(c, m, bytes),
            Storage::Var(v) => varsize::append_many(c, v, bytes, ends),
        })
    }

    /// The column called `name` (None when absent), read inside the caller's transaction.
    pub fn column(&self, name: &str) -> Result<Option<ColumnHandle>> {
        find_column(self.conn, "this file", name)
    }

    /// Create a column inside the caller's transaction (chunk sizes from `options`).
    pub fn create(&self, name: &str, dtype: &str, options: ChunkOptions) -> Result<ColumnHandle> {
        create_column(self.conn, "this file", options, name, dtype)
    }

    pub fn len(&self, col: &ColumnHandle) -> Result<u64> {
        length_of(self.conn, col)
    }
}

pub(super) fn length_of(c: &Connection, col: &ColumnHandle) -> Result<u64> {
    match &col.storage {
        Storage::Fixed(m) => meta::length(c, m.col_id, &col.name),
        Storage::Var(v) => varsize::length(c, v),
    }
}

/// The column called `name` as its `col_meta` rows describe it now (None when absent); `label`
/// names the file in errors.
pub(crate) fn find_column(c: &Connection, label: &str, name: &str) -> Result<Option<ColumnHandle>> {
    let corrupt = |m: String| Error::corrupt(format!("column \"{name}\" in {}: {m}", label));
    if let Some(row) = meta::by_name(c, name)? {
        let dtype = DType::parse(&row.dtype).map_err(|e| corrupt(e.message))?;
        if dtype.is_var_size() || dtype.elem_size() as u64 != row.spec.elem_size {
            return Err(corrupt(format!(
                "dtype {} does not match elem_size {}",
                row.dtype, row.spec.elem_size
            )));
        }
        return Ok(Some(ColumnHandle {
            name: name.to_string(),
            dtype_str: row.dtype.clone(),
            dtype,
            storage: Storage::Fixed(row),
        }));
    }
    let data = meta::by_name(c, &format!("{name}_data"))?;
    let idx = meta::by_name(c, &format!("{name}_idx"))?;
    match (data, idx) {
        (Some(data), Some(idx)) => {
            let dtype = DType::parse(&data.dtype).map_err(|e| corrupt(e.message))?;
            if idx.spec.elem_size != meta::IDX_ELEM_SIZE {
                return Err(corrupt(format!(
                    "index entries of {} bytes, not {}",
                    idx.spec.elem_size,
                    meta::IDX_ELEM_SIZE
                )));
            }
            Ok(Some(ColumnHandle {
                name: name.to_string(),
                dtype_str: data.dtype.clone(),
                dtype,
                storage: Storage::Var(varsize::VarRows {
                    name: name.to_string(),
                    data,
                    idx,
                }),
            }))
        }
        _ => Ok(None),
    }
}

/// Create column `name` on `c` (one transaction, or a savepoint of the caller's).
pub(super) fn create_column(
    c: &Connection,
    label: &str,
    options: ChunkOptions,
    name: &str,
    dtype: &str,
) -> Result<ColumnHandle> {
    let parsed = DType::parse(dtype).map_err(|e| e.context(format!("column \"{name}\"")))?;
    if name.is_empty() {
        return Err(Error::invalid("a column name cannot be empty"));
    }
    let spec = if parsed.is_var_size() {
        options.data_spec(name)?
    } else {
        options.spec_for(name, parsed.elem_size() as u64)?
    };
    let idx_spec = options.spec_for(name, meta::IDX_ELEM_SIZE)?;
    tx::write_tx(c, |c| {
        if find_column(c, label, name)?.is_some() || meta::by_name(c, name)?.is_some() {
            return Err(Error::invalid(format!(
                "column \"{name}\" already exists in {label}"
            )));
        }
        let storage = if parsed.is_var_size() {
            let (dn, xn) = (format!("{name}_data"), format!("{name}_idx"));
            if meta::by_name(c, &dn)?.is_some() || meta::by_name(c, &xn)?.is_some() {
                return Err(Error::invalid(format!(
                    "column \"{name}\": {dn} or {xn} already exists in {label}"
                )));
            }
            Storage::Var(varsize::VarRows {
                name: name.to_string(),
                data: meta::insert(c, &dn, dtype, spec)?,
                idx: meta::insert(c, &xn, meta::IDX_DTYPE, idx_spec)?,
            })
        } else {
            Storage::Fixed(meta::insert(c, name, dtype, spec)?)
        };
        Ok(ColumnHandle {
            name: name.to_string(),
            dtype_str: dtype.to_string(),
            dtype: parsed.clone(),
            storage,
        })
    })
}
