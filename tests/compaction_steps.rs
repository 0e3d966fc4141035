//! A compaction installs its outputs in steps: while an L0 -> L1 compaction that rewrites
//! all of level 1 is held half-way, level 1's input tables the merge has passed are already
//! deleted, every read sees the newest acknowledged write, and a power loss at that moment
//! reopens with every write and nothing deleted come back. When it ends, every old table is
//! gone and the data is unchanged. With level 1's tables of the output size, of a quarter of
//! it (reopened with a larger `target_file_size`: outputs are cut at some inputs' ends and
//! not at others), and of three times it (outputs are cut inside inputs too, at twice the
//! target); a half-way version whose level 1 overlapped would fail `verify`.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{files_ending, Rng};
use stratakv::fs::{FaultFs, FaultOp, MemFs};
use stratakv::{Db, Options};

const DIR: &str = "/steps";
const KEYS: u32 = 20_000;

fn options(fs: Arc<dyn stratakv::fs::FileSystem>, target_file_size: u64) -> Options {
    Options {
        memtable_size: 1 << 20,
        // Level 1 holds everything (~20 tables of 64 KiB); level 0 never compacts on its own.
        base_level_size: 1 << 30,
        target_file_size,
        level0_compaction_trigger: 50,
        level0_slowdown_trigger: 60,
        level0_stop_trigger: 70,
        read_triggered_compaction: false,
        fs,
        ..Options::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:08}").into_bytes()
}

/// Every key's value read by `get` and by a scan equals the model's.
fn check(db: &Db, model: &BTreeMap<Vec<u8>, Vec<u8>>, when: &str) {
    for i in 0..KEYS {
        let k = key(i);
        let got = db.get(&k).unwrap();
        assert_eq!(
            got.as_deref(),
            model.get(&k).map(|v| &v[..]),
            "{when}: key {i}"
        );
    }
    assert!(common::scan_all(db) == *model, "{when}: the scan differs");
}

/// Releases the held operations when dropped.
struct Release<'a>(&'a FaultFs);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[test]
fn inputs_of_the_output_size() {
    held_compaction_has_replaced_the_inputs_it_passed(64 << 10, 64 << 10);
}

#[test]
fn inputs_of_a_quarter_of_the_output_size() {
    held_compaction_has_replaced_the_inputs_it_passed(64 << 10, 256 << 10);
}

#[test]
fn inputs_of_three_times_the_output_size() {
    held_compaction_has_replaced_the_inputs_it_passed(192 << 10, 64 << 10);
}

/// Loads level 1 in tables of `load_size`, then holds an L0 -> L1 compaction writing tables
/// of `target_file_size`.
fn held_compaction_has_replaced_the_inputs_it_passed(load_size: u64, target_file_size: u64) {
    let mem = MemFs::new();
    let faults = FaultFs::new(Arc::new(mem.clone()));
    let db = Db::open_with(DIR, options(Arc::new(faults.clone()), load_size)).unwrap();
    let mut rng = Rng::new(11);
    let mut model = BTreeMap::new();
    for _ in 0..KEYS {
        let i = rng.below(u64::from(KEYS)) as u32;
        let v = rng.bytes(100);
        db.put(key(i), &v).unwrap();
        model.insert(key(i), v);
    }
    db.compact().unwrap();
    let old_l1: Vec<PathBuf> = files_ending(&mem, DIR, ".sst");
    assert!(old_l1.len() >= 5, "{} tables on level 1", old_l1.len());
    drop(db);
    let db = Db::open_with(DIR, options(Arc::new(faults.clone()), target_file_size)).unwrap();
    // Level 0: new values for a third of the keys, and deletes for a seventh of them. Only
    // the rest is read from level 1's inputs or, once replaced, from the outputs.
    for i in 0..KEYS {
        if i % 7 == 0 {
            db.delete(key(i)).unwrap();
            model.remove(&key(i));
        } else if i % 3 == 0 {
            let v = rng.bytes(100);
            db.put(key(i), &v).unwrap();
            model.insert(key(i), v);
        }
    }
    db.flush().unwrap();
    let before = db.stats();

    std::thread::scope(|s| {
        let compaction = s.spawn(|| db.compact());
        // Hold the compaction at its next write to a table once a few steps are in: in
        // the middle of an output, where no step can be.
        let deadline = Instant::now() + Duration::from_secs(60);
        while db.stats().compaction_steps < before.compaction_steps + 2 {
            assert!(Instant::now() < deadline, "no steps: {}", db.stats());
            assert!(
                !compaction.is_finished(),
                "ended before 2 steps: {}",
                db.stats()
            );
            std::thread::yield_now();
        }
        faults.hold(FaultOp::Write, ".sst");
        // Let the compaction go even if a check below fails, so that the scope can end.
        let _release = Release(&faults);
        let at_hold = db.stats().compaction_steps;
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(
            db.stats().compactions,
            before.compactions,
            "the compaction is still running"
        );

        let left = files_ending(&mem, DIR, ".sst");
        let gone = old_l1.iter().filter(|p| !left.contains(p)).count();
        assert!(gone > 0, "no input deleted after {at_hold} steps");
        assert!(gone < old_l1.len(), "every input deleted while held");
        check(&db, &model, "half-way");
        let report = db.verify().unwrap();
        assert!(report.is_ok(), "half-way: {report}");

        // A power loss now: the image reopens with every write, nothing deleted back.
        let image = mem.crash_clone();
        let reopened = Db::open_with(DIR, options(Arc::new(image), target_file_size)).unwrap();
        check(&reopened, &model, "reopened half-way");
        let report = reopened.verify().unwrap();
        assert!(report.is_ok(), "reopened half-way: {report}");
        drop(reopened);

        drop(_release);
        compaction.join().unwrap().unwrap();
    });
    let left = files_ending(&mem, DIR, ".sst");
    assert!(
        old_l1.iter().all(|p| !left.contains(p)),
        "an old table is left"
    );
    check(&db, &model, "after the compaction");
    println!("{}", db.stats());
}
