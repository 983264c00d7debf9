//! KV: the key/value blob store of the KohakuVault 0.8 format (docs/format.md, "KV table").
//!
//! ```no_run
//! use ambervault_core::kv::{KvStore, KvOptions, Encoding, CacheOptions};
//! let mut kv = KvStore::open("/tmp/blobs.db", KvOptions::default())?;
//! kv.put(b"img:1", b"\x89PNG...")?;                      // raw bytes, stored bare
//! kv.put_encoded(b"note", Encoding::Utf8, "hi".as_bytes())?; // header 0x89 0x4B .. 0x06
//! let v = kv.get(b"img:1")?.unwrap();                       // Value { encoding, payload }
//! kv.put_many([(&b"a"[..], Encoding::Raw, &b"1"[..]), (&b"b"[..], Encoding::Raw, &b"2"[..])])?;
//! kv.enable_cache(CacheOptions::default())?;                // write-back cache, coherent reads
//! kv.flush_cache()?;                                        // one transaction
//! let n = kv.put_file(b"big", std::path::Path::new("/tmp/big.bin"))?; // incremental BLOB I/O
//! # Ok::<(), ambervault_core::Error>(())
//! ```
//!
//! - `header`: the 10-byte value header, the encodings and the raw-bytes rule.
//! - `store`: `KvStore` (open, put/get/delete/has, put_many/get_many, scan, cache control,
//!   checkpoint/optimize/close).
//! - `cache`: the write-back cache (puts and tombstones in key order).
//! - `point_read`: the held statement of point reads (no statement-cache lookup, no key copy).
//! - `snapshot`: the read transaction point reads keep open while the file is unchanged.
//! - `range`: key ranges for ordered scans and keyset paging (prefix bounds).
//! - `stream`: large values in chunks (put_reader/put_file, into_reader/get_to_writer).
//! - `vault`: `KvVault`, the store shared by threads with its lifecycle (closed state) and
//!   interval flusher: what a binding holds.
//!
//! Keys are bytes (a string key is its UTF-8 bytes). Values are payloads plus an `Encoding`:
//! the core frames and parses headers but does not interpret payloads (MessagePack, JSON, ...
//! are the caller's business), so every language binding decodes with its own native codecs.

pub(crate) mod cache;
pub(crate) mod header;
mod point_read;
pub(crate) mod range;
pub(crate) mod snapshot;
pub(crate) mod store;
pub(crate) mod stream;
mod vault;

pub use cache::CacheOptions;
pub use header::Encoding;
pub use range::KeyRange;
pub use store::{show_key, KvOptions, KvStore, Value};
pub use stream::{ValueReader, MAX_VALUE_LEN, STREAM_CHUNK};
pub use vault::KvVault;

#[cfg(test)]
mod tests;
