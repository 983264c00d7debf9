//! Bindings for `ambervault_core::kv::KvStore`: argument conversion, handles and error mapping
//! only. Batches and scan pages cross the boundary as one packed Buffer each (layouts below),
//! so a batch costs one napi call, not one per element; single-key calls take their key from
//! the vault's io exchange Buffer (`NativeKv::io`): only numbers (and a put's value) cross.

use crate::errors::{to_napi, IntoNapi};
use ambervault_core::conn::Durability;
use ambervault_core::kv::{
    CacheOptions, Encoding, KeyRange, KvOptions, KvStore, KvVault, ValueReader,
};
use ambervault_core::Error as CoreError;
use napi::bindgen_prelude::*;
use napi::{check_status, sys, Env, ScopedTask, Task};
use napi_derive::napi;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A key is a JS string (its UTF-8 bytes) or a Buffer / Uint8Array.
fn key_bytes<'a>(k: &'a Either<String, &[u8]>) -> &'a [u8] {
    match k {
        Either::A(s) => s.as_bytes(),
        Either::B(b) => b,
    }
}

#[napi(object)]
pub struct KvOpenOptions {
    pub table: Option<String>,
    pub readonly: Option<bool>,
    /// "normal" (default) or "full".
    pub durability: Option<String>,
    pub busy_timeout_ms: Option<u32>,
    pub page_size: Option<f64>,
}

#[napi(object)]
pub struct KvScanRange {
    pub prefix: Option<Buffer>,
    pub gt: Option<Buffer>,
    pub gte: Option<Buffer>,
    pub lt: Option<Buffer>,
    pub lte: Option<Buffer>,
    pub reverse: Option<bool>,
}

fn encoding(tag: u32) -> Result<Encoding> {
    u8::try_from(tag)
        .ok()
        .and_then(Encoding::from_byte)
        .ok_or_else(|| to_napi(CoreError::invalid(format!("unknown value encoding {tag}"))))
}

/// A JS Buffer of `len` bytes filled in place (one copy out of SQLite's memory, no finalizer).
fn new_buffer<'e>(
    env: &'e Env,
    len: usize,
    fill: impl FnOnce(&mut [u8]),
) -> Result<BufferSlice<'e>> {
    let mut data = std::ptr::null_mut();
    let mut value = std::ptr::null_mut();
    check_status!(unsafe { sys::napi_create_buffer(env.raw(), len, &mut data, &mut value) })?;
    if len > 0 {
        // SAFETY: napi_create_buffer returned `len` writable bytes at `data`.
        fill(unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) });
    }
    // SAFETY: `value` is the Buffer just created in this env.
    unsafe { BufferSlice::from_napi_value(env.raw(), value) }
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

/// Split a packed list: `data` holds the items back to back, `ends[i]` is where item i ends.
fn split<'a, E: Copy + TryInto<usize>>(data: &'a [u8], ends: &'a [E]) -> Result<Vec<&'a [u8]>> {
    let mut out = Vec::with_capacity(ends.len());
    let mut start = 0usize;
    for &e in ends {
        let end: usize = e
            .try_into()
            .ok()
            .filter(|&e| e >= start && e <= data.len())
            .ok_or_else(|| to_napi(CoreError::invalid("packed batch offsets out of range")))?;
        out.push(&data[start..end]);
        start = end;
    }
    Ok(out)
}

/// `get` result for a missing key: no encoding has its code, so no found value reads as it.
const ABSENT: u32 = crate::wire::KV_ABSENT;
/// Marks a missing entry in packed results (no encoding uses it).
const MISSING: u8 = crate::wire::KV_MISSING as u8;
/// Largest payload `get` returns through io: its length must fit in `u32 >> 3`. (Bigger values
/// as their own napi Buffer were slower in bench/kv's 16 KiB gets than io + an allocUnsafe
/// copy: the time goes to fresh memory either way, and napi's Buffer costs more to make.)
const MAX_INLINE: usize = (u32::MAX >> 3) as usize;

#[napi]
pub struct NativeKv {
    inner: Arc<KvVault>,
}

/// A vault with its io exchange: a Buffer the TS layer allocates once per vault and binds with
/// `NativeKv.bindIo`. The single-key calls below find the key's bytes at its start and receive
/// only the key length, so a call passes numbers across napi instead of converting a string or
/// Buffer each time; small values come back through it too. They are plain functions over this
/// External rather than methods: a method also unwraps its receiver, a lookup that costs about
/// as much as the rest of the call (see `ColumnRef` in columns.rs). Holding the `Buffer` keeps
/// a reference, so its memory stays valid; it is only touched by synchronous calls on the JS
/// thread.
pub struct KvIo {
    inner: Arc<KvVault>,
    io: Buffer,
}

impl KvIo {
    /// The key (`key_len` bytes at the start of io) and the room after it.
    fn split(&mut self, key_len: u32) -> Result<(&[u8], &mut [u8])> {
        let n = key_len as usize;
        if n > self.io.len() {
            return Err(to_napi(CoreError::invalid(format!(
                "key length {n} is past the io buffer ({} bytes)",
                self.io.len()
            ))));
        }
        let (key, rest) = self.io.split_at_mut(n);
        Ok((key, rest))
    }
}

/// Store `value` under the key at the start of io.
#[napi]
pub fn kv_put(
    kv: &mut External<KvIo>,
    key_len: u32,
    value: &[u8],
    encoding_tag: u32,
) -> Result<()> {
    let enc = encoding(encoding_tag)?;
    let inner = kv.inner.clone();
    let (key, _) = kv.split(key_len)?;
    inner.with(|s| s.put_encoded(key, enc, value)).napi()
}

/// Store a string (encoding 06) whose UTF-8 bytes the caller wrote into io right after the key:
/// no JS string crosses napi.
#[napi]
pub fn kv_put_string(kv: &mut External<KvIo>, key_len: u32, value_len: u32) -> Result<()> {
    let inner = kv.inner.clone();
    let (key, rest) = kv.split(key_len)?;
    let value = rest.get(..value_len as usize).ok_or_else(|| {
        to_napi(CoreError::invalid(
            "putString: value runs past the io buffer",
        ))
    })?;
    inner
        .with(|s| s.put_encoded(key, Encoding::Utf8, value))
        .napi()
}

/// Look up the key at the start of io. A payload that fits in io after the key is copied there
/// and the result is `len << 3 | encoding` (`ABSENT` when the key is missing), so the common
/// case returns a number; a bigger one comes back as its own Buffer, with its encoding byte
/// written to io[0].
#[napi(ts_return_type = "number | Buffer")]
pub fn kv_get<'e>(
    env: &'e Env,
    kv: &mut External<KvIo>,
    key_len: u32,
) -> Result<Either<u32, BufferSlice<'e>>> {
    let inner = kv.inner.clone();
    let (key, rest) = kv.split(key_len)?;
    let mut out = Ok(Either::A(ABSENT));
    let mut big_encoding = None;
    inner
        .with(|s| {
            s.get_with(key, |enc, payload| {
                let n = payload.len();
                if n <= rest.len() && n <= MAX_INLINE {
                    rest[..n].copy_from_slice(payload);
                    out = Ok(Either::A(((n as u32) << 3) | enc as u32));
                } else {
                    big_encoding = Some(enc as u8);
                    out = new_buffer(env, n, |b| b.copy_from_slice(payload)).map(Either::B);
                }
            })
        })
        .napi()?;
    if let Some(enc) = big_encoding {
        kv.io[0] = enc;
    }
    out
}

/// Whether the key at the start of io exists.
#[napi]
pub fn kv_has(kv: &mut External<KvIo>, key_len: u32) -> Result<bool> {
    let inner = kv.inner.clone();
    let (key, _) = kv.split(key_len)?;
    inner.with(|s| s.has(key)).napi()
}

/// Delete the key at the start of io; true when it existed.
#[napi]
pub fn kv_delete(kv: &mut External<KvIo>, key_len: u32) -> Result<bool> {
    let inner = kv.inner.clone();
    let (key, _) = kv.split(key_len)?;
    inner.with(|s| s.delete(key)).napi()
}

impl NativeKv {
    fn with<R>(&self, f: impl FnOnce(&mut KvStore) -> ambervault_core::Result<R>) -> Result<R> {
        self.inner.with(f).napi()
    }
}

#[napi]
impl NativeKv {
    #[napi(constructor)]
    pub fn new(path: String, opts: KvOpenOptions) -> Result<Self> {
        let durability = match opts.durability.as_deref() {
            None | Some("normal") => Durability::Normal,
            Some("full") => Durability::Full,
            Some(other) => {
                return Err(to_napi(CoreError::invalid(format!(
                    "{path}: durability must be 'normal' or 'full', not {other:?}"
                ))))
            }
        };
        let inner = KvVault::open(
            &path,
            KvOptions {
                table: opts.table.unwrap_or_else(|| "kv".into()),
                readonly: opts.readonly.unwrap_or(false),
                durability,
                busy_timeout: opts
                    .busy_timeout_ms
                    .map(|ms| Duration::from_millis(ms as u64)),
                cache: None,
                page_size: crate::columns::page_size(opts.page_size)?,
                ..KvOptions::default()
            },
        )
        .napi()?;
        Ok(NativeKv { inner })
    }

    /// This vault with `io` as its exchange Buffer, for the single-key calls (`kvGet`, ...);
    /// binding again makes a new one (the TS layer grows io for long keys).
    #[napi(ts_return_type = "ExternalObject<KvIo>")]
    pub fn bind_io(&self, io: Buffer) -> External<KvIo> {
        External::new(KvIo {
            inner: self.inner.clone(),
            io,
        })
    }

    /// End the read snapshot that point reads keep open (call when idle).
    #[napi]
    pub fn release_read(&self) -> Result<()> {
        self.with(|s| s.release_read())
    }

    #[napi]
    pub fn size(&self) -> Result<f64> {
        self.with(|s| s.len()).map(|n| n as f64)
    }

    #[napi]
    pub fn clear(&self) -> Result<()> {
        self.with(|s| s.clear())
    }

    /// One transaction. `data` holds key 0, value 0, key 1, value 1, ... back to back and
    /// `ends` the end offset of each of them (so `2 * n` of them for n entries);
    /// `encodings[i]` is the encoding of value i.
    #[napi]
    pub fn put_many(&self, data: &[u8], ends: &[f64], encodings: &[u8]) -> Result<u32> {
        let ends: Vec<u64> = ends.iter().map(|&e| e as u64).collect();
        let items = split(data, &ends)?;
        if items.len() != 2 * encodings.len() {
            return Err(to_napi(CoreError::invalid(
                "putMany: keys and values differ in count",
            )));
        }
        let encs = encodings
            .iter()
            .map(|&t| encoding(t as u32))
            .collect::<Result<Vec<_>>>()?;
        let entries = items
            .chunks_exact(2)
            .zip(encs)
            .map(|(kv, e)| (kv[0], e, kv[1]));
        self.with(|s| s.put_many(entries)).map(|n| n as u32)
    }

    /// `keys` holds the keys back to back and `key_ends` the end offset of each (the layout
    /// of `put_many`'s `data`). Per key: `[encoding byte or 0xFF if absent][u32 LE length][payload]`.
    #[napi]
    pub fn get_many<'e>(
        &self,
        env: &'e Env,
        keys: &[u8],
        key_ends: &[f64],
    ) -> Result<BufferSlice<'e>> {
        let ends: Vec<u64> = key_ends.iter().map(|&e| e as u64).collect();
        let ks = split(keys, &ends)?;
        let mut out = Vec::new();
        self.with(|s| {
            s.get_many_with(ks.iter().copied(), |found| match found {
                Some((enc, payload)) => {
                    out.push(enc as u8);
                    put_u32(&mut out, payload.len());
                    out.extend_from_slice(payload);
                }
                None => {
                    out.push(MISSING);
                    put_u32(&mut out, 0);
                }
            })
        })?;
        new_buffer(env, out.len(), |b| b.copy_from_slice(&out))
    }

    /// One page of a scan after the keyset cursor `after`. Per entry: `[u32 LE key length][key]`
    /// and, with values, `[encoding byte][u32 LE length][payload]`.
    #[napi]
    pub fn scan<'e>(
        &self,
        env: &'e Env,
        range: KvScanRange,
        after: Option<Buffer>,
        limit: u32,
        with_values: bool,
    ) -> Result<BufferSlice<'e>> {
        let to_vec = |b: &Option<Buffer>| b.as_ref().map(|b| b.to_vec());
        let r = KeyRange {
            prefix: to_vec(&range.prefix),
            gt: to_vec(&range.gt),
            gte: to_vec(&range.gte),
            lt: to_vec(&range.lt),
            lte: to_vec(&range.lte),
            reverse: range.reverse.unwrap_or(false),
        };
        let mut out = Vec::new();
        self.with(|s| {
            s.scan(&r, after.as_deref(), limit as usize, with_values, |k, v| {
                put_u32(&mut out, k.len());
                out.extend_from_slice(k);
                if let Some((enc, payload)) = v {
                    out.push(enc as u8);
                    put_u32(&mut out, payload.len());
                    out.extend_from_slice(payload);
                }
            })
        })?;
        new_buffer(env, out.len(), |b| b.copy_from_slice(&out))
    }

    /// Cache writes; with `flush_interval_ms` > 0 the core's flusher writes them that often.
    #[napi]
    pub fn enable_cache(
        &self,
        cap_bytes: f64,
        flush_threshold: f64,
        flush_interval_ms: f64,
    ) -> Result<()> {
        let opts = CacheOptions {
            cap_bytes: cap_bytes as usize,
            flush_threshold: flush_threshold as usize,
        };
        let every = Duration::from_millis(flush_interval_ms as u64);
        self.inner.enable_cache(opts, Some(every)).napi()
    }

    #[napi]
    pub fn disable_cache(&self) -> Result<()> {
        self.inner.disable_cache().napi()
    }

    #[napi]
    pub fn flush_cache(&self) -> Result<u32> {
        self.with(|s| s.flush_cache()).map(|n| n as u32)
    }

    #[napi]
    pub fn cache_enabled(&self) -> Result<bool> {
        self.with(|s| Ok(s.cache_enabled()))
    }

    #[napi]
    pub fn checkpoint(&self) -> Result<()> {
        self.with(|s| s.checkpoint())
    }

    #[napi(ts_return_type = "Promise<void>")]
    pub fn optimize(&self) -> AsyncTask<Optimize> {
        AsyncTask::new(Optimize {
            inner: self.inner.clone(),
        })
    }

    /// Flush and close. A failed flush keeps the store open (and its cache) and raises.
    #[napi]
    pub fn close(&self) -> Result<()> {
        self.inner.close().napi()
    }

    #[napi]
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Stream a file into `key` on a second connection, off the JS thread.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn put_file(&self, key: Either<String, &[u8]>, file: String) -> Result<AsyncTask<PutFile>> {
        let sibling = self.with(|s| {
            s.flush_cache()?;
            s.sibling()
        })?;
        Ok(AsyncTask::new(PutFile {
            store: Some(sibling),
            key: key_bytes(&key).to_vec(),
            file,
        }))
    }

    /// Stream the value of `key` to a file off the JS thread; resolves to the byte count, or
    /// -1 when the key is absent.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn get_to_file(
        &self,
        key: Either<String, &[u8]>,
        file: String,
    ) -> Result<AsyncTask<GetToFile>> {
        let sibling = self.with(|s| {
            s.flush_cache()?;
            s.sibling()
        })?;
        Ok(AsyncTask::new(GetToFile {
            store: Some(sibling),
            key: key_bytes(&key).to_vec(),
            file,
        }))
    }

    /// A chunked reader over the value of `key` (a snapshot), or null when it is absent.
    #[napi]
    pub fn open_reader(&self, key: Either<String, &[u8]>) -> Result<Option<NativeKvReader>> {
        let sibling = self.with(|s| {
            s.flush_cache()?;
            s.sibling()
        })?;
        let reader = sibling.into_reader(key_bytes(&key)).napi()?;
        Ok(reader.map(|r| NativeKvReader {
            total: r.remaining() as f64,
            inner: Arc::new(Mutex::new(Some(r))),
        }))
    }
}

pub struct Optimize {
    inner: Arc<KvVault>,
}

impl Task for Optimize {
    type Output = ();
    type JsValue = ();
    fn compute(&mut self) -> Result<()> {
        self.inner.with(|s| s.optimize()).napi()
    }
    fn resolve(&mut self, _env: Env, _out: ()) -> Result<()> {
        Ok(())
    }
}

pub struct PutFile {
    store: Option<KvStore>,
    key: Vec<u8>,
    file: String,
}

impl Task for PutFile {
    type Output = f64;
    type JsValue = f64;
    fn compute(&mut self) -> Result<f64> {
        let mut store = self
            .store
            .take()
            .ok_or_else(|| to_napi(CoreError::closed("putFile ran twice")))?;
        store
            .put_file(&self.key, std::path::Path::new(&self.file))
            .map(|n| n as f64)
            .napi()
    }
    fn resolve(&mut self, _env: Env, n: f64) -> Result<f64> {
        Ok(n)
    }
}

pub struct GetToFile {
    store: Option<KvStore>,
    key: Vec<u8>,
    file: String,
}

impl Task for GetToFile {
    type Output = f64;
    type JsValue = f64;
    fn compute(&mut self) -> Result<f64> {
        let store = self
            .store
            .take()
            .ok_or_else(|| to_napi(CoreError::closed("getToFile ran twice")))?;
        let Some(mut reader) = store.into_reader(&self.key).napi()? else {
            return Ok(-1.0);
        };
        // Only create the file once the key is known to exist.
        let f = std::fs::File::create(&self.file)
            .map_err(|e| to_napi(CoreError::from(e).context(&self.file)))?;
        let mut w = std::io::BufWriter::with_capacity(0, f);
        reader
            .copy_to(&mut w)
            .map(|n| n as f64)
            .map_err(|e| to_napi(e.context(&self.file)))
    }
    fn resolve(&mut self, _env: Env, n: f64) -> Result<f64> {
        Ok(n)
    }
}

#[napi]
pub struct NativeKvReader {
    inner: Arc<Mutex<Option<ValueReader>>>,
    total: f64,
}

#[napi]
impl NativeKvReader {
    /// Payload size in bytes.
    #[napi(getter)]
    pub fn total(&self) -> f64 {
        self.total
    }

    /// The next chunk of at most `max` bytes, read off the JS thread; empty at the end.
    #[napi(ts_return_type = "Promise<Buffer>")]
    pub fn read(&self, max: u32) -> AsyncTask<ReadChunk> {
        AsyncTask::new(ReadChunk {
            inner: self.inner.clone(),
            max: max.max(1) as usize,
        })
    }

    /// Release the snapshot and the connection (also happens at the end of the value).
    #[napi]
    pub fn close(&self) {
        if let Ok(mut g) = self.inner.lock() {
            g.take();
        }
    }
}

pub struct ReadChunk {
    inner: Arc<Mutex<Option<ValueReader>>>,
    max: usize,
}

// The chunk is copied into a JS-owned Buffer: V8 then counts its memory and collects spent
// chunks promptly, which keeps a long getStream flat (external buffers piled up before GC).
impl<'task> ScopedTask<'task> for ReadChunk {
    type Output = Vec<u8>;
    type JsValue = BufferSlice<'task>;
    fn compute(&mut self) -> Result<Vec<u8>> {
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| to_napi(CoreError::io("stream reader lock poisoned")))?;
        let Some(r) = guard.as_mut() else {
            return Ok(Vec::new());
        };
        let mut buf = vec![0u8; self.max.min(r.remaining() as usize)];
        let n = r.read_chunk(&mut buf).napi()?;
        buf.truncate(n);
        if r.remaining() == 0 {
            guard.take();
        }
        Ok(buf)
    }
    fn resolve(&mut self, env: &'task Env, out: Vec<u8>) -> Result<BufferSlice<'task>> {
        BufferSlice::copy_from(env, out)
    }
}
