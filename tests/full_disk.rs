//! A real full disk: the store lives on a 4 MiB tmpfs mounted for the test (it needs the
//! right to mount, as root has; elsewhere the test prints why it is skipped). Writes fill
//! it until the kernel answers ENOSPC: that is an `Err`, never a panic; writes are refused
//! from then on while reads go on; after growing the tmpfs, reopening works and every
//! acknowledged write is there.

#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::path::Path;

use stratakv::{Db, Options, WriteOptions};
use tmpfs::Mount;

fn options() -> Options {
    Options {
        memtable_size: 512 << 10,
        value_threshold: 1 << 20,
        ..Options::default()
    }
}

/// 1000 bytes that do not compress.
fn value(i: u32) -> Vec<u8> {
    let mut x = u64::from(i) ^ 0x9E37_79B9_7F4A_7C15;
    (0..1000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn full_disk_refuses_writes_then_reopen_works_once_space_is_back() {
    let Some(mount) = Mount::tmpfs_or_skip("full-disk", "4m") else {
        return;
    };
    let dir: &Path = &mount.0.join("db");
    let db = Db::open_with(dir, options()).unwrap();
    let mut acked = 0u32;
    let mut first_err = None;
    for i in 0..20_000u32 {
        match db.put_with(
            format!("k{i:06}"),
            value(i),
            WriteOptions { sync: i % 16 == 0 },
        ) {
            Ok(()) => {
                assert!(
                    first_err.is_none(),
                    "write {i} acknowledged after {first_err:?}"
                );
                acked = i + 1;
            }
            Err(e) => {
                assert!(e.is_io() || e.is_writes_stopped(), "{e}");
                first_err.get_or_insert(e.to_string());
            }
        }
    }
    let first_err = first_err.expect("4 MiB filled by 20 MB of writes");
    assert!(acked > 100, "only {acked} writes fitted");
    assert!(
        db.put(b"more", b"x").unwrap_err().is_writes_stopped(),
        "writes stay refused until reopen"
    );
    assert_eq!(
        db.get(b"k000000").unwrap().as_deref(),
        Some(&value(0)[..]),
        "reads go on"
    );
    drop(db);
    // Still full: opening again is an error or works, never a panic.
    if let Ok(db) = Db::open_with(dir, options()) {
        drop(db);
    }
    mount.resize("64m");
    let db = Db::open_with(dir, options()).expect("reopen once space is back");
    for i in 0..acked {
        assert_eq!(
            db.get(format!("k{i:06}")).unwrap().as_deref(),
            Some(&value(i)[..]),
            "acknowledged k{i:06} lost"
        );
    }
    db.put(b"after", b"space is back").unwrap();
    db.close().unwrap();
    eprintln!(
        "scenario full_disk/tmpfs: cases=1 acked={acked} first_error=\"{first_err}\" acked_lost=0"
    );
}
