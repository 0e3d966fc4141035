//! Compaction keeps space close to the live data: overwriting the same 100K keys ten times
//! leaves under 2x the live bytes after `compact()`, and deleting every key then
//! `compact()` leaves (almost) nothing but the open WAL segment's preallocated space.

mod common;

use common::Rng;
use stratakv::{Db, Options};

#[test]
fn overwrites_then_deletes_compact_away() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        memtable_size: 1 << 20,
        base_level_size: 4 << 20,
        target_file_size: 1 << 20,
        ..Options::default()
    };
    let db = Db::open_with(dir.path(), opts).unwrap();
    let mut rng = Rng::new(5);
    let n = 100_000u32;
    let value_len = 100;
    for _round in 0..10 {
        for i in 0..n {
            db.put(format!("key{i:08}"), rng.bytes(value_len)).unwrap();
        }
    }
    db.compact().unwrap();
    let live = u64::from(n) * (11 + value_len as u64);
    let on_disk = common::dir_bytes(dir.path());
    let s = db.stats();
    println!("live {live} bytes, on disk {on_disk} bytes\n{s}");
    assert!(on_disk < 2 * live, "on disk {on_disk} >= 2 x live {live}");
    assert!(s.compactions > 0);
    assert_eq!(db.iter().count(), n as usize);

    for i in 0..n {
        db.delete(format!("key{i:08}")).unwrap();
    }
    db.compact().unwrap();
    let s = db.stats();
    let tables: usize = s.levels.iter().map(|l| l.tables).sum();
    let on_disk = common::dir_bytes(dir.path());
    println!("after deleting everything: {tables} tables, {on_disk} bytes on disk");
    assert_eq!(tables, 0, "every tombstone and value dropped");
    // The open WAL segment holds its preallocated (fallocated) step besides.
    let wal_reserve = stratakv::wal::WAL_PREALLOCATE_STEP;
    assert!(on_disk < (64 << 10) + wal_reserve, "{on_disk} bytes left");
    assert_eq!(db.iter().count(), 0);
}
