//! Node.js bindings over ambervault-core. Bindings only: argument conversion, handles and error
//! mapping; every decision about storage lives in the core.

// `#[napi]` registers the exports only outside `cfg(test)`, so in the crate's test build the
// functions and constants only JS calls look unused.
#![cfg_attr(test, allow(dead_code))]

mod board;
mod columns;
mod errors;
mod handover;
mod kv;
mod packer;
mod wire;

use napi_derive::napi;

/// Version of the native module, for diagnostics and the loader smoke test.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Whether this is a debug build of the native module (benchmarks refuse to record its figures).
#[napi]
pub const NATIVE_DEBUG_BUILD: bool = cfg!(debug_assertions);
