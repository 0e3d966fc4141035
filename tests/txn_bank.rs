//! The bank: random transfers between accounts while readers check, in snapshots and in
//! transactions, that the total never moves; flushes and compactions run all along.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{seeds, tiny_mem_options, Rng, SeedGuard};
use stratakv::fs::MemFs;
use stratakv::Db;

const ACCOUNTS: u64 = 20;
const START: u64 = 100;

fn key(i: u64) -> String {
    format!("acct/{i:03}")
}

fn balance(v: Option<stratakv::Bytes>) -> u64 {
    v.map_or(0, |v| u64::from_le_bytes(v[..].try_into().unwrap()))
}

#[test]
fn total_never_moves() {
    for seed in seeds(&[31]) {
        let _g = SeedGuard {
            name: "txn_bank",
            seed,
        };
        let fs = MemFs::new();
        let db = Db::open_with("/bank", tiny_mem_options(&fs)).unwrap();
        for i in 0..ACCOUNTS {
            db.put(key(i), START.to_le_bytes()).unwrap();
        }
        let total = ACCOUNTS * START;
        let stop = Arc::new(AtomicBool::new(false));
        let movers: Vec<_> = (0..4u64)
            .map(|t| {
                let db = db.clone();
                std::thread::spawn(move || {
                    let mut rng = Rng::new(seed + t);
                    for _ in 0..400 {
                        let (a, b) = (rng.below(ACCOUNTS), rng.below(ACCOUNTS));
                        let amount = 1 + rng.below(20);
                        // Padding makes the memtable fill, so flushes and compactions run.
                        let pad = rng.bytes(200);
                        db.update(|tx| {
                            let ba = balance(tx.get(key(a))?);
                            let bb = balance(tx.get(key(b))?);
                            if a != b && ba >= amount {
                                tx.put(key(a), (ba - amount).to_le_bytes())?;
                                tx.put(key(b), (bb + amount).to_le_bytes())?;
                                tx.put(format!("log/{t}"), &pad)?;
                            }
                            Ok(())
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        let checkers: Vec<_> = (0..2)
            .map(|c| {
                let (db, stop) = (db.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut checks = 0;
                    while !stop.load(Ordering::Relaxed) || checks == 0 {
                        let snap = db.snapshot();
                        let sum: u64 = snap
                            .prefix(b"acct/")
                            .map(|r| balance(Some(r.unwrap().1)))
                            .sum();
                        assert_eq!(sum, total, "checker {c}: snapshot total");
                        let tx = db.read_transaction();
                        let sum: u64 = (0..ACCOUNTS)
                            .map(|i| balance(tx.get(key(i)).unwrap()))
                            .sum();
                        assert_eq!(sum, total, "checker {c}: transaction total");
                        let back: u64 = tx
                            .prefix(b"acct/")
                            .rev()
                            .map(|r| balance(Some(r.unwrap().1)))
                            .sum();
                        assert_eq!(back, total, "checker {c}: reverse scan total");
                        checks += 1;
                    }
                    checks
                })
            })
            .collect();
        for m in movers {
            m.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        for c in checkers {
            assert!(c.join().unwrap() > 0);
        }
        // Background compactions may still be catching up with the last flushes.
        db.wait_for_compaction().unwrap();
        let s = db.stats();
        assert!(
            s.flushes > 0 && s.compactions > 0,
            "flushes and compactions ran: {s}"
        );
        let sum: u64 = db
            .prefix(b"acct/")
            .map(|r| balance(Some(r.unwrap().1)))
            .sum();
        assert_eq!(sum, total);
    }
}
