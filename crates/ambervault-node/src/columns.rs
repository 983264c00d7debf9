//! ColumnVault / Column bindings: raw little-endian bytes and packed batches in, typed arrays and
//! Buffers out (handover.rs: large ones over the Rust vectors without a copy). Conversion only.

use crate::errors::IntoNapi;
use crate::handover::{self, CopiedBuffer, CopiedU32s, Text};
use crate::packer::{self, Batch, JsOut, TypedOut};
use ambervault_core::col::{Bounds, CacheOptions, ChunkOptions, ColumnHandle, ColumnVault};
use ambervault_core::conn::{self, OpenOptions};
use ambervault_core::packer::{DataPacker, Joined, Scalar, Value};
use ambervault_core::Error;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use std::sync::Arc;

#[napi(object)]
pub struct ColumnInfo {
    pub name: String,
    pub dtype: String,
    pub length: f64,
}

#[napi(object)]
pub struct NativeVaultOptions {
    pub min_chunk_bytes: Option<f64>,
    pub max_chunk_bytes: Option<f64>,
    pub page_size: Option<f64>,
    /// How long SQLite waits on a locked file per call (default 5000 ms).
    pub busy_timeout_ms: Option<u32>,
}

fn index(v: f64, what: &str) -> Result<u64> {
    if !(v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= 9.007_199_254_740_992e15) {
        return Err(Error::invalid(format!("{what} {v} is not a valid index"))).napi();
    }
    Ok(v as u64)
}

/// A page size asked for: a whole number the core accepts as a SQLite page size.
pub(crate) fn page_size(v: Option<f64>) -> Result<Option<u32>> {
    v.map(|v| {
        if v.fract() == 0.0 && (0.0..=65536.0).contains(&v) {
            conn::check_page_size(v as u64).napi()
        } else {
            Err(conn::bad_page_size(v)).napi()
        }
    })
    .transpose()
}

/// A JS index or slice bound as the core takes it: an integer, negative ones counting from the
/// end (the core resolves them).
fn signed(v: f64, what: &str) -> ambervault_core::Result<i64> {
    if !(v.is_finite() && v.fract() == 0.0 && v.abs() <= 9.007_199_254_740_992e15) {
        return Err(Error::invalid(format!("{what} {v} is not an integer")));
    }
    Ok(v as i64)
}

/// Byte strings in one Buffer, each ending at its entry of `ends` (exclusive).
#[napi(object, object_from_js = false)]
pub struct JoinedBytes {
    #[napi(ts_type = "Buffer")]
    pub bytes: Either<CopiedBuffer, Buffer>,
    #[napi(ts_type = "Uint32Array")]
    pub ends: Either<CopiedU32s, Uint32Array>,
}

/// The most bytes a joined slice takes: less than V8's longest string (2^29 - 24 code units;
/// UTF-8 text never has more code units than bytes, and a separator is added per element),
/// which also keeps every end within a u32.
const MAX_JOINED: usize = 1 << 28;

/// Strings as one: each followed by a separator, an ASCII character none of them holds, so JS
/// cuts them with one `split` on the last character (no ends to hand over). None when every
/// ASCII character occurs in them.
fn separated(text: &str, ends: &[usize]) -> Option<String> {
    let sep = if !text.as_bytes().contains(&0) {
        0
    } else {
        let mut seen = [false; 128];
        for &b in text.as_bytes() {
            seen[(b & 0x7f) as usize] |= b < 0x80;
        }
        (0u8..0x80).find(|&c| !seen[c as usize])?
    };
    let mut out = String::with_capacity(text.len() + ends.len());
    let mut at = 0;
    for &e in ends {
        out.push_str(&text[at..e]);
        out.push(sep as char);
        at = e;
    }
    Some(out)
}

#[napi(object)]
pub struct NativeCacheOptions {
    /// Flush a column once this many bytes are cached (default 1 MiB).
    pub flush_bytes: Option<f64>,
    /// Flush after this many idle milliseconds (default 500; 0 turns interval flushing off).
    pub flush_interval_ms: Option<f64>,
}

#[napi(js_name = "NativeColumnVault")]
pub struct NativeColumnVault {
    inner: Arc<ColumnVault>,
}

#[napi]
impl NativeColumnVault {
    #[napi(constructor)]
    pub fn new(path: String, options: Option<NativeVaultOptions>) -> Result<Self> {
        let mut chunk = ChunkOptions::default();
        let mut open = OpenOptions::default();
        if let Some(o) = options {
            open.page_size = page_size(o.page_size)?;
            if let Some(v) = o.min_chunk_bytes {
                chunk.min_chunk_bytes = index(v, "minChunkBytes")?;
            }
            if let Some(v) = o.max_chunk_bytes {
                chunk.max_chunk_bytes = Some(index(v, "maxChunkBytes")?);
            }
            open.busy_timeout = o
                .busy_timeout_ms
                .map(|ms| std::time::Duration::from_millis(ms.into()));
        }
        let inner = ColumnVault::open(path.as_ref(), &open, chunk).napi()?;
        Ok(NativeColumnVault {
            inner: Arc::new(inner),
        })
    }

    fn wrap(&self, h: ColumnHandle) -> NativeColumn {
        NativeColumn {
            vault: self.inner.clone(),
            packer: DataPacker::from_dtype(h.dtype.clone()),
            h,
        }
    }

    #[napi]
    pub fn create_column(&self, name: String, dtype: String) -> Result<NativeColumn> {
        Ok(self.wrap(self.inner.create(&name, &dtype).napi()?))
    }
    #[napi]
    pub fn ensure(&self, name: String, dtype: String) -> Result<NativeColumn> {
        Ok(self.wrap(self.inner.ensure(&name, &dtype).napi()?))
    }
    #[napi]
    pub fn column(&self, name: String) -> Result<NativeColumn> {
        Ok(self.wrap(self.inner.column(&name).napi()?))
    }
    #[napi]
    pub fn has(&self, name: String) -> Result<bool> {
        self.inner.has(&name).napi()
    }
    #[napi]
    pub fn list_columns(&self) -> Result<Vec<ColumnInfo>> {
        Ok(self
            .inner
            .list()
            .napi()?
            .into_iter()
            .map(|c| ColumnInfo {
                name: c.name,
                dtype: c.dtype,
                length: c.length as f64,
            })
            .collect())
    }
    #[napi]
    pub fn delete_column(&self, name: String) -> Result<bool> {
        self.inner.delete_column(&name).napi()
    }
    #[napi]
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.checkpoint().napi()
    }
    #[napi]
    pub fn enable_cache(&self, options: Option<NativeCacheOptions>) -> Result<()> {
        let mut o = CacheOptions::default();
        if let Some(n) = options {
            if let Some(b) = n.flush_bytes {
                o.flush_bytes = index(b, "flushBytes")?.max(1) as usize;
            }
            if let Some(ms) = n.flush_interval_ms {
                let ms = index(ms, "flushIntervalMs")?;
                o.flush_interval = (ms > 0).then(|| std::time::Duration::from_millis(ms));
            }
        }
        self.inner.enable_cache(o).napi()
    }
    #[napi]
    pub fn disable_cache(&self) -> Result<()> {
        self.inner.disable_cache().napi()
    }
    #[napi]
    pub fn flush_cache(&self) -> Result<()> {
        self.inner.flush_cache().napi()
    }
    /// End the read snapshot reads keep between calls (the TS layer calls it once JS is idle).
    #[napi]
    pub fn release_read(&self) -> Result<()> {
        self.inner.release_read().napi()
    }
    #[napi]
    pub fn close(&self) -> Result<()> {
        self.inner.close().napi()
    }
}

/// A column as the hottest calls take it: plain functions over an External, because a class
/// method also unwraps its receiver (a private-property lookup on `this`), which costs more than
/// the rest of such a call; an External argument costs a registry lookup (bench/calls' floor
/// rows in docs/performance.md).
pub struct ColumnRef {
    vault: Arc<ColumnVault>,
    h: ColumnHandle,
}

/// The length, counting cached appends (`col.length`).
#[napi]
pub fn column_length(col: &External<ColumnRef>) -> Result<f64> {
    Ok(col.vault.len(&col.h).napi()? as f64)
}

/// Element `i` of a numeric column (not `bool`) as a number (`col.get(i)`); an i64 / u64
/// beyond 2^53 is an error (read it with `bigint`).
#[napi]
pub fn column_get_number(col: &External<ColumnRef>, i: f64) -> Result<f64> {
    let i = signed(i, "index")
        .map_err(|e| e.context(format!("column \"{}\"", col.h.name)))
        .napi()?;
    col.vault.get_number(&col.h, i).napi()
}

#[napi(js_name = "NativeColumn")]
pub struct NativeColumn {
    vault: Arc<ColumnVault>,
    h: ColumnHandle,
    packer: DataPacker,
}

#[napi]
impl NativeColumn {
    #[napi(getter)]
    pub fn name(&self) -> String {
        self.h.name.clone()
    }
    #[napi(getter)]
    pub fn dtype(&self) -> String {
        self.h.dtype_str.clone()
    }
    #[napi(getter)]
    pub fn elem_size(&self) -> u32 {
        self.h.elem_size() as u32
    }
    #[napi(getter)]
    pub fn is_var_size(&self) -> bool {
        self.h.is_var_size()
    }
    /// The JS representation of values (see NativePacker.kind).
    #[napi(getter)]
    pub fn kind(&self) -> String {
        packer::value_kind(&self.h.dtype).to_string()
    }
    /// The scalar type name for numeric dtypes (typed-array fast paths), else null.
    #[napi(getter)]
    pub fn scalar(&self) -> Option<String> {
        self.h.dtype.scalar().map(|s| s.name().to_string())
    }

    /// This column for `columnLength` / `columnGetNumber`.
    #[napi(ts_return_type = "ExternalObject<ColumnRef>")]
    pub fn hot(&self) -> External<ColumnRef> {
        External::new(ColumnRef {
            vault: self.vault.clone(),
            h: self.h.clone(),
        })
    }

    /// Errors about this column name it.
    fn named<T>(&self, r: ambervault_core::Result<T>) -> Result<T> {
        r.map_err(|e| e.context(format!("column \"{}\"", self.h.name)))
            .napi()
    }
    fn at(&self, i: f64) -> Result<i64> {
        self.named(signed(i, "index"))
    }
    fn slice_bounds(&self, start: Option<f64>, end: Option<f64>) -> Result<Bounds> {
        let bound = |v: Option<f64>| v.map(|v| self.named(signed(v, "slice bound"))).transpose();
        Ok(Bounds::Slice(bound(start)?, bound(end)?))
    }

    // ---- fixed-size: raw little-endian elements

    /// Append whole little-endian elements (through the cache when it is on).
    #[napi]
    pub fn extend_raw(&self, bytes: &[u8]) -> Result<()> {
        self.vault.append(&self.h, bytes, &[]).napi()
    }
    /// Numbers of a numeric column (JS `slice` bounds: negative from the end, clamped) as the
    /// matching typed array. For i64/u64 a Float64Array while every value is within 2^53 (else an
    /// error), or BigInt64Array / BigUint64Array when `bigint` is set.
    #[napi(
        ts_return_type = "Float64Array | Float32Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array | Uint32Array | BigInt64Array | BigUint64Array"
    )]
    pub fn slice_numbers(
        &self,
        start: Option<f64>,
        end: Option<f64>,
        bigint: bool,
    ) -> Result<TypedOut> {
        let s = self.h.scalar().napi()?;
        let bounds = self.slice_bounds(start, end)?;
        if !bigint && matches!(s, Scalar::I64 | Scalar::U64) {
            let exact = self.vault.read_exact_f64(&self.h, bounds).napi()?;
            return Ok(TypedOut::A(Float64Array::new(exact)));
        }
        macro_rules! typed {
            ($t:ty, $variant:ident, $arr:ident) => {
                TypedOut::$variant($arr::new(
                    self.vault.read_fixed::<$t>(&self.h, bounds, 1).napi()?,
                ))
            };
        }
        Ok(packer::by_scalar!(s, typed))
    }

    /// The stored bytes of element `i` (negative counts from the end; out of range is an error).
    fn element(&self, i: f64) -> Result<Vec<u8>> {
        self.vault.get(&self.h, self.at(i)?).napi()
    }

    /// Element `i` as a JS value, in one call (negative counts from the end).
    #[napi(ts_return_type = "any")]
    pub fn get(&self, i: f64, bigint: bool) -> Result<JsOut> {
        let v = self.packer.unpack(&self.element(i)?).napi()?;
        packer::value_to_js(v, bigint)
    }

    /// Element `i` of a `bytes` column (padding dropped) copied into `out` if it fits; returns
    /// its length either way. The TS layer allocates `out` (from Node's Buffer pool, far
    /// cheaper than a Buffer made here) and calls again with a larger one when it did not fit.
    #[napi]
    pub fn get_bytes_into(&self, i: f64, mut out: BufferSlice) -> Result<f64> {
        let element = self.element(i)?;
        let b = self
            .packer
            .unpack_bytes(&element)
            .map_err(|e| e.context(format!("column \"{}\"", self.h.name)))
            .napi()?;
        if let Some(dst) = out.get_mut(..b.len()) {
            dst.copy_from_slice(b);
        }
        Ok(b.len() as f64)
    }

    /// Numbers given as a Float64Array, range-checked into the column's type, then appended.
    #[napi]
    pub fn extend_numbers(&self, values: Float64Array) -> Result<()> {
        let s = self.h.scalar().napi()?;
        let mut bytes = Vec::new();
        ambervault_core::packer::scalar::write_f64s(s, &values, &mut bytes)
            .map_err(|e| e.context(format!("column \"{}\" ({})", self.h.name, self.h.dtype_str)))
            .napi()?;
        self.extend_raw(&bytes)
    }

    // ---- any dtype: values packed in Rust and appended in the same call (no buffers back)

    fn append_values(&self, values: Vec<Value>) -> Result<()> {
        let (bytes, ends) = self
            .packer
            .pack_many(&values)
            .map_err(|e| e.context(format!("column \"{}\"", self.h.name)))
            .napi()?;
        self.vault.append(&self.h, &bytes, &ends).napi()
    }
    /// Append packed elements (`ends` cut variable-size ones), naming the column in errors.
    fn append_packed(&self, packed: ambervault_core::Result<(Vec<u8>, Vec<usize>)>) -> Result<()> {
        let (bytes, ends) = packed
            .map_err(|e| e.context(format!("column \"{}\"", self.h.name)))
            .napi()?;
        self.vault.append(&self.h, &bytes, &ends).napi()
    }
    /// Strings handed over joined, as JS holds them (UTF-16), with each one's length in UTF-16
    /// units: one string conversion for the whole batch instead of one napi value per string.
    /// Lone surrogates become U+FFFD, as in every other string conversion.
    #[napi]
    pub fn extend_joined_strings(&self, joined: Utf16String, lens: &[u32]) -> Result<()> {
        self.append_packed(self.packer.pack_utf16_joined(&joined, lens))
    }
    /// Byte strings handed over in one buffer cut at the exclusive `ends`.
    #[napi]
    pub fn extend_joined_buffers(&self, bytes: &[u8], ends: &[u32]) -> Result<()> {
        let ends: Vec<usize> = ends.iter().map(|e| *e as usize).collect();
        self.append_packed(self.packer.pack_joined_bytes(bytes, &ends))
    }
    /// Documents packed in JS as one MessagePack array (checked by the core).
    #[napi]
    pub fn extend_packed_array(&self, array: &[u8]) -> Result<()> {
        self.append_packed(self.packer.accept_packed_array(array))
    }
    /// msgpack documents packed in JS back to back, cut at the exclusive `ends` (checked).
    #[napi]
    pub fn extend_packed_docs(&self, bytes: &[u8], ends: &[u32]) -> Result<()> {
        let ends: Vec<usize> = ends.iter().map(|e| *e as usize).collect();
        self.append_packed(self.packer.accept_packed(bytes, &ends))
    }
    #[napi]
    pub fn extend_bools(&self, values: Vec<bool>) -> Result<()> {
        self.append_values(packer::batch_values(Batch::Bools(values))?)
    }
    #[napi]
    pub fn extend_bigints(&self, values: Vec<BigInt>) -> Result<()> {
        self.append_values(packer::batch_values(Batch::BigInts(values))?)
    }
    #[napi]
    pub fn extend_vectors(&self, elems: Vec<String>, raws: Vec<Buffer>) -> Result<()> {
        self.append_values(packer::vector_values(elems, raws)?)
    }

    // ---- any dtype: packed batches (from NativePacker.pack*) and packed reads

    /// Insert packed elements (`ends` cut variable-size ones) before index `at` (negative counts
    /// from the end; the length appends); returns the new length.
    #[napi]
    pub fn insert_packed(&self, at: f64, bytes: &[u8], ends: &[u32]) -> Result<f64> {
        let at = self.at(at)?;
        let ends: Vec<usize> = ends.iter().map(|e| *e as usize).collect();
        Ok(self.vault.insert(&self.h, at, bytes, &ends).napi()? as f64)
    }

    /// Overwrite the elements from index `at` (negative counts from the end) with packed ones,
    /// in one transaction; they must all exist.
    #[napi]
    pub fn set_packed(&self, at: f64, bytes: &[u8], ends: &[u32]) -> Result<()> {
        let at = self.at(at)?;
        let ends: Vec<usize> = ends.iter().map(|e| *e as usize).collect();
        self.vault.set(&self.h, at, bytes, &ends).napi()
    }

    /// The stored bytes of the elements (JS `slice` bounds) and their `n + 1` offsets.
    fn read_slice(&self, start: Option<f64>, end: Option<f64>) -> Result<(Vec<u8>, Vec<usize>)> {
        self.vault
            .slice(&self.h, self.slice_bounds(start, end)?)
            .napi()
    }

    /// Elements (JS `slice` bounds) of a `bytes` column, padding dropped, in one Buffer cut at
    /// `ends`; of a `str` column in UTF-8, one string of them each followed by a separator
    /// (see `separated`). The TS layer cuts them: one JS value made here per slice instead of
    /// one per element. A slice too large to join, or text holding every ASCII character,
    /// comes back as an array of its values.
    #[napi(ts_return_type = "JoinedBytes | string | Array<any>")]
    pub fn slice_joined(
        &self,
        start: Option<f64>,
        end: Option<f64>,
    ) -> Result<Either3<JoinedBytes, Text, Vec<JsOut>>> {
        let (bytes, offsets) = self.read_slice(start, end)?;
        if bytes.len() + offsets.len() > MAX_JOINED {
            return Ok(Either3::C(self.unpacked(&bytes, &offsets, false)?));
        }
        let joined = self
            .packer
            .unpack_joined(&bytes, &offsets)
            .map_err(|e| e.context(format!("column \"{}\"", self.h.name)))
            .napi()?;
        Ok(match joined {
            Joined::Bytes { bytes, ends } => Either3::A(JoinedBytes {
                bytes: handover::buffer(bytes),
                ends: handover::u32s(ends.into_iter().map(|x| x as u32).collect()),
            }),
            Joined::Text { text, ends } => match separated(&text, &ends) {
                Some(s) => Either3::B(Text(s)),
                None => Either3::C(self.unpacked(&bytes, &offsets, false)?),
            },
        })
    }

    fn unpacked(&self, bytes: &[u8], offsets: &[usize], bigint: bool) -> Result<Vec<JsOut>> {
        self.packer
            .unpack_offsets(bytes, offsets)
            .napi()?
            .into_iter()
            .map(|v| packer::value_to_js(v, bigint))
            .collect()
    }

    /// Elements (JS `slice` bounds) unpacked to JS values in one call.
    #[napi(ts_return_type = "Array<any>")]
    pub fn slice_values(
        &self,
        start: Option<f64>,
        end: Option<f64>,
        bigint: bool,
    ) -> Result<Vec<JsOut>> {
        let (bytes, offsets) = self.read_slice(start, end)?;
        self.unpacked(&bytes, &offsets, bigint)
    }

    /// Remove element `i` (negative counts from the end); returns the new length.
    #[napi]
    pub fn delete_at(&self, i: f64) -> Result<f64> {
        let i = self.at(i)?;
        Ok(self.vault.delete(&self.h, Bounds::Index(i)).napi()? as f64)
    }
    #[napi]
    pub fn clear(&self) -> Result<()> {
        self.vault.clear(&self.h).napi()
    }
    #[napi]
    pub fn compact(&self) -> Result<()> {
        self.vault.compact(&self.h).napi()
    }
}
