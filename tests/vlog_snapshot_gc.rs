//! A reader holding a snapshot, or an iterator, keeps reading its old large values while
//! value-log GC collects the file they live in; the file goes only when the reader does.

mod common;

use stratakv::fs::MemFs;
use stratakv::{Db, Options};

use common::gc_by_hand::{half_garbage_file, options as opts, val};

fn file_exists(fs: &MemFs, n: u64) -> bool {
    common::gc_by_hand::vlog_file_exists(fs, "/s", n)
}

#[test]
fn snapshot_keeps_reading_while_gc_collects() {
    let fs = MemFs::new();
    let db = Db::open_with("/s", opts(&fs)).unwrap();
    let first = half_garbage_file(&db);
    let snap = db.snapshot();
    // B1 is now only visible to the snapshot.
    for i in 0..200 {
        db.put(format!("b{i:03}"), val("B3", i)).unwrap();
    }
    db.compact().unwrap();
    let mut collected = false;
    for _ in 0..10 {
        db.vlog_gc().unwrap();
        if db
            .vlog_files()
            .iter()
            .any(|f| f.number == first && f.collected)
        {
            collected = true;
            break;
        }
    }
    assert!(collected, "the half-garbage file is collected");
    assert!(
        file_exists(&fs, first),
        "kept while the snapshot may read it"
    );
    for i in 0..200 {
        let got = snap.get(format!("b{i:03}")).unwrap().unwrap();
        assert_eq!(got, val("B1", i), "snapshot reads its old value");
        assert_eq!(db.get(format!("b{i:03}")).unwrap().unwrap(), val("B3", i));
    }
    let n = snap
        .prefix("b")
        .map(|r| r.unwrap())
        .inspect(|(k, v)| {
            let i: u32 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
            assert_eq!(v, &val("B1", i));
        })
        .count();
    assert_eq!(n, 200);
    drop(snap);
    db.vlog_gc().unwrap();
    assert!(
        !file_exists(&fs, first),
        "deleted once the snapshot is gone"
    );
    assert!(db.vlog_files().iter().all(|f| f.number != first));
    assert!(db.verify().unwrap().is_ok());
}

#[test]
fn iterator_keeps_reading_a_deleted_file() {
    for on_disk in [false, true] {
        let fs = MemFs::new();
        let tmp = tempfile::tempdir().unwrap();
        let o = if on_disk {
            Options {
                fs: stratakv::fs::default_fs(),
                ..opts(&fs)
            }
        } else {
            opts(&fs)
        };
        let path = if on_disk {
            tmp.path().join("db")
        } else {
            "/s".into()
        };
        let db = Db::open_with(&path, o).unwrap();
        let first = half_garbage_file(&db);
        let mut it = db.prefix("b");
        let head = it.next().unwrap().unwrap();
        assert_eq!(head.1, val("B1", 0));
        for i in 0..200 {
            db.put(format!("b{i:03}"), val("B3", i)).unwrap();
        }
        db.compact().unwrap();
        for _ in 0..10 {
            db.vlog_gc().unwrap();
        }
        assert!(
            db.vlog_files().iter().all(|f| f.number != first),
            "no snapshot holds it: deleted from the manifest"
        );
        let rest: Vec<_> = it.map(|r| r.unwrap()).collect();
        assert_eq!(rest.len(), 199);
        for (j, (_, v)) in rest.iter().enumerate() {
            assert_eq!(v, &val("B1", j as u32 + 1), "the iterator's own view");
        }
        assert!(db.verify().unwrap().is_ok());
    }
}
