//! Blocks of tables that compaction deleted leave the block cache: a rewrite of every table
//! leaves behind only the cached blocks of the tables that are live.

mod common;

use std::time::{Duration, Instant};

use common::tiny_mem_options;
use stratakv::fs::MemFs;
use stratakv::{Db, Options};

/// Flushes and compacts everything, then lets automatic compactions finish, so no table
/// changes under the reads that follow.
fn settle(db: &Db) {
    db.flush().unwrap();
    db.compact().unwrap();
    db.wait_for_compaction().unwrap();
}

fn read_all(db: &Db, n: u32) {
    for i in 0..n {
        assert!(db.get(format!("key{i:06}")).unwrap().is_some());
    }
}

#[test]
fn compacted_tables_leave_the_block_cache() {
    let fs = MemFs::new();
    // Only blocks that reads load, so the cache's bytes are the read tables' blocks.
    let opts = Options {
        prepopulate_block_cache: false,
        ..tiny_mem_options(&fs)
    };
    let db = Db::open_with("/db", opts).unwrap();
    const N: u32 = 4000;
    for i in 0..N {
        db.put(format!("key{i:06}"), vec![b'v'; 100]).unwrap();
    }
    settle(&db);
    read_all(&db, N);
    let cached = db.stats().block_cache_bytes;
    assert!(cached > 0);
    // Rewrite every key and compact: every table read above is deleted.
    for i in 0..N {
        db.put(format!("key{i:06}"), vec![b'w'; 100]).unwrap();
    }
    settle(&db);
    // A background thread may hold the last reference to an old version for a moment
    // after the compaction: the blocks leave when it lets go.
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.stats().block_cache_bytes >= cached / 10 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(
        db.stats().block_cache_bytes < cached / 10,
        "the deleted tables' blocks are gone: {} of {cached} bytes remain",
        db.stats().block_cache_bytes
    );
    // Reading everything again caches about as much as the first time.
    read_all(&db, N);
    let again = db.stats().block_cache_bytes;
    assert!(again <= cached * 11 / 10, "{again} vs {cached}");
}
