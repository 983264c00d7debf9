//! DataPacker: the dtype grammar and the codecs that turn values into the bytes columns store.

pub mod dtype;

pub use dtype::{DType, Encoding, Scalar};
