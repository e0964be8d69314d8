//! The one error type of the state module.

use std::path::PathBuf;

/// Errors returned by state stores, snapshots and encoders.
///
/// Every variant carries enough context to say what went wrong and where
/// (the file and offset for corruption, the limit for capacity errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// An operating-system I/O call failed.
    #[error("i/o error while {context}")]
    Io {
        /// What the store was doing when the call failed (includes the path).
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A value could not be serialized with rkyv.
    #[error("serialization failed: {0}")]
    Serialization(String),

    /// Bytes could not be read back as the requested type (validation failed).
    #[error("deserialization failed: {0}")]
    Deserialization(String),

    /// Stored or transmitted bytes failed an integrity check.
    #[error("corrupt data in {location}: {what}")]
    Corruption {
        /// Where the bad bytes are: a file path and offset, or `snapshot bytes at offset N`.
        location: String,
        /// What is wrong with them.
        what: String,
    },

    /// The data was written by a newer (or unknown) format version.
    #[error(
        "unsupported format version {found} in {location} (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// Where the version was read.
        location: String,
        /// The version found.
        found: u32,
        /// The version this build understands.
        supported: u32,
    },

    /// The store file is already open (in this process or another one).
    #[error("state file {} is locked by another open store", path.display())]
    Locked {
        /// The locked file.
        path: PathBuf,
    },

    /// A fixed capacity was exhausted (for example the 2^32 - 1 codes of a dictionary).
    #[error("capacity exceeded: {0}")]
    CapacityExceeded(String),

    /// The caller passed an argument the operation cannot accept.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The operation is not supported by this backend or configuration.
    #[error("not supported: {0}")]
    NotSupported(String),
}

impl StateError {
    /// Builds an [`StateError::Io`] with a description of what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StateError::Io {
            context: context.into(),
            source,
        }
    }

    /// Builds a [`StateError::Corruption`].
    pub fn corruption(location: impl Into<String>, what: impl Into<String>) -> Self {
        StateError::Corruption {
            location: location.into(),
            what: what.into(),
        }
    }

    /// The same error, placed inside `outer` (say, a snapshot field and
    /// entry): prefixed to the location of a corruption or version error and
    /// to the message of a deserialization error; other variants as they are.
    pub(crate) fn within(self, outer: impl FnOnce() -> String) -> Self {
        match self {
            StateError::Corruption { location, what } => StateError::Corruption {
                location: format!("{}, {location}", outer()),
                what,
            },
            StateError::UnsupportedVersion {
                location,
                found,
                supported,
            } => StateError::UnsupportedVersion {
                location: format!("{}, {location}", outer()),
                found,
                supported,
            },
            StateError::Deserialization(m) => {
                StateError::Deserialization(format!("{}: {m}", outer()))
            }
            other => other,
        }
    }
}

/// Lets `?` turn a bare [`std::io::Error`] into a [`StateError::Io`], as in
/// laminar-core 0.18.5.
///
/// A bare I/O error says nothing about what was being done, so the context
/// is the generic `"doing unnamed i/o (converted from std::io::Error)"` (the error's kind
/// and message stay reachable through [`source`](std::error::Error::source)).
/// Code in this crate uses [`StateError::io`] instead, which names the file.
impl From<std::io::Error> for StateError {
    fn from(source: std::io::Error) -> Self {
        StateError::io("doing unnamed i/o (converted from std::io::Error)", source)
    }
}

/// Result alias used throughout the state module.
pub type Result<T, E = StateError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn io_error_exposes_source_and_context() {
        let err = StateError::io(
            "opening /tmp/x",
            std::io::Error::new(std::io::ErrorKind::NotFound, "gone"),
        );
        assert_eq!(err.to_string(), "i/o error while opening /tmp/x");
        assert_eq!(err.source().map(|s| s.to_string()).as_deref(), Some("gone"));
    }

    #[test]
    fn question_mark_converts_a_bare_io_error() {
        fn open_missing() -> Result<std::fs::File> {
            Ok(std::fs::File::open("/nonexistent/laminar/compat/file")?)
        }
        let err = open_missing().unwrap_err();
        let StateError::Io { context, source } = &err else {
            panic!("expected StateError::Io, got {err:?}");
        };
        assert_eq!(context, "doing unnamed i/o (converted from std::io::Error)");
        assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        assert_eq!(
            err.source().map(|s| s.to_string()),
            Some(source.to_string())
        );
        assert_eq!(
            err.to_string(),
            "i/o error while doing unnamed i/o (converted from std::io::Error)"
        );
    }

    #[test]
    fn corruption_names_location() {
        let err = StateError::corruption("state.db at offset 4096", "checksum mismatch");
        assert_eq!(
            err.to_string(),
            "corrupt data in state.db at offset 4096: checksum mismatch"
        );
    }
}
