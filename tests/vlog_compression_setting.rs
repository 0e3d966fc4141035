//! `Options::vlog_compression` sets how values in the value log are stored, apart from table
//! blocks: `Some(None)` keeps them as they are, `None` follows `compression`. Each record
//! keeps its own tag, so values written under one setting read back under another, through
//! `pread` and through maps, after reopen and after garbage collection rewrote them.

mod common;

use std::collections::BTreeMap;

use stratakv::{Compression, Db, Options};

const VALUE_LEN: usize = 2000;

fn opts(vlog_compression: Option<Compression>, mmap: bool) -> Options {
    Options {
        compression: Compression::Lz4,
        vlog_compression,
        mmap_reads: mmap,
        value_threshold: 64,
        vlog_file_size: 64 << 10,
        vlog_gc_background: false,
        vlog_gc_discard_ratio: 0.3,
        ..Options::default()
    }
}

/// Half random bytes, half one repeated byte: LZ4 roughly halves it.
fn value(gen: u32, i: u32) -> Vec<u8> {
    let mut v = common::Rng::new(u64::from(gen) << 32 | u64::from(i)).bytes(VALUE_LEN / 2);
    v.resize(VALUE_LEN, b'v');
    v
}

fn key(i: u32) -> String {
    format!("k{i:04}")
}

/// Bytes in the database's value-log files.
fn vlog_bytes(db: &Db) -> u64 {
    db.vlog_files().iter().map(|f| f.size).sum()
}

/// Writes `n` values of generation `gen` and returns the value-log bytes they took.
fn load(db: &Db, model: &mut BTreeMap<String, Vec<u8>>, gen: u32, n: u32) -> u64 {
    let before = vlog_bytes(db);
    for i in 0..n {
        db.put(key(i), value(gen, i)).unwrap();
        model.insert(key(i), value(gen, i));
    }
    vlog_bytes(db) - before
}

fn check(db: &Db, model: &BTreeMap<String, Vec<u8>>) {
    for (k, v) in model {
        assert_eq!(db.get(k).unwrap().as_deref(), Some(&v[..]), "get {k}");
    }
    let scanned: BTreeMap<String, Vec<u8>> = db
        .iter()
        .map(|r| {
            let (k, v) = r.unwrap();
            (String::from_utf8(k.to_vec()).unwrap(), v.to_vec())
        })
        .collect();
    assert!(scanned == *model, "scan differs from the model");
    let report = db.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
}

#[test]
fn raw_values_take_their_size_and_read_back_under_every_setting() {
    for mmap in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let raw_bytes = 200 * VALUE_LEN as u64;
        let mut model = BTreeMap::new();

        // Stored as they are: the records hold at least the values' bytes.
        let db = Db::open_with(dir.path(), opts(Some(Compression::None), mmap)).unwrap();
        let raw = load(&db, &mut model, 0, 200);
        assert!(raw >= raw_bytes, "raw values took {raw} bytes, mmap {mmap}");
        check(&db, &model);
        db.close().unwrap();

        // Following the table setting (LZ4), new values take about half; the raw ones
        // still read back, by get, scan and verify.
        let db = Db::open_with(dir.path(), opts(None, mmap)).unwrap();
        check(&db, &model);
        let lz4 = load(&db, &mut model, 1, 100);
        assert!(
            lz4 < 100 * VALUE_LEN as u64 * 3 / 4,
            "LZ4 values took {lz4} bytes, mmap {mmap}"
        );
        check(&db, &model);

        // GC rewrites the live raw values under the current setting.
        db.compact().unwrap();
        let report = db.vlog_gc().unwrap();
        assert!(report.files_collected > 0, "{report}");
        check(&db, &model);
        db.close().unwrap();

        // And back to raw, with values of both kinds on disk.
        let db = Db::open_with(dir.path(), opts(Some(Compression::None), mmap)).unwrap();
        check(&db, &model);
        let raw = load(&db, &mut model, 2, 50);
        assert!(raw >= 50 * VALUE_LEN as u64, "raw values took {raw} bytes");
        check(&db, &model);
        db.close().unwrap();
    }
}
