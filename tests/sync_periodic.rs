//! `SyncMode::Periodic` makes writes durable within about one interval, with no explicit
//! sync; `SyncMode::Never` leaves them to `db.sync()`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stratakv::fs::MemFs;
use stratakv::{Db, Options, SyncMode};

fn opts(fs: &MemFs, mode: SyncMode) -> Options {
    Options {
        wal_sync: mode,
        fs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

#[test]
fn periodic_sync_makes_writes_durable_without_asking() {
    let fs = MemFs::new();
    let db = Db::open_with(
        "/p",
        opts(&fs, SyncMode::Periodic(Duration::from_millis(10))),
    )
    .unwrap();
    db.put(b"k", b"v").unwrap();
    // Poll the crash image until the background sync has run (bounded wait).
    let start = Instant::now();
    loop {
        let crashed = fs.crash_clone();
        let reopened = Db::open_with("/p", opts(&crashed, SyncMode::Never)).unwrap();
        if reopened.get(b"k").unwrap().is_some() {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never synced");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(db.stats().wal_syncs >= 1);
}

#[test]
fn never_mode_loses_unsynced_writes_on_power_loss_until_sync() {
    let fs = MemFs::new();
    let db = Db::open_with("/n", opts(&fs, SyncMode::Never)).unwrap();
    db.put(b"a", b"1").unwrap();
    let crashed = fs.crash_clone();
    let reopened = Db::open_with("/n", opts(&crashed, SyncMode::Never)).unwrap();
    assert_eq!(
        reopened.get(b"a").unwrap(),
        None,
        "not synced, so lost on power loss"
    );
    db.sync().unwrap();
    let crashed = fs.crash_clone();
    let reopened = Db::open_with("/n", opts(&crashed, SyncMode::Never)).unwrap();
    assert!(reopened.get(b"a").unwrap().is_some(), "synced by db.sync()");
}
