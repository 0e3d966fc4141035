//! Value-log GC moves a live record byte for byte when its value is stored under the
//! current compression type: it neither decompresses nor compresses it again. A file
//! written under Zstandard level 19 and collected under level 1 keeps the level-19 bytes
//! (compressing again would give level 1's), and every value reads back.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::gc_by_hand::{half_garbage_file_with, options};
use stratakv::filename::vlog_path;
use stratakv::fs::{FileSystem, MemFs};
use stratakv::inspect::dump_vlog;
use stratakv::{Compression, Db, Options};

const DIR: &str = "/g";

/// 2000 bytes naming `tag` and `i`: a random quarter, then text that compresses.
fn val(tag: &str, i: u32) -> Vec<u8> {
    let mut v = format!("{tag}-{i}-").into_bytes();
    v.extend(common::Rng::new(u64::from(i) << 8 | u64::from(tag.as_bytes()[0])).bytes(500));
    while v.len() < 2000 {
        v.extend_from_slice(format!("{tag} value {i} at {} ", v.len()).as_bytes());
    }
    v.truncate(2000);
    v
}

fn opts(fs: &MemFs, level: i32) -> Options {
    Options {
        compression: Compression::Zstd { level },
        ..options(fs)
    }
}

/// The records of value-log file `n`, by key: their bytes as they are in the file.
fn records(fs: &MemFs, n: u64) -> HashMap<String, Vec<u8>> {
    let path = vlog_path(Path::new(DIR), n);
    let data = fs.read_file(&path).unwrap();
    dump_vlog(fs, &path)
        .unwrap()
        .records
        .into_iter()
        .map(|r| {
            let at = r.offset as usize;
            (r.key, data[at..at + r.len as usize].to_vec())
        })
        .collect()
}

/// The records of the database's value-log files numbered above `above`, by key (the last
/// record of a key wins).
fn records_above(fs: &MemFs, db: &Db, above: u64) -> HashMap<String, Vec<u8>> {
    let mut all = HashMap::new();
    for f in db.vlog_files().into_iter().filter(|f| f.number > above) {
        all.extend(records(fs, f.number));
    }
    all
}

#[test]
fn gc_copies_records_stored_under_the_current_compression_type() {
    let fs = MemFs::new();
    let db = Db::open_with(DIR, opts(&fs, 19)).unwrap();
    half_garbage_file_with(&db, val);
    // Each key's live record as stored.
    let before = records_above(&fs, &db, 0);
    let newest = db.vlog_files().iter().map(|f| f.number).max().unwrap();
    db.close().unwrap();
    assert_eq!(before.len(), 400);

    // The test can fail: level 1 compresses these values to other bytes than level 19.
    let differ = (0..200).filter(|&i| {
        let v = val("B1", i);
        zstd::bulk::compress(&v, 1).unwrap() != zstd::bulk::compress(&v, 19).unwrap()
    });
    assert!(differ.count() > 100, "levels 1 and 19 give the same bytes");

    let db = Db::open_with(DIR, opts(&fs, 1)).unwrap();
    let report = db.vlog_gc().unwrap();
    assert!(report.files_collected > 0, "{report:?}");
    let moved = records_above(&fs, &db, newest);
    assert_eq!(moved.len() as u64, report.values_moved, "{report:?}");
    assert!(report.values_moved >= 100, "{report:?}");
    assert_eq!(report.bytes_moved, report.values_moved * (4 + 2000));
    for (k, new) in &moved {
        assert!(
            before[k] == *new,
            "{k}: moved record differs from the one stored"
        );
    }
    for i in 0..200 {
        let (a, b) = (format!("a{i:03}"), format!("b{i:03}"));
        assert_eq!(
            db.get(&a).unwrap().as_deref(),
            Some(&val("A2", i)[..]),
            "{a}"
        );
        assert_eq!(
            db.get(&b).unwrap().as_deref(),
            Some(&val("B1", i)[..]),
            "{b}"
        );
    }
    db.close().unwrap();
    let db = Db::open_with(DIR, opts(&fs, 1)).unwrap();
    assert_eq!(
        db.get("b123").unwrap().as_deref(),
        Some(&val("B1", 123)[..])
    );
    assert!(db.verify().unwrap().is_ok());
}
