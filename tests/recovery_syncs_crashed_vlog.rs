//! After a kill, the value-log file the process was appending to holds values that were
//! handed to the OS but never fsynced. Recovery seals that file and makes tables (or kept
//! WAL segments) point into it: it must make those bytes durable first, or a power loss
//! after the reopen leaves the manifest naming values that are gone.

mod common;

use std::sync::Arc;

use stratakv::fs::MemFs;
use stratakv::{Db, Options};

const DIR: &str = "/killed";

fn options(fs: &MemFs) -> Options {
    Options {
        value_threshold: 100,
        fs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

fn value(i: u32) -> Vec<u8> {
    vec![b'a' + (i % 26) as u8; 300 + i as usize % 50]
}

#[test]
fn a_power_loss_after_recovery_keeps_the_recovered_values() {
    let fs = MemFs::new();
    let db = Db::open_with(DIR, options(&fs)).unwrap();
    for i in 0..200u32 {
        db.put(format!("k{i:04}"), value(i)).unwrap();
    }
    // Killed: nothing was synced, the OS holds every byte.
    let killed = fs.killed_clone();
    drop(db);
    let db = Db::open_with(DIR, options(&killed)).unwrap();
    assert_eq!(db.get("k0007").unwrap().as_deref(), Some(&value(7)[..]));
    db.close().unwrap();
    // Power lost after the clean close: what the reopen and close made durable is all.
    let after = killed.crash_clone();
    let db = Db::open_with(DIR, options(&after)).unwrap();
    for i in 0..200u32 {
        assert_eq!(
            db.get(format!("k{i:04}")).unwrap().as_deref(),
            Some(&value(i)[..]),
            "key {i}"
        );
    }
}
