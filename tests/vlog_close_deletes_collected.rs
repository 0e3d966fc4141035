//! Close deletes the value-log files garbage collection has collected: a file a snapshot
//! kept past its collection is gone once the snapshot and the database are closed, not
//! left on disk until the next open.

mod common;

use stratakv::fs::MemFs;
use stratakv::Db;

/// 1000 incompressible bytes naming `i` and the round.
fn val(round: u8, i: u32) -> Vec<u8> {
    let mut v = format!("{round}-{i}-").into_bytes();
    let mut rng = common::Rng::new(u64::from(i) << 8 | u64::from(round));
    while v.len() < 1000 {
        v.push(rng.next_u64() as u8);
    }
    v
}

fn exists(fs: &MemFs, n: u64) -> bool {
    common::vlog_file_exists(fs, "/c", n)
}

#[test]
fn close_deletes_files_collected_while_a_snapshot_held_them() {
    let fs = MemFs::new();
    let db = Db::open_with("/c", common::gc_by_hand_options(&fs)).unwrap();
    // a and b keys alternate in the first files; overwriting the a keys makes them half
    // garbage.
    for i in 0..150 {
        db.put(format!("a{i:03}"), val(1, i)).unwrap();
        db.put(format!("b{i:03}"), val(1, i)).unwrap();
    }
    let first = db.vlog_files()[0].number;
    for i in 0..150 {
        db.put(format!("a{i:03}"), val(2, i)).unwrap();
    }
    db.compact().unwrap();
    // The snapshot alone still reads the first b values once they are overwritten.
    let snap = db.snapshot();
    for i in 0..150 {
        db.put(format!("b{i:03}"), val(2, i)).unwrap();
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
    assert!(exists(&fs, first), "the snapshot keeps the collected file");
    assert_eq!(
        snap.get("b000").unwrap().as_deref(),
        Some(&val(1, 0)[..]),
        "and reads through it"
    );
    drop(snap);
    db.close().unwrap();
    for n in &collected {
        assert!(!exists(&fs, *n), "collected file {n} deleted at close");
    }
    let db = Db::open_with("/c", common::gc_by_hand_options(&fs)).unwrap();
    for i in 0..150 {
        for k in [format!("a{i:03}"), format!("b{i:03}")] {
            assert_eq!(db.get(&k).unwrap().as_deref(), Some(&val(2, i)[..]), "{k}");
        }
    }
    assert!(db.vlog_files().iter().all(|f| !f.collected));
}
