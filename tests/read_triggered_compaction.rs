//! Reads that keep probing tables past the first one compact those tables down (LevelDB's
//! seek compaction): point gets and iterators both count, every value stays as written, and
//! with `read_triggered_compaction` off the same reads leave the tables where they are.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratakv::fs::MemFs;
use stratakv::{Db, Options};

mod common;
use common::three_loads::{check_newest, key, load, newest};

const KEYS: u32 = 3000;

/// Three overlapping level-0 tables (below the trigger of 4): every key, then the even
/// ones, then the multiples of three. A key that is neither lives only in the oldest
/// table, so a get for it probes the two newer ones first.
fn three_level0_tables(read_triggered: bool) -> Db {
    let opts = Options {
        memtable_size: 1 << 20,
        read_triggered_compaction: read_triggered,
        // The idle drain (tests/idle_compaction.rs) would empty level 0 too, while writes
        // are quiet: off, so that only the read budgets decide here.
        idle_compaction_ms: 0,
        fs: Arc::new(MemFs::new()),
        ..Options::default()
    };
    let db = Db::open_with("/reads", opts).unwrap();
    for gen in 1..=3 {
        load(&db, gen, KEYS);
        db.flush().unwrap();
    }
    db.wait_for_compaction().unwrap();
    let s = db.stats();
    assert_eq!(s.levels[0].tables, 3, "{s}");
    assert_eq!(s.read_compactions, 0, "{s}");
    db
}

/// Keys only the oldest table holds.
fn oldest_only() -> impl Iterator<Item = u32> {
    (0..KEYS).filter(|i| !i.is_multiple_of(2) && !i.is_multiple_of(3))
}

/// Runs rounds of `reads` until level 0 is empty (true) or a minute has passed (false).
/// Reads pay for a compaction before they get one, so it takes many rounds.
fn level0_empties_under(db: &Db, mut reads: impl FnMut()) -> bool {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(60) {
        if db.stats().levels[0].tables == 0 {
            return true;
        }
        reads();
    }
    false
}

#[test]
fn point_gets_past_the_first_table_compact_level0() {
    let db = three_level0_tables(true);
    // Each such get charges the newest table 2 units.
    let emptied = level0_empties_under(&db, || {
        for i in oldest_only() {
            assert_eq!(db.get(key(i)).unwrap().unwrap(), newest(i).as_bytes());
        }
    });
    assert!(emptied, "level 0 stayed: {}", db.stats());
    let s = db.stats();
    assert!(s.read_compactions >= 1, "{s}");
    assert!(s.levels[1].tables >= 1, "{s}");
    check_newest(&db, KEYS);
}

#[test]
fn iterators_over_several_tables_compact_level0() {
    let db = three_level0_tables(true);
    // Each iterator merges three tables, charging the newest for two.
    let emptied = level0_empties_under(&db, || {
        for i in 0..60 {
            let (k, _) = db.range(key(i * 40)..).next().unwrap().unwrap();
            assert_eq!(k, key(i * 40).as_bytes());
        }
    });
    assert!(emptied, "level 0 stayed: {}", db.stats());
    assert!(db.stats().read_compactions >= 1);
    check_newest(&db, KEYS);
}

/// Runs `scans` (each over the whole store) at most `rounds` times, stopping once level 0
/// is empty, then waits up to 10 s (reading nothing) for a requested compaction to end.
/// True when level 0 emptied.
fn level0_empties_within(db: &Db, rounds: usize, mut scan: impl FnMut()) -> bool {
    for _ in 0..rounds {
        if db.stats().levels[0].tables == 0 {
            return true;
        }
        scan();
    }
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        if db.stats().levels[0].tables == 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// Full scans step over the older versions of the even keys and the multiples of three:
/// ~1,500 of them charged to the newest table per scan, so a few scans pay for the
/// compaction. The 64 units each iterator pays when made (2 tables past the first) would
/// take over 130 scans alone; 20 are allowed.
#[test]
fn scans_over_older_versions_compact_level0() {
    let db = three_level0_tables(true);
    let emptied = level0_empties_within(&db, 20, || {
        assert_eq!(db.iter().count(), KEYS as usize);
    });
    assert!(emptied, "level 0 stayed: {}", db.stats());
    assert!(db.stats().read_compactions >= 1);
    check_newest(&db, KEYS);
}

/// The same going backward.
#[test]
fn reverse_scans_over_older_versions_compact_level0() {
    let db = three_level0_tables(true);
    let emptied = level0_empties_within(&db, 20, || {
        let mut n = 0;
        for item in db.iter().rev() {
            let (k, v) = item.unwrap();
            let i: u32 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
            assert_eq!(v, newest(i).as_bytes());
            n += 1;
        }
        assert_eq!(n, KEYS);
    });
    assert!(emptied, "level 0 stayed: {}", db.stats());
    assert!(db.stats().read_compactions >= 1);
    check_newest(&db, KEYS);
}

#[test]
fn switched_off_the_same_reads_leave_level0_alone() {
    let db = three_level0_tables(false);
    for _ in 0..50 {
        for i in oldest_only() {
            db.get(key(i)).unwrap();
        }
        for i in 0..100 {
            db.range(key(i * 30)..).next();
        }
    }
    for _ in 0..20 {
        assert_eq!(db.iter().count(), KEYS as usize);
        assert_eq!(db.iter().rev().count(), KEYS as usize);
    }
    db.wait_for_compaction().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let s = db.stats();
    assert_eq!(s.levels[0].tables, 3, "{s}");
    assert_eq!(s.read_compactions, 0, "{s}");
    check_newest(&db, KEYS);
}
