//! The hot-key cache never serves a value older than the latest write a reader could see:
//! a writer reads its own writes back at once, and concurrent readers see each key's
//! counter only move forward.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::tiny_mem_options;
use stratakv::fs::MemFs;
use stratakv::{Db, Options};

fn counter(v: &[u8]) -> u64 {
    std::str::from_utf8(v).unwrap().parse().unwrap()
}

#[test]
fn writes_invalidate_and_readers_never_go_back() {
    let fs = MemFs::new();
    let opts = Options {
        hot_key_cache_size: 1 << 20,
        ..tiny_mem_options(&fs)
    };
    let db = Db::open_with("/db", opts).unwrap();
    const KEYS: u64 = 8;
    for k in 0..KEYS {
        db.put(format!("k{k}"), "0").unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = [0u64; KEYS as usize];
                while !stop.load(Ordering::Relaxed) {
                    for k in 0..KEYS {
                        // None only right after the writer's occasional delete.
                        let Some(v) = db.get(format!("k{k}")).unwrap() else {
                            continue;
                        };
                        let v = counter(&v);
                        assert!(
                            v >= seen[k as usize],
                            "key {k} went back from {} to {v}",
                            seen[k as usize]
                        );
                        seen[k as usize] = v;
                    }
                }
            })
        })
        .collect();
    for round in 1..=3000u64 {
        let k = round % KEYS;
        if round % 500 == 0 {
            db.delete(format!("k{k}")).unwrap();
            assert_eq!(db.get(format!("k{k}")).unwrap(), None);
        }
        db.put(format!("k{k}"), round.to_string()).unwrap();
        let back = db.get(format!("k{k}")).unwrap().unwrap();
        assert_eq!(counter(&back), round, "the writer did not read its write");
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    // The cache is in play at all (the readers above may not have run while it held a key,
    // on a loaded machine): a key read again and again with no write between is served
    // from it.
    for _ in 0..20 {
        assert!(db.get("k1").unwrap().is_some());
    }
    let s = db.stats();
    assert!(s.hot_cache_hits > 0, "{s}");
}
