//! Node.js bindings over ambervault-core. Bindings only: argument conversion, handles and error
//! mapping; every decision about storage lives in the core.

mod board;
mod columns;
mod errors;
mod handover;
mod kv;
mod packer;

use napi_derive::napi;

/// Version of the native module, for diagnostics and the loader smoke test.
#[napi]
pub fn native_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
