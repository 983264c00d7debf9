//! Core errors cross into JS as `Error` whose message starts with the stable code
//! (`NOT_FOUND: ...`); the TypeScript layer turns that into the matching `VaultError` subclass in
//! one place (src/errors.ts).

#![allow(dead_code)]

use ambervault_core::Error;

pub fn to_napi(e: Error) -> napi::Error {
    napi::Error::from_reason(e.to_string())
}

/// `?`-friendly conversion of core results.
pub trait IntoNapi<T> {
    fn napi(self) -> napi::Result<T>;
}

impl<T> IntoNapi<T> for ambervault_core::Result<T> {
    fn napi(self) -> napi::Result<T> {
        self.map_err(to_napi)
    }
}
