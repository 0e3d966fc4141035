//! Damage to value-log files is found, never returned as a wrong value: a flipped byte is
//! an error naming the file on the read that meets it and in `verify`; a missing or
//! truncated file stops the open with an error naming it.

mod common;

use std::path::Path;
use std::sync::Arc;

use stratakv::filename::vlog_path;
use stratakv::fs::{FileSystem, MemFs};
use stratakv::{Db, Options};

const DIR: &str = "/v";

fn opts(fs: &MemFs) -> Options {
    Options {
        value_threshold: 64,
        vlog_file_size: 64 << 10,
        vlog_gc_background: false,
        fs: Arc::new(fs.clone()),
        ..Options::default()
    }
}

fn value(i: u32) -> Vec<u8> {
    let mut rng = common::Rng::new(u64::from(i));
    rng.bytes(500 + (i as usize % 7) * 100)
}

/// A closed store of 400 separated values over several value-log files; the sealed ones.
fn store() -> (MemFs, Vec<u64>) {
    let fs = MemFs::new();
    let db = Db::open_with(DIR, opts(&fs)).unwrap();
    for i in 0..400 {
        db.put(format!("k{i:03}"), value(i)).unwrap();
    }
    let sealed = db
        .vlog_files()
        .iter()
        .filter(|f| !f.active)
        .map(|f| f.number)
        .collect::<Vec<_>>();
    assert!(sealed.len() >= 3, "several sealed files");
    db.close().unwrap();
    (fs, sealed)
}

fn read_all(db: &Db) -> (usize, Vec<stratakv::Error>) {
    let (mut ok, mut errs) = (0, Vec::new());
    for i in 0..400 {
        match db.get(format!("k{i:03}")) {
            Ok(Some(v)) => {
                assert_eq!(v, value(i), "never a wrong value");
                ok += 1;
            }
            Ok(None) => panic!("k{i:03} silently missing"),
            Err(e) => errs.push(e),
        }
    }
    (ok, errs)
}

#[test]
fn flipped_byte_is_an_error_naming_the_file() {
    let (fs, sealed) = store();
    let n = sealed[1];
    let path = vlog_path(Path::new(DIR), n);
    let len = fs.file_len(&path).unwrap();
    // Inside the first value (after the file header and a sync mark), the middle, the end.
    for offset in [60, len / 2, len - 3] {
        let image = fs.crash_clone();
        let byte = image.read_file(&path).unwrap()[offset];
        image.corrupt(&path, offset, &[byte ^ 0x04]).unwrap();
        let db = Db::open_with(DIR, opts(&image)).unwrap();
        let (ok, errs) = read_all(&db);
        assert!(
            !errs.is_empty(),
            "offset {offset}: the damaged value is an error"
        );
        assert!(ok > 300, "the rest still reads");
        for e in &errs {
            assert!(e.is_corruption(), "{e}");
            assert!(e.to_string().contains(&format!("{n:06}.vlog")), "{e}");
        }
        // Scans meet it too.
        assert!(db.iter().any(|r| r.is_err()), "scan reports the damage");
        let report = db.verify().unwrap();
        assert!(
            report
                .damage
                .iter()
                .any(|d| d.file.to_string_lossy().contains(&format!("{n:06}.vlog"))),
            "verify names the file: {report}"
        );
    }
}

#[test]
fn missing_or_truncated_file_stops_the_open() {
    let (fs, sealed) = store();
    let n = sealed[0];
    let path = vlog_path(Path::new(DIR), n);
    let image = fs.crash_clone();
    image.remove_file(&path).unwrap();
    let e = Db::open_with(DIR, opts(&image)).unwrap_err();
    assert!(e.is_corruption(), "{e}");
    assert!(e.to_string().contains(&format!("{n:06}.vlog")), "{e}");

    let image = fs.crash_clone();
    let len = image.file_len(&path).unwrap();
    image.truncate(&path, len - 10).unwrap();
    let e = Db::open_with(DIR, opts(&image)).unwrap_err();
    assert!(e.is_corruption(), "{e}");
    assert!(e.to_string().contains(&format!("{n:06}.vlog")), "{e}");
}

#[test]
fn zeroed_block_is_found_by_verify() {
    let (fs, sealed) = store();
    let n = sealed[2];
    let path = vlog_path(Path::new(DIR), n);
    let image = fs.crash_clone();
    image.corrupt(&path, 1000, &[0u8; 4096]).unwrap();
    let db = Db::open_with(DIR, opts(&image)).unwrap();
    let report = db.verify().unwrap();
    assert!(!report.is_ok(), "zeroed 4 KiB found");
    let (_, errs) = read_all(&db);
    assert!(errs.iter().all(|e| e.is_corruption()));
    assert!(!errs.is_empty());
}
