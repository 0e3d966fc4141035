//! Recovery on a full filesystem reads a WAL segment's unwritten tail as an error-free
//! stretch of zeros, never as a crash. A segment a kill left open can end in a hole (where
//! the preallocation fell back to a sparse extension); on a full tmpfs, reading a hole
//! through a shared map needs a page the filesystem cannot give, and the kernel answers
//! with SIGBUS, which no `Result` can carry. The store lives on a tmpfs mounted for the
//! test (it needs the right to mount, as root has; elsewhere the test prints why it is
//! skipped).

#[path = "support/tmpfs.rs"]
mod tmpfs;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use stratakv::{Db, Options, WriteOptions};
use tmpfs::Mount;

fn key(i: u32) -> String {
    format!("k{i:05}")
}

fn value(i: u32) -> Vec<u8> {
    format!("value {i}").repeat(20).into_bytes()
}

/// Copies every file of `from` into `to` (a snapshot of a store that was never closed).
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Writes to `path` until the filesystem answers that it is full.
fn fill(path: &Path) {
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0xA5u8; 64 << 10];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_all()) {
            assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC, got {e}");
            return;
        }
    }
}

#[test]
fn recovery_reads_a_wal_hole_on_a_full_tmpfs_without_crashing() {
    let Some(mount) = Mount::tmpfs_or_skip("wal-holes", "8m") else {
        return;
    };
    let src = tempfile::tempdir().unwrap();
    let db = Db::open_with(src.path(), Options::default()).unwrap();
    for i in 0..200 {
        db.put_with(key(i), value(i), WriteOptions { sync: true })
            .unwrap();
    }
    // A kill, as the copy sees it: the segment is open, with its preallocated tail.
    let dir = mount.0.join("db");
    copy_dir(src.path(), &dir);
    drop(db);
    let mut holes = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "wal") {
            let f = OpenOptions::new().write(true).open(&p).unwrap();
            let len = f.metadata().unwrap().len();
            f.set_len(len + (2 << 20)).unwrap();
            holes += 1;
        }
    }
    assert!(holes > 0, "the copy holds a WAL segment");
    let filler = mount.0.join("filler");
    fill(&filler);

    // Full: the open may fail (it writes a new segment and a manifest), but as an error.
    if let Ok(db) = Db::open_with(&dir, Options::default()) {
        drop(db);
    }
    std::fs::remove_file(&filler).unwrap();
    let db = Db::open_with(&dir, Options::default()).expect("reopen once space is back");
    for i in 0..200 {
        assert_eq!(
            db.get(key(i)).unwrap().as_deref(),
            Some(&value(i)[..]),
            "acknowledged {} lost",
            key(i)
        );
    }
    db.close().unwrap();
}
