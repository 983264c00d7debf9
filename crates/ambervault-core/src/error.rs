//! One error type for the whole core. Every failure carries a kind that maps one-to-one onto the
//! public error classes of the API (`NotFoundError`, `DatabaseBusyError`, ...) and a message that
//! names the thing involved.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Busy,
    InvalidArgument,
    Io,
    Corrupt,
    Closed,
}

impl ErrorKind {
    /// The stable string code users match on (docs/api.md, "Errors").
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::Busy => "DATABASE_BUSY",
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::Io => "IO_ERROR",
            ErrorKind::Corrupt => "CORRUPT",
            ErrorKind::Closed => "CLOSED",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Io, message)
    }
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    pub fn closed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Closed, message)
    }
    pub fn busy(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Busy, message)
    }

    /// Prefix the message with context (a path, a key, a column name) while keeping the kind.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.message)
    }
}

impl std::error::Error for Error {}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        let kind = match &e {
            rusqlite::Error::SqliteFailure(f, _) => match f.code {
                C::DatabaseBusy | C::DatabaseLocked => ErrorKind::Busy,
                C::NotADatabase | C::DatabaseCorrupt => ErrorKind::Corrupt,
                C::CannotOpen
                | C::SystemIoFailure
                | C::DiskFull
                | C::PermissionDenied
                | C::ReadOnly
                | C::FileLockingProtocolFailed
                | C::NoLargeFileSupport => ErrorKind::Io,
                C::TooBig => ErrorKind::InvalidArgument,
                _ => ErrorKind::Io,
            },
            rusqlite::Error::QueryReturnedNoRows => ErrorKind::NotFound,
            rusqlite::Error::InvalidParameterName(_)
            | rusqlite::Error::InvalidColumnType(..)
            | rusqlite::Error::ToSqlConversionFailure(_) => ErrorKind::InvalidArgument,
            _ => ErrorKind::Io,
        };
        Error::new(kind, e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = match e.kind() {
            std::io::ErrorKind::NotFound => ErrorKind::Io,
            std::io::ErrorKind::InvalidInput => ErrorKind::InvalidArgument,
            _ => ErrorKind::Io,
        };
        Error::new(kind, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_api_codes() {
        assert_eq!(Error::busy("x").kind.code(), "DATABASE_BUSY");
        assert_eq!(Error::closed("x").to_string(), "CLOSED: x");
        assert_eq!(Error::invalid("bad").context("col a").message, "col a: bad");
    }
}
