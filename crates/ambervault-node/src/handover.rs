//! Rust data handed to JS as the cheapest JS value for its size. A Buffer or typed array made
//! over a Rust vector (no copy) registers a finalizer and an external backing store, which
//! costs more than copying a few KiB into memory V8 allocates itself; so small results are
//! copied and only large ones are handed over without a copy.

use napi::bindgen_prelude::*;
use napi::sys;

/// Results up to this size are copied into memory V8 allocates.
const COPY_MAX: usize = 64 * 1024;

/// Bytes as a Buffer holding a copy (see the module note).
pub struct CopiedBuffer(pub Vec<u8>);

impl TypeName for CopiedBuffer {
    fn type_name() -> &'static str {
        "Buffer"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for CopiedBuffer {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let mut data = std::ptr::null_mut();
        let mut out = std::ptr::null_mut();
        napi::check_status!(
            unsafe {
                sys::napi_create_buffer_copy(
                    env,
                    val.0.len(),
                    val.0.as_ptr().cast(),
                    &mut data,
                    &mut out,
                )
            },
            "Failed to create a Buffer"
        )?;
        Ok(out)
    }
}

/// A Buffer: copied when small, else over the vector itself.
pub fn buffer(b: Vec<u8>) -> Either<CopiedBuffer, Buffer> {
    if b.len() <= COPY_MAX {
        Either::A(CopiedBuffer(b))
    } else {
        Either::B(b.into())
    }
}

/// u32s as a Uint32Array holding a copy.
pub struct CopiedU32s(pub Vec<u32>);

impl TypeName for CopiedU32s {
    fn type_name() -> &'static str {
        "Uint32Array"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for CopiedU32s {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let bytes = val.0.len() * 4;
        let mut data = std::ptr::null_mut();
        let mut ab = std::ptr::null_mut();
        let mut out = std::ptr::null_mut();
        napi::check_status!(
            unsafe { sys::napi_create_arraybuffer(env, bytes, &mut data, &mut ab) },
            "Failed to create an ArrayBuffer"
        )?;
        if bytes > 0 {
            // SAFETY: V8 just allocated `bytes` writable bytes at `data`; the source is as long.
            unsafe {
                std::ptr::copy_nonoverlapping(val.0.as_ptr().cast::<u8>(), data.cast(), bytes)
            };
        }
        napi::check_status!(
            unsafe {
                sys::napi_create_typedarray(
                    env,
                    sys::TypedarrayType::uint32_array,
                    val.0.len(),
                    ab,
                    0,
                    &mut out,
                )
            },
            "Failed to create a Uint32Array"
        )?;
        Ok(out)
    }
}

/// A Uint32Array: copied when small, else over the vector itself.
pub fn u32s(v: Vec<u32>) -> Either<CopiedU32s, Uint32Array> {
    if v.len() * 4 <= COPY_MAX {
        Either::A(CopiedU32s(v))
    } else {
        Either::B(Uint32Array::new(v))
    }
}

/// Text as a JS string; ASCII text goes in as Latin-1, which V8 copies without decoding.
pub struct Text(pub String);

impl TypeName for Text {
    fn type_name() -> &'static str {
        "string"
    }
    fn value_type() -> ValueType {
        ValueType::String
    }
}

impl ToNapiValue for Text {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> Result<sys::napi_value> {
        let s = val.0;
        let mut out = std::ptr::null_mut();
        let status = if s.is_ascii() {
            unsafe {
                sys::napi_create_string_latin1(env, s.as_ptr().cast(), s.len() as isize, &mut out)
            }
        } else {
            unsafe {
                sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut out)
            }
        };
        napi::check_status!(status, "Failed to create a string")?;
        Ok(out)
    }
}
