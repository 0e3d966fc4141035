//! WAL segments grow in preallocated steps (zeros ahead of the records, so an fsynced write
//! commits no new file size): the newest segment ends in zeros while it is written, a power
//! loss at any moment recovers every synced write without calling the zeros a torn tail or
//! damage, and every segment no longer written to ends at its last record once it is made
//! durable (a frozen one before the next segment's first fsync, the last at close).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use common::{seeds, tiny_mem_options, Rng, SeedGuard};
use stratakv::fs::{FaultFs, FaultOp, MemFs};
use stratakv::inspect::dump_wal;
use stratakv::{Db, Options, SyncMode};

const DIR: &str = "/prealloc";

/// Acknowledged writes: key -> value.
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn wal_files(fs: &MemFs) -> Vec<PathBuf> {
    common::wal_segments(fs, DIR)
}

#[test]
fn preallocated_wal_segments_recover_every_synced_write() {
    for seed in seeds(&[31]) {
        let _g = SeedGuard {
            name: "wal_preallocation",
            seed,
        };
        let mut rng = Rng::new(seed);
        let fs = MemFs::new();
        let opts = Options {
            wal_sync: SyncMode::Always,
            ..tiny_mem_options(&fs)
        };
        let db = Db::open_with(DIR, opts.clone()).unwrap();
        let mut model = BTreeMap::new();
        for i in 0..2000u32 {
            let key = format!("key{:05}", rng.below(400)).into_bytes();
            let value = vec![(i % 251) as u8; 20 + rng.below(200) as usize];
            db.put(&key, &value).unwrap();
            model.insert(key, value);
            if i % 100 != 99 {
                continue;
            }
            // The segment being written ends in zeros past its records.
            let newest = wal_files(&fs).pop().expect("a WAL segment");
            let d = dump_wal(&fs, &newest).unwrap();
            assert_eq!(d.torn_tail_bytes, 0, "{}", newest.display());
            assert!(
                d.preallocated_bytes > 0,
                "{} not preallocated",
                newest.display()
            );
            // A power loss now: every write is synced, so every one is there, and the
            // zeros are neither torn tail nor damage.
            let crashed = fs.crash_clone();
            let reopened = Db::open_with(DIR, tiny_mem_options(&crashed))
                .unwrap_or_else(|e| panic!("recovery after write {i}: {e}"));
            assert_eq!(reopened.stats().recovery.torn_tail_bytes, 0, "write {i}");
            assert_eq!(common::scan_all(&reopened), model, "write {i}");
        }
        db.close().unwrap();
        // Sealed at close: cut back to its records.
        for w in wal_files(&fs) {
            let d = dump_wal(&fs, &w).unwrap();
            assert_eq!(
                (d.torn_tail_bytes, d.preallocated_bytes),
                (0, 0),
                "{}",
                w.display()
            );
        }
    }
}

/// A frozen memtable whose flush cannot finish (table creation fails) keeps its segment
/// needed. A synced write in the next segment makes it durable first, cut back to its
/// records: the next segment's sync mark declares it whole, so a power loss then replays
/// it strictly.
#[test]
fn a_frozen_segment_ends_at_its_last_record() {
    // The failed flush stops writes at a moment of its own: the scenario needs a write
    // acknowledged in the new segment before that (which makes the segment durable), so it
    // is tried until one is.
    for attempt in 0..100 {
        let Some((crashed, acked)) = frozen_segment_then_crash() else {
            continue;
        };
        let reopened = Db::open_with(DIR, tiny_mem_options(&crashed))
            .unwrap_or_else(|e| panic!("recovery with a frozen segment: {e}"));
        let rec = reopened.stats().recovery;
        assert_eq!(rec.wal_files, 2, "attempt {attempt}");
        assert_eq!(rec.torn_tail_bytes, 0);
        assert_eq!(common::scan_all(&reopened), acked);
        return;
    }
    panic!("no write was acknowledged in a second segment before the failed flush");
}

/// Writes until a write lands in a second WAL segment while table creation fails; returns
/// a power-loss image taken then and the acknowledged writes, or `None` when writes
/// stopped first.
fn frozen_segment_then_crash() -> Option<(MemFs, Model)> {
    let mem = MemFs::new();
    let faults = FaultFs::new(Arc::new(mem.clone()));
    faults.fail_path(FaultOp::Create, ".sst");
    let opts = Options {
        wal_sync: SyncMode::Always,
        fs: Arc::new(faults),
        ..tiny_mem_options(&mem)
    };
    let db = Db::open_with(DIR, opts).unwrap();
    let mut acked = BTreeMap::new();
    for i in 0..5000u32 {
        let key = format!("key{i:05}").into_bytes();
        let value = vec![(i % 251) as u8; 100];
        db.put(&key, &value).ok()?;
        acked.insert(key, value);
        if wal_files(&mem).len() >= 2 {
            return Some((mem.crash_clone(), acked));
        }
    }
    panic!("no second segment after 5000 writes");
}
