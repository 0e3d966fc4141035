//! More tables than `max_open_files`: reads close and reopen tables, never hold more open
//! than the bound (iterators aside), and always return the right values.

mod common;

use common::{tiny_mem_options, Rng};
use stratakv::fs::MemFs;
use stratakv::{Db, Options};

#[test]
fn reads_reopen_evicted_tables_within_the_bound() {
    let fs = MemFs::new();
    let opts = Options {
        max_open_files: 16,
        // No block cache: every read goes to the table's file.
        block_cache_size: 0,
        ..tiny_mem_options(&fs)
    };
    let db = Db::open_with("/db", opts).unwrap();
    let value = |i: u64| format!("value-{i}-{}", "x".repeat(100)).into_bytes();
    for i in 0..20_000u64 {
        db.put(format!("key{i:08}"), value(i)).unwrap();
    }
    db.flush().unwrap();
    let tables: usize = db.stats().levels.iter().map(|l| l.tables).sum();
    assert!(
        tables > 20,
        "only {tables} tables: the test needs more than 16"
    );
    let mut rng = Rng::new(7);
    for _ in 0..5_000 {
        let i = rng.below(20_000);
        let got = db.get(format!("key{i:08}")).unwrap();
        assert_eq!(got.as_deref(), Some(&value(i)[..]), "key {i}");
        assert!(db.stats().table_cache_open <= 16);
    }
    let s = db.stats();
    assert!(
        s.table_cache_evictions > 0 && s.table_cache_opens > tables as u64,
        "{s}"
    );
    // A full scan keeps working across evictions.
    assert_eq!(db.iter().count(), 20_000);
    assert!(db.verify().unwrap().is_ok());
}
