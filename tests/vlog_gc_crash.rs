//! Crashes inside value-log GC: a failed write, fsync or rename at every point GC reaches,
//! then a power loss (unsynced bytes dropped). Every live value survives, no stale value
//! comes back, and collecting again after the restart finishes the job.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{seeds, Rng, SeedGuard};
use stratakv::fs::{FaultFs, FaultOp, MemFs};
use stratakv::{Db, Options};

const DIR: &str = "/g";

fn opts(fs: Arc<dyn stratakv::fs::FileSystem>) -> Options {
    Options {
        value_threshold: 64,
        vlog_file_size: 64 << 10,
        vlog_gc_discard_ratio: 0.3,
        vlog_gc_background: false,
        memtable_size: 64 << 10,
        fs,
        ..common::tiny_levels(Options::default())
    }
}

/// A synced, closed store whose value-log files are partly garbage, and its contents.
fn base(seed: u64) -> (MemFs, BTreeMap<String, Vec<u8>>) {
    let fs = MemFs::new();
    let db = Db::open_with(DIR, opts(Arc::new(fs.clone()))).unwrap();
    let mut rng = Rng::new(seed);
    let mut model = BTreeMap::new();
    for round in 0..3 {
        for i in 0..300 {
            if rng.chance(60) || round == 0 {
                let k = format!("k{i:04}");
                let mut v = format!("{k}/{round}/").into_bytes();
                let len = 100 + rng.below(900) as usize;
                v.extend(rng.bytes(len));
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
        }
    }
    for i in (0..300).step_by(11) {
        let k = format!("k{i:04}");
        db.delete(&k).unwrap();
        model.remove(&k);
    }
    db.compact().unwrap();
    db.close().unwrap();
    (fs, model)
}

fn check(db: &Db, model: &BTreeMap<String, Vec<u8>>, ctx: &str) {
    for (k, v) in model {
        assert_eq!(
            db.get(k).unwrap().as_deref(),
            Some(&v[..]),
            "{ctx}: live value of {k}"
        );
    }
    let got: Vec<(String, Vec<u8>)> = db
        .iter()
        .map(|r| {
            let (k, v) = r.unwrap();
            (String::from_utf8(k.to_vec()).unwrap(), v.to_vec())
        })
        .collect();
    let want: Vec<(String, Vec<u8>)> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    assert_eq!(
        got, want,
        "{ctx}: full scan (no stale or resurrected value)"
    );
}

#[test]
fn crash_at_every_failure_point_inside_gc() {
    for seed in seeds(&[5]) {
        let _g = SeedGuard {
            name: "vlog_gc_crash",
            seed,
        };
        let (image, model) = base(seed);
        let mut points = 0;
        for op in [FaultOp::Write, FaultOp::Sync, FaultOp::Rename] {
            for n in 1..200 {
                let mem = image.crash_clone();
                let fs = FaultFs::new(Arc::new(mem.clone()));
                let db = Db::open_with(DIR, opts(Arc::new(fs.clone()))).unwrap();
                fs.fail_nth(op, n);
                let r = db.vlog_gc();
                let hit = fs.injected() > 0;
                assert!(hit || r.is_ok(), "no fault, yet GC failed: {r:?}");
                if let (false, Ok(rep)) = (hit, &r) {
                    assert!(
                        rep.files_collected > 0 && rep.values_moved > 0,
                        "the base image has files worth collecting: {rep:?}"
                    );
                }
                // Power loss: only what was synced survives.
                let crashed = mem.crash_clone();
                drop(db);
                let ctx = format!("{op:?} #{n}, seed {seed}");
                let db = Db::open_with(DIR, opts(Arc::new(crashed.clone()))).unwrap();
                check(&db, &model, &format!("after crash at {ctx}"));
                // Finish the collection, then everything is still there.
                while db.vlog_gc().unwrap().files_collected > 0 {}
                check(&db, &model, &format!("after collecting again, {ctx}"));
                assert!(db.verify().unwrap().is_ok(), "{ctx}");
                let garbage: u64 = db
                    .vlog_files()
                    .iter()
                    .filter(|f| !f.active)
                    .map(|f| f.discard_bytes)
                    .sum();
                let total: u64 = db.vlog_files().iter().map(|f| f.size).sum();
                assert!(
                    (garbage as f64) < 0.3 * total as f64 + 64.0 * 1024.0,
                    "{ctx}: collection finished ({garbage} of {total} B garbage)"
                );
                db.close().unwrap();
                points += 1;
                if !hit {
                    break; // GC finished before the n-th operation: later n change nothing
                }
            }
        }
        eprintln!("{points} failure points tried");
        assert!(points > 10, "GC reached several failure points ({points})");
    }
}

/// Regression: GC collected a file while the live WAL still held (superseded) handles into
/// it; deleting the file right away made the next replay take them for a torn tail and drop
/// every later acknowledged write. A collected file now goes only once that WAL is retired.
#[test]
fn replay_after_collecting_a_file_the_wal_points_into() {
    let mem = MemFs::new();
    let o = Options {
        memtable_size: 4 << 20,
        vlog_gc_discard_ratio: 0.1,
        ..opts(Arc::new(mem.clone()))
    };
    let val = |tag: &str, i: u32| {
        let mut v = format!("{tag}{i}:").into_bytes();
        v.extend(Rng::new(u64::from(i) + tag.len() as u64 * 1000).bytes(1000));
        v
    };
    let db = Db::open_with(DIR, o.clone()).unwrap();
    for i in 0..20 {
        db.put(format!("a{i:02}"), val("A1", i)).unwrap();
    }
    db.flush().unwrap();
    for i in 0..20 {
        db.put(format!("a{i:02}"), val("A2", i)).unwrap();
    }
    db.compact().unwrap(); // A1 is garbage now
                           // B goes into the same file (until it fills) and stays in the WAL.
    for i in 0..40 {
        db.put(format!("b{i:02}"), val("B", i)).unwrap();
    }
    let r = db.vlog_gc().unwrap();
    assert!(r.files_collected > 0, "{r:?}");
    for i in 0..5 {
        db.put(format!("c{i}"), val("C", i)).unwrap();
    }
    db.sync().unwrap();
    let crashed = mem.crash_clone();
    drop(db);
    let db = Db::open_with(
        DIR,
        Options {
            fs: Arc::new(crashed),
            ..o
        },
    )
    .unwrap();
    for i in 0..20 {
        assert_eq!(db.get(format!("a{i:02}")).unwrap().unwrap(), val("A2", i));
    }
    for i in 0..40 {
        assert_eq!(db.get(format!("b{i:02}")).unwrap().unwrap(), val("B", i));
    }
    for i in 0..5 {
        assert_eq!(
            db.get(format!("c{i}")).unwrap().unwrap(),
            val("C", i),
            "acknowledged and synced after the collection"
        );
    }
    assert!(db.verify().unwrap().is_ok());
}
