//! Appends framed records to a log file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{file_header_payload, record_header_parts, LogKind, RecordType};
use crate::error::{Error, Result};
use crate::fs::{FileSync, FileSystem, WritableFile};

/// Writes one log file. Not thread-safe: the engine's write path owns it.
pub struct LogWriter {
    file: Box<dyn WritableFile>,
    fs: Arc<dyn FileSystem>,
    path: PathBuf,
    dir: PathBuf,
    number: u64,
    dir_synced: bool,
    unsynced: bool,
    /// The file's sync handle, made once (on the OS a duplicated descriptor).
    handle: Option<std::sync::Arc<dyn FileSync>>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("path", &self.path)
            .finish()
    }
}

impl LogWriter {
    /// Creates the file and writes its header record (not yet synced).
    ///
    /// # Errors
    ///
    /// An I/O error creating or writing the file.
    pub fn create(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        path: PathBuf,
        kind: LogKind,
        number: u64,
    ) -> Result<Self> {
        let file = fs
            .create(&path)
            .map_err(|e| Error::io("creating", &path, e))?;
        let mut w = LogWriter {
            file,
            fs,
            path,
            dir: dir.to_path_buf(),
            number,
            dir_synced: false,
            unsynced: false,
            handle: None,
        };
        w.add_record(RecordType::FileHeader, &file_header_payload(kind, number))?;
        Ok(w)
    }

    /// Appends one record and hands it to the OS (it survives a process crash once this
    /// returns).
    ///
    /// # Errors
    ///
    /// An I/O error; the caller must stop writing (fail-stop).
    pub fn add_record(&mut self, ty: RecordType, payload: &[u8]) -> Result<()> {
        self.add_record_parts(ty, &[payload])
    }

    /// Appends one record whose payload is `parts` concatenated, without copying them
    /// together first.
    ///
    /// # Errors
    ///
    /// An I/O error; the caller must stop writing (fail-stop).
    pub fn add_record_parts(&mut self, ty: RecordType, parts: &[&[u8]]) -> Result<()> {
        let h = record_header_parts(ty, parts);
        self.unsynced = true;
        let mut r = self.file.append(&h);
        for p in parts {
            r = r.and_then(|()| self.file.append(p));
        }
        r.and_then(|()| self.file.flush())
            .map_err(|e| Error::io("writing", &self.path, e))
    }

    /// Appends records already framed with [`super::format::frame_record`] and hands them
    /// to the OS.
    ///
    /// # Errors
    ///
    /// An I/O error; the caller must stop writing (fail-stop).
    pub fn append_framed(&mut self, framed: &[u8]) -> Result<()> {
        self.unsynced = true;
        self.file
            .append(framed)
            .and_then(|()| self.file.flush())
            .map_err(|e| Error::io("writing", &self.path, e))
    }

    /// Makes every record durable, and the file's directory entry on the first call.
    ///
    /// # Errors
    ///
    /// An I/O error; it is never retried (RELIABILITY rule 4).
    pub fn sync(&mut self) -> Result<()> {
        if self.unsynced {
            self.file
                .sync()
                .map_err(|e| Error::io("syncing", &self.path, e))?;
            self.unsynced = false;
        }
        if !self.dir_synced {
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| Error::io("syncing directory", &self.dir, e))?;
            self.dir_synced = true;
        }
        Ok(())
    }

    /// A handle to fsync the file without holding the writer, or `None` when the file
    /// offers none or its directory entry is not durable yet: then call [`LogWriter::sync`]
    /// (nothing is synced here, so the caller controls the order of fsyncs).
    pub fn sync_handle(&mut self) -> Option<std::sync::Arc<dyn FileSync>> {
        if !self.dir_synced {
            return None;
        }
        if self.handle.is_none() {
            self.handle = self.file.sync_handle();
        }
        self.handle.clone()
    }

    /// Bytes written to the file so far.
    pub fn len(&self) -> u64 {
        self.file.len()
    }

    /// True when not even the header was written.
    pub fn is_empty(&self) -> bool {
        self.file.len() == 0
    }

    /// The file's number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
