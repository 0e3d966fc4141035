//! The bodies of StrataKV's fuzz targets: each takes arbitrary bytes and feeds them to one
//! decoder (or, for `model`, reads them as operations run against a `BTreeMap`). A target
//! may return errors, never panic, hang or allocate without bound; `model` also panics when
//! the store and the map disagree.
//!
//! Used twice: by the cargo-fuzz binaries in `fuzz_targets/` (coverage-guided, nightly or
//! `RUSTC_BOOTSTRAP=1`), and by the stable test `tests/fuzz_corpus.rs`, which replays the
//! committed corpora in `fuzz/corpus/<target>/` and seeded random inputs on every `cargo
//! test`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use stratakv::fs::{FileSystem, MemFs};
use stratakv::iter::InternalIterator;
use stratakv::key::compare_internal;
use stratakv::sstable::block::Block;
use stratakv::sstable::filter::Filter;
use stratakv::sstable::format::Footer;
use stratakv::sstable::index::Index;
use stratakv::sstable::{Table, TableOpenOptions};
use stratakv::wal::format::LogKind;
use stratakv::{Db, Options};

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// Every target, by name (the names of `fuzz_targets/*.rs` and `fuzz/corpus/*`).
pub const TARGETS: &[(&str, Target)] = &[
    ("wal_record", wal_record),
    ("batch", batch),
    ("block", block),
    ("index", index),
    ("filter", filter),
    ("footer", footer),
    ("table", table),
    ("manifest_edit", manifest_edit),
    ("vlog_record", vlog_record),
    ("typed_value", typed_value),
    ("options_toml", options_toml),
    ("model", model),
];

const PATH: &str = "/fuzz/000001.wal";

/// A log file (WAL, manifest or value log framing) read whole, tolerant and strict.
pub fn wal_record(data: &[u8]) {
    for kind in [LogKind::Wal, LogKind::Manifest, LogKind::Vlog] {
        for tolerate in [true, false] {
            let r = stratakv::wal::read_log(
                Path::new(PATH),
                Bytes::copy_from_slice(data),
                kind,
                1,
                tolerate,
            );
            if let Ok(log) = r {
                let accounted = log.valid_len + log.torn_tail_bytes + log.zeroed_tail_bytes;
                assert!(accounted == data.len() as u64 || !tolerate);
                for rec in log.records {
                    assert!(rec.offset < data.len() as u64);
                }
            }
        }
    }
}

/// A write batch's encoding.
pub fn batch(data: &[u8]) {
    if let Some((_seq, records)) = stratakv::batch::decode_batch(data) {
        for r in records {
            assert!(r.key.len() <= data.len() && r.value.len() <= data.len());
        }
    }
}

fn walk(it: &mut dyn InternalIterator, probe: &[u8]) {
    let mut n = 0;
    if it.seek_to_first().is_ok() {
        while it.valid() && n < 10_000 {
            let _ = (it.key(), it.value());
            if it.next().is_err() {
                break;
            }
            n += 1;
        }
    }
    if it.seek_to_last().is_ok() {
        n = 0;
        while it.valid() && n < 10_000 {
            if it.prev().is_err() {
                break;
            }
            n += 1;
        }
    }
    let _ = it.seek(probe);
    let _ = it.seek_for_prev(probe);
}

/// A data block (entries with shared prefixes and restart points), walked both ways.
pub fn block(data: &[u8]) {
    let Ok(b) = Block::new(Bytes::copy_from_slice(data), Path::new(PATH), 0) else {
        return;
    };
    let probe = data.get(..data.len().min(12)).unwrap_or_default();
    walk(
        &mut b.iter(compare_internal, Arc::from(Path::new(PATH)), 0),
        probe,
    );
    walk(
        &mut b.iter(|a, b| a.cmp(b), Arc::from(Path::new(PATH)), 0),
        probe,
    );
}

/// An index block.
pub fn index(data: &[u8]) {
    if let Ok(b) = Block::new(Bytes::copy_from_slice(data), Path::new(PATH), 0) {
        let _ = Index::parse(&b, Path::new(PATH), 0);
    }
}

/// A bloom filter block, probed with a few keys.
pub fn filter(data: &[u8]) {
    if let Some(f) = Filter::new(Bytes::copy_from_slice(data)) {
        for k in [&b""[..], b"a", b"key", data] {
            let _ = f.may_contain(k);
        }
    }
}

/// A table footer, as the last bytes of a file.
pub fn footer(data: &[u8]) {
    let _ = Footer::decode(Path::new(PATH), data, data.len() as u64);
}

/// A whole table file: open (footer, index, filter, properties), then read everything.
pub fn table(data: &[u8]) {
    let fs = MemFs::new();
    let dir = Path::new("/fuzz");
    let path = dir.join("000001.sst");
    fs.create_dir_all(dir).unwrap();
    let mut f = fs.create(&path).unwrap();
    f.append(data).unwrap();
    f.sync().unwrap();
    drop(f);
    let opts = TableOpenOptions {
        verify: true,
        ..TableOpenOptions::default()
    };
    let Ok(t) = Table::open(&fs, &path, 1, Some(data.len() as u64), &opts) else {
        return;
    };
    let mut it = t.iter();
    walk(&mut it, b"key");
    let mut c = stratakv::sstable::LookupCounters::default();
    let lookup =
        stratakv::key::make_internal_key(b"key", u64::MAX >> 8, stratakv::key::KIND_FOR_SEEK);
    let _ = t.get(&lookup, stratakv::sstable::filter::key_hash(b"key"), &mut c);
}

/// A manifest version edit.
pub fn manifest_edit(data: &[u8]) {
    if let Ok(e) = stratakv::manifest::edit::VersionEdit::decode(data) {
        // What decodes re-encodes to something that decodes the same.
        let again = stratakv::manifest::edit::VersionEdit::decode(&e.encode()).unwrap();
        assert_eq!(e, again);
    }
}

/// A value-log record as a handle would point at it, and its payload.
pub fn vlog_record(data: &[u8]) {
    let rec = Bytes::copy_from_slice(data);
    if let Ok(payload) = stratakv::vlog::format::check_framed(Path::new(PATH), 0, &rec) {
        let _ = stratakv::vlog::format::decode_payload(Path::new(PATH), 0, &payload);
    }
    let _ = stratakv::vlog::format::decode_payload(Path::new(PATH), 0, &rec);
    let _ = stratakv::vlog::format::Handle::decode(data);
}

/// A typed value's encoding.
pub fn typed_value(data: &[u8]) {
    if let Ok(v) = stratakv::value::Value::decode(&Bytes::copy_from_slice(data)) {
        let again = stratakv::value::Value::decode(&Bytes::from(v.encode())).unwrap();
        assert_eq!(v.encode(), again.encode());
    }
}

/// An options file.
pub fn options_toml(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(o) = Options::from_toml_str(s) {
            let _ = o.validate();
        }
    }
}

/// Bytes read as operations (put, delete, get, range scan both ways, flush, reopen) on a
/// store with a tiny memtable, checked against a `BTreeMap` after each.
pub fn model(data: &[u8]) {
    let fs = MemFs::new();
    let opts = Options {
        memtable_size: 64 << 10,
        block_size: 256,
        value_threshold: 48,
        fs: Arc::new(fs),
        ..Options::default()
    };
    let mut db = Db::open_with("/model", opts.clone()).unwrap();
    let mut map: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut n = 0u32;
    for op in data.chunks(3) {
        let [code, a, b] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let key = vec![b'k', a % 32];
        n += 1;
        match code % 8 {
            0..=2 => {
                let v: Vec<u8> = (0..usize::from(b)).map(|i| (i as u8) ^ a).collect();
                db.put(&key, &v).unwrap();
                map.insert(key, v);
            }
            3 => {
                db.delete(&key).unwrap();
                map.remove(&key);
            }
            4 => assert_eq!(
                db.get(&key).unwrap().as_deref(),
                map.get(&key).map(|v| &v[..])
            ),
            5 => {
                let hi = vec![b'k', b % 32];
                let got: Vec<_> = if a & 1 == 0 {
                    db.range(key.clone()..hi.clone())
                        .map(|r| r.unwrap().0.to_vec())
                        .collect()
                } else {
                    db.range(key.clone()..hi.clone())
                        .rev()
                        .map(|r| r.unwrap().0.to_vec())
                        .collect()
                };
                let mut want: Vec<_> = if key <= hi {
                    map.range(key..hi).map(|(k, _)| k.clone()).collect()
                } else {
                    Vec::new()
                };
                if a & 1 == 1 {
                    want.reverse();
                }
                assert_eq!(got, want);
            }
            6 => db.flush().unwrap(),
            _ => {
                if n.is_multiple_of(4) {
                    drop(db);
                    db = Db::open_with("/model", opts.clone()).unwrap();
                }
            }
        }
    }
    let all: Vec<_> = db
        .iter()
        .map(|r| r.unwrap())
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    let want: Vec<_> = map.into_iter().collect();
    assert_eq!(all, want);
}
