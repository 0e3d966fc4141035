//! The value log: key-value separation (WiscKey, FAST 2016; Badger; RocksDB BlobDB).
//!
//! Values at least `Options::value_threshold` bytes long are written to append-only
//! value-log files `<n>.vlog` and the tree holds a small [`format::Handle`] to them, so
//! compaction moves handles instead of the values.
//!
//! **Separation happens at write time**: each writer compresses and frames its large values
//! in its own thread (`batch.rs`), and the group-commit leader appends the group's records
//! to the active value-log file in one write, then writes the WAL record holding their
//! handles. A large value is thus written to disk once (not once to the WAL and again at
//! flush), which is what keeps write amplification near 1 for large values. Durability
//! follows from one rule: the active value-log file is fsynced before every WAL fsync (and
//! a full file is fsynced whole before the next one is used), so a durable WAL record never
//! points at value bytes that are not durable.
//!
//! Files are recorded in the manifest: added when created (before any value is written to
//! them), sealed with their final length when the next file takes over, given discard
//! counts by compaction (bytes of records no longer referenced), marked collected by garbage
//! collection and deleted once no reader can reach them. See `engine/vlog.rs` for the
//! write, read, recovery and collection paths.
//!
//! **Reads** go through `pread`, or, with `Options::mmap_reads`, through a memory map once
//! the file is sealed (never written again): a record is then checked and decompressed
//! where it lies in the page cache, with no copy into a buffer of its own first (on 64 KiB
//! values the `pread` copy was a third of a random read). The active file is always read
//! through `pread`: it grows, and a map covers only what the file held when it was made.

pub mod format;
pub mod gc;
pub mod walk;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use bytes::Bytes;

use crate::cache::BlockCache;
use crate::error::{Error, Result};
use crate::filename::vlog_path;
use crate::fs::{FileSystem, RandomAccessFile};
use format::{check_framed, decode_payload, Handle};

/// A value-log file open for reads. Shared by versions; deleted from disk when it has been
/// marked obsolete and the last reader drops it.
pub struct VlogFile {
    number: u64,
    path: PathBuf,
    fs: Arc<dyn FileSystem>,
    /// The open file, and whether it is a map; reopened when a read passes its length
    /// (the active file grows), and as a map once the file is sealed if `mmap` is set.
    file: RwLock<(Arc<dyn RandomAccessFile>, bool)>,
    cache: Option<Arc<BlockCache>>,
    /// Read sealed files through a memory map.
    mmap: bool,
    /// Set once the file is never written again.
    sealed: OnceLock<()>,
    obsolete: OnceLock<()>,
}

impl std::fmt::Debug for VlogFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VlogFile")
            .field("number", &self.number)
            .finish()
    }
}

impl Drop for VlogFile {
    fn drop(&mut self) {
        if self.obsolete.get().is_some() {
            // A failure leaves an orphan, which the next open deletes.
            let _ = self.fs.remove_file(&self.path);
            if let Some(c) = &self.cache {
                // Nothing can read them now; and a value stored uncompressed and read
                // through a map is a slice of it, which would keep the deleted file's
                // space in use until evicted.
                c.forget_table(self.number);
            }
        }
    }
}

impl VlogFile {
    /// Opens value-log file `number` in `dir` for reads through `pread`, and through a
    /// memory map once it is sealed if `mmap` is set (see [`VlogFile::seal`]).
    ///
    /// # Errors
    ///
    /// `Corruption` when the file is missing (the manifest says it exists), else the I/O
    /// error.
    pub fn open(
        fs: Arc<dyn FileSystem>,
        dir: &Path,
        number: u64,
        cache: Option<Arc<BlockCache>>,
        mmap: bool,
    ) -> Result<VlogFile> {
        let path = vlog_path(dir, number);
        let file = fs.open(&path, false).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::corruption(&path, 0, "value-log file is missing")
            } else {
                Error::io("opening", &path, e)
            }
        })?;
        Ok(VlogFile {
            number,
            path,
            fs,
            file: RwLock::new((file, false)),
            cache,
            mmap,
            sealed: OnceLock::new(),
            obsolete: OnceLock::new(),
        })
    }

    /// The file's number.
    pub fn number(&self) -> u64 {
        self.number
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records that the file is never written again: from the next read on, it is read
    /// through a memory map if the file was opened with `mmap`.
    pub fn seal(&self) {
        let _ = self.sealed.set(());
    }

    /// Marks the file for deletion once the last reader drops it.
    pub fn mark_obsolete(&self) {
        let _ = self.obsolete.set(());
    }

    /// Reads the value `h` points at, through the block cache when there is one.
    ///
    /// # Errors
    ///
    /// `Corruption` naming the file and offset when the record is damaged or out of range.
    pub fn read_value(&self, h: &Handle) -> Result<Bytes> {
        let load = || {
            let rec = self.read_record(h)?;
            let payload = check_framed(&self.path, h.offset, &rec)?;
            Ok(decode_payload(&self.path, h.offset, &payload)?.value)
        };
        match &self.cache {
            Some(c) => c.get_or_load_value(self.number, h.offset, load),
            None => load(),
        }
    }

    /// The raw bytes of the record `h` points at (not checked).
    ///
    /// # Errors
    ///
    /// `Corruption` when the record runs past the end of the file, or the I/O error.
    pub fn read_record(&self, h: &Handle) -> Result<Bytes> {
        let len = usize::try_from(h.len)
            .map_err(|_| Error::corruption(&self.path, h.offset, "value handle too long"))?;
        let end = h.offset.saturating_add(h.len);
        let (mut file, mapped) = self.file.read().unwrap_or_else(|p| p.into_inner()).clone();
        let map = self.mmap && self.sealed.get().is_some();
        if end > file.len() || map != mapped {
            // The active file grew since it was opened, or it is sealed and to be mapped:
            // open it again.
            let fresh = self
                .fs
                .open(&self.path, map)
                .map_err(|e| Error::io("opening", &self.path, e))?;
            *self.file.write().unwrap_or_else(|p| p.into_inner()) = (fresh.clone(), map);
            file = fresh;
        }
        file.read_at(h.offset, len).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::corruption(
                    &self.path,
                    h.offset,
                    "value record runs past the end of the value-log file",
                )
            } else {
                Error::io("reading", &self.path, e)
            }
        })
    }
}

/// Resolves value handles through a set of open value-log files.
///
/// # Errors
///
/// `Corruption` when the handle is malformed, names a file that is not live, or its record
/// is damaged.
pub fn resolve(
    files: &std::collections::BTreeMap<u64, Arc<VlogFile>>,
    handle: &[u8],
) -> Result<Bytes> {
    let h = Handle::decode(handle)
        .ok_or_else(|| Error::corruption("(value handle)", 0, "malformed value-log handle"))?;
    match files.get(&h.file) {
        Some(f) => f.read_value(&h),
        None => Err(Error::corruption(
            format!("{:06}.vlog", h.file),
            h.offset,
            "a value points into a value-log file that is not live",
        )),
    }
}
