//! Value-log garbage collection gives the space back: overwrite 20K keys of 16 KiB five
//! times, compact, collect until nothing is left: the directory holds at most 1.5x the live
//! data, and every value is the last one written.

mod common;

use common::Rng;
use stratakv::{Db, Options};

const KEYS: u64 = 20_000;
const VALUE_BYTES: usize = 16 << 10;
const ROUNDS: u64 = 5;

/// A value that names its key and round, padded with seeded noise (incompressible).
fn value(rng: &mut Rng, key: u64, round: u64) -> Vec<u8> {
    let mut v = format!("{key}:{round}:").into_bytes();
    let n = VALUE_BYTES - v.len();
    v.extend((0..n / 8).flat_map(|_| rng.next_u64().to_le_bytes()));
    v.resize(VALUE_BYTES, 0);
    v
}

#[test]
fn overwrite_compact_collect_reclaims_space() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let db = Db::open_with(&path, Options::default()).unwrap();
    let mut rng = Rng::new(7);
    for round in 0..ROUNDS {
        for k in 0..KEYS {
            db.put(format!("key{k:06}"), value(&mut rng, k, round))
                .unwrap();
        }
    }
    db.compact().unwrap();
    let mut total = stratakv::VlogGcReport::default();
    loop {
        let r = db.vlog_gc().unwrap();
        total.files_collected += r.files_collected;
        total.files_deleted += r.files_deleted;
        total.bytes_moved += r.bytes_moved;
        if r.files_collected == 0 && r.files_deleted == 0 {
            break;
        }
    }
    let live = KEYS * VALUE_BYTES as u64;
    let on_disk = common::dir_bytes(&path);
    let s = db.stats();
    println!(
        "live {live} B, on disk {on_disk} B ({:.2}x); GC: {total:?}; vlog files {}, \
         write amplification {:.2}",
        on_disk as f64 / live as f64,
        s.vlog_files,
        s.write_amplification
    );
    // The background GC thread may have collected some or all of them first.
    assert!(
        s.vlog_gc_files > 0,
        "five rounds of overwrites leave whole files of garbage"
    );
    assert!(
        on_disk as f64 <= 1.5 * live as f64,
        "on disk {on_disk} B is more than 1.5x the live {live} B"
    );
    for k in (0..KEYS).step_by(7) {
        let v = db.get(format!("key{k:06}")).unwrap().expect("present");
        assert!(
            v.starts_with(format!("{k}:{}:", ROUNDS - 1).as_bytes()),
            "key {k}: the last round's value"
        );
        assert_eq!(v.len(), VALUE_BYTES);
    }
    let mut n = 0;
    for item in db.iter() {
        let (k, v) = item.unwrap();
        let k: u64 = std::str::from_utf8(&k[3..]).unwrap().parse().unwrap();
        assert!(v.starts_with(format!("{k}:{}:", ROUNDS - 1).as_bytes()));
        n += 1;
    }
    assert_eq!(n, KEYS);
    db.close().unwrap();
    let db = Db::open_with(&path, Options::default()).unwrap();
    let v = db.get("key000003").unwrap().unwrap();
    assert!(v.starts_with(format!("3:{}:", ROUNDS - 1).as_bytes()));
    assert!(db.verify().unwrap().is_ok());
}
