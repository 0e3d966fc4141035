//! Once writes stop and reads pay for level 0, the compaction threads drain it into level 1,
//! memtable included (`Options::idle_compaction_ms`): every value stays as written, reads
//! alone or writes that keep coming leave level 0 as it is.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratakv::fs::MemFs;
use stratakv::{Db, Options};

mod common;
use common::three_loads::{check_newest, key, load, newest};

const KEYS: u32 = 2000;

/// Two overlapping level-0 tables (below the trigger of 4), every key then the even ones,
/// and the multiples of three in the memtable.
fn two_tables_and_a_memtable(idle_ms: u64) -> Db {
    two_tables_and_a_memtable_on(Arc::new(MemFs::new()), idle_ms)
}

fn two_tables_and_a_memtable_on(fs: Arc<MemFs>, idle_ms: u64) -> Db {
    let opts = Options {
        memtable_size: 1 << 20,
        idle_compaction_ms: idle_ms,
        fs,
        ..Options::default()
    };
    let db = Db::open_with("/idle", opts).unwrap();
    for gen in 1..=3 {
        load(&db, gen, KEYS);
        if gen < 3 {
            db.flush().unwrap();
        }
    }
    // Below every trigger: no compaction starts (`wait_for_compaction` would flush).
    let s = db.stats();
    assert_eq!(s.levels[0].tables, 2, "{s}");
    assert!(s.memtable_entries > 0, "{s}");
    db
}

/// A few gets of keys only the oldest table holds: each probes the newer one first and
/// charges it, far too little to exhaust its read budget.
fn a_few_reads_past_level0(db: &Db) {
    for i in [1, 5, 7, 11] {
        assert_eq!(db.get(key(i)).unwrap().unwrap(), newest(i).as_bytes());
    }
}

/// Polls until level 0 and the memtable are empty (true) or `limit` passes (false).
fn drained_within(db: &Db, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        let s = db.stats();
        if s.levels[0].tables == 0 && s.memtable_entries == 0 && s.immutable_memtables == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

#[test]
fn reads_after_writes_stop_drain_level0_and_the_memtable() {
    let fs = Arc::new(MemFs::new());
    let db = two_tables_and_a_memtable_on(fs.clone(), 100);
    a_few_reads_past_level0(&db);
    assert!(
        drained_within(&db, Duration::from_secs(60)),
        "{}",
        db.stats()
    );
    let s = db.stats();
    assert!(s.idle_compactions >= 1, "{s}");
    assert_eq!(s.read_compactions, 0, "the read budgets were not exhausted");
    assert!(s.levels[1].tables >= 1, "{s}");
    check_newest(&db, KEYS);
    // And after a reopen.
    db.close().unwrap();
    let db = Db::open_with(
        "/idle",
        Options {
            fs,
            memtable_size: 1 << 20,
            ..Options::default()
        },
    )
    .unwrap();
    check_newest(&db, KEYS);
}

#[test]
fn without_reads_level0_stays() {
    let db = two_tables_and_a_memtable(50);
    std::thread::sleep(Duration::from_millis(1000));
    let s = db.stats();
    assert_eq!(s.levels[0].tables, 2, "{s}");
    assert_eq!(s.idle_compactions, 0, "{s}");
    assert!(s.memtable_entries > 0, "{s}");
}

#[test]
fn writes_that_keep_coming_hold_the_drain_off() {
    let db = two_tables_and_a_memtable(1000);
    a_few_reads_past_level0(&db);
    // A write every 10 ms for 3 s: never a second without one.
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < Duration::from_secs(3) {
        db.put(key(n % 3 * 3), newest(n % 3 * 3)).unwrap();
        n += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let s = db.stats();
    assert_eq!(s.levels[0].tables, 2, "{s}");
    assert_eq!(s.idle_compactions, 0, "{s}");
    // Quiet now: the drain follows.
    assert!(
        drained_within(&db, Duration::from_secs(60)),
        "{}",
        db.stats()
    );
    check_newest(&db, KEYS);
}

#[test]
fn zero_turns_the_drain_off() {
    let db = two_tables_and_a_memtable(0);
    a_few_reads_past_level0(&db);
    std::thread::sleep(Duration::from_millis(1000));
    let s = db.stats();
    assert_eq!(s.levels[0].tables, 2, "{s}");
    assert_eq!(s.idle_compactions, 0, "{s}");
}
