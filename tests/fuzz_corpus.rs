//! The fuzz targets of `fuzz/src/lib.rs` on stable Rust, on every `cargo test`: each target
//! replays its committed corpus (`fuzz/corpus/<target>/`) and seeded mutations of it (bit
//! flips, overwritten runs, truncations, splices) and of random bytes. cargo-fuzz explores
//! further (`scripts/fuzz.sh`); inputs it finds worth keeping go into the corpus and so into
//! this test.
//!
//! `STRATAKV_SEED` picks the mutation seed, `STRATAKV_FUZZ_CASES` the cases per target
//! (default 400). `cargo test --test fuzz_corpus -- --ignored` rewrites the seed corpus
//! from a real store.

mod common;
#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

use common::{seeds, Rng, SeedGuard};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(corpus_dir(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        if v.is_empty() {
            let n = 1 + rng.below(64) as usize;
            v = rng.bytes(n);
            continue;
        }
        let at = rng.below(v.len() as u64) as usize;
        match rng.below(6) {
            0 | 1 => v[at] ^= 1 << rng.below(8),
            2 => {
                let n = (1 + rng.below(16) as usize).min(v.len() - at);
                let junk = rng.bytes(n);
                v[at..at + n].copy_from_slice(&junk);
            }
            3 => v.truncate(at),
            4 => v[at] = [0, 0xff, 0x7f, 0x80][rng.below(4) as usize],
            _ => {
                if !other.is_empty() {
                    let from = rng.below(other.len() as u64) as usize;
                    v.truncate(at);
                    v.extend_from_slice(&other[from..]);
                }
            }
        }
    }
    v
}

#[test]
fn every_target_survives_its_corpus_and_mutations() {
    let cases: usize = std::env::var("STRATAKV_FUZZ_CASES").map_or(400, |s| s.parse().unwrap());
    for seed in seeds(&[5]) {
        let _g = SeedGuard {
            name: "fuzz_corpus",
            seed,
        };
        for &(name, target) in targets::TARGETS {
            let corpus = corpus(name);
            for input in &corpus {
                target(input);
            }
            let mut rng = Rng::new(seed ^ name.len() as u64);
            let cases = if name == "model" { cases / 8 } else { cases };
            for i in 0..cases {
                let base = if corpus.is_empty() || i % 5 == 0 {
                    let n = rng.below(300) as usize;
                    rng.bytes(n)
                } else {
                    corpus[rng.below(corpus.len() as u64) as usize].clone()
                };
                let other = if corpus.is_empty() {
                    Vec::new()
                } else {
                    corpus[rng.below(corpus.len() as u64) as usize].clone()
                };
                let input = mutate(&mut rng, &base, &other);
                let r = std::panic::catch_unwind(|| target(&input));
                if r.is_err() {
                    let keep =
                        std::env::temp_dir().join(format!("stratakv-fuzz-{name}-{seed}-{i}"));
                    std::fs::write(&keep, &input).unwrap();
                    panic!(
                        "target {name} failed on case {i}; input kept at {}",
                        keep.display()
                    );
                }
            }
            eprintln!(
                "scenario fuzz/{name}: cases={} corpus={} failures=0",
                cases,
                corpus.len()
            );
        }
    }
}

/// Writes a seed corpus of real encodings from a small store: run with `--ignored`.
#[test]
#[ignore = "regenerates fuzz/corpus; run by hand"]
fn generate_seed_corpus() {
    use std::sync::Arc;
    use stratakv::fs::{FileSystem, MemFs};
    use stratakv::{Db, Options};

    let fs = MemFs::new();
    let opts = Options {
        memtable_size: 64 << 10,
        block_size: 256,
        value_threshold: 64,
        fs: Arc::new(fs.clone()),
        ..Options::default()
    };
    let db = Db::open_with("/seed", opts).unwrap();
    for i in 0..300u32 {
        let v = format!("value-{i}-{}", "x".repeat((i % 90) as usize));
        db.put(format!("key{i:04}"), v).unwrap();
        if i % 50 == 0 {
            db.delete(format!("key{:04}", i / 2)).unwrap();
        }
    }
    db.flush().unwrap();
    for i in 0..20u32 {
        db.put(format!("wal{i:02}"), format!("v{i}")).unwrap();
    }
    db.close().unwrap();
    let write = |target: &str, name: &str, data: &[u8]| {
        let d = corpus_dir(target);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join(name), data).unwrap();
    };
    for name in fs.list_dir(Path::new("/seed")).unwrap() {
        let data = fs.read_file(&Path::new("/seed").join(&name)).unwrap();
        if name.ends_with(".sst") {
            if data.len() < 64 << 10 {
                write("table", &name, &data);
            }
            let footer = stratakv::sstable::format::Footer::decode(
                Path::new(&name),
                &data[data.len() - 64..],
                data.len() as u64,
            )
            .unwrap();
            // Block payloads (index and filter are stored uncompressed).
            let block = |h: stratakv::sstable::format::BlockHandle| {
                data[h.offset as usize..(h.offset + h.size) as usize].to_vec()
            };
            write("index", &name, &block(footer.index));
            write("block", &format!("{name}-index"), &block(footer.index));
            if footer.filter.size > 0 {
                write("filter", &name, &block(footer.filter));
            }
            write("footer", &name, &data[data.len().saturating_sub(64)..]);
            write("block", &name, &data[..data.len().min(400)]);
        } else if name.ends_with(".wal") || name.starts_with("MANIFEST") || name.ends_with(".vlog")
        {
            write("wal_record", &name, &data[..data.len().min(4000)]);
        }
        // The records of a log file, read back.
        let records = |kind, number: &str| {
            let log = stratakv::wal::read_log(
                Path::new(&name),
                data.clone(),
                kind,
                number.parse().unwrap(),
                true,
            );
            log.unwrap().records
        };
        use stratakv::wal::format::LogKind;
        if let Some(n) = name.strip_suffix(".wal") {
            for (i, r) in records(LogKind::Wal, n).iter().take(4).enumerate() {
                write("batch", &format!("{name}-{i}"), &r.payload);
            }
        }
        if let Some(n) = name.strip_suffix(".vlog") {
            for (i, r) in records(LogKind::Vlog, n).iter().take(3).enumerate() {
                let end = r.offset as usize + 13 + r.payload.len();
                write(
                    "vlog_record",
                    &format!("{name}-{i}"),
                    &data[r.offset as usize..end],
                );
            }
        }
        if let Some(n) = name.strip_prefix("MANIFEST-") {
            for (i, r) in records(LogKind::Manifest, n).iter().take(3).enumerate() {
                write("manifest_edit", &format!("{name}-{i}"), &r.payload);
            }
        }
    }
    write(
        "options_toml",
        "stratakv.toml",
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("stratakv.toml"))
            .unwrap()
            .as_slice(),
    );
    for (i, v) in [
        stratakv::value::Value::I64(-42),
        stratakv::value::Value::String("hello".into()),
        stratakv::value::Value::Bytes(vec![1, 2, 3].into()),
        stratakv::value::Value::F64(1.5),
        stratakv::value::Value::Bool(true),
    ]
    .iter()
    .enumerate()
    {
        write("typed_value", &format!("value-{i}"), &v.encode());
    }
    write("model", "ops", &(0u8..=255).collect::<Vec<u8>>());
}
