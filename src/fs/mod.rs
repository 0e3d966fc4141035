//! The filesystem trait every file the engine touches goes through.
//!
//! Three implementations ship with the crate:
//! - [`OsFs`]: the operating system's files (`pread` or `mmap` reads, WAL appends through a map
//!   of `fallocate`d space where that is safe, `fsync`, `flock`).
//! - [`MemFs`]: files in memory whose [`MemFs::crash_clone`] keeps only synced bytes and
//!   synced directory entries, to test power loss (pebble `vfs.CrashClone`,
//!   LevelDB `fault_injection_test.cc`).
//! - [`FaultFs`]: a wrapper that injects I/O errors into the n-th write, sync or rename, by
//!   path, or at random from a seed.
//!
//! Contract for implementations: `create` truncates; `WritableFile::append` may buffer,
//! `flush` hands the bytes to the OS (they survive a process crash), `sync` makes them and the
//! file's size durable (they survive a power loss) but not the directory entry, which needs
//! `sync_dir` on the parent. `preallocate` extends a file with zeros past the append position
//! (a file read or recovered after a crash shows them) and `trim_preallocated` cuts it back. Reads of short files return `UnexpectedEof`, never short data.

mod append_map;
mod fault;
mod mem;
mod os;

use std::any::Any;
use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

pub use fault::{FaultFs, FaultOp};
pub use mem::{CrashMode, MemFs};
pub use os::OsFs;

/// A file being written, append-only.
pub trait WritableFile: Send + Sync {
    /// Appends bytes (possibly into a user-space buffer).
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Hands buffered bytes to the operating system.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn flush(&mut self) -> io::Result<()>;
    /// Flushes and makes the file's contents durable.
    ///
    /// # Errors
    ///
    /// The underlying I/O error. A failed sync must never be retried and reported as success.
    fn sync(&mut self) -> io::Result<()>;
    /// Extends the file to `len` bytes without moving the append position: the bytes past
    /// those appended read as zeros, and appends within `len` then change no file size, so
    /// a `sync` after them has no size to commit (on ext4, an fsynced small write costs about
    /// 40% less). `sync` makes the new size durable. Does nothing when the file is already
    /// that long, and nothing in implementations without it (the default).
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let _ = len;
        Ok(())
    }
    /// Shrinks a preallocated file back to the bytes appended (durable at the next `sync`).
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn trim_preallocated(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// Bytes appended so far.
    fn len(&self) -> u64;
    /// True when nothing was appended.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// A handle that makes everything flushed so far (and anything flushed later, up to the
    /// moment it runs) durable, usable without `&mut self`, so that one thread can fsync
    /// while another appends. `None` (the default) when the file has none.
    fn sync_handle(&self) -> Option<Arc<dyn FileSync>> {
        None
    }
}

/// Makes a file's flushed bytes durable; see [`WritableFile::sync_handle`].
pub trait FileSync: Send + Sync {
    /// Fsyncs the file's data.
    ///
    /// # Errors
    ///
    /// The underlying I/O error; it must never be retried and reported as success.
    fn sync(&self) -> io::Result<()>;
}

/// A file opened for positional reads.
pub trait RandomAccessFile: Send + Sync + Debug {
    /// Reads exactly `len` bytes at `offset` (short reads and EINTR are retried inside).
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` when the range passes the end of the file, or the I/O error.
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes>;
    /// Reads exactly `len` bytes at `offset` into `buf`, replacing its contents and reusing
    /// its allocation (a reader that decodes what it reads keeps one buffer for every read).
    ///
    /// # Errors
    ///
    /// As [`RandomAccessFile::read_at`].
    fn read_into(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        let b = self.read_at(offset, len)?;
        buf.clear();
        buf.extend_from_slice(&b);
        Ok(())
    }
    /// True when [`RandomAccessFile::read_at`] returns a view of memory the file already
    /// holds (a map, an in-memory file): no copy and no allocation, so a reader should
    /// prefer it to [`RandomAccessFile::read_into`].
    fn reads_in_place(&self) -> bool {
        false
    }
    /// The file's size when it was opened.
    fn len(&self) -> u64;
    /// True for an empty file.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A held exclusive lock; dropping it releases the lock.
pub trait FileLock: Send + Sync + Debug + Any {}

/// Every file operation the engine uses.
pub trait FileSystem: Send + Sync + Debug {
    /// Creates a directory and its parents.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn create_dir_all(&self, dir: &Path) -> io::Result<()>;
    /// Creates (or truncates) a file for appending.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>>;
    /// Opens an existing file to keep its first `len` bytes: what lies past them (a torn
    /// tail, preallocated zeros) counts as preallocated space, which
    /// [`WritableFile::trim_preallocated`] cuts off and `sync` makes durable. Appends, if
    /// any, go at `len`. Recovery keeps the WAL segments it replayed, and the value-log file
    /// a crash left open, this way (`engine/recovery.rs`).
    ///
    /// # Errors
    ///
    /// `NotFound`; `InvalidInput` when the file is shorter than `len`; or the underlying
    /// I/O error.
    fn reopen(&self, path: &Path, len: u64) -> io::Result<Box<dyn WritableFile>>;
    /// Opens a file for reads; `mmap` asks for a memory map where the implementation has one.
    ///
    /// # Errors
    ///
    /// `NotFound`, or the underlying I/O error.
    fn open(&self, path: &Path, mmap: bool) -> io::Result<Arc<dyn RandomAccessFile>>;
    /// Renames a file, replacing the target atomically.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Names of the entries of a directory (files only matter to the engine).
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// True when a file or directory exists at `path`.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Takes an exclusive lock on `path` (creating the file). Fails with `WouldBlock` when it
    /// is held, by this process or another.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when held elsewhere, or the underlying I/O error.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;
    /// Creates `to` as a hard link to `from` where supported, else as a copy.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()>;

    /// Reads a whole file.
    ///
    /// # Errors
    ///
    /// The underlying I/O error.
    fn read_file(&self, path: &Path) -> io::Result<Bytes> {
        let f = self.open(path, false)?;
        f.read_at(0, usize::try_from(f.len()).map_err(io::Error::other)?)
    }
}

/// The error of [`FileSystem::reopen`] asked to keep `len` bytes of a file of `size`.
pub(crate) fn short_file(path: &Path, size: u64, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{} is {size} bytes, shorter than the {len} to keep",
            path.display()
        ),
    )
}

/// The default filesystem: the operating system's.
pub fn default_fs() -> Arc<dyn FileSystem> {
    Arc::new(OsFs::new())
}
