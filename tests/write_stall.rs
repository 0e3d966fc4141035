//! Writers are slowed past the slowdown trigger and stopped at the stop trigger, and the
//! stop releases once compaction catches up: every write completes, none deadlocks.

mod common;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use stratakv::fs::MemFs;
use stratakv::{Db, Options};

#[test]
fn stop_trigger_releases_when_compaction_catches_up() {
    let fs = MemFs::new();
    let opts = Options {
        memtable_size: 64 << 10,
        max_immutable_memtables: 1,
        base_level_size: 1 << 20,
        target_file_size: 256 << 10,
        level0_compaction_trigger: 2,
        level0_slowdown_trigger: 2,
        level0_stop_trigger: 3,
        slowdown_write_rate: 4 << 20,
        fs: Arc::new(fs),
        ..Options::default()
    };
    let db = Db::open_with("/stall", opts).unwrap();
    let (tx, rx) = mpsc::channel();
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            for i in 0..40_000u32 {
                db.put(format!("k{:06}", (i * 7919) % 40_000), [b'v'; 100])
                    .unwrap();
            }
            tx.send(()).unwrap();
        })
    };
    rx.recv_timeout(Duration::from_secs(120))
        .expect("writers deadlocked behind the stop trigger");
    writer.join().unwrap();
    let s = db.stats();
    println!("{s}");
    assert!(
        s.write_stalls + s.write_slowdowns > 0,
        "the triggers never fired"
    );
    assert!(s.compactions > 0);
    assert!(
        s.levels[0].tables < 3 + 2,
        "L0 stayed near the stop trigger"
    );
    assert_eq!(db.iter().count(), 40_000);
}
