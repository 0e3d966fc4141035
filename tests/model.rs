//! The model test: random operations against StrataKV and a `BTreeMap`, compared after
//! every read, across option presets, with flushes, reopens and snapshots mixed in.
//! Seeded: set STRATAKV_SEED to rerun one seed; the seed is printed on failure.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use common::{presets, seeds, Rng, SeedGuard};
use stratakv::fs::MemFs;
use stratakv::{Bytes, Db, Options, WriteBatch};

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(rng: &mut Rng) -> Vec<u8> {
    // A small key space with shared prefixes, so keys are overwritten and deleted often.
    let n = rng.below(400);
    match rng.below(4) {
        0 => format!("k{n}").into_bytes(),
        1 => format!("key/{n:05}").into_bytes(),
        2 => format!("key/{n:05}/sub").into_bytes(),
        _ => vec![b'z', (n % 256) as u8, 0xff],
    }
}

fn value(rng: &mut Rng) -> Vec<u8> {
    // 0 B to 64 KiB: inline and (past each preset's value_threshold) in the value log.
    let len = match rng.below(40) {
        0 | 1 => 0,
        2 | 3 => 3000 + rng.below(3000) as usize,
        4 => 10_000 + rng.below(55_536) as usize,
        _ => rng.below(120) as usize,
    };
    rng.bytes(len)
}

fn bound(rng: &mut Rng) -> Bound<Vec<u8>> {
    match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(rng)),
        _ => Bound::Excluded(key(rng)),
    }
}

fn model_range(m: &Model, lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    let valid = match (lo, hi) {
        (Bound::Included(l), Bound::Included(h)) => l <= h,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(h))
        | (Bound::Excluded(l), Bound::Included(h)) => l < h,
        _ => true,
    };
    if !valid {
        return Vec::new();
    }
    m.range((lo.clone(), hi.clone()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn collect(it: impl Iterator<Item = stratakv::Result<(Bytes, Bytes)>>) -> Vec<(Vec<u8>, Vec<u8>)> {
    it.map(|r| {
        let (k, v) = r.expect("iterator error");
        (k.to_vec(), v.to_vec())
    })
    .collect()
}

/// Every entry from the front through the lending step.
fn collect_lent(mut it: stratakv::Iter) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(r) = it.next_ref() {
        let (k, v) = r.expect("iterator error");
        out.push((k.to_vec(), v.to_vec()));
    }
    out
}

/// One step from the front or the back, through the owning step or the lending one.
fn step(it: &mut stratakv::Iter, front: bool, lend: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let lent = |r: stratakv::Result<(&[u8], &[u8])>| {
        let (k, v) = r.expect("iterator error");
        (k.to_vec(), v.to_vec())
    };
    let owned = |r: stratakv::Result<(Bytes, Bytes)>| {
        let (k, v) = r.expect("iterator error");
        (k.to_vec(), v.to_vec())
    };
    match (front, lend) {
        (true, true) => it.next_ref().map(lent),
        (false, true) => it.next_back_ref().map(lent),
        (true, false) => it.next().map(owned),
        (false, false) => it.next_back().map(owned),
    }
}

/// Pulls from both ends in a random order, each step owning its entry or borrowing it
/// (`next_ref`, `next_back_ref`) at random, and checks against the model's deque.
fn check_interleaved(rng: &mut Rng, mut it: stratakv::Iter, expect: Vec<(Vec<u8>, Vec<u8>)>) {
    let mut exp: std::collections::VecDeque<_> = expect.into();
    loop {
        let front = rng.chance(50);
        let lend = rng.chance(50);
        let got = step(&mut it, front, lend);
        let want = if front {
            exp.pop_front()
        } else {
            exp.pop_back()
        };
        match (got, want) {
            (None, None) => break,
            (Some(g), Some(w)) => {
                assert_eq!(
                    g,
                    w,
                    "interleaved iteration, pulling from the {} ({})",
                    if front { "front" } else { "back" },
                    if lend { "lent" } else { "owned" }
                );
            }
            (g, w) => panic!(
                "interleaved iteration: got {:?}, want {:?}",
                g.is_some(),
                w.is_some()
            ),
        }
    }
    assert!(it.next().is_none() && it.next_back().is_none(), "fused");
    assert!(
        it.next_ref().is_none() && it.next_back_ref().is_none(),
        "fused, lending"
    );
}

fn run(seed: u64, preset: &str, opts: Options, reopen: &dyn Fn() -> Db, ops: usize) {
    let _guard = SeedGuard {
        name: "model",
        seed,
    };
    let mut rng = Rng::new(seed);
    let mut model = Model::new();
    let mut db = Db::open_with(opts_dir(), opts).unwrap();
    let mut snaps: Vec<(stratakv::Snapshot, Model)> = Vec::new();
    for step in 0..ops {
        let ctx = format!("preset {preset}, seed {seed}, step {step}");
        match rng.below(100) {
            0..=34 => {
                let (k, v) = (key(&mut rng), value(&mut rng));
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            35..=44 => {
                let k = key(&mut rng);
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            45..=52 => {
                let mut b = WriteBatch::new();
                for _ in 0..rng.below(10) {
                    let k = key(&mut rng);
                    if rng.chance(70) {
                        let v = value(&mut rng);
                        b.put(&k, &v);
                        model.insert(k, v);
                    } else {
                        b.delete(&k);
                        model.remove(&k);
                    }
                }
                db.write(b).unwrap();
            }
            53..=72 => {
                let k = key(&mut rng);
                let got = db.get(&k).unwrap();
                assert_eq!(got.as_deref(), model.get(&k).map(|v| &v[..]), "get: {ctx}");
            }
            73..=78 => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                let want = model_range(&model, &lo, &hi);
                let got = collect(db.range((lo.clone(), hi.clone())));
                assert_eq!(got, want, "range: {ctx}");
                let mut rev_want = want.clone();
                rev_want.reverse();
                assert_eq!(
                    collect(db.range((lo, hi)).rev()),
                    rev_want,
                    "rev range: {ctx}"
                );
            }
            79..=81 => {
                let p = match rng.below(3) {
                    0 => b"key/".to_vec(),
                    1 => format!("key/{:03}", rng.below(4)).into_bytes(),
                    _ => vec![b'z'],
                };
                let want: Vec<_> = model
                    .iter()
                    .filter(|(k, _)| k.starts_with(&p))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                assert_eq!(collect(db.prefix(&p)), want, "prefix: {ctx}");
            }
            82..=84 => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                let want = model_range(&model, &lo, &hi);
                check_interleaved(&mut rng, db.range((lo, hi)), want);
            }
            85..=87 => {
                if snaps.len() >= 3 {
                    snaps.remove(0);
                }
                snaps.push((db.snapshot(), model.clone()));
            }
            88..=91 => {
                if let Some((s, m)) = snaps.get(rng.below(snaps.len().max(1) as u64) as usize) {
                    let k = key(&mut rng);
                    assert_eq!(
                        s.get(&k).unwrap().as_deref(),
                        m.get(&k).map(|v| &v[..]),
                        "snapshot get: {ctx}"
                    );
                    let want: Vec<_> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    assert_eq!(collect(s.iter()), want, "snapshot iter: {ctx}");
                    let mut rev = want.clone();
                    rev.reverse();
                    assert_eq!(collect(s.iter().rev()), rev, "snapshot rev iter: {ctx}");
                    let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                    check_interleaved(
                        &mut rng,
                        s.range((lo.clone(), hi.clone())),
                        model_range(m, &lo, &hi),
                    );
                }
            }
            92..=94 => db.flush().unwrap(),
            95..=96 => {
                snaps.clear();
                db.close().unwrap();
                db = reopen();
            }
            97 => {
                db.vlog_gc().unwrap();
            }
            _ => {
                let want: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                assert_eq!(collect(db.iter()), want, "full scan: {ctx}");
                assert_eq!(collect_lent(db.iter()), want, "full lending scan: {ctx}");
            }
        }
    }
    let want: Vec<_> = model.into_iter().collect();
    assert_eq!(collect(db.iter()), want, "final scan");
    db.close().unwrap();
    let db = reopen();
    assert_eq!(collect(db.iter()), want, "after reopen");
    assert_eq!(collect_lent(db.iter()), want, "lending scan after reopen");
}

fn opts_dir() -> &'static str {
    "/model"
}

#[test]
fn model_across_presets_in_memory() {
    for seed in seeds(&[1, 2, 3]) {
        let fs = MemFs::new();
        for (name, opts) in presets(&fs) {
            let fs = MemFs::new();
            let opts = Options {
                fs: Arc::new(fs.clone()),
                ..opts
            };
            let o2 = opts.clone();
            let reopen = move || Db::open_with(opts_dir(), o2.clone()).unwrap();
            run(seed, name, opts, &reopen, 3_000);
        }
    }
}

#[test]
fn model_on_disk_with_mmap_and_pread() {
    for seed in seeds(&[11]) {
        for mmap in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db");
            let opts = Options {
                memtable_size: 64 << 10,
                block_size: 1024,
                mmap_reads: mmap,
                ..common::tiny_levels(Options::default())
            };
            let (p2, o2) = (path.clone(), opts.clone());
            let reopen = move || Db::open_with(&p2, o2.clone()).unwrap();
            let _guard = SeedGuard {
                name: "model-disk",
                seed,
            };
            // `run` opens at a fixed path; on disk use the reopen closure for the first open.
            run_at(
                seed,
                if mmap { "disk-mmap" } else { "disk-pread" },
                &reopen,
                2_000,
            );
        }
    }
}

fn run_at(seed: u64, preset: &str, reopen: &dyn Fn() -> Db, ops: usize) {
    // Same operation mix as `run`, opening through `reopen`.
    let _guard = SeedGuard {
        name: "model",
        seed,
    };
    let mut rng = Rng::new(seed);
    let mut model = Model::new();
    let mut db = reopen();
    for step in 0..ops {
        let ctx = format!("preset {preset}, seed {seed}, step {step}");
        match rng.below(10) {
            0..=4 => {
                let (k, v) = (key(&mut rng), value(&mut rng));
                db.put(&k, &v).unwrap();
                model.insert(k, v);
            }
            5 => {
                let k = key(&mut rng);
                db.delete(&k).unwrap();
                model.remove(&k);
            }
            6 | 7 => {
                let k = key(&mut rng);
                assert_eq!(
                    db.get(&k).unwrap().as_deref(),
                    model.get(&k).map(|v| &v[..]),
                    "{ctx}"
                );
            }
            8 => {
                let (lo, hi) = (bound(&mut rng), bound(&mut rng));
                let want = model_range(&model, &lo, &hi);
                check_interleaved(&mut rng, db.range((lo, hi)), want);
            }
            _ => {
                if rng.chance(50) {
                    db.flush().unwrap();
                } else {
                    db.close().unwrap();
                    db = reopen();
                }
            }
        }
    }
    let want: Vec<_> = model.into_iter().collect();
    assert_eq!(collect(db.iter()), want, "final scan");
}
