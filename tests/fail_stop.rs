//! A failed WAL write or fsync, or a failed flush, stops all further writes until reopen;
//! reads go on; nothing acknowledged is lost; a full disk recovers once space is back.

use std::sync::Arc;

use stratakv::fs::{FaultFs, FaultOp, MemFs};
use stratakv::{Db, Options, WriteOptions};

fn opts(fs: &FaultFs) -> Options {
    Options {
        memtable_size: 64 << 10,
        fs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

#[test]
fn failed_fsync_stops_writes_and_loses_nothing_acknowledged() {
    let mem = MemFs::new();
    let fs = FaultFs::new(Arc::new(mem.clone()));
    let db = Db::open_with("/f", opts(&fs)).unwrap();
    for i in 0..100 {
        db.put(format!("k{i}"), b"v").unwrap();
    }
    db.sync().unwrap();
    fs.fail_nth(FaultOp::Sync, 1);
    let e = db
        .put_with(b"failed", b"v", WriteOptions { sync: true })
        .unwrap_err();
    assert!(e.is_io(), "{e}");
    // The fsync is never retried and reported as success.
    let e = db.put(b"after", b"v").unwrap_err();
    assert!(e.is_writes_stopped(), "{e}");
    assert!(db.sync().unwrap_err().is_writes_stopped());
    assert_eq!(
        db.get(b"k5").unwrap().as_deref(),
        Some(&b"v"[..]),
        "reads go on"
    );
    drop(db);
    let db = Db::open_with("/f", opts(&fs)).unwrap();
    for i in 0..100 {
        assert!(db.get(format!("k{i}")).unwrap().is_some());
    }
    assert_eq!(db.get(b"after").unwrap(), None);
    db.put(b"after", b"v").unwrap();
}

#[test]
fn failed_wal_write_stops_writes() {
    let fs = FaultFs::new(Arc::new(MemFs::new()));
    let db = Db::open_with("/f", opts(&fs)).unwrap();
    db.put(b"a", b"1").unwrap();
    fs.fail_path(FaultOp::Write, ".wal");
    assert!(db.put(b"b", b"2").unwrap_err().is_io());
    fs.clear();
    assert!(db.put(b"c", b"3").unwrap_err().is_writes_stopped());
    drop(db);
    let db = Db::open_with("/f", opts(&fs)).unwrap();
    assert_eq!(db.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
    assert_eq!(db.get(b"c").unwrap(), None);
}

#[test]
fn failed_flush_stops_writes_and_reopen_recovers() {
    let fs = FaultFs::new(Arc::new(MemFs::new()));
    let db = Db::open_with("/f", opts(&fs)).unwrap();
    fs.fail_path(FaultOp::Create, ".sst");
    for i in 0..200 {
        db.put(format!("k{i:04}"), vec![b'x'; 100]).unwrap();
    }
    let e = db.flush().unwrap_err();
    assert!(e.is_writes_stopped(), "{e}");
    assert!(db.put(b"x", b"y").unwrap_err().is_writes_stopped());
    assert!(
        db.get(b"k0001").unwrap().is_some(),
        "reads go on from memory"
    );
    fs.clear();
    drop(db);
    let db = Db::open_with("/f", opts(&fs)).unwrap();
    assert_eq!(db.iter().count(), 200);
}

#[test]
fn full_disk_refuses_writes_then_reopen_works() {
    let fs = FaultFs::new(Arc::new(MemFs::new()));
    let db = Db::open_with("/f", opts(&fs)).unwrap();
    db.put(b"before", b"1").unwrap();
    fs.fail_always(FaultOp::Write);
    let mut failures = 0;
    for i in 0..50 {
        if db.put(format!("k{i}"), b"v").is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 50);
    drop(db);
    // Still full: open fails cleanly (no panic).
    assert!(Db::open_with("/f", opts(&fs)).is_err());
    fs.clear();
    let db = Db::open_with("/f", opts(&fs)).unwrap();
    assert_eq!(db.get(b"before").unwrap().as_deref(), Some(&b"1"[..]));
    db.put(b"later", b"2").unwrap();
}

#[test]
fn random_io_errors_never_panic_or_lose_acknowledged_writes() {
    for seed in 0..20u64 {
        let mem = MemFs::new();
        let fs = FaultFs::new(Arc::new(mem.clone()));
        let Ok(db) = Db::open_with("/f", opts(&fs)) else {
            continue;
        };
        fs.fail_randomly(FaultOp::Any, seed, 150);
        let mut acked = Vec::new();
        for i in 0..400u32 {
            let k = format!("k{i:05}");
            if db.put(&k, vec![b'v'; 200]).is_ok() {
                acked.push(k);
            }
        }
        drop(db);
        fs.clear();
        let db = Db::open_with("/f", opts(&fs)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        for k in &acked {
            assert!(
                db.get(k).unwrap().is_some(),
                "seed {seed}: acknowledged {k} lost"
            );
        }
    }
}
