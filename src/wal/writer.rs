//! Appends framed records to a log file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::format::{
    file_header_payload, frame_record, record_header_parts, LogKind, RecordType,
    RECORD_HEADER_BYTES, SYNC_MARK_PAYLOAD_BYTES,
};
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
    /// Bytes of the file known durable (raised by syncs, also those through a handle).
    synced: Arc<AtomicU64>,
    /// The durable length named by the last sync mark written.
    marked: u64,
    /// Bytes the file is extended by, with zeros, ahead of the appends (0: never).
    prealloc_step: u64,
    /// The size the file was preallocated to.
    allocated: u64,
}

/// An fsync of a log file that runs without holding its writer: it covers the bytes
/// written when it was taken, and tells the writer once they are durable.
pub struct SyncPoint {
    handle: Arc<dyn FileSync>,
    len: u64,
    synced: Arc<AtomicU64>,
}

impl SyncPoint {
    /// Fsyncs the file.
    ///
    /// # Errors
    ///
    /// The fsync's error; it is never retried (RELIABILITY rule 4).
    pub fn sync(&self) -> std::io::Result<()> {
        self.handle.sync()?;
        self.synced.fetch_max(self.len, Ordering::Release);
        Ok(())
    }
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
        let mut w = Self::over(file, fs, path, dir, number);
        w.add_record(RecordType::FileHeader, &file_header_payload(kind, number))?;
        Ok(w)
    }

    /// [`LogWriter::create`] for a file that grows in preallocated steps of `step` bytes
    /// ([`WritableFile::preallocate`]): an fsync after an append then has no new file size
    /// to commit. The file reads as zeros past the records until [`LogWriter::trim`]
    /// (called by [`LogWriter::seal`]) cuts it back.
    ///
    /// # Errors
    ///
    /// An I/O error creating or writing the file.
    pub fn create_preallocated(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        path: PathBuf,
        kind: LogKind,
        number: u64,
        step: u64,
    ) -> Result<Self> {
        let mut w = Self::create(fs, dir, path, kind, number)?;
        w.prealloc_step = step;
        w.reserve(0)?;
        Ok(w)
    }

    /// Takes over an existing log whose records end at `len`, to be trimmed there
    /// ([`LogWriter::trim`]: a torn tail or preallocated zeros past it are cut off) and made
    /// durable, never appended to: a WAL segment that recovery replayed and keeps until its
    /// memtable is flushed, or the value-log file a crash left open.
    ///
    /// # Errors
    ///
    /// An I/O error opening the file, or one shorter than `len`.
    pub fn reopen(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        path: PathBuf,
        number: u64,
        len: u64,
    ) -> Result<Self> {
        let file = fs
            .reopen(&path, len)
            .map_err(|e| Error::io("reopening", &path, e))?;
        // Its directory entry may never have been synced (a crash before its first sync):
        // `over` leaves that to the first sync.
        let mut w = Self::over(file, fs, path, dir, number);
        w.unsynced = true;
        // Whatever lies past `len` is cut by the first trim.
        w.allocated = u64::MAX;
        Ok(w)
    }

    /// A writer over `file`, nothing synced yet, not preallocated.
    fn over(
        file: Box<dyn WritableFile>,
        fs: Arc<dyn FileSystem>,
        path: PathBuf,
        dir: &Path,
        number: u64,
    ) -> Self {
        LogWriter {
            file,
            fs,
            path,
            dir: dir.to_path_buf(),
            number,
            dir_synced: false,
            unsynced: false,
            handle: None,
            synced: Arc::new(AtomicU64::new(0)),
            marked: 0,
            prealloc_step: 0,
            allocated: 0,
        }
    }

    /// Preallocates the next step when `n` more bytes would pass the preallocated size.
    fn reserve(&mut self, n: usize) -> Result<()> {
        let end = self.file.len() + n as u64;
        if self.prealloc_step == 0 || end <= self.allocated {
            return Ok(());
        }
        let to = end + self.prealloc_step;
        self.file
            .preallocate(to)
            .map_err(|e| Error::io("preallocating", &self.path, e))?;
        self.allocated = to;
        Ok(())
    }

    /// Cuts the file back to its records (durable at the next sync), when it was
    /// preallocated: a log that is no longer appended to must end at its last record once
    /// it is made durable, since a later sync mark then declares it whole.
    ///
    /// # Errors
    ///
    /// An I/O error; the caller must stop writing (fail-stop).
    pub fn trim(&mut self) -> Result<()> {
        if self.allocated == 0 {
            return Ok(());
        }
        self.file
            .trim_preallocated()
            .map_err(|e| Error::io("trimming", &self.path, e))?;
        self.allocated = 0;
        self.prealloc_step = 0;
        self.unsynced = true;
        Ok(())
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
        let mut mark = [0u8; RECORD_HEADER_BYTES + SYNC_MARK_PAYLOAD_BYTES];
        let mark = match self.take_sync_mark() {
            Some(m) => {
                let p = m.to_le_bytes();
                mark[..RECORD_HEADER_BYTES]
                    .copy_from_slice(&record_header_parts(RecordType::SyncMark, &[&p]));
                mark[RECORD_HEADER_BYTES..].copy_from_slice(&p);
                &mark[..]
            }
            None => &[][..],
        };
        let h = record_header_parts(ty, parts);
        self.reserve(mark.len() + h.len() + parts.iter().map(|p| p.len()).sum::<usize>())?;
        self.unsynced = true;
        let mut r = self.file.append(mark);
        r = r.and_then(|()| self.file.append(&h));
        for p in parts {
            r = r.and_then(|()| self.file.append(p));
        }
        r.and_then(|()| self.file.flush())
            .map_err(|e| Error::io("writing", &self.path, e))
    }

    /// Appends records already framed with [`super::format::frame_record`] and hands them
    /// to the OS.
    ///
    /// Whoever frames the records must call [`LogWriter::frame_sync_mark`] first, at the
    /// start of the buffer, so that offsets computed into it stay right.
    ///
    /// # Errors
    ///
    /// An I/O error; the caller must stop writing (fail-stop).
    pub fn append_framed(&mut self, framed: &[u8]) -> Result<()> {
        self.append_framed_parts(framed, &[])
    }

    /// [`LogWriter::append_framed`] of `head` and then each of `parts`, without joining
    /// them first (value records framed by the writers that queued them).
    ///
    /// # Errors
    ///
    /// An I/O error; the caller must stop writing (fail-stop).
    pub fn append_framed_parts(&mut self, head: &[u8], parts: &[&[u8]]) -> Result<()> {
        self.reserve(head.len() + parts.iter().map(|p| p.len()).sum::<usize>())?;
        self.unsynced = true;
        let mut r = self.file.append(head);
        for p in parts {
            r = r.and_then(|()| self.file.append(p));
        }
        r.and_then(|()| self.file.flush())
            .map_err(|e| Error::io("writing", &self.path, e))
    }

    /// The durable length to name in a sync mark before the next record, when syncs have
    /// raised it since the last mark.
    fn take_sync_mark(&mut self) -> Option<u64> {
        let s = self.synced.load(Ordering::Acquire);
        (s > self.marked).then(|| {
            self.marked = s;
            s
        })
    }

    /// Frames a sync mark into `out` when one is due (see [`LogWriter::append_framed`]).
    pub fn frame_sync_mark(&mut self, out: &mut Vec<u8>) {
        if let Some(m) = self.take_sync_mark() {
            frame_record(out, RecordType::SyncMark, &[&m.to_le_bytes()]);
        }
    }

    /// Syncs, then appends a sync mark naming everything before it (handed to the OS, not
    /// synced), so that damage to the records just synced is never taken for a torn tail.
    ///
    /// # Errors
    ///
    /// An I/O error; it is never retried.
    pub fn sync_and_mark(&mut self) -> Result<()> {
        self.sync()?;
        if let Some(m) = self.take_sync_mark() {
            let mut rec = Vec::with_capacity(RECORD_HEADER_BYTES + SYNC_MARK_PAYLOAD_BYTES);
            frame_record(&mut rec, RecordType::SyncMark, &[&m.to_le_bytes()]);
            self.append_framed(&rec)?;
        }
        Ok(())
    }

    /// [`LogWriter::sync_and_mark`], then trims a preallocated file to its records and
    /// syncs the mark and the size too (at a clean close).
    ///
    /// # Errors
    ///
    /// An I/O error; it is never retried.
    pub fn seal(&mut self) -> Result<()> {
        self.sync_and_mark()?;
        self.trim()?;
        self.sync()
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
        self.synced.fetch_max(self.file.len(), Ordering::Release);
        Ok(())
    }

    /// An fsync to run without holding the writer, or `None` when the file offers no
    /// handle or its directory entry is not durable yet: then call [`LogWriter::sync`]
    /// (nothing is synced here, so the caller controls the order of fsyncs).
    pub fn sync_point(&mut self) -> Option<SyncPoint> {
        if !self.dir_synced {
            return None;
        }
        if self.handle.is_none() {
            self.handle = self.file.sync_handle();
        }
        Some(SyncPoint {
            handle: self.handle.clone()?,
            len: self.file.len(),
            synced: self.synced.clone(),
        })
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
