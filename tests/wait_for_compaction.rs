//! `Db::wait_for_compaction` returns once the compaction debt is paid, and returns the
//! failure, instead of waiting forever, when background work fails.

mod common;

use std::sync::{mpsc, Arc};
use std::time::Duration;

use stratakv::fs::{FaultFs, FaultOp, MemFs};
use stratakv::{Db, Options};

fn opts(fs: Arc<dyn stratakv::fs::FileSystem>) -> Options {
    Options {
        memtable_size: 64 << 10,
        fs,
        ..common::tiny_levels(Options::default())
    }
}

fn load(db: &Db) {
    for i in 0..20_000u32 {
        db.put(format!("k{:06}", (i * 7919) % 20_000), [b'v'; 100])
            .unwrap();
    }
}

/// Runs `f` on a thread and fails the test if it takes more than a minute.
fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("wait_for_compaction did not return")
}

#[test]
fn returns_with_nothing_owed_and_everything_readable() {
    let db = Db::open_with("/wait", opts(Arc::new(MemFs::new()))).unwrap();
    load(&db);
    let d = db.clone();
    within_a_minute(move || d.wait_for_compaction()).unwrap();
    let s = db.stats();
    assert_eq!(s.pending_compaction_bytes, 0, "{s}");
    assert!(s.levels[0].tables < 2, "L0 at or over its trigger: {s}");
    assert!(s.compactions > 0, "nothing was compacted: {s}");
    assert_eq!(db.iter().count(), 20_000);
}

#[test]
fn a_failed_flush_or_compaction_is_returned() {
    let fault = Arc::new(FaultFs::new(Arc::new(MemFs::new())));
    let db = Db::open_with("/wait", opts(fault.clone())).unwrap();
    load(&db);
    // No new table can be written from now on.
    fault.fail_path(FaultOp::Create, ".sst");
    db.put("one more", "so that a flush is owed").unwrap();
    let d = db.clone();
    let r = within_a_minute(move || d.wait_for_compaction());
    assert!(r.is_err(), "a failed table write was not reported");
    assert!(fault.injected() > 0);
}
