//! An in-memory filesystem whose crash keeps only what was synced.
//!
//! State is two directory tables and a set of inodes: `live` is what the running process
//! sees; `durable` is what a power loss would leave. A file's bytes are durable up to its
//! last `sync`; a directory entry (creation, rename, removal) becomes durable only when its
//! parent directory is synced. [`MemFs::crash_clone`] builds a new filesystem from the
//! durable state alone, leaving the original (and any engine still using it) untouched.
//! Directories themselves are treated as durable on creation.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use super::{short_file, FileLock, FileSync, FileSystem, RandomAccessFile, WritableFile};

#[derive(Debug, Default)]
struct Inode {
    data: Vec<u8>,
    synced_len: usize,
    /// Length at the last `flush` and at the one before: the last write handed to the
    /// OS is what lies after the newer one, or, when nothing does, after the older one.
    flushed_len: usize,
    prev_flushed_len: usize,
    /// The size `preallocate` gave the file: past `data`, it reads as zeros.
    size: usize,
    /// `size` at the last sync: a power loss leaves the file at least this long.
    synced_size: usize,
}

impl Inode {
    /// The file's bytes as a reader sees them: the appended ones, then zeros up to the
    /// preallocated size.
    fn contents(&self) -> Vec<u8> {
        let mut v = self.data.clone();
        v.resize(self.data.len().max(self.size), 0);
        v
    }

    fn sync(&mut self) {
        self.synced_len = self.data.len();
        self.synced_size = self.size;
    }

    /// Where the last write (the bytes handed over by the last `flush`, or appended since)
    /// begins.
    fn last_write_start(&self) -> usize {
        if self.data.len() > self.flushed_len {
            self.flushed_len
        } else {
            self.prev_flushed_len
        }
    }
}

type InodeRef = Arc<Mutex<Inode>>;

#[derive(Debug, Default)]
struct State {
    live: BTreeMap<PathBuf, InodeRef>,
    durable: BTreeMap<PathBuf, InodeRef>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
}

/// An in-memory filesystem for tests of crashes and power loss. Cloning shares the files.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

/// How a simulated power loss treats the bytes written after a file's last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashMode {
    /// Drop every unsynced byte.
    DropUnsynced,
    /// Keep a prefix of the unsynced bytes, `keep` of every 256 (a torn write).
    TearUnsynced {
        /// Out of 256, how much of the unsynced tail survives.
        keep: u8,
    },
    /// Keep the unsynced bytes but flip a bit in the middle of the last write, when that
    /// write is unsynced (a sector of it half-written when power went).
    GarbleUnsynced,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn lock_inode(m: &Mutex<Inode>) -> MutexGuard<'_, Inode> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_found(p: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", p.display()),
    )
}

impl MemFs {
    /// An empty in-memory filesystem.
    pub fn new() -> Self {
        Self::default()
    }

    /// A new, independent filesystem holding only what survives a power loss now: synced
    /// bytes of files whose directory entries were synced. Locks are released.
    pub fn crash_clone(&self) -> MemFs {
        self.crash_clone_with(CrashMode::DropUnsynced)
    }

    /// Like [`MemFs::crash_clone`], with a choice of what happens to unsynced bytes.
    pub fn crash_clone_with(&self, mode: CrashMode) -> MemFs {
        let st = lock(&self.state);
        let files = st.durable.iter().map(|(path, ino)| {
            let ino = lock_inode(ino);
            let synced = ino.synced_len.min(ino.data.len());
            let mut data = ino.data[..synced].to_vec();
            let tail = &ino.data[synced..];
            match mode {
                CrashMode::DropUnsynced => {}
                CrashMode::TearUnsynced { keep } => {
                    let n = tail.len() * usize::from(keep) / 256;
                    data.extend_from_slice(&tail[..n]);
                }
                CrashMode::GarbleUnsynced => {
                    data.extend_from_slice(tail);
                    let start = ino.last_write_start().max(synced);
                    if start < data.len() {
                        let i = start + (data.len() - start) / 2;
                        data[i] ^= 0x10;
                    }
                }
            }
            // Preallocated space whose size was synced is there, reading as zeros.
            if ino.synced_size > data.len() {
                data.resize(ino.synced_size, 0);
            }
            (path.clone(), data)
        });
        Self::settled(st.dirs.clone(), files)
    }

    /// A new, independent filesystem holding what a power loss leaves when the OS had
    /// written every file and directory entry back before it, synced or not: everything the
    /// process wrote (a preallocated file at its preallocated size). Locks are released.
    /// Tests damage the copy to stage a loss of their choosing.
    pub fn written_back_clone(&self) -> MemFs {
        let st = lock(&self.state);
        let files = st
            .live
            .iter()
            .map(|(path, ino)| (path.clone(), lock_inode(ino).contents()));
        Self::settled(st.dirs.clone(), files)
    }

    /// A new, independent filesystem as a killed process leaves it: every file as written
    /// (the OS holds it), with what is durable unchanged, so that a power loss after a
    /// reopen ([`MemFs::crash_clone`] of the copy) still loses what was never synced. Locks
    /// are released.
    pub fn killed_clone(&self) -> MemFs {
        let st = lock(&self.state);
        let mut copies: BTreeMap<*const Mutex<Inode>, InodeRef> = BTreeMap::new();
        let mut copy = |ino: &InodeRef| {
            copies
                .entry(Arc::as_ptr(ino))
                .or_insert_with(|| {
                    let i = lock_inode(ino);
                    Arc::new(Mutex::new(Inode {
                        data: i.data.clone(),
                        ..*i
                    }))
                })
                .clone()
        };
        let live = st.live.iter().map(|(p, i)| (p.clone(), copy(i))).collect();
        let durable = st
            .durable
            .iter()
            .map(|(p, i)| (p.clone(), copy(i)))
            .collect();
        MemFs {
            state: Arc::new(Mutex::new(State {
                live,
                durable,
                dirs: st.dirs.clone(),
                locks: BTreeSet::new(),
            })),
        }
    }

    /// A filesystem of `dirs` and `files`, all durable, no locks held.
    fn settled(dirs: BTreeSet<PathBuf>, files: impl Iterator<Item = (PathBuf, Vec<u8>)>) -> MemFs {
        let mut out = State {
            dirs,
            ..State::default()
        };
        for (path, data) in files {
            let len = data.len();
            let node = Arc::new(Mutex::new(Inode {
                data,
                synced_len: len,
                flushed_len: len,
                prev_flushed_len: len,
                size: len,
                synced_size: len,
            }));
            out.live.insert(path.clone(), node.clone());
            out.durable.insert(path, node);
        }
        MemFs {
            state: Arc::new(Mutex::new(out)),
        }
    }

    /// Overwrites bytes of a file in place (both what the process sees and what is durable):
    /// for corruption tests.
    ///
    /// # Errors
    ///
    /// `NotFound`, or `UnexpectedEof` when the range passes the end.
    pub fn corrupt(&self, path: &Path, offset: usize, bytes: &[u8]) -> io::Result<()> {
        let st = lock(&self.state);
        let ino = st.live.get(path).ok_or_else(|| not_found(path))?;
        let mut ino = lock_inode(ino);
        let end = offset + bytes.len();
        if end > ino.data.len() {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        ino.data[offset..end].copy_from_slice(bytes);
        Ok(())
    }

    /// Truncates a file (and its durable length) to `len` bytes: for corruption tests.
    ///
    /// # Errors
    ///
    /// `NotFound` when there is no such file.
    pub fn truncate(&self, path: &Path, len: usize) -> io::Result<()> {
        let st = lock(&self.state);
        let ino = st.live.get(path).ok_or_else(|| not_found(path))?;
        let mut ino = lock_inode(ino);
        ino.data.truncate(len);
        ino.synced_len = ino.synced_len.min(len);
        ino.flushed_len = ino.flushed_len.min(len);
        ino.prev_flushed_len = ino.prev_flushed_len.min(len);
        ino.size = ino.size.min(len);
        ino.synced_size = ino.synced_size.min(len);
        Ok(())
    }

    /// Size of a file as the process sees it.
    ///
    /// # Errors
    ///
    /// `NotFound` when there is no such file.
    pub fn file_len(&self, path: &Path) -> io::Result<usize> {
        let st = lock(&self.state);
        let ino = st.live.get(path).ok_or_else(|| not_found(path))?;
        let ino = lock_inode(ino);
        Ok(ino.data.len().max(ino.size))
    }

    /// Writes every live file to the real directory `to`, at its path under it (so that a
    /// failing test's in-memory store can be kept and inspected with the `stratakv` tool).
    ///
    /// # Errors
    ///
    /// An I/O error creating or writing a file under `to`.
    pub fn save_to(&self, to: &Path) -> io::Result<()> {
        let files: Vec<(PathBuf, Vec<u8>)> = {
            let st = lock(&self.state);
            st.live
                .iter()
                .map(|(p, i)| (p.clone(), lock_inode(i).contents()))
                .collect()
        };
        for (p, data) in files {
            let dest = to.join(p.strip_prefix("/").unwrap_or(&p));
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(dest, data)?;
        }
        Ok(())
    }

    /// Total bytes of all live files.
    pub fn total_bytes(&self) -> u64 {
        let st = lock(&self.state);
        st.live
            .values()
            .map(|i| lock_inode(i).data.len() as u64)
            .sum()
    }
}

struct MemWritable {
    /// Mutations take the filesystem lock too, so a crash clone is an atomic cut.
    state: Arc<Mutex<State>>,
    ino: InodeRef,
    len: u64,
}

impl WritableFile for MemWritable {
    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        let _cut = lock(&self.state);
        let mut ino = lock_inode(&self.ino);
        // A reopened file is appended to at the length it kept (`FileSystem::reopen`).
        ino.data.resize(self.len as usize, 0);
        ino.data.extend_from_slice(data);
        self.len += data.len() as u64;
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        let _cut = lock(&self.state);
        let mut ino = lock_inode(&self.ino);
        if ino.data.len() > ino.flushed_len {
            ino.prev_flushed_len = ino.flushed_len;
            ino.flushed_len = ino.data.len();
        }
        Ok(())
    }
    fn sync(&mut self) -> io::Result<()> {
        let _cut = lock(&self.state);
        lock_inode(&self.ino).sync();
        Ok(())
    }
    fn preallocate(&mut self, len: u64) -> io::Result<()> {
        let _cut = lock(&self.state);
        let mut ino = lock_inode(&self.ino);
        let len = usize::try_from(len).map_err(io::Error::other)?;
        ino.size = ino.size.max(len);
        Ok(())
    }
    fn trim_preallocated(&mut self) -> io::Result<()> {
        let _cut = lock(&self.state);
        let mut ino = lock_inode(&self.ino);
        // A reopened file may hold bytes past the length it kept (a torn tail): cut with
        // it. (Modelled as durable at once, one outcome a power loss may leave.)
        let len = self.len as usize;
        ino.data.truncate(len);
        ino.synced_len = ino.synced_len.min(len);
        ino.flushed_len = ino.flushed_len.min(len);
        ino.prev_flushed_len = ino.prev_flushed_len.min(len);
        ino.size = len;
        Ok(())
    }
    fn len(&self) -> u64 {
        self.len
    }
    fn sync_handle(&self) -> Option<Arc<dyn FileSync>> {
        Some(Arc::new(MemSync {
            state: self.state.clone(),
            ino: self.ino.clone(),
        }))
    }
}

struct MemSync {
    state: Arc<Mutex<State>>,
    ino: InodeRef,
}

impl FileSync for MemSync {
    fn sync(&self) -> io::Result<()> {
        let _cut = lock(&self.state);
        lock_inode(&self.ino).sync();
        Ok(())
    }
}

#[derive(Debug)]
struct MemReadable {
    data: Bytes,
}

impl RandomAccessFile for MemReadable {
    fn read_at(&self, offset: u64, len: usize) -> io::Result<Bytes> {
        let end = offset.checked_add(len as u64);
        match end {
            Some(end) if end <= self.data.len() as u64 => {
                Ok(self.data.slice(offset as usize..end as usize))
            }
            _ => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }
    fn reads_in_place(&self) -> bool {
        true
    }
    fn len(&self) -> u64 {
        self.data.len() as u64
    }
}

#[derive(Debug)]
struct MemLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        lock(&self.state).locks.remove(&self.path);
    }
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

impl FileSystem for MemFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let mut p = Some(dir);
        while let Some(d) = p {
            if d.as_os_str().is_empty() {
                break;
            }
            st.dirs.insert(d.to_path_buf());
            p = d.parent();
        }
        Ok(())
    }

    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        let mut st = lock(&self.state);
        if !st.dirs.contains(&parent(path)) {
            return Err(not_found(&parent(path)));
        }
        let ino: InodeRef = Arc::default();
        st.live.insert(path.to_path_buf(), ino.clone());
        Ok(Box::new(MemWritable {
            state: self.state.clone(),
            ino,
            len: 0,
        }))
    }

    fn reopen(&self, path: &Path, len: u64) -> io::Result<Box<dyn WritableFile>> {
        let st = lock(&self.state);
        let ino = st.live.get(path).ok_or_else(|| not_found(path))?.clone();
        let size = {
            let i = lock_inode(&ino);
            i.data.len().max(i.size) as u64
        };
        if size < len {
            return Err(short_file(path, size, len));
        }
        Ok(Box::new(MemWritable {
            state: self.state.clone(),
            ino,
            len,
        }))
    }

    fn open(&self, path: &Path, _mmap: bool) -> io::Result<Arc<dyn RandomAccessFile>> {
        let st = lock(&self.state);
        let ino = st.live.get(path).ok_or_else(|| not_found(path))?;
        let data = Bytes::from(lock_inode(ino).contents());
        Ok(Arc::new(MemReadable { data }))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let ino = st.live.remove(from).ok_or_else(|| not_found(from))?;
        st.live.insert(to.to_path_buf(), ino);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.live
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        let st = lock(&self.state);
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        Ok(st
            .live
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        if !st.dirs.contains(dir) {
            return Err(not_found(dir));
        }
        st.durable.retain(|p, _| p.parent() != Some(dir));
        let entries: Vec<(PathBuf, InodeRef)> = st
            .live
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir))
            .map(|(p, i)| (p.clone(), i.clone()))
            .collect();
        st.durable.extend(entries);
        Ok(())
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let st = lock(&self.state);
        Ok(st.live.contains_key(path) || st.dirs.contains(path))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let mut st = lock(&self.state);
        if !st.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(io::ErrorKind::WouldBlock, "locked"));
        }
        if !st.live.contains_key(path) {
            st.live.insert(path.to_path_buf(), Arc::default());
        }
        Ok(Box::new(MemLock {
            state: self.state.clone(),
            path: path.to_path_buf(),
        }))
    }

    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let ino = st.live.get(from).ok_or_else(|| not_found(from))?.clone();
        st.live.insert(to.to_path_buf(), ino);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crash_keeps_only_synced_bytes_and_entries() {
        let fs = MemFs::new();
        let d = Path::new("/db");
        fs.create_dir_all(d).unwrap();
        let mut a = fs.create(&d.join("a")).unwrap();
        a.append(b"synced").unwrap();
        a.sync().unwrap();
        a.append(b"-lost").unwrap();
        fs.sync_dir(d).unwrap();
        let mut b = fs.create(&d.join("b")).unwrap();
        b.append(b"entry never synced").unwrap();
        b.sync().unwrap();

        let c = fs.crash_clone();
        assert_eq!(&c.read_file(&d.join("a")).unwrap()[..], b"synced");
        assert!(!c.exists(&d.join("b")).unwrap(), "unsynced entry is gone");

        fs.rename(&d.join("b"), &d.join("c")).unwrap();
        fs.remove_file(&d.join("a")).unwrap();
        let c2 = fs.crash_clone();
        assert!(
            c2.exists(&d.join("a")).unwrap(),
            "unsynced removal is undone"
        );
        assert!(!c2.exists(&d.join("c")).unwrap());
        fs.sync_dir(d).unwrap();
        let c3 = fs.crash_clone();
        assert!(!c3.exists(&d.join("a")).unwrap());
        assert_eq!(
            &c3.read_file(&d.join("c")).unwrap()[..],
            b"entry never synced"
        );
    }

    #[test]
    fn torn_and_garbled_tails() {
        let fs = MemFs::new();
        let d = Path::new("/db");
        fs.create_dir_all(d).unwrap();
        let mut a = fs.create(&d.join("a")).unwrap();
        a.append(b"0123").unwrap();
        a.sync().unwrap();
        fs.sync_dir(d).unwrap();
        a.append(b"45678901").unwrap();
        let torn = fs.crash_clone_with(CrashMode::TearUnsynced { keep: 128 });
        assert_eq!(&torn.read_file(&d.join("a")).unwrap()[..], b"01234567");
        let garbled = fs.crash_clone_with(CrashMode::GarbleUnsynced);
        let g = garbled.read_file(&d.join("a")).unwrap();
        assert_eq!(g.len(), 12);
        assert_ne!(&g[..], b"012345678901");
        // Only the last write handed to the OS is garbled, not the unsynced one before it.
        a.flush().unwrap();
        a.append(b"abcd").unwrap();
        a.flush().unwrap();
        let g = fs.crash_clone_with(CrashMode::GarbleUnsynced);
        let g = g.read_file(&d.join("a")).unwrap();
        assert_eq!(&g[..12], b"012345678901");
        assert_ne!(&g[12..], b"abcd");
    }

    #[test]
    fn lock_refuses_second() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let l = fs.lock(Path::new("/d/LOCK")).unwrap();
        assert!(fs.lock(Path::new("/d/LOCK")).is_err());
        drop(l);
        assert!(fs.lock(Path::new("/d/LOCK")).is_ok());
    }
}
