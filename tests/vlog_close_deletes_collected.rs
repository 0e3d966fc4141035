//! Close deletes the value-log files garbage collection has collected: a file a snapshot
//! kept past its collection is gone once the snapshot and the database are closed, not
//! left on disk until the next open.

mod common;

use common::gc_by_hand::{half_garbage_file, options, val, vlog_file_exists};
use stratakv::fs::MemFs;
use stratakv::Db;

#[test]
fn close_deletes_files_collected_while_a_snapshot_held_them() {
    let fs = MemFs::new();
    let db = Db::open_with("/c", options(&fs)).unwrap();
    let first = half_garbage_file(&db);
    // The snapshot alone still reads the first b values once they are overwritten.
    let snap = db.snapshot();
    for i in 0..200 {
        db.put(format!("b{i:03}"), val("B2", i)).unwrap();
    }
    let report = db.vlog_gc().unwrap();
    assert!(report.files_collected > 0, "{report:?}");
    let collected: Vec<u64> = db
        .vlog_files()
        .into_iter()
        .filter(|f| f.collected)
        .map(|f| f.number)
        .collect();
    assert!(collected.contains(&first), "first file collected");
    assert!(
        vlog_file_exists(&fs, "/c", first),
        "the snapshot keeps the collected file"
    );
    assert_eq!(
        snap.get("b000").unwrap().as_deref(),
        Some(&val("B1", 0)[..]),
        "and reads through it"
    );
    drop(snap);
    db.close().unwrap();
    for n in &collected {
        assert!(
            !vlog_file_exists(&fs, "/c", *n),
            "collected file {n} deleted at close"
        );
    }
    let db = Db::open_with("/c", options(&fs)).unwrap();
    for i in 0..200 {
        for (k, v) in [(format!("a{i:03}"), "A2"), (format!("b{i:03}"), "B2")] {
            assert_eq!(db.get(&k).unwrap().as_deref(), Some(&val(v, i)[..]), "{k}");
        }
    }
    assert!(db.vlog_files().iter().all(|f| !f.collected));
}
