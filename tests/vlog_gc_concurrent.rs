//! Value-log GC racing with writers: a write made while GC moves the old value always wins,
//! readers never see a value go back in time, and after a restart every key holds its last
//! write.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stratakv::fs::MemFs;
use stratakv::{Db, Options};

const WRITERS: u64 = 3;
const KEYS_PER_WRITER: u64 = 100;
const VERSIONS: u64 = 30;

fn opts(fs: &MemFs) -> Options {
    Options {
        value_threshold: 64,
        vlog_file_size: 64 << 10,
        vlog_gc_discard_ratio: 0.2,
        memtable_size: 128 << 10,
        fs: Arc::new(fs.clone()),
        ..common::tiny_levels(Options::default())
    }
}

fn value(key: u64, version: u64) -> Vec<u8> {
    let mut v = format!("{key}:{version:06}:").into_bytes();
    v.resize(300 + (key as usize * 7) % 500, b'.');
    v
}

fn version_of(v: &[u8]) -> u64 {
    let s = std::str::from_utf8(v).unwrap();
    s.split(':').nth(1).unwrap().parse().unwrap()
}

#[test]
fn newer_writes_win_over_gc() {
    let fs = MemFs::new();
    let db = Db::open_with("/c", opts(&fs)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // This thread and the background GC both collect. Writers wait halfway through for the
    // first collected file (`vlog_gc_files` counts both), so the second half of the writes
    // always races a GC that is moving values, on any schedule: on a fast machine the
    // writers could otherwise finish before GC starts.
    let gc = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                db.vlog_gc().unwrap();
                db.compact().unwrap();
            }
        })
    };
    let reader = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let total = WRITERS * KEYS_PER_WRITER;
            let mut seen = vec![0u64; total as usize];
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let k = i % total;
                if let Some(v) = db.get(format!("key{k:05}")).unwrap() {
                    assert_eq!(v, value(k, version_of(&v)), "well-formed");
                    let ver = version_of(&v);
                    assert!(ver >= seen[k as usize], "key {k} went back in time");
                    seen[k as usize] = ver;
                }
                i += 1;
            }
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let db = db.clone();
            std::thread::spawn(move || {
                for ver in 1..=VERSIONS {
                    if ver == VERSIONS / 2 + 1 {
                        let deadline = Instant::now() + Duration::from_secs(120);
                        while db.stats().vlog_gc_files == 0 {
                            assert!(Instant::now() < deadline, "GC collected no file");
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                    for j in 0..KEYS_PER_WRITER {
                        let k = w * KEYS_PER_WRITER + j;
                        db.put(format!("key{k:05}"), value(k, ver)).unwrap();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    gc.join().unwrap();
    reader.join().unwrap();
    assert!(db.stats().vlog_gc_files > 0, "GC ran while writers wrote");
    let check = |db: &Db| {
        for k in 0..WRITERS * KEYS_PER_WRITER {
            let v = db.get(format!("key{k:05}")).unwrap().unwrap();
            assert_eq!(v, value(k, VERSIONS), "key {k} holds its last write");
        }
    };
    check(&db);
    db.close().unwrap();
    let db = Db::open_with("/c", opts(&fs)).unwrap();
    check(&db);
    assert!(db.verify().unwrap().is_ok());
}
