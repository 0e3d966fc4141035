//! Flushes and compactions offer the blocks they write to the block cache: point reads of
//! freshly flushed or compacted tables miss nothing. With `prepopulate_block_cache` off,
//! the same reads miss once per block.

mod common;

use common::tiny_mem_options;
use stratakv::fs::MemFs;
use stratakv::{Db, Options};

const N: u32 = 3000;

/// Block-cache misses while reading every key once.
fn misses_reading_all(db: &Db) -> u64 {
    let before = db.stats().block_cache_misses;
    for i in 0..N {
        let v = db.get(format!("key{i:06}")).unwrap().unwrap();
        assert_eq!(v.len(), 100);
    }
    db.stats().block_cache_misses - before
}

/// Misses after a flush, then after a full compaction of a rewrite.
fn misses(prepopulate: bool) -> (u64, u64) {
    let fs = MemFs::new();
    let opts = Options {
        prepopulate_block_cache: prepopulate,
        block_cache_size: 8 << 20,
        memtable_size: 1 << 20,
        ..tiny_mem_options(&fs)
    };
    let db = Db::open_with("/db", opts).unwrap();
    for i in 0..N {
        db.put(format!("key{i:06}"), vec![b'v'; 100]).unwrap();
    }
    db.flush().unwrap();
    let after_flush = misses_reading_all(&db);
    for i in 0..N {
        db.put(format!("key{i:06}"), vec![b'w'; 100]).unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    db.wait_for_compaction().unwrap();
    let s = db.stats();
    assert!(s.compactions > 0, "{s}");
    assert_eq!(s.levels[0].tables, 0, "{s}");
    let after_compaction = misses_reading_all(&db);
    (after_flush, after_compaction)
}

#[test]
fn fresh_tables_are_read_from_the_cache() {
    assert_eq!(misses(true), (0, 0));
    let (flush, compaction) = misses(false);
    assert!(
        flush > 10 && compaction > 10,
        "{flush} and {compaction} misses"
    );
}
