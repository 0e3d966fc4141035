//! Generations of kills, each reopen writing on (some writes synced), then a power loss:
//! a kill loses nothing the OS was handed, and the power loss keeps a prefix of the
//! acknowledged writes, every synced one included. Reopens after a kill leave the replayed
//! writes to the background flush and keep their WAL segments (`engine/recovery.rs`), so
//! this covers kept segments under later syncs, freezes and flushes.

mod common;
#[path = "support/power_loss.rs"]
mod power_loss;

use std::sync::Arc;

use common::{scan_all, seeds, tiny_levels, Rng, SeedGuard};
use power_loss::{check_recovered, with_value_log, workload, Model, DIR};
use stratakv::fs::{CrashMode, MemFs};
use stratakv::{Db, Options};

fn options(fs: &MemFs, rng: &mut Rng) -> Options {
    let o = tiny_levels(Options {
        // Large enough that a generation's writes usually fit in one memtable and are
        // kept, small enough that some generations freeze and flush.
        memtable_size: 256 << 10,
        block_size: 512,
        max_immutable_memtables: 2,
        fs: Arc::new(fs.clone()),
        ..Options::default()
    });
    if rng.chance(50) {
        with_value_log(o)
    } else {
        o
    }
}

#[test]
fn kills_then_a_power_loss_keep_a_prefix() {
    let rounds = std::env::var("STRATAKV_POWER_LOSS_ROUNDS")
        .map_or(6, |s| s.parse::<usize>().expect("a number").div_ceil(4));
    let (mut kept, mut cases) = (0, 0);
    for seed in seeds(&[61, 62, 63, 64]) {
        let _g = SeedGuard {
            name: "crash_kill_then_power_loss",
            seed,
        };
        let mut rng = Rng::new(seed);
        for _round in 0..rounds {
            let mut fs = MemFs::new();
            let opts = options(&fs, &mut rng);
            let mut db = Db::open_with(DIR, opts.clone()).unwrap();
            let mut states = vec![Model::new()];
            let mut synced = 0;
            for _gen in 0..1 + rng.below(4) {
                let n = 50 + rng.below(400) as usize;
                workload(&db, &mut rng, n, &mut states, &mut synced);
                let killed = fs.killed_clone();
                drop(db);
                fs = killed;
                let o = Options {
                    fs: Arc::new(fs.clone()),
                    ..opts.clone()
                };
                db = Db::open_with(DIR, o).unwrap();
                kept += db.stats().recovery.wal_files_kept;
                let got: Model = scan_all(&db);
                assert!(
                    got == *states.last().unwrap(),
                    "seed {seed}: a kill lost writes"
                );
            }
            let n = rng.below(300) as usize;
            workload(&db, &mut rng, n, &mut states, &mut synced);
            let mode = match rng.below(3) {
                0 => CrashMode::DropUnsynced,
                1 => CrashMode::TearUnsynced { keep: 100 },
                _ => CrashMode::GarbleUnsynced,
            };
            let lost = fs.crash_clone_with(mode);
            drop(db);
            check_recovered(
                lost,
                &opts,
                &states,
                synced,
                &format!("seed {seed}, {mode:?}"),
            );
            cases += 1;
        }
    }
    eprintln!("scenario kill_then_power_loss: cases={cases} kept_segments={kept}");
    assert!(kept > 0, "no reopen kept its replayed segments");
}
