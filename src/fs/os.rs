//! The operating system's filesystem.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use super::{FileLock, FileSync, FileSystem, RandomAccessFile, WritableFile};

/// Files on the operating system's filesystem.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsFs;

impl OsFs {
    /// The OS filesystem.
    pub fn new() -> Self {
        OsFs
    }
}

/// Paths locked by this process: `flock` alone would let the same process lock twice through
/// one descriptor, so a second in-process open is refused here (RELIABILITY rule 7).
fn locked_in_process() -> &'static Mutex<HashSet<PathBuf>> {
    static SET: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

const WRITE_BUFFER_BYTES: usize = 64 * 1024;

struct OsWritable {
    file: File,
    buf: Vec<u8>,
    len: u64,
    /// The file's size when preallocated past `len` (`set_len`: a sparse extension, which
    /// measured as fast as `fallocate` for the syncs that follow, with no disk space taken).
    size: u64,
}

impl WritableFile for OsWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if self.buf.len() + data.len() > WRITE_BUFFER_BYTES {
            self.flush()?;
        }
        if data.len() >= WRITE_BUFFER_BYTES {
            self.file.write_all(data)?;
        } else {
            self.buf.extend_from_slice(data);
        }
        self.len += data.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let r = self.file.write_all(&self.buf);
            self.buf.clear();
            r?;
        }
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.file.sync_data()
    }
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        if len > self.size.max(self.len) {
            self.file.set_len(len)?;
            self.size = len;
        }
        Ok(())
    }
    fn trim_preallocated(&mut self) -> io::Result<()> {
        if self.size > self.len {
            self.flush()?;
            self.file.set_len(self.len)?;
            self.size = self.len;
        }
        Ok(())
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn sync_handle(&self) -> Option<Arc<dyn FileSync>> {
        // A duplicate descriptor: fsync on it flushes the file, whichever descriptor wrote.
        let dup = self.file.try_clone().ok()?;
        Some(Arc::new(OsSync(dup)))
    }
}

struct OsSync(File);

impl FileSync for OsSync {
    fn sync(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

#[derive(Debug)]
struct PreadFile {
    file: File,
    len: u64,
}

impl RandomAccessFile for PreadFile {
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        check_range(offset, len, self.len)?;
        let mut buf = vec![0u8; len];
        // read_exact_at loops over short reads and retries EINTR (RELIABILITY rule 8).
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(Bytes::from(buf))
    }
    fn len(&self) -> u64 {
        self.len
    }
}

#[derive(Debug)]
struct MmapFile {
    data: Bytes,
}

impl RandomAccessFile for MmapFile {
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        check_range(offset, len, self.data.len() as u64)?;
        let start = offset as usize;
        Ok(self.data.slice(start..start + len))
    }
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
}

fn check_range(offset: u64, len: usize, file_len: u64) -> io::Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= file_len => Ok(()),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("read of {len} bytes at {offset} passes the end ({file_len} bytes)"),
        )),
    }
}

#[derive(Debug)]
struct OsLock {
    _file: File,
    path: PathBuf,
}

impl FileLock for OsLock {}

impl Drop for OsLock {
    fn drop(&mut self) {
        if let Ok(mut set) = locked_in_process().lock() {
            set.remove(&self.path);
        }
    }
}

impl FileSystem for OsFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(Box::new(OsWritable {
            file,
            buf: Vec::with_capacity(WRITE_BUFFER_BYTES),
            len: 0,
            size: 0,
        }))
    }

    fn open(&self, path: &Path, mmap: bool) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if mmap && len > 0 {
            // SAFETY: the engine maps only immutable files (tables, finished logs) that it
            // never writes or truncates while a map exists; another process changing them
            // would be outside the engine's contract (the directory is locked).
            let map = unsafe { memmap2::Mmap::map(&file)? };
            return Ok(Arc::new(MmapFile {
                data: Bytes::from_owner(map),
            }));
        }
        Ok(Arc::new(PreadFile { file, len }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir)? {
            let e = e?;
            if let Some(n) = e.file_name().to_str() {
                out.push(n.to_string());
            }
        }
        out.sort();
        Ok(out)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let canon = std::fs::canonicalize(path)?;
        {
            let mut set = locked_in_process()
                .lock()
                .map_err(|_| io::Error::other("lock registry poisoned"))?;
            if !set.insert(canon.clone()) {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "locked in this process",
                ));
            }
        }
        match file.try_lock() {
            Ok(()) => Ok(Box::new(OsLock {
                _file: file,
                path: canon,
            })),
            Err(e) => {
                if let Ok(mut set) = locked_in_process().lock() {
                    set.remove(&canon);
                }
                Err(match e {
                    std::fs::TryLockError::WouldBlock => {
                        io::Error::new(io::ErrorKind::WouldBlock, "locked by another process")
                    }
                    std::fs::TryLockError::Error(e) => e,
                })
            }
        }
    }

    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        match std::fs::hard_link(from, to) {
            Ok(()) => Ok(()),
            Err(_) => std::fs::copy(from, to).map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_both_ways() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let p = dir.path().join("f");
        let mut w = fs.create(&p).unwrap();
        w.append(b"hello ").unwrap();
        w.append(&vec![b'x'; 100_000]).unwrap();
        w.sync().unwrap();
        assert_eq!(w.len(), 100_006);
        for mmap in [false, true] {
            let r = fs.open(&p, mmap).unwrap();
            assert_eq!(r.len(), 100_006);
            assert_eq!(&r.read_at(0, 6).unwrap()[..], b"hello ");
            assert_eq!(
                r.read_at(100_000, 10).unwrap_err().kind(),
                io::ErrorKind::UnexpectedEof
            );
        }
    }

    #[test]
    fn lock_is_exclusive_in_process() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let p = dir.path().join("LOCK");
        let l = fs.lock(&p).unwrap();
        assert_eq!(fs.lock(&p).unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(l);
        fs.lock(&p).unwrap();
    }
}
