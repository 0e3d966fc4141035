//! The operating system's filesystem.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use super::append_map::AppendMap;
use super::{short_file, FileLock, FileSync, FileSystem, RandomAccessFile, WritableFile};

/// Files on the operating system's filesystem.
///
/// Preallocated files (the WAL's segments) take their appends through a memory map of
/// `fallocate`d space on ext4, xfs and tmpfs under Linux, and through `write(2)` elsewhere;
/// see [`OsFs::with_mapped_appends`].
#[derive(Debug, Clone, Copy)]
pub struct OsFs {
    mapped_appends: bool,
}

impl Default for OsFs {
    fn default() -> Self {
        OsFs::new()
    }
}

impl OsFs {
    /// The OS filesystem, with mapped appends where they are safe.
    pub fn new() -> Self {
        OsFs {
            mapped_appends: true,
        }
    }

    /// Whether appends to preallocated files may go through a memory map (default true).
    /// Where they do (Linux; ext4, xfs, tmpfs), a WAL append is a `memcpy` into the page
    /// cache instead of a `write(2)` (fillseq ~1.4x faster on this project's VM), at one
    /// cost: a page fault the filesystem cannot serve (say, it went read-only after an
    /// error) kills the process with `SIGBUS` instead of failing the write. Either
    /// way writes stop and nothing acknowledged is lost; `false` keeps every append a
    /// `write(2)`, which reports such failures as errors.
    pub fn with_mapped_appends(self, on: bool) -> Self {
        OsFs { mapped_appends: on }
    }
}

/// Paths locked by this process: `flock` alone would let the same process lock twice through
/// one descriptor, so a second in-process open is refused here (RELIABILITY rule 7).
fn locked_in_process() -> &'static Mutex<HashSet<PathBuf>> {
    static SET: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    SET.get_or_init(|| Mutex::new(HashSet::new()))
}

const WRITE_BUFFER_BYTES: usize = 64 * 1024;
/// Appends at least this long skip the buffer (written after what it holds): copying them
/// into it first moved their bytes twice to save at most one write call (a value-log group
/// is appended and flushed at once).
const DIRECT_WRITE_BYTES: usize = 16 * 1024;

struct OsWritable {
    file: File,
    /// Appended bytes not yet handed to the OS; they end at `len`.
    buf: Vec<u8>,
    len: u64,
    /// The file's size when preallocated past `len`: `fallocate`d and mapped (`map`) where
    /// mapped appends are on and safe, else a sparse `set_len` (which measured as fast as
    /// `fallocate` for the syncs that follow).
    size: u64,
    mapped_appends: bool,
    /// The preallocated space from the append position on, when mapped (the map may reach
    /// past it, see `AppendMap`): appends that fit go straight into it (`buf` is empty
    /// then); one that does not, and all after it until the next preallocation, go through
    /// `buf` and `write(2)`.
    map: Option<AppendMap>,
}

impl WritableFile for OsWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        if let Some(m) = &mut self.map {
            if m.write_at(self.len, data) {
                self.len += data.len() as u64;
                return Ok(());
            }
        }
        if data.len() >= DIRECT_WRITE_BYTES {
            self.flush()?;
            // Positional: mapped appends do not move the descriptor's offset.
            self.file.write_all_at(data, self.len)?;
        } else {
            if self.buf.len() + data.len() > WRITE_BUFFER_BYTES {
                self.flush()?;
            }
            self.buf.extend_from_slice(data);
        }
        self.len += data.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        if !self.buf.is_empty() {
            let at = self.len - self.buf.len() as u64;
            let r = self.file.write_all_at(&self.buf, at);
            self.buf.clear();
            r?;
        }
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        // fdatasync also writes back the pages stored to through the map.
        self.flush()?;
        self.file.sync_data()
    }
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let from = self.size.max(self.len);
        if len <= from {
            return Ok(());
        }
        // The bytes appended so far go first, so the map starts at the append position.
        self.flush()?;
        if self
            .map
            .as_mut()
            .is_some_and(|m| m.grow(&self.file, from, len))
        {
            self.size = len;
            return Ok(());
        }
        self.map = None;
        self.map = if self.mapped_appends {
            AppendMap::allocate(&self.file, self.len, from, len)
        } else {
            None
        };
        if self.map.is_none() {
            self.file.set_len(len)?;
        }
        self.size = len;
        Ok(())
    }
    fn trim_preallocated(&mut self) -> io::Result<()> {
        // Unmapped first: no page of a map may lie past the file's end.
        self.map = None;
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
        Ok(Bytes::from(read_exact_at(&self.file, offset, len)?))
    }
    fn read_into(&self, offset: u64, len: usize, buf: &mut Vec<u8>) -> io::Result<()> {
        check_range(offset, len, self.len)?;
        // Zeroes only what the buffer never held: a reused buffer is overwritten in place.
        buf.resize(len, 0);
        // std's `read_exact_at` loops over short reads and retries `EINTR` (rule 8).
        self.file.read_exact_at(buf, offset)
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
    fn reads_in_place(&self) -> bool {
        true
    }
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
}

/// Opens `path` read-only; on Linux without access-time updates (`O_NOATIME`) where the
/// kernel allows it (the process owns the file), so that a read is not also a check of
/// whether the inode's access time is due (`touch_atime`: 1.4% of 1-thread 100-byte random
/// reads with a block-cache miss rate of ~40%, on this project's VM). Elsewhere, or when the
/// kernel refuses the flag (`EPERM`: a file owned by another user), a plain open.
fn open_for_reads(path: &Path) -> io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let noatime = rustix::fs::OFlags::NOATIME.bits().cast_signed();
        match std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(noatime)
            .open(path)
        {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::PERM.raw_os_error()) => {}
            r => return r,
        }
    }
    File::open(path)
}

/// Reads exactly `len` bytes at `offset`, looping over short reads and retrying `EINTR`
/// (RELIABILITY rule 8). On Linux the buffer is not zeroed first: the kernel fills its
/// spare capacity (a 64 KiB value-log read spent 7% of a scan in `memset`).
#[cfg(target_os = "linux")]
fn read_exact_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(len);
    while buf.len() < len {
        let at = offset + buf.len() as u64;
        match rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buf), at) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file ended {} bytes into a read of {len} at {offset}",
                        buf.len()
                    ),
                ))
            }
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(buf)
}

/// Reads exactly `len` bytes at `offset` (std's `read_exact_at` loops over short reads and
/// retries `EINTR`: RELIABILITY rule 8).
#[cfg(not(target_os = "linux"))]
fn read_exact_at(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, offset)?;
    Ok(buf)
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

impl OsFs {
    fn create_writable(&self, path: &Path) -> io::Result<OsWritable> {
        // Readable too: a shared writable map needs a descriptor open for reading.
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        Ok(OsWritable {
            file,
            buf: Vec::with_capacity(WRITE_BUFFER_BYTES),
            len: 0,
            size: 0,
            mapped_appends: self.mapped_appends,
            map: None,
        })
    }
}

impl FileSystem for OsFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        Ok(Box::new(self.create_writable(path)?))
    }

    fn reopen(&self, path: &Path, len: u64) -> io::Result<Box<dyn WritableFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let size = file.metadata()?.len();
        if size < len {
            return Err(short_file(path, size, len));
        }
        Ok(Box::new(OsWritable {
            file,
            buf: Vec::new(),
            len,
            size,
            // Never mapped: the bytes past `len` are not this writer's preallocation.
            mapped_appends: false,
            map: None,
        }))
    }

    fn open(&self, path: &Path, mmap: bool) -> io::Result<Arc<dyn RandomAccessFile>> {
        let file = open_for_reads(path)?;
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

    #[cfg(target_os = "linux")]
    #[test]
    fn files_this_process_owns_open_without_access_time_updates() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"data").unwrap();
        let f = open_for_reads(&p).unwrap();
        let flags = rustix::fs::fcntl_getfl(&f).unwrap();
        assert!(flags.contains(rustix::fs::OFlags::NOATIME), "{flags:?}");
        let mut buf = [0u8; 4];
        std::os::unix::fs::FileExt::read_exact_at(&f, &mut buf, 0).unwrap();
        assert_eq!(&buf, b"data");
    }

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

    /// Explicit reads return exactly the bytes asked for, whole and at any offset, also
    /// into a reused buffer that held a longer or shorter read before; a file cut short
    /// after it was opened fails the read with `UnexpectedEof` (no partial or stale bytes),
    /// as a read past the known length does.
    #[test]
    fn explicit_reads_are_exact_and_fail_past_a_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let fs = OsFs::new();
        let p = dir.path().join("f");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut w = fs.create(&p).unwrap();
        w.append(&data).unwrap();
        w.sync().unwrap();
        let r = fs.open(&p, false).unwrap();
        assert!(!r.reads_in_place());
        assert!(fs.open(&p, true).unwrap().reads_in_place());
        let mut buf = vec![0xEE; 70_000];
        for (off, len) in [
            (0, 200_000),
            (1, 65_536),
            (123_457, 4096),
            (199_999, 1),
            (5, 0),
            (7, 150_000),
        ] {
            let got = r.read_at(off as u64, len).unwrap();
            assert_eq!(&got[..], &data[off..off + len], "{len} bytes at {off}");
            r.read_into(off as u64, len, &mut buf).unwrap();
            assert_eq!(
                &buf[..],
                &data[off..off + len],
                "{len} bytes at {off}, into"
            );
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(100_000)
            .unwrap();
        assert_eq!(
            &r.read_at(90_000, 10_000).unwrap()[..],
            &data[90_000..100_000]
        );
        assert_eq!(
            r.read_at(90_000, 20_000).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        assert_eq!(
            r.read_into(90_000, 20_000, &mut buf).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    /// Appends around and across preallocation steps, with mapped appends on and off, read
    /// back through another descriptor before and after a sync and a trim.
    #[test]
    fn preallocated_appends_read_back() {
        for mapped in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("log");
            let mut w = OsFs::new()
                .with_mapped_appends(mapped)
                .create_writable(&p)
                .unwrap();
            let mut expect = b"header".to_vec();
            w.append(b"header").unwrap();
            let mut size = 0;
            let mut first_map = None;
            for (i, n) in [10usize, 4000, 5000, 70_000, 1, 300, 9000]
                .into_iter()
                .enumerate()
            {
                if i % 2 == 0 {
                    size = w.len() + 8192;
                    w.preallocate(size).unwrap();
                    let can_map = super::super::append_map::in_place_filesystem(&w.file);
                    assert_eq!(w.map.is_some(), mapped && can_map, "mapped {mapped}");
                    // Every step here falls inside the first map's window: it is kept.
                    let start = w.map.as_ref().map(|m| m.start());
                    first_map = first_map.or(start);
                    assert_eq!(start, first_map, "step {i}: the map was replaced");
                }
                // Some appends overrun the preallocated (and mapped) space.
                let rec: Vec<u8> = (0..n).map(|j| (i * 31 + j) as u8).collect();
                w.append(&rec).unwrap();
                expect.extend_from_slice(&rec);
                size = size.max(w.len());
                // Visible to another descriptor at once (a process crash would keep it).
                w.flush().unwrap();
                let got = std::fs::read(&p).unwrap();
                assert_eq!(
                    &got[..expect.len()],
                    &expect[..],
                    "mapped {mapped}, step {i}"
                );
                assert!(got[expect.len()..].iter().all(|&b| b == 0));
                assert_eq!(got.len() as u64, size.max(expect.len() as u64));
            }
            w.sync().unwrap();
            w.trim_preallocated().unwrap();
            w.append(b"tail").unwrap();
            expect.extend_from_slice(b"tail");
            w.sync().unwrap();
            drop(w);
            assert_eq!(std::fs::read(&p).unwrap(), expect, "mapped {mapped}");
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
