//! One error type for the whole core; the binding maps each variant to one Python class.

use std::fmt;

/// Where in a file an error happened: a row, a line or a byte offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    Line(u64),
    Row(u64),
    Byte(u64),
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Position::Line(n) => write!(f, "line {n}"),
            Position::Row(n) => write!(f, "row {n}"),
            Position::Byte(n) => write!(f, "byte {n}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An argument value the operation cannot accept (Python `InvalidArgumentError`).
    #[error("{0}")]
    InvalidArgument(String),
    /// A sample longer than allowed under `overflow="error"` (Python `SequenceTooLongError`).
    #[error("{0}")]
    SequenceTooLong(String),
    /// An Arrow type the operation does not handle (Python `UnsupportedTypeError`).
    #[error("{0}")]
    UnsupportedType(String),
    /// A format or compression that is not supported (Python `UnsupportedFormatError`).
    #[error("{0}")]
    UnsupportedFormat(String),
    /// Malformed content (Python `DataFormatError`).
    #[error("{path}: {}{message}", position.as_ref().map(|p| format!("{p}: ")).unwrap_or_default())]
    DataFormat {
        path: String,
        position: Option<Position>,
        message: String,
    },
    /// A value that does not fit the inferred column type (Python `SchemaMismatchError`).
    #[error("{path}: {}{message}", position.as_ref().map(|p| format!("{p}: ")).unwrap_or_default())]
    SchemaMismatch {
        path: String,
        position: Option<Position>,
        message: String,
    },
    /// No such file (Python `DatasetNotFoundError`).
    #[error("{path}: no such file or directory")]
    NotFound { path: String },
    /// The OS failed or refused a read (Python `DatasetReadError`).
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A failure of ours, not of the input: a pool job that ended without a result, a caught
    /// panic (Python `InternalError`). The message is kept: it is what a bug report needs.
    #[error("internal error (a bug, please report it): {0}")]
    Internal(String),
    /// Work stopped because the caller asked (Ctrl-C); the binding re-raises the Python signal.
    #[error("interrupted")]
    Interrupted,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn internal(message: impl Into<String>) -> Self {
        Error::Internal(message.into())
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidArgument(message.into())
    }

    /// An I/O error on `path`, with "not found" kept distinct.
    pub fn io(path: impl Into<String>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }

    pub fn data(
        path: impl Into<String>,
        position: Option<Position>,
        message: impl Into<String>,
    ) -> Self {
        Error::DataFormat {
            path: path.into(),
            position,
            message: message.into(),
        }
    }
}
