//! ambervault-core: the storage engine behind ambervault.
//!
//! Pure Rust over SQLite (rusqlite, bundled). Nothing here knows about JavaScript: the Node
//! bindings in `ambervault-node` are a thin layer over these types.

pub mod board;
mod checkpointer;
pub mod col;
pub mod conn;
pub mod error;
mod flusher;
pub mod kv;
pub mod packer;

pub use error::{Error, ErrorKind, Result};
