//! Concurrent writers, readers and compactions: each writer owns a key prefix and checks
//! its reads against its own `BTreeMap`; readers check that scans are sorted and that
//! snapshots are stable; a thread compacts ranges all along. Seeded; the seed is printed on
//! failure.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{seeds, tiny_mem_options, Rng, SeedGuard};
use stratakv::fs::MemFs;
use stratakv::{Db, WriteBatch};

fn writer(db: Db, seed: u64, id: u32) {
    let _g = SeedGuard {
        name: "compaction_concurrent writer",
        seed,
    };
    let mut rng = Rng::new(seed ^ u64::from(id) << 32);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let prefix = format!("w{id}/");
    for step in 0..3_000 {
        let k = format!("{prefix}{:04}", rng.below(500)).into_bytes();
        match rng.below(10) {
            0..=5 => {
                let len = rng.below(200) as usize;
                let v = rng.bytes(len);
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            6 => {
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            7 => {
                let mut b = WriteBatch::new();
                for j in 0..5 {
                    let k = format!("{prefix}{:04}", (rng.below(500) + j) % 500).into_bytes();
                    let v = rng.bytes(20);
                    b.put(&k, &v);
                    model.insert(k, v);
                }
                db.write(b).unwrap();
            }
            8 => assert_eq!(
                db.get(&k).unwrap().as_deref(),
                model.get(&k).map(|v| &v[..]),
                "writer {id} seed {seed} step {step}: get"
            ),
            _ => {
                let got: Vec<(Vec<u8>, Vec<u8>)> = db
                    .prefix(&prefix)
                    .map(|r| {
                        let (k, v) = r.unwrap();
                        (k.to_vec(), v.to_vec())
                    })
                    .collect();
                let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert!(
                    got == want,
                    "writer {id} seed {seed} step {step}: prefix scan"
                );
            }
        }
    }
}

fn reader(db: Db, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let snap = db.snapshot();
        let a: Vec<_> = snap.iter().map(|r| r.unwrap()).collect();
        assert!(a.windows(2).all(|w| w[0].0 < w[1].0), "scan is sorted");
        let b: Vec<_> = snap.iter().rev().map(|r| r.unwrap()).collect();
        assert_eq!(a.len(), b.len(), "snapshot is stable across scans");
        assert!(a.iter().eq(b.iter().rev()), "backward scan mirrors forward");
    }
}

#[test]
fn writers_readers_and_compactions_agree() {
    for seed in seeds(&[21, 22]) {
        let fs = MemFs::new();
        let db = Db::open_with("/cc", tiny_mem_options(&fs)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|id| {
                let db = db.clone();
                std::thread::spawn(move || writer(db, seed, id))
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (db, stop) = (db.clone(), stop.clone());
                std::thread::spawn(move || reader(db, stop))
            })
            .collect();
        let compactor = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    let lo = format!("w{}/", i % 3);
                    db.compact_range(lo.clone()..format!("{lo}~")).unwrap();
                    i += 1;
                }
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        compactor.join().unwrap();
        assert!(db.stats().compactions > 10, "seed {seed}: compactions ran");
    }
}
