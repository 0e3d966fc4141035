//! Power loss through the in-memory filesystem: after a crash at a random moment (also
//! inside background flushes), the store holds exactly a prefix of the acknowledged writes,
//! every synced one included, and no batch is torn. The loop is in `support/power_loss.rs`.

mod common;
#[path = "support/power_loss.rs"]
mod power_loss;

use common::{seeds, tiny_mem_options, Rng, SeedGuard};
use power_loss::{
    check_recovered, crash_rounds, crash_rounds_with, with_value_log, workload, Model, DIR,
};
use stratakv::fs::{CrashMode, MemFs};
use stratakv::{Db, Options};

#[test]
fn crash_drops_unsynced_writes_only_as_a_suffix() {
    crash_rounds(CrashMode::DropUnsynced, &[1, 2, 3, 4], 12);
}

#[test]
fn torn_unsynced_tail_is_dropped() {
    crash_rounds(CrashMode::TearUnsynced { keep: 100 }, &[5, 6], 12);
}

#[test]
fn garbled_last_write_is_dropped() {
    crash_rounds(CrashMode::GarbleUnsynced, &[7, 8], 12);
}

#[test]
fn crash_with_values_in_the_value_log() {
    crash_rounds_with(CrashMode::DropUnsynced, &[21, 22], 10, with_value_log);
    crash_rounds_with(
        CrashMode::TearUnsynced { keep: 100 },
        &[23],
        10,
        with_value_log,
    );
    crash_rounds_with(CrashMode::GarbleUnsynced, &[24], 10, with_value_log);
}

#[test]
fn sync_always_loses_nothing() {
    for seed in seeds(&[9]) {
        let _g = SeedGuard {
            name: "crash_sync_always",
            seed,
        };
        let mut rng = Rng::new(seed);
        let fs = MemFs::new();
        let opts = Options {
            wal_sync: stratakv::SyncMode::Always,
            ..tiny_mem_options(&fs)
        };
        let db = Db::open_with(DIR, opts.clone()).unwrap();
        let mut states = vec![Model::new()];
        let mut synced = 0;
        workload(&db, &mut rng, 500, &mut states, &mut synced);
        let n = states.len() - 1;
        check_recovered(fs.crash_clone(), &opts, &states, n, "sync always");
    }
}
