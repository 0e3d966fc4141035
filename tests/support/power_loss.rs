//! The power-loss loop through the in-memory filesystem, shared by `tests/crash_prefix.rs`
//! and `tests/broken_engine.rs`: a seeded workload of atomic batches (a `seq` marker plus
//! updates, some synced), a crash at a random moment, and the check that the store holds
//! exactly a prefix of the acknowledged batches, every synced one included.
#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;
use std::sync::Arc;

use stratakv::fs::{CrashMode, MemFs};
use stratakv::{Db, Options, WriteBatch, WriteOptions};

use crate::common::{self, seeds, tiny_mem_options, Rng, SeedGuard};

pub const DIR: &str = "/crash";

pub type Model = BTreeMap<Vec<u8>, Vec<u8>>;

/// Writes `n` batches; each sets `seq` to its index and updates a few keys. Returns the
/// model state after each acknowledged batch and the index of the last synced one.
pub fn workload(db: &Db, rng: &mut Rng, n: usize, states: &mut Vec<Model>, synced: &mut usize) {
    let mut model = states.last().cloned().unwrap_or_default();
    for _ in 0..n {
        let i = states.len();
        let mut b = WriteBatch::new();
        b.put(b"seq", (i as u64).to_le_bytes());
        model.insert(b"seq".to_vec(), (i as u64).to_le_bytes().to_vec());
        for _ in 0..1 + rng.below(6) {
            let k = format!("key{:04}", rng.below(2_000)).into_bytes();
            if rng.chance(80) {
                let len = rng.below(300) as usize;
                let v = rng.bytes(len);
                b.put(&k, &v);
                model.insert(k, v);
            } else {
                b.delete(&k);
                model.remove(&k);
            }
        }
        let sync = rng.chance(3);
        db.write_with(b, WriteOptions { sync }).unwrap();
        states.push(model.clone());
        if sync {
            *synced = i;
        }
        if rng.chance(1) {
            db.sync().unwrap();
            *synced = i;
        }
    }
}

/// Reopens the crashed image `fs` and checks it holds exactly a prefix of `states`, at least
/// up to batch `synced`. On failure the image is kept on disk (the path is printed).
pub fn check_recovered(fs: MemFs, opts: &Options, states: &[Model], synced: usize, ctx: &str) {
    let image = fs.crash_clone();
    common::keep_on_panic(&image, "power_loss", || {
        check_recovered_now(fs, opts, states, synced, ctx)
    });
}

fn check_recovered_now(fs: MemFs, opts: &Options, states: &[Model], synced: usize, ctx: &str) {
    let opts = Options {
        fs: Arc::new(fs),
        ..opts.clone()
    };
    let db = Db::open_with(DIR, opts).unwrap_or_else(|e| panic!("reopen failed ({ctx}): {e}"));
    let seq = db
        .get(b"seq")
        .unwrap()
        .map(|v| u64::from_le_bytes(v[..].try_into().unwrap()) as usize);
    let Some(seq) = seq else {
        assert_eq!(
            synced, 0,
            "{ctx}: lost everything but batch {synced} was synced"
        );
        let all: Vec<_> = db.iter().collect();
        assert!(all.is_empty(), "{ctx}: no seq marker but data present");
        return;
    };
    assert!(
        seq >= synced,
        "{ctx}: synced batch {synced} lost (recovered up to {seq})"
    );
    assert!(seq < states.len(), "{ctx}: recovered a batch never written");
    let want = &states[seq];
    let got: Model = common::scan_all(&db);
    assert!(
        got == *want,
        "{ctx}: state is not exactly the prefix up to batch {seq}"
    );
    for (k, v) in want.iter().take(50) {
        assert_eq!(
            db.get(k).unwrap().as_deref(),
            Some(&v[..]),
            "{ctx}: point read"
        );
    }
}

pub fn crash_rounds(mode: CrashMode, seeds_: &[u64], rounds: usize) {
    crash_rounds_with(mode, seeds_, rounds, |o| o);
}

/// Options with most values in the value log, in small files.
pub fn with_value_log(o: Options) -> Options {
    Options {
        value_threshold: 100,
        vlog_file_size: 64 << 10,
        ..o
    }
}

pub fn crash_rounds_with(
    mode: CrashMode,
    seeds_: &[u64],
    rounds: usize,
    tweak: impl Fn(Options) -> Options,
) {
    let rounds = std::env::var("STRATAKV_POWER_LOSS_ROUNDS")
        .map_or(rounds, |s| s.parse().expect("a number"));
    let (mut crashes, mut batches) = (0, 0);
    for seed in seeds(seeds_) {
        let _g = SeedGuard {
            name: "crash_prefix",
            seed,
        };
        let mut rng = Rng::new(seed);
        for round in 0..rounds {
            let fs = MemFs::new();
            let opts = tweak(Options {
                max_immutable_memtables: 1,
                ..tiny_mem_options(&fs)
            });
            let db = Db::open_with(DIR, opts.clone()).unwrap();
            let mut states = vec![Model::new()];
            let mut synced = 0;
            let n = 100 + rng.below(600) as usize;
            workload(&db, &mut rng, n, &mut states, &mut synced);
            // A crash in the middle of the run, checked against the writes acknowledged then.
            let mid = (fs.crash_clone_with(mode), states.len(), synced);
            let n = 100 + rng.below(600) as usize;
            workload(&db, &mut rng, n, &mut states, &mut synced);
            let ctx = format!("seed {seed}, round {round}, {mode:?}, mid-run");
            check_recovered(mid.0, &opts, &states[..mid.1], mid.2, &ctx);
            // Crash at the end, while the background flush may be mid-way.
            let crashed = fs.crash_clone_with(mode);
            let ctx = format!("seed {seed}, round {round}, {mode:?}");
            check_recovered(crashed.clone(), &opts, &states, synced, &ctx);
            drop(db);
            // Crash again right after recovery (a second crash must not lose anything).
            let again = crashed.crash_clone_with(mode);
            check_recovered(
                again,
                &opts,
                &states,
                synced,
                &format!("{ctx}, second crash"),
            );
            crashes += 3;
            batches += states.len() - 1;
        }
    }
    let name: String = format!("{mode:?}")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    eprintln!(
        "scenario power_loss/{name}: cases={crashes} batches={batches} synced_lost=0 not_prefix=0 torn_batches=0"
    );
}
