//! A store whose flushes are held: its filesystem makes table creation wait until the test
//! lets it go, so the WAL segments that memtable freezes retire stay on disk, unsynced, for
//! tests of what a power loss does to them. Shared by `tests/wal_lost_retired_tail.rs` and
//! `tests/wal_retired_segment_damage.rs`.
#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use bytes::Bytes;
use stratakv::fs::{FileLock, FileSystem, MemFs, RandomAccessFile, WritableFile};
use stratakv::inspect::dump::WalDump;
use stratakv::inspect::dump_wal;
use stratakv::{Db, Options, WriteOptions};

pub const DIR: &str = "/held";

/// Acknowledged writes: key -> value.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Default)]
struct Gate {
    open: Mutex<bool>,
    cv: Condvar,
}

/// A [`MemFs`] whose `create` of a table waits while the gate is shut.
#[derive(Debug)]
struct HeldFs {
    inner: MemFs,
    gate: Arc<Gate>,
}

impl FileSystem for HeldFs {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.inner.create_dir_all(dir)
    }
    fn create(&self, path: &Path) -> io::Result<Box<dyn WritableFile>> {
        if path.extension().is_some_and(|e| e == "sst") {
            let mut open = self.gate.open.lock().unwrap();
            while !*open {
                open = self.gate.cv.wait(open).unwrap();
            }
        }
        self.inner.create(path)
    }
    fn open(&self, path: &Path, mmap: bool) -> io::Result<Arc<dyn RandomAccessFile>> {
        self.inner.open(path, mmap)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn list_dir(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(dir)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.inner.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.inner.lock(path)
    }
    fn link_or_copy(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.link_or_copy(from, to)
    }
    fn read_file(&self, path: &Path) -> io::Result<Bytes> {
        self.inner.read_file(path)
    }
}

/// Options for the held store and for reopening its images: 64 KiB memtables, room for
/// eight frozen ones, values of `value_threshold` bytes or more in the value log.
pub fn options(fs: Arc<dyn FileSystem>, value_threshold: usize) -> Options {
    Options {
        memtable_size: 64 << 10,
        max_immutable_memtables: 8,
        value_threshold,
        vlog_gc_background: false,
        fs,
        ..Options::default()
    }
}

/// The key and value of write `i`.
pub fn entry(i: u32) -> (Vec<u8>, Vec<u8>) {
    let key = format!("key{i:06}").into_bytes();
    let value = vec![b'a' + (i % 26) as u8; 1000 + (i % 7) as usize];
    (key, value)
}

/// The first `n` writes.
pub fn prefix(n: u32) -> Model {
    (0..n).map(entry).collect()
}

/// An open store whose flushes wait, and the writes acknowledged so far.
pub struct Held {
    pub mem: MemFs,
    gate: Arc<Gate>,
    db: Option<Db>,
    /// Writes acknowledged: `entry(0..written)`.
    pub written: u32,
}

impl Held {
    /// Opens a new store; values of `value_threshold` bytes or more are separated.
    pub fn open(value_threshold: usize) -> Held {
        let mem = MemFs::new();
        let gate = Arc::new(Gate::default());
        let fs = Arc::new(HeldFs {
            inner: mem.clone(),
            gate: gate.clone(),
        });
        let db = Db::open_with(DIR, options(fs, value_threshold)).unwrap();
        Held {
            mem,
            gate,
            db: Some(db),
            written: 0,
        }
    }

    /// Writes the next entry, fsynced when `sync`.
    pub fn write(&mut self, sync: bool) {
        let (k, v) = entry(self.written);
        let db = self.db.as_ref().expect("open");
        db.put_with(&k, &v, WriteOptions { sync }).unwrap();
        self.written += 1;
    }

    /// Writes unsynced entries until `n` WAL segments exist and the newest holds a record.
    pub fn write_until_segments(&mut self, n: usize) {
        while self.segments().len() < n {
            self.write(false);
        }
        self.write(false);
    }

    /// The WAL segments on disk, oldest first.
    pub fn segments(&self) -> Vec<PathBuf> {
        wal_segments(&self.mem)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        *self.gate.open.lock().unwrap() = true;
        self.gate.cv.notify_all();
        if let Some(db) = self.db.take() {
            let _ = db.close();
        }
    }
}

/// The WAL segments of the store in `fs`, oldest first.
pub fn wal_segments(fs: &MemFs) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs
        .list_dir(Path::new(DIR))
        .unwrap()
        .into_iter()
        .filter(|n| n.ends_with(".wal"))
        .map(|n| Path::new(DIR).join(n))
        .collect();
    v.sort();
    v
}

/// The records of a segment.
pub fn dump(fs: &MemFs, path: &Path) -> WalDump {
    dump_wal(fs, path).unwrap()
}

/// How many writes segments before `upto` (an index into `segments`) hold: the writes are
/// one per record, numbered from 0.
pub fn writes_before(fs: &MemFs, segments: &[PathBuf], upto: usize) -> u32 {
    segments[..upto]
        .iter()
        .map(|s| dump(fs, s).records.len() as u32)
        .sum()
}

/// Opens the image `fs`, checks that it holds exactly `expected`, and returns the number
/// of WAL records recovery dropped after a lost write; a second open must then find
/// everything in place and drop nothing.
pub fn reopen(fs: &MemFs, value_threshold: usize, expected: &Model) -> u64 {
    let db = Db::open_with(DIR, options(Arc::new(fs.clone()), value_threshold))
        .unwrap_or_else(|e| panic!("recovery: {e}"));
    let dropped = db.stats().recovery.wal_records_dropped;
    assert_eq!(&crate::common::scan_all(&db), expected, "first open");
    db.close().unwrap();
    let db = Db::open_with(DIR, options(Arc::new(fs.clone()), value_threshold)).unwrap();
    assert_eq!(db.stats().recovery.wal_records_dropped, 0, "second open");
    assert_eq!(&crate::common::scan_all(&db), expected, "second open");
    db.close().unwrap();
    dropped
}
