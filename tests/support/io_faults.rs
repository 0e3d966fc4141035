//! I/O errors followed by a power loss, shared by `tests/io_error_power_loss.rs` and
//! `tests/broken_engine.rs`: synced writes go through a filesystem that fails operations at
//! random (and, half-way, every time); the first failure must stop the write path (nothing
//! acknowledged after it), and after a crash that keeps only what was synced, every
//! acknowledged write must be there.
#![allow(dead_code)] // each test binary uses a part

use std::sync::Arc;

use stratakv::fs::{FaultFs, FaultOp, MemFs};
use stratakv::{Db, Options, WriteOptions};

use crate::common::{tiny_levels, Rng};

const DIR: &str = "/io";

fn options(fs: Arc<dyn stratakv::fs::FileSystem>) -> Options {
    Options {
        memtable_size: 64 << 10,
        value_threshold: 256,
        vlog_file_size: 64 << 10,
        fs,
        ..tiny_levels(Options::default())
    }
}

/// Counts of one run: writes acknowledged, failures met.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub acked: u32,
    pub failed: u32,
}

/// Opens (faults may fail that: an error, never a panic), writes synced batches with faults
/// of kind `op` (one in `one_in` at random, then all after 300 writes), closes (which may
/// fail too), then a power loss; panics when an acknowledged write is lost or a write is
/// acknowledged after a failure.
pub fn synced_writes_survive(seed: u64, op: FaultOp, one_in: u64) -> Outcome {
    let mem = MemFs::new();
    // A store with some history, so that open has work to do (and can fail).
    drop(Db::open_with(DIR, options(Arc::new(mem.clone()))).unwrap());
    let fs = FaultFs::new(Arc::new(mem.clone()));
    let mut rng = Rng::new(seed);
    fs.fail_randomly(op, seed, one_in);
    let mut acked: Vec<(String, Vec<u8>)> = Vec::new();
    let mut out = Outcome::default();
    let db = match Db::open_with(DIR, options(Arc::new(fs.clone()))) {
        Ok(db) => db,
        Err(e) => {
            assert!(e.is_io(), "seed {seed}, {op:?}: open failed with {e}");
            out.failed += 1;
            fs.clear();
            let db = Db::open_with(DIR, options(Arc::new(mem.crash_clone())));
            db.unwrap_or_else(|e| panic!("seed {seed}, {op:?}: open after a failed open: {e}"));
            return out;
        }
    };
    for i in 0..600u32 {
        if i == 300 {
            fs.fail_always(op);
        }
        let k = format!("k{i:05}");
        let len = if rng.chance(30) { 400 } else { 40 };
        let v = rng.bytes(len);
        match db.put_with(&k, &v, WriteOptions { sync: true }) {
            Ok(()) => {
                assert!(
                    out.failed == 0,
                    "seed {seed}, {op:?}: write {i} acknowledged after a failure"
                );
                acked.push((k, v));
                out.acked += 1;
            }
            Err(e) => {
                assert!(e.is_io() || e.is_writes_stopped(), "seed {seed}: {e}");
                out.failed += 1;
            }
        }
    }
    if db.close().is_err() {
        out.failed += 1;
    }
    fs.clear();
    let crashed = mem.crash_clone();
    crate::common::keep_on_panic(&crashed.crash_clone(), "io_error", || {
        let db = Db::open_with(DIR, options(Arc::new(crashed)))
            .unwrap_or_else(|e| panic!("seed {seed}, {op:?}: reopen after the crash failed: {e}"));
        for (k, v) in &acked {
            let got = db
                .get(k)
                .unwrap_or_else(|e| panic!("seed {seed}: {k}: {e}"));
            assert!(
                got.as_deref() == Some(&v[..]),
                "seed {seed}, {op:?}: acknowledged synced write {k} LOST after the crash"
            );
        }
    });
    out
}
