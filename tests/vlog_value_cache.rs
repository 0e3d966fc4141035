//! `Options::cache_values`: separated values read go into the block cache only when it is
//! on (off by default); either way they read back, by get and by scan.

mod common;

use stratakv::{Db, Options};

fn value(i: u32) -> Vec<u8> {
    let mut v = common::Rng::new(u64::from(i)).bytes(1000);
    v.resize(2000, b'v');
    v
}

/// Block-cache bytes after writing 200 separated values of 2000 bytes, flushing, and
/// reading every value twice by get and once by scan.
fn cached_bytes(cache_values: bool) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(
        dir.path(),
        Options {
            value_threshold: 100,
            cache_values,
            ..Options::default()
        },
    )
    .unwrap();
    for i in 0..200 {
        db.put(format!("k{i:03}"), value(i)).unwrap();
    }
    db.flush().unwrap();
    for _ in 0..2 {
        for i in 0..200 {
            let got = db.get(format!("k{i:03}")).unwrap();
            assert_eq!(got.as_deref(), Some(&value(i)[..]), "k{i:03}");
        }
    }
    let scanned: Vec<Vec<u8>> = db.iter().map(|r| r.unwrap().1.to_vec()).collect();
    assert_eq!(scanned, (0..200).map(value).collect::<Vec<_>>());
    let bytes = db.stats().block_cache_bytes;
    db.close().unwrap();
    bytes
}

#[test]
fn values_enter_the_block_cache_only_when_asked() {
    let values = 200 * 2000;
    let off = cached_bytes(false);
    let on = cached_bytes(true);
    // Off: only the table's blocks (handles, a few KiB); on: the values as well.
    assert!(off < values / 4, "cache_values off: {off} bytes cached");
    assert!(on >= values, "cache_values on: {on} bytes cached");
    assert!(!Options::default().cache_values);
}
