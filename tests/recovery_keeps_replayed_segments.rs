//! A reopen that replays WAL writes fitting in one memtable leaves them to the background
//! flush and keeps their segments until it lands (`engine/recovery.rs`). The kept segments
//! are made whole before any newer segment is synced, and the flush deletes them all.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use stratakv::fs::{FaultFs, FaultOp, MemFs};
use stratakv::{Db, Options, WriteOptions};

const DIR: &str = "/kept";

fn options(fs: Arc<dyn stratakv::fs::FileSystem>) -> Options {
    Options {
        memtable_size: 1 << 20,
        fs,
        ..Options::default()
    }
}

fn key(i: u32) -> String {
    format!("key{i:05}")
}

fn value(i: u32) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; 20 + i as usize % 30]
}

/// Writes keys `from..to`, unsynced.
fn write(db: &Db, from: u32, to: u32) {
    for i in from..to {
        db.put(key(i), value(i)).unwrap();
    }
}

/// A store killed after `n` unsynced writes: the files as the OS holds them, nothing
/// durable but the open's own syncs.
fn killed_after(n: u32) -> MemFs {
    let fs = MemFs::new();
    let db = Db::open_with(DIR, options(Arc::new(fs.clone()))).unwrap();
    write(&db, 0, n);
    let killed = fs.killed_clone();
    drop(db);
    killed
}

/// Opens `mem` with table creation held: the replayed memtable stays unflushed.
fn open_held(mem: &MemFs) -> (Db, FaultFs) {
    let faults = FaultFs::new(Arc::new(mem.clone()));
    faults.hold(FaultOp::Create, ".sst");
    let db = Db::open_with(DIR, options(Arc::new(faults.clone()))).unwrap();
    (db, faults)
}

/// A power loss now, while `db` runs on `mem` with its flushes held; then a reopen of what
/// it left.
fn lose_power(mem: &MemFs, db: Db, faults: FaultFs) -> Db {
    let lost = mem.crash_clone();
    faults.release();
    drop(db);
    Db::open_with(DIR, options(Arc::new(lost))).unwrap()
}

/// The keys `i` whose `key(i)` holds `value(i)`; panics on a wrong value.
fn present(db: &Db, upto: u32) -> BTreeSet<u32> {
    (0..upto)
        .filter(|&i| match db.get(key(i)).unwrap() {
            Some(v) => {
                assert_eq!(&v[..], &value(i)[..], "key {i}");
                true
            }
            None => false,
        })
        .collect()
}

fn wal_count(fs: &MemFs) -> usize {
    common::files_ending(fs, DIR, ".wal").len()
}

#[test]
fn a_sync_after_the_open_makes_the_kept_segments_whole() {
    let killed = killed_after(300);
    let (db, faults) = open_held(&killed);
    assert_eq!(db.stats().recovery.wal_files_kept, 1);
    assert_eq!(db.stats().recovery.tables_written, 0);
    // A synced write: its segment's sync mark declares the kept one whole, so that one
    // must be trimmed to its records and fsynced first.
    db.put_with(key(300), value(300), WriteOptions { sync: true })
        .unwrap();
    let db = lose_power(&killed, db, faults);
    assert_eq!(present(&db, 301), (0..301).collect());
}

#[test]
fn a_power_loss_before_any_sync_keeps_a_prefix() {
    let killed = killed_after(300);
    let (db, faults) = open_held(&killed);
    write(&db, 300, 400);
    let db = lose_power(&killed, db, faults);
    let got = present(&db, 400);
    let n = got.len() as u32;
    assert_eq!(got, (0..n).collect(), "a prefix of the writes");
}

#[test]
fn the_flush_deletes_every_kept_segment() {
    // Killed twice before the replayed memtable was flushed: the second open replays both
    // segments into one memtable.
    let killed = killed_after(200);
    let (db, faults) = open_held(&killed);
    write(&db, 200, 300);
    let twice = killed.killed_clone();
    faults.release();
    drop(db);
    let (db, faults) = open_held(&twice);
    assert_eq!(db.stats().recovery.wal_files_kept, 2);
    assert_eq!(wal_count(&twice), 3);
    faults.release();
    db.flush().unwrap();
    assert_eq!(db.stats().levels[0].tables, 1);
    assert_eq!(present(&db, 300), (0..300).collect());
    // The flush deletes the segments after it has counted as done: once its thread has
    // ended (the close joins it), they are gone.
    db.close().unwrap();
    assert_eq!(wal_count(&twice), 1, "only the new segment is left");
    let db = Db::open_with(DIR, options(Arc::new(twice.crash_clone()))).unwrap();
    assert_eq!(present(&db, 300), (0..300).collect());
}

#[test]
fn reopens_keep_a_bounded_number_of_segments() {
    let killed = killed_after(100);
    let mut seen = Vec::new();
    loop {
        // Every flush fails: the replayed memtable is never written, and each open adds
        // its new segment to those the next one replays.
        let faults = FaultFs::new(Arc::new(killed.clone()));
        faults.fail_path(FaultOp::Create, ".sst");
        let Ok(db) = Db::open_with(DIR, options(Arc::new(faults))) else {
            break; // this open wrote the replay to a table, and the fault failed it
        };
        seen.push(db.stats().recovery.wal_files_kept);
        drop(db);
        assert!(seen.len() < 10, "{seen:?}");
    }
    assert_eq!(seen, [1, 2, 3, 4], "kept segments per open");
    let db = Db::open_with(DIR, options(Arc::new(killed.clone()))).unwrap();
    assert_eq!(db.stats().recovery.tables_written, 1);
    assert_eq!(db.stats().recovery.wal_files_kept, 0);
    assert_eq!(present(&db, 100), (0..100).collect());
    assert_eq!(wal_count(&killed), 1);
}
