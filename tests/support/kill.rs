//! The kill -9 crash loop, shared by `tests/crash_kill.rs` and `tests/broken_engine.rs`: a
//! child process writes seeded atomic batches (a sequence marker plus updates) and reports
//! each acknowledgement; the parent kills it at a random moment (with tiny memtables, levels
//! and value-log files, flushes, compactions and value-log GC run all the time, so kills land
//! inside them), reopens, and checks that every acknowledged batch is there, nothing past the
//! last one written is, no batch is torn, and point reads and scans agree with a model
//! rebuilt from the seed. A failure prints the seed and keeps the directory.
#![allow(dead_code)] // each test binary uses a part

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stratakv::{Db, Options, WriteBatch};

use crate::common::{self, seeds, Rng};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn opts() -> Options {
    Options {
        memtable_size: 64 << 10,
        value_threshold: 256,
        vlog_file_size: 64 << 10,
        vlog_gc_discard_ratio: 0.2,
        ..common::tiny_levels(Options::default())
    }
}

/// The updates of batch `i` (after the `seq` marker): the same for parent and child.
fn batch_ops(seed: u64, i: u64) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut rng = Rng::new(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (0..1 + rng.below(5))
        .map(|_| {
            let k = format!("key{:04}", rng.below(1000)).into_bytes();
            if rng.chance(20) {
                (k, None)
            } else {
                let len = match rng.below(4) {
                    0 => rng.below(2000) as usize,
                    _ => rng.below(200) as usize,
                };
                let mut v = format!("{i}:").into_bytes();
                v.extend(rng.bytes(len));
                (k, Some(v))
            }
        })
        .collect()
}

fn seq_of(db: &Db) -> u64 {
    db.get(b"seq")
        .unwrap()
        .map_or(0, |v| u64::from_le_bytes(v[..].try_into().unwrap()))
}

/// The body of the `crash_kill_child` test, run as a child process by [`run`]: writes
/// batches after the store's current marker forever, printing `ack <i>` after each.
/// `STRATAKV_KILL_CHILD_BREAK=skip_wal_append` switches the engine into that bug first.
pub fn child() {
    let (Ok(dir), Ok(seed)) = (
        std::env::var("STRATAKV_KILL_CHILD_DIR"),
        std::env::var("STRATAKV_KILL_CHILD_SEED"),
    ) else {
        return; // only meaningful as a child process
    };
    let seed: u64 = seed.parse().unwrap();
    if std::env::var("STRATAKV_KILL_CHILD_BREAK").as_deref() == Ok("skip_wal_append") {
        stratakv::testing::break_engine(stratakv::testing::Breakage::SkipWalAppend);
    }
    let db = Db::open_with(&dir, opts()).unwrap();
    let mut i = seq_of(&db);
    let out = std::io::stdout();
    loop {
        i += 1;
        let mut b = WriteBatch::new();
        b.put(b"seq", i.to_le_bytes());
        for (k, v) in batch_ops(seed, i) {
            match v {
                Some(v) => b.put(&k, &v),
                None => b.delete(&k),
            };
        }
        db.write(b).unwrap();
        {
            use std::io::Write;
            let mut o = out.lock();
            writeln!(o, "ack {i}").unwrap();
            o.flush().unwrap();
        }
        if i.is_multiple_of(97) {
            db.vlog_gc().unwrap();
        }
    }
}

fn check(db: &Db, model: &Model, ctx: &str) {
    let got: Model = db
        .iter()
        .map(|r| {
            let (k, v) = r.unwrap_or_else(|e| panic!("{ctx}: scan error {e}"));
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert!(got == *model, "{ctx}: scan differs from the model");
    let back: Vec<Vec<u8>> = db
        .iter()
        .rev()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("{ctx}: reverse scan error {e}"))
                .0
                .to_vec()
        })
        .collect();
    assert!(back.iter().rev().eq(model.keys()), "{ctx}: reverse scan");
    for k in (0..1000).step_by(37) {
        let k = format!("key{k:04}").into_bytes();
        assert_eq!(
            db.get(&k)
                .unwrap_or_else(|e| panic!("{ctx}: point read error {e}"))
                .as_deref(),
            model.get(&k).map(|v| &v[..]),
            "{ctx}: point read agrees"
        );
    }
}

struct KeepOnFailure {
    dir: PathBuf,
    seed: u64,
}

impl Drop for KeepOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() && common::keep_failures() {
            eprintln!(
                "\n*** crash_kill failed with seed {} — rerun with STRATAKV_SEED={}; \
                 directory kept at {} ***\n",
                self.seed,
                self.seed,
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn rounds() -> u64 {
    std::env::var("STRATAKV_CRASH_ROUNDS").map_or(50, |s| s.parse().expect("a number"))
}

fn run_round(dir: &Path, seed: u64, wait: Duration, breakage: Option<&str>) -> u64 {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_kill_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STRATAKV_KILL_CHILD_DIR", dir)
        .env("STRATAKV_KILL_CHILD_SEED", seed.to_string())
        .env("STRATAKV_KILL_CHILD_BREAK", breakage.unwrap_or(""))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let reader = {
        let out = child.stdout.take().unwrap();
        let acked = acked.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("ack ") {
                    acked.store(n.trim().parse().unwrap(), Ordering::Release);
                }
            }
        })
    };
    std::thread::sleep(wait);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    acked.load(Ordering::Acquire)
}

/// The kill -9 loop: `rounds` kills of a child writing with `seed`, each followed by a
/// reopen and the checks. `breakage` is passed to the child (see [`child`]).
pub fn run(seeds_: &[u64], rounds: u64, breakage: Option<&str>) {
    for seed in seeds(seeds_) {
        let dir =
            std::env::temp_dir().join(format!("stratakv-crash-kill-{seed}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let _keep = KeepOnFailure {
            dir: dir.clone(),
            seed,
        };
        let mut rng = Rng::new(seed);
        let mut model = Model::new();
        let mut applied = 0u64;
        let mut total_acked = 0u64;
        for round in 0..rounds {
            let before = applied;
            let wait = Duration::from_millis(20 + rng.below(180));
            let acked = run_round(&dir, seed, wait, breakage);
            let db = Db::open_with(&dir, opts()).unwrap_or_else(|e| {
                panic!("round {round}: reopen after kill failed: {e}");
            });
            let seq = seq_of(&db);
            let ctx = format!("seed {seed}, round {round}, acked {acked}, recovered {seq}");
            assert!(
                seq >= acked.max(before),
                "{ctx}: an acknowledged batch is lost"
            );
            // At most the batch in flight when the child died is there unacknowledged.
            assert!(seq <= acked.max(before) + 1, "{ctx}: batches nobody wrote");
            while applied < seq {
                applied += 1;
                model.insert(b"seq".to_vec(), applied.to_le_bytes().to_vec());
                for (k, v) in batch_ops(seed, applied) {
                    match v {
                        Some(v) => model.insert(k, v),
                        None => model.remove(&k),
                    };
                }
            }
            check(&db, &model, &ctx);
            total_acked += seq - before;
            db.close().unwrap();
        }
        eprintln!("crash_kill: seed {seed}, {rounds} kills, {total_acked} batches survived");
        eprintln!(
            "scenario kill9/seed{seed}: cases={rounds} acked_lost=0 torn=0 holes=0 batches={total_acked}"
        );
        assert!(total_acked > rounds, "the child made progress");
    }
}
