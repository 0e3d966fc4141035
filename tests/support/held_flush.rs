//! A store whose flushes are held: table creation waits (`FaultFs::hold`) until the test
//! lets it go, so the WAL segments that memtable freezes retire stay on disk, unsynced, for
//! tests of what a power loss does to them. Shared by `tests/wal_lost_retired_tail.rs` and
//! `tests/wal_retired_segment_damage.rs`.
#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use stratakv::fs::{FaultFs, FaultOp, FileSystem, MemFs};
use stratakv::inspect::dump::WalDump;
use stratakv::inspect::dump_wal;
use stratakv::{Db, Options, WriteOptions};

pub const DIR: &str = "/held";

/// Acknowledged writes: key -> value.
pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

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
    faults: FaultFs,
    db: Option<Db>,
    /// Writes acknowledged: `entry(0..written)`.
    pub written: u32,
}

impl Held {
    /// Opens a new store; values of `value_threshold` bytes or more are separated.
    pub fn open(value_threshold: usize) -> Held {
        let mem = MemFs::new();
        let faults = FaultFs::new(Arc::new(mem.clone()));
        faults.hold(FaultOp::Create, ".sst");
        let db = Db::open_with(DIR, options(Arc::new(faults.clone()), value_threshold)).unwrap();
        Held {
            mem,
            faults,
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
        crate::common::wal_segments(&self.mem, DIR)
    }

    /// Writes until three segments exist (two retired) and returns a written-back image
    /// of the store (every byte written, synced or not) and the segments, oldest first.
    pub fn three_segments(&mut self) -> (MemFs, Vec<PathBuf>) {
        self.write_until_segments(3);
        (self.mem.written_back_clone(), self.segments())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.faults.release();
        if let Some(db) = self.db.take() {
            let _ = db.close();
        }
    }
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
