//! Constants of the byte layouts the TS layer writes or reads itself, exported from the core's
//! own definitions so each is written once: the Board's log records (written from JS into the
//! mapped segment, read by the core's drain) and the KV value encodings and `get` result.

use ambervault_core::board::logfile;
use ambervault_core::board::records::{self, Subkind};
use ambervault_core::kv::Encoding;
use napi_derive::napi;

#[napi]
pub const LOG_HEADER_SIZE: u32 = logfile::HEADER_SIZE as u32;
#[napi]
pub const LOG_END_RESERVE: u32 = logfile::END_RESERVE as u32;
#[napi]
pub const LOG_KIND_NAME: u32 = logfile::KIND_NAME;
#[napi]
pub const LOG_KIND_SCALARS: u32 = logfile::KIND_SCALARS;
#[napi]
pub const LOG_KIND_PAYLOAD: u32 = logfile::KIND_PAYLOAD;
#[napi]
pub const LOG_KIND_END: u32 = logfile::KIND_END;
#[napi]
pub const LOG_FLAG_NO_STEP_ROW: u32 = records::FLAG_NO_STEP_ROW;

// PAYLOAD record kinds.
#[napi]
pub const LOG_SUBKIND_HISTOGRAM_VALUES: u32 = Subkind::HistogramValues as u32;
#[napi]
pub const LOG_SUBKIND_HISTOGRAM_BINS: u32 = Subkind::HistogramBins as u32;
#[napi]
pub const LOG_SUBKIND_MEDIA: u32 = Subkind::Media as u32;
#[napi]
pub const LOG_SUBKIND_TABLE: u32 = Subkind::Table as u32;
#[napi]
pub const LOG_SUBKIND_TENSOR: u32 = Subkind::Tensor as u32;
#[napi]
pub const LOG_SUBKIND_KERNEL_DENSITY: u32 = Subkind::KernelDensity as u32;
#[napi]
pub const LOG_SUBKIND_OUTPUT: u32 = Subkind::Output as u32;

#[napi]
pub const KV_ENC_RAW: u32 = Encoding::Raw as u32;
#[napi]
pub const KV_ENC_PICKLE: u32 = Encoding::Pickle as u32;
#[napi]
pub const KV_ENC_PACKED: u32 = Encoding::Packed as u32;
#[napi]
pub const KV_ENC_JSON: u32 = Encoding::Json as u32;
#[napi]
pub const KV_ENC_MSGPACK: u32 = Encoding::MsgPack as u32;
#[napi]
pub const KV_ENC_CBOR: u32 = Encoding::Cbor as u32;
#[napi]
pub const KV_ENC_UTF8: u32 = Encoding::Utf8 as u32;
/// What `NativeKv.get` returns for a missing key: no encoding has this code.
#[napi]
pub const KV_ABSENT: u32 = 7;
/// The encoding byte of a missing key in a `getMany` result.
#[napi]
pub const KV_MISSING: u32 = 0xFF;
