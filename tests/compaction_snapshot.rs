//! A reader holding a snapshot across many compactions still reads its versions exactly.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{tiny_mem_options, Rng};
use stratakv::fs::MemFs;
use stratakv::Db;

#[test]
fn snapshot_survives_many_compactions() {
    let fs = MemFs::new();
    let db = Db::open_with("/snap", tiny_mem_options(&fs)).unwrap();
    let mut rng = Rng::new(3);
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for i in 0..3_000u32 {
        let k = format!("k{:04}", i % 1_000).into_bytes();
        let v = rng.bytes(50);
        db.put(&k, &v).unwrap();
        model.insert(k, v);
    }
    let snap = db.snapshot();
    let frozen = model.clone();
    // Overwrite and delete everything many times; compactions run all along.
    for round in 0..8u32 {
        for i in 0..1_000u32 {
            let k = format!("k{i:04}");
            if (i + round) % 3 == 0 {
                db.delete(&k).unwrap();
            } else {
                db.put(&k, rng.bytes(50)).unwrap();
            }
        }
        db.compact_range(b"k0000".to_vec()..b"k0500".to_vec())
            .unwrap();
    }
    db.compact().unwrap();
    assert!(db.stats().compactions > 5);
    for (k, v) in &frozen {
        assert_eq!(
            snap.get(k).unwrap().as_deref(),
            Some(&v[..]),
            "snapshot get"
        );
    }
    let got: BTreeMap<Vec<u8>, Vec<u8>> = snap
        .iter()
        .map(|r| {
            let (k, v) = r.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect();
    assert!(got == frozen, "snapshot scan");
    let rev: Vec<_> = snap.iter().rev().map(|r| r.unwrap().0.to_vec()).collect();
    assert_eq!(rev, frozen.keys().rev().cloned().collect::<Vec<_>>());
    drop(snap);
    db.compact().unwrap();
    let _ = Arc::new(());
}
