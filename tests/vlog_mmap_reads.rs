//! With `mmap_reads`, sealed value-log files are read through a memory map and the active
//! one through `pread`: values read back right across rotation, garbage collection (files
//! deleted while an iterator still maps them) and reopen; a deleted file is unmapped once
//! nothing reads it (the cache lets go of its values); a flipped byte in a mapped file is
//! an error naming it, never a wrong value.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use stratakv::filename::vlog_path;
use stratakv::{Db, Options};

fn opts(cache: bool) -> Options {
    Options {
        mmap_reads: true,
        value_threshold: 64,
        vlog_file_size: 64 << 10,
        vlog_gc_background: false,
        vlog_gc_discard_ratio: 0.3,
        block_cache_size: if cache { 8 << 20 } else { 0 },
        ..Options::default()
    }
}

fn value(gen: u32, i: u32) -> Vec<u8> {
    let mut rng = common::Rng::new(u64::from(gen) << 32 | u64::from(i));
    let mut v = rng.bytes(300 + (i as usize % 5) * 200);
    // Half repeated bytes: compressible, as values usually are.
    v.resize(v.len() * 2, b'v');
    v
}

/// Numbers of the value-log files under `dir` this process has mapped (Linux).
fn mapped_vlogs(dir: &Path) -> Vec<u64> {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap_or_default();
    let dir = dir.to_string_lossy();
    let mut n: Vec<u64> = maps
        .lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .filter(|p| p.starts_with(&*dir))
        .filter_map(|p| p.strip_suffix(".vlog")?.rsplit('/').next()?.parse().ok())
        .collect();
    n.sort_unstable();
    n.dedup();
    n
}

fn key(i: u32) -> String {
    format!("k{i:04}")
}

/// Every key reads back its model value, by `get` and by a forward and a backward scan.
fn check(db: &Db, model: &BTreeMap<String, Vec<u8>>) {
    for (k, v) in model {
        assert_eq!(db.get(k).unwrap().as_deref(), Some(&v[..]), "get {k}");
    }
    let fwd: Vec<(Vec<u8>, Vec<u8>)> = db
        .iter()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect();
    let want: Vec<(Vec<u8>, Vec<u8>)> = model
        .iter()
        .map(|(k, v)| (k.as_bytes().to_vec(), v.clone()))
        .collect();
    assert_eq!(fwd, want, "forward scan");
    let mut back: Vec<(Vec<u8>, Vec<u8>)> = db
        .iter()
        .rev()
        .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect();
    back.reverse();
    assert_eq!(back, want, "backward scan");
}

#[test]
fn values_read_back_across_rotation_gc_and_reopen() {
    for cache in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_with(dir.path(), opts(cache)).unwrap();
        let mut model = BTreeMap::new();
        for i in 0..400 {
            db.put(key(i), value(0, i)).unwrap();
            model.insert(key(i), value(0, i));
            // Reads of earlier values reach sealed (mapped) files and the active one.
            let j = i * 7 % (i + 1);
            assert_eq!(db.get(key(j)).unwrap(), Some(value(0, j).into()), "{j}");
        }
        let sealed = db.vlog_files().iter().filter(|f| !f.active).count();
        assert!(sealed >= 3, "several sealed files: {sealed}");
        check(&db, &model);
        if cfg!(target_os = "linux") {
            let active = db.vlog_files().iter().find(|f| f.active).unwrap().number;
            let mapped = mapped_vlogs(dir.path());
            assert!(!mapped.is_empty(), "sealed files are mapped");
            assert!(
                !mapped.contains(&active),
                "the active file is not: {mapped:?}"
            );
        }

        // Overwrite most values, so that GC collects the old files while an iterator opened
        // before still reads them through its maps.
        let mut old = db.iter();
        let first = old.next().unwrap().unwrap();
        for i in 0..400 {
            if i % 4 != 0 {
                db.put(key(i), value(1, i)).unwrap();
                model.insert(key(i), value(1, i));
            }
        }
        // Compaction counts the overwritten values as discarded, which GC acts on.
        db.compact().unwrap();
        let report = db.vlog_gc().unwrap();
        assert!(report.files_collected > 0, "{report}");
        assert_eq!(
            (&first.0[..], &first.1[..]),
            (&b"k0000"[..], &value(0, 0)[..])
        );
        let mut n = 1;
        for r in old.by_ref() {
            let (k, v) = r.unwrap();
            let i: u32 = std::str::from_utf8(&k[1..]).unwrap().parse().unwrap();
            assert_eq!(v, value(0, i), "the old iterator's view of {i}");
            n += 1;
        }
        assert_eq!(n, 400);
        drop(old);
        check(&db, &model);
        db.close().unwrap();

        let db = Db::open_with(dir.path(), opts(cache)).unwrap();
        check(&db, &model);
        for i in 400..450 {
            db.put(key(i), value(2, i)).unwrap();
            model.insert(key(i), value(2, i));
        }
        check(&db, &model);
        db.close().unwrap();
    }
}

/// Values stored uncompressed are read as slices of the map, and cached so: once GC deletes
/// their file, the cache lets go of them and the map goes with them (no deleted file's
/// space stays in use).
#[test]
fn deleted_files_are_unmapped_once_collected() {
    let dir = tempfile::tempdir().unwrap();
    let o = Options {
        compression: stratakv::Compression::None,
        ..opts(true)
    };
    let db = Db::open_with(dir.path(), o).unwrap();
    for i in 0..400 {
        db.put(key(i), value(0, i)).unwrap();
    }
    let first: Vec<u64> = db
        .vlog_files()
        .iter()
        .filter(|f| !f.active)
        .map(|f| f.number)
        .collect();
    for i in 0..400 {
        assert_eq!(db.get(key(i)).unwrap(), Some(value(0, i).into()));
    }
    if cfg!(target_os = "linux") {
        let mapped = mapped_vlogs(dir.path());
        assert!(
            first.iter().all(|n| mapped.contains(n)),
            "{first:?} {mapped:?}"
        );
    }
    for i in 0..400 {
        db.put(key(i), value(1, i)).unwrap();
    }
    db.compact().unwrap();
    let mut deleted = 0;
    for _ in 0..4 {
        deleted += db.vlog_gc().unwrap().files_deleted;
    }
    let live: Vec<u64> = db.vlog_files().iter().map(|f| f.number).collect();
    let gone: Vec<u64> = first
        .iter()
        .copied()
        .filter(|n| !live.contains(n))
        .collect();
    assert!(
        !gone.is_empty() && deleted > 0,
        "GC deleted files: {live:?}"
    );
    if cfg!(target_os = "linux") {
        let mapped = mapped_vlogs(dir.path());
        assert!(
            gone.iter().all(|n| !mapped.contains(n)),
            "deleted {gone:?}, still mapped {mapped:?}"
        );
    }
    for i in 0..400 {
        assert_eq!(db.get(key(i)).unwrap(), Some(value(1, i).into()));
    }
}

#[test]
fn flipped_byte_in_a_mapped_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), opts(false)).unwrap();
    for i in 0..300 {
        db.put(key(i), value(0, i)).unwrap();
    }
    let n = db
        .vlog_files()
        .iter()
        .find(|f| !f.active)
        .map(|f| f.number)
        .unwrap();
    db.close().unwrap();
    let path = vlog_path(dir.path(), n);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x04;
    std::fs::write(&path, &bytes).unwrap();

    let db = Db::open_with(dir.path(), opts(false)).unwrap();
    let mut errs = Vec::new();
    for i in 0..300 {
        match db.get(key(i)) {
            Ok(Some(v)) => assert_eq!(v, value(0, i), "never a wrong value"),
            Ok(None) => panic!("{} silently missing", key(i)),
            Err(e) => errs.push(e),
        }
    }
    assert!(!errs.is_empty(), "the damaged value is an error");
    for e in &errs {
        assert!(e.is_corruption(), "{e}");
        let name = Path::new(&path).file_name().unwrap().to_string_lossy();
        assert!(e.to_string().contains(&*name), "{e}");
    }
    assert!(db.iter().any(|r| r.is_err()), "a scan reports the damage");
}
