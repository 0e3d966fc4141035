//! The engine's one error type.
//!
//! Errors are classes with context: every corruption names the file and the byte offset where
//! the check failed; every I/O error names the operation and the file. Predicates
//! ([`Error::is_corruption`], [`Error::is_locked`], [`Error::is_conflict`], ...) let callers
//! branch on the class without matching on variants, which may grow (`#[non_exhaustive]`).
//!
//! Messages never echo user keys or values (RELIABILITY rule 6): they name sizes and files.

use std::fmt;
use std::path::PathBuf;

/// `Result` with the engine's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong in StrataKV.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system I/O error, with what was being done and to which file.
    #[error("I/O error while {op} {}: {source}", path_display(.path))]
    Io {
        /// What the engine was doing ("writing", "syncing", ...).
        op: &'static str,
        /// The file or directory involved, when there is one.
        path: Option<PathBuf>,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A checksum, magic number, length or format check failed.
    #[error("corruption in {} at offset {offset}: {reason}", .file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset in that file where the damage was found.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// A transaction lost an optimistic race; retry it.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    /// Bad input from the caller; nothing was applied.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Another handle or process holds the directory.
    #[error("database directory {} is locked by another handle or process", .0.display())]
    Locked(PathBuf),
    /// The database was closed.
    #[error("the database is closed")]
    Closed,
    /// An earlier write or fsync failed; the write path stays stopped until the store is
    /// reopened (RELIABILITY rule 4). Reads go on.
    #[error("writes are stopped after an earlier failure (reopen the database): {0}")]
    WritesStopped(String),
}

fn path_display(p: &Option<PathBuf>) -> String {
    match p {
        Some(p) => p.display().to_string(),
        None => "(no file)".to_string(),
    }
}

impl Error {
    /// True when a transaction lost an optimistic race.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict(_))
    }

    /// True when a checksum or format check failed.
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// True when another handle or process holds the directory.
    pub fn is_locked(&self) -> bool {
        matches!(self, Error::Locked(_))
    }

    /// True for bad input from the caller (nothing was applied).
    pub fn is_invalid_argument(&self) -> bool {
        matches!(self, Error::InvalidArgument(_))
    }

    /// True when the database was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, Error::Closed)
    }

    /// True when writes are stopped after an earlier I/O failure.
    pub fn is_writes_stopped(&self) -> bool {
        matches!(self, Error::WritesStopped(_))
    }

    /// True for an I/O error (including a full disk).
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Io { .. })
    }

    /// The damaged file and offset of a corruption error.
    pub fn corruption_location(&self) -> Option<(&std::path::Path, u64)> {
        match self {
            Error::Corruption { file, offset, .. } => Some((file.as_path(), *offset)),
            _ => None,
        }
    }

    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: Some(path.into()),
            source,
        }
    }

    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl fmt::Display,
    ) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            reason: reason.to_string(),
        }
    }

    pub(crate) fn invalid(msg: impl fmt::Display) -> Self {
        Error::InvalidArgument(msg.to_string())
    }

    /// A copy of this error for handing to several waiters (I/O sources are flattened to their
    /// kind and message).
    pub(crate) fn duplicate(&self) -> Error {
        match self {
            Error::Io { op, path, source } => Error::Io {
                op,
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Error::Corruption {
                file,
                offset,
                reason,
            } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Error::Conflict(s) => Error::Conflict(s.clone()),
            Error::InvalidArgument(s) => Error::InvalidArgument(s.clone()),
            Error::Locked(p) => Error::Locked(p.clone()),
            Error::Closed => Error::Closed,
            Error::WritesStopped(s) => Error::WritesStopped(s.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_and_messages() {
        let e = Error::corruption("/d/000001.sst", 4096, "bad block checksum");
        assert!(e.is_corruption());
        assert!(!e.is_locked());
        let msg = e.to_string();
        assert!(msg.contains("000001.sst") && msg.contains("4096"), "{msg}");
        assert_eq!(
            e.corruption_location().map(|(_, o)| o),
            Some(4096),
            "offset is kept"
        );
        assert!(Error::Locked("/x".into()).is_locked());
        assert!(Error::Conflict("k".into()).is_conflict());
        let io = Error::io("syncing", "/d/1.wal", std::io::Error::other("boom"));
        assert!(io.duplicate().to_string().contains("1.wal"));
    }

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: std::error::Error + Send + Sync + 'static>() {}
        check::<Error>();
    }
}
